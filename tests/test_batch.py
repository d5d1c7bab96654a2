"""Tests for the batch (many areas at once, on Dask).

The reference for every batch is one ``analyze`` over the whole region (the template study is
an ordinary study file). Most tests run the areas in this process (``client=None``: the same
task functions); the Dask tests run them on a real ``LocalCluster`` of 2 worker processes,
on a ``dask scheduler`` with two ``dask worker`` processes, and with a worker killed midway.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from _region import OSM_DIR, write_region
from coverage import batch, pipeline, sample
from coverage.cli import main
from coverage.config import load_study
from coverage.errors import CoverageWarning, InputError, StudyError

MONACO = OSM_DIR / "monaco.osm.pbf"
CAU = OSM_DIR / "beijing-haidian-cau.osm.bz2"
needs_data = pytest.mark.skipif(not MONACO.is_file(), reason="shared OSM extracts not found")
pytestmark = needs_data


@pytest.fixture(scope="module")
def monaco(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Monaco with 600 random compounds, split 2 x 2, and the whole-region analysis."""
    folder = tmp_path_factory.mktemp("monaco")
    study_file, batch_file = write_region(folder, MONACO, grid=(2, 2))
    study = load_study(study_file)
    net = pipeline.network_for_study(study)
    with warnings.catch_warnings():
        # random compounds on ways the extract cuts (outside_network_data): said once
        warnings.filterwarnings("ignore", ".*outside_network_data", CoverageWarning)
        whole = pipeline.analyze(study, net, pipeline.load_inputs(study, network=net))
    return {"folder": folder, "study": study, "batch": batch_file, "whole": whole}


@pytest.fixture(scope="module")
def reference(monaco: dict) -> batch.BatchResult:
    """The 2 x 2 batch run in this process."""
    return batch.run_batch(batch.load_batch(monaco["batch"]))


def _compare(study, whole, result) -> dict[str, pd.DataFrame]:
    """Per service: whole-region rows joined with the batch's rows, by compound."""
    out = {}
    for key in study.services:
        w = whole.services[key].assessed.set_index("compound_id")
        b = result.services[key].assessed.set_index("compound_id")
        assert b.index.is_unique and set(b.index) == set(w.index)
        out[key] = w.join(b.drop(columns="geometry"), suffixes=("", "_b"))
    return out


def _covered_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(("covered_", "stations_within_"))]


def test_batch_equals_whole_region_across_borders(
    monaco: dict, reference: batch.BatchResult
) -> None:
    study, whole, result = monaco["study"], monaco["whole"], reference
    assert [a.status for a in result.areas] == ["ok"] * 4
    table = result.table
    assert (table["households_left_out"] <= table["households"]).all()
    assert table["worst_share_covered"].is_monotonic_increasing  # worst first
    assert result.buffer_m == pytest.approx(15 * 4500 / 60, rel=0.2)  # about 1.1 km
    for key, j in _compare(study, whole, result).items():
        tmax = max(study.services[key].minutes)
        # verdicts and station counts at every threshold
        for col in _covered_cols(j):
            if col.endswith("_b"):
                continue
            assert (j[col] == j[f"{col}_b"]).all(), (key, col)
        within = j.walk_min <= tmax
        assert within.sum() > 50 and (~within).sum() > 10
        assert np.allclose(j.walk_min[within], j.walk_min_b[within], rtol=0, atol=1e-9)
        assert (j.nearest_station_id[within] == j.nearest_station_id_b[within]).all()
        # beyond the largest threshold the batch's time is a bound: never shorter, flagged
        beyond = ~within
        b_walk = j.walk_min_b[beyond]
        assert (b_walk.isna() | (b_walk >= j.walk_min[beyond] - 1e-9)).all()
        assert (j.walk_min_exact == within).all()
        # station loads within the largest threshold add up over the areas exactly
        loads_w = whole.services[key].loads.set_index("station_id")
        loads_b = result.services[key].loads.set_index("station_id").loc[loads_w.index]
        col = next(c for c in loads_w.columns if c.startswith("households_served_within_"))
        assert np.allclose(loads_w[col], loads_b[col], atol=1e-9)
        # the combined summary equals the whole region's
        assert result.summary[key] == whole.summary[key]


