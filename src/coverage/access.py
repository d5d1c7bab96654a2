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
        road their gate stands on), unless a walkable way runs between the gate and that
        boundary (the gate is across the street, the block opposite's: no compound's). A
        building's door (an entrance on a building outline, not in a wall or fence) is a gate
        only of a compound whose boundary it lies on: residents leave a compound by its
        gates, not by their building's front door. A gate is linked to the network through
        the way it sits on, or a straight leg of at most ``gate_link_m``; farther gates are
        reported (a log warning naming them) and ignored.
    ``"entries"``
        Every point where a walkable way crosses the boundary, plus every walkable way lying
        inside the polygon (at its point nearest the boundary).
    ``"open"``
        The entries, plus the best point anywhere on the boundary, each boundary point walked
        straight to its own nearest edge (as any point is snapped), exactly: the candidate
        points provably contain the best one for any stations and travel profile (see
        :func:`_open_points`; checked against the boundary sampled every 0.1 m on real
        compounds of Beijing and Monaco: never worse, by 1e-6 min). No cap, no minimum gap.
    ``"auto"`` (default)
        ``gates`` when the compound has a usable gate, else ``entries`` when a walkable way
        enters it, else ``open``. A compound drawn around its buildings (``source`` in
        :data:`UNFENCED_SOURCES`, the convex hull :mod:`coverage.osmdata` derives) has no
        fence to shut its residents in: ``open``, its gates added as extra access points.

A compound that gets no access point under a strict rule (``gates`` without a usable gate,
``entries`` without an entering way) has none: its reason is ``"no_access"``. A polygon with
no walkable edge within ``max_snap_m`` keeps one boundary point (the one nearest the network,
which then fails to snap: ``"far_from_network"``). The rule applied to each compound is
returned (``"point"`` for point compounds).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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
    "GATE_USES",
    "ON_M",
    "UNFENCED_SOURCES",
    "AccessPoints",
    "GateRule",
    "OpenSpans",
    "derive_access",
    "gate_labels",
    "gate_use",
    "gates_metric",
]

log = logging.getLogger(__name__)

ON_M = 0.5
"""A gate this close to a boundary or a way lies on it (OSM nodes shared by both ways)."""


@dataclass(frozen=True)
class GateRule:
    """One row of the gate table: a column of the entrance table and what a match means.

    Attributes
    ----------
    key
        A tag of the entrance node (``entrance``, ``barrier``, ``access``, ``locked``), or
        ``on_building`` / ``on_barrier``: the ``building=*`` / ``barrier=*`` tag of a way (or
        relation) the node lies on (see :attr:`coverage.osmdata.OsmFeatures.entrances`).
    value
        The value matched; ``"*"`` matches any value.
    usable
        Whether residents leave the compound by an entrance matching the row.
    why
        The reason, for readers of the table.
    boundary_only
        Usable only by a compound whose boundary the entrance lies on (within :data:`ON_M`).
    """

    key: str
    value: str
    usable: bool
    why: str
    boundary_only: bool = False


#: Which OSM entrances residents walk out of. The first row whose tag the node carries decides;
#: a node matching none is usable. Every node of :attr:`coverage.osmdata.OsmFeatures.entrances`
#: (``entrance=*`` or a gate-like ``barrier``) is a candidate gate.
GATE_RULES: tuple[GateRule, ...] = (
    GateRule("entrance", "emergency", False, "emergency exit: residents do not leave by it"),
    GateRule("entrance", "shop", False, "a shop's own door"),
    GateRule("access", "no", False, "closed to everyone"),
    GateRule("locked", "yes", False, "locked"),
    GateRule("barrier", "*", True, "a gate (barrier=gate, lift_gate...), even in a building"),
    GateRule("on_barrier", "*", True, "a door in a wall, fence or hedge: a gate through it"),
    GateRule(
        "on_building",
        "*",
        True,
        "a building's door: residents leave a compound by the gates in its fence or wall, not "
        "by a building's front door, unless the building stands on the compound's boundary",
        boundary_only=True,
    ),
    GateRule("access", "private", True, "the residents' own gate"),
)

#: ``source`` values (the compound layer's column, see :mod:`coverage.osmdata`) of compounds
#: drawn around their buildings (a convex hull), not along a fence or wall: under ``auto`` they
#: are entered by ``open`` (residents step out of their doors anywhere along the buildings)
#: with their gates as extra access points, since a gate near a hull of buildings (a
#: courtyard's, a neighbour's) does not shut the residents in.
UNFENCED_SOURCES = ("buildings",)

