"""A small differentiable rasterizer for CLIPDraw's strokes, in plain torch (diffvg does not install here).

Each stroke is a cubic Bézier curve sampled into straight segments, drawn with round caps: a pixel's
coverage is a sigmoid of how far it lies inside the stroke's half-width, measured to the nearest segment.
Strokes are composited in order, each over the ones before it, with their own opacity. The same strokes
also write themselves out as SVG paths, the vector picture the raster is a rendering of.

The nearest segment of every pixel is found without gradients, in chunks of strokes; the distance is then
computed again, with gradients, to that segment alone. That gives exactly the gradient of the minimum over
all segments while keeping one ``[strokes, pixels]`` tensor per quantity instead of one per segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SAMPLES = 9  # points along each curve: 8 straight segments
EDGE = 0.25  # pixels over which a stroke's edge fades (the sigmoid's scale): anti-aliasing, and a gradient there
FAR = 8.0  # edge scales beyond which coverage is exactly 0 (the sigmoid is 3e-4 there): the background stays exact, as in the SVG
CHUNK = 1 << 24  # distances computed at once while looking for each pixel's nearest segment


@dataclass
class Strokes:
    """``points`` ``[n, 4, 2]`` control points in pixels (x, y); ``widths`` ``[n]`` in pixels; ``colours`` ``[n, 4]``
    RGBA in [0, 1]; ``background`` ``[3]``."""

    points: torch.Tensor
    widths: torch.Tensor
    colours: torch.Tensor
    background: torch.Tensor


def bezier(points: torch.Tensor, samples: int = SAMPLES) -> torch.Tensor:
    """Points along each cubic Bézier ``[n, 4, 2]``: ``[n, samples, 2]``, from the first control point to the last."""
    t = torch.linspace(0, 1, samples, device=points.device, dtype=points.dtype)[None, :, None]
    p0, p1, p2, p3 = (points[:, i, None] for i in range(4))
    u = 1 - t
    return u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3


def _squared_distance(px: torch.Tensor, py: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance from pixels (``px``, ``py``) to the segments ``a``–``b`` (``[..., 2]``), broadcast.

    x and y are kept apart: a trailing dimension of 2 would make every reduction a slow strided one.
    """
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    abx, aby = bx - ax, by - ay
    dx, dy = px - ax, py - ay
    t = ((dx * abx + dy * aby) / (abx * abx + aby * aby).clamp_min(1e-12)).clamp(0, 1)
    ex, ey = dx - t * abx, dy - t * aby
    return ex * ex + ey * ey


def _nearest_segments(polylines: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Index ``[n, p]`` of the segment of each polyline ``[n, k, 2]`` nearest to each pixel (``px``, ``py``: ``[p]``)."""
    a, b = polylines[:, None, :-1], polylines[:, None, 1:]  # [n, 1, k-1, 2]
    px, py = px[:, None], py[:, None]  # [p, 1]
    step = max(1, CHUNK // (a.shape[2] * px.shape[0]))
    return torch.cat([_squared_distance(px, py, a[i : i + step], b[i : i + step]).argmin(dim=-1) for i in range(0, len(a), step)])


@torch.autocast("cuda", enabled=False)
@torch.autocast("cpu", enabled=False)
def rasterize(strokes: Strokes, width: int, height: int) -> torch.Tensor:
    """The strokes painted over the background: ``[1, 3, height, width]``, differentiable in every tensor.

    Always in float32 (bf16 puts white a few thousandths above 1, where kornia's colour jitter makes NaN);
    within [0, 1] up to float rounding, which the painter clamps away.
    """
    device = strokes.points.device
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    px, py = xs.flatten(), ys.flatten()  # [p]
    polylines = bezier(strokes.points.float())  # [n, k, 2]
    with torch.no_grad():
        nearest = _nearest_segments(polylines, px, py)[..., None].expand(-1, -1, 2)  # [n, p, 2]
    a = torch.gather(polylines[:, :-1], 1, nearest)
    b = torch.gather(polylines[:, 1:], 1, nearest)
    distance = _squared_distance(px, py, a, b).add(1e-12).sqrt()  # [n, p]
    inside = (strokes.widths.float()[:, None] / 2 - distance) / EDGE
    coverage = torch.where(inside > -FAR, torch.sigmoid(inside), 0.0)
    alpha = coverage * strokes.colours[:, 3, None]  # [n, p]
    # Stroke i shows through every stroke above it: the product of (1 - alpha) over the later strokes.
    through = torch.cat([(1 - alpha).flip(0).cumprod(0).flip(0)[1:], torch.ones_like(alpha[:1])])
    shown = alpha * through  # [n, p]
    picture = shown.T @ strokes.colours[:, :3] + through[0, :, None] * (1 - alpha[0, :, None]) * strokes.background
    return picture.T.reshape(1, 3, height, width)


def svg(strokes: Strokes, width: int, height: int) -> str:
    """The strokes as an SVG document of the same size: one round-capped cubic path per stroke."""

    def colour(rgb: torch.Tensor) -> str:
        r, g, b = (round(float(c) * 255) for c in rgb.clamp(0, 1))
        return f"rgb({r},{g},{b})"

    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="{colour(strokes.background)}"/>',
    ]
    for points, stroke_width, rgba in zip(strokes.points.tolist(), strokes.widths.tolist(), strokes.colours, strict=True):
        (x0, y0), *rest = points
        curve = " ".join(f"{x:.2f} {y:.2f}" for x, y in rest)
        lines.append(
            f'<path d="M {x0:.2f} {y0:.2f} C {curve}" fill="none" stroke="{colour(rgba[:3])}" '
            f'stroke-opacity="{float(rgba[3].clamp(0, 1)):.3f}" stroke-width="{stroke_width:.2f}" '
            'stroke-linecap="round" stroke-linejoin="round"/>'
        )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
