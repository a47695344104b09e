"""Trust past one machine, at the boundary: a NATS server configured as ``dreambot nats-config`` writes it refuses
a client without credentials and lets each worker's credential speak only under its own id, and the bot takes a
job's events only from the worker that holds it, within bounds. Run against real NATS servers (TLS included)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator

import nats
import pytest
import trustme
from nats.errors import NoServersError

from bot.config import Config, ConfigError, QueueConfig, WorkerConfig
from bot.executors.nats import dispatch
from bot.executors.nats.access import Credential, check_secured
from bot.executors.nats.dispatch import Dispatcher
from bot.executors.nats.link import connect
from bot.executors.nats.worker import RemoteWorker, worker_name
from contract.protocol import Failed, Finished, Progress, Started
from contract.wire import JOBS_STREAM, results_bucket, worker_subject
from tests.bot.executors.nats.test_worker import CLAIM, StandInEngine, picture, request, server, working  # noqa: F401
from tests.support.nats import NatsServer
from tests.support.waiting import until


@pytest.fixture
async def secured(tmp_path) -> AsyncIterator[NatsServer]:
    started = NatsServer(tmp_path / "nats", secured=["gpu1", "gpu2"])
    await started.start()
    yield started
    await started.stop()


def as_user(at: NatsServer, user: str, url: str | None = None, **fields) -> QueueConfig:
    return QueueConfig(url=url or at.url, credentials=at.credential(user), claim_timeout=CLAIM, **fields)


REFUSAL = 30.0  # seconds: the server's refusal comes before the answer to the flush, in milliseconds


class Violations:
    """A client's asynchronous errors: the server answers a forbidden publish or subscription with one."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def note(self, error: Exception) -> None:
        self.seen.append(str(error))

    def forbidden(self, subject: str) -> bool:
        return any("permissions violation" in seen.lower() and subject.lower() in seen.lower() for seen in self.seen)


async def raw_client(at: NatsServer, user: str, violations: Violations):
    credential = Credential.read(at.credential(user))
    return await nats.connect(
        at.url, user=credential.user, password=credential.password, inbox_prefix=credential.inbox_prefix,
        error_cb=violations.note, allow_reconnect=False,
    )  # fmt: skip


async def test_a_client_without_the_right_credentials_is_refused(secured, tmp_path):
    for login in ({}, {"user": "bot", "password": "wrong"}, {"user": "worker-gpu3", "password": "x"}):
        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(secured.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5, **login)
    client = await nats.connect(secured.url, allow_reconnect=False, **_login(secured, "bot"))  # the control: it works
    await client.close()


def _login(at: NatsServer, user: str) -> dict:
    credential = Credential.read(at.credential(user))
    return {"user": credential.user, "password": credential.password, "inbox_prefix": credential.inbox_prefix}


async def test_the_bot_and_a_worker_paint_a_job_with_its_picture_through_a_secured_server(secured, tmp_path):
    init = tmp_path / "init.png"
    init.write_bytes(b"a picture to start from")
    dispatcher = Dispatcher(as_user(secured, "bot"))
    await dispatcher.start()
    engine = StandInEngine(steps=2)
    worker = Config(queue=as_user(secured, "worker-gpu1"), worker=WorkerConfig(models=["tiny-vqgan"]))
    try:
        task = asyncio.create_task(RemoteWorker(worker, engine, worker_name(worker)).run())  # type: ignore[arg-type]
        await until(lambda: dispatcher.can_take("j1", request(), 0))
        asked = request(init_image=str(init))
        events = [event async for event in dispatcher.render("j1", asked)]
        task.cancel()
    finally:
        await dispatcher.stop()
    assert isinstance(events[-1], Finished) and events[-1].png == picture("j1")
    assert engine.seen_inputs["j1"] == [b"a picture to start from"]
    assert list(dispatcher.workers) == ["gpu1"], "named by its credential"


