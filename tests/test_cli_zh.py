"""Chinese first at the command line: a planner's own files through `coverage-planner validate`.

A GBK CSV of compounds with ``经度(GCJ)`` columns, an XLSX of stations with ``经度（GCJ-02）``
columns, and a study file typed with a Chinese input method.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import openpyxl
from click.testing import CliRunner

from coverage.cli import main
from coverage.coords import wgs84_to_gcj02

# Chizhou (池州): compounds and stations in WGS-84, written as Gaode (GCJ-02) gives them
LONS, LATS = np.array([117.4901, 117.5012, 117.5203]), np.array([30.6601, 30.6655, 30.6702])

STUDY = """name = "池州市贵池区 15分钟便民服务圈"
[network]
bbox = [117.40, 30.60, 117.60, 30.72]
[compounds]
path = "小区.csv"
[services.party]
label_zh = "党群服务站"
stations = "站点.xlsx"
minutes = [5, 10, 15]
"""


def _files(folder: Path, *, households: tuple[object, ...] = (120, 80, 35)) -> None:
    glon, glat = wgs84_to_gcj02(LONS, LATS)
    lines = ["小区编号,小区名称,户数,经度(GCJ),纬度(GCJ)"] + [
        f"XQ{i + 1},{name},{hh},{x:.7f},{y:.7f}"
        for i, (name, hh, x, y) in enumerate(
            zip(["秀山小区", "翠苑", "百牙新村"], households, glon, glat, strict=True)
        )
    ]
    (folder / "小区.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["站点编号", "站点名称", "经度（GCJ-02）", "纬度（GCJ-02）"])
    ws.append(["DQ1", "秀山党群服务站", float(glon[0]), float(glat[0])])
    wb.save(folder / "站点.xlsx")


def _validate(folder: Path, study: str, *args: str) -> tuple[int, str, str]:
    path = folder / "study.toml"
    path.write_text(study, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as in a terminal: the command prints warnings
        res = CliRunner().invoke(main, [*args, "validate", str(path)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.stderr
    return res.exit_code, res.stdout, res.stderr


def test_full_width_commas_then_gcj_columns(tmp_path: Path) -> None:
    _files(tmp_path)
    code, _, err = _validate(tmp_path, STUDY.replace("[5, 10, 15]", "[5，10，15]"))
    assert code == 2
    assert "第 9 行第 13 列 (line 9, column 13): 引号外有中文逗号 '，'" in err
    assert "Invalid value" not in err
    # fixed: the GCJ-02 column names decide the datum, and the command says so, once a file
    code, out, err = _validate(tmp_path, STUDY)
    assert code == 0, err
    assert "检查通过" in out and "小区: 3 个，235 户" in out
    warned = [ln for ln in err.splitlines() if ln.startswith("警告")]
    assert len(warned) == 2, err
    assert "经度(GCJ)/纬度(GCJ)" in warned[0] and "GCJ-02" in warned[0]
    assert "经度（GCJ-02）/纬度（GCJ-02）" in warned[1]
    # coords written in the service's table: accepted, confirms the datum, no warning left
    confirmed = STUDY.replace('stations = "站点.xlsx"', 'stations = "站点.xlsx"\ncoords = "gcj02"')
    code, _, err = _validate(tmp_path, confirmed)
    assert code == 0 and err.count("警告") == 1  # only the compounds' file is unconfirmed
    # an explicit coords the names contradict is refused
    code, _, err = _validate(tmp_path, confirmed.replace('"gcj02"', '"bd09"'))
    assert code == 2 and "the column names say GCJ-02" in err


def test_study_language_without_lang_option(tmp_path: Path) -> None:
    _files(tmp_path)
    bad = STUDY.replace("[5, 10, 15]", "[15, 10]")
    code, _, err = _validate(tmp_path, bad)
    assert code == 2
    assert "services.party.minutes: 阈值须严格递增，现为 [15, 10]" in err
    code, _, err = _validate(tmp_path, 'language = "en"\n' + bad)
    assert code == 2
    assert "services.party.minutes: thresholds must be strictly increasing, got [15, 10]" in err
    assert "阈值" not in err
    code, _, err = _validate(tmp_path, 'language = "en"\n' + bad, "--lang", "zh")
    assert "阈值须严格递增" in err
    # a layer key at the top says where it goes
    code, _, err = _validate(tmp_path, 'coords = "gcj02"\n' + STUDY)
    assert code == 2 and "coords: 未知的键；coords 是图层的键" in err
    assert "[services.<服务>.stations]" in err


def test_row_errors_name_excel_row_and_record(tmp_path: Path) -> None:
    _files(tmp_path, households=(120, "很多", 35))
    code, _, err = _validate(tmp_path, STUDY)
    assert code == 2
    # header = row 1, so the second compound is Excel's row 3
    assert "小区.csv, row 3 (XQ2 翠苑), column '户数': 户数不是有效数字" in err
    header = next(ln for ln in err.splitlines() if ln.startswith("输入数据有"))
    assert "Excel" in header  # what the row numbers count


def test_gcj_named_columns_give_gcj_output_columns(tmp_path: Path) -> None:
    """Outputs carry GCJ-02 columns when the inputs were GCJ-02, said by coords or by names."""
    from coverage import outputs, pipeline
    from coverage.config import load_study
    from coverage.results import StudyInputs

    _files(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    study = load_study(tmp_path / "study.toml")
    assert not outputs.study_uses_gcj02(study)  # no coords key anywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compounds, stations, candidates = pipeline.read_layers(study)
    inputs = StudyInputs(compounds, stations, candidates, None)
    assert outputs.study_uses_gcj02(study, inputs=inputs)  # the column names said GCJ-02
    wgs = tmp_path / "wgs.csv"
    wgs.write_text("编号,户数,经度,纬度\nA,1,117.5,30.66\n", encoding="utf-8")
    plain = STUDY.replace('path = "小区.csv"', 'path = "wgs.csv"').replace(
        '"站点.xlsx"', '"wgs.csv"'
    )
    (tmp_path / "study.toml").write_text(plain, encoding="utf-8")
    study = load_study(tmp_path / "study.toml")
    compounds, stations, candidates = pipeline.read_layers(study)
    assert not outputs.study_uses_gcj02(
        study, inputs=StudyInputs(compounds, stations, candidates, None)
    )


def test_layer_errors_follow_the_study_language(tmp_path: Path) -> None:
    """An English study gets English-only layer messages; --lang zh brings the Chinese back."""
    _files(tmp_path, households=(120, "很多", 35))
    code, _, err = _validate(tmp_path, 'language = "en"\n' + STUDY)
    assert code == 2
    lines = err.splitlines()
    header = next(ln for ln in lines if "problem(s) in" in ln)
    assert header.startswith("1 problem(s) in") and "输入数据" not in header
    assert "(row N as Excel shows it, header = row 1)" in header and "行号" not in header
    problem = next(ln for ln in lines if "row 3" in ln)
    # the file, column and value are the planner's own (Chinese); the words are English
    assert problem.endswith(
        "小区.csv, row 3 (XQ2 翠苑), column '户数': households is not a valid number: '很多'; "
        "enter a number >= 0 such as 120"
    )
    code, _, err = _validate(tmp_path, 'language = "en"\n' + STUDY, "--lang", "zh")
    assert code == 2
    assert "户数不是有效数字 (households is not a valid number): '很多'" in err
    assert next(ln for ln in err.splitlines() if ln.startswith("输入数据有 1 个问题"))
