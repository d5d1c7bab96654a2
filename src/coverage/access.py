"""Where residents leave a compound: its access points, by one explicit rule.

A compound's walk time is the best over the points where its residents can leave it (see
:mod:`coverage.travel`). This module decides those points; :mod:`coverage.snap` then projects
them onto the walk network. Everything here is geometry in the network's metric CRS.

Kinds of access point
    ``"point"``: a point compound itself, or a point of a polygon's boundary walked straight
    to its nearest edge; ``"gate"``: a usable OSM gate of the compound; ``"entry"``: a point
    where a walkable way crosses the compound's boundary, or the point nearest the boundary of
    a walkable way lying wholly inside it.

Rules (the study key ``access``)
    ``"gates"``
        The compound's usable gates (:data:`GATE_RULES`) within ``gate_tolerance_m`` of its
        boundary: on the boundary, inside the polygon, or on a walkable edge crossing the
        boundary; a gate that is none of these for any compound is the gate of the compound
        whose boundary is nearest (OSM polygons are often drawn a few metres short of the
        road their gate stands on). A gate is linked to the network through the way it
        sits on, or a straight leg of at most ``gate_link_m``; farther gates are reported (a
        log warning naming them) and ignored.
    ``"entries"``
        Every point where a walkable way crosses the boundary, plus every walkable way lying
        inside the polygon (at its point nearest the boundary).
    ``"open"``
        The entries, plus points of the boundary each walked straight to its own nearest edge
        (as any point is snapped): the boundary point nearest each walkable edge that can be
        the nearest edge of some boundary point (computed exactly with
        :func:`shapely.shortest_line`), the boundary's vertices and its point nearest each
        vertex of those edges. Along a straight piece of boundary facing a straight piece of
        edge the time is linear, so its best point is one of these, except where the nearest
        edge changes between two candidates (checked against the boundary sampled every
        0.5 m on real compounds: at most 0.013 min worse on the CAU extract, 0.10 min on
        Monaco). No cap, no minimum gap.
    ``"auto"`` (default)
        ``gates`` when the compound has a usable gate, else ``entries`` when a walkable way
        enters it, else ``open``.

A compound that gets no access point under a strict rule (``gates`` without a usable gate,
``entries`` without an entering way) has none: its reason is ``"no_access"``. A polygon with
no walkable edge within ``max_snap_m`` keeps one boundary point (the one nearest the network,
which then fails to snap: ``"far_from_network"``). The rule applied to each compound is
returned (``"point"`` for point compounds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.config import ACCESS_MODES, DEFAULT_GATE_LINK_M, DEFAULT_GATE_TOLERANCE_M
from coverage.errors import InputError

__all__ = [
    "ACCESS_MODES",
    "DEFAULT_GATE_LINK_M",
    "DEFAULT_GATE_TOLERANCE_M",
    "GATE_RULES",
    "ON_M",
    "AccessPoints",
    "GateRule",
    "derive_access",
    "gate_labels",
    "gates_metric",
    "usable_gates",
]

log = logging.getLogger(__name__)

ON_M = 0.5
"""A gate this close to a boundary or a way lies on it (OSM nodes shared by both ways)."""


@dataclass(frozen=True)
class GateRule:
    """One row of the gate table: an OSM tag and whether a gate carrying it is usable."""

    key: str
    value: str
    usable: bool
    why: str


#: Which OSM entrances residents walk out of. The first row whose tag the node carries decides;
#: a node matching none is usable. Every node of :attr:`coverage.osmdata.OsmFeatures.entrances`
#: (``entrance=*`` or a gate-like ``barrier``) is a candidate gate.
GATE_RULES: tuple[GateRule, ...] = (
    GateRule("entrance", "emergency", False, "emergency exit: residents do not leave by it"),
    GateRule("entrance", "shop", False, "a shop's own door"),
    GateRule("access", "no", False, "closed to everyone"),
    GateRule("locked", "yes", False, "locked"),
    GateRule("access", "private", True, "the residents' own gate"),
)


def usable_gates(entrances: pd.DataFrame) -> np.ndarray:
    """Tell which entrances residents can walk out of, by :data:`GATE_RULES`.

    Parameters
    ----------
    entrances
        Entrance nodes with any of the tag columns the rules read (``entrance``, ``access``,
        ``locked``); a missing column means the tag is absent.

    Returns
    -------
    numpy.ndarray
        Boolean, one per row.

    Examples
    --------
    >>> frame = pd.DataFrame({"entrance": ["main", "emergency", None, None],
    ...                       "access": [None, None, "private", "no"]})
    >>> usable_gates(frame).tolist()
    [True, False, True, False]
    """
    n = len(entrances)
    decided = np.zeros(n, dtype=bool)
    usable = np.ones(n, dtype=bool)
    for rule in GATE_RULES:
        if rule.key not in entrances.columns:
            continue
        values = entrances[rule.key].astype(object).to_numpy()
        hit = ~decided & (values == rule.value)
        usable[hit] = rule.usable
        decided |= hit
    return usable


def gate_labels(entrances: pd.DataFrame) -> np.ndarray:
    """A gate's label for the outputs: its OSM id and name (``"n123 东门"``), or either alone.

    Parameters
    ----------
    entrances
        Entrance nodes, optionally with ``osm_id`` and ``name`` columns.

    Returns
    -------
    numpy.ndarray
        Object array of str, one per row (``"gate"`` when neither column has a value).
    """
    n = len(entrances)

    def column(name: str) -> list[str]:
        if name not in entrances.columns:
            return [""] * n
        return ["" if pd.isna(v) else str(v).strip() for v in entrances[name].to_numpy()]

    out = [
        " ".join(p for p in (i, m) if p) or "gate"
        for i, m in zip(column("osm_id"), column("name"), strict=True)
    ]
    return np.asarray(out, dtype=object)


@dataclass(frozen=True)
class AccessPoints:
    """Access points of the polygon compounds (metric), and the rule applied to each polygon.

    Attributes
    ----------
    owner
        Per access point: position of its polygon in the ``polys`` given (ascending).
    kind
        Per access point: ``"gate"``, ``"entry"`` or ``"point"``.
    x, y
        Per access point: metric coordinates.
    gate
        Per access point: the gate's label (:func:`gate_labels`), None for other kinds.
    rule
        Per polygon: ``"gates"``, ``"entries"``, ``"open"`` (or ``"none"`` when a strict rule
        gave it no access point).
    ignored_gates
        Labels of the usable gates matched to a compound but farther than ``gate_link_m`` from
        every walkable edge (left out).
    """

    owner: np.ndarray
    kind: np.ndarray
    x: np.ndarray
    y: np.ndarray
    gate: np.ndarray
    rule: np.ndarray
    ignored_gates: tuple[str, ...] = ()


def _check_options(mode: str, gate_tolerance_m: float, gate_link_m: float) -> None:
    problems = []
    if mode not in ACCESS_MODES:
        problems.append(f"access must be one of {', '.join(ACCESS_MODES)}, got {mode!r}")
    if not gate_tolerance_m >= 0:
        problems.append(f"gate_tolerance_m must be >= 0, got {gate_tolerance_m!r}")
    if not gate_link_m >= 0:
        problems.append(f"gate_link_m must be >= 0, got {gate_link_m!r}")
    if problems:
        raise InputError("小区接入规则参数无效 (invalid access options): " + "; ".join(problems))


def _gates(
    polys: np.ndarray,
    gates: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    tree: shapely.STRtree,
    *,
    gate_tolerance_m: float,
    gate_link_m: float,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(polygon, gate) pairs of matched, linked gates; labels of matched gates left out."""
    empty = np.empty(0, dtype=np.int64)
    if len(gates) == 0 or len(polys) == 0:
        return empty, empty, ()
    bounds = shapely.boundary(polys)
    i_poly, i_gate = shapely.STRtree(gates).query(
        bounds, predicate="dwithin", distance=gate_tolerance_m
    )
    if len(i_poly) == 0:
        return empty, empty, ()
    pt = gates[i_gate]
    d_bound = shapely.distance(bounds[i_poly], pt)
    inside = shapely.covers(polys[i_poly], pt)
    # on a walkable way that crosses this polygon's boundary
    g_on, e_on = tree.query(pt, predicate="dwithin", distance=ON_M)
    crossing = np.zeros(len(i_poly), dtype=bool)
    if len(g_on):
        cross = shapely.intersects(bounds[i_poly[g_on]], edges[e_on])
        crossing[g_on[cross]] = True
    # a gate on no compound (often the polygon is drawn short of the road the gate stands
    # on) belongs to the compound whose boundary is nearest
    on = (d_bound <= ON_M) | inside | crossing
    placed = np.zeros(len(gates), dtype=bool)
    placed[i_gate[on]] = True
    loose = ~placed[i_gate]
    nearest = np.zeros(len(i_poly), dtype=bool)
    if loose.any():
        cand = np.flatnonzero(loose)
        order = cand[np.lexsort((d_bound[cand], i_gate[cand]))]
        first = order[np.r_[True, i_gate[order][1:] != i_gate[order][:-1]]]
        nearest[first] = True
    keep = on | nearest
    i_poly, i_gate = i_poly[keep], i_gate[keep]
    # linked through the way the gate sits on, or a short leg
    used = np.unique(i_gate)
    linked = np.zeros(len(gates), dtype=bool)
    if len(used) and len(tree.geometries):
        (i_near, _), _d = tree.query_nearest(
            gates[used], max_distance=gate_link_m, return_distance=True, all_matches=False
        )
        linked[used[i_near]] = True
    far = used[~linked[used]]
    ok = linked[i_gate]
    return i_poly[ok], i_gate[ok], tuple(str(s) for s in labels[far])


