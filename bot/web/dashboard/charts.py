"""Charts drawn on the server as SVG: stacked bars, one per row of a `Series`, a colour
per column, with a legend. No script and no library: the page shows them as they come,
and each chart's numbers are also a table beside it and a CSV file."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from bot.services.stats import Series

# Colours that stay apart for people with the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#999999")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 260, 48, 56, 12


def _nice_top(value: int) -> int:
    """The axis' top: 1, 2 or 5 times a power of ten, at least `value`."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def stacked_bars(series: Series, title: str, labels: dict[str, str] | None = None) -> Markup:
    labels = labels or {}
    rows = series.rows
    top = _nice_top(max([series.row_total(row) for row in rows] + [1]))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(rows))
    bar = max(4.0, slot * 0.7)
    label_every = max(1, -(-len(rows) // 8))  # at most 8 labels under the bars
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24 * _legend_lines(series)}" '
             f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    intervals = min(top, 5)  # whole numbers on the axis: top is 1, 2, 5 or 10, 20, 50...
    for tick in range(intervals + 1):
        value = top * tick // intervals
        y = TOP + plot_h - plot_h * tick / intervals
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{LEFT - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end" class="tick">{value}</text>')
    for index, row in enumerate(rows):
        x = LEFT + slot * index + (slot - bar) / 2
        y = TOP + plot_h
        for number, column in enumerate(series.columns):
            value = series.value(row, column)
            if not value:
                continue
            height = plot_h * value / top
            y -= height
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{height:.1f}" fill="{PALETTE[number % len(PALETTE)]}">'
                         f"<title>{escape(row)} · {escape(labels.get(column, column))}: "
                         f"{value}</title></rect>")
        if index % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" '
                         f'text-anchor="middle" class="tick">{escape(row[-10:])}</text>')
    y = HEIGHT
    x = float(LEFT)
    for number, column in enumerate(series.columns):
        name = labels.get(column, column)
        width = 28 + 7 * len(name)
        if x + width > WIDTH:
            x, y = float(LEFT), y + 24
        parts.append(f'<rect x="{x:.1f}" y="{y - 12}" width="12" height="12" '
                     f'fill="{PALETTE[number % len(PALETTE)]}"/><text x="{x + 16:.1f}" '
                     f'y="{y - 2}" class="legend">{escape(name)}</text>')
        x += width
    if not rows:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                     f'class="empty">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend_lines(series: Series) -> int:
    width = sum(28 + 7 * len(column) for column in series.columns)
    return max(1, -(-width // (WIDTH - LEFT)))
