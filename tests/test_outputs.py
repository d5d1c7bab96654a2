"""Tests for coverage.outputs: the files written and the lines the terminal shows."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import coverage as cp
from coverage import outputs, pipeline


def test_pipeline_keeps_write_analysis() -> None:
    assert pipeline.write_analysis is outputs.write_analysis is cp.write_analysis


def test_csv_is_the_table_rounded_for_people(analysis_and_files: tuple[cp.Analysis, Path]) -> None:
    analysis, out = analysis_and_files
    table = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    assessed = pd.concat([r.assessed for r in analysis.services.values()], ignore_index=True)
    assert len(table) == len(assessed)
    walk = assessed["walk_min"].round(2).to_numpy()
    assert ((table["walk_min"] == walk) | (table["walk_min"].isna() & pd.isna(walk))).all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["note"] == "test note" and summary["services"] == analysis.summary


@pytest.mark.parametrize("lang", ["zh", "en", None])
def test_coverage_lines(analysis_and_files: tuple[cp.Analysis, Path], lang: str | None) -> None:
    analysis, _ = analysis_and_files
    lines = outputs.coverage_lines(analysis, lang=lang)
    heads = [ln for ln in lines if not ln.startswith("  ")]
    assert len(heads) == len(analysis.services)
    for head, (key, svc) in zip(heads, analysis.summary.items(), strict=True):
        label = svc["label_en"] if lang == "en" else svc["label_zh"]
        assert head.startswith(label)
        for minutes, v in svc["thresholds"].items():
            assert f"{minutes} min {v['share_covered']:.1%}" in head
        gaps = analysis.services[key].gaps
        assert f"{len(gaps)} " in head
        named = lines[lines.index(head) + 1 : lines.index(head) + 1 + min(3, len(gaps))]
        for row, line in zip(gaps.head(3).itertuples(), named, strict=True):
            assert line.startswith("  ") and row.name in line
    # the analysis carries the study's language (zh here): it is the default
    assert outputs.coverage_lines(analysis) == outputs.coverage_lines(analysis, lang="zh")


@pytest.mark.parametrize(
    ("reason", "walk", "zh", "en"),
    [
        ("beyond_threshold", 17.25, "步行 17.2 分钟", "17.2 min walk"),
        ("unreachable", float("nan"), "路网不连通，无法到达", "unreachable on the walk network"),
        ("far_from_network", float("nan"), "距步行道路过远", "too far from any walkable way"),
    ],
)
def test_gap_line_says_why(reason: str, walk: float, zh: str, en: str) -> None:
    row = SimpleNamespace(rank=2, name="秀山小区", households=1234.0, walk_min=walk, reason=reason)
    assert outputs.gap_line(row, lang="zh") == f"缺口 2: 秀山小区（1,234 户，{zh}）"
    assert outputs.gap_line(row, lang="en") == f"gap 2: 秀山小区 (1,234 households, {en})"
