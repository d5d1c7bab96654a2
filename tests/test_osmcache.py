"""The cache of an OSM file's features: equal to a fresh read, invalidated, rebuilt, atomic."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal

from coverage import osmcache, osmdata, pipeline, sample
from coverage.config import load_study
from coverage.errors import CoverageWarning, InputError

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
CAU = OSM / "beijing-haidian-cau.osm.bz2"  # landuse, buildings, entrances, POIs, roads
NINGHUA = OSM / "fujian-ninghua.osm.bz2"  # tiny: 29 highways, 5 buildings, no entrances
GUIXI = OSM / "jiangxi-guixi.osm.bz2"


def _assert_same(got: dict[str, gpd.GeoDataFrame], fresh: osmdata.OsmFeatures) -> None:
    for name, frame in got.items():
        want = getattr(fresh, name)
        assert list(frame.columns) == list(want.columns), name
        assert frame.crs == want.crs, name
        # dtypes, index, values and exact geometries (no tolerance)
        assert_geodataframe_equal(frame, want, check_less_precise=False)


def _folders(cache: Path) -> list[Path]:
    return sorted(cache.glob("osm-features-*")) if cache.exists() else []


@pytest.mark.parametrize("source", ["cau", "demo"])
def test_cached_features_equal_a_fresh_read(
    source: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = CAU if source == "cau" else sample.demo_osm_file()
    fresh = osmdata.read_osm_features(path)
    assert len(fresh.entrances) > 0 and len(fresh.buildings) > 0
    built = osmcache.cached_osm_features(path, cache_dir=tmp_path)
    (folder,) = _folders(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", *(f"{n}.parquet" for n in osmcache.FRAMES)]
    )
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        cached = osmcache.cached_osm_features(path, cache_dir=tmp_path)
    assert "read from the cache" in caplog.text
    for feats in (built, cached):
        _assert_same({n: getattr(feats, n) for n in osmcache.FRAMES}, fresh)
    # the GeoParquet files are ordinary GeoParquet: geopandas reads the same frame
    assert_geodataframe_equal(gpd.read_parquet(folder / "entrances.parquet"), fresh.entrances)


def test_one_frame_is_read_without_the_others(tmp_path: Path) -> None:
    osmcache.cached_osm_features(CAU, cache_dir=tmp_path)
    (folder,) = _folders(tmp_path)
    for name in osmcache.FRAMES:
        if name != "entrances":
            (folder / f"{name}.parquet").unlink()
    got = osmcache.cached_osm_frames(CAU, ["entrances"], cache_dir=tmp_path)
    assert list(got) == ["entrances"]
    _assert_same(got, osmdata.read_osm_features(CAU))
    with pytest.raises(ValueError, match="unknown OSM feature frames"):
        osmcache.cached_osm_frames(CAU, ["gates"], cache_dir=tmp_path)


def test_a_changed_file_rebuilds_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "area.osm.bz2"
    shutil.copyfile(NINGHUA, path)
    cache = tmp_path / "cache"
    osmcache.cached_osm_features(path, cache_dir=cache)
    # touched: same content, another mtime -> rebuilt (and still right)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        got = osmcache.cached_osm_features(path, cache_dir=cache)
    assert "out of date (mtime_ns" in caplog.text
    _assert_same({n: getattr(got, n) for n in osmcache.FRAMES}, osmdata.read_osm_features(path))
    # another file of another size, given the old mtime back: the size alone rebuilds it
    mtime = path.stat().st_mtime_ns
    shutil.copyfile(GUIXI, path)
    os.utime(path, ns=(mtime, mtime))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        got = osmcache.cached_osm_features(path, cache_dir=cache)
    assert "out of date (size" in caplog.text
    fresh = osmdata.read_osm_features(path)
    assert len(fresh.buildings) != len(osmdata.read_osm_features(NINGHUA).buildings)
    _assert_same({n: getattr(got, n) for n in osmcache.FRAMES}, fresh)
    assert len(_folders(cache)) == 1  # one folder per file: rebuilt in place


def test_another_reader_version_rebuilds_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    osmcache.cached_osm_features(NINGHUA, cache_dir=tmp_path)
    monkeypatch.setattr(osmcache, "READER_VERSION", osmcache.READER_VERSION + 1)
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        osmcache.cached_osm_features(NINGHUA, cache_dir=tmp_path)
    assert "reader_version" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        osmcache.cached_osm_features(NINGHUA, cache_dir=tmp_path)
    assert "read from the cache" in caplog.text


def test_an_edited_reader_rebuilds_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the key holds a digest of osmdata.py and osmfile.py: an edit without a version bump
    key = osmcache._reader_source()
    assert len(key) == 16 and key == osmcache._reader_source()
    osmcache.cached_osm_features(NINGHUA, cache_dir=tmp_path)
    monkeypatch.setattr(osmcache, "_reader_source", lambda: "0" * 16)
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        osmcache.cached_osm_features(NINGHUA, cache_dir=tmp_path)
    assert "reader_source" in caplog.text


@pytest.mark.parametrize("damage", ["truncated frame", "missing frame", "bad manifest"])
def test_a_corrupt_cache_is_rebuilt_and_logged(
    damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    osmcache.cached_osm_features(CAU, cache_dir=tmp_path)
    (folder,) = _folders(tmp_path)
    entrances = folder / "entrances.parquet"
    if damage == "truncated frame":
        entrances.write_bytes(entrances.read_bytes()[: entrances.stat().st_size // 2])
    elif damage == "missing frame":
        entrances.unlink()
    else:
        (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        got = osmcache.cached_osm_frames(CAU, ["entrances"], cache_dir=tmp_path)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "cannot be read, rebuilding" in warned[0].getMessage()
    assert "OSM features cached in" in caplog.text
    _assert_same(got, osmdata.read_osm_features(CAU))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="coverage.osmcache"):
        osmcache.cached_osm_frames(CAU, ["entrances"], cache_dir=tmp_path)
    assert "read from the cache" in caplog.text and "WARNING" not in caplog.text


def test_a_failed_write_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that fails (or is killed) half way leaves no cache folder to be read later."""
    calls: list[Path] = []
    real = gpd.GeoDataFrame.to_parquet

    def failing(self: gpd.GeoDataFrame, path: Path, **kwargs: object) -> None:
        calls.append(Path(path))
        if len(calls) == 3:  # two frames are written, then the disk is full
            raise OSError(28, "No space left on device")
        real(self, path, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", failing)
    with caplog.at_level(logging.WARNING, logger="coverage.osmcache"):
        got = osmcache.cached_osm_frames(NINGHUA, ["buildings"], cache_dir=tmp_path)
    assert "cannot write the OSM features cache" in caplog.text
    _assert_same(got, osmdata.read_osm_features(NINGHUA))  # the user still gets the features
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary copy


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="OSM 文件不存在"):
        osmcache.cached_osm_features(tmp_path / "gone.osm.pbf", cache_dir=tmp_path)
    assert _folders(tmp_path) == []


