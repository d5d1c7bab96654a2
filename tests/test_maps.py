"""The coverage map: what the exported HTML contains (the browser tests check what it does)."""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from _mapdata import PAYLOADS, analysed
from coverage import coords, dataedge, maps
from coverage._leaflet import LEAFLET_SHA256, leaflet_assets
from coverage.errors import InputError


@pytest.fixture(scope="module")
def case() -> tuple:
    return analysed()


def _html(case: tuple, **kw: object) -> str:
    study, net, analysis = case
    kw.setdefault("basemap", "none")
    return maps.map_html(maps.coverage_map(analysis, study=study, network=net, **kw))


def _layers(html: str) -> list[dict]:
    """The GeoJSON data given to the page's cpLayer calls, parsed."""
    texts = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    return [json.loads(t) for t in texts]


@pytest.mark.parametrize("payload", [*PAYLOADS, "a\\b", "x'y\"z", "</script><script>"])
def test_escape_text_leaves_nothing_that_ends_a_string_or_a_tag(payload: str) -> None:
    out = maps.escape_text(payload)
    assert not set(out) & set("<>\"'`$\\")
    assert html.unescape(out) == payload  # shows as the same text


def test_no_remote_script_or_stylesheet_and_leaflet_matches_the_pinned_package(case) -> None:
    html = _html(case)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=", html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html, re.I)
    for lib in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert lib not in html.lower()
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    pinned = resources.files("js_lib_leaflet").joinpath("static/js_lib_leaflet/leaflet.js")
    package_hash = hashlib.sha256(pinned.read_bytes()).hexdigest()
    inlined = [hashlib.sha256(s.encode("utf-8")).hexdigest() for s in scripts]
    assert package_hash == LEAFLET_SHA256["leaflet.js"]
    assert inlined.count(package_hash) == 1
    # the layer-control icons are inlined; the unused marker icon is not referenced
    assert "url(data:image/png;base64," in leaflet_assets().css
    assert "marker-icon" not in leaflet_assets().css.split(".leaflet-default-icon-path")[1][:80]


def test_payloads_never_appear_raw_in_the_page(case) -> None:
    html = _html(case)
    for payload in PAYLOADS:
        assert payload not in html
    assert "<b>粗体</b>" not in html  # the study name is text, not markup
    assert "&amp;lt;img src=x onerror=alert(1)&amp;gt;" not in html  # escaped once, not twice


def test_features_counts_rounding_and_shared_styles(case) -> None:
    _study, _net, analysis = case
    html = _html(case)
    layers = _layers(html)
    counts = [len(fc["features"]) for fc in layers]
    n_compounds = len(analysis.services["party"].assessed)
    uncovered = int((~analysis.services["party"].assessed["covered_6min"]).sum())
    # basemap (3 classes), compounds, gaps, meal stations, party stations
    assert counts == [3, n_compounds, uncovered, 2, 3]
    decimals = re.findall(r"\d+\.(\d+)", json.dumps([fc for fc in layers]))
    assert max(len(d) for d in decimals) <= 6
    # styles are given once per layer, not per feature
    assert html.count('"fillColor"') <= 12
    compounds = layers[1]["features"]
    assert {f["geometry"]["type"] for f in compounds} == {"Polygon", "Point"}
    points = [f for f in compounds if f["geometry"]["type"] == "Point"]
    assert all("r" in f["properties"] for f in points)  # circles sized by households


def test_the_analysis_circles_are_drawn_by_default() -> None:
    with_circles = analysed(circles=True)
    analysis = with_circles[2]
    circles = analysis.services["party"].circles
    layers = _layers(_html(with_circles))
    # basemap, then one layer per threshold (largest first), then the compound layers
    assert [len(fc["features"]) for fc in layers[1:4]] == [1, 1, 1]
    assert len(layers) == 3 + len(_layers(_html(analysed())))
    assert sorted(circles["minutes"]) == [2.0, 4.0, 6.0]
    # an explicit empty frame draws none
    assert len(_layers(_html(with_circles, isochrones=circles.iloc[:0]))) == len(layers) - 3


def test_compound_bands_follow_walk_minutes(case) -> None:
    _study, _net, analysis = case
    assessed = analysis.services["party"].assessed
    compounds = _layers(_html(case))[1]["features"]
    expected = [0 if w <= 2 else 1 if w <= 4 else 2 if w <= 6 else 3 for w in assessed["walk_min"]]
    assert [f["properties"]["s"] for f in compounds] == expected


