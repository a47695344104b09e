"""What a /dream may ask for under a server's settings: defaults, limits, banned words, style and quotas."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.admission.refusal import Refusal
from bot.admission.requests import (
    DeepDreamOptions,
    DreamOptions,
    Standing,
    banned_word,
    build_dream_request,
    build_request,
    build_upscale_request,
    check_channel,
    check_quota,
    check_standing,
    styled,
    with_picture,
)
from bot.admission.settings import GuildSettings, SettingError
from contract.limits import MAX_SEED, MAX_SIDE
from contract.protocol import RenderRequest
from contract.registry import generator_names

BASE = GuildSettings(model="tiny-vqgan", steps=50, size="64x64")


def test_banned_words_match_whole_words_only():
    assert banned_word("A Gory scene", ("gore",)) is None
    assert banned_word("gore-fest", ("gore",)) == "gore"
    assert banned_word("red blood cells", ("gore", "red blood")) == "red blood"


def test_style_is_one_more_prompt_and_never_doubled():
    assert styled("a castle:2 | fog:-1", "unreal engine") == "a castle:2 | fog:-1 | unreal engine"
    assert styled("a castle, Unreal Engine", "unreal engine") == "a castle, Unreal Engine"
    assert styled("a castle", "") == "a castle"


def test_requests_take_server_defaults_and_limits():
    request = build_request(DreamOptions("a castle", seed=5), BASE, "tiny-clip", 10)
    assert (request.steps, request.size, request.model, request.seed) == (50, "64x64", "tiny-vqgan", 5)
    assert request.perceptor == "tiny-clip" and request.preview_every == 10
    seeds = {build_request(DreamOptions("a castle"), BASE, "tiny-clip", 10).seed for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= seed < 2**31 for seed in seeds)
    with pytest.raises(Refusal, match="seed"):
        build_request(DreamOptions("a castle", seed=-1), BASE, "tiny-clip", 10)


def test_the_size_follows_a_fixed_size_model():
    """BigGAN paints one size: without a size a request gets it; another size, or one above the limit, is refused."""
    request = build_request(DreamOptions("a castle", model="biggan-deep-128"), BASE, "tiny-clip", 10)
    assert (request.model, request.size) == ("biggan-deep-128", "128x128")
    assert build_request(DreamOptions("a castle", model="siren"), BASE, "tiny-clip", 10).size == "64x64"
    with pytest.raises(Refusal, match="biggan-deep-128 paints 128x128 only, not 64x64"):
        build_request(DreamOptions("a castle", model="biggan-deep-128", size="64x64"), BASE, "tiny-clip", 10)
    small = dataclasses.replace(BASE, max_size="256x256")
    with pytest.raises(Refusal, match=r"512x512 is larger than this server allows \(256x256\)"):
        build_request(DreamOptions("a castle", model="biggan-deep-512"), small, "tiny-clip", 10)


def test_max_size_auto_leaves_the_size_to_the_engines_memory():
    """``auto`` takes any size up to MAX_SIDE here; the memory check at admission bounds it (tests/bot/usage)."""
    auto = dataclasses.replace(BASE, max_size="auto")
    auto.check()
    assert auto.max_sides == (MAX_SIDE, MAX_SIDE) and BASE.max_sides == (512, 512)
    assert build_request(DreamOptions("a castle", size="1024x768"), auto, "tiny-clip", 10).size == "1024x768"
    with pytest.raises(Refusal, match=r"1024x768 is larger than this server allows \(512x512\)"):
        build_request(DreamOptions("a castle", size="1024x768"), BASE, "tiny-clip", 10)
    assert with_picture(RenderRequest("", model="inception-v1"), auto, "x.png", (1600, 1200)).size == "1600x1200"
    assert with_picture(RenderRequest("", model="inception-v1"), BASE, "x.png", (1600, 1200)).size == "512x384"


def test_a_fixed_size_default_model_keeps_the_default_size_for_other_models():
    biggan_server = GuildSettings("biggan-deep-256", 50, "64x64")
    biggan_server.check()
    assert build_request(DreamOptions("a castle"), biggan_server, "tiny-clip", 10).size == "256x256"
    assert build_request(DreamOptions("a castle", model="pixels"), biggan_server, "tiny-clip", 10).size == "64x64"
    with pytest.raises(SettingError, match=r"the default model paints 512x512, larger than max_size \(256x256\)"):
        GuildSettings("biggan-deep-512", 50, "64x64", max_size="256x256").check()


def test_quota_and_cooldown():
    strict = GuildSettings("tiny-vqgan", 50, "64x64", jobs_per_user=2, cooldown=60)
    check_quota(strict, 1, 1000.0, 1061.0)
    check_quota(strict, 1, 1000.0, 1060.0)
    check_quota(strict, 1, None, 1000.0)
    check_quota(dataclasses.replace(strict, cooldown=0), 0, 1000.0, 1000.0)
    with pytest.raises(Refusal) as refused:
        check_quota(strict, 2, None, 0.0)
    assert str(refused.value) == (
        "You already have 2 job(s) waiting or running; this server allows 2. Wait for one to finish or /cancel one."
    )
    with pytest.raises(Refusal) as refused:
        check_quota(strict, 0, 1000.0, 1030.0)
    assert str(refused.value) == "Slow down: you can dream again in 30s (this server's cooldown is 60s)."
    with pytest.raises(Refusal, match="again in 1s"):
        check_quota(strict, 0, 1000.0, 1059.5)


def test_dreams_are_painted_only_in_the_servers_channels():
    check_channel(BASE, 5)
    some = dataclasses.replace(BASE, channels=(7, 8))
    check_channel(some, 8)
    with pytest.raises(Refusal) as refused:
        check_channel(some, 5)
    assert str(refused.value) == "Dreams are not painted in this channel. Try <#7>, <#8>."


def refusal(options: DreamOptions, settings: GuildSettings = BASE) -> str:
    with pytest.raises(Refusal) as refused:
        build_request(options, settings, "tiny-clip", 10)
    return str(refused.value)


def test_each_refusal_is_one_sentence_for_the_member():
    assert refusal(DreamOptions(" ")) == "The prompt is empty: describe the picture you want."
    assert refusal(DreamOptions("red gore", seed=1), dataclasses.replace(BASE, banned_words=("gore",))) == (
        "The prompt contains a word this server does not allow ('gore')."
    )
    assert refusal(DreamOptions("a castle", model="nope")) == f"Unknown model 'nope'. Models: {', '.join(generator_names())}."
    assert refusal(DreamOptions("a castle", seed=-1)) == f"The seed must be between 0 and {MAX_SEED}, not -1."
    for steps in (0, BASE.max_steps + 1):
        assert refusal(DreamOptions("a castle", steps=steps)) == (
            f"Steps must be between 1 and {BASE.max_steps} on this server, not {steps}."
        )
    assert refusal(DreamOptions("a castle", size="64by64")) == (
        "The size is not usable: size '64by64' is not of the form WIDTHxHEIGHT, e.g. 256x256."
    )


def test_what_the_member_asks_for_is_what_is_queued_up_to_the_limits(tmp_path):
    tight = dataclasses.replace(BASE, max_size="64x48")
    for size in ("64x48", "32x48", "64x16"):
        assert build_request(DreamOptions("a castle", size=size), tight, "tiny-clip", 10).size == size
    for size in ("66x48", "64x50"):
        assert "is larger than this server allows (64x48)" in refusal(DreamOptions("a castle", size=size), tight)
    for steps in (1, BASE.max_steps):
        assert build_request(DreamOptions("a castle", steps=steps), BASE, "tiny-clip", 10).steps == steps
    init = str(tmp_path / "init.png")
    request = build_request(DreamOptions("a castle", seed=0).pictures(init), BASE, "ViT-B-32/openai", 7)
    assert (request.seed, request.perceptor, request.preview_every, request.init_image) == (0, "ViT-B-32/openai", 7, init)
    assert (request.init_weight, request.init_noise, request.image_prompts) == (0.0, 0.0, ())
    kept = DreamOptions("a castle", perceptor="tiny-clip", init_weight=0.5, init_noise=0.25).pictures(init, ("a.png",))
    request = build_request(kept, BASE, "ViT-B-32/openai", 7)
    assert (request.perceptor, request.init_weight, request.init_noise, request.image_prompts) == (
        "tiny-clip",
        0.5,
        0.25,
        ("a.png",),
    )


@pytest.mark.parametrize(
    "disguised",
    ["ＧＯＲＥ fest", "g\u200bore", "go\u00adre", "GORE", "gO\u200dRe", "𝐠𝐨𝐫𝐞"],
    ids=["full-width", "zero-width space", "soft hyphen", "upper case", "zero-width joiner", "bold letters"],
)
def test_banned_words_see_through_unicode_disguises(disguised):
    assert banned_word(f"a {disguised} scene", ("gore",)) == "gore"
    assert banned_word("a scene", ("gore",)) is None


def test_absurd_numbers_are_refused_like_any_bad_value():
    for size in ("9" * 5000 + "x256", "256x" + "1" * 40):
        with pytest.raises(Refusal, match="WIDTHxHEIGHT"):
            build_request(DreamOptions("a castle", size=size), BASE, "tiny-clip", 10)


@settings(max_examples=300, deadline=None)
@given(
    prompt=st.text(max_size=1200),
    size=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"\d{1,8}[xX×]\d{1,8}", fullmatch=True)),
    steps=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    seed=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    model=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["tiny-vqgan", "biggan-deep-512", "pixels"])),
)
def test_any_dream_is_queued_or_refused_in_words(prompt, size, steps, seed, model):
    """Whatever a member types, the answer is a request within the server's limits or a ``Refusal``: never a crash."""
    try:
        request = build_request(DreamOptions(prompt, seed, steps, size, model), BASE, "tiny-clip", 10)
    except Refusal as refusal:
        assert str(refusal).strip()
        return
    assert 1 <= request.steps <= BASE.max_steps and 0 <= request.seed <= 2**53
    assert request.width <= 512 and request.height <= 512


