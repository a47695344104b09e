"""Job files: old and surplus folders of ended jobs are removed, oldest first; nothing else ever."""

from __future__ import annotations

import os
import shutil
import time

from bot.client import DreamBot
from bot.config import Config, StorageConfig
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState
from contract.protocol import RenderRequest


async def make(files: JobFiles, job_id: str, size: int, days_old: float) -> None:
    path = await files.write(files.result(job_id), b"x" * size)
    stamp = time.time() - days_old * 86400
    os.utime(path, (stamp, stamp))


async def test_old_files_go_and_active_jobs_keep_theirs(tmp_path):
    files = JobFiles(tmp_path)
    await make(files, "old", 100, days_old=40)
    await make(files, "recent", 100, days_old=2)
    await make(files, "running", 100, days_old=90)
    pruned = await files.prune(keep_days=30, max_bytes=0, ended={"old", "recent"})
    assert pruned.removed == ["old"] and pruned.kept_bytes == 200
    assert not files.folder("old").exists() and files.result("recent").exists() and files.result("running").exists()


async def test_over_the_size_cap_the_oldest_go_first(tmp_path):
    files = JobFiles(tmp_path)
    for index, job_id in enumerate(("a", "b", "c", "d")):
        await make(files, job_id, 1000, days_old=4 - index)  # a is the oldest
    pruned = await files.prune(keep_days=0, max_bytes=2500, ended={"b", "c", "d"})
    assert pruned.removed == ["b", "c"] and pruned.kept_bytes == 2000
    assert (await files.prune(keep_days=0, max_bytes=0, ended={"a", "d"})).removed == []


async def test_only_folders_the_database_knows_as_ended_jobs_go_and_links_are_left_alone(tmp_path):
    """An owner's folder put beside the job files, a folder of a job the database does not know, a link to
    somewhere else (even one named as an ended job), a plain file: all old, all over the size cap, all kept."""
    files = JobFiles(tmp_path / "files")
    await make(files, "ended", 100, days_old=90)
    await make(files, "unknown", 100, days_old=90)
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (files.root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (files.root / "notes.txt").write_text("the owner's")
    old = time.time() - 90 * 86400
    os.utime(files.root / "notes.txt", (old, old))
    pruned = await files.prune(keep_days=30, max_bytes=1, ended={"ended", "linked", "notes.txt"})
    assert (pruned.removed, pruned.skipped, pruned.kept_bytes) == (["ended"], ["linked"], 100)
    assert files.result("unknown").exists() and (elsewhere / "keep.txt").read_text() == "mine"
    assert (files.root / "linked").is_symlink() and (files.root / "notes.txt").exists()


def test_free_space_is_known(tmp_path):
    free, total = JobFiles(tmp_path / "files").free_space()
    assert 0 < free <= total


async def test_the_bots_clean_up_keeps_the_files_of_waiting_and_running_jobs_and_only_theirs(tmp_path):
    """The janitor's own query feeds the prune: a queued job's month-old init image stays (its job has not
    started yet), as do a running job's; the ended jobs' old folders go, whatever way they ended."""
    storage = StorageConfig(path=str(tmp_path / "bot.sqlite3"), files=str(tmp_path / "files"), keep_days=30)
    bot = DreamBot(Config(storage=storage))
    await bot.store.connect()
    try:
        for state in JobState:
            job = await bot.store.add_job(Job(state.value, 1, 2, 3, "alice", RenderRequest("a castle"), state=state))
            path = await bot.files.write(bot.files.init_image(job.id), b"x" * 100)
            stamp = time.time() - 40 * 86400
            os.utime(path, (stamp, stamp))
        pruned = await bot.prune_files()
    finally:
        await bot.store.close()
    assert sorted(pruned.removed) == ["cancelled", "done", "failed"]
    assert bot.files.init_image("queued").exists() and bot.files.init_image("running").exists()
    assert pruned.kept_bytes == 200


def test_the_picture_a_button_acts_on_is_a_sets_candidate_or_the_single_result(tmp_path):
    files = JobFiles(tmp_path)
    single = Job("one", 1, 2, 3, "alice", RenderRequest("a castle"))
    grid = Job("set", 1, 2, 3, "alice", RenderRequest("a castle", count=4))
    assert files.picture(single, 1) == files.result("one") == tmp_path / "one" / "result.png"
    assert [files.picture(grid, n) for n in (1, 4)] == [
        tmp_path / "set" / "candidate-1.png",
        tmp_path / "set" / "candidate-4.png",
    ]


async def test_a_folder_is_as_old_as_its_newest_file_and_a_link_inside_it_counts_for_nothing(tmp_path):
    files = JobFiles(tmp_path / "files")
    await make(files, "touched", 100, days_old=90)
    fresh = await files.write(files.animation("touched"), b"y" * 50)  # a film written yesterday
    stamp = time.time() - 86400
    os.utime(fresh, (stamp, stamp))
    await make(files, "stale", 100, days_old=90)
    (tmp_path / "big").write_bytes(b"z" * 10_000)
    (files.folder("stale") / "big").symlink_to(tmp_path / "big")
    pruned = await files.prune(keep_days=30, max_bytes=0, ended={"touched", "stale"})
    assert (pruned.removed, pruned.kept_bytes) == (["stale"], 150)
    assert files.animation("touched").exists() and (tmp_path / "big").exists()


async def test_no_folder_yet_prunes_nothing(tmp_path):
    pruned = await JobFiles(tmp_path / "never-made").prune(keep_days=1, max_bytes=1, ended={"a"})
    assert (pruned.removed, pruned.kept_bytes, pruned.skipped) == ([], 0, [])


async def test_the_layout_on_disk_stays_as_older_versions_wrote_it(tmp_path):
    """Results painted by an older dreambot are found by their names: 🔁, 🎞️ and the buttons read them back."""
    files = JobFiles(tmp_path)
    names = {
        files.init_image("j"): "j/init.png", files.image_prompt("j", 2): "j/image-prompt-2.png",
        files.result("j"): "j/result.png", files.candidate("j", 3): "j/candidate-3.png", files.svg("j"): "j/strokes.svg",
        files.animation("j"): "j/animation.mp4",
    }  # fmt: skip
    assert {path: str(path.relative_to(tmp_path)) for path in names} == names
    single = Job("j", 1, 2, 3, "a", RenderRequest("x"))
    grid = Job("j", 1, 2, 3, "a", RenderRequest("x", count=4))
    assert files.picture(single, 1) == files.result("j") and files.picture(grid, 3) == files.candidate("j", 3)
    written = await files.write(files.result("j"), b"png")
    assert written.read_bytes() == b"png" and sorted(p.name for p in (tmp_path / "j").iterdir()) == ["result.png"]


def test_free_space_is_the_disk_of_the_files_folder(tmp_path):
    free, total = JobFiles(tmp_path / "made").free_space()
    usage = shutil.disk_usage(tmp_path)
    assert (tmp_path / "made").is_dir() and total == usage.total and abs(free - usage.free) < 2**30