#: Values of :func:`gate_use`.
GATE_USES = ("yes", "no", "boundary")


def gate_use(entrances: pd.DataFrame) -> np.ndarray:
    """Tell which entrances residents can walk out of, by :data:`GATE_RULES`.

    Parameters
    ----------
    entrances
        Entrance nodes with any of the columns the rules read (``entrance``, ``barrier``,
        ``access``, ``locked``, ``on_building``, ``on_barrier``); a missing column or value
        means the tag is absent.

    Returns
    -------
    numpy.ndarray
        Object array, one per row: ``"yes"`` (a gate), ``"no"`` (never a gate) or
        ``"boundary"`` (a gate only of the compounds whose boundary it lies on).

    Examples
    --------
    >>> frame = pd.DataFrame({"entrance": ["main", "emergency", None, None, "yes"],
    ...                       "access": [None, None, "private", "no", None],
    ...                       "on_building": [None, None, None, None, "apartments"]})
    >>> gate_use(frame).tolist()
    ['yes', 'no', 'yes', 'no', 'boundary']
    """
    n = len(entrances)
    decided = np.zeros(n, dtype=bool)
    use = np.full(n, "yes", dtype=object)
    for rule in GATE_RULES:
        if rule.key not in entrances.columns:
            continue
        values = entrances[rule.key].astype(object).to_numpy()
        any_value = pd.notna(values) & (values != "")
        match = any_value if rule.value == "*" else values == rule.value
        hit = ~decided & match
        use[hit] = "no" if not rule.usable else ("boundary" if rule.boundary_only else "yes")
        decided |= hit
    return use


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
    spans
        The boundary stretches of the ``open`` polygons (owner = polygon position), where a
        station on the stretch's edge adds the boundary point opposite it (see
        :class:`OpenSpans`).
    """

    owner: np.ndarray
    kind: np.ndarray
    x: np.ndarray
    y: np.ndarray
    gate: np.ndarray
    rule: np.ndarray
    ignored_gates: tuple[str, ...] = ()
    spans: OpenSpans = field(default_factory=lambda: OpenSpans.empty())


@dataclass(frozen=True)
class OpenSpans:
    """Where an open compound's best boundary point depends on the stations: stretches of its
    boundary walked straight to one edge, as functions of the position on that edge.

    Along a stretch of boundary whose nearest walkable segment stays the same (and whose
    nearest spot ``q`` on it moves inside it), the walk to a station standing on that segment
    is ``leg(q) / speed + |q - station|`` along the edge + the station's own leg: least where
    ``q`` is the station's spot, a point that depends on the station (:mod:`coverage.travel`
    adds it per station). Everything is given as a function of ``a``, the position of ``q``
    on the edge (``along_m`` of :mod:`coverage.snap`; here the edges' drawn length in the
    metric CRS, until :mod:`coverage.snap` scales it to ``length_m``).

    Attributes
    ----------
    owner
        Per stretch: position of its polygon (ascending).
    edge
        Per stretch: the edge of its nearest segment.
    lo, hi
        Per stretch: the range of ``a`` it covers.
    c0, c1
        Per stretch: the signed straight leg from the boundary point to ``q`` is
        ``c0 + c1 * a`` (metres).
    x0, x1, y0, y1
        Per stretch: the boundary point is ``(x0 + x1 * a, y0 + y1 * a)`` (metric).
    """

    owner: np.ndarray
    edge: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, rows: np.ndarray, owner: np.ndarray | None = None) -> OpenSpans:
        """The stretches at ``rows`` (with new owners when given)."""
        parts = {f: getattr(self, f)[rows] for f in OpenSpans.__dataclass_fields__}
        if owner is not None:
            parts["owner"] = owner
        return OpenSpans(**parts)

    @staticmethod
    def empty() -> OpenSpans:
        """No stretch."""
        z = np.empty(0)
        i = np.empty(0, dtype=np.int64)
        return OpenSpans(i, i, z, z, z, z, z, z, z, z)


def _spans_of(
    pairs: _Pairs,
    piece: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    k: np.ndarray,
    start: np.ndarray,
    u: np.ndarray,
) -> OpenSpans:
    """The stretches (piece, lam in [lo, hi], nearest pair k) as :class:`OpenSpans` (owner =
    the piece; the caller maps it)."""
    ts = pairs.ts[k]
    moves = np.abs(ts) > 1e-9  # a piece square to its segment: q stands still
    piece, lo, hi, k, ts = piece[moves], lo[moves], hi[moves], k[moves], ts[moves]
    t0, h0, hs = pairs.t0[k], pairs.h0[k], pairs.hs[k]
    # where q stays inside the segment (0 <= t <= length)
    l0, l1 = -t0 / ts, (pairs.length[k] - t0) / ts
    a = np.maximum(lo, np.minimum(l0, l1))
    b = np.minimum(hi, np.maximum(l0, l1))
    ok = a <= b
    piece, a, b, k, ts, t0, h0, hs = (x[ok] for x in (piece, a, b, k, ts, t0, h0, hs))
    base = pairs.offset[k] + t0  # position on the edge = base + ts * lam
    g_a, g_b = base + ts * a, base + ts * b
    sx, sy = start[piece, 0], start[piece, 1]
    ux, uy = u[piece, 0], u[piece, 1]
    return OpenSpans(
        owner=piece,
        edge=pairs.edge[k],
        lo=np.minimum(g_a, g_b),
        hi=np.maximum(g_a, g_b),
        c0=h0 - hs * base / ts,
        c1=hs / ts,
        x0=sx - ux * base / ts,
        x1=ux / ts,
        y0=sy - uy * base / ts,
        y1=uy / ts,
    )


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
    boundary_only: np.ndarray,
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
    d_bound = shapely.distance(bounds[i_poly], gates[i_gate])
    # a building's door is a gate only of the compound whose boundary it lies on
    fits = ~boundary_only[i_gate] | (d_bound <= ON_M)
    i_poly, i_gate, d_bound = i_poly[fits], i_gate[fits], d_bound[fits]
    if len(i_poly) == 0:
        return empty, empty, ()
    pt = gates[i_gate]
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
        # ... unless a way runs between them: then the gate is no compound's
        nearest[first[~_across_a_way(bounds[i_poly[first]], pt[first], tree)]] = True
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


def _across_a_way(bounds: np.ndarray, gates: np.ndarray, tree: shapely.STRtree) -> np.ndarray:
    """Per (boundary, gate) pair: a walkable way runs between the gate and the boundary.

    The straight line from the gate to its nearest boundary point meets an edge the gate does
    not stand on (within :data:`ON_M`): the gate is across a street or path from the compound
    (often the gate of the block opposite), not a gate of it.
    """
    out = np.zeros(len(gates), dtype=bool)
    if len(gates) == 0:
        return out
    link = shapely.shortest_line(gates, bounds)
    i_link, i_edge = tree.query(link, predicate="intersects")
    if len(i_link):
        own = shapely.dwithin(tree.geometries[i_edge], gates[i_link], ON_M)
        out[i_link[~own]] = True
    return out


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


_ENTRY_THREADS = max(1, min(2, os.cpu_count() or 1))
_ENTRY_PARALLEL_MIN = 2000  # polygons: below this, one thread


def _entries_in_threads(
    polys: np.ndarray, edges: np.ndarray, tree: shapely.STRtree
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_entries` with the polygons dealt out to threads (shapely frees the GIL).

    Thread ``i`` gets polygons ``i``, ``i + T``, ...; the parts are joined in thread order,
    so each polygon's points come in the order :func:`_entries` gives them (the pairs of
    different polygons interleave differently, which :func:`_dedupe` sorts away).
    """
    threads = min(_ENTRY_THREADS, len(polys))
    if threads <= 1 or len(polys) < _ENTRY_PARALLEL_MIN:
        return _entries(polys, edges, tree)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda i: _entries(polys[i::threads], edges, tree), range(threads)))
    return (
        np.concatenate([i + threads * own for i, (own, _) in enumerate(parts)]).astype(np.int64),
        np.concatenate([pts for _, pts in parts]),
    )