def _entries(
    polys: np.ndarray, edges: np.ndarray, tree: shapely.STRtree
) -> tuple[np.ndarray, np.ndarray]:
    """(polygon, metric point) pairs where walkable edges enter polygons."""
    if len(polys) == 0 or len(edges) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    i_poly, i_edge = tree.query(polys, predicate="intersects")
    bounds = shapely.boundary(polys[i_poly])
    lines = edges[i_edge]
    crosses = shapely.intersects(bounds, lines)
    # crossing points: every vertex of the boundary/edge intersection (a point where the way
    # crosses, or the ends and bends of a stretch running along the boundary)
    meet = shapely.intersection(bounds[crosses], lines[crosses])
    xy, which = shapely.get_coordinates(meet, return_index=True)
    c_poly = i_poly[crosses][which]
    c_pt = shapely.points(xy)
    # a way wholly inside: its point nearest the boundary
    inner = ~crosses
    link = shapely.shortest_line(bounds[inner], lines[inner])
    return (
        np.concatenate([c_poly, i_poly[inner]]).astype(np.int64),
        np.concatenate([c_pt, shapely.get_point(link, 1)]),
    )


def _open_points(
    polys: np.ndarray, tree: shapely.STRtree, edges: np.ndarray, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """(polygon, metric boundary point) pairs: candidates for the best boundary point.

    The boundary point nearest each near edge, the boundary's vertices and the boundary point
    nearest each vertex of the near edges; each is then snapped to its own nearest edge.

    Only edges that can be the nearest edge of some boundary point are examined: a boundary
    point ``p`` is within ``|p - p0| + d0`` of the network, where ``p0`` is the boundary point
    nearest it (at ``d0``), so edges farther from the polygon than ``d0`` plus the boundary's
    largest distance from ``p0`` are never nearest. A polygon with no edge within
    ``max_snap_m`` keeps its boundary point nearest the network (it will not snap).
    """
    n = len(polys)
    if n == 0 or len(edges) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    bounds = shapely.boundary(polys)
    (i0, t0), d0 = tree.query_nearest(bounds, return_distance=True, all_matches=False)
    near_d = np.full(n, np.inf)
    near_t = np.full(n, -1, dtype=np.int64)
    near_d[i0] = d0
    near_t[i0] = t0
    p0 = shapely.get_point(shapely.shortest_line(bounds, edges[np.maximum(near_t, 0)]), 0)
    spread = shapely.hausdorff_distance(p0, bounds)  # farthest boundary point from p0
    reach = np.minimum(near_d + spread + 1e-6, max_snap_m)
    ok = np.flatnonzero(near_d <= max_snap_m)
    i_poly, i_edge = tree.query(bounds[ok], predicate="dwithin", distance=reach[ok])
    i_poly = ok[i_poly]
    link = shapely.shortest_line(bounds[i_poly], edges[i_edge])
    # the boundary's own vertices, and its point nearest every vertex of those edges: along a
    # straight piece of boundary facing a straight piece of edge the time is linear, so its
    # best point is where the piece ends (a vertex of either)
    b_xy, b_which = shapely.get_coordinates(bounds[ok], return_index=True)
    e_xy, e_which = shapely.get_coordinates(edges[i_edge], return_index=True)
    v_poly = i_poly[e_which]
    v_pt = shapely.points(e_xy)
    close = shapely.distance(bounds[v_poly], v_pt) <= reach[v_poly]
    v_link = shapely.shortest_line(bounds[v_poly[close]], v_pt[close])
    far = np.flatnonzero((near_d > max_snap_m) & (near_t >= 0))
    return (
        np.concatenate([i_poly, ok[b_which], v_poly[close], far]).astype(np.int64),
        np.concatenate(
            [
                shapely.get_point(link, 0),
                shapely.points(b_xy),
                shapely.get_point(v_link, 0),
                p0[far],
            ]
        ),
    )


def _dedupe(
    owner: np.ndarray, kind: np.ndarray, pts: np.ndarray, gate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort by polygon and drop repeated points of one polygon (to the millimetre)."""
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    rank = np.select([kind == "gate", kind == "entry"], [0, 1], 2)
    key_x, key_y = np.round(x, 3), np.round(y, 3)
    order = np.lexsort((rank, key_y, key_x, owner))
    o, kx, ky = owner[order], key_x[order], key_y[order]
    first = np.ones(len(o), dtype=bool)
    first[1:] = (o[1:] != o[:-1]) | (kx[1:] != kx[:-1]) | (ky[1:] != ky[:-1])
    order = order[first]
    order = order[np.argsort(owner[order], kind="stable")]
    return owner[order], kind[order], x[order], y[order], gate[order]


def derive_access(
    polys: np.ndarray,
    edges: np.ndarray,
    *,
    tree: shapely.STRtree | None = None,
    gates: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    mode: str = "auto",
    gate_tolerance_m: float = DEFAULT_GATE_TOLERANCE_M,
    gate_link_m: float = DEFAULT_GATE_LINK_M,
    max_snap_m: float = 300.0,
) -> AccessPoints:
    """Derive the access points of polygon compounds by one rule (see the module docstring).

    Parameters
    ----------
    polys
        (Multi)Polygons in a metric CRS.
    edges
        The walkable edges (LineStrings) in the same CRS.
    tree
        ``shapely.STRtree(edges)``, when already built.
    gates
        Usable gates (Points, same CRS; see :func:`usable_gates`).
    labels
        One label per gate (:func:`gate_labels`).
    mode
        ``"auto"``, ``"gates"``, ``"entries"`` or ``"open"``.
    gate_tolerance_m
        Gates this close to a polygon's boundary can be its gates.
    gate_link_m
        Gates farther than this from every walkable edge are left out.
    max_snap_m
        The snapping limit: edges farther than this are not examined for open access.

    Returns
    -------
    AccessPoints

    Raises
    ------
    InputError
        When ``mode`` is unknown or a distance is negative.

    Examples
    --------
    A 20 m square crossed by a way, and a way 5 m below it:

    >>> from shapely import LineString, box
    >>> polys = np.array([box(0, 0, 20, 20)])
    >>> edges = np.array([LineString([(10, -30), (10, 50)]), LineString([(-50, -5), (80, -5)])])
    >>> derive_access(polys, edges, mode="entries").kind.tolist()
    ['entry', 'entry']
    >>> got = derive_access(polys, edges, mode="open")  # and boundary points
    >>> sorted(got.kind.tolist()), got.rule.tolist()
    (['entry', 'entry', 'point', 'point', 'point', 'point'], ['open'])
    """
    _check_options(mode, gate_tolerance_m, gate_link_m)
    n = len(polys)
    tree = tree if tree is not None else shapely.STRtree(edges)
    parts_o: list[np.ndarray] = []
    parts_k: list[np.ndarray] = []
    parts_p: list[np.ndarray] = []
    parts_g: list[np.ndarray] = []
    rule = np.full(n, "none", dtype=object)

    def add(owner: np.ndarray, kind: str, pts: np.ndarray, gate: np.ndarray | None) -> None:
        parts_o.append(owner)
        parts_k.append(np.full(len(owner), kind, dtype=object))
        parts_p.append(pts)
        parts_g.append(gate if gate is not None else np.full(len(owner), None, dtype=object))

    ignored: tuple[str, ...] = ()
    todo = np.arange(n)
    if mode in ("auto", "gates") and gates is not None and len(gates):
        lab = labels if labels is not None else np.full(len(gates), "gate", dtype=object)
        g_poly, g_gate, ignored = _gates(
            polys,
            np.asarray(gates, dtype=object),
            lab,
            edges,
            tree,
            gate_tolerance_m=gate_tolerance_m,
            gate_link_m=gate_link_m,
        )
        add(g_poly, "gate", np.asarray(gates, dtype=object)[g_gate], lab[g_gate])
        rule[g_poly] = "gates"
        todo = np.flatnonzero(rule == "none")
    if ignored:
        shown = ", ".join(ignored[:10]) + (" ..." if len(ignored) > 10 else "")
        log.warning(
            "%d 个小区大门距步行道路超过 %g 米，已忽略 (%d gates are farther than %g m from any "
            "walkable way and were ignored; raise gate_link_m to use them): %s",
            len(ignored),
            gate_link_m,
            len(ignored),
            gate_link_m,
            shown,
        )
    if mode in ("auto", "entries", "open") and len(todo):
        e_poly, e_pt = _entries(polys[todo], edges, tree)
        add(todo[e_poly], "entry", e_pt, None)
        has_entry = np.zeros(n, dtype=bool)
        has_entry[todo[e_poly]] = True
        if mode != "open":
            rule[todo[has_entry[todo]]] = "entries"
            todo = todo[~has_entry[todo]] if mode == "auto" else todo[:0]
    if mode in ("auto", "open") and len(todo):
        o_poly, o_pt = _open_points(polys[todo], tree, edges, max_snap_m)
        add(todo[o_poly], "point", o_pt, None)
        rule[todo] = "open"
    if parts_o:
        owner, kind, x, y, gate = _dedupe(
            np.concatenate(parts_o).astype(np.int64),
            np.concatenate(parts_k),
            np.concatenate(parts_p),
            np.concatenate(parts_g),
        )
    else:
        owner = np.empty(0, dtype=np.int64)
        kind = gate = np.empty(0, dtype=object)
        x = y = np.empty(0)
    return AccessPoints(owner, kind, x, y, gate, rule, ignored)


def gates_metric(
    entrances: gpd.GeoDataFrame | None, crs: str
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The usable gates of an entrance layer as metric Points and their labels.

    Parameters
    ----------
    entrances
        Entrance nodes (any CRS; non-point rows are left out), or None.
    crs
        The metric CRS.

    Returns
    -------
    tuple
        ``(points, labels)``, or ``(None, None)`` when there is no usable gate.
    """
    if entrances is None or len(entrances) == 0:
        return None, None
    geoms = np.asarray(entrances.geometry.values, dtype=object)
    keep = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms) & usable_gates(entrances)
    if not keep.any():
        return None, None
    sel = entrances.iloc[np.flatnonzero(keep)]
    pts = np.asarray(sel.geometry.to_crs(crs).values, dtype=object)
    return pts, gate_labels(sel)
