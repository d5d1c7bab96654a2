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
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    try:
        start = lines.index(SECTION)
    except ValueError:
        new = [*lines, "", *body.splitlines()] if lines else body.splitlines()
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = lines[end:]
        new = [*lines[:start], *body.splitlines(), *([""] if tail else []), *tail]
    tmp = DOC.with_name(f".{DOC.name}.tmp-{os.getpid()}")
    tmp.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, DOC)


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
