"""What a study hands to people: the output files and the lines the terminal shows.

- :func:`write_analysis`: ``compounds.csv``, ``stations.csv``, ``gaps.csv``, ``summary.csv``,
  ``summary.json`` and ``coverage.gpkg``, each written atomically;
- :func:`coverage_lines`, :func:`gap_line`, :func:`network_line`, :func:`compounds_line`:
  the text lines of the command (and, later, of the report), in the study's language.

CSV files are read by people in Excel/WPS (:func:`table_for_people`): UTF-8 with a BOM,
flags as 是/否 (Chinese) or 1/0 (English), households as integers when whole, shares as
percentages with one decimal, other floats rounded to 2 decimals, the service's label beside
its key, the nearest station's name beside its id, each compound's lon/lat (WGS-84, and
GCJ-02 when the study's inputs are GCJ-02) and the study's note as the last column. The
GeoPackage and ``summary.json`` keep full precision (the GeoPackage's layers carry the note
as their description).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import coords, estimates, labels
from coverage._atomic import atomic_path
from coverage.config import Study
from coverage.csvtext import write_csv
from coverage.gpkglayer import DistinctShapes, distinct_shapes, write_layer
from coverage.results import Analysis, StudyInputs

__all__ = [
    "ANALYSIS_FILES",
    "CSV_DECIMALS",
    "compounds_line",
    "coverage_lines",
    "estimated_note",
    "gap_line",
    "network_line",
    "round_for_people",
    "study_uses_gcj02",
    "table_for_people",
    "write_analysis",
    "write_csv_for_excel",
]

#: Decimals of the floats in the CSV outputs.
CSV_DECIMALS = 2
#: How many of the worst gaps the terminal names per service.
TOP_GAPS = 3
#: The files :func:`write_analysis` writes, in order.
ANALYSIS_FILES = (
    "compounds.csv",
    "stations.csv",
    "gaps.csv",
    "summary.csv",
    "summary.json",
    "coverage.gpkg",
)
#: Decimals of the lon/lat columns (1e-6 degrees: about 0.1 m).
LONLAT_DECIMALS = 6
#: Flags in the CSV files by language (Excel/WPS read 是/否 and 1/0 well; not True/False).
FLAG_VALUES = {"zh": ("是", "否"), "en": (1, 0)}


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
    twice as fast (:func:`coverage.csvtext.write_csv`).

    Parameters
    ----------
    table
        The table (no index is written).
    path
        The file.
    """
    with Path(path).open("wb") as file:
        file.write(codecs.BOM_UTF8)
        write_csv(table, file)


def study_uses_gcj02(study: Study, *, inputs: StudyInputs | None = None) -> bool:
    """Whether any of the study's layers gives its coordinates as GCJ-02 (Gaode/Tencent).

    Parameters
    ----------
    study
        The study (each layer's ``coords``).
    inputs
        The layers as read: a table whose column names said GCJ-02 (``经度(GCJ)``) without a
        ``coords`` key counts too (``attrs["coords"]``).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> layer = NS(coords="gcj02")
    >>> study_uses_gcj02(NS(compounds=None, candidates=None, services={"a": NS(stations=layer)}))
    True
    """
    layers = [study.compounds, study.candidates, *(s.stations for s in study.services.values())]
    if any(layer is not None and layer.coords == "gcj02" for layer in layers):
        return True
    if inputs is None:
        return False
    read = [inputs.compounds, inputs.candidates, *inputs.stations.values()]
    return any(frame is not None and frame.attrs.get("coords") == "gcj02" for frame in read)