@pytest.mark.slow
def test_without_the_buffer_border_compounds_differ(monaco: dict) -> None:
    study, whole = monaco["study"], monaco["whole"]
    result = batch.run_batch(batch.load_batch(monaco["batch"]), buffer_m=0.0)
    areas = gpd.read_file(monaco["folder"] / "areas.geojson").to_crs(3857)
    borders = shapely.union_all(areas.geometry.boundary.to_numpy())
    differ_total = 0
    for key, j in _compare(study, whole, result).items():
        tmax = max(study.services[key].minutes)
        verdict = np.zeros(len(j), dtype=bool)
        for col in _covered_cols(j):
            if not col.endswith("_b"):
                verdict |= (j[col] != j[f"{col}_b"]).to_numpy()
        within = (j.walk_min <= tmax).to_numpy()
        minutes = within & ~np.isclose(j.walk_min, j.walk_min_b, rtol=0, atol=1e-9)
        differ = verdict | minutes
        differ_total += int(differ.sum())
        # a sub-network only lengthens walks; the wrong ones lie near an area border
        b = j.walk_min_b.to_numpy()
        assert (np.isnan(b) | (b >= j.walk_min.to_numpy() - 1e-9)).all()
        pts = gpd.GeoSeries(j.geometry[differ], crs=4326).to_crs(3857)
        assert (pts.distance(borders) < 2 * 1200).all()
    assert differ_total > 10


@pytest.mark.slow
def test_overlapping_and_empty_areas_are_reported(monaco: dict, tmp_path: Path) -> None:
    boxes = gpd.read_file(monaco["folder"] / "areas.geojson")
    w, s, e, n = boxes.total_bounds
    mid = (w + e) / 2
    areas = gpd.GeoDataFrame(
        {"name": ["west", "east", "sea"]},
        geometry=[
            shapely.box(w, s, mid + 0.01, n),  # overlaps "east" by 0.01 degrees
            shapely.box(mid, s, e, n),
            shapely.box(e + 1, s, e + 2, n),  # holds no compound
        ],
        crs=4326,
    )
    areas.to_file(tmp_path / "areas.geojson")
    batch_file = tmp_path / "batch.toml"
    batch_file.write_text(
        f'study = "{monaco["folder"] / "study.toml"}"\n[areas]\npath = "areas.geojson"\n',
        encoding="utf-8",
    )
    result = batch.run_batch(batch.load_batch(batch_file))
    assert result.overlaps == (("west", "east"),)
    table = result.table.set_index("area")
    assert table.loc["sea", "status"] == "empty" and "no compound" in table.loc["sea", "error"]
    assert table.loc["west", "compounds_shared"] > 0
    assert table.loc["west", "compounds_shared"] == table.loc["east", "compounds_shared"]
    assert table.loc["west", "overlaps_with"] == "east"
    assert result.table["rank"].tolist() == [1, 2, 3] and result.table["area"].iloc[0] == "sea"
    for key, res in result.services.items():
        # every compound once, the shared ones in the first area
        assert res.assessed["compound_id"].is_unique, key
        assert len(res.assessed) == len(monaco["whole"].services[key].assessed)
    out = tmp_path / "out"
    files = batch.write_batch(result, out)
    assert {f.name for f in files} >= {"compounds.csv", "summary.json", "areas.csv"}
    written = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert written["area"].tolist()[0] == "sea"
    compounds = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    pipeline.write_analysis(monaco["whole"], tmp_path / "whole")
    analyze_cols = list(pd.read_csv(tmp_path / "whole" / "compounds.csv", nrows=1).columns)
    analyze_cols[0] = analyze_cols[0].lstrip("\ufeff")
    assert list(compounds.columns) == [
        "area",
        *analyze_cols[: analyze_cols.index("walk_min") + 1],
        "walk_min_exact",
        *analyze_cols[analyze_cols.index("walk_min") + 1 :],
    ]


