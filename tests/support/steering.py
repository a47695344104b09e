"""Whether a render was steered: its loss against the same render with no pull at all.

The control is the same request with a stop above every possible distance (``:1:10``; the distance
is at most pi^2/2), so it draws the very same cutouts and only the gradient is missing. Comparing
the two removes the cutout noise that makes "the loss fell" meaningless on its own: over 30 steps of
the tiny models, an unsteered run's loss "falls" by -0.016 to +0.032 (seeds 3-8), as much as some
steered runs fall.
"""

from __future__ import annotations

import dataclasses

from contract.protocol import RenderRequest

# Seeds 3-8, 30 steps, mean of the last 5 losses, control minus steered (AMD EPYC, 2026-11-26):
# tiny-vqgan 0.035-0.057 (codebook sampling: 0.027-0.046), tiny-biggan 0.017-0.086, siren 0.011-0.025,
# pixels 0.059-0.077, tiny-dvae 0.032-0.044 (at lr 0.1: 0.015-0.022), clipdraw 0.116-0.129 (at lr 0.003:
# 0.032-0.057), tiny-stylegan2 0.045-0.058 (at lr 0.01: 0.036-0.049; at 0.2: 0.044-0.059); the control against itself:
# exactly 0. The bar sits below the smallest steered gap, well above 0.
STEERED_GAP = 0.005
NO_PULL = ":1:10"


def steering_gap(engine, request: RenderRequest) -> float:
    """How much lower the steered run's last five losses are than the unsteered control's."""
    steered = engine.render(request).losses
    control = engine.render(dataclasses.replace(request, prompt=f"{request.prompt} {NO_PULL}")).losses
    assert steered[0] == control[0], "both start from the same picture and cutouts"
    return sum(control[-5:]) / 5 - sum(steered[-5:]) / 5
