"""The loop's arithmetic on hand-made tensors: the distance, prompt weights and stops, the extra
loss terms, when a run ends, and which losses are read back. Fast and exact, so a changed sign or
bound shows here rather than as a slightly different picture."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contract.speed import PLAIN, Speed
from engine.generators.base import Generator
from engine.loop import Optimization, Target, make_optimizer, optimize, spherical_distance, target_loss


def unit(*rows: list[float]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=-1)


X, Y, MINUS_X = unit([1, 0]), unit([0, 1]), unit([-1, 0])


def test_the_distance_is_twice_the_squared_half_angle():
    """0 for the same direction, pi^2/8 at a right angle, pi^2/2 for opposite ones."""
    assert spherical_distance(X, X).item() == pytest.approx(0.0)
    assert spherical_distance(X, Y).item() == pytest.approx(math.pi**2 / 8)
    assert spherical_distance(X, MINUS_X).item() == pytest.approx(math.pi**2 / 2)
    angle = 0.3
    tilted = unit([math.cos(angle), math.sin(angle)])
    assert spherical_distance(X, tilted).item() == pytest.approx(2 * (angle / 2) ** 2)


def test_the_loss_is_the_weighted_mean_over_every_cutout_and_target_embedding():
    cutouts = torch.cat([X, Y, MINUS_X])
    both = torch.cat([X, Y])
    distances = [0, math.pi**2 / 8, math.pi**2 / 8, 0, math.pi**2 / 2, math.pi**2 / 8]
    assert target_loss(cutouts, Target(both)).item() == pytest.approx(sum(distances) / 6)
    assert target_loss(cutouts, Target(both, weight=2.5)).item() == pytest.approx(2.5 * sum(distances) / 6)
    assert target_loss(cutouts, Target(both, weight=-0.5)).item() == pytest.approx(-0.5 * sum(distances) / 6)


def test_an_ensembles_embeddings_are_measured_part_by_part_and_the_distances_averaged():
    """An ensemble joins its members' unit embeddings (here a 2-wide and a 3-wide part): a cutout's distance to a
    target is the mean of the parts' distances, and the stop holds on that mean."""
    cut_a, cut_b = unit([1, 0], [0, 1], [-1, 1]), unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    tgt_a, tgt_b = torch.cat([X, Y]), unit([0, 1, 0], [1, 0, 0])
    cutouts, targets = torch.cat([cut_a, cut_b], dim=-1), torch.cat([tgt_a, tgt_b], dim=-1)
    each = (spherical_distance(cut_a[:, None], tgt_a[None]) + spherical_distance(cut_b[:, None], tgt_b[None])) / 2
    quarter = math.pi**2 / 16
    assert each.flatten().tolist() == pytest.approx([quarter, quarter, quarter, quarter, 3.25 * quarter, 1.25 * quarter])
    assert target_loss(cutouts, Target(targets, weight=1.5), (2, 3)).item() == pytest.approx(1.5 * each.mean().item())
    whole_c, whole_t = F.normalize(cutouts, dim=-1), F.normalize(targets, dim=-1)  # one part: one model's embedding
    whole = spherical_distance(whole_c[:, None], whole_t[None]).mean().item()
    assert target_loss(whole_c, Target(whole_t), (5,)).item() == pytest.approx(whole) != each.mean().item()
    # a stop between the means: the first two cutouts are closer than it to both targets, the third is not
    # (part by part, the first two are farther than it from one target each)
    pulled = cutouts.clone().requires_grad_()
    target_loss(pulled, Target(targets, stop=1.6 * quarter), (2, 3)).backward()
    assert pulled.grad[:2].abs().sum() == 0 and pulled.grad[2].abs().sum() > 0


def gradient(cutouts: torch.Tensor, target: Target) -> torch.Tensor:
    cutouts = cutouts.clone().requires_grad_()
    target_loss(cutouts, target).backward()
    return cutouts.grad


