"""Benchmark: exporting and opening a big coverage map (500 stations, 20,000 polygon compounds).

Targets (issue #11): the self-contained export in under 10 s and under 25 MB; opening it in
headless Chromium (Debian's, through Playwright, every non-file request refused) until the
page is idle in under 5 s. Baseline in the same run: folium's usual way for the same layers
(``folium.GeoJson`` with a style function, ``GeoJsonTooltip``/``GeoJsonPopup`` and one
``CircleMarker`` with a popup per station), export only (it links its scripts from CDNs, so it
cannot open offline). Run: ``.venv/bin/python benchmarks/bench_maps.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from _docs import write_section

from coverage import maps
from coverage.pipeline import Analysis, ServiceResult

SECTION = "Maps: export and open a 500-station, 20,000-compound map"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def synthetic(n_compounds: int, n_stations: int, seed: int = 0) -> Analysis:
    """Octagon compounds and stations scattered over 10 x 10 km of Beijing, 4 service types."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = 116.30, 39.90
    cx = lon0 + rng.random(n_compounds) * 0.117
    cy = lat0 + rng.random(n_compounds) * 0.090
    r = (40 + rng.random(n_compounds) * 80) / 111_000
    ang = np.linspace(0, 2 * np.pi, 9)[:-1]
    xy = np.stack(
        [cx[:, None] + r[:, None] * np.cos(ang) * 1.3, cy[:, None] + r[:, None] * np.sin(ang)],
        axis=-1,
    )
    polys = shapely.polygons(np.concatenate([xy, xy[:, :1]], axis=1))
    walk = rng.gamma(3.0, 3.0, n_compounds)
    walk[rng.random(n_compounds) < 0.01] = np.nan
    keys = ["party", "rest", "meal", "grid"]
    per = n_stations // len(keys)
    services = {}
    for k in keys:
        sx = lon0 + rng.random(per) * 0.117
        sy = lat0 + rng.random(per) * 0.090
        ids = [f"{k}-{i:03d}" for i in range(per)]
        loads = gpd.GeoDataFrame(
            {
                "station_id": ids,
                "name": [f"站点 {k} {i}" for i in range(per)],
                "service": k,
                "compounds_served": rng.integers(0, 80, per),
                "households_served": rng.random(per) * 5000,
                "capacity": np.nan,
                "over_capacity": False,
                "reason": "",
            },
            geometry=shapely.points(np.column_stack([sx, sy])),
            crs=4326,
        )
        assessed = gpd.GeoDataFrame(
            {
                "compound_id": [f"C{i:05d}" for i in range(n_compounds)],
                "name": [f"小区 {i}" for i in range(n_compounds)],
                "service": k,
                "households": rng.integers(50, 2000, n_compounds).astype(float),
                "nearest_station_id": rng.choice(ids, n_compounds),
                "walk_min": walk,
                "covered_5min": walk <= 5,
                "covered_10min": walk <= 10,
                "covered_15min": walk <= 15,
                "reason": np.where(np.isnan(walk), "unreachable", ""),
            },
            geometry=polys,
            crs=4326,
        )
        services[k] = ServiceResult(assessed, loads, assessed.iloc[:0], pd.DataFrame())
    return Analysis("基准测试 benchmark", services, {}, None)


