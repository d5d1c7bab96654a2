"""The import rule: data flows one way, a lower module never imports a higher one.

errors/config/coords -> inputs -> network -> snap/travel -> gaps/isochrones/siting ->
outputs/maps/report -> pipeline -> batch -> cli. Every ``coverage`` import of every module
(including the lazy ones inside functions; not those under ``if TYPE_CHECKING:``, which never
run) must name a module of a strictly lower rank. A new module must be given a rank here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import coverage

PACKAGE = Path(coverage.__file__).resolve().parent

# lower number = lower in the flow; a module may import only modules of a lower number
RANKS: dict[str, int] = {
    "labels": 0,  # the catalogue of user-facing text: imports nothing of ours
    "_identity": 5,  # the distribution name and the coverage.py guard: imports nothing of ours
    "errors": 10,
    "__init__": 15,  # the facade: eagerly imports errors only, the rest lazily by name
    "walkfilter": 16,  # which OSM ways are walkable: imports nothing of ours
    "osmfile": 18,  # the one OSM file reader (config checks its suffixes)
    "_atomic": 20,
    "_osmnx": 20,
    "_leaflet": 20,
    "_validate": 20,
    "basemaps": 20,  # the basemap names and descriptions (no folium): labels
    "study_text": 19,  # the study file's TOML text (full-width punctuation): errors, labels
    "config": 20,
    "coords": 20,
    "coord_columns": 20,  # coordinate columns by name (经度(GCJ), lng_bd09): imports nothing
    "csvtext": 20,  # CSV text as pandas writes it, made with pyarrow: imports nothing of ours
    "gpkglayer": 20,  # GeoPackage layers, each distinct shape to WKB once: imports nothing
    "runinfo": 25,  # the run record (run.json): config and _atomic
    "outputset": 26,  # output sets: staged, committed together, never over an input
    "layer_files": 24,  # inputs, step 1: reading files
    "layer_geometry": 27,  # inputs, step 2: coordinates and geometries
    "inputs": 30,  # inputs, step 3: layer schemas (compounds, stations, candidates)
    "osmdata": 30,
    "osmcache": 32,  # the cache of an OSM file's features (osmdata, _atomic)
    "access": 30,
    "gridindex": 33,  # points bucketed on a grid (box queries): imports nothing of ours
    "edgesearch": 33,  # STRtree queries of the edges from their arrays: imports nothing of ours
    "netarrays": 34,
    "dataedge": 36,  # the edge of the map data: coords, errors (network records its extent)
    "estimates": 36,  # estimated households: shares and the plausibility warning
    "walknetwork": 37,
    "netbuild": 38,
    "netcache": 39,
    "network": 40,
    "sample": 45,
    "snap": 50,
    "travel": 60,
    "gaps": 70,
    "isochrones": 70,
    "candidates": 70,
    "siting_solve": 65,
    "siting": 70,
    "results": 80,
    "siting_study": 80,
    "_mappage": 85,  # the map page machinery (escaping, data blocks, inlined Leaflet)
    "outputs": 90,
    "maps": 90,
    "history": 92,  # the report history (sqlite): errors only
    "charts": 92,  # matplotlib charts with a CJK font, as SVG
    "workbook": 92,  # gaps.xlsx (openpyxl)
    "reportpage": 95,  # report.html from the tables of a run
    "report": 112,  # the scheduled report: runs the study (pipeline), lock, history
    "pipeline": 110,
    "batchfile": 115,  # the batch file (areas of a batch); imports config, inputs
    "batch": 120,
    "usage_errors": 125,  # click's usage errors in Chinese first: labels, study_text
    "cli": 130,
    "__main__": 140,
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    """``coverage/network/cache.py`` -> ``network`` (a subpackage ranks as a whole)."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0] if len(rel.parts) > 1 else rel.name


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a ``coverage`` module in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "coverage":
                    found.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "coverage":
                continue
            if len(parts) > 1:
                found.append((node.lineno, parts[1]))
                continue
            for alias in node.names:  # from coverage import travel / __version__
                is_module = (PACKAGE / f"{alias.name}.py").is_file() or (
                    PACKAGE / alias.name
                ).is_dir()
                found.append((node.lineno, alias.name if is_module else "__init__"))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "<relative>"))
    return found


def test_every_module_has_a_rank() -> None:
    unranked = sorted({_name(p) for p in _modules()} - set(RANKS))
    assert not unranked, f"give these modules a rank in tests/test_imports.py: {unranked}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_modules_never_import_higher_ones(path: Path) -> None:
    me = _name(path)
    if me not in RANKS:
        pytest.skip("unranked (see test_every_module_has_a_rank)")
    bad = []
    for line, other in _imports(path):
        if other == "<relative>":
            bad.append(f"line {line}: relative import (use `from coverage.x import ...`)")
        elif other != me and RANKS.get(other, 10**6) >= RANKS[me]:
            bad.append(f"line {line}: imports {other} (rank {RANKS.get(other)} >= {RANKS[me]})")
    assert not bad, f"{path.name} (rank {RANKS[me]}) imports a higher module: {bad}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a travel module importing pipeline is found."""
    bad = tmp_path / "travel.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from coverage import maps\n"
        "def f():\n    from coverage import pipeline\n    from coverage.snap import x\n",
        encoding="utf-8",
    )
    assert _imports(bad) == [(5, "pipeline"), (6, "snap")]