def test_a_stop_cuts_the_pull_of_cutouts_already_closer_than_it_but_keeps_their_loss():
    near, far = unit([1, 0.1]), unit([0, 1])  # about 0.005 and 1.23 from X
    cutouts = torch.cat([near, far])
    pulled = gradient(cutouts, Target(X))
    stopped = gradient(cutouts, Target(X, stop=0.5))
    assert pulled[0].abs().sum() > 0 and stopped[0].abs().sum() == 0
    assert torch.equal(stopped[1], pulled[1])
    assert target_loss(cutouts, Target(X, stop=0.5)).item() == target_loss(cutouts, Target(X)).item()
    exactly_at_the_stop = spherical_distance(far, X).item()
    assert gradient(far, Target(X, stop=exactly_at_the_stop)).abs().sum() == 0


def test_a_negative_weight_pushes_until_the_cutout_is_farther_than_minus_stop():
    near, far = unit([1, 0.1]), unit([0, 1])
    cutouts = torch.cat([near, far])
    pushed = gradient(cutouts, Target(X, weight=-1.0, stop=-0.5))
    assert pushed[0].abs().sum() > 0 and pushed[1].abs().sum() == 0
    away = -pushed[0]  # the step direction moves the near cutout away from X
    assert torch.dot(away, X[0]) < 0
    unstopped = gradient(cutouts, Target(X, weight=-1.0))
    assert unstopped[1].abs().sum() > 0
    exactly_at_the_stop = -spherical_distance(far, X).item()
    assert gradient(far, Target(X, weight=-1.0, stop=exactly_at_the_stop)).abs().sum() == 0


def test_a_stop_below_every_distance_changes_nothing():
    cutouts = torch.cat([unit([1, 0.1]), unit([0, 1])])
    assert torch.equal(gradient(cutouts, Target(X, stop=-math.inf)), gradient(cutouts, Target(X, stop=0.0)))


class Canvas(Generator):
    """Pixels as the parameters; an optional penalty and a clamp, so the loop's every hook is seen."""

    def __init__(self, start: torch.Tensor, penalty: float | None = None) -> None:
        self.pixels = start.clone().requires_grad_()
        self.weight = penalty
        self.clamps = 0
        self.dtypes: list[torch.dtype] = []

    def parameters(self) -> list[torch.Tensor]:
        return [self.pixels]

    def decode(self) -> torch.Tensor:
        picture = self.pixels @ torch.eye(self.pixels.shape[-1])  # a matmul, so autocast shows in its dtype
        self.dtypes.append(picture.dtype)
        return picture

    def penalty(self) -> torch.Tensor | None:
        return None if self.weight is None else self.weight * self.pixels.square().mean()

    def after_step(self) -> None:
        self.clamps += 1


class MeanColour:
    """A 'perceptor' that embeds a picture as its normalized mean colour: tiny, exact and differentiable."""

    input_size = 4
    parts = (3,)

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype] = []

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        colours = images.mean(dim=(2, 3)) @ torch.eye(3)
        self.dtypes.append(colours.dtype)
        return F.normalize(colours.float(), dim=-1)


RED = F.normalize(torch.tensor([[1.0, 0.0, 0.0]]), dim=-1)


def grey() -> torch.Tensor:
    return torch.full((1, 3, 4, 4), 0.5)


def run(steps: int = 10, lr: float = 0.05, **fields) -> Optimization:
    canvas = fields.pop("generator", None) or Canvas(grey())
    targets = fields.pop("targets", None) or [Target(RED)]
    return Optimization(canvas, targets, make_optimizer("adam", canvas.parameters(), lr), lambda image: image, steps, **fields)


def test_steering_pulls_the_picture_towards_the_prompt():
    optimization = run(steps=30)
    optimize([optimization], MeanColour())
    losses = optimization.losses
    assert len(losses) == 30 and optimization.stopped_at is None
    assert losses[-1] < 0.25 * losses[0]  # measured 0.456 -> 0.0045; without steering it stays at 0.456 (no noise here)
    red, green, blue = optimization.generator.pixels.mean(dim=(0, 2, 3)).tolist()
    assert red > green and red > blue
    assert optimization.generator.clamps == 30


def test_a_stop_above_every_distance_leaves_the_picture_where_it_was():
    optimization = run(targets=[Target(RED, stop=10.0)])
    optimize([optimization], MeanColour())
    assert torch.equal(optimization.generator.pixels.detach(), grey())