def export_ours(analysis: Analysis, out: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    maps.write_map(maps.coverage_map(analysis, basemap="osm"), out)
    return time.perf_counter() - t0, out.stat().st_size


def export_folium(analysis: Analysis, out: Path) -> tuple[float, int]:
    """folium's usual way: per-feature style function, GeoJson tooltip/popup, CircleMarkers."""
    t0 = time.perf_counter()
    result = analysis.services["party"]
    a = result.assessed[["compound_id", "name", "households", "walk_min", "geometry"]]
    m = folium.Map(tiles="OpenStreetMap")
    colours = ["#1a9850", "#66bd63", "#a6d96a", "#d73027", "#8c8c8c"]

    def style(feature: dict) -> dict:
        w = feature["properties"]["walk_min"]
        band = 4 if w is None else int(np.searchsorted([5, 10, 15], w))
        return {"fillColor": colours[band], "color": "#4d4d4d", "weight": 0.8}

    folium.GeoJson(
        a,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(["name", "walk_min"]),
        popup=folium.GeoJsonPopup(["compound_id", "name", "households", "walk_min"]),
    ).add_to(m)
    for r in analysis.services.values():
        for row in r.loads.itertuples():
            folium.CircleMarker(
                [row.geometry.y, row.geometry.x], radius=7, popup=row.name, tooltip=row.name
            ).add_to(m)
    folium.LayerControl().add_to(m)
    m.save(str(out))
    return time.perf_counter() - t0, out.stat().st_size


def open_until_idle(path: Path, repeats: int) -> tuple[list[float], int, int]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for _ in range(repeats):
            ctx = browser.new_context(viewport={"width": 1280, "height": 860})
            ctx.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file://") else route.abort()
                ),
            )
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load", timeout=60_000)
            page.evaluate(
                "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
                "() => requestIdleCallback(() => r(), {timeout: 20000}))))"
            )
            times.append(time.perf_counter() - t0)
            compounds, stations = page.evaluate(
                """() => {
                    const map = window[document.querySelector('.folium-map').id];
                    const n = {'cp-compound': 0, 'cp-station': 0};
                    map.eachLayer(l => { if (l.feature && l.options.className in n)
                        n[l.options.className] += 1; });
                    return [n['cp-compound'], n['cp-station']];
                }"""
            )
            ctx.close()
        browser.close()
    return times, compounds, stations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compounds", type=int, default=20_000)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    analysis = synthetic(args.compounds, args.stations)
    with tempfile.TemporaryDirectory() as tmp:
        ours = [export_ours(analysis, Path(tmp) / "ours.html") for _ in range(args.repeats)]
        base = [export_folium(analysis, Path(tmp) / "folium.html") for _ in range(args.repeats)]
        opened, n_compounds, n_stations = open_until_idle(Path(tmp) / "ours.html", args.repeats)
        export_ours(synthetic(1, 4), Path(tmp) / "small.html")
        empty, _, _ = open_until_idle(Path(tmp) / "small.html", args.repeats)
    t_ours = statistics.median(t for t, _ in ours)
    t_base = statistics.median(t for t, _ in base)
    mb_ours, mb_base = ours[0][1] / 1e6, base[0][1] / 1e6
    t_open = statistics.median(opened)
    t_empty = statistics.median(empty)
    speed = f"{t_base / t_ours:.1f}x faster"
    size = f"{mb_base / mb_ours:.1f}x smaller"
    cdn = "(links CDN scripts: cannot open offline)"
    ok = t_ours < 10 and mb_ours < 25 and t_open < 5
    text = f"""## {SECTION}

Command: `.venv/bin/python benchmarks/bench_maps.py` (run by `make bench`); synthetic layers
({args.compounds:,} octagon compounds, {args.stations} stations of 4 service types over
10 x 10 km), `basemap="osm"` with every tile request refused. Medians of {args.repeats} runs
in one process; the machine is shared with other agents (1-minute load average
{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the run), so read the open
time next to the one-compound map's, measured in the same run. Measured {date.today()}.

| step | coverage-planner | folium's usual way (baseline) | ratio |
|---|---|---|---|
| export (build + render + write) | {t_ours:.2f} s | {t_base:.2f} s | {speed} |
| file size | {mb_ours:.1f} MB | {mb_base:.1f} MB | {size} |
| open in headless Chromium until idle | {t_open:.2f} s | {cdn} | |
| open a one-compound map (same run: the machine's load) | {t_empty:.2f} s | | |

Drawn after opening: {n_compounds:,} compound shapes (on a canvas: layers over
{maps.CANVAS_ABOVE:,} features), {n_stations} station markers (SVG).
Targets: export < 10 s, < 25 MB, open < 5 s: {"met" if ok else "NOT met"}.
Open times of the runs: {", ".join(f"{t:.2f}" for t in opened)} s.
"""
    print(text)
    if not args.no_docs:
        write_section(SECTION, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