@pytest.mark.parametrize(
    "subject",
    [
        worker_subject("events", "gpu1", "j1"),  # another worker's events
        worker_subject("progress", "gpu1", "j1"),
        "dreambot.workers.gpu1",  # another worker's announcement
        "dreambot.jobs.tiny-vqgan.j9",  # a job
        "dreambot.cancel.j1",  # a cancel
        f"$O.{results_bucket('gpu1')}.M.ajE",  # another worker's bucket
        "$O.dreambot-inputs.M.ajE",  # the inputs, the bot's to write
        "$JS.API.STREAM.DELETE.DREAMBOT_EVENTS",
        "$JS.API.STREAM.PURGE.DREAMBOT_JOBS",
        "$JS.API.CONSUMER.CREATE.DREAMBOT_EVENTS.spy",
        "$JS.ACK.DREAMBOT_EVENTS.dreambot-bot.1.1.1.1.1",
    ],
)
async def test_a_workers_credential_cannot_publish_beyond_its_own_id(secured, subject):
    """The server drops a forbidden publish and tells its client so; the same client's own subject passes."""
    violations = Violations()
    intruder = await raw_client(secured, "worker-gpu2", violations)
    own = worker_subject("events", "gpu2", "j1")
    try:
        await intruder.publish(subject, b'{"job_id": "j1", "kind": "failed", "reason": "log in at https://evil"}')
        await intruder.publish(own, b"{}")
        await intruder.flush()
        await until(lambda: violations.forbidden(subject), timeout=REFUSAL)
    finally:
        await intruder.close()
    assert not violations.forbidden(own)


@pytest.mark.parametrize("subject", ["dreambot.jobs.>", "dreambot.events.>", "dreambot.progress.>", "_INBOX_bot.>", ">"])
async def test_a_workers_credential_cannot_listen_to_jobs_events_or_the_bots_replies(secured, subject):
    violations = Violations()
    intruder = await raw_client(secured, "worker-gpu2", violations)
    try:
        await intruder.subscribe(subject)
        await intruder.flush()
        await until(lambda: violations.forbidden(subject), timeout=REFUSAL)
    finally:
        await intruder.close()


def test_an_open_broker_beyond_this_machine_is_refused_unless_the_owner_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bot.secret").write_text("bot:pw\n")
    with pytest.raises(ConfigError, match=r"nats.example is not this machine and has no credentials.*nats-config"):
        check_secured(QueueConfig(url="nats://nats.example:4222"))
    for fine in (
        QueueConfig(url="nats://127.0.0.1:4222"),
        QueueConfig(url="nats://localhost:4222"),
        QueueConfig(url="nats://[::1]:4222"),
        QueueConfig(url="nats://nats.example:4222", insecure=True),
        QueueConfig(url="nats://nats.example:4222", credentials="bot.secret"),
        QueueConfig(url="nats://bot:pw@nats.example:4222"),
        QueueConfig(),
    ):
        check_secured(fine)


def test_a_worker_is_named_by_its_credential_and_no_other_name(tmp_path):
    secret = tmp_path / "worker-gpu1.secret"
    secret.write_text("worker-gpu1:pw\n")
    assert worker_name(Config(queue=QueueConfig(credentials=str(secret)))) == "gpu1"
    assert worker_name(Config(queue=QueueConfig(credentials=str(secret)), worker=WorkerConfig(name="gpu1"))) == "gpu1"
    with pytest.raises(ConfigError, match="name is 'gpu2' but \\[queue\\] credentials are for worker 'gpu1'"):
        worker_name(Config(queue=QueueConfig(credentials=str(secret)), worker=WorkerConfig(name="gpu2")))
    (tmp_path / "bad.secret").write_text("no colon here\n")
    with pytest.raises(ConfigError, match="not a .creds file nor one line USER:PASSWORD"):
        worker_name(Config(queue=QueueConfig(credentials=str(tmp_path / "bad.secret"))))


