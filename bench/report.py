"""Results: medians over rounds, the table, and the targets of the issue checked against them."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from bench.load import Run
from bench.workers import MAX_CLAIM_P99_MS, MIN_EFFICIENCY, WorkersResult

MIN_RATIO = 0.65
"""The floor of every scenario: a change must not take one below 65 % of its ceiling."""
MAX_P99_GROWTH = 1.5
MAX_NOTIFY_P50_MS = 20.0
MAX_RSS_MB = 150.0


@dataclass
class Side:
    """One target's runs of one scenario."""

    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(run.rps for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    def as_dict(self) -> dict[str, object]:
        return {
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "errors": self.errors,
            "runs": [asdict(run) for run in self.runs],
        }


@dataclass
class Result:
    label: str
    name: str
    events: int | None
    service: Side = field(default_factory=Side)
    ceiling: Side = field(default_factory=Side)
    target_p99_ms: float | None = None
    """Set for a scenario measured against an absolute target instead of a ceiling."""

    @property
    def ratio(self) -> float:
        """The median over rounds of service / ceiling, each pair measured back to back, so
        load from outside the bench weighs on both sides of every ratio alike."""
        if not self.ceiling.runs:
            return float("nan")
        pairs = zip(self.service.runs, self.ceiling.runs, strict=True)
        return statistics.median(s.rps / c.rps if c.rps else 0.0 for s, c in pairs)


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    notify_p50_ms: float | None = None
    notify_p99_ms: float | None = None
    ceiling_notify_p50_ms: float | None = None
    ceiling_notify_p99_ms: float | None = None
    peak_rss_mb: float | None = None
    unsent_cards: dict[str, int] = field(default_factory=lambda: {"service": 0, "ceiling": 0})
    """Cards a draft round left unsent when its wait for them ran out, by side."""
    workers: list[WorkersResult] = field(default_factory=list)
    """Sessions per minute and claim latency by number of `scopelock worker` processes."""

    @property
    def errors(self) -> int:
        return sum(r.service.errors + r.ceiling.errors for r in self.results)

    def table(self) -> str:
        head = (
            f"| {'scenario':<34} | {'req/s':>7} | {'p50 ms':>6} | {'p99 ms':>6} | {'errors':>6} "
            f"| {'ceiling req/s':>13} | {'ceil p99':>8} | {'ratio':>5} |"
        )
        lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
        for r in self.results:
            s, c = r.service, r.ceiling
            if not c.runs:  # an absolute target, no ceiling
                lines.append(
                    f"| {r.label:<34} | {s.rps:>7.0f} | {s.p50_ms:>6.1f} | {s.p99_ms:>6.1f} "
                    f"| {s.errors:>6} | {'–':>13} | {'–':>8} | {'–':>5} |"
                )
                continue
            lines.append(
                f"| {r.label:<34} | {s.rps:>7.0f} | {s.p50_ms:>6.1f} | {s.p99_ms:>6.1f} "
                f"| {s.errors + c.errors:>6} | {c.rps:>13.0f} | {c.p99_ms:>8.1f} "
                f"| {r.ratio:>4.0%} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        lines = []
        if self.notify_p50_ms is not None:
            lines.append(
                f"draft created → notification received: p50 {self.notify_p50_ms:.1f} ms, "
                f"p99 {self.notify_p99_ms:.1f} ms (ceiling: p50 "
                f"{self.ceiling_notify_p50_ms:.1f} ms, p99 {self.ceiling_notify_p99_ms:.1f} ms)"
            )
        else:
            lines.append("draft created → notification received: not measured")
        if self.peak_rss_mb is not None:
            lines.append(f"service peak RSS: {self.peak_rss_mb:.0f} MB")
        if self.workers:
            lines.append(self.workers_table())
        for side, unsent in self.unsent_cards.items():
            if unsent:
                lines.append(f"{side}: {unsent} cards were still unsent when a round's wait ended")
        return "\n".join(lines)

    def workers_table(self) -> str:
        lines = [
            "| workers | sessions | sessions/min | of linear | claim p50 ms | claim p99 ms |",
            "|---------|----------|--------------|-----------|--------------|--------------|",
        ]
        for w in self.workers:
            lines.append(
                f"| {w.workers:>7} | {w.sessions:>8} | {w.per_minute:>12.0f} "
                f"| {w.efficiency:>8.0%} | {w.claim_p50_ms:>12.1f} | {w.claim_p99_ms:>12.1f} |"
            )
        return "\n".join(lines)

    def targets(self) -> list[tuple[str, bool | None]]:
        """(what, met) for every target of the issue; None where it was not measured."""
        checks: list[tuple[str, bool | None]] = []
        for r in self.results:
            if r.target_p99_ms is not None:
                p99 = r.service.p99_ms
                what = f"{r.label}: p99 {p99:.1f} ms < {r.target_p99_ms:.0f} ms"
                checks.append((what, p99 < r.target_p99_ms))
                continue
            what = f"{r.label}: ratio {r.ratio:.0%} ≥ {MIN_RATIO:.0%}"
            checks.append((what, r.ratio >= MIN_RATIO))
        sizes = sorted({r.events for r in self.results if r.events is not None})
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[-1]
            for name in dict.fromkeys(r.name for r in self.results if r.events is not None):
                p99 = {r.events: r.service.p99_ms for r in self.results if r.name == name}
                growth = p99[large] / p99[small] if p99[small] else float("inf")
                checks.append(
                    (
                        f"{name}: p99 @{large} / p99 @{small} = {growth:.2f} ≤ {MAX_P99_GROWTH}",
                        growth <= MAX_P99_GROWTH,
                    )
                )
        if self.notify_p50_ms is None:
            checks.append(("draft → notification p50 < 20 ms: not measured", None))
        else:
            checks.append(
                (
                    f"draft → notification p50 {self.notify_p50_ms:.1f} ms "
                    f"< {MAX_NOTIFY_P50_MS:.0f} ms",
                    self.notify_p50_ms < MAX_NOTIFY_P50_MS,
                )
            )
        for w in self.workers:
            if w.workers > 1:
                checks.append(
                    (
                        f"{w.workers} workers: {w.efficiency:.0%} of linear "
                        f"≥ {MIN_EFFICIENCY:.0%}",
                        w.efficiency >= MIN_EFFICIENCY,
                    )
                )
            checks.append(
                (
                    f"{w.workers} worker(s): claim p99 {w.claim_p99_ms:.0f} ms "
                    f"< {MAX_CLAIM_P99_MS:.0f} ms",
                    w.claim_p99_ms < MAX_CLAIM_P99_MS,
                )
            )
        if self.peak_rss_mb is not None:
            checks.append(
                (
                    f"peak RSS {self.peak_rss_mb:.0f} MB < {MAX_RSS_MB:.0f} MB",
                    self.peak_rss_mb < MAX_RSS_MB,
                )
            )
        return checks

    def targets_text(self) -> str:
        marks = {True: "met", False: "MISSED", None: "n/a"}
        return "\n".join(f"  [{marks[met]:>6}] {what}" for what, met in self.targets())

    def as_dict(self) -> dict[str, object]:
        return {
            "results": [
                {
                    "label": r.label,
                    "events": r.events,
                    "ratio": r.ratio if r.ceiling.runs else None,
                    "service": r.service.as_dict(),
                    "ceiling": r.ceiling.as_dict() if r.ceiling.runs else None,
                }
                for r in self.results
            ],
            "notify_p50_ms": self.notify_p50_ms,
            "notify_p99_ms": self.notify_p99_ms,
            "ceiling_notify_p50_ms": self.ceiling_notify_p50_ms,
            "ceiling_notify_p99_ms": self.ceiling_notify_p99_ms,
            "peak_rss_mb": self.peak_rss_mb,
            "unsent_cards": self.unsent_cards,
            "workers": [asdict(w) for w in self.workers],
            "targets": [{"what": what, "met": met} for what, met in self.targets()],
        }
