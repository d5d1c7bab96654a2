"""Benchmark: the edge-of-data step (coverage.dataedge) inside the whole analyze step.

Run from the project root::

    .venv/bin/python benchmarks/bench_dataedge.py            # full run, updates docs/benchmarks.md
    .venv/bin/python benchmarks/bench_dataedge.py --quick    # small smoke run, docs untouched

Set-up (not timed): the data of ``bench_analyze.py`` (``brazil-porto-alegre.osm.pbf`` replicated
side by side to over 1 million edges, 20,000 compounds, half of them squares, four station
layers of 500 points, the demo study's four services). The replicated network records no data
extent, so ``bench_analyze.py`` measures analyze WITHOUT the edge step. Here the extent is what
the copies' files cover: the extract's own bounds (``<bounds>``/PBF header, as
``network.network_from_file`` records it) moved with each copy, a MultiPolygon of one box per
copy.

Timed, in one fresh subprocess after a first (untimed) analyze has built the travel graphs:
``pipeline.analyze(study, net, inputs)`` on the same network without the extent (baseline) and
with it, alternating, ``--repeat`` pairs; the ratio of the medians is the edge step's cost.
Also the edge functions on their own (``dataedge.edge_position`` of the compounds and the
station layers, ``dataedge.pieces_at_edge`` of the snapped compounds per profile).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _docs import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Edge of the map data (dataedge) in the whole analyze step"
REPEAT = 5


def extent_of_copies(net: Any, copies: int) -> Any:
    """The extract's bounds moved with each copy, as ``bench_travel.replicate`` moves them."""
    import shapely

    from coverage import dataedge

    area = dataedge.data_extent(net)
    assert area is not None, "the extract records its bounds"
    nodes = net.nodes
    cols = int(np.ceil(np.sqrt(copies)))
    w = nodes.lon.max() - nodes.lon.min() + 0.01
    h = nodes.lat.max() - nodes.lat.min() + 0.01
    parts = [
        shapely.transform(area, lambda c, i=i: c + np.array([(i % cols) * w, (i // cols) * h]))
        for i in range(copies)
    ]
    return shapely.union_all(parts)


def prepare(folder: Path, quick: bool) -> dict[str, Any]:
    """``bench_analyze.prepare``'s data, and the copies' data extent (WKT in ``extent.wkt``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_analyze import prepare as prepare_analyze
    from bench_travel import OSM

    from coverage.network import network_from_file

    setup = prepare_analyze(folder, quick)
    t0 = time.perf_counter()
    area = extent_of_copies(network_from_file(OSM), setup["copies"])
    (folder / "extent.wkt").write_text(area.wkt, encoding="utf-8")
    setup["setup_s"] += time.perf_counter() - t0
    setup["extent_parts"] = len(getattr(area, "geoms", [area]))
    return setup


def child(folder: Path, repeat: int) -> dict[str, Any]:
    """Runs in a fresh subprocess: analyze without and with the extent, alternating."""
    import shapely

    from coverage import dataedge, network, pipeline, snap
    from coverage.config import study_from_dict

    data = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    study = study_from_dict(data, base_dir=folder, source="study.json")
    net = network.read_network(folder / "cache" / "network-bench")
    inputs = pipeline.load_inputs(study, network=net)
    pipeline.analyze(study, net, inputs, circles=False)  # builds what both variants share
    area = shapely.from_wkt((folder / "extent.wkt").read_text(encoding="utf-8"))
    meta = {k: v for k, v in net.meta.items() if k != dataedge.EXTENT_KEY}
    variants = {
        "without": net.with_meta(meta),
        "with": net.with_meta({**meta, **dataedge.extent_meta(area)}),
    }
    times: dict[str, list[float]] = {"without": [], "with": []}
    reasons: dict[str, dict[str, int]] = {}
    for _ in range(max(1, repeat)):
        for name, variant in variants.items():
            t0 = time.perf_counter()
            analysis = pipeline.analyze(study, variant, inputs, circles=False)
            times[name].append(time.perf_counter() - t0)
            counts: dict[str, int] = {}
            for result in analysis.services.values():
                for reason, n in result.assessed["reason"].value_counts().items():
                    counts[str(reason)] = counts.get(str(reason), 0) + int(n)
            reasons[name] = counts
    with_extent = variants["with"]
    parts: dict[str, float] = {}
    t0 = time.perf_counter()
    dataedge.edge_position(inputs.compounds, with_extent)
    parts["edge_position(compounds)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for layer in inputs.stations.values():
        dataedge.edge_position(layer, with_extent)
    parts["edge_position(4 station layers)"] = time.perf_counter() - t0
    snapped = snap.snap_compounds(inputs.compounds, with_extent, max_snap_m=study.max_snap_m)
    t0 = time.perf_counter()
    dataedge.pieces_at_edge(snapped, with_extent, tolerance_m=study.max_snap_m)
    parts["pieces_at_edge(snapped compounds)"] = time.perf_counter() - t0
    return {"times": times, "parts": parts, "reasons": reasons}


def section(setup: dict[str, Any], res: dict[str, Any], load: tuple[float, float]) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    base, edge = res["times"]["without"], res["times"]["with"]
    ratio = statistics.median(edge) / statistics.median(base)
    parts = "\n".join(f"| `dataedge.{k}` | {v:.3f} s |" for k, v in res["parts"].items())
    changed = res["reasons"]["with"].get("outside_network_data", 0)
    runs = {k: ", ".join(f"{t:.2f}" for t in v) for k, v in res["times"].items()}
    step = sum(res["parts"].values())
    spread = (max(base) - min(base)) / statistics.median(base)
    return f"""## {SECTION}

Command: `.venv/bin/python benchmarks/bench_dataedge.py --repeat {len(base)}` (also run by
`make bench`). Measured {time.strftime("%Y-%m-%d")}: {machine}; the machine was shared with
other work (1-minute load average {load[0]:.1f} before, {load[1]:.1f} after), so only the ratio
of times measured side by side in this run means much.

Data: those of the whole-analyze benchmark (`bench_analyze.py`: Porto Alegre copied
{setup["copies"]} times, {setup["edges"]:,} edges, {setup["compounds"]:,} compounds of which half
squares, four station layers of {setup["stations"]}). That network records no data extent, so
`bench_analyze.py` times analyze without the edge step; here the extent is the extract's
`<bounds>` moved with each copy ({setup["extent_parts"]} boxes).

In one fresh process, after a first analyze (not timed) built the travel graphs:
`pipeline.analyze(study, net, inputs)` on the network without and with the extent, alternating,
{len(base)} pairs.

| analyze | median | all runs |
|---|---|---|
| without the extent (baseline) | {statistics.median(base):.2f} s | {runs["without"]} s |
| with the extent (edge step on) | {statistics.median(edge):.2f} s | {runs["with"]} s |
| **ratio with / without** | **{ratio:.3f}** | |

The edge functions alone (once each, same process; analyze calls each of them once, the
station layers once per service):

| part | wall time |
|---|---|
{parts}
| **sum** | **{step:.2f} s = {step / statistics.median(base):.1%} of the baseline's median** |

The sum of the parts is the better figure for the step's cost: the whole-analyze ratio
({ratio:.3f}) is within the run-to-run spread of the baseline ({spread:.0%} between its fastest
and slowest run) on this loaded machine.

With the extent, {changed:,} compound rows (over the four services) get the reason
`outside_network_data` (without it: {res["reasons"]["without"].get("outside_network_data", 0)}).
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run; docs untouched")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed pairs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.repeat)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-dataedge-") as tmp:
        folder = Path(tmp)
        print("building the network and the layers ...", file=sys.stderr, flush=True)
        setup = prepare(folder, args.quick)
        print(json.dumps(setup), file=sys.stderr, flush=True)
        before = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--child", str(folder), "--repeat", str(args.repeat)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(res), file=sys.stderr, flush=True)
    text = section(setup, res, (before, os.getloadavg()[0]))
    print(text)
    if not (args.quick or args.no_docs):
        write_section(SECTION, text)
        print("updated docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
