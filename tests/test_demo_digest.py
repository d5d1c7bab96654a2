"""Outputs stay byte-identical through refactors: stored SHA-256 digests of known runs.

The digests were recorded before the "library shape" refactor (issue 6). A change here means
the numbers changed: only update a digest when the change of results is intended, and say so
in the commit message. Updated once for the compound access rules (issue 8): polygon
compounds are entered by new rules and the outputs gained four access columns; point compounds
and stations are unchanged (``PORTO_POINTS`` was recorded with the code before that change).
Updated for the Excel-friendly CSV files (issue 7): the four CSV digests changed (是/否 flags,
whole households as integers, shares as percentages, service labels, station names, lon/lat,
the note column); ``summary.json`` and the full-precision tables (``DEMO_FULL``) did not.
Updated again when building doors stopped counting as gates (issue 8: a door on a building
outline is a gate only of the compound whose boundary it lies on) and open access became
exact (the best boundary point of the compounds with no gate and no entering way; in
``PORTO`` two of the 300 polygons got 0.002-0.005 min lower times).
Updated for the estimated households (issue 7): ``summary.csv`` and ``summary.json`` say
which counts are estimates and their share; the other files did not change.
Updated for three access rules (issue 8): an ``open`` compound also walks straight to a station
on its own edge (居民楼群 14, meal: 0.71 -> 0.41 min); a compound drawn around its buildings
is ``open`` with its gates as extra access points (居民楼群 1-9, 12, 13, 15, 21; 居民楼群 5,
meal: 15.42 -> 10.27 min, no longer a gap); a gate across a street is no compound's gate
(Pääskynen's only gate, one of 未命名小区 11's two). The loads of meal_point and grid_station
changed with the nearest stations of Pääskynen, 居民楼群 1 and 4; Porto Alegre did not change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage import pipeline, sample, snap, travel
from coverage.config import DEFAULT_PROFILES, load_study
from coverage.network import WalkNetwork, network_from_file

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"

DEMO_FILES = {
    "compounds.csv": "be85a55fb4b3da70ce14ef1edcc2c149d96c93c74308041a8184e621985e4731",
    "stations.csv": "7e768afc8b8cc8edd21071bd4d06a9cc4b05c95c6e71a9fc15dfabe587bf9a27",
    "gaps.csv": "f9ef945cfd1e52658fc22695bbe9875e80ab77cc6a8612589c0741bbec876205",
    "summary.csv": "7dd2ac45a749d24e89fb0322df37364228807dca230975c44bf6a84bb44092a6",
    "summary.json": "77ebd67cf86ff41a75868acc6e3352f23de86f011627fb2bc0cf89e936245d53",
}


def _digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table at full precision: column names, then every column's values."""
    h = hashlib.sha256()
    for col in frame.columns:
        if col == "geometry":
            continue
        h.update(str(col).encode())
        values = frame[col]
        if pd.api.types.is_float_dtype(values) or pd.api.types.is_bool_dtype(values):
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join(map(str, values.tolist())).encode())
    return h.hexdigest()


@pytest.mark.slow
def test_demo_outputs_are_unchanged(tmp_path: Path) -> None:
    study = load_study(sample.write_demo_study(tmp_path / "study"))
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    data = pipeline.load_inputs(study, network=net)
    analysis = pipeline.analyze(study, net, data)
    pipeline.write_analysis(analysis, tmp_path / "out")
    got = {
        name: hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest()
        for name in DEMO_FILES
    }
    assert got == DEMO_FILES
    # full precision (the CSVs round to 2 decimals)
    full = {key: (_digest(r.assessed), _digest(r.loads)) for key, r in analysis.services.items()}
    assert full == DEMO_FULL


DEMO_FULL = {
    "party_station": (
        "8bfc16473d5cee0570dc6bb84eeedf7c16d73583bf0a195587e969b9c6513b16",
        "f044ebad98dfe676ff6b7f0c2d674c271ee1b969b4c675b57bfd491a27084621",
    ),
    "rest_point": (
        "7d589f730d6a6410849f9792c86ea500231c5d2276d3cc8d7304a2f3fffaffa2",
        "a14b50f24f4a8e90d77b1a634c8d8e7754a914864c4396e1f1e79d86ea594a3d",
    ),
    "meal_point": (
        "848da9603a41c7ba971aba68ff74b1d0577a8eb1615c7f82a557eec3487c1a4e",
        "e9b9d537211541c849785bc3af23e464720e89289df851ac134703e8c2ce9ffc",
    ),
    "grid_station": (
        "8c58a149f05c2cc9ab707accd6e882a8b208feb3d00b4df63b86871250194fef",
        "1fa3cf90a0f18cf9c74c5f3f71863b7294ada04281d9027d6c6b01180ae5903a",
    ),
}


