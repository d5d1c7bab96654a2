"""notebooks/03_your_city.ipynb: a study from a planner's own files, top-level API only.

The notebook itself is executed by the test run (nbmake); here: its online cell is shown but
skipped, it makes the planner's files it claims to, and it imports nothing but ``coverage``.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_notebooks import NOTEBOOKS, test_notebook_uses_only_the_top_level_api

PATH = Path(__file__).resolve().parents[1] / "notebooks" / "03_your_city.ipynb"


def _code() -> list[dict]:
    cells = json.loads(PATH.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def test_uses_only_the_top_level_api() -> None:
    assert PATH in NOTEBOOKS
    test_notebook_uses_only_the_top_level_api(PATH)


def test_online_cell_is_shown_but_not_run() -> None:
    code = _code()
    skipped = [c for c in code if "skip-execution" in c["metadata"].get("tags", [])]
    assert len(skipped) == 1
    source = "".join(skipped[0]["source"])
    assert "place = " in source and "network_for_study" in source
    # every other cell is offline: no place/bbox download
    for cell in code:
        if cell is not skipped[0]:
            assert "place = " not in "".join(cell["source"])


def test_makes_a_planners_files() -> None:
    source = "\n".join("".join(c["source"]) for c in _code())
    assert 'encoding="gbk"' in source and '"经度(GCJ)"' in source  # GBK CSV, GCJ columns
    assert ".xlsx" in source and "经度（GCJ-02）" in source  # GCJ-02 stations in XLSX
    assert "shared" in source and ".osm.bz2" in source  # a shared OSM extract
    assert "[5，10]" in source  # shows the full-width comma message