async def test_tls_with_the_servers_certificate_and_only_with_it(tmp_path):
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key, ca = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    authority.cert_pem.write_to_path(ca)
    tls_server = NatsServer(tmp_path / "nats", secured=["gpu1"], tls=(str(cert), str(key)))
    await tls_server.start()
    try:
        url = f"tls://127.0.0.1:{tls_server.port}"
        link = await connect(as_user(tls_server, "bot", url, tls_ca=str(ca)), "tls test")
        await link.close()
        other = tmp_path / "other.pem"
        trustme.CA().cert_pem.write_to_path(other)  # a CA that did not sign the tls_server's certificate
        with pytest.raises((ssl.SSLError, NoServersError, OSError)):
            await asyncio.wait_for(_connect_once(as_user(tls_server, "bot", url, tls_ca=str(other))), 20)
    finally:
        await tls_server.stop()


async def _connect_once(config: QueueConfig) -> None:
    credential = Credential.read(config.credentials)
    context = ssl.create_default_context(cafile=config.tls_ca)
    await nats.connect(
        config.url, user=credential.user, password=credential.password, tls=context, allow_reconnect=False, connect_timeout=5
    )


# The bot's side: events only from the worker that holds the job, and only within bounds.


class Forger:
    """A worker credential's holder (the open server stands in for the secured one): what it may publish."""

    def __init__(self, link, name: str) -> None:
        self.link, self.name = link, name

    async def event(self, job_id: str, data: dict) -> None:
        await self.link.jetstream.publish(worker_subject("events", self.name, job_id), json.dumps(data).encode())

    async def stored(self, job_id: str, event: Finished) -> None:
        await self.link.results.put(job_id, json.dumps(event.to_dict()).encode())
        await self.event(job_id, {"job_id": job_id, "kind": "stored"})


async def follow(dispatcher: Dispatcher, job_id: str, seen: list) -> None:
    async for event in dispatcher.render(job_id, request()):
        seen.append(event)


@pytest.fixture
async def forger(server) -> AsyncIterator[Forger]:  # noqa: F811
    link = await connect(QueueConfig(url=server.url), "forger", "mallory")
    yield Forger(link, "mallory")
    await link.close()


@pytest.fixture
async def bot(server) -> AsyncIterator[Dispatcher]:  # noqa: F811
    dispatcher = Dispatcher(QueueConfig(url=server.url, claim_timeout=CLAIM), stall_timeout=60.0)
    await dispatcher.start()
    yield dispatcher
    await dispatcher.stop()


async def test_events_from_a_worker_that_does_not_hold_the_job_are_dropped(bot, forger, server):  # noqa: F811
    engine = StandInEngine(steps=30, pause=0.05)
    seen: list = []
    async with working(server.url, "honest", engine):
        await until(lambda: bot.can_take("j1", request(), 0))
        following = asyncio.create_task(follow(bot, "j1", seen))
        await until(lambda: any(isinstance(event, Progress) for event in seen))
        await forger.stored("j1", Finished("j1", picture("j1", 16)))  # its own picture, as the job's result
        await forger.event("j1", Failed("j1", "your account is suspended, log in at https://evil").to_dict())
        await forger.link.client.publish(
            worker_subject("progress", "mallory", "j1"), json.dumps(Progress("j1", 99, 99).to_dict()).encode()
        )
        await following
    assert isinstance(seen[-1], Finished) and seen[-1].png == picture("j1")
    assert not any(isinstance(event, Failed) for event in seen) and all(getattr(e, "step", 0) != 99 for e in seen)


