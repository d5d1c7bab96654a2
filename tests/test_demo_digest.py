"""Outputs stay byte-identical through refactors: stored SHA-256 digests of known runs.

The digests were recorded before the "library shape" refactor (issue 6). A change here means
the numbers changed: only update a digest when the change of results is intended, and say so
in the commit message.
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
    "compounds.csv": "9745e6f8e7411fbb69ec352ddf0d0947dbf33e24b82b42bca246b21019c3585e",
    "stations.csv": "2560bf56bcb087bf66327bbfafd1403e8eb3d9894d497a18963012adf8b86451",
    "gaps.csv": "419b99de7969a3df2cd3be5f19cdf04d5c64e1920cd3e067f7969fc539584949",
    "summary.csv": "7833391841578e6fce3442d9f0bf8c02d18a3b888c4ba973e458b493eaa998f6",
    "summary.json": "9610980f5107fa81c3aabc41de185501cd7a4001078803be49094ab8822e142e",
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
        "74cf48aef3e25db0200f865f8bf7b0a412d1b72ceade781987690aaa518cf21e",
        "f044ebad98dfe676ff6b7f0c2d674c271ee1b969b4c675b57bfd491a27084621",
    ),
    "rest_point": (
        "6cbe290a299f87f7448e3aad6ded0bad8a84d5888944510e90cc3b18de677a16",
        "bec36e54231bfb382eef194e629ecf620f9dbbcf89fc35c67d48b0a7d12dc9c8",
    ),
    "meal_point": (
        "76a03b1a4510c46349cc264b4ca3dbead903fb16a774bb9c16702d64a337eeed",
        "4e0ea33e3a89989d8679b0ae411fb882543bf3ce90b13af252ac404bfa71b58d",
    ),
    "grid_station": (
        "7641e6302e7f691c9cc4b0ce4d7ef7cb22c5ad8686eb97e3242cae0c24c4347f",
        "33b49654be6c8a4266d06a8808265d8372bbdf5654a53e6a49d8757e45d1120d",
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
    "nearest-adult": "7f02d38a338944aced536941e884a1600847582160098f4a055643356db2d736",
    "within-adult": "90232d3e4b17ef2007d7367bcc98b2833a021b64607c580b60f16ebe8cfa2412",
    "nearest-elderly": "fc251a06bbcea8f6747c1a30884e68a8ac49d7354845cf6ea95662b7d3a565c9",
    "within-elderly": "9c78c5d8a256960695e50409e75e81c24b57b9fce91028fd71f921d2525d851c",
    "snap_points": "c5f602da095abced006ac6bdd99e34a72992dd5c8d674226a4a50557a238bb81",
}
