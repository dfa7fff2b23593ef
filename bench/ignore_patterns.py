"""How long one ignore pattern takes to match one file name.

    python bench/ignore_patterns.py [--runs 5] [--length 30]

Matches ``*a*a*a*a*a*a*a*a*a*a*a*a*b`` against a name of N a's with pathspec's
Python ``re`` backend (what snapshots used before) and with the RE2 backend
the portal uses now (runs/ignore_rules.py), and prints the median of several
runs. Prints, asserts nothing.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pathspec  # noqa: E402

from runs import ignore_rules  # noqa: E402

PATTERN = "*a*a*a*a*a*a*a*a*a*a*a*a*b"


def median_seconds(spec, name: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        spec.match_file(name)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--length", type=int, default=30)
    args = parser.parse_args()
    name = "a" * args.length
    before = pathspec.GitIgnoreSpec.from_lines([PATTERN], backend="simple")
    after = ignore_rules.parse(PATTERN)
    print(f"pattern {PATTERN!r} against {args.length} a's, median of {args.runs} runs")
    print(f"  before (pathspec, Python re): {median_seconds(before, name, args.runs) * 1000:10.3f} ms")
    print(f"  after  (pathspec, RE2):       {median_seconds(after, name, args.runs) * 1000:10.3f} ms")


if __name__ == "__main__":
    main()
