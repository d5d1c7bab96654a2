"""The result objects of a study: its validated inputs and its analysis.

Plain frozen dataclasses of GeoDataFrames and dictionaries (they pickle); an
:class:`Analysis` shows itself briefly in a notebook (``repr`` and an HTML coverage table).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from coverage import labels

__all__ = ["Analysis", "ServiceResult", "StudyInputs"]

_SUMMARY_COLUMNS = (
    "households_total",
    "households_covered",
    "share_covered",
    "compounds_total",
    "compounds_covered",
)


@dataclass(frozen=True)
class StudyInputs:
    """The validated input layers of a study (all WGS-84).

    Attributes
    ----------
    compounds
        Compounds (given by the user or derived from OSM).
    stations
        Station layers by service key.
    candidates
        Candidate sites for new stations, when the study gives them.
    entrances
        OSM entrances and gates (points) used as compound access points; may be empty.
    """

    compounds: gpd.GeoDataFrame
    stations: dict[str, gpd.GeoDataFrame]
    candidates: gpd.GeoDataFrame | None = None
    entrances: gpd.GeoDataFrame | None = None

    def __repr__(self) -> str:
        stations = ", ".join(f"{k}={len(v)}" for k, v in self.stations.items())
        candidates = "" if self.candidates is None else f", candidates={len(self.candidates)}"
        return f"StudyInputs(compounds={len(self.compounds)}, stations: {stations}{candidates})"


@dataclass(frozen=True)
class ServiceResult:
    """Coverage of one service type.

    Attributes
    ----------
    assessed
        One row per compound (see :func:`coverage.gaps.assess_coverage`).
    loads
        One row per station (see :func:`coverage.gaps.station_load`).
    gaps
        Uncovered compounds ranked by households left out.
    summary
        Households and compounds covered per threshold: overall, then per group of every
        grouping level (see :func:`coverage.gaps.group_columns`).
    circles
        The dissolved walk-time circles, one per threshold (see
        :func:`coverage.isochrones.isochrones`); ``None`` when not asked for.
    """

    assessed: gpd.GeoDataFrame
    loads: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    summary: pd.DataFrame
    circles: gpd.GeoDataFrame | None = None

    def __repr__(self) -> str:
        return (
            f"ServiceResult(compounds={len(self.assessed)}, stations={len(self.loads)}, "
            f"gaps={len(self.gaps)}"
            + ("" if self.circles is None else f", circles={len(self.circles)}")
            + ")"
        )


@dataclass(frozen=True, repr=False)
class Analysis:
    """Results of :func:`coverage.pipeline.analyze` for every service type of a study.

    Attributes
    ----------
    study_name
        The study's name.
    services
        The result of each service type, by service key.
    summary
        Overall coverage per service and threshold, as written to ``summary.json`` (see
        :func:`coverage.gaps.summary_dict`).
    note
        The study's note (e.g. that the data are illustrative).
    language
        The study's language: the default of every label shown for this analysis.
    """

    study_name: str
    services: dict[str, ServiceResult]
    summary: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    language: str = labels.DEFAULT_LANGUAGE

    def summary_frame(self, *, lang: str | None = None) -> pd.DataFrame:
        """Overall coverage, one row per service and threshold.

        Parameters
        ----------
        lang
            Language of the ``label`` column; default the study's language.

        Returns
        -------
        pandas.DataFrame
            ``service``, ``label``, ``minutes`` (float), ``households_total``,
            ``households_covered``, ``share_covered`` (NaN when there are no households),
            ``compounds_total``, ``compounds_covered``: the numbers of ``summary.json``.
        """
        lang = labels.check_language(lang or self.language)
        rows = []
        for key, svc in self.summary.items():
            label = labels.pick(svc["label_zh"], svc["label_en"], lang)
            for minutes, values in svc["thresholds"].items():
                row: dict[str, Any] = {"service": key, "label": label, "minutes": float(minutes)}
                row.update({c: values[c] for c in _SUMMARY_COLUMNS})
                rows.append(row)
        frame = pd.DataFrame(rows, columns=["service", "label", "minutes", *_SUMMARY_COLUMNS])
        frame["share_covered"] = frame["share_covered"].astype("float64")
        return frame

    def __repr__(self) -> str:
        parts = []
        for key, svc in list(self.summary.items())[:8]:
            minutes, values = list(svc["thresholds"].items())[-1]
            share = values["share_covered"]
            shown = "n/a" if share is None else f"{share:.1%}"
            parts.append(f"{key} {minutes} min {shown}")
        if len(self.summary) > 8:
            parts.append(f"... {len(self.summary)} services")
        name = self.study_name if len(self.study_name) <= 80 else self.study_name[:77] + "..."
        covered = f"households covered: {'; '.join(parts)}" if parts else "no services"
        return f"Analysis({name!r}, {covered})"

    def _repr_html_(self) -> str:
        lang = self.language
        frame = self.summary_frame(lang=lang)
        shown = frame.drop(columns="service")
        shown["minutes"] = [f"{m:g}" for m in shown["minutes"]]
        shown["share_covered"] = [
            "" if not math.isfinite(s) else f"{s:.1%}" for s in shown["share_covered"]
        ]
        for col in ("households_total", "households_covered"):
            shown[col] = [f"{v:,.0f}" for v in shown[col]]
        shown.columns = [labels.column_label(str(c), lang) for c in shown.columns]
        heading = html.escape(self.study_name)
        note = f"<p><em>{html.escape(self.note)}</em></p>" if self.note else ""
        count = labels.text("services_count", lang, count=len(self.services))
        title = labels.text("coverage_heading", lang)
        table = shown.to_html(index=False, escape=True, border=0)
        return f"<div><h4>{heading} · {count} · {title}</h4>{note}{table}</div>"
