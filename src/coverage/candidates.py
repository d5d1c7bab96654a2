"""Candidate sites for new stations: from the study's layer, from OSM, from k-means; screened.

Every candidate carries a ``source``: ``"study"`` (the study's ``[candidates]`` layer),
``"osm"`` (a point of interest of a kind that hosts stations in the seed's cities: community
centres, bank branches, supermarkets, malls, post offices), ``"gates"`` (compound entrances
from OSM) or ``"kmeans"`` (household-weighted k-means centres of the compounds left uncovered,
moved onto the nearest walkable way). :func:`screen_candidates` drops candidates far from the
network or on small network islands, each with a reason, and keeps those a service may use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.errors import InputError
from coverage.network import WalkNetwork
from coverage.snap import SnappedPoints, snap_layer, snap_points

__all__ = [
    "CANDIDATE_KINDS",
    "GENERATORS",
    "MIN_COMPONENT_NODES",
    "gate_candidates",
    "kmeans_candidates",
    "osm_candidates",
    "screen_candidates",
    "service_candidates",
]

log = logging.getLogger(__name__)

#: OSM tags of the places stations are put in (idle rooms of community centres, bank
#: branches, supermarkets, malls, post offices).
CANDIDATE_KINDS: tuple[str, ...] = (
    "amenity=community_centre",
    "amenity=bank",
    "shop=supermarket",
    "shop=mall",
    "amenity=post_office",
)
#: The generators ``--generate`` accepts.
GENERATORS: tuple[str, ...] = ("osm", "gates", "kmeans")
#: A candidate on a network component with fewer nodes than this (not the largest) is on an
#: island and dropped.
MIN_COMPONENT_NODES = 50

_COLUMNS = ["candidate_id", "name", "source", "capacity", "services", "geometry"]


def _frame(ids: list[str], names: list[str], source: str, geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "candidate_id": pd.array(ids, dtype="str"),
            "name": pd.array(names, dtype="str"),
            "source": source,
            "capacity": np.nan,
            "services": "",
        },
        geometry=gpd.GeoSeries(geoms, crs=4326).values,
        crs=4326,
    )


def osm_candidates(
    pois: gpd.GeoDataFrame, *, kinds: Iterable[str] = CANDIDATE_KINDS
) -> gpd.GeoDataFrame:
    """Points of interest of the given kinds as candidates (``source = "osm"``).

    Parameters
    ----------
    pois
        ``OsmFeatures.pois`` (``osm_id``, ``name``, one column per OSM key, point geometry).
    kinds
        ``"key=value"`` tags to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id`` (``"osm-<osm_id>"``), ``name`` (the OSM name, else the kind),
        ``source``, ``capacity`` (NaN), ``services`` (empty: any), ``geometry``.
    """
    keep = np.zeros(len(pois), dtype=bool)
    kind = np.full(len(pois), "", dtype=object)
    for tag in reversed(list(kinds)):
        key, value = tag.split("=", 1)
        if key in pois.columns:
            hit = (pois[key] == value).fillna(False).to_numpy(dtype=bool)
            keep |= hit
            kind[hit] = tag
    sel = pois[keep]
    names = [
        str(n) if isinstance(n, str) and n else str(k)
        for n, k in zip(sel["name"], kind[keep], strict=True)
    ]
    ids = [f"osm-{i}" for i in sel["osm_id"]]
    return _frame(ids, names, "osm", sel.geometry.values)


def gate_candidates(entrances: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Compound entrances (OSM ``entrance=*`` / gates) as candidates (``source = "gates"``).

    Parameters
    ----------
    entrances
        ``OsmFeatures.entrances`` (``osm_id``, ``name``, point geometry), or ``None``.

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as :func:`osm_candidates`.
    """
    if entrances is None or len(entrances) == 0:
        return _frame([], [], "gates", [])
    names = [
        str(n) if isinstance(n, str) and n else f"出入口 {i} (entrance)"
        for n, i in zip(entrances["name"], entrances["osm_id"], strict=True)
    ]
    ids = [f"gate-{i}" for i in entrances["osm_id"]]
    return _frame(ids, names, "gates", entrances.geometry.values)


