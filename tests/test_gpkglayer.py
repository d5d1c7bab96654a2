"""GeoPackage layers written with each distinct shape once equal geopandas' own writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from coverage.gpkglayer import distinct_shapes, write_layer


def _stacked(rng: np.random.Generator, services: int = 3, n: int = 40) -> pd.DataFrame:
    """One frame per service over the same compounds (their shapely objects shared), stacked."""
    x, y = rng.uniform(120.0, 121.0, n), rng.uniform(30.0, 31.0, n)
    shapes = np.array(
        [
            shapely.Point(a, b) if i % 2 else shapely.box(a, b, a + 1e-3, b + 1e-3)
            for i, (a, b) in enumerate(zip(x, y, strict=True))
        ],
        dtype=object,
    )
    shapes[3] = shapely.Point(x[1], y[1])  # equal to row 1's shape, another object
    frames = []
    for k in range(services):
        walk = rng.uniform(0, 20, n)
        walk[rng.random(n) < 0.2] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "compound_id": pd.array([f"c{i}" for i in range(n)], dtype="str"),
                    "name": np.array([f"小区 {i}, 东" if i % 5 else None for i in range(n)]),
                    "service": f"s{k}",
                    "households": rng.integers(10, 900, n).astype(float),
                    "walk_min": walk,
                    "covered_5min": walk < 5,
                    "stations_within_5min": rng.integers(0, 4, n),
                    "geometry": shapes,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _layer_facts(path: Path, layer: str) -> tuple[dict[str, object], object]:
    info = pyogrio.read_info(path, layer=layer)
    facts = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in info.items()}
    return facts, pyogrio.read_arrow(path, layer=layer)[1]


def _rtree_rows(path: Path, layer: str) -> int:
    with sqlite3.connect(path) as db:
        ((n,),) = db.execute(f'select count(*) from "rtree_{layer}_geom"').fetchall()
        ((ext,),) = db.execute(
            "select count(*) from gpkg_extensions where table_name = ? and extension_name = ?",
            (layer, "gpkg_rtree_index"),
        ).fetchall()
    assert ext == 1
    return int(n)


def test_distinct_shapes_match_a_loop() -> None:
    frame = _stacked(np.random.default_rng(1))
    geoms = frame["geometry"].to_numpy().copy()
    geoms[7] = None
    shapes = distinct_shapes(geoms)
    seen: dict[bytes | None, int] = {}
    for row, g in enumerate(geoms):
        key = None if g is None else shapely.to_wkb(g)
        code = seen.setdefault(key, len(seen))
        assert shapes.codes[row] == code and shapes.wkb[code] == key
        assert shapes.first[code] == min(i for i in range(row + 1) if shapes.codes[i] == code)
    assert len(shapes.wkb) == len(seen) == len(frame) // 3 - 1 + 1  # row 3 = row 1; one None


def test_layer_is_the_frame_with_repeated_shapes(tmp_path: Path) -> None:
    frame = _stacked(np.random.default_rng(2))
    path = tmp_path / "fast.gpkg"
    write_layer(frame, path, layer="compounds", description="备注")
    back = gpd.read_file(path, layer="compounds")
    assert back.crs.to_epsg() == 4326
    assert list(back.columns) == list(frame.columns)
    for col in frame.columns.drop("geometry"):
        want = frame[col].to_numpy()
        got = back[col].to_numpy()
        if col == "name":
            assert [None if pd.isna(v) else v for v in got] == [
                None if pd.isna(v) else v for v in want
            ]
        else:
            np.testing.assert_array_equal(got, want)
    # every row's geometry, its repeats across services included, exactly
    assert shapely.equals_exact(back.geometry.to_numpy(), frame["geometry"].to_numpy(), 0).all()
    assert _rtree_rows(path, "compounds") == len(frame)
    # and the same layer as geopandas writes itself
    ref = tmp_path / "ref.gpkg"
    gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
    options = {"layer_options": {"DESCRIPTION": "备注"}}
    gdf.to_file(ref, layer="compounds", driver="GPKG", engine="pyogrio", use_arrow=True, **options)
    (info, table), (ref_info, ref_table) = (
        _layer_facts(path, "compounds"),
        _layer_facts(ref, "compounds"),
    )
    assert info == ref_info and info["geometry_type"] == "Unknown"
    assert table.equals(ref_table)
    with sqlite3.connect(path) as db:
        assert db.execute("select description from gpkg_contents").fetchall() == [("备注",)]


@pytest.mark.parametrize(
    "shapes",
    [
        [shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 2, 3, 3)])],  # promoted
        [shapely.Point(1, 2), shapely.MultiPoint([(3, 4), (5, 6)])],
        [shapely.MultiLineString([[(0, 0), (1, 1)]]), shapely.LineString([(0, 0), (1, 2)])],
        [shapely.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1)]), shapely.MultiPolygon()],
        [shapely.Point(1, 2), shapely.Point(3, 4)],
        [shapely.Point(1, 2, 3), shapely.Point(3, 4, 5)],
        [None, None],
        [shapely.Point(1, 2), None],
        [shapely.LineString([(0, 0), (1, 1)]), shapely.Point(0, 0)],
    ],
)
@pytest.mark.parametrize("other", ["text", "ints_as_objects"])
def test_other_tables_as_geopandas_writes_them(tmp_path: Path, shapes: list, other: str) -> None:
    values = ["a", "b"] if other == "text" else pd.Series([1, None], dtype=object)
    frame = pd.DataFrame({"id": [1, 2], "geometry": shapes, "other": values})  # not last
    write_layer(frame, tmp_path / "fast.gpkg", layer="x")
    gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
    gdf.to_file(tmp_path / "ref.gpkg", layer="x", driver="GPKG", engine="pyogrio", use_arrow=True)
    (info, table), (ref_info, ref_table) = (
        _layer_facts(tmp_path / name, "x") for name in ("fast.gpkg", "ref.gpkg")
    )
    assert info == ref_info
    assert table.equals(ref_table)