_OPEN_PIECE_M = 25.0
"""Open access examines the boundary in pieces at most this long (bounds the edges examined)."""
_NUDGE_M = 1e-5
"""A point this far inside each end of a stretch where one edge is nearest stands for the end."""
_STEP_M = 1e-6
"""Where the nearest edge changes twice within this distance, the second change is ignored."""


@dataclass(frozen=True)
class _Pairs:
    """(boundary piece, walkable segment) pairs in the piece's own frame.

    A point of piece ``p`` at ``lam`` metres from its start is ``start + lam * u``; for the
    segment, ``t = t0 + ts * lam`` is its position along the segment (0..``length``) and
    ``h = h0 + hs * lam`` its signed distance from the segment's line, so its squared
    distance to the segment is ``h**2 + e**2`` with ``e`` the part of ``t`` beyond the segment.
    """

    piece: np.ndarray
    t0: np.ndarray
    ts: np.ndarray
    h0: np.ndarray
    hs: np.ndarray
    length: np.ndarray
    foot_a: np.ndarray  # lam of the foot of the segment's ends on the piece's line
    foot_b: np.ndarray
    seg: np.ndarray  # the segment (the same number for every piece it is near)
    edge: np.ndarray  # the segment's edge (position in the edges examined)
    offset: np.ndarray  # distance along that edge from its start to the segment's start

    def d2(self, k: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Squared distance from the piece point at ``lam`` to the segment, for pairs ``k``."""
        t = self.t0[k] + self.ts[k] * lam
        h = self.h0[k] + self.hs[k] * lam
        e = np.minimum(t, 0.0) + np.maximum(t - self.length[k], 0.0)
        return h * h + e * e

    def breaks(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lam`` where the point's nearest spot on the segment reaches its start, its end."""
        ts = self.ts[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            b0 = np.where(ts != 0, -self.t0[k] / ts, np.nan)
            b1 = np.where(ts != 0, (self.length[k] - self.t0[k]) / ts, np.nan)
        return b0, b1

    def quadratic(self, k: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, ...]:
        """Coefficients of the squared distance as ``a lam**2 + b lam + c`` around ``lam``."""
        t0, ts, h0, hs = self.t0[k], self.ts[k], self.h0[k], self.hs[k]
        t = t0 + ts * lam
        e0 = np.where(t < 0, t0, np.where(t > self.length[k], t0 - self.length[k], 0.0))
        es = np.where((t < 0) | (t > self.length[k]), ts, 0.0)
        return hs * hs + es * es, 2 * (h0 * hs + e0 * es), h0 * h0 + e0 * e0


def _quadratic_roots(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both real roots of ``a x**2 + b x + c`` (NaN where none; a linear one when a is 0)."""
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(c)) + 1e-300
    quad = np.abs(a) > 1e-12 * scale
    disc = b * b - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        q = -0.5 * (b + np.where(b >= 0, sq, -sq))
        r1 = np.where(quad, q / a, np.where(np.abs(b) > 1e-12 * scale, -c / b, np.nan))
        r2 = np.where(quad, c / q, np.nan)
    return r1, r2


def _spans(lo: np.ndarray, hi: np.ndarray, *cuts: np.ndarray) -> np.ndarray:
    """Sorted cut points of ``[lo, hi]`` (shape ``(n, len(cuts) + 2)``; cuts outside go to hi)."""
    inner = [np.where((c > lo) & (c < hi), c, hi) for c in cuts]
    return np.sort(np.column_stack([lo, *inner, hi]), axis=1)


def _roots_in(
    pairs: _Pairs,
    k: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    other: np.ndarray | None = None,
    level: np.ndarray | None = None,
) -> np.ndarray:
    """Roots in ``[lo, hi]`` of ``d2(k) - d2(other)`` (falling: ``k`` becomes nearer), or of
    ``d2(k) - level**2`` (any); shape ``(n, spans * 2)``, NaN where none."""
    cuts = list(pairs.breaks(k)) + (list(pairs.breaks(other)) if other is not None else [])
    edges = _spans(lo, hi, *cuts)
    out = []
    for i in range(edges.shape[1] - 1):
        a0, a1 = edges[:, i], edges[:, i + 1]
        mid = 0.5 * (a0 + a1)
        qa, qb, qc = pairs.quadratic(k, mid)
        if other is not None:
            oa, ob, oc = pairs.quadratic(other, mid)
            qa, qb, qc = qa - oa, qb - ob, qc - oc
        else:
            assert level is not None
            qc = qc - level * level
        for r in _quadratic_roots(qa, qb, qc):
            tol = 1e-9 * (1.0 + np.abs(r))
            ok = (r >= a0 - tol) & (r <= a1 + tol) & (a1 > a0)
            if other is not None:
                ok &= 2 * qa * r + qb < 0  # falling through zero
            out.append(np.where(ok, r, np.nan))
    return np.column_stack(out)


def _boundary_pieces(
    polys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces of every ring of the polygons (at most :data:`_OPEN_PIECE_M` long), in order.

    Returns owner (polygon position), start (n, 2), unit direction (n, 2), length, the
    rings' vertices with their polygon, and the ring of every piece.
    """
    parts, part_of = shapely.get_parts(polys, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, which = shapely.get_coordinates(rings, return_index=True)
    v_owner = part_of[ring_of[which]]
    k = np.flatnonzero(which[1:] == which[:-1])
    vec = xy[k + 1] - xy[k]
    length = np.hypot(vec[:, 0], vec[:, 1])
    keep = length > 0
    k, vec, length = k[keep], vec[keep], length[keep]
    n_sub = np.maximum(1, np.ceil(length / _OPEN_PIECE_M)).astype(np.int64)
    rep = np.repeat(np.arange(len(k)), n_sub)
    j = np.arange(len(rep)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
    step = (length / n_sub)[rep]
    u = vec[rep] / length[rep][:, None]
    start = xy[k[rep]] + u * (j * step)[:, None]
    return v_owner[k[rep]], start, u, step, v_owner, xy, which[k[rep]]


def _near_pairs(
    start: np.ndarray,
    u: np.ndarray,
    ell: np.ndarray,
    reach: np.ndarray,
    tree: shapely.STRtree,
    edges: np.ndarray,
) -> _Pairs:
    """Every (piece, segment) pair with the segment within ``reach`` of the piece."""
    end = start + u * ell[:, None]
    lines = shapely.linestrings(
        np.stack([start, end], axis=1).reshape(-1, 2), indices=np.repeat(np.arange(len(ell)), 2)
    )
    i_piece, i_edge = tree.query(lines, predicate="dwithin", distance=reach)
    if len(i_piece) == 0:
        none, no_id = np.empty(0), np.empty(0, dtype=np.int64)
        return _Pairs(no_id, none, none, none, none, none, none, none, no_id, no_id, none)
    uniq, inv = np.unique(i_edge, return_inverse=True)
    xy, which = shapely.get_coordinates(edges[uniq], return_index=True)
    s_start = np.flatnonzero(which[1:] == which[:-1])
    counts = np.bincount(which[s_start], minlength=len(uniq))
    first = np.cumsum(counts) - counts
    # distance along its edge to every vertex
    step = np.hypot(*(xy[1:] - xy[:-1]).T) * (which[1:] == which[:-1])
    run = np.r_[0.0, np.cumsum(step)]
    to_vertex = run - run[np.searchsorted(which, which)]
    n_seg = counts[inv]
    rep = np.repeat(np.arange(len(i_piece)), n_seg)
    seg = s_start[
        first[inv][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    ]
    piece = i_piece[rep]
    a = xy[seg] - start[piece]
    b = xy[seg + 1] - start[piece]
    vec = b - a
    length = np.hypot(vec[:, 0], vec[:, 1])
    keep = length > 0
    piece, a, b, vec, length = piece[keep], a[keep], b[keep], vec[keep], length[keep]
    seg = seg[keep]
    seg_edge = uniq[which[seg]]
    s = vec / length[:, None]
    n = np.column_stack([-s[:, 1], s[:, 0]])
    up = u[piece]
    pairs = _Pairs(
        piece=piece,
        t0=-(a * s).sum(axis=1),
        ts=(up * s).sum(axis=1),
        h0=-(a * n).sum(axis=1),
        hs=(up * n).sum(axis=1),
        length=length,
        foot_a=(a * up).sum(axis=1),
        foot_b=(b * up).sum(axis=1),
        seg=seg,
        edge=seg_edge,
        offset=to_vertex[seg],
    )
    # keep the segments within reach of their piece: the distance between two segments is
    # 0 when they cross, else the least of their ends' distances to the other one
    k = np.arange(len(piece))
    el = ell[piece]
    d2 = np.minimum(pairs.d2(k, np.zeros(len(k))), pairs.d2(k, el))
    for end, foot in ((a, pairs.foot_a), (b, pairs.foot_b)):
        q = up * np.clip(foot, 0.0, el)[:, None] - end
        d2 = np.minimum(d2, (q * q).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.where(pairs.hs != 0, -pairs.h0 / pairs.hs, np.nan)
    tx = pairs.t0 + pairs.ts * lx
    d2[(lx >= 0) & (lx <= el) & (tx >= 0) & (tx <= length)] = 0.0
    near = d2 <= reach[piece] ** 2
    order = np.flatnonzero(near)[np.argsort(piece[near], kind="stable")]
    return _Pairs(*(getattr(pairs, f)[order] for f in _Pairs.__dataclass_fields__))


def _first_of(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions of the smallest ``key`` of every ``group`` value (sorted by group)."""
    order = np.lexsort((key, group))
    g = group[order]
    return order[np.r_[True, g[1:] != g[:-1]]] if len(g) else order


def _stretches(
    pairs: _Pairs, n_pieces: int, ell: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split every piece where its nearest segment changes: (piece, lo, hi, pair) per stretch.

    The lower envelope of the pieces' distance functions, walked from each piece's start:
    from the nearest segment just past ``lo``, the next change is the first place another
    segment of the piece gets nearer (a root of the difference of two piecewise quadratics).
    """
    out_p, out_lo, out_hi, out_k = [], [], [], []
    has = np.zeros(n_pieces, dtype=bool)
    has[pairs.piece] = True
    lam = np.zeros(n_pieces)
    cur = np.full(n_pieces, -1, dtype=np.int64)
    k_all = np.arange(len(pairs.piece))

    def nearest_after(ks: np.ndarray) -> None:
        at = lam[pairs.piece[ks]] + _STEP_M
        best = ks[_first_of(pairs.piece[ks], pairs.d2(ks, at))]
        cur[pairs.piece[best]] = best

    nearest_after(k_all)
    active = has.copy()
    for _ in range(100_000):
        if not active.any():
            break
        ks = k_all[active[pairs.piece]]
        p = pairs.piece[ks]
        c = cur[p]
        roots = _roots_in(pairs, ks, lam[p] + _STEP_M, ell[p], other=c)
        first = np.nanmin(np.where(np.isnan(roots), np.inf, roots), axis=1)
        first[ks == c] = np.inf
        # where a segment's nearest spot reaches its end, another segment through that end
        # can take over without crossing (the two distances touch): look again there
        for b in pairs.breaks(ks):
            first = np.fmin(first, np.where(b > lam[p] + _STEP_M, b, np.inf))
        nxt = np.full(n_pieces, np.inf)
        np.minimum.at(nxt, p, first)
        act = np.flatnonzero(active)
        hi = np.minimum(nxt[act], ell[act])
        out_p.append(act)
        out_lo.append(lam[act])
        out_hi.append(hi)
        out_k.append(cur[act])
        done = ~np.isfinite(nxt[act]) | (nxt[act] >= ell[act])
        active[act[done]] = False
        moving = act[~done]
        lam[moving] = nxt[moving]
        nearest_after(k_all[np.isin(pairs.piece, moving)])
    if not out_p:
        return np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int64)
    p, lo, hi, k = (np.concatenate(x) for x in (out_p, out_lo, out_hi, out_k))
    # one stretch per run of the same nearest segment
    order = np.lexsort((lo, p))
    p, lo, hi, k = p[order], lo[order], hi[order], k[order]
    new = np.r_[True, (p[1:] != p[:-1]) | (k[1:] != k[:-1])]
    last = np.r_[np.flatnonzero(new)[1:] - 1, len(p) - 1]
    return p[new], lo[new], hi[last], k[new]


def _open_points(
    polys: np.ndarray, tree: shapely.STRtree, edges: np.ndarray, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, OpenSpans]:
    """(polygon, metric boundary point) pairs that contain the best boundary point, exactly.

    A boundary point ``p`` is walked straight to its nearest segment ``S`` and then along the
    network: its time is ``f(p) = |p - q|/speed + T(q)``, ``q`` the spot of ``S`` nearest
    ``p`` and ``T`` the time from ``q`` (the smaller of the two ends of its edge plus the walk
    along it: a concave function of the position on the edge). Along a straight piece of
    boundary where one segment stays nearest, and ``q`` stays inside it, the distance is
    ``|linear|`` and ``T`` concave: ``f`` is concave on each side of a crossing, so its least
    value is at an end; where ``q`` stays at an end ``V`` of the segment, ``T`` is constant and
    the distance convex: the least value is at the foot of ``V`` or an end. So the best point
    is among: the boundary's vertices, crossings, the places where ``q`` reaches an end of its
    segment, the feet of segment ends, the places where the nearest segment changes (found
    exactly: the pieces' lower envelope, :func:`_stretches`; ``f`` jumps there, so a point
    :data:`_NUDGE_M` inside each side stands for each), and where the distance reaches
    ``max_snap_m``. None of this depends on the travel profile or the stations, with one
    exception: a station snapped onto one of those segments is also walked to directly along
    its edge, and then the point opposite the station can be better: the stretches are
    returned (:class:`OpenSpans`) and :mod:`coverage.travel` adds that point per station.

    A polygon with no edge within ``max_snap_m`` keeps its boundary point nearest the network
    (it will not snap).
    """
    n = len(polys)
    empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=object), OpenSpans.empty())
    if n == 0 or len(edges) == 0:
        return empty
    bounds = shapely.boundary(polys)
    (i0, t0), d0 = tree.query_nearest(bounds, return_distance=True, all_matches=False)
    near_d = np.full(n, np.inf)
    near_t = np.full(n, -1, dtype=np.int64)
    near_d[i0] = d0
    near_t[i0] = t0
    far = np.flatnonzero((near_d > max_snap_m) & (near_t >= 0))
    p_far = shapely.get_point(shapely.shortest_line(bounds[far], edges[near_t[far]]), 0)
    ok = np.flatnonzero(near_d <= max_snap_m)
    if len(ok) == 0:
        return far.astype(np.int64), p_far, OpenSpans.empty()
    owner, start, u, ell, v_owner, v_xy, ring = _boundary_pieces(polys[ok])
    owner = ok[owner]
    v_owner = ok[v_owner]
    # the nearest distance at both ends of every piece bounds it along the piece
    ends = shapely.points(np.vstack([start, start + u * ell[:, None]]))
    (i_end, _), d_end = tree.query_nearest(ends, return_distance=True, all_matches=False)
    d_at = np.full(len(ends), np.inf)
    d_at[i_end] = d_end
    d_a, d_b = d_at[: len(ell)], d_at[len(ell) :]
    live = np.flatnonzero(0.5 * (d_a + d_b - ell) <= max_snap_m)
    reach = 0.5 * (d_a + d_b + ell)[live] + 1e-6
    pairs = _near_pairs(start[live], u[live], ell[live], reach, tree, edges)
    piece, lo, hi, k = _stretches(pairs, len(live), ell[live])
    spans = _spans_of(pairs, piece, lo, hi, k, start[live], u[live])
    spans = spans.take(np.argsort(owner[live[spans.owner]], kind="stable"))
    spans = spans.take(np.arange(len(spans)), owner[live[spans.owner]])
    # both ends of every stretch, unless the same segment is nearest across a piece's end
    at_lo, at_hi = lo <= 0, hi >= ell[live][piece]
    first_seg = np.full(len(ell), -1, dtype=np.int64)
    last_seg = np.full(len(ell), -1, dtype=np.int64)
    first_seg[live[piece[at_lo]]] = pairs.seg[k[at_lo]]
    last_seg[live[piece[at_hi]]] = pairs.seg[k[at_hi]]
    ring_start = np.r_[0, np.flatnonzero(ring[1:] != ring[:-1]) + 1]
    ring_end = np.r_[ring_start[1:], len(ring)] - 1
    nxt = np.arange(len(ring)) + 1
    nxt[ring_end] = ring_start
    prv = np.empty_like(nxt)
    prv[nxt] = np.arange(len(ring))
    same_after = (last_seg >= 0) & (last_seg == first_seg[nxt])
    same_before = (first_seg >= 0) & (first_seg == last_seg[prv])
    nudge_lo = ~(at_lo & same_before[live[piece]])
    nudge_hi = ~(at_hi & same_after[live[piece]])
    lam = [np.minimum(lo + _NUDGE_M, hi)[nudge_lo], np.maximum(hi - _NUDGE_M, lo)[nudge_hi]]
    who = [piece[nudge_lo], piece[nudge_hi]]
    b0, b1 = pairs.breaks(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(pairs.hs[k] != 0, -pairs.h0[k] / pairs.hs[k], np.nan)
    for x in (cross, b0, b1, pairs.foot_a[k], pairs.foot_b[k]):
        inside = (x > lo) & (x < hi)
        lam.append(x[inside])
        who.append(piece[inside])
    cut = _roots_in(pairs, k, lo, hi, level=np.full(len(k), float(max_snap_m)))
    for col in cut.T:
        for side in (-_NUDGE_M, _NUDGE_M):
            x = col + side
            inside = (x >= lo) & (x <= hi)
            lam.append(x[inside])
            who.append(piece[inside])
    lam_all = np.concatenate(lam)
    at = live[np.concatenate(who)]
    xy = start[at] + u[at] * lam_all[:, None]
    return (
        np.concatenate([owner[at], v_owner, far]).astype(np.int64),
        np.concatenate([shapely.points(xy), shapely.points(v_xy), p_far]),
        spans,
    )


def _dedupe(
    owner: np.ndarray, kind: np.ndarray, pts: np.ndarray, gate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort by polygon and drop repeated points of one polygon (to the micrometre: the points
    standing for the two sides of a change of nearest edge are 2e-5 m apart)."""
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    rank = np.select([kind == "gate", kind == "entry"], [0, 1], 2)
    key_x, key_y = np.round(x, 6), np.round(y, 6)
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
    boundary_only: np.ndarray | None = None,
    mode: str = "auto",
    gate_tolerance_m: float = DEFAULT_GATE_TOLERANCE_M,
    gate_link_m: float = DEFAULT_GATE_LINK_M,
    max_snap_m: float = 300.0,
    unfenced: np.ndarray | None = None,
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
    boundary_only
        Per gate: a gate only of the compounds whose boundary it lies on (building doors,
        see :data:`GATE_RULES`); default none.
    mode
        ``"auto"``, ``"gates"``, ``"entries"`` or ``"open"``.
    gate_tolerance_m
        Gates this close to a polygon's boundary can be its gates.
    gate_link_m
        Gates farther than this from every walkable edge are left out.
    max_snap_m
        The snapping limit: edges farther than this are not examined for open access.
    unfenced
        Per polygon: it is drawn around buildings, not along a fence (:data:`UNFENCED_SOURCES`):
        under ``auto`` it is entered by ``open``, its gates extra access points.

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
    >>> got.kind.tolist().count("entry"), "point" in got.kind, got.rule.tolist()
    (2, True, ['open'])
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
    spans = OpenSpans.empty()
    open_all = np.zeros(n, dtype=bool) if unfenced is None else np.asarray(unfenced, dtype=bool)
    todo = np.arange(n)
    if mode in ("auto", "gates") and gates is not None and len(gates):
        lab = labels if labels is not None else np.full(len(gates), "gate", dtype=object)
        g_poly, g_gate, ignored = _gates(
            polys,
            np.asarray(gates, dtype=object),
            lab,
            np.zeros(len(gates), dtype=bool) if boundary_only is None else boundary_only,
            edges,
            tree,
            gate_tolerance_m=gate_tolerance_m,
            gate_link_m=gate_link_m,
        )
        add(g_poly, "gate", np.asarray(gates, dtype=object)[g_gate], lab[g_gate])
        # a compound without a fence is not shut in by its gates: they are extra exits
        shut = g_poly if mode != "auto" else g_poly[~open_all[g_poly]]
        rule[shut] = "gates"
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
        e_poly, e_pt = _entries_in_threads(polys[todo], edges, tree)
        add(todo[e_poly], "entry", e_pt, None)
        has_entry = np.zeros(n, dtype=bool)
        has_entry[todo[e_poly]] = True
        if mode != "open":
            # a compound without a fence (auto) is left anywhere along its edge: open
            entered = has_entry[todo] & ~(open_all[todo] & (mode == "auto"))
            rule[todo[entered]] = "entries"
            todo = todo[~entered] if mode == "auto" else todo[:0]
    if mode in ("auto", "open") and len(todo):
        o_poly, o_pt, o_spans = _open_points(polys[todo], tree, edges, max_snap_m)
        add(todo[o_poly], "point", o_pt, None)
        spans = o_spans.take(np.arange(len(o_spans)), todo[o_spans.owner])
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
    return AccessPoints(owner, kind, x, y, gate, rule, ignored, spans)


def gates_metric(
    entrances: gpd.GeoDataFrame | None, crs: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[None, None, None]:
    """The usable gates of an entrance layer as metric Points, their labels and limits.

    Parameters
    ----------
    entrances
        Entrance nodes (any CRS; non-point rows are left out), or None.
    crs
        The metric CRS.

    Returns
    -------
    tuple
        ``(points, labels, boundary_only)`` (``boundary_only``: per gate, whether it is a gate
        only of compounds whose boundary it lies on, see :func:`gate_use`), or
        ``(None, None, None)`` when there is no usable gate.
    """
    if entrances is None or len(entrances) == 0:
        return None, None, None
    geoms = np.asarray(entrances.geometry.values, dtype=object)
    use = gate_use(entrances)
    keep = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms) & (use != "no")
    if not keep.any():
        return None, None, None
    sel = entrances.iloc[np.flatnonzero(keep)]
    pts = np.asarray(sel.geometry.to_crs(crs).values, dtype=object)
    return pts, gate_labels(sel), use[keep] == "boundary"