async def test_only_progress_counts_on_the_progress_subject(bot, forger):
    seen: list = []
    following = asyncio.create_task(follow(bot, "j1", seen))
    await until(lambda: "j1" in bot._jobs)
    done = json.dumps(Finished("j1", picture("j1")).to_dict()).encode()
    await forger.link.client.publish(worker_subject("progress", "mallory", "j1"), done)
    await forger.link.client.publish(
        worker_subject("progress", "mallory", "j1"), json.dumps(Progress("j1", 1, 2).to_dict()).encode()
    )
    await until(lambda: seen)
    await forger.stored("j1", Finished("j1", picture("j1")))  # the holder (the first to speak) ends it
    await following
    assert [type(event) for event in seen] == [Progress, Finished]


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (Finished("j1", picture("j1", 13000)), "a 13000x13000 picture for a job of at most 32 pixels a side"),
        (Finished("j1", picture("j1"), candidates=(picture("j1", 4096),)), "a 4096x4096 picture"),
        (Finished("j1", b"GIF89a not a png"), "a result that is not a PNG"),
        (Finished("j2", picture("j2")), "a stored finished event for job j2"),
        (Started("j1", 3), "a stored started event for job j1"),
    ],
)
async def test_a_stored_result_beyond_the_request_is_refused_before_it_is_decoded(bot, forger, stored, reason):
    seen: list = []
    following = asyncio.create_task(follow(bot, "j1", seen))
    await until(lambda: "j1" in bot._jobs)
    await forger.link.results.put("j1", json.dumps(stored.to_dict()).encode())
    await forger.event("j1", {"job_id": "j1", "kind": "stored"})
    await following
    (failed,) = seen
    assert isinstance(failed, Failed) and f"worker mallory sent {reason}" in failed.reason and not failed.retryable


async def test_a_stored_result_over_its_byte_limit_is_not_read(bot, forger, monkeypatch):
    monkeypatch.setattr(dispatch, "RESULT_BYTES", 10_000)
    seen: list = []
    following = asyncio.create_task(follow(bot, "j1", seen))
    await until(lambda: "j1" in bot._jobs)
    await forger.stored("j1", Finished("j1", picture("j1") + bytes(20_000)))
    await following
    (failed,) = seen
    assert isinstance(failed, Failed) and "a result of 0 MiB (at most 0)" in failed.reason


async def test_a_stored_event_with_nothing_stored_fails_the_job_for_a_retry(bot, forger):
    seen: list = []
    following = asyncio.create_task(follow(bot, "j1", seen))
    await until(lambda: "j1" in bot._jobs)
    await forger.event("j1", {"job_id": "j1", "kind": "stored"})
    await following
    (failed,) = seen
    assert isinstance(failed, Failed) and failed.retryable and "said the picture was stored, but it is not there" in failed.reason


async def test_events_for_unknown_jobs_are_kept_within_a_bound(bot, forger, monkeypatch):
    monkeypatch.setattr(dispatch, "EARLY_EVENTS", 5)
    for number in range(12):
        await forger.event(f"x{number}", Started(f"x{number}", 1).to_dict())

    def kept() -> int:
        return sum(len(events) for events in bot._early.values())

    await until(lambda: ("mallory", "x11") in bot._dropped or kept() > 5)  # the last one read, or the bound broken
    assert sorted(bot._early) == [f"x{n}" for n in range(5)]


async def test_an_announcement_under_another_workers_name_is_dropped(bot, forger):
    fake = {"worker_id": "honest", "device": "cuda", "models": ["tiny-vqgan"], "max_side": 2048, "job_id": None}
    await forger.link.client.publish("dreambot.workers.mallory", json.dumps(fake).encode())
    mine = {**fake, "worker_id": "mallory"}
    await forger.link.client.publish("dreambot.workers.mallory", json.dumps(mine).encode())
    await until(lambda: bot.workers)
    assert list(bot.workers) == ["mallory"]


async def test_a_job_no_worker_reports_on_ends_with_a_reason_and_is_taken_back(server):  # noqa: F811
    dispatcher = Dispatcher(QueueConfig(url=server.url, claim_timeout=CLAIM), stall_timeout=1.0)
    await dispatcher.start()
    try:
        events = [event async for event in dispatcher.render("lonely", request())]
        info = await dispatcher.link.jetstream.stream_info(JOBS_STREAM)
    finally:
        await dispatcher.stop()
    (failed,) = events
    assert isinstance(failed, Failed) and "no worker reported on this job for 1 s" in failed.reason
    assert info.state.messages == 0, "no worker paints it late"


async def test_a_credential_file_that_cannot_be_read_is_said_in_a_sentence(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        check_secured(QueueConfig(url="nats://127.0.0.1:4222", credentials=str(tmp_path / "missing.secret")))
