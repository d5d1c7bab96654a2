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
    "compounds.csv": "3a1d68d8b09ca57ef2c9a0387ea7524331a87192e19e66444b63f660d90c53b5",
    "stations.csv": "00998a92ad9c095bd9aae4d9b101b1c097e15df341570d551097ffcde13cb28c",
    "gaps.csv": "34c20cf405a91261a9bece4ab146e5e71c22bc7ef9bbb55d19be5d399bfe3c25",
    "summary.csv": "dda585dfcbd0e94503157401226b49715c2e017a7712752d96dca6805788069c",
    "summary.json": "81a5f050ab13df7e1bdd9340f0c0370af1ffaedd25f58c180f4f062ae5567829",
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
        "f36efb6536ea5bb58a10e44e70fed1c7c92d61742fc1c9d4a57107a9b10ce03a",
        "f044ebad98dfe676ff6b7f0c2d674c271ee1b969b4c675b57bfd491a27084621",
    ),
    "rest_point": (
        "bc96849c8299dfff255410e327b34a78225d4d232614c92f6ac5ed8bc009c7d1",
        "a14b50f24f4a8e90d77b1a634c8d8e7754a914864c4396e1f1e79d86ea594a3d",
    ),
    "meal_point": (
        "22aefc1050b79146f5b9f8a8244de2db50ca110c83fd90bfbc48821f767d249c",
        "716760ebc27532cd39f559a284643127601d7464948860cd0afce8bbfcba3965",
    ),
    "grid_station": (
        "ce92a00834401b4d02d55a5713c5104801172a2d7409ceba7686982f2711f735",
        "55b8935eb9941bdb8dad84cf0c57b95a2fa5096a419db0df92a946e9cd1bb01c",
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
