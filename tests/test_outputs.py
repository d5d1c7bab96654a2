"""Tests for coverage.outputs: the files written and the lines the terminal shows."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import coverage as cp
from coverage import outputs, pipeline


def test_pipeline_keeps_write_analysis() -> None:
    assert pipeline.write_analysis is outputs.write_analysis is cp.write_analysis


def test_csv_is_the_table_rounded_for_people(analysis_and_files: tuple[cp.Analysis, Path]) -> None:
    analysis, out = analysis_and_files
    table = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    assessed = pd.concat([r.assessed for r in analysis.services.values()], ignore_index=True)
    assert len(table) == len(assessed)
    walk = assessed["walk_min"].round(2).to_numpy()
    assert ((table["walk_min"] == walk) | (table["walk_min"].isna() & pd.isna(walk))).all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["note"] == "test note" and summary["services"] == analysis.summary


@pytest.mark.parametrize("lang", ["zh", "en", None])
def test_coverage_lines(analysis_and_files: tuple[cp.Analysis, Path], lang: str | None) -> None:
    analysis, _ = analysis_and_files
    lines = outputs.coverage_lines(analysis, lang=lang)
    heads = [ln for ln in lines if not ln.startswith("  ")]
    assert len(heads) == len(analysis.services)
    for head, (key, svc) in zip(heads, analysis.summary.items(), strict=True):
        label = svc["label_en"] if lang == "en" else svc["label_zh"]
        assert head.startswith(label)
        for minutes, v in svc["thresholds"].items():
            assert f"{minutes} min {v['share_covered']:.1%}" in head
        gaps = analysis.services[key].gaps
        assert f"{len(gaps)} " in head
        named = lines[lines.index(head) + 1 : lines.index(head) + 1 + min(3, len(gaps))]
        for row, line in zip(gaps.head(3).itertuples(), named, strict=True):
            assert line.startswith("  ") and row.name in line
    # the analysis carries the study's language (zh here): it is the default
    assert outputs.coverage_lines(analysis) == outputs.coverage_lines(analysis, lang="zh")


@pytest.mark.parametrize(
    ("reason", "walk", "zh", "en"),
    [
        ("beyond_threshold", 17.25, "步行 17.2 分钟", "17.2 min walk"),
        ("unreachable", float("nan"), "路网不连通，无法到达", "unreachable on the walk network"),
        ("far_from_network", float("nan"), "距步行道路过远", "too far from any walkable way"),
    ],
)
def test_gap_line_says_why(reason: str, walk: float, zh: str, en: str) -> None:
    row = SimpleNamespace(rank=2, name="秀山小区", households=1234.0, walk_min=walk, reason=reason)
    assert outputs.gap_line(row, lang="zh") == f"缺口 2: 秀山小区（1,234 户，{zh}）"
    assert outputs.gap_line(row, lang="en") == f"gap 2: 秀山小区 (1,234 households, {en})"


def test_table_for_people_reads_well_in_excel() -> None:
    import geopandas as gpd
    import numpy as np
    import shapely

    from coverage.coords import wgs84_to_gcj02

    frame = gpd.GeoDataFrame(
        {
            "compound_id": ["a", "b", "c"],
            "name": ["秀山小区", "东区", "西苑"],
            "service": ["party", "party", "meal"],
            "households": [120.0, 85.5, np.nan],
            "nearest_station_id": ["P1", None, "M1"],
            "share_covered": [0.099, 1.0, np.nan],  # summary.csv rounded 9.9% to 0.1
            "covered_5min": [True, False, True],
            "walk_min": [3.14159, np.nan, 12.0],
        },
        geometry=[shapely.Point(116.35, 40.0), shapely.box(116.0, 40.0, 116.02, 40.01), None],
        crs=4326,
    )
    names = {("party", "P1"): "农大站", ("meal", "M1"): "助餐点"}
    labels_ = {"party": "党群服务站", "meal": "助餐点"}
    zh = outputs.table_for_people(
        frame,
        service_labels=labels_,
        station_names=names,
        locate=True,
        gcj02=True,
        note="试点",
    )
    assert list(zh.columns) == [
        "compound_id",
        "name",
        "lon",
        "lat",
        "lon_gcj02",
        "lat_gcj02",
        "service",
        "service_label",
        "households",
        "nearest_station_id",
        "nearest_station_name",
        "share_covered",
        "covered_5min",
        "walk_min",
        "note",
    ]
    assert zh["covered_5min"].tolist() == ["是", "否", "是"]
    assert zh["households"].tolist() == [120, 85.5, None]
    assert isinstance(zh["households"][0], int)
    assert zh["share_covered"].tolist() == ["9.9%", "100.0%", ""]
    assert zh["service_label"].tolist() == ["党群服务站", "党群服务站", "助餐点"]
    assert zh["nearest_station_name"].fillna("").tolist() == ["农大站", "", "助餐点"]
    assert zh["walk_min"][0] == 3.14 and zh["note"].eq("试点").all()
    assert (zh["lon"][0], zh["lat"][0]) == (116.35, 40.0)
    inside = shapely.Point(zh["lon"][1], zh["lat"][1])
    assert frame.geometry[1].contains(inside)  # a point inside the polygon
    glon, glat = wgs84_to_gcj02(116.35, 40.0)
    assert abs(zh["lon_gcj02"][0] - glon) < 1e-6 and abs(zh["lat_gcj02"][0] - glat) < 1e-6
    en = outputs.table_for_people(frame, lang="en")
    assert en["covered_5min"].tolist() == [1, 0, 1]
    assert "lon" not in en and "note" not in en and "service_label" not in en
    assert frame["households"].isna().sum() == 1  # the input is not changed


# ---------------------------------------------------------------------------------------------
# table_for_people's vectorised steps against the plain loops they replaced


def _whole_as_int_loop(values: pd.Series) -> pd.Series:
    out: list[int | float | None] = []
    for v in values.to_numpy(dtype=float):
        if not np.isfinite(v):
            out.append(None)
        elif v == round(v):
            out.append(int(v))
        else:
            out.append(round(float(v), outputs.CSV_DECIMALS))
    return pd.Series(out, index=values.index, dtype=object)


def _lonlat_loop(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    geoms = np.asarray(geometry.values, dtype=object)
    points = np.array(
        [g if g is None or g.geom_type == "Point" else None for g in geoms], dtype=object
    )
    other = points == None  # noqa: E711 (elementwise)
    points[other] = shapely.point_on_surface(geoms[other])
    return shapely.get_x(points), shapely.get_y(points)


def test_whole_as_int_and_lonlat_match_the_loops() -> None:
    rng = np.random.default_rng(4)
    v = np.r_[
        [0.0, -0.0, 1.0, -3.0, 2.675, 0.125, 1e15, 2.0**62, 2.0**63, 1e20, -1e20, 1e300],
        [np.nan, np.inf, -np.inf, 5e-324, 0.005, 120.5],
        rng.integers(0, 3000, 300).astype(float),
        np.round(rng.uniform(-1e6, 1e6, 300), 3),
    ]
    values = pd.Series(v, index=np.arange(len(v)) * 3)
    got, want = outputs._whole_as_int(values), _whole_as_int_loop(values)
    assert got.index.equals(want.index) and got.dtype == want.dtype == object
    assert [(type(a), a) for a in got] == [(type(b), b) for b in want]
    geoms = gpd.GeoSeries(
        [
            shapely.Point(1, 2),
            None,
            shapely.box(0, 0, 1, 1),
            shapely.Polygon([(0, 0), (2, 0), (2, 2), (1.9, 0.1)]),
            shapely.MultiPolygon([shapely.box(5, 5, 6, 6)]),
        ],
        crs=4326,
    )
    for a, b in zip(outputs._lonlat(geoms), _lonlat_loop(geoms), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_table_for_people_flags_and_station_names(lang: str) -> None:
    frame = pd.DataFrame(
        {
            "compound_id": ["c1", "c2", "c3", "c4"],
            "name": ["a", "b", "c", "d"],
            "service": pd.array(["s", "s", "t", None], dtype="str"),
            "nearest_station_id": pd.array(["x", None, "x", "x"], dtype="str"),
            "covered_5min": [True, False, True, False],
            "over": pd.Series([True, None, False, None], dtype=object),
        }
    )
    names = {("s", "x"): "站 x", ("t", "y"): "站 y"}
    got = outputs.table_for_people(frame, lang=lang, station_names=names)
    yes, no = outputs.FLAG_VALUES[lang]
    keys = zip(frame["service"], frame["nearest_station_id"], strict=True)
    want = pd.DataFrame({"nearest_station_name": [names.get(k) for k in keys]})
    pd.testing.assert_series_equal(got["nearest_station_name"], want["nearest_station_name"])
    assert got["nearest_station_name"].iloc[0] == "站 x"
    for col in ("covered_5min", "over"):  # the vectorised bool path and the object path
        flags = frame[col].map(lambda v: None if pd.isna(v) else (yes if v else no))
        pd.testing.assert_series_equal(got[col], flags)
    none = outputs.table_for_people(frame, lang=lang, station_names={})
    assert none["nearest_station_name"].isna().all()


def test_geopackage_layers_are_the_stacked_frames(
    analysis_and_files: tuple[cp.Analysis, Path],
) -> None:
    """Each compound's shape comes back on each service's row (written once as WKB)."""
    analysis, out = analysis_and_files
    assert len(analysis.services) > 1
    for layer, part in (("compounds", "assessed"), ("stations", "loads"), ("gaps", "gaps")):
        frame = pd.concat([getattr(r, part) for r in analysis.services.values()], ignore_index=True)
        back = gpd.read_file(out / "coverage.gpkg", layer=layer)
        assert back.crs.to_epsg() == 4326
        assert list(back.columns) == [*frame.columns.drop("geometry"), "geometry"]
        got, want = back.geometry.to_numpy(), frame.geometry.to_numpy()
        # no mix of polygons and multipolygons in a layer: polygons come back as one-part ones
        promoted = shapely.get_type_id(got) != shapely.get_type_id(want)
        assert (shapely.get_type_id(want[promoted]) == shapely.GeometryType.POLYGON).all()
        assert (shapely.get_num_geometries(got[promoted]) == 1).all()
        got[promoted] = shapely.get_geometry(got[promoted], 0)
        assert shapely.equals_exact(got, want, 0).all()
        for col in frame.columns.drop("geometry"):
            values, known = back[col], frame[col]
            assert (
                (values.to_numpy() == known.to_numpy()) | (values.isna().to_numpy() & known.isna())
            ).all(), (layer, col)
    compounds = pd.concat([r.assessed for r in analysis.services.values()])
    assert compounds["compound_id"].duplicated().any()  # the same compounds, once per service