def _porto_layers() -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Point and polygon compounds and stations near random edges of Porto Alegre."""
    net = network_from_file(OSM / "brazil-porto-alegre.osm.pbf")
    rng = np.random.default_rng(20261130)
    lines = np.asarray(net.edges.geometry.values, dtype=object)
    pick = rng.integers(0, len(lines), 900)
    pts = shapely.line_interpolate_point(lines[pick], rng.random(900), normalized=True)
    off = rng.normal(0.0, 0.0004, (900, 2))
    pts = shapely.points(shapely.get_x(pts) + off[:, 0], shapely.get_y(pts) + off[:, 1])
    polys = shapely.buffer(pts[400:700], 0.0006, quad_segs=2)
    compounds = gpd.GeoDataFrame(
        {"compound_id": [f"c{i}" for i in range(700)]},
        geometry=np.concatenate([pts[:400], polys]),
        crs="EPSG:4326",
    )
    stations = gpd.GeoDataFrame(
        {"station_id": [f"s{i}" for i in range(200)]}, geometry=pts[700:], crs="EPSG:4326"
    )
    return net, compounds, stations


def test_travel_results_are_unchanged_on_a_real_extract() -> None:
    net, compounds, stations = _porto_layers()
    snapped = snap.snap_compounds(compounds, net)
    got = {}
    for name in ("adult", "elderly"):
        profile = DEFAULT_PROFILES[name]
        got[f"nearest-{name}"] = _digest(
            travel.nearest_station(snapped, stations, net, profile=profile)
        )
        got[f"within-{name}"] = _digest(
            travel.walk_times(snapped, stations, net, profile=profile, limit_min=12.0)
        )
    got["snap_points"] = _digest(snap.snap_points(stations, net))
    assert got == PORTO


PORTO = {
    "nearest-adult": "75402863aded61434ccdb61db0a7e5d41ee6ed8cbd08fab6ec8382009b1b4e05",
    "within-adult": "d2c625d94ad36aa9a9ad4acaf97274826f12fa924f8e78c762fce94c51d99740",
    "nearest-elderly": "ab19d27c84af07898ebf9b4e081bb99a5854e2ab708d6c7e6d746205a1e83b02",
    "within-elderly": "c26adc67b3a320d84663db5ca8a0ed7509b2a2a4d459e20cb35ea87068cdd2a1",
    "snap_points": "c5f602da095abced006ac6bdd99e34a72992dd5c8d674226a4a50557a238bb81",
}


def test_point_compounds_are_unchanged_by_the_access_rules() -> None:
    """The access rules (issue 8) change polygons only: points give the digests of before."""
    net, compounds, stations = _porto_layers()
    snapped = snap.snap_compounds(compounds.iloc[:400], net)  # the point compounds
    got = {}
    for name in ("adult", "elderly"):
        profile = DEFAULT_PROFILES[name]
        got[f"nearest-{name}"] = _digest(
            travel.nearest_station(snapped, stations, net, profile=profile)
        )
        got[f"within-{name}"] = _digest(
            travel.walk_times(snapped, stations, net, profile=profile, limit_min=12.0)
        )
    assert got == PORTO_POINTS


PORTO_POINTS = {
    "nearest-adult": "b40eda5abac5d382057c243a92b32564fb694c62203f3ecf828cdf5cba8b1dee",
    "within-adult": "b8ccc5cd72311e0e10edbaedb7ab6d814a756d4d0a525e3e9895c4d3b4ee71f9",
    "nearest-elderly": "b2b088ea7016f4bac12c6d6b62173eedb2f0a5c43ca34ac46913925158ea55ca",
    "within-elderly": "e00f1f52ab6d03d3e5032249d93988e639545cd9f1164532ffa87e6725c815b5",
}
