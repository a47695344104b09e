"""``dreambot run`` and ``dreambot worker``: each reaches its process, and a worker without a broker says so.
(The bot's start-up as an owner meets it: ``tests/bot/test_runner.py``; workers at work:
``tests/bot/executors/nats/``.)"""

from __future__ import annotations

import logging

from bot.cli import build_parser, main
from bot.cli.serve import cmd_run, cmd_worker


def test_each_long_running_command_has_its_handler():
    assert build_parser().parse_args(["run"]).handler is cmd_run
    assert build_parser().parse_args(["worker"]).handler is cmd_worker


def test_a_worker_without_a_queue_url_is_one_line_and_exit_2(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DREAMBOT_CONFIG", raising=False)
    with caplog.at_level(logging.ERROR, logger="dreambot"):
        assert main(["worker"]) == 2
    assert [record.getMessage() for record in caplog.records] == [
        "dreambot worker needs [queue] url in config.toml (e.g. nats://127.0.0.1:4222)"
    ]
