"""What a study hands to people: the output files and the lines the terminal shows.

- :func:`write_analysis`: ``compounds.csv``, ``stations.csv``, ``gaps.csv``, ``summary.csv``,
  ``summary.json`` and ``coverage.gpkg``, each written atomically;
- :func:`coverage_lines`, :func:`gap_line`, :func:`network_line`, :func:`compounds_line`:
  the text lines of the command (and, later, of the report), in the study's language.

CSV files are read by people (Excel/WPS): floats are rounded to 2 decimals there; the
GeoPackage and ``summary.json`` keep full precision.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from coverage import labels
from coverage._atomic import atomic_path
from coverage.csvtext import csv_bytes
from coverage.results import Analysis

__all__ = [
    "CSV_DECIMALS",
    "compounds_line",
    "coverage_lines",
    "gap_line",
    "network_line",
    "round_for_people",
    "write_analysis",
    "write_csv_for_excel",
]

#: Decimals of the floats in the CSV outputs.
CSV_DECIMALS = 2
#: How many of the worst gaps the terminal names per service.
TOP_GAPS = 3


def _stack(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(frames.values()), ignore_index=True) if frames else pd.DataFrame()


def round_for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the geometry and round the float columns to :data:`CSV_DECIMALS` decimals.

    Parameters
    ----------
    frame
        A result table.

    Returns
    -------
    pandas.DataFrame
        A new table (the input is not changed).

    Examples
    --------
    >>> round_for_people(pd.DataFrame({"walk_min": [3.14159], "n": [2]}))
       walk_min  n
    0      3.14  2
    """
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    floats = table.select_dtypes("float").columns
    table[floats] = table[floats].round(CSV_DECIMALS)
    return table


def write_csv_for_excel(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV in UTF-8 with a BOM (what Excel/WPS need to read Chinese text).

    The same bytes as ``table.to_csv(path, index=False, encoding="utf-8-sig")``, made about
    twice as fast (:func:`coverage.csvtext.csv_bytes`).

    Parameters
    ----------
    table
        The table (no index is written).
    path
        The file.
    """
    Path(path).write_bytes(codecs.BOM_UTF8 + csv_bytes(table))


def write_analysis(analysis: Analysis, out_dir: str | Path) -> list[Path]:
    """Write the analysis tables: CSV, JSON summary and a GeoPackage, each atomically.

    Parameters
    ----------
    analysis
        The result of :func:`coverage.pipeline.analyze`.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    list of Path
        The files written: ``compounds.csv``, ``stations.csv``, ``gaps.csv``,
        ``summary.csv`` (overall and per group: district, street, community),
        ``summary.json`` and ``coverage.gpkg`` (with the dissolved walk-time circles of
        every service as the layer ``circles`` when the analysis has them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assessed = _stack({k: r.assessed for k, r in analysis.services.items()})
    loads = _stack({k: r.loads for k, r in analysis.services.items()})
    ranked = _stack({k: r.gaps for k, r in analysis.services.items()})
    summary = _stack({k: r.summary for k, r in analysis.services.items()})
    written: list[Path] = []
    tables = (("compounds", assessed), ("stations", loads), ("gaps", ranked), ("summary", summary))
    for name, frame in tables:
        path = out / f"{name}.csv"
        with atomic_path(path) as tmp:
            write_csv_for_excel(round_for_people(frame), tmp)
        written.append(path)
    path = out / "summary.json"
    with atomic_path(path) as tmp:
        payload: dict[str, Any] = {"study": analysis.study_name}
        if analysis.note:
            payload["note"] = analysis.note
        payload["services"] = analysis.summary
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(path)
    path = out / "coverage.gpkg"
    with atomic_path(path) as tmp:
        for name, frame in (("compounds", assessed), ("stations", loads), ("gaps", ranked)):
            if len(frame):
                gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)
        circles = [r.circles for r in analysis.services.values() if r.circles is not None]
        if circles:
            layer = gpd.GeoDataFrame(pd.concat(circles, ignore_index=True), crs=4326)
            layer.to_file(tmp, layer="circles", driver="GPKG", engine="pyogrio", use_arrow=True)
    written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# text lines


def network_line(summary: Mapping[str, Any], *, lang: str | None = None) -> str:
    """One line describing a walk network.

    Parameters
    ----------
    summary
        :func:`coverage.network.network_summary` of the network.
    lang
        ``"zh"`` (default) or ``"en"``.

    Returns
    -------
    str
    """
    return labels.text("network_line", lang, **summary)


def compounds_line(compounds: pd.DataFrame, *, lang: str | None = None) -> str:
    """One line counting compounds and their households.

    Parameters
    ----------
    compounds
        The compound layer (``households`` column).
    lang
        ``"zh"`` (default) or ``"en"``.

    Returns
    -------
    str

    Examples
    --------
    >>> compounds_line(pd.DataFrame({"households": [120.0, 80.0]}), lang="en")
    'Compounds: 2, 200 households'
    """
    households = float(compounds["households"].sum())
    return labels.text("compounds_line", lang, count=len(compounds), households=households)


def gap_line(row: Any, *, lang: str | None = None) -> str:
    """One ranked gap: its name, households and why it is not covered.

    Parameters
    ----------
    row
        A row of a ranked gaps table (``rank``, ``name``, ``households``, ``walk_min``,
        ``reason`` attributes, e.g. from ``itertuples()``).
    lang
        ``"zh"`` (default) or ``"en"``.

    Returns
    -------
    str
    """
    if row.reason == "beyond_threshold":
        why = labels.text("walk_minutes", lang, minutes=row.walk_min)
    else:
        why = labels.reason_label(row.reason, lang)
    return labels.text(
        "gap_line", lang, rank=row.rank, name=row.name, households=row.households, why=why
    )


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def coverage_lines(
    analysis: Analysis, *, lang: str | None = None, top_gaps: int = TOP_GAPS
) -> list[str]:
    """The coverage of every service and its worst gaps, as the terminal shows them.

    Parameters
    ----------
    analysis
        The result of :func:`coverage.pipeline.analyze`.
    lang
        ``"zh"`` or ``"en"``; default the study's language (``analysis.language``).
    top_gaps
        How many gaps to name per service.

    Returns
    -------
    list of str
        Per service: one line with the share of households covered at each threshold, then
        its ``top_gaps`` worst gaps, indented.
    """
    lang = lang or analysis.language
    lines = []
    for key, svc in analysis.summary.items():
        result = analysis.services[key]
        shares = ", ".join(
            labels.text("share_part", lang, minutes=t, share=_percent(v["share_covered"]))
            for t, v in svc["thresholds"].items()
        )
        lines.append(
            labels.text(
                "coverage_line",
                lang,
                label=labels.pick(svc["label_zh"], svc["label_en"], lang),
                stations=len(result.loads),
                shares=shares,
                gaps=len(result.gaps),
            )
        )
        lines += [
            "  " + gap_line(row, lang=lang) for row in result.gaps.head(top_gaps).itertuples()
        ]
    return lines
