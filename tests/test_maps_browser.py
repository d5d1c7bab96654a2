"""The exported map in a real browser: Debian's Chromium driven by Playwright, offline.

Every request except ``file://`` is refused; a page that tries to fetch anything fails.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point

from _machine import lacking
from _mapdata import PAYLOADS, analysed
from coverage import dataedge, maps

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        lacking(
            "chromium",
            "Chromium is missing: `make chromium` installs it (apt-get install chromium)",
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        yield b
        b.close()


class Page:
    """A page opened offline, recording console errors, dialogs and refused requests."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.refused: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        # Playwright's waits end on events; their limit is only a hang guard (a loaded machine)
        self.context.set_default_timeout(120_000)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
        # the page's scripts have run at "load"; two animation frames later it is painted too
        # (Leaflet draws canvases in an animation frame), without a fixed pause
        self.page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())


@pytest.fixture(scope="module")
def case() -> tuple:
    return analysed()


@pytest.fixture(scope="module")
def exported(case: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    study, net, analysis = case
    out = tmp_path_factory.mktemp("map") / "map.html"
    return maps.write_map(
        maps.coverage_map(analysis, study=study, network=net, basemap="none"), out
    )


def test_map_loads_offline_with_every_marker_and_shape(browser, case, exported) -> None:
    _study, _net, analysis = case
    page = Page(browser, exported)
    assert page.errors == [] and page.refused == [] and page.dialogs == []
    n_stations = sum(len(r.loads) for r in analysis.services.values())
    assessed = analysis.services["party"].assessed
    assert page.count("path.cp-station") == n_stations
    assert page.count("path.cp-compound") == len(assessed)
    assert page.count("path.cp-gap") == int((~assessed["covered_6min"]).sum())
    assert page.count("canvas") == 1  # the walk-network basemap
    # point compounds are circles sized by households (the largest: 4 + 10 px)
    radii = page.page.evaluate(
        """() => {
            const map = window[document.querySelector('.folium-map').id];
            const out = [];
            map.eachLayer(l => { if (l.feature && l.getRadius && l.options.className ===
                'cp-compound') out.push([l.feature.properties.r, l.getRadius()]); });
            return out;
        }"""
    )
    assert len(radii) == 4 and all(r == got for r, got in radii)
    assert max(got for _, got in radii) == 14.0
    shot = exported.parent / "map.png"
    page.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    title = page.page.locator(".cp-title").inner_text()
    assert "测试研究 <b>粗体</b>" in title and "示例数据" in title
    assert "助餐点${alert(2)}" in page.page.locator(".cp-legend").inner_text()
    page.context.close()


def test_layer_control_toggles_a_layer(browser, case, exported) -> None:
    page = Page(browser, exported)
    n = page.count("path.cp-compound")
    page.page.hover(".leaflet-control-layers")
    label = page.page.locator(
        ".leaflet-control-layers-overlays label", has_text="小区（按步行时间着色）"
    )
    label.locator("input").click()
    assert page.count("path.cp-compound") == 0
    label.locator("input").click()
    assert page.count("path.cp-compound") == n
    assert page.errors == []
    page.context.close()


def test_hostile_names_show_as_text_on_hover_and_click(browser, exported) -> None:
    page = Page(browser, exported)
    seen: list[str] = []
    for selector in ("path.cp-compound", "path.cp-station"):
        items = page.page.locator(selector)
        for i in range(items.count()):
            items.nth(i).dispatch_event("mouseover")
            seen += page.page.locator(".leaflet-tooltip").all_inner_texts()
            items.nth(i).dispatch_event("mouseout")
            items.nth(i).dispatch_event("click")
            seen += page.page.locator(".leaflet-popup-content").all_inner_texts()
            widths = page.page.eval_on_selector_all(
                ".leaflet-popup-content", "els => els.map(e => e.getBoundingClientRect().width)"
            )
            # Chinese text is not stacked one character per line
            assert max(widths, default=0) >= 200, widths
    text = "\n".join(seen)
    for payload in PAYLOADS:
        assert payload in text
    # numbers with units, the nearest station by name, formatted in the page
    assert "100 户" in text and "0.5 分钟" in text and f"{PAYLOADS[1]} (D1)" in text
    assert page.dialogs == []
    assert page.count(".leaflet-pane img") == 0  # no element created from a name
    assert page.page.evaluate("typeof window.alert") == "function"
    assert page.errors == []
    page.context.close()


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def test_gaode_places_a_station_at_its_gcj02_position(browser, case, tmp_path: Path) -> None:
    study, _net, analysis = case
    loads = analysis.services["party"].loads.copy()
    # the public test vector: WGS (31.1774276, 121.5272106) -> GCJ (31.17530398364597,
    # 121.531541859215)
    loads.loc[0, "geometry"] = Point(121.5272106, 31.1774276)
    loads = gpd.GeoDataFrame(loads, geometry="geometry", crs=4326)
    services = dict(analysis.services)
    services["party"] = type(services["party"])(
        services["party"].assessed, loads, services["party"].gaps, services["party"].summary
    )
    moved = type(analysis)(analysis.study_name, services, analysis.summary, analysis.note)
    out = maps.write_map(
        maps.coverage_map(moved, study=study, basemap="gaode"), tmp_path / "g.html"
    )
    page = Page(browser, out)
    assert page.errors == [] or all("ERR_FAILED" in e for e in page.errors)  # tiles refused
    assert all("autonavi.com" in url for url in page.refused)
    latlng = page.page.evaluate(
        """() => {
            const map = window[document.querySelector('.folium-map').id];
            let found = null;
            map.eachLayer(l => {
                if (l.feature && l.getLatLng && l.feature.properties.p &&
                    l.feature.properties.p[0] === 'D1') { found = l.getLatLng(); }
            });
            return found && [found.lat, found.lng];
        }"""
    )
    assert latlng is not None
    assert _metres(tuple(latlng), (31.17530398364597, 121.531541859215)) < 0.5
    assert "GCJ-02" in page.page.locator(".cp-title").inner_text()
    page.context.close()


def test_isochrones_and_sites_render(browser, case, tmp_path: Path) -> None:
    study, net, analysis = case
    loads = analysis.services["party"].loads
    iso = gpd.GeoDataFrame(
        {"service": ["party", "party"], "minutes": [2.0, 4.0]},
        geometry=[
            loads.to_crs(32650).buffer(120).union_all(),
            loads.to_crs(32650).buffer(250).union_all(),
        ],
        crs=32650,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["S1", PAYLOADS[0]], "rank": [1, 2], "households_added": [300.0, 120.0]},
        geometry=[Point(116.3001, 40.0002), Point(116.3004, 40.0005)],
        crs=4326,
    )
    m = maps.coverage_map(
        analysis, study=study, network=net, basemap="none", isochrones=iso, sites=sites
    )
    page = Page(browser, maps.write_map(m, tmp_path / "i.html"))
    assert page.errors == [] and page.dialogs == []
    assert page.count("path.cp-iso") == 2 and page.count("path.cp-site") == 2
    assert page.page.locator(".cp-label").all_inner_texts() == ["1", "2"]
    page.page.screenshot(path=str(tmp_path / "i.png"))
    page.context.close()


