"""Ephemeral answers in time for Discord: direct when the work is fast, deferred once it is slow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.display import replies
from bot.display.replies import answer_in_time, reply
from tests.support.waiting import until


@dataclass
class Response:
    sent: list = field(default_factory=list)
    done: bool = False

    def is_done(self) -> bool:
        return self.done

    async def send_message(self, text: str, ephemeral: bool, **kwargs) -> None:
        self.sent.append(("message", text, ephemeral))
        self.done = True

    async def defer(self, ephemeral: bool, thinking: bool) -> None:
        self.sent.append(("defer", ephemeral, thinking))
        self.done = True


@dataclass
class Followup:
    sent: list

    async def send(self, text: str, ephemeral: bool, **kwargs) -> None:
        self.sent.append(("followup", text, ephemeral))


class Interaction:
    def __init__(self) -> None:
        self.response = Response()
        self.followup = Followup(self.response.sent)


async def test_fast_work_answers_directly(monkeypatch):
    monkeypatch.setattr(replies, "DEFER_AFTER", 5.0)
    interaction = Interaction()
    async with answer_in_time(interaction):
        await asyncio.sleep(0)
    await reply(interaction, "done")
    assert interaction.response.sent == [("message", "done", True)]


async def test_slow_work_is_deferred_and_then_answered_as_a_followup(monkeypatch):
    monkeypatch.setattr(replies, "DEFER_AFTER", 0.01)
    interaction = Interaction()
    async with answer_in_time(interaction):
        await until(lambda: interaction.response.done, timeout=60)
    await reply(interaction, "done")
    assert interaction.response.sent == [("defer", True, True), ("followup", "done", True)]
