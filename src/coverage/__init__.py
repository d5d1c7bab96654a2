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
from typing import TYPE_CHECKING, Any

from coverage._identity import DIST_NAME  # first: refuses a folder shared with coverage.py
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
    "snap_layer": "coverage.snap",
    "node_times": "coverage.travel",
    "node_times_by_source": "coverage.travel",
    "service_areas": "coverage.isochrones",
    "coverage_map": "coverage.maps",
    "write_map": "coverage.maps",
    "MaxCoverage": "coverage.siting",
    "MinStations": "coverage.siting",
    "MinWalkTime": "coverage.siting",
    "CapacitatedCoverage": "coverage.siting",
    "coverage_curve": "coverage.siting",
    "site_service": "coverage.siting_study",
    "write_siting": "coverage.siting_study",
    "load_batch": "coverage.batch",
    "run_batch": "coverage.batch",
    "write_batch": "coverage.batch",
    "wgs84_to_gcj02": "coverage.coords",
    "gcj02_to_wgs84": "coverage.coords",
    "run_report": "coverage.report",
    "read_coverage_history": "coverage.history",
}

if TYPE_CHECKING:  # pragma: no cover
    from coverage.batch import load_batch, run_batch, write_batch
    from coverage.config import Study, load_study
    from coverage.coords import gcj02_to_wgs84, wgs84_to_gcj02
    from coverage.history import read_coverage_history
    from coverage.isochrones import service_areas
    from coverage.maps import coverage_map, write_map
    from coverage.network import WalkNetwork
    from coverage.outputs import write_analysis
    from coverage.pipeline import analyze, load_inputs, network_for_study
    from coverage.report import run_report
    from coverage.results import Analysis
    from coverage.sample import demo_study
    from coverage.siting import (
        CapacitatedCoverage,
        MaxCoverage,
        MinStations,
        MinWalkTime,
        coverage_curve,
    )
    from coverage.siting_study import site_service, write_siting
    from coverage.snap import snap_layer, snap_points
    from coverage.travel import (
        nearest_station,
        node_times,
        node_times_by_source,
        travel_graph,
        walk_times,
    )

__all__ = [
    "Analysis",
    "CRSError",
    "CapacitatedCoverage",
    "CoverageError",
    "CoverageWarning",
    "InfeasibleError",
    "InputError",
    "MaxCoverage",
    "MinStations",
    "MinWalkTime",
    "NetworkError",
    "SourceFileError",
    "Study",
    "StudyError",
    "WalkNetwork",
    "__version__",
    "analyze",
    "coverage_curve",
    "coverage_map",
    "demo_study",
    "gcj02_to_wgs84",
    "load_batch",
    "load_inputs",
    "load_study",
    "nearest_station",
    "network_for_study",
    "node_times",
    "node_times_by_source",
    "read_coverage_history",
    "run_batch",
    "run_report",
    "service_areas",
    "site_service",
    "snap_layer",
    "snap_points",
    "travel_graph",
    "walk_times",
    "wgs84_to_gcj02",
    "write_analysis",
    "write_batch",
    "write_map",
    "write_siting",
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
