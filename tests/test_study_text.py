"""Tests for coverage.study_text: a study file typed with a Chinese input method.

Full-width punctuation outside quotes is named with its line and column (as an editor counts
them) and what to type instead; inside quotes and comments it is fine.
"""

from __future__ import annotations

from pathlib import Path
from unicodedata import east_asian_width

import pytest

from coverage.config import load_study
from coverage.errors import StudyError
from coverage.study_text import FULL_WIDTH, full_width_problems, parse_study_text

GOOD = """name = "贵池，15分钟圈"  # 注释里的全角：，“”没关系
[network]
osm_file = "area.osm"
[services.party]
label_zh = "党群服务站（社区）"
stations = "party.csv"
minutes = [5, 10, 15]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("area.osm", "party.csv"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    return tmp_path


def _problems(text: str, lang: str | None = None) -> list[str]:
    with pytest.raises(StudyError) as info:
        parse_study_text(text, file="study.toml", lang=lang)
    return [p.message for p in info.value.problems]


# (what the planner typed, line, column, character, ASCII replacement named in the message)
CASES = [
    ("full-width-commas", GOOD.replace("[5, 10, 15]", "[5，10，15]"), 7, 13, "，", "','"),
    ("chinese-quotes", GOOD.replace('"party.csv"', "“party.csv”"), 6, 12, "“", "'\"'"),
    ("chinese-colon", GOOD.replace('label_zh = "', 'label_zh："'), 5, 9, "：", "'='"),
    ("full-width-equals", GOOD.replace("osm_file =", "osm_file ＝"), 3, 10, "＝", "'='"),
    ("enumeration-comma", GOOD.replace("[5, 10, 15]", "[5、10、15]"), 7, 13, "、", "','"),
    ("full-width-brackets", GOOD.replace("[5, 10, 15]", "［5, 10, 15］"), 7, 11, "［", "'['"),
    ("full-width-digits", GOOD.replace("[5, 10, 15]", "[５, 10, 15]"), 7, 12, "５", "'5'"),
    ("ideographic-space", GOOD.replace("minutes =", "minutes\u3000="), 7, 8, "\u3000", "' '"),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "char", "instead"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_full_width_named_with_line_column_and_fix(
    text: str, line: int, column: int, char: str, instead: str
) -> None:
    messages = _problems(text)
    first = messages[0]
    assert first.startswith(f"第 {line} 行第 {column} 列 (line {line}, column {column})"), first
    assert f"'{char}'" in first and instead in first
    zh_name = FULL_WIDTH[char][0]
    assert zh_name in first and FULL_WIDTH[char][1] in first  # Chinese first, then English
    assert first.index(zh_name) < first.index(FULL_WIDTH[char][1])
    # the line itself, with a caret under the character
    shown, caret = first.splitlines()[1:3]
    assert shown.strip() == text.splitlines()[line - 1].strip()
    width = sum(2 if east_asian_width(c) in "WFA" else 1 for c in shown[: shown.index(char)])
    assert caret.index("^") == width


def test_every_full_width_character_is_listed() -> None:
    text = GOOD.replace("[5, 10, 15]", "[5，10，15]").replace('"party.csv"', "“party.csv”")
    got = [(p.message.split(" (")[0]) for p in full_width_problems(text, file="s.toml")]
    assert got == [
        "第 6 行第 12 列",
        "第 6 行第 22 列",
        "第 7 行第 13 列",
        "第 7 行第 16 列",
    ]


def test_full_width_inside_strings_and_comments_is_fine() -> None:
    assert parse_study_text(GOOD, file="s.toml")["services"]["party"]["minutes"] == [5, 10, 15]
    tricky = 'a = "x\\"，"\nb = \'，\'\nc = """\n，\n"""  # ，\nd = [1, 2] # ，'
    assert full_width_problems(tricky, file="s.toml") == []
    assert parse_study_text(tricky, file="s.toml")["c"] == "，\n"


def test_english_study_gets_english_messages() -> None:
    text = 'language = "en"\n' + GOOD.replace("[5, 10, 15]", "[5，10，15]")
    first = _problems(text)[0]
    assert first.startswith("line 8, column 13: Chinese comma '，' outside quotes")
    assert "中文" not in first
    # --lang wins over the file
    assert _problems(text, lang="zh")[0].startswith("第 8 行第 13 列")


def test_other_syntax_errors_show_the_line_and_a_hint() -> None:
    messages = _problems(GOOD.replace('stations = "party.csv"', "stations = party.csv"))
    assert len(messages) == 1
    assert messages[0].startswith("第 6 行第 12 列 (line 6, column 12): TOML 语法错误")
    assert "英文双引号" in messages[0] and "stations = party.csv" in messages[0]
    chinese_key = _problems(GOOD.replace("[services.party]", "[services.党群服务站]"))[0]
    assert '[services."党群服务站"]' in chinese_key


def test_load_study_reports_full_width_commas(folder: Path) -> None:
    path = folder / "study.toml"
    path.write_text(GOOD.replace("[5, 10, 15]", "[5，10，15]"), encoding="utf-8")
    with pytest.raises(StudyError) as info:
        load_study(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 研究文件不是有效的 TOML (the study file is not valid TOML):")
    assert "中文逗号 '，'" in text and "line 7, column 13" in text
    assert "Invalid value" not in text  # not TOML's bare message
    # a file saved by Windows Notepad with a byte-order mark still reads
    path.write_text(GOOD, encoding="utf-8-sig")
    assert load_study(path).services["party"].minutes == (5.0, 10.0, 15.0)
