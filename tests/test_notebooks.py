"""The walkthrough notebook uses only the top-level API (``import coverage as cp``); no notebook
stores outputs.

They are executed by the test run itself (nbmake, ``testpaths`` includes ``notebooks``).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import coverage as cp

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
WALKTHROUGH = [p for p in NOTEBOOKS if p.name.startswith("01_")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "clear outputs"


@pytest.mark.parametrize("path", WALKTHROUGH, ids=lambda p: p.name)
def test_notebook_uses_only_the_top_level_api(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    used: set[str] = set()
    for cell in code:
        tree = ast.parse("".join(cell["source"]))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("coverage"), ast.unparse(node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("coverage"):
                        assert (alias.name, alias.asname) == ("coverage", "cp"), ast.unparse(node)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "cp"
            ):
                used.add(node.attr)
    assert used, "the notebook does not use the library"
    assert used <= set(cp.__all__), used - set(cp.__all__)
