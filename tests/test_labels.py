"""Tests for coverage.labels: every entry exists in both languages with the same fields."""

from __future__ import annotations

import string

import pytest

from coverage import gaps, labels


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(labels.TEXTS))
def test_both_languages_take_the_same_fields(key: str) -> None:
    zh, en = labels.TEXTS[key]
    assert zh.strip() and en.strip()
    assert _fields(zh) == _fields(en), key


def test_every_reason_has_a_label() -> None:
    for reason in gaps.REASONS:
        assert reason in labels.REASONS
        assert labels.reason_label(reason, "zh") != labels.reason_label(reason, "en")


def test_language_choice() -> None:
    assert labels.text("done", None) == "完成" and labels.text("done", "en") == "done"
    assert labels.column_label("stations_within_7.5min", "en") == "stations within 7.5 min"
    assert labels.column_label("my_column", "zh") == "my_column"
    with pytest.raises(ValueError, match="fr"):
        labels.text("done", "fr")