def _lonlat(
    geometry: gpd.GeoSeries | np.ndarray, shapes: DistinctShapes | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A point of each geometry: the point itself, a point inside a polygon (NaN for none)."""
    # the stacked tables repeat each compound's shape once per service: each shape once
    # (the same coordinates give the same point)
    geoms = np.asarray(geometry, dtype=object)
    shapes = shapes or distinct_shapes(geoms)
    points = geoms[shapes.first]
    other = np.flatnonzero(shapely.get_type_id(points) != shapely.GeometryType.POINT)  # None: -1
    points[other] = shapely.point_on_surface(points[other])
    return shapely.get_x(points)[shapes.codes], shapely.get_y(points)[shapes.codes]


def _insert_after(table: pd.DataFrame, after: str, columns: Mapping[str, Any]) -> None:
    at = list(table.columns).index(after) + 1 if after in table.columns else len(table.columns)
    for i, (name, values) in enumerate(columns.items()):
        table.insert(at + i, name, values)


def _whole_as_int(values: pd.Series) -> pd.Series:
    """Floats that are whole numbers as integers (120.0 -> 120), others rounded; NaN empty."""
    v = values.to_numpy(dtype=float)
    out = np.full(len(v), None, dtype=object)
    finite = np.isfinite(v)
    whole = finite & (np.floor(v) == v)
    small = whole & (np.abs(v) < 2.0**62)  # exact in int64; Python ints (astype(object))
    out[small] = v[small].astype(np.int64).astype(object)
    for i in np.flatnonzero(whole & ~small):
        out[i] = int(v[i])
    # Python's round (correctly rounded decimals) of each distinct value once: the stacked
    # tables repeat each compound's (estimated) households once per service
    part = np.flatnonzero(finite & ~whole)
    back, distinct = pd.factorize(v[part])
    rounded = np.array([round(x, CSV_DECIMALS) for x in distinct.tolist()], dtype=object)
    out[part] = rounded[back]
    return pd.Series(out, index=values.index, dtype=object)


def _percent_text(values: pd.Series) -> pd.Series:
    """Shares as percentages with one decimal: 0.099 -> ``9.9%`` (Excel reads it as 0.099)."""
    return pd.Series(
        [f"{v:.1%}" if np.isfinite(v) else "" for v in values.to_numpy(dtype=float)],
        index=values.index,
        dtype=object,
    )


def _names_of(station_names: Mapping[tuple[str, str], str], table: pd.DataFrame) -> list[Any]:
    """``station_names.get((service, nearest_station_id))`` of every row (None when absent)."""
    if not station_names or not len(table):
        return [None] * len(table)
    known = pd.MultiIndex.from_tuples(list(station_names))
    rows = pd.MultiIndex.from_arrays([table["service"], table["nearest_station_id"]])
    at = known.get_indexer(rows)
    names = np.array([*station_names.values(), None], dtype=object)
    return list(names[at])  # -1: the None at the end


def _is_flag(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)


def table_for_people(
    frame: pd.DataFrame,
    *,
    lang: str | None = None,
    service_labels: Mapping[str, str] | None = None,
    station_names: Mapping[tuple[str, str], str] | None = None,
    locate: bool = False,
    gcj02: bool = False,
    note: str | None = None,
) -> pd.DataFrame:
    """A result table as people read it in Excel/WPS (the input is not changed).

    Parameters
    ----------
    frame
        A result table (compounds, stations, gaps or summary rows).
    lang
        ``"zh"`` (flags 是/否) or ``"en"`` (flags 1/0); default zh.
    service_labels
        Label of each service key: a ``service_label`` column after ``service``.
    station_names
        Station name by ``(service, station_id)``: a ``nearest_station_name`` column after
        ``nearest_station_id``.
    locate
        Add ``lon``/``lat`` (WGS-84, 6 decimals) after ``name`` from the geometry (a point
        inside a polygon).
    gcj02
        With ``locate``: also ``lon_gcj02``/``lat_gcj02`` (to paste back into Gaode).
    note
        The study's note: a last column ``note`` when given.

    Returns
    -------
    pandas.DataFrame
        Without geometry; flags as 是/否 or 1/0; ``households*`` and ``capacity`` as integers
        when whole; ``minutes`` as integers when whole; ``share*`` columns as percentages
        with one decimal (text such as ``9.9%``); other floats rounded to
        :data:`CSV_DECIMALS`.

    Examples
    --------
    >>> t = pd.DataFrame({"service": ["a"], "households": [120.0], "share_covered": [0.099],
    ...                   "covered_5min": [True]})
    >>> table_for_people(t, service_labels={"a": "党群服务站"}).iloc[0].tolist()
    ['a', '党群服务站', 120, '9.9%', '是']
    """
    return _people_table(
        frame,
        lang=lang,
        service_labels=service_labels,
        station_names=station_names,
        locate=locate,
        gcj02=gcj02,
        note=note,
    )


def _people_table(
    frame: pd.DataFrame,
    *,
    lang: str | None,
    service_labels: Mapping[str, str] | None,
    station_names: Mapping[tuple[str, str], str] | None,
    locate: bool,
    gcj02: bool,
    note: str | None,
    lonlat: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """:func:`table_for_people`, given the geometry's :func:`_lonlat` when already known."""
    lang = labels.check_language(lang)
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).copy()
    if locate and "geometry" in frame and len(frame):
        lon, lat = lonlat if lonlat is not None else _lonlat(frame.geometry)
        where: dict[str, Any] = {
            "lon": np.round(lon, LONLAT_DECIMALS),
            "lat": np.round(lat, LONLAT_DECIMALS),
        }
        if gcj02:
            glon, glat = coords.wgs84_to_gcj02(lon, lat)
            where |= {
                "lon_gcj02": np.round(glon, LONLAT_DECIMALS),
                "lat_gcj02": np.round(glat, LONLAT_DECIMALS),
            }
        _insert_after(table, "name", where)
    if service_labels is not None and "service" in table:
        _insert_after(
            table, "service", {"service_label": table["service"].map(dict(service_labels))}
        )
    if station_names is not None and "nearest_station_id" in table and "service" in table:
        _insert_after(
            table,
            "nearest_station_id",
            {"nearest_station_name": _names_of(station_names, table)},
        )
    yes, no = FLAG_VALUES[lang]
    for col in table.columns:
        values = table[col]
        if col in ("lon", "lat", "lon_gcj02", "lat_gcj02"):
            continue
        if pd.api.types.is_bool_dtype(values) and values.dtype == bool:
            table[col] = values.map({True: yes, False: no})  # vectorised: no missing values
        elif _is_flag(values):
            table[col] = values.map(lambda v: None if pd.isna(v) else (yes if v else no))
        elif not pd.api.types.is_float_dtype(values):
            continue
        elif str(col).startswith("share"):
            table[col] = _percent_text(values)
        elif str(col).startswith("households") or col in ("capacity", "minutes"):
            table[col] = _whole_as_int(values)
        else:
            table[col] = values.round(CSV_DECIMALS)
    if note:
        table["note"] = note
    return table