def test_the_init_image_and_the_penalty_add_to_the_loss():
    image, init = grey(), torch.zeros(1, 3, 4, 4)
    embeds = MeanColour().encode_image(image)
    prompt_only = run().loss(image, embeds).item()
    with_init = run(init_image=init, init_weight=2.0).loss(image, embeds).item()
    assert with_init == pytest.approx(prompt_only + 2.0 * 0.25)
    assert run(init_image=init, init_weight=0.0).loss(image, embeds).item() == pytest.approx(prompt_only)
    assert run(init_weight=2.0).loss(image, embeds).item() == pytest.approx(prompt_only), "no init image, no init loss"
    penalised = run(generator=Canvas(image, penalty=3.0)).loss(image, embeds).item()
    assert penalised == pytest.approx(prompt_only + 3.0 * 0.25)
    two = run(targets=[Target(RED), Target(RED, weight=0.5)]).loss(image, embeds).item()
    assert two == pytest.approx(1.5 * prompt_only)


def test_a_run_ends_after_its_steps_or_when_asked_and_says_where():
    asked: list[int] = []
    stopping = run(steps=10, on_step=lambda step, loss: asked.append(step), should_stop=lambda: len(asked) >= 3)
    whole = run(steps=4)
    optimize([stopping, whole], MeanColour())
    assert asked == [1, 2, 3] and stopping.stopped_at == 3 and len(stopping.losses) == 3
    assert whole.stopped_at is None and len(whole.losses) == 4
    assert not run(steps=4).ends_before(4) and run(steps=4).ends_before(5)


@pytest.mark.parametrize("speed", [PLAIN, Speed(sync_free=True)])
def test_every_step_reports_the_latest_loss_read(speed):
    seen: list[tuple[int, float]] = []
    optimization = run(steps=7, report_every=3, on_step=lambda step, loss: seen.append((step, loss)))
    optimize([optimization], MeanColour(), speed)
    losses = optimization.losses
    assert len(losses) == 7 and [step for step, _ in seen] == list(range(1, 8))
    read_at = range(1, 8) if speed == PLAIN else [1, 1, 3, 3, 3, 6, 7]  # sync-free: step 1, every 3rd, the last
    assert [loss for _, loss in seen] == [losses[i - 1] for i in read_at]


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_each_optimizer_is_the_one_named(name):
    parameter = torch.zeros(2, requires_grad=True)
    optimizer = make_optimizer(name, [parameter], 0.125)
    expected = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    assert type(optimizer) is expected and optimizer.param_groups[0]["lr"] == 0.125


def test_a_batch_member_with_its_own_random_state_draws_what_it_would_alone():
    """``cut`` swaps in the run's own state, so the global stream is left as it was."""
    noisy = run(rng=torch.Generator().manual_seed(5).get_state())
    noisy.make_cutouts = lambda image: image + torch.rand(1)
    before = torch.get_rng_state()
    first = noisy.cut(torch.zeros(1))
    second = noisy.cut(torch.zeros(1))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(5)
    assert first.item() == torch.rand(1).item() and second.item() == torch.rand(1).item()


def test_a_batch_gives_each_run_what_it_gets_alone():
    """One decode and one judge call for all; each run still sees only its own picture, cutouts and init image."""

    def runs() -> list[Optimization]:
        dark, light = torch.full((1, 3, 4, 4), 0.2), torch.full((1, 3, 4, 4), 0.7)
        light[:, 2] = 0.9
        return [
            run(steps=6, generator=Canvas(dark), init_image=torch.ones(1, 3, 4, 4), init_weight=0.5),
            run(steps=9, generator=Canvas(light), targets=[Target(RED), Target(unit([0, 0, 1]).float(), weight=-0.3)]),
        ]

    together = runs()
    optimize(together, MeanColour())
    for i, batched in enumerate(together):
        alone = runs()[i]
        optimize([alone], MeanColour())
        assert batched.losses == pytest.approx(alone.losses, abs=1e-6)
        assert torch.allclose(batched.generator.pixels, alone.generator.pixels, atol=1e-6)


@pytest.mark.parametrize(("speed", "dtype"), [(PLAIN, torch.float32), (Speed(autocast=True), torch.bfloat16)])
def test_autocast_covers_the_decode_and_the_judge_and_only_when_asked(speed, dtype):
    optimization = run(steps=2)
    judge = MeanColour()
    optimize([optimization], judge, speed)
    assert optimization.generator.dtypes == [dtype, dtype] and judge.dtypes == [dtype, dtype]
