"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import coverage as cp
from _studies import cau_study


@pytest.fixture(scope="session")
def analysis_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[cp.Analysis, Path]:
    """The CAU study analysed through the top-level API, and its output folder."""
    folder = tmp_path_factory.mktemp("cau")
    study = cp.load_study(cau_study(folder))
    net = cp.network_for_study(study, cache_dir=folder / "cache")
    data = cp.load_inputs(study, network=net)
    analysis = cp.analyze(study, net, data)
    cp.write_analysis(analysis, folder / "out")
    return analysis, folder / "out"