def _shapes_and_points(
    frames: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, DistinctShapes], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Each table's distinct shapes and lon/lat, each distinct shape of all tables once.

    The gaps repeat the compounds' shapes, and both repeat them once per service: the WKB
    (for the GeoPackage) and the point (for the CSV's lon/lat) of each shape are made once.
    """
    frames = {k: v for k, v in frames.items() if "geometry" in v and len(v)}
    if not frames:
        return {}, {}
    geoms = np.concatenate(
        [np.asarray(f["geometry"].to_numpy(), dtype=object) for f in frames.values()]
    )
    every = distinct_shapes(geoms)
    lon, lat = _lonlat(geoms, every)
    ends = np.cumsum([len(f) for f in frames.values()]).tolist()
    shapes, points = {}, {}
    for name, start, stop in zip(frames, [0, *ends], ends, strict=False):
        shapes[name] = every.rows(start, stop)
        points[name] = (lon[start:stop], lat[start:stop])
    return shapes, points


def write_analysis(
    analysis: Analysis,
    out_dir: str | Path,
    *,
    lang: str | None = None,
    gcj02: bool = False,
) -> list[Path]:
    """Write the analysis tables: CSV, JSON summary and a GeoPackage, each atomically.

    Parameters
    ----------
    analysis
        The result of :func:`coverage.pipeline.analyze`.
    out_dir
        Output folder (created when missing).
    lang
        Language of the CSV files' flags and labels (see :func:`table_for_people`);
        default the study's language.
    gcj02
        Also give each compound's and station's GCJ-02 lon/lat in the CSV files (when the
        study's inputs are GCJ-02: :func:`study_uses_gcj02`).

    Returns
    -------
    list of Path
        The files written (:data:`ANALYSIS_FILES`): ``compounds.csv``, ``stations.csv``,
        ``gaps.csv``, ``summary.csv`` (overall and per group: district, street,
        community), ``summary.json`` and ``coverage.gpkg`` (with the dissolved walk-time
        circles of every service as the layer ``circles`` when the analysis has them).
        A whole set of files is written together by :mod:`coverage.outputset` (the
        command line does so).
    """
    lang = labels.check_language(lang or analysis.language)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assessed = _stack({k: r.assessed for k, r in analysis.services.items()})
    loads = _stack({k: r.loads for k, r in analysis.services.items()})
    ranked = _stack({k: r.gaps for k, r in analysis.services.items()})
    summary = _stack({k: r.summary for k, r in analysis.services.items()})
    service_labels = {
        k: labels.pick(v["label_zh"], v["label_en"], lang) for k, v in analysis.summary.items()
    }
    station_names = (
        {
            (s, i): n
            for s, i, n in zip(loads["service"], loads["station_id"], loads["name"], strict=True)
        }
        if {"service", "station_id", "name"} <= set(loads.columns)
        else {}
    )
    shapes, lonlat = _shapes_and_points({"compounds": assessed, "stations": loads, "gaps": ranked})
    written: list[Path] = []
    tables = (
        ("compounds", assessed, True),
        ("stations", loads, True),
        ("gaps", ranked, True),
        ("summary", summary, False),
    )
    for name, frame, located in tables:
        path = out / f"{name}.csv"
        table = _people_table(
            frame,
            lang=lang,
            service_labels=service_labels,
            station_names=station_names,
            locate=located,
            gcj02=gcj02,
            note=analysis.note,
            lonlat=lonlat.get(name),
        )
        with atomic_path(path) as tmp:
            write_csv_for_excel(table, tmp)
        written.append(path)
    path = out / "summary.json"
    with atomic_path(path) as tmp:
        payload: dict[str, Any] = {"study": analysis.study_name}
        if analysis.note:
            payload["note"] = analysis.note
        payload.update(estimated_note(analysis))
        payload["services"] = analysis.summary
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(path)
    path = out / "coverage.gpkg"
    with atomic_path(path) as tmp:
        for name, frame in (("compounds", assessed), ("stations", loads), ("gaps", ranked)):
            if len(frame):
                write_layer(
                    frame, tmp, layer=name, description=analysis.note, shapes=shapes.get(name)
                )
        circles = [r.circles for r in analysis.services.values() if r.circles is not None]
        if circles:
            described = {"layer_options": {"DESCRIPTION": analysis.note}} if analysis.note else {}
            layer = gpd.GeoDataFrame(pd.concat(circles, ignore_index=True), crs=4326)
            layer.to_file(
                tmp, layer="circles", driver="GPKG", engine="pyogrio", use_arrow=True, **described
            )
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
    >>> compounds_line(pd.DataFrame({"households": [120.0, 80.0],
    ...                              "households_source": ["estimated", "given"]}), lang="en")
    'Compounds: 2, 200 households (60.0% of households estimated)'
    """
    households = float(compounds["households"].sum())
    line = labels.text("compounds_line", lang, count=len(compounds), households=households)
    return line + _estimated_part(compounds, lang=lang)


def _estimated_part(compounds: pd.DataFrame, *, lang: str | None) -> str:
    """`` (xx% of households estimated)`` when any count is estimated, else ``""``."""
    share = estimates.estimated_share(compounds)
    return labels.text("compounds_estimated_part", lang, share=share) if share > 0 else ""


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
    key = "gap_line_estimated" if _is_estimated(row) else "gap_line"
    return labels.text(key, lang, rank=row.rank, name=row.name, households=row.households, why=why)


def _is_estimated(row: Any) -> bool:
    return getattr(row, "households_source", None) == "estimated"


def _estimated_shares(analysis: Analysis) -> dict[str, float]:
    """The share of households estimated, per service (services without estimates left out)."""
    shares = {}
    for key, svc in analysis.summary.items():
        share = svc.get("share_estimated")
        if share:
            shares[key] = float(share)
    return shares


def estimated_note(analysis: Analysis) -> dict[str, str]:
    """``{"estimates": text}`` for ``summary.json`` when households are estimated, else ``{}``.

    Parameters
    ----------
    analysis
        The result of :func:`coverage.pipeline.analyze`.

    Returns
    -------
    dict
        The note says "估算 (estimated)" and the share of households estimated, in Chinese
        and English.
    """
    shares = _estimated_shares(analysis)
    if not shares:
        return {}
    share = max(shares.values())
    zh = labels.text("estimated_note", "zh", share=share)
    en = labels.text("estimated_note", "en", share=share)
    return {"estimates": f"{zh} ({en})"}


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
        Per service: one line with the share of households covered at each threshold (and
        the share of households estimated, when any are), then its ``top_gaps`` worst gaps,
        indented (estimated household counts marked so).
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
        if share := svc.get("share_estimated"):
            lines[-1] += labels.text("coverage_estimated_part", lang, share=share)
        lines += [
            "  " + gap_line(row, lang=lang) for row in result.gaps.head(top_gaps).itertuples()
        ]
    return lines
