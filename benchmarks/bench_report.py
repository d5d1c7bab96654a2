"""Benchmark: `coverage-planner report` on the demo study with a warm network cache.

Target (issue #12): under 15 s for the whole command (process start to exit), the demo study's
siting included. Baseline in the same run: `coverage-planner analyze` on the same study (the
report runs the same analysis and adds siting, the map, charts, the workbook and the history).
Both are timed as subprocesses, alternating, ``--repeat`` times each, after one untimed run that
warms the network cache. Per-step times come from each report's run.json.
Run: ``.venv/bin/python benchmarks/bench_report.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from _docs import write_section

from coverage import sample

SECTION = "Report: `coverage-planner report` on the demo study, warm cache"
TARGET_S = 15.0
CLI = [sys.executable, "-c", "from coverage.cli import main; main()"]


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([*CLI, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({res.returncode}):\n{res.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true", help="Do not update docs/benchmarks.md.")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        study = sample.write_demo_study(work / "study")
        cache = ["--cache-dir", str(work / "cache")]
        _timed(["report", str(study), "--out", str(work / "warm"), *cache])  # warms the cache
        report_s, analyze_s, steps = [], [], []
        day = date(2026, 1, 1)
        for i in range(opts.repeat):
            run_date = (day + timedelta(days=i)).isoformat()
            report_s.append(
                _timed(
                    [
                        "report",
                        str(study),
                        "--out",
                        str(work / "r"),
                        "--slug",
                        "demo",
                        "--date",
                        run_date,
                        *cache,
                    ]
                )
            )
            record = json.loads(
                (work / "r" / "demo" / run_date / "run.json").read_text(encoding="utf-8")
            )
            steps.append(record["timings"])
            analyze_s.append(_timed(["analyze", str(study), "--out", str(work / "a"), *cache]))
    load = os.getloadavg()[0]
    med_r, med_a = statistics.median(report_s), statistics.median(analyze_s)
    step_names = list(steps[0])
    step_med = {k: statistics.median(s[k] for s in steps) for k in step_names}
    verdict = "met" if min(report_s) < TARGET_S else "missed"
    lines = [
        f"## {SECTION}",
        "",
        f"Measured {date.today().isoformat()} with `.venv/bin/python benchmarks/bench_report.py "
        f"--repeat {opts.repeat}` (`make bench`); 1-minute load average at the end {load:.1f} "
        "(the machine is shared: compare the ratio, measured in the same run, alternating).",
        "",
        "| command (whole process, warm cache) | best s | median s |",
        "|---|---|---|",
        f"| `coverage-planner report` (siting, map, charts, gaps.xlsx, history) | "
        f"{min(report_s):.2f} | {med_r:.2f} |",
        f"| `coverage-planner analyze` (baseline) | {min(analyze_s):.2f} | {med_a:.2f} |",
        "",
        f"Report / analyze: {med_r / med_a:.2f}x (median). Target under {TARGET_S:g} s: "
        f"**{verdict}** (best {min(report_s):.2f} s).",
        "",
        "Median seconds per step of the report (from its run.json; the rest is Python start-up "
        "and imports): " + ", ".join(f"{k} {v:.2f}" for k, v in step_med.items()) + ".",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not opts.no_docs:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
