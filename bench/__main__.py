"""`python -m bench [--quick]`: run the benchmark and print the table (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace

from bench.database import DEFAULT_ADMIN_URL
from bench.runner import Options, log, run

FULL = Options(
    admin_url=DEFAULT_ADMIN_URL,
    sizes=(10_000, 100_000, 1_000_000),
    rounds=5,
    seconds=3,
    warmup_seconds=2,
    notifications=200,
)
QUICK = replace(
    FULL, sizes=(10_000, 100_000), rounds=3, seconds=2, warmup_seconds=1, notifications=50
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run of a couple of minutes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCOPELOCK_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="a server where the bench may create (and drop) its own database",
    )
    parser.add_argument("--rounds", type=int, help="alternating rounds per scenario")
    parser.add_argument("--seconds", type=int, help="seconds of load per round")
    parser.add_argument(
        "--sizes", help="event-log sizes, comma-separated (default 10000,100000,1000000)"
    )
    parser.add_argument("--only", help="run only the scenarios whose name contains this text")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record the service with py-spy (bench/results/profile-*.txt); slows it down",
    )
    args = parser.parse_args()
    preset = QUICK if args.quick else FULL
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else preset.sizes
    options = replace(
        preset,
        admin_url=args.postgres_url,
        sizes=tuple(sorted(sizes)),
        rounds=args.rounds or preset.rounds,
        seconds=args.seconds or preset.seconds,
        only=args.only,
        profile=args.profile,
    )
    report = asyncio.run(run(options))
    print()
    print(report.table())
    print()
    print(report.summary())
    print("targets:")
    print(report.targets_text())
    if report.errors:
        log(f"{report.errors} requests failed: see bench/results/service.log")
        sys.exit(1)


if __name__ == "__main__":
    main()