def test_network_basemap_draws_major_roads_thicker(case) -> None:
    html = _html(case)
    match = re.search(r'textContent\),\s*(\{"styles".*?\})\s*\);', html)
    assert match is not None
    weights = [s["weight"] for s in json.loads(match.group(1))["styles"]]
    assert weights == sorted(weights) and weights[2] > 2 * weights[0]
    fc = _layers(html)[0]
    primary = fc["features"][2]["geometry"]["coordinates"]
    assert len(primary) == 7  # the middle row of the lattice: 7 primary edges


def test_gaode_shifts_every_layer_to_gcj02_and_says_so(case) -> None:
    _study, _net, analysis = case
    html = _html(case, basemap="gaode")
    assert "GCJ-02" in html and "autonavi" in html
    party = _layers(html)[-1]["features"]
    d1 = analysis.services["party"].loads.set_index("station_id").geometry["D1"]
    lon, lat = coords.wgs84_to_gcj02(d1.x, d1.y)
    got = party[0]["geometry"]["coordinates"]
    assert got == pytest.approx([lon, lat], abs=1e-6)
    assert abs(got[0] - d1.x) > 1e-4  # really moved (Beijing: about 600 m)


def test_tianditu_needs_a_key_from_the_study_or_the_environment(case, monkeypatch) -> None:
    study, _net, analysis = case
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(InputError, match="TIANDITU_KEY"):
        maps.coverage_map(analysis, study=study, basemap="tianditu")
    monkeypatch.setenv("TIANDITU_KEY", "abc123def456")
    html = maps.map_html(maps.coverage_map(analysis, study=study, basemap="tianditu"))
    assert "tianditu.gov.cn" in html and "tk=abc123def456" in html and "cva_w" in html
    with pytest.raises(InputError, match="letters and digits"):
        maps.coverage_map(analysis, study=study, basemap="tianditu", tianditu_key="a&b<c>1234")
    _, _, keyed = analysed(tianditu_key="fromstudy123")
    html = maps.map_html(
        maps.coverage_map(keyed, study=analysed(tianditu_key="fromstudy123")[0], basemap="tianditu")
    )
    assert "tk=fromstudy123" in html


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"service": "nope"}, "service"),
        ({"basemap": "google"}, "basemap"),
        ({"lang": "fr"}, "lang"),
    ],
)
def test_bad_options_are_refused_naming_the_key(case, kw, message) -> None:
    study, _net, analysis = case
    with pytest.raises(InputError, match=message):
        maps.coverage_map(analysis, study=study, **kw)


def test_english_labels_and_the_sample_note(case) -> None:
    html = _html(case, lang="en")
    assert "Compounds: walk time to Party" in html and "步行到" not in html
    assert "示例数据" in html  # the study's note is shown as given
    html_zh = _html(case)
    assert "小区：步行到党群服务站的时间" in html_zh and "数据日期" not in html_zh
    assert "数据日期：2026-11" in _html(case, data_date="2026-11")


def test_isochrones_and_sites_are_drawn_when_given(case) -> None:
    _study, _net, analysis = case
    loads = analysis.services["party"].loads
    iso = gpd.GeoDataFrame(
        {
            "station_id": list(loads["station_id"]) * 2 + ["M1"],
            "minutes": [2.0] * 3 + [4.0] * 3 + [4.0],
        },
        geometry=[*loads.to_crs(32650).buffer(150).to_crs(4326)] * 2
        + [Point(116.3, 40.0).buffer(0.001)],
        crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["S2", "S1"], "rank": [2, 1], "households_added": [120.0, 300.0]},
        geometry=[Point(116.301, 40.001), Point(116.302, 40.002)],
        crs=4326,
    )
    html = _html(case, isochrones=iso, sites=sites)
    layers = _layers(html)
    counts = [len(fc["features"]) for fc in layers]
    # the meal point's area is not drawn on the party map; larger minutes first
    assert counts[1:3] == [3, 3]
    names = [json.loads(f'"{n}"') for n in re.findall(r'^\s*"([^"]*)" : ', html, re.M)]
    assert "4 分钟步行圈" in names and "建议新站址（2 个）" in names
    site_props = [f["properties"] for f in layers[-1]["features"]]
    assert [p["l"] for p in site_props] == ["1", "2"]
    assert "300 户" in site_props[0]["p"][2]
    with pytest.raises(InputError, match="households_added"):
        _html(case, sites=sites.drop(columns="households_added"))


