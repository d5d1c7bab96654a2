"""click's usage errors in Chinese first (English after it), English only for ``en``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from coverage.cli import main
from coverage.usage_errors import argv_language


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), prog_name="coverage-planner")
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.stderr


def test_missing_argument_in_chinese_then_english() -> None:
    code, err = _run("analyze")
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("用法 / Usage: coverage-planner analyze [OPTIONS] STUDY_FILE")
    assert "查看帮助" in lines[1] and "for help" in lines[1]
    assert lines[-1] == ("错误：缺少参数 STUDY_FILE / Error: Missing argument 'STUDY_FILE'.")


def test_missing_option(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('name = "x"\n', encoding="utf-8")
    code, err = _run("analyze", str(study))
    assert code == 2
    assert err.splitlines()[-1] == "错误：缺少选项 --out / Error: Missing option '--out'."


def test_unknown_option_and_command() -> None:
    code, err = _run("analyze", "--outt", "x", "s.toml")
    assert code == 2
    last = err.splitlines()[-1]
    assert last.startswith("错误：没有选项 --outt（是否想用 --out、")
    assert "/ Error: No such option '--outt'" in last
    code, err = _run("analyse")
    assert code == 2
    assert err.splitlines()[-1].startswith("错误：没有命令 analyse（是否想用 analyze？）")


def test_bad_choice_and_bad_number() -> None:
    code, err = _run("map", "s.toml", "--out", "m.html", "--basemap", "google")
    assert code == 2
    last = err.splitlines()[-1]
    assert last.startswith("错误：'--basemap' 的值无效，可选：osm、tianditu、gaode、none / Error:")
    assert "'google' is not one of" in last
    code, err = _run("report", "s.toml", "--out", "r", "--wait", "abc")
    assert code == 2
    assert err.splitlines()[-1].startswith("错误：'--wait' 须为数字 / Error: Invalid value")
    code, err = _run("report", "s.toml", "--out", "r", "--wait", "-1")
    assert err.splitlines()[-1].startswith("错误：'--wait' 的值超出范围 x>=0 / Error:")


def test_option_without_its_value_and_extra_argument() -> None:
    code, err = _run("analyze", "s.toml", "--out")
    assert code == 2
    assert err.splitlines()[-1].startswith("错误：选项 --out 后面需要一个值 / Error: Option")
    code, err = _run("validate", "a.toml", "b.toml")
    assert code == 2
    assert err.splitlines()[-1].startswith("错误：多余的参数 (b.toml) / Error: Got unexpected")


@pytest.mark.parametrize(
    "args",
    [
        ("--lang", "en", "analyze"),
        ("analyze", "--lang", "en"),
        ("analyze", "--lang=en"),
    ],
)
def test_english_with_lang_en(args: tuple[str, ...]) -> None:
    code, err = _run(*args)
    assert code == 2
    assert err.splitlines()[0].startswith("Usage: coverage-planner analyze")
    assert err.splitlines()[-1] == "Error: Missing argument 'STUDY_FILE'."
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in err)


def test_study_language_decides_without_lang(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('language = "en"\nname = "x"\n', encoding="utf-8")
    code, err = _run("analyze", str(study))
    assert code == 2
    assert err.splitlines()[-1] == "Error: Missing option '--out'."
    assert argv_language(["analyze", str(study), "--lang", "zh"]) == "zh"
    assert argv_language(["analyze", str(tmp_path / "missing.toml")]) == "zh"


def test_help_version_and_no_arguments_keep_their_exit_codes() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and "coverage-planner" in res.stdout
    res = CliRunner().invoke(main, ["analyze", "-h"])
    assert res.exit_code == 0 and "用法 / Usage:" in res.stdout
    res = CliRunner().invoke(main, [])
    assert res.exit_code == 2 and "命令 / Commands" in res.output


def test_real_process_exit_code_and_stderr(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("coverage-planner")
    proc = subprocess.run(
        [str(exe), "validate"], capture_output=True, text=True, encoding="utf-8", check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "错误：缺少参数 STUDY_FILE / Error: Missing argument 'STUDY_FILE'." in proc.stderr
