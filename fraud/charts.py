"""Small server-rendered SVG charts for the admin dashboard (no JavaScript, no CDN).

Every label is escaped; the result is safe to mark_safe.
"""

from django.utils.html import escape

PALETTE = ["#417690", "#d9822b", "#5a9e4b", "#b0413e", "#7b5ea7", "#c9a227", "#3c8dbc", "#888"]


def stacked_columns(columns: list[str], series: dict[str, list[int]], *, title: str) -> str:
    """One column per label, stacked by series (e.g. rules per day), with a legend."""
    width, height, left, bottom, top = 640, 240, 36, 40, 24
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(columns))]
    peak = max([*totals, 1])
    step = plot_w / max(len(columns), 1)
    bar = step * 0.7
    parts = [_open(width, height + 18 * ((len(series) + 3) // 4), title)]
    parts.append(_axis(left, top, plot_h, peak))
    for i, label in enumerate(columns):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for n, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / peak
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(name)}: {values[i]}'
                    f"</title></rect>"
                )
        if len(columns) <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for n, name in enumerate(series):
        lx, ly = left + (n % 4) * 150, height + 4 + 18 * (n // 4)
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" '
            f'fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbars(rows: list[tuple[str, float]], *, title: str, unit: str = "", peak=None) -> str:
    """Horizontal bars, one per (label, value)."""
    row_h, left, width = 22, 150, 640
    height = 30 + row_h * max(len(rows), 1)
    peak = peak or max([v for _, v in rows] + [1])
    parts = [_open(width, height, title)]
    if not rows:
        parts.append('<text x="10" y="40" font-size="12" fill="#666">no data yet</text>')
    for i, (label, value) in enumerate(rows):
        y = 24 + i * row_h
        w = (width - left - 80) * value / peak
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{PALETTE[0]}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="11">{value:g}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
        f'<text x="4" y="14" font-size="13" font-weight="bold">{escape(title)}</text>'
    )


def _axis(left: int, top: int, plot_h: int, peak: int) -> str:
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>'
    )
