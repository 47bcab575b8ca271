"""The daily spend chart, drawn on the server as inline SVG: one bar per UTC day, stacked by source.

The geometry is computed here and written out by templates/usage/chart.html. Horizontal positions are
percentages, so the bars fill any width while the labels keep their size (a viewBox would shrink the
text to nothing on a phone); the y axis's labels sit in a narrow SVG of their own beside the plot. Each
segment carries a `<title>` (the browser's tooltip), and the page repeats the figures in a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from usage.console import SOURCE_LABELS, Day, Figures

PLOT_TOP = 8  # room for the top tick's label
PLOT_HEIGHT = 180
LABEL_AREA = 24  # day labels under the bars
HEIGHT = PLOT_TOP + PLOT_HEIGHT + LABEL_AREA
MAX_DAY_LABELS = 6  # on a phone every other one hides (the `minor` ones)
BAR_FILL = 0.7  # of each day's slot; the rest is the gap
WIDEST_BAR = 100 / 14  # percent: two days don't make two slabs


@dataclass(frozen=True)
class Segment:
    source: str
    y: str
    height: str
    title: str


@dataclass(frozen=True)
class Bar:
    x: str  # percent of the plot's width, e.g. "12.5%"
    width: str
    center: str
    label: str  # the day under the bar, or "" where labels would crowd
    minor: bool  # a label a phone leaves out
    segments: list[Segment]


@dataclass(frozen=True)
class Tick:
    y: str  # the grid line's
    label_y: str  # the label's baseline, centred on the line
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    sources: list[tuple[str, str]]  # (source, label) in stacking order, bottom first: the legend
    has_spend: bool
    height: int = HEIGHT
    label_y: int = PLOT_TOP + PLOT_HEIGHT + 17


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def money(value: Decimal) -> str:
    """$1,234.56; amounts under a cent with the digits that matter ($0.0042)."""
    if value == 0:
        return "$0.00"
    if abs(value) < Decimal("0.01"):
        return f"${value.normalize():f}"
    return f"${value:,.2f}"


def nice_step(maximum: Decimal, ticks: int = 4) -> Decimal:
    """A round step (1, 2, 2.5 or 5 × 10ⁿ) so that `ticks` steps reach at least `maximum`."""
    raw = maximum / ticks
    exponent = math.floor(math.log10(raw))
    base = Decimal(10) ** exponent
    for multiple in (1, 2, Decimal("2.5"), 5, 10):
        if base * multiple >= raw:
            return base * multiple
    return base * 10  # unreachable: 10 × base ≥ raw by the choice of exponent


def tick_label(value: Decimal, step: Decimal) -> str:
    """As many decimals as the step needs, and cents whenever it is under a dollar: $0.50, $2.5, $10."""
    places = max(0, -step.normalize().as_tuple().exponent)
    if step < 1:
        places = max(places, 2)
    return f"${value:,.{places}f}"


def daily_chart(days: list[Day], sources: list[str]) -> Chart:
    """Bars for `days`, each stacked bottom-up in the order of `sources`."""
    highest = max((day.figures.cost_usd for day in days), default=Decimal(0))
    step = nice_step(highest) if highest > 0 else Decimal("0.25")
    steps = max(1, math.ceil(highest / step))  # up to 4: the top line is the first above the highest bar
    top = step * steps
    ticks = []
    for n in range(steps + 1):
        y = PLOT_TOP + PLOT_HEIGHT - float(step * n / top) * PLOT_HEIGHT
        ticks.append(Tick(f"{y:.2f}", f"{y + 4:.2f}", tick_label(step * n, step)))
    every = math.ceil(len(days) / MAX_DAY_LABELS)
    slot = 100 / len(days)
    width = min(slot * BAR_FILL, WIDEST_BAR)
    bars = []
    for index, day in enumerate(days):
        segments = []
        stacked = 0.0
        for source in sources:
            figures = day.by_source.get(source)
            if figures is None or (figures.cost_usd <= 0 and not figures.unpriced_calls):
                continue
            height = float(figures.cost_usd / top) * PLOT_HEIGHT
            height = max(height, 1.0)  # a cent on a $1,000 scale still shows
            stacked += height
            segments.append(
                Segment(
                    source,
                    f"{PLOT_TOP + PLOT_HEIGHT - stacked:.2f}",
                    f"{height:.2f}",
                    segment_title(day, SOURCE_LABELS.get(source, source), figures),
                )
            )
        # Label the last day and every `every`-th before it, so today always has its label.
        back = len(days) - 1 - index
        labelled = back % every == 0
        bars.append(
            Bar(
                x=f"{index * slot + (slot - width) / 2:.4f}%",
                width=f"{width:.4f}%",
                center=f"{index * slot + slot / 2:.4f}%",
                label=day_label(day.day) if labelled else "",
                minor=labelled and (back // every) % 2 == 1,
                segments=segments,
            )
        )
    return Chart(
        bars=bars,
        ticks=ticks,
        sources=[(source, SOURCE_LABELS.get(source, source)) for source in sources],
        has_spend=highest > 0,
    )


def segment_title(day: Day, label: str, figures: Figures) -> str:
    calls = f"{figures.calls:,} call{'' if figures.calls == 1 else 's'}"
    text = f"{day.day.day} {day.day:%b %Y} · {label}: {money(figures.cost_usd)}, {calls}"
    if figures.unpriced_calls:
        text += f" ({figures.unpriced_calls} unpriced)"
    return f"{text}. Day total {money(day.figures.cost_usd)}."
