"""Tests for coverage.outputset: output sets appear whole, never over an input or a planner's file.

The interruptions are real: an exception injected while the 3rd file is written, a failure in
the middle of the commit's renames, and SIGKILL of a subprocess at several points.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coverage import outputset, runinfo
from coverage.errors import InputError, OutputError
from coverage.outputset import STAGING_PREFIX, check_not_inputs, check_writable, output_set


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every visible file of a folder with its SHA-256 (hidden staging folders show up)."""
    return {p.name: _sha(p) if p.is_file() else "<dir>" for p in sorted(folder.iterdir())}


def _write_set(folder: Path, tag: str, names: tuple[str, ...] = ("a.csv", "b.csv", "c.gpkg")):
    with output_set(folder, command="analyze", names=names) as out:
        for name in names:
            (out.path / name).write_text(f"{name} of run {tag}\n", encoding="utf-8")
    return out


def test_a_set_is_committed_with_its_record(tmp_path: Path) -> None:
    out = _write_set(tmp_path / "out", "1")
    folder = tmp_path / "out"
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv", "b.csv", "c.gpkg", "run.json"]
    record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert record["run_id"] == out.run_id and record["command"] == "analyze"
    assert record["status"] == "ok" and record["exit_code"] == 0
    assert record["outputs"] == ["a.csv", "b.csv", "c.gpkg"]
    for name in ("a.csv", "b.csv", "c.gpkg"):  # independent hashes of the final files
        assert record["files"][name] == {
            "sha256": _sha(folder / name),
            "run_id": out.run_id,
            "command": "analyze",
        }
    assert out.files == [folder / n for n in ("a.csv", "b.csv", "c.gpkg")]
    assert outputset.verify_outputs(folder) == []
    (folder / "b.csv").write_text("edited\n", encoding="utf-8")
    assert outputset.verify_outputs(folder) == [f"b.csv: changed since run {out.run_id}"]


