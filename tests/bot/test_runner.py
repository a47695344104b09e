"""``dreambot run`` as the owner starts it: token from the environment or .env, never logged."""

from __future__ import annotations

import asyncio
import signal

from contract.films import MAX_FRAMES
from tests.support.processes import finish, start, write_config
from tests.support.waiting import PATIENCE


async def test_a_missing_token_is_one_clear_line(tmp_path, emulator, weights_dir):
    write_config(tmp_path, emulator.api_base, weights_dir)
    code, output = await finish(await start(tmp_path, None))
    assert code == 2 and "DISCORD_TOKEN is not set" in output and "Traceback" not in output


async def test_a_misspelt_model_in_the_config_is_one_line_at_start_with_the_close_name(tmp_path, emulator, weights_dir):
    config = write_config(tmp_path, emulator.api_base, weights_dir)
    config.write_text(config.read_text().replace('perceptor = "tiny-clip"', 'perceptor = "tiny-clpi"'))
    code, output = await finish(await start(tmp_path, emulator.token))
    assert code == 2 and "Traceback" not in output
    assert output.strip().endswith("did you mean tiny-clip?") and len(output.strip().splitlines()) == 1, output


async def test_a_wrong_token_from_dotenv_is_refused_and_never_logged(tmp_path, emulator, weights_dir):
    write_config(tmp_path, emulator.api_base, weights_dir)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=wrong-secret-token\n")
    code, output = await finish(await start(tmp_path, None))
    assert code == 2 and "Discord refused the token" in output
    assert "wrong-secret-token" not in output and "Traceback" not in output


async def test_the_bot_logs_in_syncs_commands_and_stops_cleanly(tmp_path, emulator, weights_dir):
    write_config(tmp_path, emulator.api_base, weights_dir)
    process = await start(tmp_path, emulator.token)
    seen = b""
    while b"logged in as dreambot" not in seen:
        line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        assert line, seen.decode()
        seen += line
    assert set(emulator.commands) == {
        "dream",
        "zoom",
        "story",
        "deepdream",
        "describe",
        "morph",
        "queue",
        "mine",
        "cancel",
        "settings",
        "audit",
        "block",
        "usage",
        "preset",
        "gallery",
    }
    deepdream = {o["name"]: o for o in emulator.commands["deepdream"]["options"]}
    assert deepdream["image"]["required"] and deepdream["image"]["type"] == 11
    assert [c["value"] for c in deepdream["layer"]["choices"]][:3] == ["conv2", "conv3", "inception3a"]
    zoom = {o["name"]: o for o in emulator.commands["zoom"]["options"]}
    assert (zoom["frames"]["type"], zoom["frames"]["min_value"], zoom["frames"]["max_value"]) == (4, 1, MAX_FRAMES)
    assert zoom["zoom"]["type"] == 10 and zoom["init_image"]["type"] == 11
    story = {o["name"]: o for o in emulator.commands["story"]["options"]}
    assert story["lines"]["required"] and story["captions"]["type"] == 5
    assert (story["fade"]["type"], story["fade"]["min_value"], story["fade"]["max_value"]) == (10, 0.0, 1.0)
    dream = {o["name"]: o for o in emulator.commands["dream"]["options"]}
    assert dream["prompt"]["required"] and dream["init_image"]["type"] == 11
    assert [o for o in dream if not dream[o].get("required")] == [
        "seed", "steps", "size", "model", "init_image", "count", "negative", "image_prompt", "options", "preset",
    ]  # fmt: skip
    process.send_signal(signal.SIGTERM)
    code, output = await finish(process)
    assert code == 0, output
    assert emulator.token not in seen.decode() + output and "SIGTERM received" in output
    assert "voice will NOT be supported" not in seen.decode() + output, "the bot has no voice: no warning about it"
