"""Wall time of the command line, start-up included (issue: problems, engine and CLI).

Targets on the 2-core reference machine:
  * `sgdm run --strategy warmup` with defaults (digits, logreg, 300 epochs): < 10 s;
  * `sgdm compare` over the five strategies x 3 seeds with --jobs 2: < 60 s.
The training loop's own overhead per step is measured by benches/bench_engine.py.

Run: python benches/bench_cli.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "sgdm run --strategy warmup": ["run", "--strategy", "warmup"],
    "sgdm compare --jobs 2 (5 strategies x 3 seeds)": ["compare", "--jobs", "2", "--seeds", "3"],
}
TARGETS = {"sgdm run --strategy warmup": 10.0, "sgdm compare --jobs 2 (5 strategies x 3 seeds)": 60.0}


def wall_time(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sgdm_cli", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for name, cmd in COMMANDS.items():
        times = [wall_time(cmd) for _ in range(args.repeats)]
        median = statistics.median(times)
        verdict = "meets" if median < TARGETS[name] else "MISSES"
        print(f"{name:<48} median {median:6.2f} s over {args.repeats} (target < {TARGETS[name]:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
