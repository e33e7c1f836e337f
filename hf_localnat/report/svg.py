"""Inline SVG pieces of the step report: the diverging colour scale, its legend and the per-teacher score panels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

_LOW = (215, 48, 39)    # less natural: red
_HIGH = (33, 102, 172)  # more natural: blue
_MAX_MIX = 0.7          # the strongest shade keeps black text readable


@dataclass(frozen=True)
class DivergingScale:
    """Step score -> background colour: white at `center`, full red at `center - half_range`, full blue above."""

    center: float
    half_range: float

    @classmethod
    def of(cls, values: Sequence[float]) -> DivergingScale:
        """Centre at the median of `values`; half range = the larger distance from it to the 5th/95th percentile."""
        if not len(values):
            return cls(0.0, 1.0)
        array = np.asarray(values, dtype=float)
        center = float(np.median(array))
        low, high = np.quantile(array, [0.05, 0.95])
        return cls(center, max(float(center - low), float(high - center), 1e-6))

    def position(self, value: float) -> float:
        """Where `value` sits on the scale, in [-1, 1]."""
        return float(np.clip((value - self.center) / self.half_range, -1.0, 1.0))

    def color(self, value: float | None) -> str:
        """`#rrggbb` for a score; light grey for a step without a score."""
        if value is None:
            return "#e6e6e6"
        t = self.position(value)
        end = _HIGH if t > 0 else _LOW
        mix = abs(t) * _MAX_MIX
        return "#" + "".join(f"{round(255 + (c - 255) * mix):02x}" for c in end)

    def legend(self, width: int = 360) -> str:
        """An SVG gradient bar labelled with the scores at its ends and centre."""
        stops = "".join(f'<stop offset="{i / 10:.1f}" stop-color="{self.color(self.center + (i / 5 - 1) * self.half_range)}"/>'
                        for i in range(11))
        lo, hi = self.center - self.half_range, self.center + self.half_range
        return (f'<svg class="legend" width="{width + 80}" height="60" role="img" aria-label="step score colour scale">'
                f'<defs><linearGradient id="scale">{stops}</linearGradient></defs>'
                f'<rect x="40" y="4" width="{width}" height="16" fill="url(#scale)" stroke="#999"/>'
                f'<text x="40" y="36" text-anchor="middle">{lo:.2f}</text>'
                f'<text x="{40 + width / 2}" y="36" text-anchor="middle">{self.center:.2f} (median)</text>'
                f'<text x="{40 + width}" y="36" text-anchor="middle">{hi:.2f}</text>'
                f'<text x="40" y="54" font-size="11" text-anchor="start">← less natural</text>'
                f'<text x="{40 + width}" y="54" font-size="11" text-anchor="end">more natural →</text></svg>')


@dataclass(frozen=True)
class TeacherPanelRow:
    """One teacher's line of a score panel."""

    teacher: str
    values: list[float]          # the (possibly sampled) response scores drawn as dots
    mean: float | None           # the ranking's mean, drawn with its interval
    ci: tuple[float, float] | None


