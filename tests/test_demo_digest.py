"""Outputs stay byte-identical through refactors: stored SHA-256 digests of known runs.

The digests were recorded before the "library shape" refactor (issue 6). A change here means
the numbers changed: only update a digest when the change of results is intended, and say so
in the commit message. Updated once for the compound access rules (issue 8): polygon
compounds are entered by new rules and the outputs gained four access columns; point compounds
and stations are unchanged (``PORTO_POINTS`` was recorded with the code before that change).
Updated for the Excel-friendly CSV files (issue 7): the four CSV digests changed (是/否 flags,
whole households as integers, shares as percentages, service labels, station names, lon/lat,
the note column); ``summary.json`` and the full-precision tables (``DEMO_FULL``) did not.
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
    "compounds.csv": "ef5db66e41763950a89c5f9bbe71358c2aec7ea6b8a13d1b612d6dc620c852bd",
    "stations.csv": "34bb6d9ae6c61f2a82b911a7e72d71756fe2e005d13f7d59d06145ea995dfd20",
    "gaps.csv": "764d88bdb54285ca63c19b7489a22acfecc691b092355d5184deb271b177a9b8",
    "summary.csv": "1fd62df9563be1323e7b9a8605260ba3178dffea5e41430623f6680fc70f219e",
    "summary.json": "95ae6d8daf0a5a55b7d83fcc1dbb6491bd4f3e8eda43888b20b19ceeb094a8c9",
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
        "07d3a8fe18803ecfdf298b0fc6a373e72edd8f0687489b9701e8ded9b3b51d7f",
        "735dc395bf3638105dff90731238673acd1db3c0e6de6dd2daa57cd3f646fdd3",
    ),
    "rest_point": (
        "1ba0bd78db947a169fe97c02c830e5f201bde38634afb007371befbcdc85a6d7",
        "7797238c8554e68dd4883b0ed460da8ca39d5fb1df943c327dc36aa83d4ef15f",
    ),
    "meal_point": (
        "e418919d52d15922daf25cadacfe5c39dbd2b536097186f9301b2c7e76eec2aa",
        "3c370b334594ab037d6d563d4b9d5117da6a248ca8554b36097b12d142a03c04",
    ),
    "grid_station": (
        "b6d285193fa267110bbba11385f79e5ce7d0aa797c6ee8174c94e5b9f1e2512c",
        "ea006fe6aec53cb0754083fb25b28b2b7c4c59572fe1b80b403623c3120aa5e9",
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
    "nearest-adult": "4793105540e5a704b9421a6509035220f5f0cb355886bef33e722ccacceafb11",
    "within-adult": "70b43c1e3e057e7e3a5111150d31cc8b61f01c45a394048d0f48aabba35ab813",
    "nearest-elderly": "72ca6b4b094a1b9a2124eb5cd6659ce04d1e24ea9c0d448b28d9c23412d24ac1",
    "within-elderly": "ff59abd18693592d6044408ce57f99885dd279ee92473795a556b85d6fcd1a3b",
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
