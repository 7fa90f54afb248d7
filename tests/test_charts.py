"""The /stats charts: real PNGs, 1080 px wide, that draw something (or say there is nothing)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot import charts
from bot.charts import KINDS, chart_png
from bot.telegram.stats import summary
from citizens.figures import duration


def busy_stats(days: int = 30) -> Any:
    first = date(2026, 11, 2)
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return {
        "days": days,
        "drafts_per_day": [
            {
                "date": d,
                "approved": 3 + i % 4,
                "edited": i % 2,
                "rejected": i % 3,
                "redrafted": i % 2,
                "superseded": 1,
                "sent": 2,
            }
            for i, d in enumerate(dates)
        ],
        "response_time_per_day": [
            {"date": d, "median_s": None if i % 5 == 0 else 600.0 + 60 * i, "p90_s": 3000.0}
            for i, d in enumerate(dates)
        ],
        "citizens": [
            {
                "citizen": "emma",
                "approved_as_is": 5,
                "edited": 2,
                "rejected": 1,
                "redrafted": 0,
                "sessions": 9,
                "cost_usd": 4.5,
            },
            {
                "citizen": "rafael",
                "approved_as_is": 40,
                "edited": 12,
                "rejected": 6,
                "redrafted": 3,
                "sessions": 70,
                "cost_usd": 31.25,
            },
        ],
        "cost_per_day": [
            {"date": d, "citizen": c, "cost_usd": 0.4 + (i % 3) / 2}
            for i, d in enumerate(dates)
            for c in ("emma", "rafael")
        ],
        "leads": {"tracked": 40, "go": 15, "no_go": 25, "proposal_drafted": 9, "sent": 4},
    }


def empty_stats(days: int = 7) -> Any:
    stats = busy_stats(days)
    for day in stats["drafts_per_day"]:
        day.update(approved=0, edited=0, rejected=0, redrafted=0, superseded=0, sent=0)
    for day in stats["response_time_per_day"]:
        day.update(median_s=None, p90_s=None)
    stats.update(citizens=[], cost_per_day=[])
    stats["leads"] = dict.fromkeys(stats["leads"], 0)
    return stats


def decoded(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("days", [1, 30, 365])
def test_every_chart_is_a_phone_width_png_with_something_drawn(kind: str, days: int) -> None:
    image = decoded(chart_png(kind, busy_stats(days)))
    assert image.size == (1080, 840)
    colors = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    assert len(colors) > 50  # text and bars, not a blank canvas


@pytest.mark.parametrize("kind", KINDS)
def test_a_chart_with_nothing_to_show_says_so(kind: str) -> None:
    busy, empty = chart_png(kind, busy_stats(7)), chart_png(kind, empty_stats(7))
    assert decoded(empty).size == (1080, 840)
    assert len(empty) < len(busy)


def test_an_unknown_chart_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown chart 'pie'"):
        chart_png("pie", busy_stats())


def test_the_summary_is_short_and_counts_the_period() -> None:
    text = summary(busy_stats(), "Europe/Paris")
    assert text.startswith("📊 <b>The last 30 days</b> (Europe/Paris)")
    assert "Leads: 40 tracked → 15 GO → 9 proposals → 4 sent (25 NO-GO)." in text
    assert "Citizens: 79 sessions, $35.75." in text
    assert len(text) < 1024
    assert [duration(s) for s in (None, 40, 720, 3900)] == ["–", "40 s", "12 min", "1 h 05 min"]
    # Under ten minutes the seconds matter: a p90 of 92.5 s is not "1 min".
    assert [duration(s) for s in (0.4, 59.6, 92.5, 599.4)] == [
        "0 s", "1 min 00 s", "1 min 33 s", "9 min 59 s",
    ]  # fmt: skip
    assert [duration(s) for s in (629.4, 3599, 90_000)] == ["10 min", "1 h 00 min", "1 d 1 h"]


def test_the_summary_counts_one_as_one() -> None:
    numbers = empty_stats(7)
    numbers["leads"] = {"tracked": 1, "go": 1, "no_go": 0, "proposal_drafted": 1, "sent": 1}
    numbers["citizens"] = [
        {
            "citizen": "emma",
            "approved_as_is": 1,
            "edited": 0,
            "rejected": 0,
            "redrafted": 0,
            "sessions": 1,
            "cost_usd": 0.5,
        }
    ]
    numbers["response_time_per_day"][-1] |= {"median_s": 61.0, "p90_s": 92.5}
    text = summary(numbers, "UTC")
    assert "1 GO → 1 proposal → 1 sent" in text
    assert "Citizens: 1 session, $0.50." in text
    assert "median 1 min 01 s, p90 1 min 33 s." in text


DRAWN_ELSEWHERE = """
import asyncio, json, sys
from bot.charts import CHARTS
from tests.test_charts import busy_stats

png = asyncio.run(CHARTS.png("drafts", busy_stats()))
print(json.dumps({"png": png[:8].hex(), "matplotlib_here": "matplotlib" in sys.modules}))
"""


async def test_charts_are_drawn_outside_the_service_process() -> None:
    """matplotlib holds the GIL for long stretches: drawn in a thread of the service, a chart
    held up its event loop (and every request) for up to half a second."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", DRAWN_ELSEWHERE],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"png": b"\x89PNG\r\n\x1a\n".hex(), "matplotlib_here": False}


async def test_a_chart_is_drawn_after_its_worker_was_killed() -> None:
    """A chart worker killed from outside (the OOM killer) broke the pool for good: every
    later chart failed until the service restarted."""
    decoded(await charts.draw("drafts", busy_stats(7)))
    pool = charts._DRAWING
    assert pool is not None
    workers = list(pool._processes.values())
    assert workers
    for worker in workers:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
    for worker in workers:
        await asyncio.to_thread(worker.join, 30)
    assert decoded(await charts.draw("leads", busy_stats(7))).size == (1080, 840)
    assert charts._DRAWING is not pool
    assert decoded(await charts.draw("cost", busy_stats(7))).size == (1080, 840)
