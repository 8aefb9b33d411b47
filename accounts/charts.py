"""Small server-rendered SVG charts (no JavaScript, no CDN). Every label goes through
format_html."""

from collections.abc import Callable, Iterable, Mapping
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts import money

# Twelve colours a colour-blind reader can tell apart: Okabe & Ito's eight (black as a grey), then
# four of Paul Tol's "muted" set.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#F0E442",
    "#332288",
    "#999933",
    "#882255",
    "#44AA99",
    "#777777",
]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _n(number: float) -> str:
    return f"{number:.1f}"


def _nice_ceiling(value: int) -> int:
    """A round axis maximum above ``value`` (nano): 1, 2 or 5 × a power of ten yuan."""
    if value <= 0:
        return money.NANO_PER_YUAN
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return factor * step
    return 10 * step


def stacked_by_day(
    days: list[date],
    models: list[str],
    cost: Mapping[tuple[date, str], int],
    *,
    width: int = 760,
    height: int = 240,
) -> str:
    """Spend per day, one stacked bar per day, one colour per model, with a legend."""
    left, bottom, top = 64, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(cost.get((day, model), 0) for model in models) for day in days]
    ceiling = _nice_ceiling(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        y: float = top + plot_h
        for m, model in enumerate(models):
            nano = cost.get((day, model), 0)
            if not nano:
                continue
            h = plot_h * nano / ceiling
            y -= h
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: '
                    "{}</title></rect>",
                    _n(left + i * slot + slot * 0.15),
                    _n(y),
                    _n(slot * 0.7),
                    _n(h),
                    colour(m),
                    day.isoformat(),
                    model,
                    money.yuan(nano),
                )
            )
    ticks = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
        (
            (
                left,
                width - 8,
                _n(top + plot_h * (1 - f)),
                _n(top + plot_h * (1 - f)),
                left - 6,
                _n(top + plot_h * (1 - f) + 4),
                money.axis(int(ceiling * f)),
            )
            for f in (0, 0.5, 1)
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
        (
            (_n(left + i * slot + slot / 2), height - 8, day.strftime("%m-%d"))
            for i, day in enumerate(days)
            if i % max(1, len(days) // 8) == 0
        ),
    )
    legend = format_html_join(
        "",
        '<span class="key"><i style="background:{}"></i>{}</span>',
        ((colour(m), model) for m, model in enumerate(models)),
    )
    svg = format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="Spend per day by model">'
        "{}{}{}</svg>",
        width,
        height,
        ticks,
        mark_safe("".join(bars)),
        labels,
    )
    # Wider than a phone: it scrolls, and opens at its end, where today is.
    return format_html(
        '<figure class="chart-box"><div class="scroll-x" data-scroll-end>{}</div>'
        '<figcaption class="legend">{}</figcaption></figure>',
        svg,
        legend,
    )


def horizontal[T](
    rows: Iterable[T],
    *,
    label: Callable[[T], str],
    value: Callable[[T], int],
    text: Callable[[T], str],
) -> str:
    """One bar per row (already sorted), sized by ``value(row)``, captioned ``text(row)``: HTML, so
    its text stays the page's size however wide the chart is."""
    rows = list(rows)
    if not rows:
        return mark_safe('<p class="muted">Nothing in this period.</p>')
    biggest = max(value(row) for row in rows) or 1
    items = format_html_join(
        "",
        '<li title="{}: {}"><span class="bar" style="width: {}%; background: {}"></span>'
        '<span class="bar-text">{} · {}</span></li>',
        (
            (
                label(row),
                text(row),
                _n(max(0.5, 100 * value(row) / biggest)),
                colour(i),
                label(row),
                text(row),
            )
            for i, row in enumerate(rows)
        ),
    )
    return format_html('<ul class="hbars">{}</ul>', items)