def score_panel(title: str, rows: Sequence[TeacherPanelRow], *, width: int = 760) -> str:
    """One SVG: per teacher, every response's score as a dot, the box of the middle half, and the ranking's mean
    with its interval (black bar)."""
    label_w, pad, row_h = 170, 30, 34
    values = [v for r in rows for v in r.values] + [x for r in rows if r.ci for x in r.ci]
    lo, hi = (min(values), max(values)) if values else (-1.0, 0.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    plot_w = width - label_w - 2 * pad

    def x(v: float) -> float:
        return label_w + pad + (v - lo) / (hi - lo) * plot_w

    height = 40 + row_h * len(rows) + 30
    parts = [f'<svg class="panel" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{label_w + pad}" y="18" font-weight="bold">{escape(title)}</text>']
    for i in range(6):  # axis ticks
        v = lo + (hi - lo) * i / 5
        parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="28" y2="{height - 26}" stroke="#eee"/>'
                     f'<text x="{x(v):.1f}" y="{height - 10}" text-anchor="middle" font-size="11">{v:.2f}</text>')
    for n, row in enumerate(rows):
        y = 40 + row_h * n + row_h / 2
        parts.append(f'<text x="{label_w}" y="{y + 4:.1f}" text-anchor="end">{escape(row.teacher)}</text>')
        if row.values:
            q1, q3 = np.quantile(row.values, [0.25, 0.75])
            parts.append(f'<rect x="{x(q1):.1f}" y="{y - 9:.1f}" width="{max(x(q3) - x(q1), 1):.1f}" height="18" '
                         f'fill="#dde6f3" stroke="#8aa"/>')
            for j, v in enumerate(row.values):
                jitter = ((j * 7919) % 13 - 6) * 1.1
                parts.append(f'<circle cx="{x(v):.1f}" cy="{y + jitter:.1f}" r="2.4" fill="#4a6fa5" '
                             f'fill-opacity="0.55"><title>{v:.4f}</title></circle>')
        if row.mean is not None and row.ci is not None:
            parts.append(f'<line x1="{x(row.ci[0]):.1f}" x2="{x(row.ci[1]):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="#000" stroke-width="3"><title>{escape(row.teacher)}: mean {row.mean:.4f}, '
                         f'interval [{row.ci[0]:.4f}, {row.ci[1]:.4f}]</title></line>'
                         f'<circle cx="{x(row.mean):.1f}" cy="{y:.1f}" r="5" fill="#000"/>')
    parts.append("</svg>")
    return "".join(parts)


def p_order_plot(curves: dict[str, tuple[dict[int, float], dict[int, float]]], *, stable_share: float = 0.8,
                 width: int = 520, height: int = 260) -> str:
    """One SVG of `p_order(n)` per score on a log axis of questions `n`: measured sizes solid, projected sizes
    dashed (joined to the last measured point), the `stable_share` line dotted (SPEC §13).

    Args:
        curves (`dict[str, tuple[dict[int, float], dict[int, float]]]`): per score, its measured and its projected
            `{n: p_order(n)}`.
    """
    pad_l, pad_r, pad_t, pad_b = 48, 110, 24, 40
    sizes = sorted({n for measured, projected in curves.values() for n in (*measured, *projected)})
    if not sizes:
        return ""
    lo, hi = np.log10(sizes[0]), np.log10(sizes[-1])
    span = hi - lo or 1.0
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(n: int) -> float:
        return pad_l + (np.log10(n) - lo) / span * plot_w

    def y(p: float) -> float:
        return pad_t + (1 - p) * plot_h

    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    parts = [f'<svg class="p-order" width="{width}" height="{height}" role="img" aria-label="p_order(n) per score">',
             f'<text x="{pad_l}" y="14" font-weight="bold">p_order(n): stable_n is the first n at or above '
             f'{stable_share:g}</text>']
    for p in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#eee"/>'
                     f'<text x="{pad_l - 6}" y="{y(p) + 4:.1f}" text-anchor="end" font-size="11">{p:.2f}</text>')
    for n in sizes:
        parts.append(f'<text x="{x(n):.1f}" y="{pad_t + plot_h + 16}" text-anchor="middle" font-size="11">{n}</text>')
    parts.append(f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{y(stable_share):.1f}" y2="{y(stable_share):.1f}" '
                 'stroke="#888" stroke-dasharray="2,3"/>'
                 f'<text x="{pad_l + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="11">questions n '
                 '(dashed: projected from the questions scored)</text>')
    for k, (score, (measured, projected)) in enumerate(curves.items()):
        color = palette[k % len(palette)]
        solid = sorted(measured.items())
        dashed = solid[-1:] + sorted(projected.items())
        for points, dash in ((solid, ""), (dashed if projected else [], ' stroke-dasharray="5,4"')):
            if len(points) > 1:
                path = " ".join(f"{x(n):.1f},{y(p):.1f}" for n, p in points)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for n, p in [*solid, *sorted(projected.items())]:
            parts.append(f'<circle cx="{x(n):.1f}" cy="{y(p):.1f}" r="3" fill="{color}">'
                         f'<title>{escape(score.upper())} p_order({n}) = {p:.2f}</title></circle>')
        parts.append(f'<text x="{pad_l + plot_w + 10}" y="{pad_t + 14 + 16 * k}" fill="{color}" font-size="12">'
                     f'{escape(score.upper())}</text>')
    parts.append("</svg>")
    return "".join(parts)
