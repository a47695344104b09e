"""The refusals the job kinds decide, said before anything is read, stored or queued. (The actions' effects on
the queue and the channel are tested through the Discord emulator in ``tests/cogs/``.)"""

from __future__ import annotations

import pytest

from bot.actions.job_actions import JobActions
from bot.admission.refusal import Refusal
from bot.queue.jobs import Job, JobState
from contract.protocol import RenderRequest


def job(state: JobState = JobState.DONE, **fields) -> Job:
    return Job("ab12", 1, 2, 3, "member", RenderRequest(fields.pop("prompt", "a fairy house"), **fields), state)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "tiny-esrgan", "init_image": "p.png"}, "Job ab12 is an upscale; it is not painted again with a new seed."),
        (
            {"prompt": "", "model": "tiny-inception", "init_image": "p.png"},
            "Job ab12 is a DeepDream; dream again with /deepdream; it is not painted again with a new seed.",
        ),
    ],
)
async def test_again_refuses_what_its_kind_does_not_paint_again(fields, message):
    actions = JobActions(None, None, None, None, None, max_queued=10)  # a refusal touches none of them
    with pytest.raises(Refusal) as refused:
        await actions.again(job(**fields), None)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("made", "number", "message"),
    [
        (job(model="tiny-esrgan", init_image="p.png"), 1, "Job ab12 is an upscale; it has no picture to start from."),
        (job(zoom_frames=3), 1, "Job ab12 is a film; it has no picture to start from."),
        (job(JobState.RUNNING), 1, "Job ab12 has not finished; wait for its picture."),
        (job(count=2), 3, "Job ab12 has 2 picture(s), not a number 3."),
    ],
)
def test_a_picture_to_start_from_must_exist(made, number, message):
    with pytest.raises(Refusal) as refused:
        JobActions._candidate(made, number)
    assert str(refused.value) == message


def test_each_candidate_of_a_set_and_a_dream_can_start_another_job():
    assert JobActions._candidate(job(count=3, seed=10), 2).seed == 11
    assert JobActions._candidate(job(prompt="", model="tiny-inception", init_image="p.png"), 1).model == "tiny-inception"
