"""The audit log's pacing: lines gathered over a few seconds go out as few messages, each within Discord's limit,
and every entry is kept in the database whether or not the server has an audit channel."""

from __future__ import annotations

import asyncio
import itertools

from bot.admission.settings import GuildSettings, SettingsStore
from bot.moderation.audit import LINE_CHARS, AuditLog, chunks, line
from bot.moderation.entries import AuditEntry, Kind
from bot.queue.store import Store


def test_lines_join_into_as_few_messages_as_fit_in_their_order():
    lines = [f"line {n} " + "x" * 90 for n in range(50)]
    messages = chunks(lines, limit=1000)
    assert "\n".join(messages).split("\n") == lines, "nothing lost or reordered"
    assert all(len(m) <= 1000 for m in messages) and len(messages) < len(lines)
    for message, following in itertools.pairwise(messages):  # each is as full as the next line allows
        assert len(message) + 1 + len(following.split("\n")[0]) > 1000
    assert chunks([]) == []


def test_a_line_says_what_when_who_and_where_and_is_cut_when_long():
    entry = AuditEntry(1, 1800000000.5, Kind.REFUSED.value, 42, "the prompt contains 'spiders'", channel_id=7)
    assert line(entry) == "⛔ <t:1800000000:T> <@42> in <#7>: the prompt contains 'spiders'"
    long = line(AuditEntry(1, 0.0, Kind.JOB.value, 42, "x" * 1000))
    assert len(long) == LINE_CHARS and long.endswith("…")


class Channel:
    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    async def send(self, text: str, **kwargs) -> None:
        self.sent.append(text)


class Client:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def get_partial_messageable(self, channel_id: int, guild_id: int | None = None) -> Channel:
        return Channel(self.sent)


async def test_entries_within_the_pause_are_one_message_and_all_are_kept(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    settings = SettingsStore(store, GuildSettings("tiny-vqgan", 6, "32x32"))
    await settings.set(1, "audit_channel", "<#555>")
    client = Client()
    audit = AuditLog(store, settings, client, every=0.3)
    for n in range(5):
        await audit.record(1, Kind.JOB, 42, f"job {n}")
    await audit.record(2, Kind.JOB, 42, "a server without an audit channel")
    await asyncio.sleep(0.6)
    assert len(client.sent) == 1 and client.sent[0].count("\n") == 4, "five entries, one message"
    await audit.record(1, Kind.DELETED, 42, "later")
    await audit.close()
    assert len(client.sent) == 2 and client.sent[1].endswith("later"), "what waits is posted at the close"
    assert [e.text for e in await store.audit(1, 42, 10)][:2] == ["later", "job 4"]
    assert [e.text for e in await store.audit(2, 42, 10)] == ["a server without an audit channel"]
    await store.close()
