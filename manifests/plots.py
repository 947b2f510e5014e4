"""Small inline-SVG charts for the HTML report (pure: numbers in, markup out).

Hand-written SVG keeps the report one self-contained file with no plotting
dependency and no network: histograms as step lines, stacked bars for shares
over the stream, horizontal bars for the funnel. Every chart carries a legend
and axis labels, and every mark a <title> so a browser shows its value.
"""
from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 260, 60, 150, 28, 40


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _frame(title: str, body: list[str], height: int = HEIGHT, x_label: str = "", y_label: str = "") -> str:
    plot_h = height - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{LEFT}" y="16" class="title">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" class="axis"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" class="axis"/>',
             *body]
    if x_label:
        parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{height - 6}" class="label" '
                     f'text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{TOP + plot_h / 2}" class="label" text-anchor="middle" '
                     f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(y_label)}</text>')
    return "\n".join(parts + ["</svg>"])


def _legend(names: Sequence[str]) -> list[str]:
    x = WIDTH - RIGHT + 12
    out = []
    for i, name in enumerate(names):
        y = TOP + 4 + 16 * i
        out += [f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color(i)}"/>',
                f'<text x="{x + 14}" y="{y + 9}" class="legend">{escape(str(name))}</text>']
    return out


def step_histogram(title: str, edges: Sequence[float], series: Mapping[str, Sequence[float]], x_label: str,
                   y_label: str = "share of documents") -> str:
    """One step line per series over bins [edges[i], edges[i+1]); counts shown as shares
    of each series' total so sources of any size compare. Bins are equal-width on screen
    (log-spaced edges give a log axis)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bins = len(edges) - 1
    shares = {name: [c / (sum(counts) or 1) for c in counts] for name, counts in series.items()}
    top = max([max(s, default=0) for s in shares.values()] + [1e-9])
    bw = plot_w / bins
    body = []
    for i, (name, values) in enumerate(shares.items()):
        points = []
        for b, v in enumerate(values):
            y = TOP + plot_h - v / top * plot_h
            points += [f"{LEFT + b * bw:.1f},{y:.1f}", f"{LEFT + (b + 1) * bw:.1f},{y:.1f}"]
        body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color(i)}" stroke-width="2">'
                    f'<title>{escape(name)}: {int(sum(series[name])):,} documents</title></polyline>')
    for b in range(0, bins + 1, max(1, bins // 8)):
        body.append(f'<text x="{LEFT + b * bw:.1f}" y="{TOP + plot_h + 14}" class="tick" '
                    f'text-anchor="middle">{_short(edges[b])}</text>')
    body.append(f'<text x="{LEFT - 4}" y="{TOP + 8}" class="tick" text-anchor="end">{top:.0%}</text>')
    return _frame(title, body + _legend(list(series)), x_label=x_label, y_label=y_label)


def stacked_shares(title: str, columns: Sequence[Mapping[str, float]], categories: Sequence[str],
                   x_label: str, height: int = HEIGHT) -> str:
    """One bar per column, split into each category's share of the column's total."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    bw = plot_w / max(len(columns), 1)
    body = []
    for c, column in enumerate(columns):
        total = sum(column.values()) or 1
        y = TOP + plot_h
        for i, cat in enumerate(categories):
            h = column.get(cat, 0) / total * plot_h
            if h > 0:
                y -= h
                body.append(f'<rect x="{LEFT + c * bw:.1f}" y="{y:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                            f'height="{h:.1f}" fill="{color(i)}"><title>{escape(str(cat))}: '
                            f'{column.get(cat, 0) / total:.1%}</title></rect>')
    for tick in (0, 0.25, 0.5, 0.75, 1):
        body.append(f'<text x="{LEFT + tick * plot_w:.1f}" y="{TOP + plot_h + 14}" class="tick" '
                    f'text-anchor="middle">{tick:.0%}</text>')
    body.append(f'<text x="{LEFT - 4}" y="{TOP + 8}" class="tick" text-anchor="end">100%</text>')
    return _frame(title, body + _legend(categories), height=height, x_label=x_label, y_label="share of tokens")


def grouped_bars(title: str, categories: Sequence[str], series: Mapping[str, Mapping[str, float]], x_label: str,
                 y_label: str = "share of tokens") -> str:
    """One group of bars per category, a bar per series in it: each series' values as
    shares of its own total, so streams of any size compare."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    shares = {name: {c: v.get(c, 0) / (sum(v.values()) or 1) for c in categories} for name, v in series.items()}
    top = max([max(s.values(), default=0) for s in shares.values()] + [1e-9])
    gw = plot_w / max(len(categories), 1)
    bw = (gw - 6) / max(len(series), 1)
    body = []
    for g, cat in enumerate(categories):
        for i, (name, values) in enumerate(shares.items()):
            h = values[cat] / top * plot_h
            body.append(f'<rect x="{LEFT + g * gw + 3 + i * bw:.1f}" y="{TOP + plot_h - h:.1f}" '
                        f'width="{max(bw - 1, 0.5):.1f}" height="{max(h, 0.5):.1f}" fill="{color(i)}">'
                        f'<title>{escape(name)}, {escape(cat)}: {values[cat]:.1%}</title></rect>')
        body.append(f'<text x="{LEFT + (g + 0.5) * gw:.1f}" y="{TOP + plot_h + 14}" class="tick" '
                    f'text-anchor="middle">{escape(cat)}</text>')
    body.append(f'<text x="{LEFT - 4}" y="{TOP + 8}" class="tick" text-anchor="end">{top:.0%}</text>')
    return _frame(title, body + _legend(list(series)), x_label=x_label, y_label=y_label)


def horizontal_bars(title: str, rows: Sequence[tuple[str, float, int]], unit: str = "documents") -> str:
    """(label, value, colour index) rows, longest bar the largest value."""
    height = TOP + 8 + 18 * len(rows)
    top = max([v for _, v, _ in rows] + [1])
    plot_w = WIDTH - 260 - 80
    body = []
    for r, (label, value, c) in enumerate(rows):
        y = TOP + 18 * r
        w = value / top * plot_w
        body += [f'<text x="256" y="{y + 12}" class="tick" text-anchor="end">{escape(label)}</text>',
                 f'<rect x="260" y="{y + 2}" width="{max(w, 0.5):.1f}" height="13" fill="{color(c)}">'
                 f'<title>{escape(label)}: {value:,.0f} {unit}</title></rect>',
                 f'<text x="{264 + w:.1f}" y="{y + 12}" class="tick">{value:,.0f}</text>']
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
            f'<text x="8" y="16" class="title">{escape(title)}</text>' + "\n".join(body) + "</svg>")


def _short(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"
