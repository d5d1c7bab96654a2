"""Tests for coverage.osmdata: reading OSM features and deriving compounds."""

from __future__ import annotations

import bz2
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

from coverage import osmdata
from coverage.config import CompoundEstimation
from coverage.errors import CoverageWarning, InputError, NetworkError

OSM_DIR = Path(__file__).parents[2] / "shared" / "data" / "osm"
CAU = OSM_DIR / "beijing-haidian-cau.osm.bz2"
GUIXI = OSM_DIR / "jiangxi-guixi.osm.bz2"
HSINCHU = OSM_DIR / "taiwan-hsinchu.osm.pbf"
CAU_BBOX = (116.34403, 39.99767, 116.35974, 40.00888)

needs_data = pytest.mark.skipif(not OSM_DIR.is_dir(), reason="shared OSM extracts not found")


# --------------------------------------------------------------------------------------------
# a tiny synthetic OSM file drawn in metres (UTM 50N, near Beijing)


class SyntheticOsm:
    """Build an OSM XML file from shapes given in metres around a fixed origin."""

    CRS = "EPSG:32650"

    def __init__(self) -> None:
        self._to_lonlat = pyproj.Transformer.from_crs(self.CRS, "EPSG:4326", always_xy=True)
        self.x0, self.y0 = 440_000.0, 4_427_000.0  # about 116.3 E, 40.0 N
        self.nodes: list[tuple[int, float, float, dict[str, str]]] = []
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []
        self._next_node = 1
        self._next_way = 1

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        lon, lat = self._to_lonlat.transform(self.x0 + x, self.y0 + y)
        nid = self._next_node
        self._next_node += 1
        self.nodes.append((nid, lon, lat, tags or {}))
        return nid

    def way(self, points: list[tuple[float, float]], tags: dict[str, str]) -> int:
        refs = [self.node(x, y) for x, y in points]
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, refs, tags))
        return wid

    def rect(self, x: float, y: float, w: float, h: float, **tags: str) -> int:
        """A closed way: rectangle with lower-left corner (x, y), w x h metres."""
        tags = {k.replace("__", ":"): v for k, v in tags.items()}
        pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        refs = [self.node(px, py) for px, py in pts]
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, [*refs, refs[0]], tags))
        return wid

    def write(self, path: Path) -> Path:
        root = ET.Element("osm", version="0.6", generator="test")
        for nid, lon, lat, tags in self.nodes:
            el = ET.SubElement(
                root, "node", id=str(nid), lat=f"{lat:.9f}", lon=f"{lon:.9f}", version="1"
            )
            for k, v in tags.items():
                ET.SubElement(el, "tag", k=k, v=v)
        for wid, refs, tags in self.ways:
            el = ET.SubElement(root, "way", id=str(wid), version="1")
            for r in refs:
                ET.SubElement(el, "nd", ref=str(r))
            for k, v in tags.items():
                ET.SubElement(el, "tag", k=k, v=v)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        return path


def _compounds(osm: SyntheticOsm, tmp_path: Path, **kw: Any) -> Any:
    features = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    return osmdata.compounds_from_osm(features, **kw)


# --------------------------------------------------------------------------------------------
# household estimation by hand


