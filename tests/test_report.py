"""The report bundle from an analysis: numbers equal the analyze outputs, the workbook, the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from _machine import lacking
from _mapdata import PAYLOADS, compounds, lattice, stations, study
from coverage import charts, history, pipeline, report


@pytest.fixture(scope="module")
def grouped() -> tuple:
    """The lattice study with two streets and four communities (so the page has groups)."""
    s = study()
    net = lattice()
    layer = compounds()
    layer["街道"] = ["东街道" if i % 2 else "西街道" for i in range(len(layer))]
    layer["社区"] = [f"社区{i % 4}" for i in range(len(layer))]
    analysis = pipeline.analyze(s, net, pipeline.StudyInputs(layer, stations()), circles=False)
    return s, net, analysis


@pytest.fixture(scope="module")
def written(grouped, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple]:
    s, net, analysis = grouped
    folder = tmp_path_factory.mktemp("report")
    out = report.write_report(
        folder, study=s, analysis=analysis, network=net, run_date="2026-11-30"
    )
    return folder, out


def test_the_bundle_holds_every_file(written) -> None:
    folder, (files, _snap, changes, _record) = written
    for name in (
        "report.html",
        "gaps.xlsx",
        "map.html",
        "run.json",
        "compounds.csv",
        "stations.csv",
        "gaps.csv",
        "summary.csv",
        "summary.json",
        "coverage.gpkg",
    ):
        assert (folder / name).is_file(), name
        assert name in files
    assert changes.first_run
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert run["command"] == "report" and run["status"] == "ok" and run["exit_code"] == 0
    assert run["run_date"] == "2026-11-30" and "report.html" in run["outputs"]
    assert run["versions"]["coverage-planner"]


def test_report_numbers_equal_the_analyze_outputs(written) -> None:
    folder, _ = written
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["services"]
    page = (folder / "report.html").read_text(encoding="utf-8")
    wb = load_workbook(folder / "gaps.xlsx")
    ws = wb.worksheets[0]
    rows = [r for r in ws.iter_rows(min_row=2, values_only=True) if r[1] is not None]
    assert ws.cell(row=ws.max_row, column=1).value == "示例数据：测试用"  # the note
    labels_ = {"party": "党群服务站", "meal": f"助餐点{PAYLOADS[1]}"}
    seen = 0
    for key, svc in summary.items():
        for minutes, v in svc["thresholds"].items():
            match = [r for r in rows if r[0] == labels_[key] and r[1] == float(minutes)]
            assert len(match) == 1, (key, minutes)
            _label, _m, total, covered, share, n_total, n_covered = match[0]
            assert covered == v["households_covered"] and total == v["households_total"]
            assert share == pytest.approx(v["share_covered"])
            assert (n_total, n_covered) == (v["compounds_total"], v["compounds_covered"])
            # the headline card shows the same numbers
            assert f"{v['share_covered']:.1%}</span> ({v['households_covered']:,.0f} / " in page
            seen += 1
    assert seen == len(rows)
    # the gap table of the page follows gaps.csv, in its order
    gaps = pd.read_csv(folder / "gaps.csv", encoding="utf-8-sig")
    party = gaps[gaps["service"] == "party"]
    section = page[page.index("id='gaps'") : page.index("id='loads'")]
    ids = re.findall(r"<tr><td class=\"n\">\d+</td><td>([^<]*)</td>", section)
    import html

    assert [html.unescape(i) for i in ids[: len(party)]] == [str(x) for x in party["compound_id"]]


def test_workbook_sheets_headers_and_numbers(written, grouped) -> None:
    folder, _ = written
    _s, _n, analysis = grouped
    wb = load_workbook(folder / "gaps.xlsx")
    assert wb.sheetnames == ["汇总", "党群服务站", "助餐点${alert(2)}", "站点负荷", "分组覆盖"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert all(ws.column_dimensions[c.column_letter].width >= 4 for c in ws[1])
    head = [c.value for c in wb["党群服务站"][1]]
    assert head[:8] == [
        "排名",
        "小区编号",
        "名称",
        "户数",
        "最近站点",
        "步行分钟",
        "差几分钟",
        "未覆盖原因",
    ]
    assert head[8:] == ["街道", "社区"]
    gaps = analysis.services["party"].gaps
    body = list(wb["党群服务站"].iter_rows(min_row=2, values_only=True))
    assert len(body) == len(gaps)
    for row, (_, g) in zip(body, gaps.iterrows(), strict=True):
        assert isinstance(row[0], int) and isinstance(row[3], int | float)
        assert row[1] == g["compound_id"] and row[3] == g["households"]
        assert row[5] is None or row[5] == pytest.approx(g["walk_min"])
        assert row[7] in (
            "步行超出阈值",
            "路网不连通，无法到达",
            "距步行道路过远",
            "按研究的接入规则没有出入口",
        )
    loads = list(wb["站点负荷"].iter_rows(min_row=2, values_only=True))
    assert len(loads) == 5 and all(isinstance(r[4], int | float) for r in loads)
    assert {r[7] for r in loads} <= {"是", "否"}
    groups = list(wb["分组覆盖"].iter_rows(min_row=2, values_only=True))
    assert {r[2] for r in groups} >= {"东街道", "西街道", "东街道 / 社区1"}
    assert all(isinstance(r[6], int | float) for r in groups)  # share_covered as a number


def test_page_is_self_contained_and_escaped(written) -> None:
    folder, _ = written
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "@import" not in page and not re.search(r"url\((?!#)", page)
    assert PAYLOADS[0] not in page and html_escaped(PAYLOADS[0]) in page
    assert "示例数据：测试用" in page
    assert page.count("<svg") >= 1 and "href='map.html'" in page
    for section in ("headline", "changes", "gaps", "loads", "groups"):
        assert section == "headline" or f"id='{section}'" in page
    assert "东街道 / 社区1" in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_english_page(grouped, tmp_path: Path) -> None:
    s, net, analysis = grouped
    report.write_report(
        tmp_path, study=s, analysis=analysis, network=net, run_date="2026-11-30", lang="en"
    )
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Coverage-gap report" in page and "Station loads" in page and 'lang="en"' in page
    wb = load_workbook(tmp_path / "gaps.xlsx")
    assert wb.sheetnames[0] == "summary" and wb["Party"]["A1"].value == "rank"


def test_page_says_so_without_a_cjk_font(grouped, tmp_path: Path, monkeypatch) -> None:
    s, net, analysis = grouped
    monkeypatch.setenv("COVERAGE_CJK_FONT", str(tmp_path / "no-such-font.ttc"))
    charts.cjk_font.cache_clear()
    try:
        report.write_report(
            tmp_path, study=s, analysis=analysis, network=net, run_date="2026-11-30"
        )
    finally:
        charts.cjk_font.cache_clear()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "未找到中文字体" in page and "<svg" in page
    assert json.loads((tmp_path / "run.json").read_text())["cjk_font"] is None


def test_chart_text_is_outlined_with_a_cjk_font() -> None:
    if charts.cjk_font() is None:
        lacking("cjk-font", "no CJK font: `make fonts` installs fonts-noto-cjk")
    frame = pd.DataFrame(
        {
            "label": ["党群服务站", "党群服务站"],
            "minutes": [5.0, 10.0],
            "households_covered": [10.0, 20.0],
            "households_total": [30.0, 30.0],
            "share_covered": [1 / 3, 2 / 3],
        }
    )
    svg = charts.coverage_by_threshold_svg(
        frame, title="各阈值内覆盖户数", xlabel="服务", ylabel="户数", total_label="总户数"
    )
    assert svg.startswith("<svg") and "<text" not in svg  # glyphs as paths: no font needed
    assert svg == charts.coverage_by_threshold_svg(
        frame, title="各阈值内覆盖户数", xlabel="服务", ylabel="户数", total_label="总户数"
    )


def test_slug_and_history_of_the_batch_step(grouped, tmp_path: Path) -> None:
    s, net, analysis = grouped
    paths = report.batch_step(
        study=s,
        network=net,
        inputs=pipeline.StudyInputs(compounds(), stations()),
        analysis=analysis,
        out_dir=tmp_path / "area-1",
    )
    assert any(p.name == "report.html" for p in paths)
    assert len(history.read_runs(tmp_path / "area-1" / history.HISTORY_FILE)) == 1
    assert report.report_slug(s.name) == "测试研究-b-粗体-b"


def _siting_study(siting: object) -> object:
    from coverage.config import study_from_dict

    return study_from_dict(
        {
            "name": "s",
            "network": {"bbox": [116.29, 39.99, 116.31, 40.01]},
            "services": {"meal": {"stations": __file__}},
            "siting": siting,
        }
    )


def test_the_siting_table_of_a_study() -> None:
    s = _siting_study({"service": "meal", "new": 3, "minutes": 10, "generate": ["kmeans"]})
    assert s.siting is not None
    assert (s.siting.service, s.siting.new, s.siting.minutes, s.siting.generate) == (
        "meal",
        3,
        10.0,
        ("kmeans",),
    )
    assert s.siting.curve is None


@pytest.mark.parametrize(
    ("siting", "message"),
    [
        ({"new": 3}, "siting.service: required key is missing"),
        ({"service": "party", "new": 3}, "siting.service: unknown service; defined: meal"),
        ({"service": "meal"}, "siting.new: required key is missing"),
        ({"service": "meal", "new": 0}, "siting.new: expected a positive whole number, got 0"),
        ({"service": "meal", "new": 2.5}, "siting.new: expected a positive whole number"),
        ({"service": "meal", "new": 2, "generate": ["osm", "x"]}, "siting.generate: expected"),
        ({"service": "meal", "new": 2, "where": 1}, "siting.where: unknown key"),
    ],
)
def test_bad_siting_tables(siting: dict, message: str) -> None:
    from coverage.errors import StudyError

    key, english = message.split(": ", 1)
    with pytest.raises(StudyError) as raised:
        _siting_study(siting)
    text = str(raised.value)
    assert f"{key}: " in text and english in text  # Chinese first, the English in brackets


def test_cli_bad_date_and_help(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from _studies import cau_study
    from coverage.cli import main

    study = cau_study(tmp_path)
    res = CliRunner().invoke(
        main, ["report", str(study), "--out", str(tmp_path / "r"), "--date", "2026-13-01"]
    )
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.output and res.exception is not None
    assert not (tmp_path / "r").exists()  # nothing written for bad input
    res = CliRunner().invoke(main, ["report", "--help"])
    assert res.exit_code == 0 and "定期覆盖缺口报告" in res.output and "--wait" in res.output
