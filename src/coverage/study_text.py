"""The study file as text: TOML parsing with errors a planner can act on.

A study file typed with a Chinese input method often carries full-width punctuation where TOML
needs ASCII: ``minutes = [5，10，15]``, ``name = “贵池”``, ``name：...``, ``osm_file ＝ "..."``.
TOML's own error then says only ``Invalid value (at line 3, column 13)``.
:func:`parse_study_text` names each such character, where it is (line and column, counted
from 1, as an editor shows them) and what to type instead; other syntax errors are reported
with the offending line and a caret under the column. Full-width characters inside quoted
strings and comments are fine and left alone.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any
from unicodedata import east_asian_width

from coverage.errors import Problem, StudyError
from coverage.labels import pick

__all__ = ["FULL_WIDTH", "full_width_problems", "parse_study_text", "study_text_language"]

#: Full-width (and other input-method) characters TOML does not accept outside strings:
#: character -> (Chinese name, English name, what to type instead).
FULL_WIDTH: dict[str, tuple[str, str, str]] = {
    "，": ("中文逗号", "Chinese comma", ","),
    "、": ("顿号", "Chinese enumeration comma", ","),
    "：": ("中文冒号", "Chinese colon", "="),
    "＝": ("全角等号", "full-width equals sign", "="),
    "“": ("中文引号", "Chinese quotation mark", '"'),
    "”": ("中文引号", "Chinese quotation mark", '"'),
    "‘": ("中文单引号", "Chinese single quotation mark", '"'),
    "’": ("中文单引号", "Chinese single quotation mark", '"'),
    "「": ("直角引号", "corner bracket quotation mark", '"'),
    "」": ("直角引号", "corner bracket quotation mark", '"'),
    "［": ("全角方括号", "full-width bracket", "["),
    "］": ("全角方括号", "full-width bracket", "]"),
    "【": ("中文方括号", "Chinese bracket", "["),
    "】": ("中文方括号", "Chinese bracket", "]"),
    "｛": ("全角花括号", "full-width brace", "{"),
    "｝": ("全角花括号", "full-width brace", "}"),
    "（": ("中文括号", "Chinese parenthesis", "[ or {"),
    "）": ("中文括号", "Chinese parenthesis", "] or }"),
    "；": ("中文分号", "Chinese semicolon", ","),
    "。": ("中文句号", "Chinese full stop", "."),
    "．": ("全角句点", "full-width full stop", "."),
    "＃": ("全角井号", "full-width number sign", "#"),
    "－": ("全角减号", "full-width minus sign", "-"),
    "　": ("全角空格", "full-width space", " "),
    **{chr(0xFF10 + d): ("全角数字", "full-width digit", str(d)) for d in range(10)},
}

_TOML_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")
_LANGUAGE = re.compile(r"""^\s*language\s*=\s*["'](zh|en)["']""", re.MULTILINE)
_MAX_LISTED = 12


def study_text_language(text: str) -> str | None:
    """The top-level ``language`` of a study file's text, read without parsing it.

    Parameters
    ----------
    text
        The study file's text (it may not be valid TOML).

    Returns
    -------
    str or None
        ``"zh"``, ``"en"``, or ``None`` when the text sets no language before its first table.
    """
    head = re.split(r"^\s*\[", text, maxsplit=1, flags=re.MULTILINE)[0]
    found = _LANGUAGE.search(head)
    return found.group(1) if found else None


def parse_study_text(text: str, *, file: str, lang: str | None = None) -> dict[str, Any]:
    """Parse a study file's TOML text; raise readable problems when it is not valid TOML.

    Parameters
    ----------
    text
        The file's text.
    file
        The file, as named in messages.
    lang
        Language of the messages (``None``: the file's own ``language``, else Chinese with
        English in brackets).

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    StudyError
        One problem per full-width character outside strings and comments (line, column, what
        to type instead), else TOML's own error with the line it points at.

    Examples
    --------
    >>> parse_study_text('minutes = [5, 10]', file="study.toml")
    {'minutes': [5, 10]}
    >>> try:
    ...     parse_study_text('minutes = [5，10]', file="study.toml", lang="en")
    ... except StudyError as err:
    ...     print(err.problems[0].message)
    line 1, column 13: Chinese comma '，' outside quotes; type an ASCII comma ',' instead
      minutes = [5，10]
                  ^
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        error = exc
    lang = lang or study_text_language(text)
    problems = full_width_problems(text, file=file, lang=lang)
    if not problems:
        problems = [_toml_problem(text, error, file=file, lang=lang)]
    header = pick(
        f"{file}: 研究文件不是有效的 TOML (the study file is not valid TOML):",
        f"{file}: the study file is not valid TOML:",
        lang,
    )
    raise StudyError(problems, header=header) from None


def full_width_problems(text: str, *, file: str, lang: str | None = None) -> list[Problem]:
    """One problem per full-width character outside quoted strings and comments.

    Parameters
    ----------
    text
        The study file's text.
    file
        The file, as named in messages.
    lang
        ``"zh"`` (Chinese with English in brackets), ``"en"`` or ``None`` (``"zh"``).

    Returns
    -------
    list of Problem
        At most twelve, in reading order; a last one says how many more there are.
    """
    lines = text.splitlines()
    found = list(_outside_strings(lines))
    problems = []
    for line_no, col, char in found[:_MAX_LISTED]:
        zh, en, ascii_ = FULL_WIDTH[char]
        instead = f"'{ascii_}'" if len(ascii_) == 1 else ascii_
        message = pick(
            f"第 {line_no} 行第 {col} 列 (line {line_no}, column {col}): 引号外有{zh} '{char}'，"
            f"请改为英文半角 {instead} ({en} '{char}' outside quotes; type an ASCII {instead} "
            "instead)",
            f"line {line_no}, column {col}: {en} '{char}' outside quotes; type an ASCII "
            f"{_en_name(ascii_)} {instead} instead",
            lang,
        )
        problems.append(Problem(file, message + "\n" + _caret(lines[line_no - 1], col)))
    if len(found) > _MAX_LISTED:
        more = len(found) - _MAX_LISTED
        problems.append(
            Problem(
                file,
                pick(
                    f"另有 {more} 处全角字符 (and {more} more full-width characters); 可把输入法"
                    "切换到英文标点后重新输入 (switch the input method to English punctuation)",
                    f"and {more} more full-width characters; switch the input method to English "
                    "punctuation and retype them",
                    lang,
                ),
            )
        )
    return problems


def _en_name(ascii_: str) -> str:
    return {
        ",": "comma",
        "=": "equals sign",
        '"': "double quote",
        ".": "full stop",
        "#": "number sign",
        "-": "minus sign",
        " ": "space",
    }.get(ascii_, "bracket" if ascii_ in "[]{}" or " or " in ascii_ else "digit")


def _outside_strings(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(line, column, char)`` of every :data:`FULL_WIDTH` character outside strings/comments.

    A light scanner of TOML's quoting: basic ``"..."`` (with escapes) and literal ``'...'``
    strings, their triple-quoted multi-line forms, and ``#`` comments.
    """
    found: list[tuple[int, int, str]] = []
    in_multi: str | None = None  # '"""' or "'''" while inside a multi-line string
    for line_no, line in enumerate(lines, start=1):
        i = 0
        while i < len(line):
            if in_multi is not None:
                end = line.find(in_multi, i)
                if end < 0:
                    break
                i, in_multi = end + 3, None
                continue
            ch = line[i]
            if ch == "#":
                break
            if line.startswith('"""', i) or line.startswith("'''", i):
                in_multi, i = line[i : i + 3], i + 3
                continue
            if ch in "\"'":
                i = _string_end(line, i)
                continue
            if ch in FULL_WIDTH:
                found.append((line_no, i + 1, ch))
            i += 1
    return found


def _string_end(line: str, start: int) -> int:
    """The position after the one-line string opening at ``start`` (end of line if open)."""
    quote = line[start]
    i = start + 1
    while i < len(line):
        if quote == '"' and line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    return i


def _caret(line: str, col: int) -> str:
    """The line and a caret under column ``col``.

    Wide and full-width characters take two cells, and so do the ambiguous ones (``“``),
    as Chinese terminals and editors show them.
    """
    width = sum(2 if east_asian_width(c) in "WFA" else 1 for c in line[: col - 1])
    return f"  {line}\n  {' ' * width}^"


def _toml_problem(
    text: str, error: tomllib.TOMLDecodeError, *, file: str, lang: str | None
) -> Problem:
    """TOML's own error, with the line it points at and a hint for the usual mistakes."""
    where = _TOML_WHERE.search(str(error))
    detail = _TOML_WHERE.sub("", str(error)).strip()
    if where is None:
        return Problem(file, pick(f"TOML 语法错误 (TOML syntax error): {detail}", detail, lang))
    line_no, col = int(where.group(1)), int(where.group(2))
    lines = text.splitlines()
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    hint_zh, hint_en = _hint(line, col)
    message = pick(
        f"第 {line_no} 行第 {col} 列 (line {line_no}, column {col}): TOML 语法错误 (TOML syntax "
        f"error: {detail}); {hint_zh} ({hint_en})",
        f"line {line_no}, column {col}: TOML syntax error: {detail}; {hint_en}",
        lang,
    )
    return Problem(file, message + ("\n" + _caret(line, col) if line else ""))


def _hint(line: str, col: int) -> tuple[str, str]:
    """What usually causes a TOML error at this point of the line."""
    at = line[col - 1 : col] if 0 < col <= len(line) else ""
    if at and not at.isascii() and "=" not in line[: col - 1]:
        return (
            "键名只能用英文字母、数字、下划线和连字符，中文键名须加英文引号，如 "
            '[services."党群服务站"]',
            "bare keys may hold only ASCII letters, digits, _ and -; quote other keys, e.g. "
            '[services."党群服务站"]',
        )
    if "=" in line[: col - 1] and at and at not in "\"'[{0123456789-+tfin":
        return (
            '文字值须加英文双引号，如 name = "贵池区"',
            'text values need ASCII double quotes, e.g. name = "贵池区"',
        )
    return (
        '请检查该处的引号、括号和逗号，值的写法如 name = "贵池区"、minutes = [5, 10, 15]',
        'check the quotes, brackets and commas there; values look like name = "贵池区", '
        "minutes = [5, 10, 15]",
    )
