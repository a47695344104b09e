"""CLIPDraw: strokes rasterized differentiably in torch, and the same strokes as SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch

from engine.generators.strokes import Strokes, bezier, rasterize, svg
from tests.support.painters import request

RED, BLUE, WHITE = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], torch.ones(3)


def line(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A straight stroke: four control points evenly along the segment."""
    return [[x0 + (x1 - x0) * i / 3, y0 + (y1 - y0) * i / 3] for i in range(4)]


def strokes(points, widths, colours, background=WHITE) -> Strokes:
    return Strokes(torch.tensor(points), torch.tensor(widths), torch.tensor(colours), background)


def at(picture: torch.Tensor, x: int, y: int) -> list[float]:
    return [round(v, 2) for v in picture[0, :, y, x].tolist()]


def test_a_stroke_covers_the_pixels_within_half_its_width_with_round_ends():
    picture = rasterize(strokes([line(8, 16, 56, 16)], [6.0], [[*RED, 1.0]]), 64, 32)
    assert at(picture, 32, 15) == [1.0, 0.0, 0.0], "on the line"
    assert at(picture, 32, 18) == [1.0, 0.12, 0.12], "2.5 pixels from the line, inside the half-width of 3"
    assert at(picture, 32, 25) == [1.0, 1.0, 1.0], "well outside"
    assert at(picture, 58, 15) == [1.0, 0.14, 0.14], "inside the round cap beyond the end (2.55 pixels from it)"
    assert at(picture, 59, 15) == [1.0, 0.89, 0.89], "just outside the cap (3.5 pixels from the end)"
    assert at(picture, 61, 15) == [1.0, 1.0, 1.0], "beyond the cap"


def test_later_strokes_lie_over_earlier_ones_with_their_own_opacity():
    across, down = line(0, 16, 32, 16), line(16, 0, 16, 32)
    opaque = rasterize(strokes([across, down], [4.0, 4.0], [[*RED, 1.0], [*BLUE, 1.0]]), 32, 32)
    assert at(opaque, 16, 16) == BLUE
    swapped = rasterize(strokes([down, across], [4.0, 4.0], [[*BLUE, 1.0], [*RED, 1.0]]), 32, 32)
    assert at(swapped, 16, 16) == RED
    half = rasterize(strokes([across, down], [4.0, 4.0], [[*RED, 0.5], [*BLUE, 0.5]]), 32, 32)
    assert at(half, 16, 16) == [0.5, 0.25, 0.75], "blue/2 over (red/2 over white)"


def brute_force(s: Strokes, width: int, height: int) -> torch.Tensor:
    """The same picture from every segment's distance to every pixel, minimum taken with autograd."""
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    p = torch.stack([xs.flatten(), ys.flatten()], -1)[None, None]  # [1, 1, P, 2]
    curve = bezier(s.points)
    a, b = curve[:, :-1, None], curve[:, 1:, None]  # [n, k-1, 1, 2]
    t = (((p - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1)).clamp(0, 1)
    d = (p - (a + t[..., None] * (b - a))).pow(2).sum(-1).amin(dim=1).add(1e-12).sqrt()  # [n, P]
    inside = (s.widths[:, None] / 2 - d) / 0.25
    cover = torch.where(inside > -8, torch.sigmoid(inside), 0.0) * s.colours[:, 3, None]
    picture = s.background[:, None].expand(3, width * height)
    for i in range(len(cover)):
        picture = picture * (1 - cover[i]) + s.colours[i, :3, None] * cover[i]
    return picture.reshape(1, 3, height, width)


def test_pixels_and_gradients_match_the_minimum_over_every_segment():
    """The rasterizer finds each pixel's nearest segment without gradients and differentiates that one alone."""
    generator = torch.Generator().manual_seed(0)
    points = (torch.rand(12, 4, 2, generator=generator) * 40).requires_grad_(True)
    widths = (torch.rand(12, generator=generator) * 6 + 1).requires_grad_(True)
    colours = torch.rand(12, 4, generator=generator).requires_grad_(True)
    weights = torch.rand(1, 3, 40, 40, generator=generator)
    grads = []
    for draw in (rasterize, brute_force):
        picture = draw(Strokes(points, widths, colours, torch.tensor([0.2, 0.3, 0.4])), 40, 40)
        grads.append((picture, *torch.autograd.grad((picture * weights).sum(), [points, widths, colours])))
    for ours, reference in zip(*grads, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-4)
    assert grads[0][1].abs().sum() > 0


def test_the_svg_holds_every_stroke_as_drawn():
    drawn = strokes([line(8, 16, 56, 16), line(0, 0, 10, 30)], [6.0, 2.5], [[*RED, 1.0], [0.0, 0.5, 1.0, 0.25]])
    root = ET.fromstring(svg(drawn, 64, 32))
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("64", "32", "0 0 64 32")
    background, *paths = list(root)
    assert background.get("fill") == "rgb(255,255,255)" and len(paths) == 2
    assert paths[0].get("d") == "M 8.00 16.00 C 24.00 16.00 40.00 16.00 56.00 16.00"
    assert [(p.get("stroke"), p.get("stroke-opacity"), p.get("stroke-width")) for p in paths] == [
        ("rgb(255,0,0)", "1.000", "6.00"),
        ("rgb(0,128,255)", "0.250", "2.50"),
    ]
    assert {p.get("stroke-linecap") for p in paths} == {"round"}, "the rasterizer's ends are round"


@pytest.mark.parametrize("background", ["black", "#102030"])
def test_a_clipdraw_render_gives_its_strokes_as_svg_over_its_background(engine, background):
    result = engine.render(request("clipdraw", 48, {"strokes": 7, "background": background}, steps=3))
    root = ET.fromstring(result.svg)
    fill = {"black": "rgb(0,0,0)", "#102030": "rgb(16,32,48)"}[background]
    assert root[0].get("fill") == fill and len(root) == 1 + 7
    assert engine.render(request("pixels", 48, {}, steps=1)).svg is None