def test_jupyter_gets_a_folium_map_that_displays_self_contained(case) -> None:
    study, net, analysis = case
    m = maps.coverage_map(analysis, study=study, network=net, basemap="none")
    assert isinstance(m, folium.Map)
    shown = m._repr_html_()
    assert "<iframe" in shown and "srcdoc=" in shown
    assert "cdn.jsdelivr" not in shown and "code.jquery" not in shown
    assert m._repr_html_() == shown or len(m._repr_html_()) > 0  # renders again


def test_write_map_is_atomic_and_complete(case, tmp_path: Path) -> None:
    study, net, analysis = case
    out = maps.write_map(maps.coverage_map(analysis, study=study, network=net), tmp_path / "m.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["m.html"]


def test_radius_grows_with_households() -> None:
    import pandas as pd

    r = maps._radius(pd.Series([0.0, 25.0, 100.0, np.nan]))
    assert r.tolist() == [4.0, 9.0, 14.0, 4.0]
    assert math.isclose(r[2] - r[0], 10.0)


def test_study_language_is_the_default() -> None:
    study, net, analysis = analysed(language="en")
    html = maps.map_html(maps.coverage_map(analysis, study=study, network=net, basemap="none"))
    assert "Compounds: walk time to Party" in html
    zh = maps.map_html(maps.coverage_map(analysis, study=study, basemap="none", lang="zh"))
    assert "小区：步行到党群服务站的时间" in zh


def _with_extent(case: tuple) -> tuple:
    """The case with a data extent recorded on its network: the lattice's hull, cut in half."""
    study, net, analysis = case
    x0, y0 = net.nodes[["lon", "lat"]].min()
    x1, y1 = net.nodes[["lon", "lat"]].max()
    area = shapely.box(x0 - 1e-4, y0 - 1e-4, (x0 + x1) / 2, y1 + 1e-4)
    return study, net.with_meta({**net.meta, **dataedge.extent_meta(area)}), analysis, area


def test_the_data_extent_is_a_thin_dashed_outline_that_can_be_toggled(case) -> None:
    study, net, analysis, area = _with_extent(case)
    html = maps.map_html(maps.coverage_map(analysis, study=study, network=net, basemap="osm"))
    extent = next(
        fc for fc in _layers(html) if fc["features"][0]["geometry"]["type"] == "LineString"
    )
    ring = np.array(extent["features"][0]["geometry"]["coordinates"])
    assert shapely.Polygon(ring).equals_exact(area, tolerance=1e-6)  # the whole outline
    assert json.dumps("地图数据范围 (map data extent)") in html  # the layer control's name
    style = re.search(r'"styles":\[(\{[^\]]*"cp-extent"[^\]]*\})\]', html)
    assert style is not None
    options = json.loads(style.group(1))
    assert options["dashArray"] and options["weight"] <= 2 and "fill" not in options
    assert "地图数据范围（灰色虚线）：范围外路网不完整" in html  # the legend explains it
    # without a recorded extent (a network made from tables) there is no outline
    assert '"cp-extent"' not in _html(case) and "范围外路网不完整" not in _html(case)


def test_the_data_extent_shifts_with_the_gaode_basemap(case) -> None:
    study, net, analysis, area = _with_extent(case)
    html = maps.map_html(maps.coverage_map(analysis, study=study, network=net, basemap="gaode"))
    extent = next(
        fc for fc in _layers(html) if fc["features"][0]["geometry"]["type"] == "LineString"
    )
    lon, lat = extent["features"][0]["geometry"]["coordinates"][0]
    x, y = shapely.get_coordinates(area.exterior)[0]
    assert (lon, lat) == pytest.approx(coords.wgs84_to_gcj02(x, y), abs=1e-6)
    # an extent given explicitly wins over the network's, in English too
    html = maps.map_html(
        maps.coverage_map(analysis, study=study, basemap="osm", lang="en", data_extent=area)
    )
    assert '"Map data extent"' in html and '"cp-extent"' in html