def kmeans_candidates(
    points: gpd.GeoDataFrame,
    weights: np.ndarray,
    network: WalkNetwork,
    *,
    n_clusters: int,
    seed: int = 0,
    max_snap_m: float = 300.0,
) -> gpd.GeoDataFrame:
    """Household-weighted k-means centres of (uncovered) compounds, moved onto the network.

    Parameters
    ----------
    points
        The compounds to cluster (any geometry: their representative points are used).
    weights
        Households per compound (the k-means sample weights).
    network
        The walk network; centres are moved to the nearest point of a walkable way.
    n_clusters
        Number of centres (at most the number of compounds with households).
    seed
        Random state of k-means (results are reproducible).
    max_snap_m
        Centres farther than this from every way keep their position (and are dropped by
        :func:`screen_candidates` as far from the network).

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as :func:`osm_candidates`, ``candidate_id`` ``"kmeans-<n>"``.
    """
    from sklearn.cluster import KMeans

    w = np.asarray(weights, dtype=np.float64)
    use = w > 0
    k = min(int(n_clusters), int(use.sum()))
    if k <= 0:
        return _frame([], [], "kmeans", [])
    pts = points.geometry.to_crs(network.crs).representative_point()
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])[use]
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(xy, sample_weight=w[use])
    centres = gpd.GeoSeries(
        gpd.points_from_xy(km.cluster_centers_[:, 0], km.cluster_centers_[:, 1]), crs=network.crs
    ).to_crs(4326)
    frame = gpd.GeoDataFrame(
        {"candidate_id": [f"kmeans-{i + 1}" for i in range(k)]}, geometry=centres.values
    )
    snapped = snap_points(frame, network, max_snap_m=max_snap_m)
    ok = (snapped["reason"] == "").to_numpy()
    geoms = np.asarray(centres.values, dtype=object)
    moved = gpd.points_from_xy(snapped["snap_lon"].to_numpy(), snapped["snap_lat"].to_numpy())
    geoms[ok] = np.asarray(moved, dtype=object)[ok]
    names = [f"聚类中心 {i + 1} (k-means centre)" for i in range(k)]
    return _frame(list(frame["candidate_id"]), names, "kmeans", geoms)


def service_candidates(candidates: gpd.GeoDataFrame, service: str) -> np.ndarray:
    """Which candidates may host ``service``: the ``services`` column lists keys (comma or
    semicolon separated); an empty cell means any service.

    Parameters
    ----------
    candidates
        Candidate layer (a ``services`` column is optional).
    service
        Service key.

    Returns
    -------
    numpy.ndarray
        Boolean per candidate.

    Examples
    --------
    >>> c = pd.DataFrame({"services": ["party_station, meal", "", "meal"]})
    >>> service_candidates(c, "party_station").tolist()
    [True, True, False]
    """
    if "services" not in candidates.columns:
        return np.ones(len(candidates), dtype=bool)
    out = []
    for cell in candidates["services"]:
        text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
        keys = {k.strip() for k in text.replace(";", ",").replace("，", ",").split(",")}
        keys.discard("")
        out.append(not keys or service in keys)
    return np.array(out, dtype=bool)


def screen_candidates(
    candidates: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    service: str | None = None,
    max_snap_m: float = 300.0,
    min_component_nodes: int = MIN_COMPONENT_NODES,
    snapped: SnappedPoints | None = None,
) -> gpd.GeoDataFrame:
    """Flag the candidates a model cannot use, each with a reason.

    Parameters
    ----------
    candidates
        Candidates (``candidate_id``, ``source``, point geometry).
    network
        The walk network.
    service
        When given, candidates whose ``services`` column excludes it are flagged.
    max_snap_m
        Candidates farther than this from every walkable way are flagged
        ``"far_from_network"``.
    min_component_nodes
        Candidates on a component other than the largest with fewer nodes are flagged
        ``"island"``.
    snapped
        The candidates already snapped by :func:`coverage.snap.snap_layer` (same order);
        snapped here when not given.

    Returns
    -------
    geopandas.GeoDataFrame
        The candidates with ``reason`` (``""`` = usable, ``"far_from_network"``,
        ``"island"``, ``"other_service"``) and ``access_m``.

    Raises
    ------
    InputError
        When ``candidate_id`` is missing, empty or duplicated.
    """
    if "candidate_id" not in candidates.columns:
        raise InputError("候选点缺少 candidate_id 列 (the candidates have no candidate_id column)")
    out = candidates.copy()
    if "source" not in out.columns:
        out["source"] = "study"
    reason = np.full(len(out), "", dtype=object)
    if snapped is None:
        snapped = snap_layer(
            out[["candidate_id", "geometry"]],
            network,
            id_column="candidate_id",
            max_snap_m=max_snap_m,
        )
    far = ~snapped.snapped
    reason[far] = "far_from_network"
    comp = network.nodes["component"].to_numpy()
    sizes = np.bincount(comp) if len(comp) else np.zeros(1, dtype=np.int64)
    u = np.full(len(out), -1, dtype=np.int64)
    u[snapped.owner] = network.edge_attributes["u"].to_numpy()[snapped.edge]
    cu = np.where(u >= 0, comp[np.maximum(u, 0)], 0)
    island = ~far & (cu != 0) & (sizes[cu] < min_component_nodes)
    reason[island] = "island"
    if service is not None:
        other = (reason == "") & ~service_candidates(out, service)
        reason[other] = "other_service"
    out["reason"] = reason
    access = np.full(len(out), np.nan)
    access[snapped.owner] = snapped.access_m
    out["access_m"] = access
    n_drop = int((reason != "").sum())
    if n_drop:
        log.info("candidates: %d of %d dropped (%s)", n_drop, len(out), _count(reason))
    return out


def _count(reason: np.ndarray) -> str:
    values, counts = np.unique(reason[reason != ""], return_counts=True)
    return ", ".join(f"{v} {c}" for v, c in zip(values, counts, strict=True))
