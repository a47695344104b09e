"""The cost model: each parameter moves the prediction the way its work does, and the executor's pace scales it."""

import pytest

from contract.costs import MIN_SAMPLES, CostTable, Part, pace, predict, table
from contract.protocol import RenderRequest


def cost(**fields) -> float:
    return predict(RenderRequest("a castle", **fields)).seconds


def test_seconds_grow_with_steps_size_cutouts_candidates_and_perceptors_and_nothing_else_moves_them():
    base = cost()
    assert cost(steps=600) == pytest.approx(2 * base), "steps: linear"
    assert cost(count=4) == pytest.approx(4 * base), "four candidates are four pictures' steps"
    assert cost(width=512, height=512) > 1.5 * base
    assert cost(cutn=64) > cost(cutn=32) > cost(cutn=8)
    assert cost(perceptor="ViT-B-32/openai+ViT-B-16/openai") > 3 * base, "a ViT-B/16 beside it costs more than itself"
    assert cost(seed=9, lr=0.2, optimizer="sgd") == base, "what does not change the work does not change the cost"
    film = cost(zoom_frames=10, steps_per_frame=10)
    assert film == pytest.approx(cost(steps=300 + 9 * 10)), "a film costs its total steps"


def test_each_generator_is_priced_by_its_own_entry_or_its_family():
    costs = table()
    assert costs.generator("vqgan-imagenet-f16-1024") == costs.generators["vqgan"]
    assert costs.generator("biggan-deep-512") == costs.generators["biggan-deep-512"]
    assert cost(model="pixels") < cost() < cost(model="siren")
    assert cost(model="tiny-vqgan", perceptor="tiny-clip", width=64, height=64) < cost() / 20


def test_a_perceptor_not_measured_costs_what_the_dearest_does():
    costs = table()
    assert costs.perceptor("ViT-B-32/laion2b_s34b_b79k") == costs.perceptors["ViT-B-32"], "the architecture counts"
    assert costs.perceptor("ViT-H-14/laion2b_s32b_b79k") == costs.perceptors["ViT-L-14"]


def test_memory_grows_with_pixels_candidates_and_extra_perceptors():
    one = predict(RenderRequest("x")).memory_gib
    assert predict(RenderRequest("x", width=512, height=512)).memory_gib > one
    assert predict(RenderRequest("x", count=4)).memory_gib > one
    assert predict(RenderRequest("x", perceptor="ViT-B-32/openai+ViT-B-16/openai")).memory_gib > one
    assert predict(RenderRequest("x", steps=900)).memory_gib == one, "steps take time, not memory"


def test_upscales_and_dreams_are_priced_by_their_networks_and_pictures():
    small = predict(RenderRequest("", model="realesrgan-x4plus", width=128, height=128, steps=1))
    large = predict(RenderRequest("", model="realesrgan-x4plus", width=512, height=512, steps=1))
    assert large.seconds > 4 * small.seconds * 0.9 and large.memory_gib > small.memory_gib
    dream = predict(RenderRequest("", model="inception-v1", width=256, height=256, steps=40))
    assert dream.seconds == pytest.approx(
        2 * predict(RenderRequest("", model="inception-v1", width=256, height=256, steps=20)).seconds
    )


def test_the_pace_is_the_median_of_measured_over_predicted_once_there_are_a_few():
    assert pace([(10.0, 1.0)] * (MIN_SAMPLES - 1)) == 1.0, "too few to judge"
    assert pace([(10.0, 1.0), (10.0, 2.0), (10.0, 50.0)]) == pytest.approx(0.2), "the median, not the mean"
    assert pace([(0.0, 5.0), (10.0, 0.0), (10.0, 1.0), (10.0, 1.0), (10.0, 1.0)]) == pytest.approx(0.1), "nothing / 0"


def test_a_table_reads_its_parts():
    read = CostTable.from_dict({"measured": "here", "generators": {"g": {"fixed": 1.0, "per_megapixel2": 4.0}}})
    assert read.generators["g"] == Part(fixed=1.0, per_megapixel2=4.0)
    assert read.generators["g"].step(0.5) == pytest.approx(2.0)
    assert Part(per_cutout=0.5).step(0.0, 8) == 4.0
    assert Part(memory_gib=1.0, memory_gib_per_megapixel=2.0).memory(0.25) == 1.5