def _study(folder: Path, compounds: str) -> Path:
    (folder / "party.csv").write_text("id,name,lon,lat\nP1,a,116.3525,40.0035\n", encoding="utf-8")
    study = folder / "study.toml"
    study.write_text(
        f'name = "CAU"\n[network]\nosm_file = "{CAU}"\n'
        f'[compounds]\npath = "{compounds}"\nid_column = "id"\nhouseholds_column = "hh"\n'
        '[services.party]\nstations = "party.csv"\n',
        encoding="utf-8",
    )
    return study


def test_load_inputs_reads_only_the_entrances_from_the_cache(tmp_path: Path) -> None:
    fresh = osmdata.read_osm_features(CAU)
    compounds = osmdata.compounds_from_osm(fresh).rename(
        columns={"compound_id": "id", "households": "hh"}
    )
    compounds.to_file(tmp_path / "compounds.geojson", driver="GeoJSON", engine="pyogrio")
    study = load_study(_study(tmp_path, "compounds.geojson"))
    cache = tmp_path / "cache"
    first = pipeline.load_inputs(study, cache_dir=cache)
    (folder,) = _folders(cache)
    for name in osmcache.FRAMES:  # the entrances must be all load_inputs reads
        if name != "entrances":
            (folder / f"{name}.parquet").unlink()
    second = pipeline.load_inputs(study, cache_dir=cache)
    for data in (first, second):
        assert data.entrances is not None
        assert_geodataframe_equal(data.entrances, fresh.entrances, check_less_precise=False)


def test_nothing_is_written_without_polygon_compounds(tmp_path: Path) -> None:
    (tmp_path / "compounds.csv").write_text(
        "id,name,hh,lon,lat\nC1,a,100,116.350,40.002\nC2,b,200,116.352,40.004\n",
        encoding="utf-8",
    )
    study = load_study(_study(tmp_path, "compounds.csv"))
    data = pipeline.load_inputs(study, cache_dir=tmp_path / "cache")
    assert data.entrances is None
    assert not (tmp_path / "cache").exists()


def test_osm_features_for_study_and_refresh(tmp_path: Path) -> None:
    path = tmp_path / "area.osm.bz2"
    shutil.copyfile(NINGHUA, path)
    study = tmp_path / "study.toml"
    (tmp_path / "party.csv").write_text("id,name,lon,lat\nP1,a,116.654,26.267\n", encoding="utf-8")
    study.write_text(
        f'name = "N"\ncache_dir = "cache"\n[network]\nosm_file = "{path.name}"\n'
        '[services.party]\nstations = "party.csv"\n',
        encoding="utf-8",
    )
    loaded = load_study(study)
    got = pipeline.osm_features_for_study(loaded)  # the study's own cache_dir
    _assert_same({n: getattr(got, n) for n in osmcache.FRAMES}, osmdata.read_osm_features(path))
    assert len(_folders(tmp_path / "cache")) == 1
    pipeline.network_for_study(loaded, refresh=True)
    assert _folders(tmp_path / "cache") == []  # dropped with the network, read when needed
    # compounds derived from OSM: the features are cached again (5 buildings: a warning)
    with pytest.warns(CoverageWarning, match="far too low"):
        pipeline.load_inputs(loaded)
    assert len(_folders(tmp_path / "cache")) == 1