def _write_areas(folder: Path, geoms: list, names: list[str]) -> Path:
    gpd.GeoDataFrame({"name": names}, geometry=geoms, crs=4326).to_file(folder / "areas.geojson")
    path = folder / "batch.toml"
    path.write_text(
        f'study = "{folder / "study.toml"}"\n[areas]\npath = "areas.geojson"\n', encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("geoms", "names", "message"),
    [
        (
            [shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])],
            ["bowtie"],
            "invalid geometry",
        ),
        ([shapely.Point(0, 0)], ["dot"], "must be a Polygon"),
        ([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], ["a", "a"], "repeats feature 1"),
        ([shapely.box(0, 0, 1, 1)], [""], "no name"),
    ],
)
def test_bad_areas_layer(tmp_path: Path, monaco: dict, geoms, names, message) -> None:
    (tmp_path / "study.toml").write_text(
        (monaco["folder"] / "study.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for f in monaco["folder"].glob("*.geojson"):
        if f.name != "areas.geojson":
            (tmp_path / f.name).write_bytes(f.read_bytes())
    path = _write_areas(tmp_path, geoms, names)
    with pytest.raises(InputError, match=message) as info:
        batch.load_batch(path)
    assert "areas.geojson" in str(info.value)
    # at the command line: exit 2, a message, nothing written
    res = CliRunner().invoke(main, ["batch", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "either an [areas] layer"),
        ('study = "s.toml"\n[areas]\npath = "a.geojson"\n[[area]]\nname = "x"\n', "either"),
        ('bogus = 1\n[[area]]\nname = "x"\nstudy = "s.toml"\n', "unknown key"),
        ('steps = ["nothere"]\n[[area]]\nname = "x"\nstudy = "s.toml"\n', "unknown step"),
    ],
)
def test_bad_batch_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "batch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StudyError, match=message.replace("[", r"\[")):
        batch.load_batch(path)


def test_step_from_a_missing_module_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(batch.AREA_STEPS, "later", "coverage.not_yet_written:batch_step")
    path = tmp_path / "batch.toml"
    path.write_text('steps = ["later"]\n[[area]]\nname = "x"\nstudy = "s.toml"\n', encoding="utf-8")
    with pytest.raises(
        StudyError, match=r"this version has no coverage\.not_yet_written:batch_step"
    ):
        batch.load_batch(path)
    # a module that exists without the step function is refused too
    monkeypatch.setitem(batch.AREA_STEPS, "later", "coverage.gaps:batch_step")
    with pytest.raises(StudyError, match=r"has no coverage\.gaps:batch_step"):
        batch.load_batch(path)


def test_scheduler_that_does_not_answer(monaco: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    t0 = time.perf_counter()
    # a loopback port held (bound, not listening) for the whole run: nobody else can take it
    # and answer
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        res = CliRunner().invoke(
            main,
            [
                "batch",
                str(monaco["batch"]),
                "--out",
                str(out),
                "--scheduler",
                f"tcp://127.0.0.1:{port}",
                "--timeout",
                "1",
            ],
        )
    assert res.exit_code == 2, res.output
    assert "does not answer" in res.output and "Traceback" not in res.output
    assert not out.exists()
    assert time.perf_counter() - t0 < 120  # a hang guard: --timeout 1, not the default wait


def _cau_region(folder: Path) -> tuple[Path, Path]:
    """A small study (CAU campus) and a per-area batch: the study twice and a broken copy."""
    study_file, _ = write_region(folder, CAU, n_compounds=60, grid=(1, 1))
    broken = folder / "broken"
    broken.mkdir()
    text = study_file.read_text(encoding="utf-8").replace(
        'path = "compounds.geojson"', 'path = "bad.csv"'
    )
    (broken / "study.toml").write_text(
        text.replace('stations = "', f'stations = "{folder}/'), encoding="utf-8"
    )
    (broken / "bad.csv").write_text("compound_id,households,经度,纬度\nx,-5,116.35,40.0\n", "utf-8")
    batch_file = folder / "areas-batch.toml"
    batch_file.write_text(
        '[[area]]\nname = "甲"\nstudy = "study.toml"\n'
        '[[area]]\nname = "乙"\nstudy = "broken/study.toml"\n',
        encoding="utf-8",
    )
    return study_file, batch_file


@pytest.mark.slow
def test_a_failing_area_does_not_stop_the_batch(tmp_path: Path) -> None:
    study_file, batch_file = _cau_region(tmp_path)
    result = batch.run_batch(batch.load_batch(batch_file))
    assert result.failed == ["乙"]
    table = result.table.set_index("area")
    assert table.loc["乙", "status"] == "failed" and "bad.csv" in table.loc["乙", "error"]
    assert result.table["area"].iloc[0] == "乙"  # failed areas first
    study = load_study(study_file)
    net = pipeline.network_for_study(study)
    with warnings.catch_warnings():
        # the CAU extract cuts some compounds' ways (outside_network_data)
        warnings.filterwarnings("ignore", ".*outside_network_data", CoverageWarning)
        whole = pipeline.analyze(study, net, pipeline.load_inputs(study, network=net))
    for key in study.services:
        got = result.services[key].assessed
        assert (got["area"] == "甲").all() and got["walk_min_exact"].all()
        assert np.allclose(
            got["walk_min"], whole.services[key].assessed["walk_min"], equal_nan=True, atol=1e-9
        )


@pytest.mark.slow
def test_area_steps_run_after_the_analysis(
    monaco: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_step.py").write_text(
        "def batch_step(*, study, network, inputs, analysis, out_dir):\n"
        "    out_dir.mkdir(parents=True, exist_ok=True)\n"
        "    p = out_dir / 'n.txt'\n"
        "    p.write_text(str(len(inputs.compounds)) + ' ' + str(len(network.edges)))\n"
        "    return [p]\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(batch.AREA_STEPS, "fake", "fake_step:batch_step")
    text = monaco["batch"].read_text(encoding="utf-8")
    path = monaco["folder"] / "steps-batch.toml"
    path.write_text('steps = ["fake"]\n' + text, encoding="utf-8")
    result = batch.run_batch(batch.load_batch(path), out_dir=tmp_path / "out")
    for area in result.areas:
        (written,) = area.outputs
        n, edges = Path(written).read_text().split()
        assert int(n) == area.compounds and int(edges) == area.edges
        assert Path(written).parent.parent == (tmp_path / "out" / "areas").resolve()


def test_clipped_network_is_the_whole_graph_restricted(monaco: dict) -> None:
    net = pipeline.network_for_study(monaco["study"])
    w, s, e, n = net.nodes.lon.min(), net.nodes.lat.min(), net.nodes.lon.max(), net.nodes.lat.max()
    poly = shapely.box(w, s, (w + e) / 2, (s + n) / 2)
    part = batch.clip_network(net, poly)
    # the kept edges are exactly those touching the polygon, with the same end nodes
    touching = shapely.intersects(np.asarray(net.edges.geometry.values), poly)
    assert len(part.edges) == touching.sum() > 100
    ids = net.nodes.node_id.to_numpy()
    whole_pairs = set(zip(ids[net.edges.u[touching]], ids[net.edges.v[touching]], strict=True))
    pid = part.nodes.node_id.to_numpy()
    assert set(zip(pid[part.edges.u], pid[part.edges.v], strict=True)) == whole_pairs
    assert part.crs == net.crs
    assert np.allclose(part.edges.length_m, net.edges.length_m[touching])
    # components recounted: 0 is the largest
    sizes = np.bincount(part.nodes.component)
    assert sizes[0] == sizes.max()


def test_demo_batch_file(tmp_path: Path) -> None:
    sample.write_demo_study(tmp_path)
    spec = batch.load_batch(sample.write_demo_batch(tmp_path))
    assert [a.name for a in spec.areas] == [name for name, _, _ in sample.DEMO_AREAS]
    assert spec.study is not None and list(spec.study.services) == [
        s.key for s in sample.DEMO_SERVICES
    ]
    # the four areas tile the extract without overlapping
    union = shapely.union_all([a.geometry for a in spec.areas])
    w, s, e, n = sample.osm_file_bounds(sample.demo_osm_file())
    assert union.area == pytest.approx((e - w) * (n - s))
    assert sum(a.geometry.area for a in spec.areas) == pytest.approx(union.area)


# --------------------------------------------------------------------------------------------
# on Dask


def _same_results(got: batch.BatchResult, ref: batch.BatchResult) -> None:
    assert [a.status for a in got.areas] == [a.status for a in ref.areas]
    for key, res in ref.services.items():
        pd.testing.assert_frame_equal(
            got.services[key].assessed.drop(columns="geometry"),
            res.assessed.drop(columns="geometry"),
        )
        pd.testing.assert_frame_equal(
            got.services[key].loads.drop(columns="geometry"), res.loads.drop(columns="geometry")
        )


# run in each worker process (client.run): the first area to start its analysis there
# announces its worker's pid in ``marker`` and stays busy until the test kills the process
_BUSY_UNTIL_KILLED = """
import os, time
from coverage import pipeline
real_analyze = pipeline.analyze
def analyze(*args, **kwargs):
    try:
        fd = os.open(MARKER + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:  # another area holds the pause: work as usual
        return real_analyze(*args, **kwargs)
    os.close(fd)
    with open(MARKER + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(MARKER + ".tmp", MARKER)
    while True:
        time.sleep(1)
pipeline.analyze = analyze
"""


@pytest.mark.slow
def test_local_cluster_with_two_workers_survives_a_killed_worker(
    monaco: dict, reference: batch.BatchResult, tmp_path: Path
) -> None:
    spec = batch.load_batch(monaco["batch"])
    client = batch.connect(workers=2)
    marker = tmp_path / "busy.pid"
    again: list[batch.BatchResult] = []
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        got = batch.run_batch(spec, client=client)
        # two worker processes did the work; the results are those of the areas run here
        _same_results(got, reference)
        assert len({a.worker for a in got.areas}) == 2
        # again, killing a worker process while it is busy with an area: its analysis
        # announces itself and waits (no race with the areas finishing first)
        client.run(exec, _BUSY_UNTIL_KILLED.replace("MARKER", repr(str(marker))), {})
        runner = threading.Thread(
            target=lambda: again.append(batch.run_batch(spec, client=client)), daemon=True
        )
        runner.start()
        deadline = time.monotonic() + 300  # a hang guard only
        while not marker.exists():
            assert runner.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        killed = int(marker.read_text())
        os.kill(killed, signal.SIGKILL)
        runner.join(timeout=600)
        assert not runner.is_alive()
        live = set(client.run(os.getpid).values())
    finally:
        client.close()
    # the busy worker was killed midway; its nanny started a new process, the area ran again
    # elsewhere and the batch completed with the same results
    assert killed not in live
    assert len(again) == 1 and all(a.status == "ok" for a in again[0].areas)
    _same_results(again[0], reference)


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen[bytes]) -> str:
    """The address the scheduler writes once it listens (on a port it chose itself: a port
    picked here and passed on could be taken by another process meanwhile)."""
    deadline = time.monotonic() + 300  # a hang guard only
    while True:
        try:
            return str(json.loads(scheduler_file.read_text(encoding="utf-8"))["address"])
        except (OSError, ValueError, KeyError):  # not yet there, or being written
            assert scheduler.poll() is None, "the scheduler ended"
            assert time.monotonic() < deadline, "the scheduler never wrote its address"
            time.sleep(0.05)


@pytest.mark.slow
def test_dask_scheduler_and_workers_on_loopback(
    monaco: dict, reference: batch.BatchResult, tmp_path: Path
) -> None:
    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    files = []

    def start(args: list[str], name: str) -> None:
        files.append((logs / name).open("w"))
        procs.append(
            subprocess.Popen([dask, *args], stdout=files[-1], stderr=files[-1], cwd=tmp_path)
        )

    try:
        start(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(scheduler_file),
                "--no-dashboard",
            ],
            "scheduler.log",
        )
        address = _scheduler_address(scheduler_file, procs[0])
        for i in range(2):
            start(
                [
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                ],
                f"worker{i}.log",
            )
        from distributed import Client

        with Client(address, timeout=60, set_as_default=False) as probe:
            probe.wait_for_workers(2, timeout=120)
        out = tmp_path / "out"
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                "from coverage.cli import main; main()",
                "--lang",
                "en",
                "batch",
                str(monaco["batch"]),
                "--out",
                str(out),
                "--scheduler",
                address,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr
        assert "scheduler tcp://127.0.0.1" in res.stderr and "2 workers" in res.stderr
        assert "[4/4]" in res.stderr
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in files:
            f.close()
    ref = reference
    written = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    expected = pd.concat([r.assessed for r in ref.services.values()], ignore_index=True)
    assert written["compound_id"].tolist() == expected["compound_id"].tolist()
    assert np.allclose(written["walk_min"], expected["walk_min"].round(2), equal_nan=True)
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert len(areas) == 4 and set(areas["status"]) == {"ok"}
    assert len(set(areas["worker"])) == 2


@pytest.mark.slow
def test_cli_batch_with_a_failing_area_exits_1(tmp_path: Path) -> None:
    _, batch_file = _cau_region(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["batch", str(batch_file), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert "乙" in res.output and "areas.csv" in res.output
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert areas["status"].tolist() == ["failed", "ok"]
    assert "bad.csv" in areas["error"].iloc[0]


def test_per_area_studies_must_share_services(tmp_path: Path) -> None:
    study_file, _ = _cau_region(tmp_path)
    other = tmp_path / "other.toml"
    other.write_text(
        study_file.read_text(encoding="utf-8").replace("minutes = [3, 6]", "minutes = [4, 8]"),
        encoding="utf-8",
    )
    path = tmp_path / "mixed.toml"
    path.write_text(
        '[[area]]\nname = "a"\nstudy = "study.toml"\n[[area]]\nname = "b"\nstudy = "other.toml"\n',
        encoding="utf-8",
    )
    with pytest.raises(StudyError, match=r"area\[1\]\.study: .*same services and thresholds"):
        batch.load_batch(path)
