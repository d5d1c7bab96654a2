"""Estimated households: how much of a count is estimated, and whether an estimate is plausible.

Households derived from OSM buildings (:func:`coverage.osmdata.compounds_from_osm`, column
``households_source == "estimated"``) are estimates; every output that uses or sums them says
so, with the share of households estimated (:func:`estimated_share`).

Where OSM building coverage is sparse (common in Chinese county towns) the estimate is far too
low. :func:`check_derived_households` warns when

- the study area has fewer than :data:`MIN_MAPPED_BUILDINGS` mapped buildings, or
- the derived households are fewer than :data:`IMPLAUSIBLE_SHARE` of what the built-up area
  implies: :func:`built_up_area_m2` (the 200 m cells holding at least
  :data:`BUILT_UP_WAY_M` metres of walkable way) times :data:`HOUSEHOLDS_PER_BUILT_UP_KM2`.

The implied figure is a coarse yardstick (a built-up town's gross density), used only to catch
an estimate ten times too small, never as a count.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from coverage.errors import CoverageWarning
from coverage.labels import pick

if TYPE_CHECKING:
    from coverage.walknetwork import WalkNetwork

__all__ = [
    "BUILT_UP_CELL_M",
    "BUILT_UP_WAY_M",
    "HOUSEHOLDS_PER_BUILT_UP_KM2",
    "IMPLAUSIBLE_SHARE",
    "MIN_MAPPED_BUILDINGS",
    "built_up_area_m2",
    "check_derived_households",
    "estimated_households",
    "estimated_share",
]

log = logging.getLogger(__name__)

#: An area with fewer mapped buildings than this is too sparsely mapped to estimate from.
MIN_MAPPED_BUILDINGS = 200
#: Warn when derived households are fewer than this share of what the built-up area implies.
IMPLAUSIBLE_SHARE = 0.1
#: Gross households per km² of built-up land in a Chinese town (about 3 people a household,
#: 9,000 people per km²): the yardstick, not an estimate.
HOUSEHOLDS_PER_BUILT_UP_KM2 = 3000.0
#: Side of the grid cells the built-up area is counted in.
BUILT_UP_CELL_M = 200.0
#: A cell is built up when it holds at least this much walkable way (a street grid, not one
#: road through fields).
BUILT_UP_WAY_M = 400.0


def estimated_households(compounds: pd.DataFrame, *, weight_column: str = "households") -> float:
    """Return the households of the compounds whose count is estimated.

    Parameters
    ----------
    compounds
        Compounds (or an assessed table) with the weight column and, when known,
        ``households_source`` (``"estimated"`` or ``"given"``).
    weight_column
        The households column.

    Returns
    -------
    float
        0 when there is no ``households_source`` column.

    Examples
    --------
    >>> table = pd.DataFrame({"households": [300.0, 100.0],
    ...                       "households_source": ["given", "estimated"]})
    >>> estimated_households(table)
    100.0
    """
    if "households_source" not in compounds.columns or not len(compounds):
        return 0.0
    estimated = compounds["households_source"].astype("string").eq("estimated").fillna(False)
    return float(compounds.loc[estimated.to_numpy(dtype=bool), weight_column].sum())


def estimated_share(compounds: pd.DataFrame, *, weight_column: str = "households") -> float:
    """Return the share (0-1) of households whose count is estimated.

    Parameters
    ----------
    compounds
        As for :func:`estimated_households`.
    weight_column
        The households column.

    Returns
    -------
    float
        0 when nothing is estimated; by count of compounds when there are no households.

    Examples
    --------
    >>> table = pd.DataFrame({"households": [300.0, 100.0],
    ...                       "households_source": ["given", "estimated"]})
    >>> estimated_share(table)
    0.25
    """
    total = float(compounds[weight_column].sum()) if len(compounds) else 0.0
    if total > 0:
        return estimated_households(compounds, weight_column=weight_column) / total
    if "households_source" not in compounds.columns or not len(compounds):
        return 0.0
    estimated = compounds["households_source"].astype("string").eq("estimated").fillna(False)
    return float(estimated.to_numpy(dtype=bool).mean())


def built_up_area_m2(network: WalkNetwork) -> float:
    """Return the built-up area (m²) of a walk network's extent, counted in grid cells.

    A :data:`BUILT_UP_CELL_M` cell is built up when the walkable ways in it add up to at
    least :data:`BUILT_UP_WAY_M` metres (measured on the network's 25 m pieces).

    Parameters
    ----------
    network
        The walk network.

    Returns
    -------
    float
    """
    index = network.edge_index
    mids = np.asarray(index.kdtree.data, dtype="float64")
    if len(mids) == 0:
        return 0.0
    # each piece's length: its segment's length split into equal pieces
    seg = index.piece_seg
    a = index.coords[index.seg_start]
    b = index.coords[index.seg_start + 1]
    seg_len = np.hypot(*(b - a).T)
    pieces_per_seg = np.bincount(seg, minlength=len(seg_len))
    piece_len = seg_len[seg] / np.maximum(pieces_per_seg[seg], 1)
    cells = np.floor(mids / BUILT_UP_CELL_M).astype("int64")
    _, inverse = np.unique(cells, axis=0, return_inverse=True)
    per_cell = np.bincount(inverse.ravel(), weights=piece_len)
    return float((per_cell >= BUILT_UP_WAY_M).sum()) * BUILT_UP_CELL_M**2


def check_derived_households(
    compounds: pd.DataFrame,
    *,
    mapped_buildings: int,
    built_up_m2: float | None = None,
    lang: str | None = None,
) -> str | None:
    """Warn when households derived from OSM look far too low for the area.

    Parameters
    ----------
    compounds
        The derived compounds (``households``).
    mapped_buildings
        Buildings of every kind mapped in the area (``len(features.buildings)``).
    built_up_m2
        The built-up area (:func:`built_up_area_m2`); ``None`` skips that check.
    lang
        The study's language: ``"zh"`` (Chinese with the English; also ``None``) or ``"en"``.

    Returns
    -------
    str or None
        The warning's text (also issued as a :class:`~coverage.errors.CoverageWarning`), or
        ``None`` when the estimate looks plausible.
    """
    households = float(compounds["households"].sum()) if len(compounds) else 0.0
    implied = None if built_up_m2 is None else built_up_m2 / 1e6 * HOUSEHOLDS_PER_BUILT_UP_KM2
    log.info(
        "derived households %.0f from %d mapped buildings; built-up area %s km² implies %s",
        households,
        mapped_buildings,
        "?" if built_up_m2 is None else f"{built_up_m2 / 1e6:.2f}",
        "?" if implied is None else f"{implied:,.0f}",
    )
    why_zh: list[str] = []
    why_en: list[str] = []
    if mapped_buildings < MIN_MAPPED_BUILDINGS:
        why_zh.append(f"范围内只标注了 {mapped_buildings} 栋建筑（少于 {MIN_MAPPED_BUILDINGS}）")
        why_en.append(f"only {mapped_buildings} buildings are mapped (< {MIN_MAPPED_BUILDINGS})")
    if built_up_m2 is not None and implied is not None and households < IMPLAUSIBLE_SHARE * implied:
        why_zh.append(
            f"估算 {households:,.0f} 户，不到建成区面积（约 {built_up_m2 / 1e6:,.1f} 平方公里）"
            f"推算的约 {implied:,.0f} 户的十分之一"
        )
        why_en.append(
            f"{households:,.0f} households estimated, under a tenth of the about "
            f"{implied:,.0f} the built-up area (about {built_up_m2 / 1e6:,.1f} km²) implies"
        )
    if not why_zh:
        return None
    english = (
        "households estimated from OSM buildings look far too low: " + "; ".join(why_en) + ". "
        "OSM building coverage in Chinese county towns is often sparse: a compounds file with "
        "household counts from the street office is better"
    )
    message = pick(
        "从 OSM 建筑估算的户数可能严重偏低：" + "；".join(why_zh) + "。中国县城的 OSM 建筑数据"
        f"往往很稀疏，建议向街道办索取小区名单（含户数）作为 compounds 图层 ({english})",
        english,
        lang,
    )
    warnings.warn(message, CoverageWarning, stacklevel=2)
    return message
