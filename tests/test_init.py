"""Tests for the top-level package: the public API, its version and the coverage.py guard."""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import coverage as cp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(cp.__file__).resolve().parent

WORKFLOW = {
    "load_study": "coverage.config",
    "network_for_study": "coverage.pipeline",
    "load_inputs": "coverage.pipeline",
    "analyze": "coverage.pipeline",
    "write_analysis": "coverage.outputs",
    "demo_study": "coverage.sample",
    "snap_points": "coverage.snap",
    "nearest_station": "coverage.travel",
    "walk_times": "coverage.travel",
    "travel_graph": "coverage.travel",
}


@pytest.mark.parametrize(("name", "module"), sorted(WORKFLOW.items()))
def test_top_level_names_are_the_library_functions(name: str, module: str) -> None:
    assert name in cp.__all__
    assert getattr(cp, name) is getattr(importlib.import_module(module), name)
    assert (getattr(cp, name).__doc__ or "").strip()


def test_all_names_resolve_and_are_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in cp.__all__:
        assert getattr(cp, name) is not None
        assert f"`cp.{name}" in api, f"{name} is not in docs/api.md"
    assert set(cp.__all__) <= set(dir(cp))
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = cp.no_such_thing  # type: ignore[attr-defined]
    # the old place keeps working
    from coverage.pipeline import write_analysis

    assert write_analysis is cp.write_analysis


def test_version_comes_from_the_installed_metadata() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert cp.__version__ == importlib.metadata.version("coverage-planner")
    assert cp.__version__ == declared["project"]["version"]
    assert '__version__ = "' not in (PACKAGE / "__init__.py").read_text(encoding="utf-8")


def _python(code: str, *, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(path)} if path is not None else {}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**_base_env(), **env},
    )


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_import_is_light() -> None:
    """``import coverage`` loads none of the heavy libraries; a function loads its module."""
    res = _python(
        "import sys, coverage\n"
        "heavy = [m for m in ('pandas', 'geopandas', 'scipy', 'osmnx', 'coverage.pipeline')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
        "coverage.load_study\n"
        "print('coverage.config' in sys.modules, 'coverage.pipeline' in sys.modules)\n"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["[]", "True False"]


def _site_with_copy(tmp_path: Path) -> Path:
    """A site folder holding a copy of this package, as an install would."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "coverage", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def test_copy_of_the_package_imports(tmp_path: Path) -> None:
    site = _site_with_copy(tmp_path)
    res = _python("import coverage; print(coverage.__file__)", path=site)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(site / "coverage" / "__init__.py")


@pytest.mark.parametrize(
    ("intruder", "shown"),
    [
        ("coverage/cmdline.py", "cmdline.py"),  # coverage.py's files mixed into ours
        ("coverage-7.6.1.dist-info/METADATA", "coverage-7.6.1.dist-info"),  # same site folder
    ],
)
def test_import_refuses_to_share_the_folder_with_coverage_py(
    tmp_path: Path, intruder: str, shown: str
) -> None:
    site = _site_with_copy(tmp_path)
    (site / intruder).parent.mkdir(parents=True, exist_ok=True)
    (site / intruder).write_text("Name: coverage\n", encoding="utf-8")
    res = _python("import coverage", path=site)
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: coverage-planner 与 coverage.py 冲突"), res.stderr
    assert shown in last and "pip uninstall coverage" in last


def test_our_modules_refuse_to_run_under_coverage_pys_init(tmp_path: Path) -> None:
    """coverage.py installed after us: its __init__ replaced ours, its files sit beside ours."""
    site = _site_with_copy(tmp_path)
    (site / "coverage" / "__init__.py").write_text(
        '"""Code coverage measurement for Python."""\nversion_info = (7, 6, 1)\n', encoding="utf-8"
    )
    (site / "coverage" / "cmdline.py").write_text("", encoding="utf-8")
    res = _python("import coverage; print(coverage.version_info)", path=site)
    assert res.returncode == 0 and "(7, 6, 1)" in res.stdout  # that is coverage.py
    for code in ("import coverage.pipeline", "from coverage.cli import main"):
        res = _python(code, path=site)
        assert res.returncode == 1, code
        last = res.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError: coverage-planner 与 coverage.py 冲突"), res.stderr
        assert "cmdline.py" in last


def test_import_refuses_a_folder_without_this_projects_modules(tmp_path: Path) -> None:
    site = _site_with_copy(tmp_path)
    (site / "coverage" / "pipeline.py").unlink()
    res = _python("import coverage", path=site)
    assert res.returncode == 1 and "no pipeline.py" in res.stderr


# this interpreter's site-packages folder name in a virtual environment (not always 3.11)
_PYTHON_DIR = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _fake_venv(tmp_path: Path) -> Path:
    """An empty virtual environment on this interpreter, marked as installed for make."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    base = Path(sys.base_prefix) / "bin"
    (venv / "pyvenv.cfg").write_text(
        f"home = {base}\ninclude-system-site-packages = false\n", encoding="utf-8"
    )
    (venv / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    (venv / "lib" / _PYTHON_DIR / "site-packages").mkdir(parents=True)
    for stamp in (".installed-base", ".installed-test"):
        (venv / stamp).touch()
    return venv


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_refuses_an_environment_with_coverage_py(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    cmd = ["make", "-s", "check-env", f"VENV={venv}"]
    clean = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    coverage_py = venv / "lib" / _PYTHON_DIR / "site-packages" / "coverage"
    coverage_py.mkdir()
    (coverage_py / "cmdline.py").write_text("", encoding="utf-8")
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert "coverage.py is installed" in res.stdout and "pip uninstall -y coverage" in res.stdout
    # the dist-info alone (files not yet written) is caught too
    shutil.rmtree(coverage_py)
    info = venv / "lib" / _PYTHON_DIR / "site-packages" / "coverage-7.6.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: coverage\nVersion: 7.6.1\n")
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "coverage.py is installed" in res.stdout


def test_command_says_when_coverage_py_shadows_the_package(tmp_path: Path) -> None:
    """coverage.py found first on the path (an editable install beside it): a clear message."""
    shadow = tmp_path / "shadow" / "coverage"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        '"""Code coverage measurement for Python."""\nversion_info = (7, 6, 1)\n', encoding="utf-8"
    )
    code = "import coverage_planner; coverage_planner.main()"
    res = _python(code, path=tmp_path / "shadow")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("coverage-planner 与 coverage.py 冲突")
    assert str(shadow / "__init__.py") in res.stderr and "pip uninstall coverage" in res.stderr
    # our own folder with coverage.py's files in it: the package's guard, as one line
    site = _site_with_copy(tmp_path)
    (site / "coverage" / "cmdline.py").write_text("", encoding="utf-8")
    res = _python(code, path=site)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "cmdline.py" in res.stderr
    # and without coverage.py the command runs
    res = _python(
        "import sys, coverage_planner; sys.argv = ['x', '--version']; coverage_planner.main()"
    )
    assert res.returncode == 0 and "coverage-planner, version" in res.stdout
