#!/usr/bin/env python3
"""The abuse attacks of issue 7 as a table: the server's memory and a normal client's latency
during each attack.

  python3 bench/abuse_table.py [--postern build/postern] [--only SUBSTRING ...]

Runs every attack of tests/integration/abuse_attacks.py (the code test_abuse.py asserts with)
at the sizes the issue names, each against its own `postern serve` on 127.0.0.1, and prints a
Markdown table: the server's RSS and PSS before the attack and at their peak during it (from
/proc/PID/smaps_rollup sampled every 50 ms, and the kernel's VmHWM), the median and the longest
of the normal client's sessions (poplib from 127.0.0.1: login, STAT, RETR 1, QUIT) during the
attack, and what the attack saw. A row whose checks failed says FAILED and why; the exit status
is then 1. Run as root for the tmpfs attacks (a full disk, the 2 GB message in memory); they
are skipped, or the 2 GB message goes to disk, otherwise. About 2 minutes on 2 cores.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "..", "tests", "integration")


def mib(n):
    return f"{n / (1024 * 1024):.1f}"


def row(result):
    if result.skipped:
        return f"| {result.name} | – | – | – | – | skipped: {result.skipped} |"
    memory = f"{mib(result.baseline_rss)} → {mib(result.peak_rss)} (+{mib(result.growth)})"
    pss = f"{mib(result.baseline_pss)} → {mib(result.peak_pss)}"
    outcome = result.outcome
    if result.failures:
        outcome = "FAILED: " + " / ".join(f.splitlines()[0] for f in result.failures)
    return (f"| {result.name} | {memory} | {pss} | {result.latency_summary()} | "
            f"{result.seconds:.0f} s | {outcome.replace('|', '/')} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"),
                        help="the binary to attack (default: build/postern)")
    parser.add_argument("--only", nargs="*", default=[],
                        help="run only attacks whose name contains one of these")
    args = parser.parse_args()
    os.environ["POSTERN_BIN"] = os.path.abspath(args.postern)
    if not os.access(os.environ["POSTERN_BIN"], os.X_OK):
        sys.exit(f"abuse_table: {os.environ['POSTERN_BIN']} is not an executable "
                 "(build it with scripts/build, or give --postern)")
    sys.path.insert(0, INTEGRATION)
    import abuse_attacks  # noqa: E402 - needs the path above

    attacks = [a for a in abuse_attacks.all_attacks()
               if not args.only or any(s.lower() in a.name.lower() for s in args.only)]
    print("| attack | server RSS MiB: before → peak (growth) | PSS MiB: before → peak | "
          "normal client: median / max (sessions) | time | outcome |")
    print("|---|---|---|---|---|---|")
    failed = False
    for attack in attacks:
        print(f"running: {attack.name}", file=sys.stderr, flush=True)
        result = abuse_attacks.run_attack(attack)
        failed |= bool(result.failures)
        print(row(result), flush=True)
        for failure in result.failures:
            print(f"  {attack.name}: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