def test_the_data_extent_outline_is_drawn_dashed_and_can_be_hidden(
    browser, case, tmp_path: Path
) -> None:
    study, net, analysis = case
    lon, lat = net.nodes["lon"], net.nodes["lat"]
    # the data end halfway across the lattice: the outline runs through the map
    area = shapely.box(lon.min() - 1e-4, lat.min() - 1e-4, lon.median(), lat.max() + 1e-4)
    net = net.with_meta({**net.meta, **dataedge.extent_meta(area)})
    out = maps.write_map(
        maps.coverage_map(analysis, study=study, network=net, basemap="none"),
        tmp_path / "map.html",
    )
    page = Page(browser, out)
    assert page.errors == [] and page.refused == []
    outline = page.page.locator("path.cp-extent")
    assert outline.count() == 1
    assert outline.get_attribute("stroke-dasharray") == "8 5"
    assert outline.get_attribute("fill") == "none"
    assert float(outline.get_attribute("stroke-width") or 0) <= 2
    box = outline.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50
    assert "地图数据范围" in page.page.locator(".cp-legend").inner_text()
    page.page.screenshot(path=str(tmp_path / "extent.png"))
    page.page.hover(".leaflet-control-layers")
    label = page.page.locator(
        ".leaflet-control-layers-overlays label", has_text="地图数据范围 (map data extent)"
    )
    label.locator("input").click()
    assert page.count("path.cp-extent") == 0
    label.locator("input").click()
    assert page.count("path.cp-extent") == 1
    assert page.errors == []
    page.context.close()
