"""The buttons under a job's message, as each job kind declares them, and the custom ids they carry."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bot.admission.refusal import Refusal
from bot.display.views import BUTTONS, TEMPLATE, JobButton, RestyleModal, progress_view, result_view
from bot.queue.jobs import Job, JobState
from contract.limits import MAX_COUNT
from contract.protocol import RenderRequest


def job(**fields) -> Job:
    return Job("ab12", 1, 2, 3, "member", RenderRequest(fields.pop("prompt", "a fairy house"), **fields), JobState.DONE)


def layout(view) -> list[tuple[str, int | None]]:
    return [(item.item.custom_id, item.item.row) for item in view.children]


def test_a_picture_offers_again_vary_subtle_and_strong_restyle_upscale_and_its_run():
    ids = [custom_id for custom_id, _ in layout(result_view(job(model="tiny-vqgan")))]
    actions = ("again", "vary_subtle", "vary_strong", "restyle", "upscale", "gif")
    moves = ("pan_left", "pan_right", "pan_up", "pan_down", "zoom_out_15", "zoom_out_2", "zoom_film")
    assert ids == [f"dream:{action}:ab12" for action in (*actions, *moves)]
    labels = [item.item.label for item in result_view(job(model="tiny-vqgan")).children]
    assert labels[1:3] == ["Vary (Subtle)", "Vary (Strong)"]


def test_strokes_add_their_svg():
    ids = [custom_id for custom_id, _ in layout(result_view(job(model="clipdraw")))]
    assert ids[-1] == "dream:svg:ab12" and len(ids) == 14


def test_a_set_has_a_row_of_upscales_a_row_of_variations_and_again_below():
    rows = layout(result_view(job(model="tiny-vqgan", count=3)))
    assert rows == [
        *[(f"dream:upscale:ab12:{n}", 0) for n in (1, 2, 3)],
        *[(f"dream:vary:ab12:{n}", 1) for n in (1, 2, 3)],
        ("dream:again:ab12", 2),
    ]
    labels = [item.item.label for item in result_view(job(model="tiny-vqgan", count=4)).children][:8]
    assert labels == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]


@pytest.mark.parametrize(
    ("fields", "ids"),
    [
        ({"zoom_frames": 4}, ["dream:again:ab12", "dream:gif:ab12"]),
        ({"prompt": "a || b"}, ["dream:again:ab12", "dream:gif:ab12"]),
        ({"prompt": "", "model": "tiny-inception", "init_image": "p.png"}, ["dream:upscale:ab12"]),
    ],
)
def test_films_and_dreams_offer_what_their_kind_declares(fields, ids):
    assert [custom_id for custom_id, _ in layout(result_view(job(**fields)))] == ids


@pytest.mark.parametrize(
    ("fields", "rows"),
    [
        (
            {"width": 1040, "height": 16},
            [("again", None), ("vary_subtle", None), ("vary_strong", None), ("restyle", None), ("gif", None)],
        ),
        ({"width": 1040, "height": 16, "count": 2}, [("vary:ab12:1", 0), ("vary:ab12:2", 0), ("again", 1)]),
        ({"width": 1024, "height": 16, "count": 2}, [("upscale:ab12:1", 0), ("upscale:ab12:2", 0), ("vary:ab12:1", 1)]),
    ],
)
def test_a_picture_too_large_to_upscale_has_no_upscale_buttons(fields, rows):
    shown = layout(result_view(job(model="pixels", **fields)))
    assert [(custom_id.removeprefix("dream:").removesuffix(":ab12"), row) for custom_id, row in shown][: len(rows)] == rows


def test_an_upscale_is_an_end_point():
    assert result_view(job(model="tiny-esrgan", init_image="p.png")) is None


def test_every_custom_id_matches_the_template_the_bot_listens_for():
    views = [progress_view("ab12"), result_view(job(count=4)), result_view(job(model="clipdraw"))]
    for view in views:
        for custom_id, _ in layout(view):
            assert re.fullmatch(TEMPLATE, custom_id), custom_id


# The buttons' and the Restyle modal's callbacks, in process: an interaction that notes its answers, and
# actions that note what they were asked (the actions themselves: tests/bot/actions/test_job_actions.py).


class Response:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.modals: list[RestyleModal] = []

    def is_done(self) -> bool:
        return bool(self.sent or self.modals)

    async def send_message(self, text: str, **kwargs) -> None:
        self.sent.append((text, kwargs))

    async def send_modal(self, modal: RestyleModal) -> None:
        self.modals.append(modal)


class Asked:
    """JobActions as the views see them: each call noted, each new job numbered."""

    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.places: list[object] = []  # the channels pressed in, whose thread parents the actions learn
        self.refuse = refuse

    def learn_place(self, channel: object) -> None:
        self.places.append(channel)

    async def job_on(self, job_id: str, guild_id: int | None, message_id: int | None) -> Job:
        self.calls.append(("job_on", job_id, guild_id, message_id))
        if self.refuse:
            raise Refusal(self.refuse)
        count = 4 if job_id == "5e7" else 1
        return Job(job_id, 1, 2, 3, "member", RenderRequest("a fairy house", count=count, seed=7), JobState.DONE)

    async def _new(self, name: str, *args) -> Job:
        self.calls.append((name, *args))
        return Job("cd34", 1, 2, 3, "member", RenderRequest("new", seed=99), JobState.QUEUED)

    async def again(self, original: Job, user) -> Job:
        return await self._new("again", original.id, user)

    async def vary(self, original: Job, number: int, user, strength: str | None = None) -> Job:
        return await self._new("vary", original.id, number, user, *([strength] if strength else []))

    async def upscale(self, original: Job, number: int, user) -> Job:
        return await self._new("upscale", original.id, number, user)

    async def restyle(self, original: Job, number: int, prompt: str, user) -> Job:
        return await self._new("restyle", original.id, number, prompt, user)

    async def cancel(self, original: Job, user, permissions) -> None:
        self.calls.append(("cancel", original.id, user, permissions))

    async def check_blocked(self, guild_id: int, user) -> None:
        self.calls.append(("check_blocked", guild_id, user))

    async def animation(self, original: Job, user) -> str:
        self.calls.append(("animation", original.id))
        return "film.mp4"

    async def svg(self, original: Job, user) -> str:
        self.calls.append(("svg", original.id))
        return "strokes.svg"


def interaction(actions: Asked, message_id: int | None = 55) -> SimpleNamespace:
    message = None if message_id is None else SimpleNamespace(id=message_id)
    client = SimpleNamespace(actions=actions)
    return SimpleNamespace(
        client=client, guild_id=1, channel="#thread", message=message, user="member", permissions="perms", response=Response()
    )


async def press(custom_id: str, actions: Asked, message_id: int | None = 55) -> SimpleNamespace:
    """The button discord.py builds from a pressed custom id, pressed."""
    match = re.fullmatch(TEMPLATE, custom_id)
    button = await JobButton.from_custom_id(None, None, match)
    assert button.item.custom_id == custom_id
    pressed = interaction(actions, message_id)
    await button.callback(pressed)
    return pressed


QUEUED = "Queued as job `cd34`"


VARIED = "variation of job `ab12`."


@pytest.mark.parametrize(
    ("custom_id", "call", "answer"),
    [
        ("dream:again:ab12", ("again", "ab12", "member"), ("Queued as job `cd34` (seed 99).", {})),
        ("dream:vary:ab12", ("vary", "ab12", 1, "member"), ("Queued as job `cd34` (seed 99): a variation of job `ab12`.", {})),
        ("dream:vary:5e7:3", ("vary", "5e7", 3, "member"), (f"{QUEUED} (seed 99): a variation of candidate 3 of job `5e7`.", {})),
        ("dream:vary_subtle:ab12", ("vary", "ab12", 1, "member", "subtle"), (f"{QUEUED} (seed 99): a subtle {VARIED}", {})),
        ("dream:vary_strong:ab12", ("vary", "ab12", 1, "member", "strong"), (f"{QUEUED} (seed 99): a strong {VARIED}", {})),
        ("dream:upscale:ab12", ("upscale", "ab12", 1, "member"), ("Queued as job `cd34`: job `ab12`, 4x larger.", {})),
        ("dream:upscale:5e7:4", ("upscale", "5e7", 4, "member"), (f"{QUEUED}: candidate 4 of job `5e7`, 4x larger.", {})),
        ("dream:cancel:ab12", ("cancel", "ab12", "member", "perms"), ("Job `ab12` is cancelled.", {})),
        ("dream:gif:ab12", ("animation", "ab12"), ("The run, as a film:", {"file": "film.mp4"})),
        ("dream:svg:ab12", ("svg", "ab12"), ("The strokes, as an SVG:", {"file": "strokes.svg"})),
    ],
)
async def test_each_button_runs_its_own_action_on_its_own_candidate_and_answers_only_the_member(custom_id, call, answer):
    actions = Asked()
    pressed = await press(custom_id, actions)
    job_id = custom_id.split(":")[2]
    assert actions.calls == [("check_blocked", 1, "member"), ("job_on", job_id, 1, 55), call], "the block first"
    assert actions.places == ["#thread"], "the channel pressed in, so a thread follows its parent's settings"
    text, kwargs = answer
    assert pressed.response.sent == [(text, {"ephemeral": True, **kwargs})]


async def test_a_refused_press_says_why_and_does_nothing():
    actions = Asked(refuse="Job ab12 is not on this message.")
    pressed = await press("dream:vary:ab12:2", actions, message_id=None)
    assert actions.calls == [("check_blocked", 1, "member"), ("job_on", "ab12", 1, None)]
    assert pressed.response.sent == [("Job ab12 is not on this message.", {"ephemeral": True})]


async def test_restyle_opens_a_modal_for_its_candidate_whose_prompt_restyles_it():
    actions = Asked()
    pressed = await press("dream:restyle:5e7:2", actions)
    assert pressed.response.sent == []
    [modal] = pressed.response.modals
    assert (modal.job_id, modal.number, modal.custom_id) == ("5e7", 2, "dream-restyle:5e7:2")

    modal.prompt._value = "a castle of glass"  # what the member typed
    submitted = interaction(actions, message_id=56)
    await modal.on_submit(submitted)
    assert actions.calls[-2:] == [("job_on", "5e7", 1, 56), ("restyle", "5e7", 2, "a castle of glass", "member")]
    assert actions.places == ["#thread", "#thread"]
    expected = "Queued as job `cd34` (seed 99): candidate 2 of job `5e7`, restyled."
    assert submitted.response.sent == [(expected, {"ephemeral": True})]


async def test_a_refused_restyle_says_why():
    modal = RestyleModal("ab12", 1)
    modal.prompt._value = "x"
    submitted = interaction(Asked(refuse="You may not restyle here."))
    await modal.on_submit(submitted)
    assert submitted.response.sent == [("You may not restyle here.", {"ephemeral": True})]


@pytest.mark.parametrize("action", sorted(BUTTONS))
async def test_every_id_the_template_matches_builds_its_button_even_one_the_bot_never_sent(action):
    """A component id is the member's to send: a number on a button that never has one (dream:restyle:ab12:2)
    must still build the button (the action refuses a number the job lacks), not raise inside discord.py."""
    for number in ("", ":1", f":{MAX_COUNT}"):
        custom_id = f"dream:{action}:ab12{number}"
        button = await JobButton.from_custom_id(None, None, re.fullmatch(TEMPLATE, custom_id))
        assert (button.item.custom_id, button.number) == (custom_id, int(number[1:] or 0))