def test_an_exception_while_writing_the_third_file_keeps_the_previous_set(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    _write_set(folder, "old")
    before = _snapshot(folder)
    names = ["a.csv", "b.csv", "c.gpkg"]
    with (
        pytest.raises(RuntimeError, match="disk on fire"),
        output_set(folder, command="analyze", names=names) as out,
    ):
        (out.path / "a.csv").write_text("new a\n", encoding="utf-8")
        (out.path / "b.csv").write_text("new b\n", encoding="utf-8")
        with open(out.path / "c.gpkg", "w", encoding="utf-8") as handle:
            handle.write("half a gpkg")
            raise RuntimeError("disk on fire")
    assert _snapshot(folder) == before  # no new file, no staging folder left
    assert outputset.verify_outputs(folder) == []


@pytest.mark.parametrize("renames_before_failure", [0, 1, 2, 3])
def test_a_commit_stopped_between_renames_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames_before_failure: int
) -> None:
    folder = tmp_path / "out"
    _write_set(folder, "old")
    real_replace = os.replace
    calls = [0]

    def failing_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(dst).parent == folder:
            if calls[0] == renames_before_failure:
                raise OSError(5, "I/O error (injected)")
            calls[0] += 1
        real_replace(src, dst)

    monkeypatch.setattr(outputset.os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected"):
        _write_set(folder, "new")
    monkeypatch.setattr(outputset.os, "replace", real_replace)
    # the staging folder with its commit marker is kept ...
    assert len(list(folder.glob(f"{STAGING_PREFIX}*"))) == 1
    # ... and the next reader or writer finishes the commit: the whole new set
    assert outputset.verify_outputs(folder) == []
    for name in ("a.csv", "b.csv", "c.gpkg"):
        assert (folder / name).read_text(encoding="utf-8") == f"{name} of run new\n"
    assert not list(folder.glob(f"{STAGING_PREFIX}*"))


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from coverage import outputset
    folder, tag, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "commit":  # SIGKILL in the middle of the renames
        real, calls = os.replace, [0]
        def replace(src, dst):
            if Path(dst).parent == folder:
                calls[0] += 1
                if calls[0] == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        outputset.os.replace = replace
    names = ["a.csv", "b.csv", "c.gpkg", "d.json"]
    with outputset.output_set(folder, command="analyze", names=names) as out:
        for i, name in enumerate(names):
            (out.path / name).write_text(f"{name} of run {tag}\\n", encoding="utf-8")
            print(f"wrote {i + 1}", flush=True)
            if mode == f"slow{i + 1}":  # wait to be killed after this many files (if the
                if not sys.stdin.readline():  # test is gone, stdin closes: stop here)
                    os._exit(99)
    print("done", flush=True)
    """
)


def _child(folder: Path, tag: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(folder), tag, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("after_files", [1, 3])
def test_sigkill_while_writing_leaves_the_previous_set(tmp_path: Path, after_files: int) -> None:
    folder = tmp_path / "out"
    _write_set(folder, "old", ("a.csv", "b.csv", "c.gpkg", "d.json"))
    before = _snapshot(folder)
    child = _child(folder, "new", f"slow{after_files}")
    assert child.stdout is not None
    for _ in range(after_files):  # the child waits on stdin after that many
        assert child.stdout.readline().startswith("wrote")
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    staged = list(folder.glob(f"{STAGING_PREFIX}*"))
    assert len(staged) == 1 and len(list(staged[0].iterdir())) == after_files
    # the visible files are the old set, byte for byte
    assert {k: v for k, v in _snapshot(folder).items() if not k.startswith(".")} == before
    # the next run clears what the killed one left and writes its whole set
    _write_set(folder, "next", ("a.csv", "b.csv", "c.gpkg", "d.json"))
    assert not list(folder.glob(f"{STAGING_PREFIX}*"))
    assert outputset.verify_outputs(folder) == []
    assert (folder / "d.json").read_text(encoding="utf-8") == "d.json of run next\n"


def test_sigkill_during_the_commit_is_finished_by_the_next_reader(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    _write_set(folder, "old", ("a.csv", "b.csv", "c.gpkg", "d.json"))
    child = _child(folder, "new", "commit")
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    texts = {n: (folder / n).read_text(encoding="utf-8") for n in ("a.csv", "d.json")}
    assert texts["a.csv"].endswith("run new\n") and texts["d.json"].endswith("run old\n")
    # a mix for the moment, marked by the staging folder: any reader finishes it
    staged = list(folder.glob(f"{STAGING_PREFIX}*"))
    assert len(staged) == 1 and (staged[0] / "COMMIT.json").is_file()
    assert outputset.recover(folder) == [f"finished {staged[0].name}"]
    assert outputset.verify_outputs(folder) == []
    for name in ("a.csv", "b.csv", "c.gpkg", "d.json"):
        assert (folder / name).read_text(encoding="utf-8") == f"{name} of run new\n"
    record = runinfo.read_run_record(folder)
    assert record is not None
    assert {e["run_id"] for e in record["files"].values()} == {record["run_id"]}


def test_a_running_set_is_not_cleared_by_another(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    first = output_set(folder, command="analyze", names=["a.csv"]).open()
    (first.path / "a.csv").write_text("first\n", encoding="utf-8")
    # another command writing into the same folder meanwhile
    with output_set(folder, command="isochrones", names=["z.gpkg"]) as second:
        (second.path / "z.gpkg").write_text("second\n", encoding="utf-8")
    assert first.path.is_dir()  # its staging was left alone (locked by a live run)
    first.commit()
    record = runinfo.read_run_record(folder)
    assert record is not None
    assert set(record["files"]) == {"a.csv", "z.gpkg"}
    assert [r["command"] for r in record["earlier_runs"]] == ["isochrones"]
    assert outputset.verify_outputs(folder) == []


def test_stale_outputs_of_the_same_command_go_other_commands_stay(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    _write_set(folder, "1", ("a.csv", "extra.geojson"))
    with output_set(folder, command="map", names=["map.html"]) as out:
        (out.path / "map.html").write_text("<html></html>", encoding="utf-8")
    _write_set(folder, "2", ("a.csv",))  # this run writes no extra.geojson
    assert not (folder / "extra.geojson").exists()
    assert (folder / "map.html").is_file()  # another command's output
    record = runinfo.read_run_record(folder)
    assert record is not None and set(record["files"]) == {"a.csv", "map.html"}
    assert [r["command"] for r in record["earlier_runs"]] == ["map"]


def test_a_planners_own_file_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    own = folder / "b.csv"
    own.write_bytes("名称,户数\n秀山小区,120\n".encode("gbk"))
    with pytest.raises(InputError, match=r"b\.csv") as err:
        _write_set(folder, "1")
    assert "run.json" in str(err.value) and "--out" in str(err.value)
    assert own.read_bytes() == "名称,户数\n秀山小区,120\n".encode("gbk")
    assert sorted(p.name for p in folder.iterdir()) == ["b.csv"]  # nothing written
    # an output edited after the run (saved from Excel) is the planner's now
    other = tmp_path / "out"
    _write_set(other, "1")
    (other / "a.csv").write_text("my notes\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.csv"):
        _write_set(other, "2")
    assert (other / "a.csv").read_text(encoding="utf-8") == "my notes\n"


def test_outputs_over_inputs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "compounds.csv").write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"compounds\.csv: 输出会覆盖输入文件") as err:
        check_not_inputs([data / "compounds.csv", data / "gaps.csv"], [data / "compounds.csv"])
    assert "gaps.csv" not in str(err.value)
    # the same file through a symbolic link, and a relative path
    (tmp_path / "link").symlink_to(data)
    with pytest.raises(InputError):
        check_not_inputs([tmp_path / "link" / "compounds.csv"], [data / "compounds.csv"])
    monkeypatch.chdir(tmp_path)  # undone after the test (later tests run in the project)
    with pytest.raises(InputError):
        check_not_inputs([Path("data/compounds.csv")], [data / "compounds.csv"])
    with (
        pytest.raises(InputError),
        output_set(data, command="analyze", inputs=[data / "compounds.csv"]) as out,
    ):
        (out.path / "compounds.csv").write_text("result\n", encoding="utf-8")
    assert (data / "compounds.csv").read_text(encoding="utf-8") == "id\n1\n"
    assert not list(data.glob(f"{STAGING_PREFIX}*"))


def test_unwritable_folders_are_refused_before_the_work(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    for folder in (a_file, a_file / "out"):
        with pytest.raises(OutputError, match="无法写入") as err:
            check_writable(folder)
        assert isinstance(err.value, OSError) and str(folder) in str(err.value)
    # a folder that really cannot be written, even by root (sysfs)
    if Path("/sys/kernel").is_dir():
        with pytest.raises(OutputError, match="/sys/coverage-planner-test"):
            check_writable("/sys/coverage-planner-test")
        with pytest.raises(OutputError, match="/sys"):
            check_writable("/sys")
    assert check_writable(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="ro"), output_set(folder, command="analyze"):
            pytest.fail("the work must not start")
    finally:
        folder.chmod(0o755)


def test_recover_removes_a_dead_runs_staging_only(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    dead = folder / f"{STAGING_PREFIX}analyze-dead"
    dead.mkdir(parents=True)
    (dead / "a.csv").write_text("half", encoding="utf-8")
    assert outputset.recover(folder) == [f"removed {dead.name}"]
    assert not dead.exists()
    assert outputset.recover(tmp_path / "missing") == []
    assert not (tmp_path / "missing").exists()  # a missing folder is not made


def test_a_run_json_that_is_not_ours_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "run.json").write_text('{"运行": "我的记录"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"run\.json"):
        _write_set(folder, "1")
    assert (folder / "run.json").read_text(encoding="utf-8") == '{"运行": "我的记录"}\n'
