"""Tests for coverage.inputs: every format in, the table contracts out, every bad input named.

All fixtures are tiny files written into ``tmp_path`` by the helpers below.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely.geometry import Point, Polygon

from coverage.config import LayerSpec
from coverage.coords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09
from coverage.errors import CoverageWarning, CRSError, InputError
from coverage.inputs import load_candidates, load_compounds, load_stations, read_layer

# Chizhou (池州), Anhui: the study area used in the tests
AREA = (117.40, 30.60, 117.60, 30.72)
IDS = ["001", "A2", "B-3"]
NAMES = ["秀山小区", "翠苑", "百牙新村"]
HOUSEHOLDS = [120.0, 0.0, 35.5]
LONS = [117.4901, 117.5012, 117.5203]
LATS = [30.6601, 30.6655, 30.6702]


# --------------------------------------------------------------------------------------------
# fixture writers


def write_csv(path: Path, rows: list[list[Any]], *, encoding: str = "utf-8") -> Path:
    text = "\n".join(",".join("" if v is None else str(v) for v in r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[Any]], *, sheet: str = "小区") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def write_geojson(path: Path, features: list[tuple[dict | None, dict]], **extra: Any) -> Path:
    doc = {
        "type": "FeatureCollection",
        **extra,
        "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for geom, props in features
        ],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def pt(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def base_gdf(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"编号": IDS, "名称": NAMES, "户数": HOUSEHOLDS},
        geometry=gpd.points_from_xy(LONS, LATS),
        crs=crs,
    )


def write_vector(gdf: gpd.GeoDataFrame, path: Path, **kwargs: Any) -> Path:
    with warnings.catch_warnings():  # pyogrio warns when asked to write without a CRS
        warnings.simplefilter("ignore", UserWarning)
        pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def table_rows() -> list[list[Any]]:
    return [["编号", "名称", "户数", "经度", "纬度"]] + [
        list(r) for r in zip(IDS, NAMES, HOUSEHOLDS, LONS, LATS, strict=True)
    ]


# --------------------------------------------------------------------------------------------
# the bad-input table


@dataclass
class Case:
    """One bad file: how to write it, how to load it, what the error must say."""

    id: str
    write: Callable[[Path], Path]
    problems: set[tuple[int | None, str | None]]  # (row, column) of every problem
    phrase: str  # a phrase the message must contain
    load: str = "compounds"
    exc: type[InputError] = InputError
    options: dict[str, Any] = field(default_factory=dict)


def _csv(rows: list[list[Any]], name: str = "xq.csv") -> Callable[[Path], Path]:
    return lambda d: write_csv(d / name, rows)


H = ["编号", "名称", "户数", "经度", "纬度"]

CASES = [
    Case("missing-file", lambda d: d / "nope.csv", {(None, None)}, "file not found"),
    Case("empty-file", lambda d: write_csv(d / "empty.csv", []), {(None, None)}, "file is empty"),
    Case("header-only", _csv([H]), {(None, None)}, "layer has no rows"),
    Case(
        "unreadable-geojson",
        lambda d: (d / "broken.geojson").write_text("{not json") and d / "broken.geojson",
        {(None, None)},
        "cannot read this file",
    ),
    Case(
        "old-xls",
        lambda d: (d / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0junk") and d / "old.xls",
        {(None, None)},
        ".xlsx",
    ),
    Case(
        "missing-households-column",
        _csv([["编号", "名称", "经度", "纬度"], ["A", "a", 117.5, 30.66]]),
        {(None, None)},
        "missing required column",
    ),
    Case(
        "missing-latitude-column",
        _csv([["id", "households", "lon"], ["A", 3, 117.5]]),
        {(None, None)},
        "missing coordinate column",
    ),
    Case(
        "non-numeric-longitude",
        _csv([H, ["A", "a", 10, 117.5, 30.66], ["B", "b", 10, "117度30分", 30.66]]),
        {(3, "经度")},
        "not a number",
    ),
    Case(
        "empty-latitude",
        _csv([H, ["A", "a", 10, 117.5, ""], ["B", "b", 10, 117.5, 30.66]]),
        {(2, "纬度")},
        "empty coordinate",
    ),
    Case(
        "duplicate-ids",
        _csv(
            [
                H,
                ["A", "a", 1, 117.5, 30.66],
                ["B", "b", 1, 117.5, 30.66],
                ["A", "c", 1, 117.5, 30.6],
            ]
        ),
        {(2, "编号"), (4, "编号")},
        "duplicate id",
    ),
    Case(
        "empty-id",
        _csv([["ID", "hh", "LNG", "LAT"], ["A", 1, 117.5, 30.66], ["", 2, 117.5, 30.66]]),
        {(3, "ID")},
        "empty id",
    ),
    Case(
        "negative-and-text-households",
        _csv([H, ["A", "a", -3, 117.5, 30.66], ["B", "b", "很多", 117.5, 30.66]]),
        {(2, "户数"), (3, "户数")},
        "households is negative",
    ),
    Case(
        "nan-households",
        _csv([H, ["A", "a", "NaN", 117.5, 30.66], ["B", "b", "", 117.5, 30.66]]),
        {(2, "户数"), (3, "户数")},
        "households is not a valid number",
    ),
    Case(
        "swapped-lonlat-csv",
        _csv([H, ["A", "a", 1, 117.5, 30.66], ["B", "b", 1, 30.6, 117.5]]),
        {(3, "经度/纬度")},
        "longitude and latitude look swapped",
    ),
    Case(
        "swapped-lonlat-via-study-area",
        # Kashgar (喀什): both numbers are valid degrees, only the study area shows the swap
        _csv([["id", "households", "x", "y"], ["A", 1, 75.99, 39.47], ["B", 1, 39.47, 75.99]]),
        {(3, "x/y")},
        "longitude and latitude look swapped",
        options={"study_area": (75.9, 39.4, 76.1, 39.55)},
    ),
    Case(
        "out-of-range",
        _csv([["id", "households", "lon", "lat"], ["A", 1, 39512345.6, 3395000.1]]),
        {(2, "lon/lat")},
        "out of range",
    ),
    Case(
        "outside-study-area",
        _csv([H, ["A", "a", 1, 117.5, 30.66], ["B", "b", 1, 118.5, 30.66]]),
        {(3, "经度/纬度")},
        "outside the study area",
        options={"study_area": AREA},
    ),
    Case(
        "blank-line-keeps-row-numbers",
        lambda d: (
            (d / "gap.csv").write_text(
                "编号,户数,经度,纬度\nA,1,117.5,30.66\n\nB,x,117.5,30.66\n", encoding="utf-8"
            )
            and d / "gap.csv"
        ),
        {(4, "户数")},
        "not a valid number",
    ),
    Case(
        "xlsx-bad-households",
        lambda d: write_xlsx(d / "xq.xlsx", [*table_rows(), ["C4", "d", "abc", 117.5, 30.66]]),
        {(5, "户数")},
        "households is not a valid number",
    ),
    Case(
        "xlsx-title-line-above-header",
        lambda d: write_xlsx(
            d / "titled.xlsx",
            [["池州市小区统计表"], [], *table_rows(), ["C4", "d", -1, 117.5, 30.66]],
        ),
        {(7, "户数")},
        "households is negative",
    ),
    Case(
        "xlsx-missing-sheet",
        lambda d: write_xlsx(d / "sheets.xlsx", table_rows()),
        {(None, None)},
        "sheet not found",
        options={"layer": "Sheet9"},
    ),
    Case(
        "geojson-null-and-empty-geometry",
        lambda d: write_geojson(
            d / "xq.geojson",
            [
                (pt(117.5, 30.66), {"id": "A", "户数": 1}),
                (None, {"id": "B", "户数": 2}),
                ({"type": "Polygon", "coordinates": []}, {"id": "C", "户数": 3}),
            ],
        ),
        {(2, "geometry"), (3, "geometry")},
        "empty geometry",
    ),
    Case(
        "geojson-swapped",
        lambda d: write_geojson(
            d / "sw.geojson", [(pt(30.66, 117.49), {"id": "A", "households": 1})]
        ),
        {(1, "geometry")},
        "look swapped",
    ),
    Case(
        "geojson-line-not-allowed",
        lambda d: write_geojson(
            d / "ln.geojson",
            [
                (
                    {"type": "LineString", "coordinates": [[117.5, 30.6], [117.6, 30.7]]},
                    {"id": "A"},
                ),
                (pt(117.5, 30.66), {"id": "B"}),
            ],
        ),
        {(1, "geometry")},
        "(unsupported geometry type) LineString",
        load="stations",
    ),
    Case(
        "geojson-empty-station-layer",
        lambda d: write_geojson(d / "none.geojson", []),
        {(None, None)},
        "layer has no rows",
        load="stations",
    ),
    Case(
        "gpkg-invalid-polygon",
        lambda d: write_vector(
            gpd.GeoDataFrame(
                {"id": ["A", "B"], "households": [10, 20]},
                geometry=[
                    Point(117.5, 30.66).buffer(0.001),
                    Polygon([(117.5, 30.6), (117.51, 30.61), (117.51, 30.6), (117.5, 30.61)]),
                ],
                crs="EPSG:4326",
            ),
            d / "xq.gpkg",
        ),
        {(2, "geometry")},
        "make_valid",
    ),
    Case(
        "gpkg-no-crs",
        lambda d: write_vector(base_gdf(crs=None), d / "nocrs.gpkg"),
        {(None, None)},
        "has no CRS",
        exc=CRSError,
    ),
    Case(
        "shapefile-no-prj",
        lambda d: (
            write_vector(base_gdf(), d / "noprj.shp"),
            (d / "noprj.prj").unlink(),
            d / "noprj.shp",
        )[-1],
        {(None, None)},
        ".prj",
        exc=CRSError,
    ),
    Case(
        "shapefile-duplicate-ids-and-nan-households",
        lambda d: write_vector(
            gpd.GeoDataFrame(
                {"code": ["K1", "K2", "K1"], "hh": [1.0, np.nan, 3.0]},
                geometry=gpd.points_from_xy([117.5] * 3, [30.66] * 3),
                crs="EPSG:4326",
            ),
            d / "dup.shp",
        ),
        {(1, "code"), (3, "code"), (2, "hh")},
        "same as feature 3",
    ),
    Case(
        "geoparquet-no-crs",
        lambda d: (base_gdf(crs=None).to_parquet(d / "nocrs.parquet"), d / "nocrs.parquet")[-1],
        {(None, None)},
        "has no CRS",
        exc=CRSError,
    ),
    Case(
        "geoparquet-station-capacity",
        lambda d: (
            gpd.GeoDataFrame(
                {"站点编号": ["S1", "S2", "S3"], "容量": [500.0, -1.0, None]},
                geometry=gpd.points_from_xy([117.5, 117.51, 117.52], [30.66, 30.66, 30.66]),
                crs="EPSG:4326",
            ).to_parquet(d / "st.parquet"),
            d / "st.parquet",
        )[-1],
        {(2, "容量")},
        "capacity is negative",
        load="stations",
    ),
    Case(
        "station-csv-text-capacity-and-far-point",
        _csv(
            [["name", "capacity", "lng", "lat"], ["s", "many", 117.5, 30.66], ["t", 5, 120, 30]],
            name="st.csv",
        ),
        {(2, "capacity"), (3, "lng/lat")},
        "capacity is not a valid number",
        load="stations",
        options={"study_area": AREA},
    ),
    Case(
        "id-column-override-missing",
        _csv(table_rows()),
        {(None, "小区代码")},
        "column not found",
        options={"id_column": "小区代码"},
    ),
    Case(
        "candidates-geojson-out-of-range-projected-numbers",
        lambda d: write_geojson(d / "cand.geojson", [(pt(39512345.0, 3395000.0), {"id": "P1"})]),
        {(1, "geometry")},
        "the file's CRS may be wrong",
        load="candidates",
    ),
]


def _call(case: Case, path: Path) -> Any:
    opts = dict(case.options)
    spec_opts = {k: opts.pop(k) for k in ("layer", "id_column", "coords") if k in opts}
    spec = LayerSpec(path=path, **spec_opts)
    if case.load == "compounds":
        return load_compounds(spec, **opts)
    if case.load == "stations":
        return load_stations(spec, service="party_station", **opts)
    return load_candidates(spec, **opts)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    path = case.write(tmp_path)
    with pytest.raises(case.exc) as info:
        _call(case, path)
    err = info.value
    assert type(err) is case.exc
    text = str(err)
    assert path.name in text
    assert case.phrase in text
    assert {(p.row, p.column) for p in err.problems} == case.problems
    for p in err.problems:
        assert p.file == str(path)
        line = f"- {p}"
        assert line in text.splitlines()
        if p.row is not None:
            # tables: the row Excel shows (header = row 1); geo files: the feature number
            unit = "row" if path.suffix.lower() in (".csv", ".xlsx") else "feature"
            assert p.unit == unit
            assert f"{unit} {p.row} (" in line or f"{unit} {p.row}," in line
        if p.column is not None:
            assert f"column {p.column!r}" in line
        # Chinese first, then English in parentheses
        assert p.message[0] > "\u2e80", p.message
        assert "(" in p.message
    n = len(err.problems)
    assert text.splitlines()[0].startswith(f"{path}: {n} problem(s) / 发现 {n} 个问题")


def test_bad_input_table_covers_every_format(tmp_path: Path) -> None:
    assert len(CASES) >= 18
    suffixes = set()
    for case in CASES:
        folder = tmp_path / case.id
        folder.mkdir()
        suffixes.add(case.write(folder).suffix)
    assert {".csv", ".xlsx", ".geojson", ".gpkg", ".shp", ".parquet"} <= suffixes


def test_all_problems_in_one_error(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "many.csv",
        [
            H,
            ["A", "a", 1, 117.5, 30.66],
            ["A", "b", -1, 117.5, 30.66],
            ["", "c", "x", "abc", 30.66],
            ["D", "d", 5, 30.66, 117.5],
        ],
    )
    with pytest.raises(InputError) as info:
        load_compounds(LayerSpec(path=path))
    got = [(p.row, p.column) for p in info.value.problems]
    assert sorted(got, key=str) == sorted(
        [
            (2, "编号"),
            (3, "编号"),
            (3, "户数"),
            (4, "编号"),
            (4, "户数"),
            (4, "经度"),
            (5, "经度/纬度"),
        ],
        key=str,
    )
    assert [r for r, _ in got] == sorted(r for r, _ in got)  # listed by row
    # Excel's row numbers (header = row 1), each beside the record's id and name
    assert "row 2 (A a)" in str(info.value) and "row 5 (D d)" in str(info.value)
    assert "row 4 (c), column '编号'" in str(info.value)  # no id: the name alone
    # the problems survive pickling (errors cross process boundaries)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.problems == info.value.problems and str(again) == str(info.value)


# --------------------------------------------------------------------------------------------
# good input


def _assert_compounds(gdf: gpd.GeoDataFrame, *, tol: float = 1e-9) -> None:
    assert list(gdf.columns[:4]) == ["compound_id", "name", "households", "households_source"]
    assert gdf.columns[-1] == "geometry"
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert gdf["compound_id"].tolist() == IDS
    assert pd.api.types.is_string_dtype(gdf["compound_id"])
    assert gdf["name"].tolist() == NAMES
    assert gdf["households"].dtype == np.float64
    assert gdf["households"].tolist() == HOUSEHOLDS
    assert (gdf["households_source"] == "given").all()
    np.testing.assert_allclose(gdf.geometry.x, LONS, atol=tol, rtol=0)
    np.testing.assert_allclose(gdf.geometry.y, LATS, atol=tol, rtol=0)
    assert isinstance(gdf.index, pd.RangeIndex)


WRITERS: dict[str, Callable[[Path], Path]] = {
    "csv": lambda d: write_csv(d / "xq.csv", table_rows()),
    "csv-gbk": lambda d: write_csv(d / "xq_gbk.csv", table_rows(), encoding="gbk"),
    "csv-utf8-bom": lambda d: write_csv(d / "xq_bom.csv", table_rows(), encoding="utf-8-sig"),
    "xlsx": lambda d: write_xlsx(d / "xq.xlsx", table_rows()),
    "geojson": lambda d: write_vector(base_gdf(), d / "xq.geojson"),
    "gpkg": lambda d: write_vector(base_gdf(), d / "xq.gpkg", layer="小区"),
    "shp": lambda d: write_vector(base_gdf(), d / "xq.shp"),
    "geoparquet": lambda d: (base_gdf().to_parquet(d / "xq.parquet"), d / "xq.parquet")[-1],
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_formats_round_trip(fmt: str, tmp_path: Path) -> None:
    path = WRITERS[fmt](tmp_path)
    _assert_compounds(load_compounds(LayerSpec(path=path), study_area=AREA))


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_inputs_are_never_modified(fmt: str, tmp_path: Path) -> None:
    path = WRITERS[fmt](tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    load_compounds(LayerSpec(path=path))
    read_layer(LayerSpec(path=path))
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, same mtimes: nothing written beside them


def test_gbk_shapefile_without_cpg(tmp_path: Path) -> None:
    path = write_vector(base_gdf(), tmp_path / "gbk.shp", encoding="GBK")
    assert (tmp_path / "gbk.cpg").read_text().strip().upper() == "GBK"
    (tmp_path / "gbk.cpg").unlink()
    raw = (tmp_path / "gbk.dbf").read_bytes()
    assert "秀山小区".encode("gbk") in raw  # really GBK bytes on disk
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    gdf = load_compounds(LayerSpec(path=path))
    _assert_compounds(gdf)
    # GDAL alone (no .cpg, no hint) would decode the .dbf as Latin-1: mojibake
    plain = pyogrio.read_dataframe(path)
    assert "名称" not in plain.columns


def test_shapefile_cpg_is_honoured_and_encoding_override(tmp_path: Path) -> None:
    path = write_vector(base_gdf(), tmp_path / "utf8.shp")  # pyogrio writes a UTF-8 .cpg
    _assert_compounds(load_compounds(LayerSpec(path=path)))
    gbk = write_vector(base_gdf(), tmp_path / "g.shp", encoding="GBK")
    (tmp_path / "g.cpg").unlink()
    _assert_compounds(load_compounds(LayerSpec(path=gbk, encoding="GBK")))


def test_english_and_mixed_case_columns(tmp_path: Path) -> None:
    rows = [["Compound_ID", "NAME", "HouseHolds", "Longitude", "LATITUDE", "community"]]
    rows += [
        [i, n, h, x, y, "秀山"]
        for i, n, h, x, y in zip(IDS, NAMES, HOUSEHOLDS, LONS, LATS, strict=True)
    ]
    gdf = load_compounds(LayerSpec(path=write_csv(tmp_path / "en.csv", rows)))
    _assert_compounds(gdf)
    assert gdf["community"].tolist() == ["秀山"] * 3
    assert "Longitude" not in gdf.columns  # coordinates live in the geometry


def test_column_overrides(tmp_path: Path) -> None:
    rows = [["小区代码", "小区全称", "常住户", "经度", "纬度"], *table_rows()[1:]]
    spec = LayerSpec(
        path=write_csv(tmp_path / "o.csv", rows),
        id_column="小区代码",
        name_column="小区全称",
        households_column="常住户",
    )
    _assert_compounds(load_compounds(spec))


def test_extra_columns_kept_and_typed(tmp_path: Path) -> None:
    rows = [[*H, "社区", "楼栋数", "街道代码"]]
    rows += [[*r, "秀山", 12, "007"] for r in table_rows()[1:]]
    rows[2][6] = ""  # one missing number
    gdf = load_compounds(LayerSpec(path=write_csv(tmp_path / "x.csv", rows)))
    assert gdf["社区"].tolist() == ["秀山"] * 3
    assert gdf["楼栋数"].dtype == np.float64 and np.isnan(gdf["楼栋数"][1])
    assert gdf["街道代码"].tolist() == ["007"] * 3  # codes with leading zeros stay text
    assert list(gdf.columns) == [
        "compound_id",
        "name",
        "households",
        "households_source",
        "社区",
        "楼栋数",
        "街道代码",
        "geometry",
    ]


def test_generated_ids_when_no_id_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [["名称", "户数", "经度", "纬度"], ["a", 1, 117.5, 30.66], ["", 2, 117.51, 30.66]]
    with caplog.at_level("INFO", logger="coverage.inputs"):
        gdf = load_compounds(LayerSpec(path=write_csv(tmp_path / "anon.csv", rows)))
    # <file stem>-<row>, the row as Excel shows it (header = row 1)
    assert gdf["compound_id"].tolist() == ["anon-2", "anon-3"]
    assert gdf["name"].tolist() == ["a", "anon-3"]  # a missing name falls back to the id
    assert "no id column" in caplog.text


def test_thousands_separator_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('编号,户数,经度,纬度\nA,"1,200", 117.5 ,30.66\n', encoding="utf-8")
    gdf = load_compounds(LayerSpec(path=path))
    assert gdf["households"].tolist() == [1200.0]
    assert gdf.geometry.x.tolist() == [117.5]


def test_semicolon_separator(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id;households;lon;lat\nA;3;117.5;30.66\n", encoding="utf-8")
    assert load_compounds(LayerSpec(path=path))["households"].tolist() == [3.0]


# published vector (googollee/eviltransform python/test.py, Shanghai):
# WGS-84 (31.1774276 N, 121.5272106 E) <-> GCJ-02 (31.17530398364597 N, 121.531541859215 E)
SH_WGS = (121.5272106, 31.1774276)
SH_GCJ = (121.531541859215, 31.17530398364597)
SH_AREA = (121.4, 31.1, 121.6, 31.3)


def test_gcj02_csv_converts_to_wgs84(tmp_path: Path) -> None:
    rows = [["id", "households", "lng", "lat"], ["sh", 10, *SH_GCJ], ["cz", 5, LONS[0], LATS[0]]]
    spec = LayerSpec(path=write_csv(tmp_path / "gcj.csv", rows), coords="gcj02")
    gdf = load_compounds(spec)
    geod = pyproj.Geod(ellps="WGS84")
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    assert geod.inv(x[0], y[0], *SH_WGS)[2] < 0.01  # the published WGS-84 point, < 1 cm
    ex, ey = gcj02_to_wgs84([SH_GCJ[0], LONS[0]], [SH_GCJ[1], LATS[0]])
    np.testing.assert_allclose(x, ex, atol=1e-12, rtol=0)
    np.testing.assert_allclose(y, ey, atol=1e-12, rtol=0)
    # the shift is real (hundreds of metres), so a forgotten conversion would fail
    assert geod.inv(*SH_GCJ, *SH_WGS)[2] > 400


def test_bd09_csv_and_study_area_after_conversion(tmp_path: Path) -> None:
    bx, by = wgs84_to_bd09(LONS, LATS)
    rows = [H] + [
        [i, n, h, x, y] for i, n, h, x, y in zip(IDS, NAMES, HOUSEHOLDS, bx, by, strict=True)
    ]
    spec = LayerSpec(path=write_csv(tmp_path / "bd.csv", rows), coords="bd09")
    _assert_compounds(load_compounds(spec, study_area=AREA, margin_km=0.0), tol=1e-8)


def test_gcj02_geo_file_converts_every_vertex(tmp_path: Path) -> None:
    poly = Polygon([(121.53, 31.17), (121.535, 31.17), (121.535, 31.178), (121.53, 31.178)])
    gdf = gpd.GeoDataFrame(
        {"id": ["p", "q"], "户数": [10, 20]}, geometry=[poly, Point(*SH_GCJ)], crs="EPSG:4326"
    )
    path = write_vector(gdf, tmp_path / "gcj.geojson")
    out = load_compounds(LayerSpec(path=path, coords="gcj02"), study_area=SH_AREA)
    got = shapely.get_coordinates(out.geometry.iloc[0])
    src = shapely.get_coordinates(poly)
    ex, ey = gcj02_to_wgs84(src[:, 0], src[:, 1])
    np.testing.assert_allclose(got, np.column_stack([ex, ey]), atol=1e-12, rtol=0)
    assert out.geometry.iloc[0].geom_type == "Polygon"  # compounds keep their polygons
    assert out.geometry.iloc[1].distance(Point(*SH_WGS)) < 1e-8


def test_bd09_geo_points(tmp_path: Path) -> None:
    bx, by = wgs84_to_bd09(LONS, LATS)
    gdf = gpd.GeoDataFrame(
        {"编号": IDS, "名称": NAMES, "户数": HOUSEHOLDS},
        geometry=gpd.points_from_xy(bx, by),
        crs="EPSG:4326",
    )
    path = write_vector(gdf, tmp_path / "bd.gpkg")
    out = load_compounds(LayerSpec(path=path, coords="bd09"))
    _assert_compounds(out, tol=1e-8)
    np.testing.assert_allclose(out.geometry.x, bd09_to_wgs84(bx, by)[0], atol=1e-12, rtol=0)


def test_projected_crs_is_converted(tmp_path: Path) -> None:
    path = write_vector(base_gdf().to_crs("EPSG:4549"), tmp_path / "cgcs.gpkg")  # CGCS2000 GK
    _assert_compounds(load_compounds(LayerSpec(path=path)), tol=1e-7)


def test_geojson_is_wgs84_by_definition(tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "plain.geojson",
        [
            (pt(x, y), {"编号": i, "名称": n, "户数": h})
            for i, n, h, x, y in zip(IDS, NAMES, HOUSEHOLDS, LONS, LATS, strict=True)
        ],
    )
    _assert_compounds(load_compounds(LayerSpec(path=path)))


def test_gpkg_layer_choice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "two.gpkg"
    write_vector(base_gdf(), path, layer="小区")
    other = base_gdf()
    other["户数"] = [1.0, 2.0, 3.0]
    write_vector(other, path, layer="other")
    _assert_compounds(load_compounds(LayerSpec(path=path, layer="小区")))
    assert load_compounds(LayerSpec(path=path, layer="other"))["households"].tolist() == [1, 2, 3]
    with caplog.at_level("INFO", logger="coverage.inputs"):
        _assert_compounds(load_compounds(LayerSpec(path=path)))  # the first layer
    assert "reading the first" in caplog.text
    with pytest.raises(InputError, match="layer not found"):
        load_compounds(LayerSpec(path=path, layer="nope"))


def test_xlsx_sheet_choice(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "wb.xlsx", [["说明"], ["无数据"]], sheet="说明")
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("小区")
    for r in table_rows():
        ws.append(r)
    wb.save(path)
    _assert_compounds(load_compounds(LayerSpec(path=path, layer="小区")))
    with pytest.raises(InputError) as info:  # the first sheet has no usable columns
        load_compounds(LayerSpec(path=path))
    assert "read the first sheet '说明'" in str(info.value)


def test_stations_points_polygons_and_capacity(tmp_path: Path) -> None:
    square = Polygon([(117.50, 30.66), (117.502, 30.66), (117.502, 30.662), (117.50, 30.662)])
    ring = Point(117.52, 30.67).buffer(0.002).difference(Point(117.52, 30.67).buffer(0.001))
    gdf = gpd.GeoDataFrame(
        {"站点名称": ["党群服务站", "食堂", "驿站"], "服务户数上限": [800, None, 300]},
        geometry=[Point(117.49, 30.65), square, ring],
        crs="EPSG:4326",
    )
    path = write_vector(gdf, tmp_path / "st.gpkg")
    st = load_stations(LayerSpec(path=path), service="party_station", study_area=AREA)
    assert list(st.columns) == ["station_id", "name", "service", "capacity", "geometry"]
    assert st["station_id"].tolist() == ["st-1", "st-2", "st-3"]
    assert st["name"].tolist() == ["党群服务站", "食堂", "驿站"]
    assert (st["service"] == "party_station").all()
    assert st["capacity"].dtype == np.float64
    assert st["capacity"].iloc[0] == 800 and np.isnan(st["capacity"].iloc[1])
    assert (st.geometry.geom_type == "Point").all()
    assert st.geometry.iloc[1].within(square)
    assert st.geometry.iloc[2].within(ring)  # inside the ring itself, not in its hole
    assert st.crs.to_epsg() == 4326


def test_stations_without_capacity_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", [["编号", "lon", "lat"], ["S1", 117.5, 30.66]])
    st = load_stations(LayerSpec(path=path), service="meal")
    assert st["station_id"].tolist() == ["S1"] and np.isnan(st["capacity"].iloc[0])
    assert st["name"].tolist() == ["S1"]


def test_duplicate_station_points_warn_with_rows(tmp_path: Path) -> None:
    rows = [
        ["id", "lon", "lat"],
        ["S1", 117.5, 30.66],
        ["S2", 117.51, 30.66],
        ["S3", 117.5, 30.66],
    ]
    path = write_csv(tmp_path / "dups.csv", rows)
    with pytest.warns(CoverageWarning) as record:
        st = load_stations(LayerSpec(path=path), service="meal")
    assert len(st) == 3  # kept, not dropped
    text = str(record[0].message)
    assert "dups.csv" in text and "row 2 (S1)" in text and "row 4 (S3)" in text
    assert "row 3" not in text


def test_candidates(tmp_path: Path) -> None:
    rows = [["候选点编号", "名称", "容量", "经度", "纬度"], ["P1", "空置用房", 400, 117.5, 30.66]]
    cand = load_candidates(LayerSpec(path=write_csv(tmp_path / "c.csv", rows)), study_area=AREA)
    assert list(cand.columns) == ["candidate_id", "name", "capacity", "geometry"]
    assert cand["candidate_id"].tolist() == ["P1"] and cand["capacity"].tolist() == [400.0]


def test_read_layer_keeps_attributes(tmp_path: Path) -> None:
    gdf = read_layer(LayerSpec(path=WRITERS["csv"](tmp_path)))
    assert list(gdf.columns) == ["编号", "名称", "户数", "geometry"]
    assert gdf["编号"].tolist() == IDS  # "001" stays text
    assert gdf["户数"].tolist() == HOUSEHOLDS
    np.testing.assert_allclose(gdf.geometry.x, LONS)
    lines = write_geojson(
        tmp_path / "roads.geojson",
        [({"type": "LineString", "coordinates": [[117.5, 30.6], [117.6, 30.7]]}, {"n": 1})],
    )
    assert read_layer(LayerSpec(path=lines)).geometry.iloc[0].geom_type == "LineString"
    with pytest.raises(ValueError, match="unknown role"):
        read_layer(LayerSpec(path=lines), role="parks")


def test_plain_parquet_is_read_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame(
        {"编号": IDS, "名称": NAMES, "户数": HOUSEHOLDS, "经度": LONS, "纬度": LATS}
    ).to_parquet(path)
    _assert_compounds(load_compounds(LayerSpec(path=path)))


def test_multipoint_with_one_point_is_a_point(tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "mp.geojson",
        [({"type": "MultiPoint", "coordinates": [[117.5, 30.66]]}, {"id": "S1"})],
    )
    st = load_stations(LayerSpec(path=path), service="meal")
    assert st.geometry.iloc[0].equals(Point(117.5, 30.66))


def test_study_area_margin(tmp_path: Path) -> None:
    # 3 km east of the area's east edge (117.60): fine with 5 km, an error with 1 km
    lon = 117.60 + 3.0 / (111.32 * np.cos(np.radians(30.66)))
    path = write_csv(tmp_path / "m.csv", [["id", "households", "lon", "lat"], ["A", 1, lon, 30.66]])
    load_compounds(LayerSpec(path=path), study_area=AREA, margin_km=5.0)
    with pytest.raises(InputError, match="more than 1 km outside"):
        load_compounds(LayerSpec(path=path), study_area=AREA, margin_km=1.0)


def test_households_source_of_a_derived_layer_is_kept(tmp_path: Path) -> None:
    rows = [[*H, "households_source"]]
    rows += [[*r, s] for r, s in zip(table_rows()[1:], ["estimated", "", "given"], strict=True)]
    gdf = load_compounds(LayerSpec(path=write_csv(tmp_path / "x.csv", rows)))
    assert gdf["households_source"].tolist() == ["estimated", "given", "given"]
    assert "households_source" in gdf.columns and list(gdf.columns).count("households_source") == 1


# --------------------------------------------------------------------------------------------
# coordinate columns as planners name them; rows as Excel shows them


def _gcj(lon: list[float], lat: list[float]) -> tuple[list[float], list[float]]:
    """WGS-84 positions as a Gaode (GCJ-02) export gives them (inverted numerically)."""
    from coverage.coords import wgs84_to_gcj02

    x, y = wgs84_to_gcj02(np.array(lon), np.array(lat))
    return [round(v, 7) for v in x], [round(v, 7) for v in y]


def test_gcj_named_columns_in_a_gbk_csv_are_converted(tmp_path: Path) -> None:
    gx, gy = _gcj(LONS, LATS)
    rows = [["小区编号", "小区名称", "户数", "经度(GCJ)", "纬度(GCJ)"]] + [
        list(r) for r in zip(IDS, NAMES, HOUSEHOLDS, gx, gy, strict=True)
    ]
    path = write_csv(tmp_path / "xq.csv", rows, encoding="gbk")
    with pytest.warns(CoverageWarning, match=r"GCJ-02") as record:
        gdf = load_compounds(LayerSpec(path=path), study_area=AREA)
    message = str(record[0].message)
    assert "经度(GCJ)/纬度(GCJ)" in message and "coords" in message  # says so, and the fix
    want_x, want_y = gcj02_to_wgs84(np.array(gx), np.array(gy))
    np.testing.assert_allclose(gdf.geometry.x, want_x, atol=1e-9)
    np.testing.assert_allclose(gdf.geometry.y, want_y, atol=1e-9)
    # within a few centimetres of where the compounds really are (not 500 m off)
    np.testing.assert_allclose(gdf.geometry.x, LONS, atol=1e-6)
    assert gdf.attrs["coords"] == "gcj02"
    assert "经度(GCJ)" not in gdf.columns  # the geometry holds them
    # an explicit, agreeing coords: no warning, the same points
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = load_compounds(LayerSpec(path=path, coords="gcj02", coords_explicit=True))
    assert same.geometry.equals(gdf.geometry)


@pytest.mark.parametrize(
    ("lon", "lat", "coords", "phrase"),
    [
        ("经度（GCJ-02）", "纬度（GCJ-02）", "wgs84", 'the study file sets coords = "wgs84"'),
        ("lng_bd09", "lat_bd09", "gcj02", "the column names say BD-09"),
        ("经度(GCJ)", "纬度(WGS84)", None, "经度(GCJ) -> GCJ-02, 纬度(WGS84) -> WGS-84"),
        ("lon_wgs84", "lat_gcj02", None, "lon_wgs84 -> WGS-84, lat_gcj02 -> GCJ-02"),
    ],
)
def test_column_datum_contradicting_coords_is_refused(
    tmp_path: Path, lon: str, lat: str, coords: str | None, phrase: str
) -> None:
    path = write_xlsx(tmp_path / "st.xlsx", [["编号", lon, lat], ["S1", 117.5, 30.66]])
    spec = LayerSpec(path=path, coords=coords or "wgs84", coords_explicit=coords is not None)
    with pytest.raises(InputError) as info:
        load_stations(spec, service="party")
    assert phrase in str(info.value)
    assert info.value.problems[0].column == f"{lon}/{lat}"


def test_bd_named_columns_and_lon_lat_column_keys(tmp_path: Path) -> None:
    bx, by = wgs84_to_bd09(np.array(LONS), np.array(LATS))
    rows = [["编号", "lng_bd09", "lat_bd09", "E", "N"]] + [
        [i, x, y, lo, la] for i, x, y, lo, la in zip(IDS, bx, by, LONS, LATS, strict=True)
    ]
    path = write_csv(tmp_path / "st.csv", rows)
    with pytest.warns(CoverageWarning, match="BD-09"):
        st = load_stations(LayerSpec(path=path), service="meal")
    np.testing.assert_allclose(st.geometry.x, bd09_to_wgs84(bx, by)[0], atol=1e-9)
    # lon_column / lat_column pick any columns (these hold WGS-84 numbers)
    st = load_stations(LayerSpec(path=path, lon_column="E", lat_column="N"), service="meal")
    np.testing.assert_allclose(st.geometry.x, LONS, atol=1e-12)
    assert "lng_bd09" in st.columns  # not the coordinates: kept as a column
    with pytest.raises(InputError, match=r"column not found.*'East'.*set as lon_column"):
        load_stations(LayerSpec(path=path, lon_column="East"), service="meal")


def test_two_candidate_longitude_columns_need_lon_column(tmp_path: Path) -> None:
    rows = [["编号", "经度(WGS84)", "经度(GCJ)", "纬度"], ["S1", 117.5, 117.505, 30.66]]
    path = write_csv(tmp_path / "st.csv", rows)
    with pytest.raises(InputError, match=r"several columns look like the longitude.*lon_column"):
        load_stations(LayerSpec(path=path), service="meal")
    # an explicit coords picks the column that says it
    st = load_stations(LayerSpec(path=path, coords="wgs84", coords_explicit=True), service="m")
    assert st.geometry.x.iloc[0] == pytest.approx(117.5)


def test_missing_coordinates_mention_the_column_keys(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "st.csv", [["编号", "东", "北"], ["S1", 117.5, 30.66]])
    with pytest.raises(InputError) as info:
        load_stations(LayerSpec(path=path), service="meal")
    assert "lon_column" in str(info.value) and "lat_column" in str(info.value)


def test_row_errors_use_excel_rows_and_name_the_record(tmp_path: Path) -> None:
    """Today's "row 3" of a CSV was Excel's row 4; geo files count features."""
    rows = [*table_rows(), ["C4", "河滨花园", -5, 117.5, 30.66]]
    csv_path = write_csv(tmp_path / "xq.csv", rows, encoding="gbk")
    xlsx_path = write_xlsx(tmp_path / "xq.xlsx", [["池州市小区表"], *rows])
    for path, row in ((csv_path, 5), (xlsx_path, 6)):
        with pytest.raises(InputError) as info:
            load_compounds(LayerSpec(path=path))
        (p,) = info.value.problems
        assert (p.row, p.unit, p.record, p.column) == (row, "row", "C4 河滨花园", "户数")
        assert f"row {row} (C4 河滨花园), column '户数': 户数为负数" in str(info.value)
        assert "Excel" in str(info.value).splitlines()[0]  # the header says what rows count
        # the row the message names holds the record in the file as a spreadsheet shows it
        if path.suffix == ".xlsx":
            ws = openpyxl.load_workbook(path).active
            assert ws is not None and ws.cell(row=row, column=1).value == "C4"
        else:
            assert path.read_text(encoding="gbk").splitlines()[row - 1].startswith("C4,")
    gdf = base_gdf().assign(户数=[1.0, -2.0, 3.0])
    geo = write_vector(gdf, tmp_path / "xq.gpkg")
    with pytest.raises(InputError) as info:
        load_compounds(LayerSpec(path=geo))
    (p,) = info.value.problems
    assert str(p).startswith(f"{geo}, feature 2 (A2 翠苑), column '户数'")
    assert "feature N" in str(info.value).splitlines()[0]


def test_multi_line_cell_keeps_excel_rows_and_names_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "xq.csv"
    path.write_text(
        '编号,名称,户数,经度,纬度\nA1,"秀山\n小区",10,117.5,30.66\nA2,翠苑,x,117.5,30.66\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_compounds(LayerSpec(path=path))
    (p,) = info.value.problems
    # Excel shows the quoted two-line cell in one row: A2 is row 3, on line 4 of the text
    assert (p.row, p.record) == (3, "A2 翠苑")
    assert p.message.endswith("(文件第 4 行 / line 4 of the file)")


def test_any_layer_names_the_feature_beside_its_number(tmp_path: Path) -> None:
    bowtie = Polygon([(117.5, 30.6), (117.51, 30.61), (117.51, 30.6), (117.5, 30.61)])
    areas = gpd.GeoDataFrame(
        {"name": ["秋浦街道", "池阳街道"]},
        geometry=[Point(117.5, 30.66).buffer(0.01), bowtie],
        crs="EPSG:4326",
    )
    path = write_vector(areas, tmp_path / "areas.gpkg")
    with pytest.raises(InputError) as info:
        read_layer(LayerSpec(path=path))
    (p,) = info.value.problems
    assert str(p).startswith(f"{path}, feature 2 (池阳街道), column 'geometry': 几何无效")


# --------------------------------------------------------------------------------------------
# the messages' language: Chinese with the English (zh), English only (en)


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _problems_text(spec: LayerSpec, load: Callable[..., Any] = load_compounds) -> str:
    extra = {"service": "party"} if load is load_stations else {}
    with pytest.raises(InputError) as err:
        load(spec, study_area=AREA, **extra)
    return str(err.value)


def test_layer_messages_are_english_only_for_en(tmp_path: Path) -> None:
    rows = [
        ["id", "name", "households", "lon", "lat"],
        ["A1", "one", -5, 117.49, 30.66],
        ["A1", "two", "many", 117.50, 30.66],
        ["", "three", None, 30.66, 117.49],
        ["A4", "four", 10, "x", 200],
    ]
    csv = write_csv(tmp_path / "compounds.csv", rows)
    en = _problems_text(LayerSpec(path=csv, language="en"))
    assert not _has_cjk(en), en
    for part in (
        "compounds.csv: 8 problem(s) (row N as Excel shows it, header = row 1)",
        "row 2 (A1 one), column 'households': households is negative: '-5'; enter a number >= 0",
        "duplicate id 'A1': same as row 2; every id must be unique",
        "households is not a valid number: 'many'",
        "empty id; give every row a unique id",
        "households is empty",
        "longitude and latitude look swapped",
        "coordinate is not a number: 'x'",
    ):
        assert part in en, (part, en)
    zh = _problems_text(LayerSpec(path=csv))
    assert "户数为负数 (households is negative): '-5'; 请填写非负数字 (enter a number >= 0)" in zh
    assert "发现 8 个问题" in zh and "编号为空 (empty id)" in zh
    # the same problems, one message each, in either language
    assert len(zh.splitlines()) == len(en.splitlines())


def test_missing_columns_and_files_in_english(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "stations.csv", [["id", "name", "x_coord"], ["S1", "a", 1]])
    en = _problems_text(LayerSpec(path=csv, language="en"), load_stations)
    # ("x_coord" reads as the longitude); the accepted names include Chinese column names
    names = ("纬度", "北纬", "经度(GCJ)")
    assert not _has_cjk(en.translate({ord(c): None for c in "".join(names)})), en
    assert "missing coordinate column (latitude); accepted names: lat, latitude, y, 纬度" in en
    for spec in (
        LayerSpec(path=tmp_path / "nowhere.csv", language="en"),
        LayerSpec(path=write_csv(tmp_path / "empty.csv", [["id", "lon", "lat"]]), language="en"),
        LayerSpec(
            path=write_csv(tmp_path / "s.csv", [["id", "lon", "lat"], ["S1", 117.49, 30.66]]),
            id_column="code",
            language="en",
        ),
    ):
        text = _problems_text(spec, load_stations)
        assert not _has_cjk(text), text
    shp = tmp_path / "nocrs.parquet"
    base_gdf(crs=None).to_parquet(shp)
    text = _problems_text(LayerSpec(path=shp, language="en"), load_stations)
    assert "the file has no CRS; define its CRS in your GIS" in text and not _has_cjk(text)


def test_column_name_datum_warning_in_english(tmp_path: Path) -> None:
    csv = write_csv(
        tmp_path / "stations.csv",
        [["id", "name", "lng_gcj02", "lat_gcj02"], ["S1", "a", 117.4901, 30.6601]],
    )
    with pytest.warns(CoverageWarning) as caught:
        load_stations(LayerSpec(path=csv, language="en"), service="party", study_area=AREA)
    text = "\n".join(str(w.message) for w in caught)
    assert "the column names say GCJ-02" in text and not _has_cjk(text), text
