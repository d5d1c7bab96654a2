"""A region split into rectangular areas, for the batch tests and benchmark.

Compounds and stations are random points near random edges of a real extract's walk network
(seeded); the study is an ordinary study file over the whole extract, so ``analyze`` over
the whole region is the reference a batch must match.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from coverage import network
from coverage.config import NetworkSource

OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"

SERVICES = {
    # adult, three thresholds; elderly with short thresholds (many compounds beyond them)
    "party_station": {"profile": "adult", "minutes": [5, 10, 15], "stations": 24},
    "meal_point": {"profile": "elderly", "minutes": [3, 6], "stations": 10},
}


def _points_near_edges(net: network.WalkNetwork, n: int, rng: np.random.Generator) -> np.ndarray:
    edges = np.asarray(net.edges.geometry.values, dtype=object)
    pick = rng.integers(0, len(edges), n)
    pts = shapely.line_interpolate_point(edges[pick], rng.random(n), normalized=True)
    # up to about 40 m off the way (degrees near 44 N / 30 S: close enough)
    dx, dy = rng.normal(0, 0.0002, n), rng.normal(0, 0.0002, n)
    return shapely.points(shapely.get_x(pts) + dx, shapely.get_y(pts) + dy)


def write_region(
    folder: Path,
    osm_file: Path,
    *,
    n_compounds: int = 600,
    grid: tuple[int, int] = (2, 2),
    seed: int = 7,
    services: dict[str, dict] | None = None,
) -> tuple[Path, Path]:
    """Write study.toml, batch.toml and their layers into ``folder``; return both files."""
    services = services or SERVICES
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / "cache"
    net = network.load_network(NetworkSource(osm_file=osm_file), cache_dir=cache)
    rng = np.random.default_rng(seed)
    compounds = gpd.GeoDataFrame(
        {
            "compound_id": [f"c{i:05d}" for i in range(n_compounds)],
            "name": [f"小区{i}" for i in range(n_compounds)],
            "households": rng.integers(50, 800, n_compounds).astype(float),
        },
        geometry=_points_near_edges(net, n_compounds, rng),
        crs=4326,
    )
    compounds.to_file(folder / "compounds.geojson", driver="GeoJSON")
    lines = [
        'name = "batch test region"',
        f'cache_dir = "{cache}"',
        "[network]",
        f'osm_file = "{osm_file}"',
        "[compounds]",
        'path = "compounds.geojson"',
        'id_column = "compound_id"',
    ]
    for key, spec in services.items():
        k = int(spec["stations"])
        stations = gpd.GeoDataFrame(
            {
                "station_id": [f"{key[:2]}{i:03d}" for i in range(k)],
                "name": [f"站{i}" for i in range(k)],
            },
            geometry=_points_near_edges(net, k, rng),
            crs=4326,
        )
        stations.to_file(folder / f"stations_{key}.geojson", driver="GeoJSON")
        lines += [
            f"[services.{key}]",
            f'label_zh = "{key}"',
            f'label_en = "{key}"',
            f'stations = "stations_{key}.geojson"',
            f"minutes = {spec['minutes']}",
            f'profile = "{spec["profile"]}"',
        ]
    study = folder / "study.toml"
    study.write_text("\n".join(lines) + "\n", encoding="utf-8")
    w, s = net.nodes["lon"].min() - 0.001, net.nodes["lat"].min() - 0.001
    e, n = net.nodes["lon"].max() + 0.001, net.nodes["lat"].max() + 0.001
    xs, ys = np.linspace(w, e, grid[0] + 1), np.linspace(s, n, grid[1] + 1)
    boxes, names = [], []
    for j in range(grid[1]):
        for i in range(grid[0]):
            boxes.append(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
            names.append(f"区域{j * grid[0] + i + 1}")
    gpd.GeoDataFrame({"name": names}, geometry=boxes, crs=4326).to_file(
        folder / "areas.geojson", driver="GeoJSON"
    )
    batch = folder / "batch.toml"
    batch.write_text(
        'name = "batch test"\nstudy = "study.toml"\n[areas]\npath = "areas.geojson"\n',
        encoding="utf-8",
    )
    return study, batch
