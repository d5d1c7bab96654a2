"""Tests for coverage.results: the analysis shows itself briefly and its table is exact."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pandas as pd
import pytest

import coverage as cp


def test_repr_is_short_and_names_every_service(
    analysis_and_files: tuple[cp.Analysis, Path],
) -> None:
    analysis, _ = analysis_and_files
    text = repr(analysis)
    assert len(text) < 500, len(text)
    assert "CAU" in text and "party 15 min" in text and "meal 10 min" in text
    summary = analysis.summary["party"]["thresholds"]["15"]["share_covered"]
    assert f"{summary:.1%}" in text
    for result in analysis.services.values():
        assert len(repr(result)) < 500
    assert repr(cp.Analysis("x" * 300, {})) == f"Analysis({'x' * 77 + '...'!r}, no services)"
    # the result still pickles (a batch runs it in other processes) and keeps its numbers
    again = pickle.loads(pickle.dumps(analysis))
    assert again.summary == analysis.summary and again.language == "zh"


def test_summary_frame_is_summary_json(analysis_and_files: tuple[cp.Analysis, Path]) -> None:
    analysis, out = analysis_and_files
    frame = analysis.summary_frame()
    payload = json.loads((out / "summary.json").read_text(encoding="utf-8"))["services"]
    expected = [
        (key, minutes, v)
        for key, svc in payload.items()
        for minutes, v in svc["thresholds"].items()
    ]
    assert len(frame) == len(expected) == 3 + 2
    for row, (key, minutes, values) in zip(frame.itertuples(), expected, strict=True):
        assert (row.service, row.minutes) == (key, float(minutes))
        for col, value in values.items():
            assert getattr(row, col) == pytest.approx(value)
    assert list(frame.label.unique()) == ["党群服务站", "助餐点"]
    # the summary frame is also the overall rows of the per-service summary tables
    party = analysis.services["party"].summary
    overall = party[party.scope == "overall"].reset_index(drop=True)
    mine = frame[frame.service == "party"].reset_index(drop=True)
    pd.testing.assert_series_equal(mine.households_covered, overall.households_covered)
    assert list(analysis.summary_frame(lang="en").label.unique()) == ["Party station", "meal"]


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, flags=re.S) for r in rows]


def test_repr_html_is_the_coverage_table(analysis_and_files: tuple[cp.Analysis, Path]) -> None:
    analysis, out = analysis_and_files
    html = analysis._repr_html_()
    assert "CAU" in html and "test note" in html and "户数覆盖率" in html
    header, *body = _cells(html)
    assert header[:3] == ["服务", "阈值（分钟）", "总户数"]
    payload = json.loads((out / "summary.json").read_text(encoding="utf-8"))["services"]
    expected = [
        (svc["label_zh"], minutes, v)
        for svc in payload.values()
        for minutes, v in svc["thresholds"].items()
    ]
    assert len(body) == len(expected)
    for cells, (label, minutes, v) in zip(body, expected, strict=True):
        row = dict(zip(header, cells, strict=True))
        assert row["服务"] == label and row["阈值（分钟）"] == minutes
        assert row["覆盖户数"] == f"{v['households_covered']:,.0f}"
        assert row["户数覆盖率"] == f"{v['share_covered']:.1%}"
        assert int(row["覆盖小区数"]) == v["compounds_covered"]
        assert int(row["小区数"]) == v["compounds_total"]
