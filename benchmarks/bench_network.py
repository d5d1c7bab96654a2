"""Benchmark the walk-network cache: a cold `load_network` (build + write) against a cached one.

Run from the project root::

    .venv/bin/python benchmarks/bench_network.py

It times, on the largest shared extract (brazil-porto-alegre.osm.pbf), the first
`load_network` into an empty temporary cache folder and the second one (served from the
cache), repeats both a few times, prints a markdown table and rewrites the "Network cache"
section of docs/benchmarks.md with the figures measured. Target: cached >= 5x faster.
As a reference point it also times pyrosm reading the same file into a network.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _docs import write_section

from coverage.config import NetworkSource
from coverage.network import load_network, network_summary

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "osm" / "brazil-porto-alegre.osm.pbf"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Network cache"
COMMAND = ".venv/bin/python benchmarks/bench_network.py"
TARGET = 5.0


def _time_loads(path: Path, repeats: int) -> tuple[list[float], list[float], dict[str, float]]:
    cold: list[float] = []
    warm: list[float] = []
    summary: dict[str, float] = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            source = NetworkSource(osm_file=path)
            t0 = time.perf_counter()
            net = load_network(source, cache_dir=tmp)
            cold.append(time.perf_counter() - t0)
            assert not net.meta["from_cache"]
            t0 = time.perf_counter()
            again = load_network(source, cache_dir=tmp)
            warm.append(time.perf_counter() - t0)
            assert again.meta["from_cache"]
            assert len(again.edges) == len(net.edges)
            summary = network_summary(net)
    return cold, warm, summary


def _time_command(path: Path) -> list[tuple[float, float, str]]:
    """Run `coverage-planner network` twice on one study with an empty cache.

    Returns (wall seconds of the whole command, seconds of its network step, cache tag) for
    the first and the second run.
    """
    import re
    import subprocess

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study.toml"
        (Path(tmp) / "s.csv").write_text("id,lon,lat\nS1,-51.22,-30.03\n", encoding="utf-8")
        study.write_text(
            f'name = "bench"\n[network]\nosm_file = "{path.as_posix()}"\n'
            '[services.s]\nstations = "s.csv"\n',
            encoding="utf-8",
        )
        exe = Path(sys.executable).with_name("coverage-planner")
        cmd = [
            str(exe),
            "--lang",
            "en",
            "network",
            str(study),
            "--out",
            f"{tmp}/out",
            "--cache-dir",
            f"{tmp}/cache",
        ]
        for _ in range(2):
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            step = float(re.search(r"done \(([\d.]+) s\)", res.stderr).group(1))  # type: ignore[union-attr]
            tag = "cache" if "[cache]" in res.stdout else "built"
            runs.append((wall, step, tag))
    return runs


def _time_pyrosm(path: Path) -> float | None:
    try:
        import pyrosm
    except ImportError:  # pragma: no cover
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        pyrosm.OSM(str(path)).get_network(network_type="walking", nodes=True)
        return time.perf_counter() - t0


def _table(cold: list[float], warm: list[float], ref: float | None) -> str:
    c, w = statistics.median(cold), statistics.median(warm)
    rows = [
        "| step | first run (s) | best (s) | median (s) | runs |",
        "|---|---|---|---|---|",
        f"| cold `load_network` (read PBF, build, write cache) | {cold[0]:.3f} | "
        f"{min(cold):.3f} | {c:.3f} | {len(cold)} |",
        f"| cached `load_network` (read cache) | {warm[0]:.3f} | {min(warm):.3f} | {w:.3f} | "
        f"{len(warm)} |",
        f"| speed-up cold / cached | {cold[0] / warm[0]:.1f}x | {min(cold) / min(warm):.1f}x | "
        f"{c / w:.1f}x | |",
    ]
    if ref is not None:
        rows.append(
            "| reference: pyrosm `get_network('walking', nodes=True)` (its own filter) | "
            f"{ref:.3f} | | | 1 |"
        )
    return "\n".join(rows)


def _write_section(body: str) -> None:
    write_section(SECTION.removeprefix("## "), body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"missing {DATA}", file=sys.stderr)
        return 2
    cold, warm, s = _time_loads(DATA, args.repeats)
    ref = _time_pyrosm(DATA)
    table = _table(cold, warm, ref)
    (w1, s1, tag1), (w2, s2, tag2) = _time_command(DATA)
    assert (tag1, tag2) == ("built", "cache"), (tag1, tag2)
    command_rows = "\n".join(
        [
            "| `coverage-planner network STUDY --out DIR` | whole command (s) | "
            "its network step (s) | network from |",
            "|---|---|---|---|",
            f"| first run (empty cache) | {w1:.2f} | {s1:.2f} | {tag1} |",
            f"| second run | {w2:.2f} | {s2:.2f} | {tag2} |",
            f"| first / second | {w1 / w2:.1f}x | {s1 / s2:.1f}x | |",
        ]
    )
    ratio = statistics.median(cold) / statistics.median(warm)
    verdict = "met" if ratio >= TARGET else "NOT met"
    body = "\n".join(
        [
            SECTION,
            "",
            f"`load_network` on `../shared/data/osm/{DATA.name}` "
            f"({DATA.stat().st_size / 1e6:.1f} MB PBF; {s['nodes']:,} nodes, {s['edges']:,} edges, "
            f"{s['km']:,.0f} km of walkable way, {s['components']:.0f} components). "
            "Cold = empty temporary cache folder: SHA-256 of the file, pyosmium read, "
            "vectorised build, GeoParquet write. Cached = SHA-256 of the file and reading "
            "`nodes.parquet`/`edges.parquet` (WKB geometry) back.",
            "",
            table,
            "",
            f"Target cached >= {TARGET:.0f}x faster than cold: **{verdict}** "
            f"(median {ratio:.1f}x).",
            "",
            "The command itself, run twice on one study in fresh processes (the second run says "
            "`[cache]`; its network step is the same cached load as above). Starting Python and "
            "importing the package (about a second) is the same in both runs, so the whole "
            "command's ratio is far below the network step's:",
            "",
            command_rows,
            "",
            f"Command: `{COMMAND}` (from the project root). Machine: {os.cpu_count()} CPU(s), "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}; "
            f"measured {time.strftime('%Y-%m-%d')}.",
        ]
    )
    print(body)
    if not args.no_doc:
        _write_section(body)
        print(f"\nupdated {DOC}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
