from bot.display import embeds
from bot.queue.jobs import Job
from contract.protocol import Progress, RenderRequest

JOB = Job("ab12", 1, 2, 3, "alice", RenderRequest("a **bold** @everyone castle", seed=42, steps=300, width=256, height=128))


def test_progress_bar_and_durations():
    assert embeds.progress_bar(0, 300) == f"`{'░' * 20}` 0%"
    assert embeds.progress_bar(150, 300) == f"`{'█' * 10}{'░' * 10}` 50%"
    assert embeds.progress_bar(400, 300).endswith("100%")
    assert [embeds.duration(s) for s in (0, 59.4, 61, 3600 * 2 + 65)] == ["0s", "59s", "1m 01s", "2h 01m"]


def test_painting_shows_step_eta_and_the_latest_preview():
    embed = embeds.painting(JOB, Progress("ab12", 100, 300, 0.91234, 50.0), "preview.jpg").to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Step"] == "100/300" and fields["ETA"] == "1m 40s" and fields["Loss"] == "0.9123"
    assert embed["image"]["url"] == "attachment://preview.jpg"
    assert embed["description"] == r"a \*\*bold\*\* @everyone castle" and "job ab12 · by alice" in embed["footer"]["text"]


def test_the_result_says_how_to_reproduce_it():
    embed = embeds.done(Job(**{**JOB.__dict__, "seconds": 95.0}), "dream-42.png").to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {"Seed": "42", "Model": JOB.request.model, "Steps": "300", "Size": "256x128", "Time": "1m 35s",
                      "Perceptor": JOB.request.perceptor}  # fmt: skip
    assert embeds.queued(JOB, 1).title == "⏳ Queued · next in line"
    assert embeds.queued(JOB, 4).title == "⏳ Queued · position 4 in the queue"
