"""coverage-planner: walk-time coverage of community service stations (15分钟便民服务圈).

The workflow and its building blocks at the top level, as in a notebook::

    import coverage as cp

    study = cp.load_study("study.toml")          # or cp.demo_study("reports/demo")
    net = cp.network_for_study(study)
    data = cp.load_inputs(study, network=net)
    analysis = cp.analyze(study, net, data)
    analysis.summary_frame()
    cp.write_analysis(analysis, "reports/my-study")

Functions are imported on first use (module ``__getattr__``), so ``import coverage`` stays
cheap; ``docs/api.md`` lists every name with one line each.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coverage.errors import (
    CoverageError,
    CoverageWarning,
    CRSError,
    InfeasibleError,
    InputError,
    NetworkError,
    SourceFileError,
    StudyError,
)

DIST_NAME = "coverage-planner"


def _check_not_coverage_py() -> None:
    """Refuse to run from a ``coverage/`` folder shared with coverage.py.

    coverage.py installs a top-level ``coverage/`` package too: installed into one environment,
    the two overwrite each other's files. Only this project has ``pipeline.py``; only
    coverage.py has ``cmdline.py`` and a ``coverage-<version>.dist-info`` folder.
    """
    here = Path(__file__).resolve().parent
    ours = (here / "pipeline.py").is_file()
    theirs = [p.name for p in (here / "cmdline.py", here / "control.py") if p.is_file()]
    theirs += sorted(p.name for p in here.parent.glob("coverage-*.dist-info"))
    if ours and not theirs:
        return
    found = ", ".join(theirs) if theirs else f"no pipeline.py in {here}"
    raise ImportError(
        "coverage-planner 与 coverage.py 冲突：两者都安装名为 coverage 的包，装在同一环境里会互相"
        "覆盖文件 (coverage-planner and coverage.py both install a top-level package named "
        f"'coverage' and overwrite each other's files; found {found} in {here.parent}). "
        "请在单独的虚拟环境中使用 coverage-planner：pip uninstall coverage 后重新安装 "
        "coverage-planner，或使用本项目 Makefile 创建的 .venv (use coverage-planner in its own "
        "virtual environment: `pip uninstall coverage`, then reinstall coverage-planner, or "
        "use the .venv the project's Makefile makes)."
    )


_check_not_coverage_py()

logging.getLogger("coverage").addHandler(logging.NullHandler())

# name -> module that defines it; imported on first access (see __getattr__)
_LAZY = {
    "load_study": "coverage.config",
    "Study": "coverage.config",
    "network_for_study": "coverage.pipeline",
    "load_inputs": "coverage.pipeline",
    "analyze": "coverage.pipeline",
    "Analysis": "coverage.results",
    "write_analysis": "coverage.outputs",
    "demo_study": "coverage.sample",
    "snap_points": "coverage.snap",
    "nearest_station": "coverage.travel",
    "walk_times": "coverage.travel",
    "travel_graph": "coverage.travel",
    "WalkNetwork": "coverage.network",
}

if TYPE_CHECKING:  # pragma: no cover
    from coverage.config import Study, load_study
    from coverage.network import WalkNetwork
    from coverage.outputs import write_analysis
    from coverage.pipeline import analyze, load_inputs, network_for_study
    from coverage.results import Analysis
    from coverage.sample import demo_study
    from coverage.snap import snap_points
    from coverage.travel import nearest_station, travel_graph, walk_times

__all__ = [
    "Analysis",
    "CRSError",
    "CoverageError",
    "CoverageWarning",
    "InfeasibleError",
    "InputError",
    "NetworkError",
    "SourceFileError",
    "Study",
    "StudyError",
    "WalkNetwork",
    "__version__",
    "analyze",
    "demo_study",
    "load_inputs",
    "load_study",
    "nearest_station",
    "network_for_study",
    "snap_points",
    "travel_graph",
    "walk_times",
    "write_analysis",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version(DIST_NAME)
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'coverage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
