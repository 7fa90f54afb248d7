"""The /stats charts as PNG bytes, drawn to be read at a glance on a phone.

`chart_png(kind, stats)` takes the numbers of `storage.repo.stats.compute` (the body of
GET /api/stats) and answers one PNG, 1080 px wide. It uses matplotlib's object API on the Agg
canvas (no pyplot, no display); it takes a lock around matplotlib's global style settings, so
it may be called from any thread: through `asyncio.to_thread`, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, cast

from bot.telegram.render import plural
from storage.repo.stats import Stats
from web.config import Charts

if TYPE_CHECKING:
    from matplotlib.axes import Axes

KINDS = ("drafts", "response_time", "citizens", "cost", "leads")
WIDTH_IN, HEIGHT_IN, DPI = 5.4, 4.2, 200  # 1080 x 840 px
MAX_DATE_LABELS = 7
WEEKLY_AFTER_DAYS = 62
INK, MUTED, GRID = "#1f2328", "#656d76", "#d8dee4"
OUTCOME_COLORS = {
    "approved as is": "#2da44e",
    "edited": "#54aeff",
    "rejected": "#cf222e",
    "redrafted": "#bf8700",
    "superseded": "#8c959f",
}
CITIZEN_COLORS = ("#0969da", "#8250df", "#1a7f37", "#bc4c00", "#bf3989", "#57606a")
_RENDERING = threading.Lock()
STYLE = {
    "font.size": 10,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
}


def chart_png(kind: str, stats: Stats) -> bytes:
    """One chart of `stats` as PNG bytes; `kind` is one of KINDS (ValueError otherwise)."""
    draw = _DRAWERS.get(kind)
    if draw is None:
        raise ValueError(f"unknown chart {kind!r}; one of {', '.join(KINDS)}")
    # Imported on the first chart, not with the service: matplotlib costs ~50 MB of memory.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # rc_context changes matplotlib's global settings for the block: one chart at a time.
    with _RENDERING, matplotlib.rc_context(cast(Any, STYLE)):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        _frame(axes)
        draw(axes, stats)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


_DRAWING: ProcessPoolExecutor | None = None


async def draw(kind: str, stats: Stats) -> bytes:
    """`chart_png` in a process of its own: matplotlib holds the GIL for long stretches (its
    import alone for half a second), so in a thread of the service it would hold up the
    event loop all the same. A pool whose worker died (the OOM killer) takes no more work:
    it is replaced, and the chart drawn once more in the new one."""
    pool = _pool()
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, chart_png, kind, stats)
    except BrokenProcessPool:
        _forget(pool)
        return await loop.run_in_executor(_pool(), chart_png, kind, stats)


def _pool() -> ProcessPoolExecutor:
    global _DRAWING
    if _DRAWING is None:
        # spawn: a fork would copy the service's threads and open connections.
        _DRAWING = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
    return _DRAWING


def _forget(broken: ProcessPoolExecutor) -> None:
    """Drop a broken pool, once: charts that failed with it together share its successor."""
    global _DRAWING
    if _DRAWING is broken:
        _DRAWING = None
        broken.shutdown(wait=False, cancel_futures=True)


CHARTS = Charts(kinds=KINDS, png=draw)
"""The charts as web/ is given them (the Mini App serves them too)."""


def _frame(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.spines[["left", "bottom"]].set_color(MUTED)
    axes.tick_params(colors=INK, length=3)
    axes.set_axisbelow(True)


def _title(axes: Axes, title: str, subtitle: str) -> None:
    axes.set_title(f"{title}\n", loc="left", color=INK, pad=4)
    axes.text(0, 1.02, subtitle, transform=axes.transAxes, color=MUTED, fontsize=9, va="bottom")


def _empty(axes: Axes, what: str) -> None:
    axes.text(0.5, 0.5, what, transform=axes.transAxes, ha="center", va="center", color=MUTED)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.spines[["left", "bottom"]].set_visible(False)


def _period(stats: Stats) -> str:
    return "today" if stats["days"] == 1 else f"the last {stats['days']} days"


def _day_axis(axes: Axes, dates: Sequence[str], label: str = "Day") -> None:
    """Days along x: a few short labels ("3 Nov"), never crowded."""
    step = max(1, -(-len(dates) // MAX_DATE_LABELS))
    ticks = list(range(len(dates) - 1, -1, -step))[::-1]
    axes.set_xticks(ticks, [_short_date(dates[i]) for i in ticks])
    axes.set_xlim(-0.6, len(dates) - 0.4)
    axes.set_xlabel(label)


def _short_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%b}"


def _whole_numbers(axes: Axes, axis: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator

    locator = MaxNLocator(integer=True, steps=[1, 2, 5, 10])
    (axes.yaxis if axis == "y" else axes.xaxis).set_major_locator(locator)
    axes.grid(axis="y", color=GRID, linewidth=0.8)


def _legend(axes: Axes, columns: int) -> None:
    axes.legend(
        loc="upper left",
        bbox_to_anchor=(0, -0.17),
        ncols=columns,
        frameon=False,
        handlelength=1.0,
        columnspacing=1.0,
    )


def _per(stats: Stats) -> str:
    return "week" if stats["days"] > WEEKLY_AFTER_DAYS else "day"


def _stacked_bars(
    axes: Axes, dates: Sequence[str], series: dict[str, tuple[list[float], str]]
) -> None:
    """Stacked bars per day; past WEEKLY_AFTER_DAYS days, per week (the last ends today)."""
    weekly = len(dates) > WEEKLY_AFTER_DAYS
    if weekly:
        starts = list(range(len(dates) % 7 - 7 if len(dates) % 7 else 0, len(dates), 7))
        dates = [dates[max(i, 0)] for i in starts]
        series = {
            label: ([sum(values[max(i, 0) : i + 7]) for i in starts], color)
            for label, (values, color) in series.items()
        }
    bottom = [0.0] * len(dates)
    for label, (values, color) in series.items():
        if any(values):
            axes.bar(range(len(dates)), values, 0.75, bottom=bottom, label=label, color=color)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _day_axis(axes, dates, "Week starting" if weekly else "Day")


def _drafts(axes: Axes, stats: Stats) -> None:
    days = stats["drafts_per_day"]
    counts: dict[str, list[float]] = {
        "approved as is": [d["approved"] - d["edited"] for d in days],
        "edited": [d["edited"] for d in days],
        "rejected": [d["rejected"] for d in days],
        "redrafted": [d["redrafted"] for d in days],
        "superseded": [d["superseded"] for d in days],
    }
    total = int(sum(sum(values) for values in counts.values()))
    per = _per(stats)
    _title(axes, f"Drafts decided per {per}", f"By outcome, {_period(stats)} · {total} in all")
    if total == 0:
        _empty(axes, "No drafts were decided in this period.")
        return
    series = {label: (values, OUTCOME_COLORS[label]) for label, values in counts.items()}
    _stacked_bars(axes, [d["date"] for d in days], series)
    axes.set_ylabel(f"Drafts per {per}")
    _whole_numbers(axes)
    _legend(axes, 3)


def _response_time(axes: Axes, stats: Stats) -> None:
    days = stats["response_time_per_day"]
    known = [d for d in days if d["median_s"] is not None]
    _title(
        axes,
        "Time to approve a reply",
        f"From the client's message to your approval, {_period(stats)}",
    )
    if not known:
        _empty(axes, "No reply was approved in this period.")
        return
    longest = max(max(d["p90_s"] or 0, d["median_s"] or 0) for d in known)
    unit, scale = ("hours", 3600.0) if longest >= 3 * 3600 else ("minutes", 60.0)
    x = range(len(days))
    for key, label, color, style in (
        ("p90_s", "slowest 10% (p90)", "#bc4c00", "--"),
        ("median_s", "median", "#0969da", "-"),
    ):
        values = [None if d[key] is None else d[key] / scale for d in days]  # type: ignore[literal-required]  # key is one of two literals
        axes.plot(
            x,
            [float("nan") if v is None else v for v in values],
            style,
            color=color,
            marker="o",
            markersize=4,
            linewidth=2,
            label=label,
        )
    _day_axis(axes, [d["date"] for d in days])
    axes.set_ylabel(f"Response time ({unit})")
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    _legend(axes, 2)


def _citizens(axes: Axes, stats: Stats) -> None:
    parts = ("approved as is", "edited", "rejected", "redrafted")
    keys = ("approved_as_is", "edited", "rejected", "redrafted")
    rows = [c for c in stats["citizens"] if sum(c[k] for k in keys) > 0]  # type: ignore[literal-required]
    _title(
        axes, "What happens to each citizen's drafts", f"Share of decided drafts, {_period(stats)}"
    )
    if not rows:
        _empty(axes, "No drafts were decided in this period.")
        return
    rows.reverse()  # the first citizen on top
    totals = [sum(r[k] for k in keys) for r in rows]  # type: ignore[literal-required]
    names = [
        f"{r['citizen'].capitalize()}\n{plural(t, 'draft')}"
        for r, t in zip(rows, totals, strict=True)
    ]
    left = [0.0] * len(rows)
    for label, key in zip(parts, keys, strict=True):
        shares = [100 * r[key] / t for r, t in zip(rows, totals, strict=True)]  # type: ignore[literal-required]
        bars = axes.barh(names, shares, 0.6, left=left, label=label, color=OUTCOME_COLORS[label])
        for bar, share in zip(bars, shares, strict=True):
            if share >= 9:
                axes.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_y() + bar.get_height() / 2,
                    f"{share:.0f}%",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.set_xlim(0, 100)
    axes.set_xlabel("Share of decided drafts (%)")
    axes.tick_params(axis="y", length=0, labelsize=10)
    _legend(axes, 4)


def _cost(axes: Axes, stats: Stats) -> None:
    dates = [d["date"] for d in stats["drafts_per_day"]]
    index = {day: i for i, day in enumerate(dates)}
    by_citizen: dict[str, list[float]] = {}
    for entry in stats["cost_per_day"]:
        by_citizen.setdefault(entry["citizen"], [0.0] * len(dates))
        by_citizen[entry["citizen"]][index[entry["date"]]] += entry["cost_usd"]
    total = sum(sum(v) for v in by_citizen.values())
    per = _per(stats)
    subtitle = f"In USD, {_period(stats)} · ${total:,.2f} in all"
    _title(axes, f"What the citizens cost per {per}", subtitle)
    if not by_citizen:
        _empty(axes, "No citizen session ran in this period.")
        return
    series = {
        name.capitalize(): (values, CITIZEN_COLORS[n % len(CITIZEN_COLORS)])
        for n, (name, values) in enumerate(sorted(by_citizen.items()))
    }
    _stacked_bars(axes, dates, series)
    axes.set_ylabel(f"USD per {per}")
    axes.yaxis.set_major_formatter("${x:,.2f}")
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    _legend(axes, 4)


def _leads(axes: Axes, stats: Stats) -> None:
    leads = stats["leads"]
    _title(
        axes,
        "Lead funnel",
        f"Leads tracked in {_period(stats)}, % of those · {leads['no_go']} NO-GO",
    )
    if leads["tracked"] == 0:
        _empty(axes, "No lead was tracked in this period.")
        return
    steps = [
        ("Tracked", leads["tracked"], "#8c959f"),
        ("GO", leads["go"], "#54aeff"),
        ("Proposal drafted", leads["proposal_drafted"], "#0969da"),
        ("Sent", leads["sent"], "#1a7f37"),
    ]
    names = [s[0] for s in steps][::-1]
    values = [s[1] for s in steps][::-1]
    axes.barh(names, values, 0.6, color=[s[2] for s in steps][::-1])
    top = max(values)
    for y, value in enumerate(values):
        share = f"  ({100 * value / leads['tracked']:.0f}%)" if y < len(values) - 1 else ""
        axes.text(value + top * 0.02, y, f"{value}{share}", va="center", color=INK, fontsize=10)
    axes.set_xlim(0, top * 1.3)
    axes.set_xlabel("Leads")
    _whole_numbers(axes, "x")
    axes.tick_params(axis="y", length=0, labelsize=10)
    axes.grid(axis="x", color=GRID, linewidth=0.8)


_DRAWERS: dict[str, Callable[[Axes, Any], None]] = {
    "drafts": _drafts,
    "response_time": _response_time,
    "citizens": _citizens,
    "cost": _cost,
    "leads": _leads,
}
