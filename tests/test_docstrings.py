"""The Examples sections of the public docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import coverage

MODULES = sorted(m.name for m in pkgutil.iter_modules(coverage.__path__, "coverage."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_public_functions_have_examples_or_docs() -> None:
    """Every public function documents itself (numpydoc summary at least)."""
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if callable(obj) and not (obj.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    assert not missing, missing
