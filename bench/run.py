"""`make bench`: every benchmark, each printing its ratio against a floor measured in the same run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    bench_agent,
    bench_export,
    bench_fleet,
    bench_import,
    bench_lab,
    bench_playbooks,
    bench_policy,
    bench_process_scan,
    bench_reporting,
)

BENCHMARKS = [bench_process_scan, bench_lab, bench_policy, bench_agent, bench_reporting, bench_fleet, bench_import,
              bench_export, bench_playbooks]


def main() -> int:
    for module in BENCHMARKS:
        print(f"== {module.__name__.split('.')[-1]}")
        for result in module.main():
            print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
