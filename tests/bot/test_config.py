"""config.toml's keys are declared once in ``bot/config.py``; config.example.toml shows each with its default."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from bot.config import SECTIONS, Config, ConfigError, load_config
from contract.registry import generator_names

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def declared() -> dict[str, dict[str, dataclasses.Field]]:
    return {name: {f.name: f for f in dataclasses.fields(cls)} for name, cls in SECTIONS.items()}


def test_the_example_lists_every_key_with_its_default_and_nothing_else():
    example = tomllib.loads(EXAMPLE.read_text())
    keys = declared()
    assert set(example) == set(keys)
    for section, fields in keys.items():
        defaults = SECTIONS[section]()
        machine = {
            n for n, f in fields.items() if f.default is dataclasses.MISSING and not isinstance(getattr(defaults, n), list)
        }
        # A default that depends on the machine (the weights folder) is shown commented out, with an example.
        assert set(example[section]) == set(fields) - machine, section
        assert {k: v for k, v in example[section].items()} == {k: getattr(defaults, k) for k in example[section]}, section
        for name in machine:
            assert re.search(rf"^# {name} = ", EXAMPLE.read_text(), re.MULTILINE), name


def test_the_examples_list_of_generators_names_every_one():
    listed = re.search(r"^# Generator: (.*?)\.\n(?!#)", EXAMPLE.read_text(), re.MULTILINE | re.DOTALL)[1]
    assert [name.strip(" #\n") for name in listed.split(",")] == generator_names()


def test_the_example_loads_as_the_defaults(tmp_path):
    assert dataclasses.replace(load_config(str(EXAMPLE)), source=None) == Config()


def test_every_key_says_what_it_is_for():
    assert all(field.metadata["help"] for fields in declared().values() for field in fields.values())


@pytest.mark.parametrize(
    ("section", "key", "bad"),
    [
        (section, name, bad)
        for section, name, bad in [
            ("discord", "api_base", "ftp://x"),
            ("discord", "preview_interval", 0.0),
            ("engine", "preview_every", 0),
            ("engine", "speed", "fast,+magic"),
            ("engine", "stall_timeout", -1.0),
            ("engine", "batch", 9),
            ("engine", "device", "gpu"),
            ("defaults", "model", "dall-e"),
            ("defaults", "perceptor", "tiny-clpi"),
            ("defaults", "steps", 10_001),
            ("defaults", "size", "100x100"),
            ("defaults", "upscaler", "nope"),
            ("defaults", "dreamer", "nope"),
            ("queue", "max_per_server", 0),
            ("queue", "url", "http://x"),
            ("queue", "claim_timeout", 0.0),
            ("worker", "models", ["nope"]),
            ("worker", "max_side", 4096),
            ("storage", "keep_days", -1.0),
            ("storage", "max_files_gb", -0.5),
            ("moderation", "picture_check", "clip"),
            ("moderation", "threshold", 1.5),
            ("web", "listen", "8080"),
            ("web", "listen", "127.0.0.1:70000"),
            ("web", "public_url", "dreams.example.org"),
        ]
    ],
)
def test_each_checked_key_refuses_an_unusable_value_and_names_itself(tmp_path, section, key, bad):
    """Every declared check runs: the refusal names the section and the key (or, for a size, the model's rule)."""
    path = tmp_path / "config.toml"
    value = f'"{bad}"' if isinstance(bad, str) else str(bad).replace("'", '"')
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=rf"^\[{section}\] .*\b{key}\b"):
        load_config(str(path))


def test_every_check_is_in_the_table_above():
    checked = {(s, n) for s, fields in declared().items() for n, f in fields.items() if f.metadata["check"]}
    listed = {(s, k) for s, k, _ in test_each_checked_key_refuses_an_unusable_value_and_names_itself.pytestmark[0].args[1]}
    assert checked == listed


def test_config_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DREAMBOT_CONFIG", raising=False)
    assert load_config().source is None
    Path("config.toml").write_text("[defaults]\nsteps = 50\n")
    assert load_config().defaults.steps == 50
    Path("env.toml").write_text("[defaults]\nsteps = 60\n")
    monkeypatch.setenv("DREAMBOT_CONFIG", "env.toml")
    assert load_config().defaults.steps == 60
    Path("explicit.toml").write_text('[defaults]\nsteps = 70\nsize = "128x128"\n')
    config = load_config("explicit.toml")
    assert (config.defaults.steps, config.defaults.size, config.defaults.model) == (70, "128x128", "vqgan-imagenet-f16-16384")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\nstep = 5\n", "unknown key"),
        ("[default]\n", "unknown section"),
        ("[defaults]\nsteps = '5'\n", "must be of type int"),
        ("[defaults\n", "could not be read"),
    ],
)
def test_bad_config_is_refused(tmp_path, text, message):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(tmp_path / "c.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[discord]\napi_base = "discord.com"\n', "must be an http(s) URL"),
        ("[discord]\npreview_interval = 0\n", "preview_interval must be a positive"),
        ("[engine]\npreview_every = 0\n", "preview_every must be at least 1"),
        ('[engine]\nspeed = "fast,+magic"\n', "[engine] '+magic' in speed 'fast,+magic' is not +SWITCH or -SWITCH"),
        ('[defaults]\nmodel = "dall-e"\n', "model 'dall-e' is not one of"),
        (
            '[defaults]\nupscaler = "realesrgan-x4"\n',
            "[defaults] upscaler 'realesrgan-x4' is not one of: realesrgan-x4plus, tiny-esrgan (did you mean realesrgan-x4plus?)",
        ),
        ('[defaults]\nperceptor = "tiny-clpi"\n', "[defaults] perceptor 'tiny-clpi' must be tiny-clip or an open_clip"),
        ('[defaults]\nperceptor = "tiny-clip+tiny-clpi"\n', "did you mean tiny-clip?"),
        ('[engine]\ndevice = "gpu"\n', "[engine] device 'gpu' is not one of: auto, cpu, cuda, cuda:N (a GPU is cuda"),
        ('[engine]\ndevice = "cuda:x"\n', "[engine] device 'cuda:x' is not one of"),
        ('[worker]\nmodels = ["tiny-vqgn"]\n', "[worker] models 'tiny-vqgn' is not one of: tiny-vqgan, "),
        ("[defaults]\nsteps = 0\n", "steps must be between"),
        ('[defaults]\nsize = "100x100"\n', "multiples of 16"),
    ],
)
def test_unusable_config_values_are_refused(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path))


def test_types_come_first_and_checks_go_in_declared_order_whatever_the_files_order(tmp_path):
    """``[defaults] size`` is checked against the model: a wrong model is named as such, even written after the size."""
    path = tmp_path / "config.toml"
    path.write_text('[defaults]\nsize = "64x64"\nmodel = "nope"\n')
    with pytest.raises(ConfigError, match=r"^\[defaults\] model 'nope' is not one of"):
        load_config(str(path))
    path.write_text('[defaults]\nsize = "64x64"\nmodel = 5\n[discord]\napi_base = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"^\[defaults\] model must be of type str, not 5$"):
        load_config(str(path))