def test_households_of_a_building_cluster_by_hand(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    # three 20 m x 10 m buildings 10 m apart: 6, 6 and (default) 4 storeys
    osm.rect(0, 0, 20, 10, building="apartments", building__levels="6")
    osm.rect(30, 0, 20, 10, building="yes", building__levels="6")
    osm.rect(60, 0, 20, 10, building="residential")
    est = CompoundEstimation(default_levels=4, floor_area_per_household_m2=90)
    got = _compounds(osm, tmp_path, estimation=est)
    # 200*6 + 200*6 + 200*4 = 3200 m2 of floor area / 90 = 35.56 -> 36 households
    assert len(got) == 1
    row = got.iloc[0]
    assert row["households"] == 36.0
    assert row["floor_area_m2"] == pytest.approx(3200.0, abs=1.5)
    assert row["n_buildings"] == 3
    assert row["source"] == "buildings"
    assert row["households_source"] == "estimated"
    assert row["compound_id"] == "bld-w1"
    assert row["name"] == "居民楼群 1"
    assert got.crs == "EPSG:4326"
    assert got["households"].dtype == np.float64
    # the hull covers all three buildings
    feats = osmdata.read_osm_features(tmp_path / "t.osm")
    assert bool(row.geometry.buffer(1e-9).contains(shapely.union_all(feats.buildings.geometry)))


def test_residential_polygon_households(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    # polygon with two 3-storey homes, a shop building and a commercial building inside
    osm.rect(0, 0, 100, 100, landuse="residential", name="静淑苑")
    osm.rect(10, 10, 20, 10, building="yes", building__levels="3")
    osm.rect(10, 40, 20, 10, building="yes", building__levels="3; 5")
    osm.rect(50, 10, 20, 10, building="yes", shop="supermarket", building__levels="3")
    osm.rect(50, 40, 20, 10, building="commercial", building__levels="3")
    # an empty, unnamed polygon: area fallback 200 m x 100 m x 1.5 / 100 = 300
    osm.rect(0, 500, 200, 100, landuse="residential")
    got = _compounds(osm, tmp_path)
    assert got["compound_id"].tolist() == ["osm-w1", "osm-w6"]
    assert got["name"].tolist() == ["静淑苑", "未命名小区 1"]
    assert got["osm_id"].tolist() == ["w1", "w6"]
    # (200*3 + 200*3) / 100 = 12
    assert got["households"].tolist() == [12.0, 300.0]
    assert got["n_buildings"].tolist() == [2, 0]
    assert set(got["source"]) == {"landuse"}
    # a different floor-area ratio only changes the empty polygon
    got2 = _compounds(osm, tmp_path, floor_area_ratio=2.0)
    assert got2["households"].tolist() == [12.0, 400.0]


def test_households_rounding_and_minimum(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.rect(0, 0, 5, 8, building="house", building__levels="1")  # 40 m2 -> 0.4 -> 1
    osm.rect(1000, 0, 25, 10, building="house", building__levels="3")  # 750 / 100 -> 7.5 -> 8
    got = _compounds(osm, tmp_path)
    assert got["households"].tolist() == [1.0, 8.0]


# --------------------------------------------------------------------------------------------
# clustering


def test_clusters_by_distance(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    a = osm.rect(0, 0, 20, 10, building="apartments")
    osm.rect(40, 0, 20, 10, building="apartments")  # 20 m from a: same compound
    osm.rect(80, 0, 20, 10, building="apartments")  # 20 m from the previous: chained
    far = osm.rect(300, 0, 20, 10, building="apartments")  # 200 m away: another compound
    lone = osm.rect(0, 50, 20, 10, building="apartments")  # 40 m above a: separate
    got = _compounds(osm, tmp_path)
    assert got["compound_id"].tolist() == [f"bld-w{a}", f"bld-w{far}", f"bld-w{lone}"]
    assert got["n_buildings"].tolist() == [3, 1, 1]
    assert got["name"].tolist() == ["居民楼群 1", "居民楼群 2", "居民楼群 3"]
    # a larger cluster distance joins the lone building, not the far one
    got = _compounds(osm, tmp_path, estimation=CompoundEstimation(cluster_distance_m=45))
    assert got["n_buildings"].tolist() == [4, 1]


def test_major_road_separates_clusters(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.rect(0, 0, 20, 10, building="apartments")
    osm.rect(40, 0, 20, 10, building="apartments")
    osm.way([(30, -100), (30, 100)], {"highway": "primary"})
    # the same layout across a residential street stays together
    osm.rect(0, 500, 20, 10, building="apartments")
    osm.rect(40, 500, 20, 10, building="apartments")
    osm.way([(30, 400), (30, 600)], {"highway": "residential"})
    # ... and across a primary road in a tunnel too
    osm.rect(0, 1000, 20, 10, building="apartments")
    osm.rect(40, 1000, 20, 10, building="apartments")
    osm.way([(30, 900), (30, 1100)], {"highway": "primary", "tunnel": "yes"})
    got = _compounds(osm, tmp_path)
    assert sorted(got["n_buildings"].tolist()) == [1, 1, 2, 2]


def test_classification_of_generic_buildings(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    home = osm.rect(0, 0, 20, 10, building="yes")
    shed = osm.rect(200, 0, 5, 5, building="yes")  # 25 m2 < 30 m2
    hut = osm.rect(400, 0, 5, 5, building="house")  # explicit home, counted however small
    osm.rect(600, 0, 20, 10, building="yes", amenity="school")
    osm.rect(800, 0, 20, 10, building="industrial")
    osm.rect(1000, 0, 100, 100, landuse="industrial", name="厂区")
    factory = osm.rect(1010, 10, 20, 10, building="yes")
    osm.rect(1200, 0, 20, 10, building="no")
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    assert f"w{shed}" in set(feats.buildings["osm_id"])
    classified = osmdata.classify_buildings(feats)
    homes = set(classified.loc[classified["residential"], "osm_id"])
    assert homes == {f"w{home}", f"w{hut}"}
    assert f"w{factory}" in set(classified["osm_id"])
    assert "w" + str(osm._next_way - 1) not in set(classified["osm_id"])  # building=no
    assert classified["footprint_m2"].iloc[0] == pytest.approx(
        200.0, abs=0.5
    )  # osmium keeps 1e-7 degrees
    pois = feats.pois
    assert pois["kind"].tolist() == ["amenity=school"]
    assert feats.sites["kind"].tolist() == ["amenity=school", "landuse=industrial"]


def test_levels_parsing(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    for i, levels in enumerate(["6", "6.5", "5;7", "abc", "0", "-1"]):
        osm.rect(100 * i, 0, 10, 10, building="yes", building__levels=levels)
    osm.rect(1000, 0, 10, 10, building="yes")
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    got = feats.buildings["levels"].tolist()
    assert got[:3] == [6.0, 6.5, 5.0]
    assert all(math.isnan(v) for v in got[3:])


def test_entrances_know_the_outlines_they_lie_on(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    door = osm.node(10, 0, {"entrance": "main"})  # on the building's south wall
    gate = osm.node(50, 0, {"entrance": "yes"})  # in a fence that meets the building
    corner = osm.node(20, 0)
    osm.node(5, 5, {"entrance": "yes"})  # inside the building, on no outline
    b = [osm.node(0, 0), door, corner, osm.node(20, 20), osm.node(0, 20)]
    osm.ways.append((90, [*b, b[0]], {"building": "apartments"}))
    osm.ways.append((91, [corner, gate, osm.node(80, 0)], {"barrier": "fence"}))
    osm.ways.append((92, [osm.node(0, -30), osm.node(80, -30)], {"barrier": "kerb"}))
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    ent = feats.entrances.set_index("osm_id")
    assert ent["on_building"].fillna("").tolist() == ["apartments", "", ""]
    assert ent["on_barrier"].fillna("").tolist() == ["", "fence", ""]


def test_entrances_and_pois(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.node(0, 0, {"entrance": "main"})
    osm.node(10, 0, {"barrier": "gate", "access": "private", "name": "南门"})
    osm.node(20, 0, {"barrier": "bollard"})
    osm.node(30, 0, {"amenity": "community_centre", "name": "社区服务中心"})
    osm.rect(100, 0, 20, 20, building="yes", amenity="library", name="图书馆")
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    assert feats.entrances["osm_id"].tolist() == ["n1", "n2"]
    assert feats.entrances["name"].tolist()[1] == "南门"
    assert feats.entrances["access"].tolist()[1] == "private"
    assert feats.pois["kind"].tolist() == ["amenity=community_centre", "amenity=library"]
    assert feats.pois["osm_id"].tolist() == ["n4", "w1"]
    assert set(feats.pois.geom_type) == {"Point"}
    lib = feats.pois.geometry.iloc[1]
    assert feats.buildings.geometry.iloc[0].contains(lib)


def test_no_compounds_warns(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.rect(0, 0, 20, 10, building="commercial")
    with pytest.warns(CoverageWarning, match="no compounds"):
        got = _compounds(osm, tmp_path)
    assert len(got) == 0
    assert list(got.columns) == [
        "compound_id",
        "name",
        "households",
        "households_source",
        "source",
        "osm_id",
        "n_buildings",
        "floor_area_m2",
        "geometry",
    ]


def test_input_does_not_change_and_output_is_deterministic(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.rect(0, 0, 100, 100, landuse="residential")
    osm.rect(10, 10, 20, 10, building="yes")
    osm.rect(300, 0, 20, 10, building="yes")
    osm.rect(340, 0, 20, 10, building="yes")
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    before = feats.buildings.copy()
    a = osmdata.compounds_from_osm(feats)
    b = osmdata.compounds_from_osm(feats)
    assert feats.buildings.equals(before)
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.osm", None, "not found"),
        ("data.txt", "hello", "unsupported"),
        ("broken.osm", "<osm><node id='1' lat='x'", "cannot read"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=match):
        osmdata.read_osm_features(path)


def test_bad_floor_area_ratio(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    osm.rect(0, 0, 20, 10, building="house")
    feats = osmdata.read_osm_features(osm.write(tmp_path / "t.osm"))
    with pytest.raises(ValueError, match="floor_area_ratio"):
        osmdata.compounds_from_osm(feats, floor_area_ratio=0)


# --------------------------------------------------------------------------------------------
# real extracts, checked against a brute-force XML parse


def _parse_xml(path: Path) -> tuple[dict[str, tuple[float, float]], list[ET.Element]]:
    with bz2.open(path, "rb") as fh:
        root = ET.parse(fh).getroot()
    nodes = {
        n.get("id", ""): (float(n.get("lon", "nan")), float(n.get("lat", "nan")))
        for n in root.iter("node")
    }
    return nodes, [*root.iter("way"), *root.iter("relation")]


def _tags(el: ET.Element) -> dict[str, str]:
    return {t.get("k", ""): t.get("v", "") for t in el.iter("tag")}


def _closed_ways(path: Path, key: str, value: str | None) -> dict[str, dict[str, Any]]:
    """Areas whose ``key`` tag is ``value`` (any but ``no`` when None), by brute force.

    Closed ways with all their nodes in the file, and multipolygon relations all of whose
    member ways are in the file with all their nodes (an export cuts the others).
    """
    nodes, elements = _parse_xml(path)
    complete_ways = {}
    for el in elements:
        if el.tag == "way":
            refs = [nd.get("ref", "") for nd in el.iter("nd")]
            if refs and all(r in nodes for r in refs):
                complete_ways[el.get("id", "")] = refs
    out = {}
    for el in elements:
        tags = _tags(el)
        if key not in tags or (value is not None and tags[key] != value) or tags[key] == "no":
            continue
        oid = el.get("id", "")
        if el.tag == "way":
            refs = complete_ways.get(oid, [])
            if len(refs) >= 4 and refs[0] == refs[-1]:
                out["w" + oid] = {"tags": tags, "coords": [nodes[r] for r in refs]}
        elif tags.get("type") == "multipolygon":
            members = [m.get("ref", "") for m in el.iter("member") if m.get("type") == "way"]
            if members and all(m in complete_ways for m in members):
                out["r" + oid] = {"tags": tags, "coords": None}
    return out


@needs_data
def test_cau_residential_polygons_match_xml_parse() -> None:
    feats = osmdata.read_osm_features(CAU)
    expected = _closed_ways(CAU, "landuse", "residential")
    assert set(feats.residential["osm_id"]) == set(expected)
    assert len(feats.residential) == 10
    names = dict(zip(feats.residential["osm_id"], feats.residential["name"], strict=True))
    for osm_id, way in expected.items():
        want = way["tags"].get("name")
        assert (names[osm_id] if isinstance(names[osm_id], str) else None) == want
    named = {n for n in names.values() if isinstance(n, str)}
    assert len(named) == 9
    assert {"富润家园", "静淑苑", "双泉嘉苑"} <= named

    compounds = osmdata.compounds_from_osm(feats)
    landuse = compounds[compounds["source"] == "landuse"]
    assert landuse["compound_id"].tolist() == sorted(
        ("osm-" + k for k in expected), key=lambda s: int(s[5:])
    )
    assert set(landuse["name"]) == named | {"未命名小区 1"}
    assert compounds["compound_id"].is_unique
    assert (compounds["households"] >= 1).all()


@needs_data
def test_cau_buildings_match_xml_parse() -> None:
    feats = osmdata.read_osm_features(CAU)
    expected = _closed_ways(CAU, "building", None)
    assert set(feats.buildings["osm_id"]) == set(expected)
    # footprints: UTM areas agree with geodesic areas of the raw coordinates
    geod = pyproj.Geod(ellps="WGS84")
    classified = osmdata.classify_buildings(feats).set_index("osm_id")
    ways = sorted(k for k in expected if k.startswith("w"))
    assert len(ways) < len(expected)  # the two building relations are in too
    for osm_id in ways[:40]:
        lons, lats = zip(*expected[osm_id]["coords"], strict=True)
        area = abs(geod.polygon_area_perimeter(lons, lats)[0])
        assert classified.loc[osm_id, "footprint_m2"] == pytest.approx(area, rel=2e-3)


@needs_data
def test_guixi_compounds_come_from_buildings() -> None:
    feats = osmdata.read_osm_features(GUIXI)
    assert len(feats.residential) == 0
    compounds = osmdata.compounds_from_osm(feats)
    assert len(compounds) > 0
    assert set(compounds["source"]) == {"buildings"}
    assert set(compounds["households_source"]) == {"estimated"}
    assert compounds["compound_id"].is_unique
    assert compounds["compound_id"].str.match(r"^bld-[wr]\d+$").all()
    assert (compounds["households"] >= 1).all()
    assert (compounds["households"] == np.round(compounds["households"])).all()

    # independent check of the floor area: geodesic footprint x 6 default storeys
    apartments = _closed_ways(GUIXI, "building", "apartments")
    classified = osmdata.classify_buildings(feats)
    homes = set(classified.loc[classified["residential"], "osm_id"])
    assert set(apartments) <= homes  # every explicit home is counted
    assert compounds["n_buildings"].sum() == len(homes)
    all_buildings = _closed_ways(GUIXI, "building", None)
    geod = pyproj.Geod(ellps="WGS84")
    floor = 0.0
    for osm_id in homes:
        lons, lats = zip(*all_buildings[osm_id]["coords"], strict=True)
        floor += abs(geod.polygon_area_perimeter(lons, lats)[0]) * 6.0
    assert compounds["floor_area_m2"].sum() == pytest.approx(floor, rel=2e-3)
    expected_hh = np.maximum(np.floor(compounds["floor_area_m2"] / 100.0 + 0.5), 1.0)
    assert compounds["households"].tolist() == expected_hh.tolist()
    assert len(compounds) < len(homes)  # some clustering happened


@needs_data
def test_pbf_loads_and_matches_pyrosm() -> None:
    pyrosm = pytest.importorskip("pyrosm")
    feats = osmdata.read_osm_features(HSINCHU)
    assert len(feats.buildings) > 300
    assert len(feats.pois) > 100
    assert set(feats.residential.geom_type) <= {"Polygon", "MultiPolygon"}
    osm = pyrosm.OSM(str(HSINCHU))
    landuse = osm.get_data_by_custom_criteria(
        custom_filter={"landuse": ["residential"]}, filter_type="keep", keep_nodes=False
    )
    polys = landuse[landuse.geom_type.isin(["Polygon", "MultiPolygon"])]
    theirs = set(polys["osm_type"].str[0] + polys["id"].astype(str))
    assert set(feats.residential["osm_id"]) == theirs
    compounds = osmdata.compounds_from_osm(feats)
    assert compounds["compound_id"].is_unique
    assert (compounds["source"] == "landuse").sum() == len(theirs)


def test_derived_compounds_keep_osm_names(tmp_path: Path) -> None:
    osm = SyntheticOsm()
    # cluster 1: two buildings named 华府 and one 1号楼 (a number, not a name)
    osm.rect(0, 0, 20, 10, building="apartments", name="华府")
    osm.rect(30, 0, 20, 10, building="apartments", name="1号楼")
    osm.rect(60, 0, 20, 10, building="apartments", name="华府")
    # cluster 2 (500 m away): only addr:housename
    osm.rect(500, 0, 20, 10, building="apartments", addr__housename="锦绣苑")
    # cluster 3: nothing but numbers and letters
    osm.rect(1000, 0, 20, 10, building="apartments", name="A棟")
    # an unnamed residential polygon whose buildings are named 梅园
    osm.rect(0, 500, 100, 100, landuse="residential")
    osm.rect(10, 510, 20, 10, building="residential", name="梅园")
    got = _compounds(osm, tmp_path).set_index("compound_id")["name"].to_dict()
    assert sorted(got.values()) == ["华府", "居民楼群 3", "梅园", "锦绣苑"]


@needs_data
def test_hsinchu_meizhu_keeps_its_name() -> None:
    # issue 7: 梅竹山莊 (three 22-storey buildings named so) became "居民楼群 3"
    compounds = osmdata.compounds_from_osm(osmdata.read_osm_features(HSINCHU))
    row = compounds[compounds["name"] == "梅竹山莊"]
    assert len(row) == 1 and row["source"].iloc[0] == "buildings"
    assert row["compound_id"].iloc[0] == "bld-w138076303"  # its lowest-id building
    # the names the buildings carry, read independently from the PBF with pyosmium
    import osmium

    named = {
        f"w{w.id}"
        for w in osmium.FileProcessor(str(HSINCHU), osmium.osm.WAY)
        if w.tags.get("name") == "梅竹山莊" and "building" in w.tags
    }
    assert named == {"w138076303", "w138076307", "w138076312"}
    hull = row.geometry.iloc[0].buffer(1e-9)
    feats = osmdata.read_osm_features(HSINCHU)
    assert all(
        hull.contains(g) for g in feats.buildings.set_index("osm_id").loc[sorted(named)].geometry
    )


@needs_data
def test_osm_file_bounds() -> None:
    assert osmdata.osm_file_bounds(CAU) == pytest.approx(CAU_BBOX)
    # no bounds line in the Nanjing export: extent of the nodes
    w, s, e, n = osmdata.osm_file_bounds(OSM_DIR / "nanjing-xinjiekou.osm.bz2")
    assert w < 118.763 < 118.796 < e
    assert s < 32.034 < 32.052 < n


# --------------------------------------------------------------------------------------------
# the online reader, without network: osmnx.features_from_polygon is replaced by osmnx's own
# XML reader on the local CAU extract (same parser, same frame layout as an Overpass answer)


@needs_data
def test_features_from_polygon_matches_file_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    ox = pytest.importorskip("osmnx")
    calls: list[dict[str, Any]] = []

    def fake(polygon: Any, tags: dict[str, Any]) -> Any:
        calls.append(tags)
        return ox.features_from_xml(CAU, polygon=polygon, tags=tags)

    monkeypatch.setattr(ox, "features_from_polygon", fake)
    poly = shapely.box(*CAU_BBOX)
    online = osmdata.osm_features_from_polygon(poly)
    offline = osmdata.read_osm_features(CAU)
    assert calls and calls[0]["landuse"] is True and calls[0]["building"] is True
    for name in ("residential", "buildings", "sites", "roads", "entrances"):
        a, b = getattr(online, name), getattr(offline, name)
        b = b[b.intersects(poly)]
        assert a["osm_id"].tolist() == b["osm_id"].tolist(), name
    for column in ("on_building", "on_barrier"):
        a, b = online.entrances[column], offline.entrances[column]
        assert a.tolist() == b[offline.entrances.intersects(poly)].tolist(), column
    inside = offline.pois[offline.pois.within(poly)]
    assert set(inside["osm_id"]) <= set(online.pois["osm_id"]) <= set(offline.pois["osm_id"])
    a = osmdata.compounds_from_osm(online)
    b = osmdata.compounds_from_osm(offline)
    assert a["compound_id"].tolist() == b["compound_id"].tolist()
    assert a["households"].tolist() == b["households"].tolist()


def test_features_from_polygon_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    ox = pytest.importorskip("osmnx")
    requests = pytest.importorskip("requests")

    def offline(polygon: Any, tags: Any) -> Any:
        raise requests.ConnectionError("no route to host")

    monkeypatch.setattr(ox, "features_from_polygon", offline)
    with pytest.raises(NetworkError, match="downloading OSM features failed"):
        osmdata.osm_features_from_polygon(shapely.box(0, 0, 1, 1))

    def empty(polygon: Any, tags: Any) -> Any:
        raise ox._errors.InsufficientResponseError("No matching features")

    monkeypatch.setattr(ox, "features_from_polygon", empty)
    feats = osmdata.osm_features_from_polygon(shapely.box(0, 0, 1, 1))
    assert len(feats.buildings) == len(feats.residential) == 0
    with pytest.raises(InputError, match="valid"):
        osmdata.osm_features_from_polygon(shapely.Point(0, 0))  # type: ignore[arg-type]