def test_a_zoom_takes_its_frames_and_motion_within_the_servers_frame_limit():
    options = DreamOptions("a castle", seed=1, steps=20, zoom_frames=12, steps_per_frame=3, zoom=1.1, rotate=-2, shift="2, -1")
    request = build_request(options, BASE, "tiny-clip", 10)
    assert (request.zoom_frames, request.steps_per_frame, request.zoom, request.rotate) == (12, 3, 1.1, -2)
    assert request.shift == (2.0, -1.0) and request.total_steps == 20 + 11 * 3
    few = dataclasses.replace(BASE, max_frames=11)
    with pytest.raises(Refusal, match="A zoom may have 1 to 11 frames on this server, not 12"):
        build_request(options, few, "tiny-clip", 10)
    for bad, message in (
        (dataclasses.replace(options, shift="2"), "Shift is two numbers"),
        (dataclasses.replace(options, zoom=9.0), "Zoom must be between 0.5 and 2"),
        (dataclasses.replace(options, steps_per_frame=BASE.max_steps + 1), "Steps per frame must be between 1 and 1000"),
    ):
        with pytest.raises(Refusal, match=message):
            build_request(bad, BASE, "tiny-clip", 10)


def test_a_story_shares_steps_per_line_takes_the_style_in_every_scene_and_keeps_to_the_scene_limit():
    styled_base = dataclasses.replace(BASE, style="oil painting")
    options = DreamOptions("a seed || a sapling || an oak", steps_per_scene=30, fade=0.5, captions=True)
    request = build_request(options, styled_base, "tiny-clip", 10)
    assert request.scenes == ["a seed | oil painting", "a sapling | oil painting", "an oak | oil painting"]
    assert (request.steps, request.story_fade, request.captions) == (90, 0.5, True)
    assert build_request(DreamOptions("a || b"), BASE, "tiny-clip", 10).steps == 2 * (BASE.steps // 2)
    with pytest.raises(Refusal, match="at most 2 scenes, not 3"):
        build_request(options, dataclasses.replace(BASE, max_scenes=2), "tiny-clip", 10)
    with pytest.raises(Refusal, match="empty scene"):
        build_request(DreamOptions("a seed ||  || an oak"), BASE, "tiny-clip", 10)
    with pytest.raises(Refusal, match="Steps per line must be between 1 and 1000"):
        build_request(dataclasses.replace(options, steps_per_scene=1001), BASE, "tiny-clip", 10)


@pytest.mark.parametrize(
    "options",
    [
        DreamOptions("a castle", steps=40, size="32x32", model="pixels"),
        DreamOptions("a castle", steps=40, zoom_frames=9, steps_per_frame=4, zoom=0.9, rotate=3, shift="1,2"),
        DreamOptions("a seed || an oak", steps_per_scene=25, fade=0.1, captions=True),
    ],
)
def test_again_asks_for_the_same_picture_or_film_with_a_new_seed(options):
    first = build_request(options, BASE, "tiny-clip", 10)
    again = build_request(DreamOptions.again(first), BASE, "tiny-clip", 10)
    assert dataclasses.replace(again, seed=first.seed) == first


def test_a_deepdream_takes_the_servers_limits_and_its_pictures_size_scaled_to_fit():
    server = dataclasses.replace(BASE, max_steps=30, max_size="64x48", banned_words=("gore",))
    asked = DeepDreamOptions("eyes everywhere", steps=12, layer="inception4c", seed=8)
    request = build_dream_request(asked, server, "tiny-inception", "tiny-clip", 3)
    assert (request.prompt, request.model, request.perceptor, request.steps, request.seed) == (
        "eyes everywhere", "tiny-inception", "tiny-clip", 12, 8,
    )  # fmt: skip
    assert (request.preview_every, request.options, request.width, request.height) == (3, {"layer": "inception4c"}, 0, 0)
    assert build_dream_request(DeepDreamOptions(), server, "tiny-inception", "tiny-clip", 3).steps == 30, "capped default"
    assert build_dream_request(DeepDreamOptions(), BASE, "tiny-inception", "tiny-clip", 3).steps == 40
    assert build_dream_request(DeepDreamOptions(), server, "tiny-inception", "tiny-clip", 3).options == {}
    for options, refusal_text in (
        (DeepDreamOptions(steps=31), "Steps must be between 1 and 30 on this server, not 31."),
        (DeepDreamOptions(steps=0), "Steps must be between 1 and 30 on this server, not 0."),
        (DeepDreamOptions("red gore"), "The prompt contains a word this server does not allow ('gore')."),
        (DeepDreamOptions(seed=-1), f"The seed must be between 0 and {MAX_SEED}, not -1."),
    ):
        with pytest.raises(Refusal) as refused:
            build_dream_request(options, server, "tiny-inception", "tiny-clip", 3)
        assert str(refused.value) == refusal_text
    with pytest.raises(Refusal, match="^Layer must be one of conv2, .*, not .nope.\\.$"):
        build_dream_request(DeepDreamOptions(layer="nope"), server, "tiny-inception", "tiny-clip", 3)
    placed = with_picture(request, server, "in.png", (640, 240))
    assert (placed.init_image, placed.width, placed.height) == ("in.png", 64, 24), "scaled to fit, shape kept"
    assert (with_picture(request, server, "s.png", (40, 30)).width, with_picture(request, server, "s.png", (40, 30)).height) == (
        40,
        30,
    )


def test_an_upscale_is_the_candidates_picture_at_its_size_in_one_step():
    candidate = RenderRequest("a castle", model="pixels", width=48, height=32, steps=50, seed=12, count=1, cutn=8)
    request = build_upscale_request(candidate, "tiny-esrgan", "start.png")
    assert request == RenderRequest(
        "a castle", model="tiny-esrgan", width=48, height=32, steps=1, seed=12, preview_every=1, init_image="start.png"
    )


def test_again_gives_options_that_build_the_same_request_under_the_same_rules():
    """🔁's options are what was asked: built again under unchanged settings they give the request back (a new
    seed aside), films, sets, advanced options and how pictures were used included."""
    asked = [
        DreamOptions("a castle", seed=1, steps=20, size="48x32", model="pixels", count=2, options_text="cutn=8 lr=0.2"),
        DreamOptions("a castle", seed=2, steps=12, zoom_frames=5, steps_per_frame=3, zoom=1.2, rotate=2.0, shift="1,-2"),
        DreamOptions("a seed || an oak", seed=3, steps_per_scene=7, fade=0.25, captions=True),
        DreamOptions("a castle", seed=4, perceptor="tiny-clip", init_weight=0.5, init_noise=0.2).pictures("i.png", ("p.png",)),
    ]
    for options in asked:
        first = build_request(options, BASE, "ViT-B-32/openai", 5)
        again = DreamOptions.again(first).pictures(first.init_image, first.image_prompts)
        assert dataclasses.replace(build_request(again, BASE, "ViT-B-32/openai", 5), seed=first.seed) == first


def test_the_queue_and_the_members_standing_are_judged_in_order():
    strict = dataclasses.replace(BASE, channels=(5,), jobs_per_user=2, cooldown=60)
    fine = Standing(channel_id=5, queued=9, max_queued=10, active=1, last_created=1000.0, now=1060.0)
    check_standing(strict, fine)
    for changed, message in (
        ({"channel_id": 6}, "Dreams are not painted in this channel. Try <#5>."),
        ({"queued": 10}, "The queue of this server is full (10 jobs wait); try again when some have run."),
        ({"active": 2}, "You already have 2 job(s) waiting or running; this server allows 2."),
        ({"now": 1059.5}, "Slow down: you can dream again in 1s"),
        ({"channel_id": 6, "queued": 10, "active": 2}, "Dreams are not painted in this channel."),
        ({"queued": 10, "active": 2}, "The queue of this server is full"),
    ):
        with pytest.raises(Refusal) as refused:
            check_standing(strict, dataclasses.replace(fine, **changed))
        assert str(refused.value).startswith(message)


def test_advanced_options_each_refused_where_the_server_turned_them_off_and_applied_where_it_did_not():
    off = dataclasses.replace(BASE, advanced=False)
    for asked in (
        {"advanced": {"cutn": 8}}, {"options_text": "cutn=8"}, {"negative": "blur"}, {"image_prompt": True},
    ):  # fmt: skip
        with pytest.raises(Refusal) as refused:
            build_request(DreamOptions("a castle", **asked), off, "tiny-clip", 10)
        assert str(refused.value) == "This server has turned /dream's advanced options (options, negative, image_prompt) off."
    assert build_request(DreamOptions("a castle"), off, "tiny-clip", 10).prompt == "a castle"
    negative = build_request(DreamOptions("a castle", negative=" blur "), BASE, "tiny-clip", 10)
    assert negative.prompt == "a castle | blur:-1"
    offered = dataclasses.replace(BASE, perceptors=("ViT-B-16/openai",))
    knobs = build_request(DreamOptions("a castle", options_text="cutn=8 perceptor=ViT-B-16/openai"), offered, "tiny-clip", 10)
    assert (knobs.cutn, knobs.perceptor) == (8, "ViT-B-16/openai")
    both = DreamOptions("a castle", advanced={"cutn": 8}, options_text="lr=0.2")
    assert (build_request(both, BASE, "tiny-clip", 10).cutn, build_request(both, BASE, "tiny-clip", 10).lr) == (8, 0.2)
    with pytest.raises(Refusal, match=r"^This server offers the perceptors tiny-clip, not 'ViT-B-16/openai'\.$"):
        build_request(DreamOptions("a castle", options_text="perceptor=ViT-B-16/openai"), BASE, "tiny-clip", 10)


def test_a_story_may_have_as_many_scenes_as_the_server_allows_and_no_more():
    three = dataclasses.replace(BASE, max_scenes=3)
    assert len(build_request(DreamOptions("a || b || c"), three, "tiny-clip", 10).scenes) == 3
    with pytest.raises(Refusal, match=r"^This server allows stories of at most 3 scenes, not 4\.$"):
        build_request(DreamOptions("a || b || c || d"), three, "tiny-clip", 10)
