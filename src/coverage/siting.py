"""Siting new stations: exact optimisation models with the existing stations kept.

One class per model, in the shape of spopt's ``spopt.locate`` (a ``from_cost_matrix``
constructor, one from the study's own walk times, and a ``solve()`` that returns the model with
the results as attributes), solved exactly with HiGHS (``highspy``):

- :class:`MaxCoverage` (MCLP): ``p`` new sites maximising the households within ``T`` minutes;
  households an existing station already covers count as covered.
- :class:`MinStations` (LSCP): the fewest new sites so that a target share of all households is
  within ``T`` (default: every household some station or candidate can reach).
- :class:`MinWalkTime` (p-median): ``p`` new sites minimising the household-weighted walk time to
  the nearest station, existing ones included, each time capped at ``cap_min``.
- :class:`CapacitatedCoverage`: coverage where each station serves at most its capacity; every
  compound is assigned whole to one station within ``T``, or to none.

How the models are made small
    Demand rows (compounds) already covered by an existing station, and rows no candidate
    reaches, leave the coverage models (they are a constant). Rows with the same candidate set
    are merged into one row carrying the sum of their households (``model_size`` reports the
    rows before and after). For the p-median, rows merge when their candidate times and their
    cap are identical.

Solving
    A lazy greedy (submodular gains re-evaluated only when they reach the top of the heap) gives
    an immediate answer and the MILP's warm start (``Highs.setSolution``). HiGHS then proves the
    optimum (``mip_rel_gap = 0``) or stops at the time limit; ``status``, ``objective``,
    ``bound`` and ``gap`` say which. Maximal coverage first runs a Lagrangian (subgradient)
    bound relaxing ``z_i <= sum_j a_ij y_j`` (Galvao and ReVelle) with greedy + swap primals;
    Lagrangian variable fixing then removes the candidates that cannot be in a better solution,
    and HiGHS solves the (much smaller) rest exactly. When even the rest is too large for the
    compact MILP (more than :data:`COMPACT_MAX_NNZ` pairs), a kernel MILP on the most promising
    candidates improves the primal and the Lagrangian bound's gap is reported as found
    (:mod:`coverage.siting_solve`).

Objectives are in households (coverage) or household-minutes (p-median) of the demand left to
the new sites: the existing stations' coverage is not part of ``objective`` (see
``covered_before`` and ``covered_after``).
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.errors import InfeasibleError, InputError
from coverage.siting_solve import (
    COMPACT_MAX_NNZ,
    Milp,
    Solved,
    covered_weight,
    decompose,
    fill_selection,
    highs_model,
    highs_solution,
    lazy_greedy,
    marginals,
    mclp_milp,
    mclp_start,
    merge_rows,
    relative_gap,
    run_highs,
)

__all__ = [
    "COMPACT_MAX_NNZ",
    "CapacitatedCoverage",
    "MaxCoverage",
    "MinStations",
    "MinWalkTime",
    "SitingTimes",
    "coverage_curve",
    "merge_rows",
]

log = logging.getLogger(__name__)

_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True, eq=False)
class SitingTimes:
    """Walk times a siting model is built from (made by :func:`coverage.siting_study.siting_times`).

    Attributes
    ----------
    demand_ids
        Compound ids (rows), a pandas ``"str"`` array.
    weights
        Households per compound (float64, >= 0).
    candidate_ids
        Candidate ids (columns of ``cost``).
    cost
        CSR matrix compounds x candidates: walk minutes of every pair within ``limit_min``
        (stored entries, explicit zeros included; absent = beyond the limit).
    existing_min
        Walk minutes to the nearest existing station (NaN when none is reachable).
    existing_station
        Id of that station (None when none).
    station_ids
        Existing station ids (columns of ``station_cost``).
    station_cost
        CSR matrix compounds x existing stations, walk minutes within ``limit_min``.
    station_capacity
        Capacity of each existing station in households (NaN = no limit).
    limit_min
        The walk-time limit the two matrices were computed with.
    """

    demand_ids: Any
    weights: np.ndarray
    candidate_ids: Any
    cost: sp.csr_matrix
    existing_min: np.ndarray
    existing_station: np.ndarray
    station_ids: Any
    station_cost: sp.csr_matrix
    station_capacity: np.ndarray
    limit_min: float


def _as_csr(cost_matrix: Any, service_radius: float | None) -> sp.csr_matrix:
    """A cost matrix (dense with inf/NaN for "no path", or sparse) as CSR of pairs within."""
    if sp.issparse(cost_matrix):
        m = sp.csr_matrix(cost_matrix, dtype=np.float64)
        if service_radius is not None:
            m = m.copy()
            keep = m.data <= service_radius + _EPS
            m.data[~keep] = np.nan
            rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
            m = sp.csr_matrix(
                (m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.float64
            )
        return m
    d = np.asarray(cost_matrix, dtype=np.float64)
    if d.ndim != 2:
        raise InputError(f"成本矩阵必须是二维的 (cost_matrix must be 2-D), got shape {d.shape}")
    ok = np.isfinite(d)
    if service_radius is not None:
        ok &= d <= service_radius + _EPS
    r, c = np.nonzero(ok)
    return sp.csr_matrix((d[r, c], (r, c)), shape=d.shape)


def _pattern(m: sp.csr_matrix) -> sp.csr_matrix:
    """0/1 matrix with the stored pattern of ``m`` (explicit zeros count as stored)."""
    return sp.csr_matrix(
        (np.ones(m.nnz), m.indices.copy(), m.indptr.copy()), shape=m.shape, dtype=np.float64
    )


def _ids(ids: Any, n: int, prefix: str) -> np.ndarray:
    if ids is None:
        return np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    out = np.asarray(pd.array(list(ids), dtype="str"), dtype=object)
    if len(out) != n:
        raise InputError(f"编号数量与矩阵不符 (expected {n} {prefix} ids, got {len(out)})")
    return out


def _check_p(p: int, n_candidates: int) -> int:
    if n_candidates == 0:
        raise InputError(
            "没有可用的候选站址 (no candidate sites): give a [candidates] layer in the study "
            "or --generate osm,gates,kmeans"
        )
    if int(p) != p or p < 1:
        raise InputError(f"新站数量必须是正整数 (the number of new sites must be >= 1), got {p!r}")
    if p > n_candidates:
        raise InputError(
            f"新站数量 {p} 多于候选站址数 {n_candidates} (p = {p} is larger than the "
            f"{n_candidates} usable candidate sites); lower --new or add candidates"
        )
    return int(p)


# --------------------------------------------------------------------------------------------
# models


@dataclass(eq=False)
class _Model:
    """Shared attributes of every model (set by ``solve``)."""

    name: ClassVar[str] = "model"
    maximize: ClassVar[bool] = True

    demand_ids: np.ndarray
    candidate_ids: np.ndarray
    weights: np.ndarray
    covered_before: float = 0.0
    status: str = "not_solved"
    objective: float = float("nan")
    bound: float = float("nan")
    gap: float = float("nan")
    greedy_objective: float = float("nan")
    greedy_gap: float = float("nan")
    solve_seconds: float = 0.0
    greedy_seconds: float = 0.0
    method: str = ""
    selected: list[int] = field(default_factory=list)
    households_added: np.ndarray = field(default_factory=lambda: np.zeros(0))
    compounds_added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    assignment: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    model_size: dict[str, int] = field(default_factory=dict)

    @property
    def selected_ids(self) -> list[str]:
        """Ids of the chosen candidates, in rank order."""
        return [str(self.candidate_ids[j]) for j in self.selected]

    @property
    def covered_after(self) -> float:
        """Households covered after siting (existing stations included; coverage models)."""
        return float(self.covered_before + (self.objective if self.maximize else 0.0))

    def summary(self) -> dict[str, Any]:
        """The solve in a JSON-ready dict."""
        return {
            "model": self.name,
            "method": self.method,
            "status": self.status,
            "objective": _num(self.objective),
            "bound": _num(self.bound),
            "gap": _num(self.gap),
            "greedy_objective": _num(self.greedy_objective),
            "greedy_gap": _num(self.greedy_gap),
            "solve_seconds": round(self.solve_seconds, 3),
            "greedy_seconds": round(self.greedy_seconds, 3),
            "new_sites": len(self.selected),
            "model_size": dict(self.model_size),
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(demand={len(self.demand_ids)}, "
            f"candidates={len(self.candidate_ids)}, status={self.status!r}, "
            f"objective={self.objective:.6g}, gap={self.gap:.3g})"
        )

    def _finish(self, solved: Solved, greedy_obj: float, greedy_s: float) -> None:
        self.status = solved.status
        self.objective = solved.objective
        self.bound = solved.bound
        self.gap = solved.gap
        self.greedy_objective = greedy_obj
        self.greedy_seconds = greedy_s
        self.greedy_gap = relative_gap(greedy_obj, solved.bound, self.maximize)
        self.solve_seconds = solved.seconds


def _nan_inf(x: Any) -> np.ndarray:
    """NaN -> +inf (``np.nan_to_num`` would also turn inf into the largest float)."""
    arr = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(arr), np.inf, arr)


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


@dataclass(eq=False, repr=False)
class _CoverageModel(_Model):
    """Maximal coverage and set covering share their data: a 0/1 coverage matrix."""

    coverage: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    already: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def _reduced(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """Rows left to the new sites, merged: (A, w, group of each kept row, kept rows)."""
        reach = np.diff(self.coverage.indptr) > 0
        keep = np.flatnonzero(reach & ~self.already & (self.weights > 0))
        a, w, group = merge_rows(self.coverage[keep], self.weights[keep])
        self.model_size = {
            "demand_rows": len(self.demand_ids),
            "rows_to_cover": len(keep),
            "rows_merged": a.shape[0],
            "candidates": a.shape[1],
            "pairs_before": int(self.coverage[keep].nnz),
            "pairs_after": int(a.nnz),
        }
        return a, w, group, keep

    def _record_sites(self, a: sp.csr_matrix, w: np.ndarray, chosen: list[int]) -> None:
        order, added_w, _ = marginals(a, w, chosen, np.zeros(a.shape[0], dtype=bool))
        full = self.coverage
        _, _, added_n = marginals(full, np.ones(full.shape[0]), order, self.already.copy())
        self.selected = order
        self.households_added = added_w
        self.compounds_added = added_n
        near = full[:, order]
        covered = (np.diff(near.indptr) > 0) & ~self.already
        self.assignment = np.where(covered, 0, -1)

    def unreached(self) -> np.ndarray:
        """Rows no existing station and no candidate reaches within the limit."""
        reach = np.diff(self.coverage.indptr) > 0
        return np.flatnonzero(~reach & ~self.already)


@dataclass(eq=False, repr=False)
class MaxCoverage(_CoverageModel):
    """Maximal covering location (MCLP) with existing stations counted as covering.

    Build with :meth:`from_cost_matrix` or :meth:`from_walk_times`, then call :meth:`solve`.
    After solving: ``selected`` (candidate positions, rank order), ``selected_ids``,
    ``households_added`` and ``compounds_added`` per chosen site, ``objective`` (households
    newly covered), ``bound``, ``gap``, ``status``, ``greedy_objective``, ``greedy_gap``,
    ``covered_before``, ``covered_after`` and ``model_size``.

    Examples
    --------
    Three compounds on a line, two candidates: the middle one reaches the two heavier ones.

    >>> cost = np.array([[5.0, 20.0], [5.0, 5.0], [20.0, 5.0]])
    >>> m = MaxCoverage.from_cost_matrix(cost, [10, 1, 30], service_radius=10,
    ...                                  p_facilities=1).solve()
    >>> m.selected_ids, m.objective, m.status
    (['c1'], 31.0, 'optimal')
    """

    name: ClassVar[str] = "max-coverage"
    p: int = 1

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        *,
        service_radius: float,
        p_facilities: int,
        covered: Any = None,
        demand_ids: Any = None,
        candidate_ids: Any = None,
    ) -> MaxCoverage:
        """Build from a demand x candidate cost matrix (dense with inf/NaN, or sparse).

        Parameters
        ----------
        cost_matrix
            Walk minutes; a pair is within reach when ``cost <= service_radius`` (for a
            sparse matrix only stored entries count).
        weights
            Households per demand row.
        service_radius
            ``T`` in the matrix's units.
        p_facilities
            Number of new sites.
        covered
            Optional boolean per row: already covered by an existing station.
        demand_ids, candidate_ids
            Optional ids (default ``d0..``, ``c0..``).

        Returns
        -------
        MaxCoverage
        """
        fields = _coverage_fields(
            cost_matrix, weights, service_radius, covered, demand_ids, candidate_ids
        )
        p = _check_p(p_facilities, fields["coverage"].shape[1])
        return cls(**fields, p=p)

    @classmethod
    def from_walk_times(cls, times: SitingTimes, *, p: int, minutes: float) -> MaxCoverage:
        """Build from the study's walk times (see :func:`coverage.siting_study.siting_times`).

        Parameters
        ----------
        times
            The walk times.
        p
            Number of new sites.
        minutes
            ``T``: a compound is covered by a station within ``T`` minutes' walk.

        Returns
        -------
        MaxCoverage
        """
        return cls.from_cost_matrix(
            times.cost, times.weights, p_facilities=p, **_walk_time_args(times, minutes)
        )

    def solve(
        self, *, time_limit_s: float = 60.0, method: str = "auto", warm_start: bool = True
    ) -> MaxCoverage:
        """Solve; return the model with the results as attributes.

        Parameters
        ----------
        time_limit_s
            Time limit of the whole solve in seconds.
        method
            ``"milp"`` (the compact MILP with HiGHS), ``"decompose"`` (greedy + swaps, a
            Lagrangian bound and fixing, then HiGHS on the columns left free when they have at
            most :data:`COMPACT_MAX_NNZ` pairs; above that, the smoothed Lagrangian bound,
            which converges to the LP bound, and iterated swaps for the primal: see
            :func:`coverage.siting_solve.decompose`),
            ``"greedy"`` (lazy greedy, bounded by a 5-second Lagrangian), or ``"auto"``
            (``"decompose"``).
        warm_start
            Give HiGHS the greedy solution as a start.

        Returns
        -------
        MaxCoverage
        """
        t0 = time.perf_counter()
        a, w, _, _ = self._reduced()
        n_rows, n_cols = a.shape
        a_csc = a.tocsc()
        p = min(self.p, n_cols)
        g0 = time.perf_counter()
        greedy = lazy_greedy(a_csc, w, p, np.zeros(n_rows, dtype=bool))
        greedy = fill_selection(greedy, p, n_cols)
        greedy_s = time.perf_counter() - g0
        greedy_obj = covered_weight(a, w, greedy)
        if method == "auto":
            # Lagrangian fixing first, HiGHS on what is left: exact whenever that fits the
            # compact MILP (it is never larger than the whole), and often much smaller
            method = "decompose"
        self.method = method
        deadline = t0 + time_limit_s
        if method == "milp" and p == 1:
            # one site: the best single column is the optimum (the LP is weak here)
            chosen = greedy[:1]
            obj = covered_weight(a, w, chosen)
            solved = Solved("optimal", None, obj, obj, 0.0, time.perf_counter() - t0)
        elif method == "milp":
            milp = mclp_milp(a, w, p)
            start = mclp_start(greedy, n_cols, a, n_rows) if warm_start else None
            solved, chosen = _solve_sites(
                milp,
                n_cols,
                time_limit_s=max(0.1, deadline - time.perf_counter()),
                start=start,
                t0=t0,
            )
            solved.objective = covered_weight(a, w, chosen)
        elif method in ("decompose", "greedy"):
            chosen, solved = decompose(
                a, a_csc, w, p, greedy, t0=t0, time_limit_s=time_limit_s, full=method == "decompose"
            )
        else:
            raise InputError(f"unknown method {method!r}; use auto, milp, decompose or greedy")
        self._finish(solved, greedy_obj, greedy_s)
        self._record_sites(a, w, chosen)
        log.info(
            "max coverage p=%d: %s, %.6g households (bound %.6g, gap %.2g), greedy %.6g, %.2f s",
            p,
            self.status,
            self.objective,
            self.bound,
            self.gap,
            greedy_obj,
            self.solve_seconds,
        )
        return self


def _solve_sites(
    milp: Milp, n_cols: int, *, time_limit_s: float, start: np.ndarray | None, t0: float
) -> tuple[Solved, list[int]]:
    """HiGHS on a siting MILP whose first ``n_cols`` columns are the candidates: the solve
    and the candidates it opens; :class:`InfeasibleError` when it found no solution."""
    h = highs_model(milp, time_limit_s=time_limit_s, start=start)
    solved = run_highs(h, milp.maximize, t0)
    if solved.x is None:
        raise InfeasibleError(f"HiGHS found no solution ({solved.status})")
    return solved, [int(j) for j in np.flatnonzero(solved.x[:n_cols] > 0.5)]


def _coverage_fields(
    cost_matrix: Any,
    weights: Any,
    service_radius: float,
    covered: Any,
    demand_ids: Any,
    candidate_ids: Any,
) -> dict[str, Any]:
    """The fields a coverage model (:class:`MaxCoverage`, :class:`MinStations`) is built
    from: ids, weights, the 0/1 coverage matrix and the rows existing stations cover."""
    a = _pattern(_as_csr(cost_matrix, service_radius))
    w = np.asarray(weights, dtype=np.float64)
    already = np.zeros(len(w), dtype=bool) if covered is None else np.asarray(covered, bool)
    return {
        "demand_ids": _ids(demand_ids, a.shape[0], "d"),
        "candidate_ids": _ids(candidate_ids, a.shape[1], "c"),
        "weights": w,
        "covered_before": float(w[already].sum()),
        "coverage": a,
        "already": already,
    }


def _walk_time_args(times: SitingTimes, minutes: float) -> dict[str, Any]:
    """``from_cost_matrix`` keywords of a coverage model built from the study's walk times:
    the radius, the rows existing stations reach within ``minutes``, the ids."""
    _check_minutes(minutes, times)
    return {
        "service_radius": minutes,
        "covered": _nan_inf(times.existing_min) <= minutes,
        "demand_ids": times.demand_ids,
        "candidate_ids": times.candidate_ids,
    }


def _check_minutes(minutes: float, times: SitingTimes) -> None:
    if not minutes > 0:
        raise InputError(f"步行时间阈值必须为正数 (minutes must be positive), got {minutes!r}")
    if minutes > times.limit_min + _EPS:
        raise InputError(
            f"阈值 {minutes} 分钟超过了计算步行时间时的上限 {times.limit_min} 分钟 (minutes "
            f"{minutes} is above the walk-time limit {times.limit_min} the times were computed "
            "with); compute the times with a larger limit"
        )


@dataclass(eq=False, repr=False)
class MinStations(_CoverageModel):
    """Fewest new sites reaching a target share of households (set covering, LSCP).

    ``target=None`` asks for every household some station or candidate can reach (spopt's
    LSCP on the reachable rows). Households nothing reaches are reported by
    :meth:`unreached`, not made infeasible. After solving, ``objective`` is the number of new
    sites and ``selected`` the sites in rank order.

    Examples
    --------
    >>> cost = np.array([[5.0, 20.0, 20.0], [5.0, 5.0, 20.0], [20.0, 5.0, 20.0]])
    >>> m = MinStations.from_cost_matrix(cost, [1, 1, 1], service_radius=10).solve()
    >>> m.objective, m.selected_ids
    (2.0, ['c0', 'c1'])
    """

    name: ClassVar[str] = "min-stations"
    maximize: ClassVar[bool] = False
    target: float | None = None

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        *,
        service_radius: float,
        target: float | None = None,
        covered: Any = None,
        demand_ids: Any = None,
        candidate_ids: Any = None,
    ) -> MinStations:
        """Build from a demand x candidate cost matrix.

        Parameters
        ----------
        cost_matrix
            Walk minutes (dense with inf/NaN for no path, or sparse: stored entries).
        weights
            Households per demand row.
        service_radius
            ``T``.
        target
            Share of **all** households (existing coverage included) to reach, in (0, 1];
            ``None`` = every reachable household.
        covered
            Optional boolean per row: already covered by an existing station.
        demand_ids, candidate_ids
            Optional ids.

        Returns
        -------
        MinStations
        """
        fields = _coverage_fields(
            cost_matrix, weights, service_radius, covered, demand_ids, candidate_ids
        )
        if fields["coverage"].shape[1] == 0:
            _check_p(1, 0)
        if target is not None and not 0 < target <= 1:
            raise InputError(
                f"目标覆盖率必须在 (0, 1] 之间 (target must be in (0, 1]), got {target}"
            )
        return cls(**fields, target=target)

    @classmethod
    def from_walk_times(
        cls, times: SitingTimes, *, minutes: float, target: float | None = None
    ) -> MinStations:
        """Build from the study's walk times.

        Parameters
        ----------
        times
            The walk times.
        minutes
            ``T``.
        target
            Share of all households to reach (``None``: all reachable).

        Returns
        -------
        MinStations
        """
        return cls.from_cost_matrix(
            times.cost, times.weights, target=target, **_walk_time_args(times, minutes)
        )

    def needed(self) -> float:
        """Households the new sites must add (after the existing stations' coverage)."""
        reach = np.diff(self.coverage.indptr) > 0
        coverable = float(self.weights[reach & ~self.already].sum())
        if self.target is None:
            return coverable
        total = float(self.weights.sum())
        need = self.target * total - self.covered_before
        if need > coverable + 1e-6 * max(total, 1.0):
            miss = self.unreached()
            names = ", ".join(str(self.demand_ids[i]) for i in miss[:10])
            more = f" (+{len(miss) - 10} more)" if len(miss) > 10 else ""
            best = (self.covered_before + coverable) / max(total, 1e-12)
            raise InputError(
                f"目标覆盖率 {self.target:.1%} 无法达到：最多可覆盖 {best:.1%} (target "
                f"{self.target:.1%} cannot be reached: at most {best:.1%} of households); "
                f"no station or candidate reaches these compounds: {names}{more}; lower "
                "--target or add candidates near them"
            )
        return max(need, 0.0)

    def solve(self, *, time_limit_s: float = 60.0, warm_start: bool = True) -> MinStations:
        """Solve with HiGHS (greedy warm start); return the model.

        Parameters
        ----------
        time_limit_s
            HiGHS time limit in seconds.
        warm_start
            Give HiGHS the greedy solution as a start.

        Returns
        -------
        MinStations
        """
        t0 = time.perf_counter()
        need = self.needed()
        a, w, _, _ = self._reduced()
        n_rows, n_cols = a.shape
        self.method = "milp"
        if need <= 1e-9 * max(1.0, float(w.sum())) or n_rows == 0:
            solved = Solved("optimal", None, 0.0, 0.0, 0.0, time.perf_counter() - t0)
            self._finish(solved, 0.0, 0.0)
            self._record_sites(a, w, [])
            return self
        g0 = time.perf_counter()
        greedy = _greedy_until(a.tocsc(), w, need)
        greedy_s = time.perf_counter() - g0
        full = self.target is None
        milp = _lscp_milp(a, w, need, full=full)
        start = None
        if warm_start:
            start = mclp_start(greedy, n_cols, a, n_rows)
            start = start[:n_cols] if full else start
        solved, chosen = _solve_sites(milp, n_cols, time_limit_s=time_limit_s, start=start, t0=t0)
        solved.objective = float(len(chosen))
        solved.bound = float(np.ceil(solved.bound - 1e-6))
        solved.gap = relative_gap(solved.objective, solved.bound, False)
        if solved.gap == 0:
            solved.status = "optimal"
        self._finish(solved, float(len(greedy)), greedy_s)
        self._record_sites(a, w, chosen)
        return self

    @property
    def covered_after(self) -> float:
        """Households covered after siting (existing stations included)."""
        if not self.selected:
            return self.covered_before
        hit = np.diff(sp.csr_matrix(self.coverage[:, self.selected]).indptr) > 0
        return float(self.weights[hit | self.already].sum())


def _greedy_until(a_csc: sp.csc_matrix, w: np.ndarray, need: float) -> list[int]:
    """Lazy greedy adding sites until ``need`` weight is covered."""
    order = lazy_greedy(a_csc, w, a_csc.shape[1], np.zeros(a_csc.shape[0], dtype=bool))
    covered = np.zeros(a_csc.shape[0], dtype=bool)
    total = 0.0
    out = []
    for j in order:
        rows = a_csc.indices[a_csc.indptr[j] : a_csc.indptr[j + 1]]
        total += float(w[rows][~covered[rows]].sum())
        covered[rows] = True
        out.append(j)
        if total >= need - 1e-9 * max(1.0, need):
            break
    return out


def _lscp_milp(a: sp.csr_matrix, w: np.ndarray, need: float, *, full: bool) -> Milp:
    """Full cover: ``sum_j a_ij y_j >= 1``; partial: ``z_i <= A y``, ``w z >= need``."""
    n_rows, n_cols = a.shape
    if full:
        return Milp(
            cost=np.ones(n_cols),
            col_lo=np.zeros(n_cols),
            col_hi=np.ones(n_cols),
            integer=np.ones(n_cols, bool),
            matrix=a.tocsc(),
            row_lo=np.ones(n_rows),
            row_hi=np.full(n_rows, np.inf),
            maximize=False,
        )
    eye = sp.identity(n_rows, format="csr")
    top = sp.hstack([-a, eye])
    target_row = sp.hstack([sp.csr_matrix((1, n_cols)), sp.csr_matrix(w[None, :])])
    # a small tolerance: ``need`` comes from a share of a float total
    return Milp(
        cost=np.r_[np.ones(n_cols), np.zeros(n_rows)],
        col_lo=np.zeros(n_cols + n_rows),
        col_hi=np.ones(n_cols + n_rows),
        integer=np.r_[np.ones(n_cols, bool), np.zeros(n_rows, bool)],
        matrix=sp.vstack([top, target_row]).tocsc(),
        row_lo=np.r_[np.full(n_rows, -np.inf), need - 1e-7 * max(1.0, need)],
        row_hi=np.r_[np.zeros(n_rows), np.inf],
        maximize=False,
    )


@dataclass(eq=False, repr=False)
class MinWalkTime(_Model):
    """p-median: ``p`` new sites minimising household-weighted walk minutes to the nearest
    station, existing stations included, each compound's time capped at ``cap_min``.

    ``objective`` is the sum over compounds of households x minutes after siting
    (``objective / weights.sum()`` is the mean walk); ``assignment[i]`` is the chosen site
    position (into ``selected``) serving compound ``i``, or -1 when an existing station or
    the cap is at least as near.

    Examples
    --------
    >>> cost = np.array([[1.0, 9.0], [2.0, 3.0], [9.0, 1.0]])
    >>> m = MinWalkTime.from_cost_matrix(cost, [1, 1, 5], p_facilities=1).solve()
    >>> m.selected_ids, m.objective
    (['c1'], 17.0)
    """

    name: ClassVar[str] = "min-walk"
    maximize: ClassVar[bool] = False
    cost: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    base_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p: int = 1
    cap_min: float = float("inf")

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        *,
        p_facilities: int,
        existing_min: Any = None,
        cap_min: float | None = None,
        demand_ids: Any = None,
        candidate_ids: Any = None,
    ) -> MinWalkTime:
        """Build from a demand x candidate cost matrix.

        Parameters
        ----------
        cost_matrix
            Walk minutes (dense with inf/NaN for no path, or sparse: stored entries).
        weights
            Households per demand row.
        p_facilities
            Number of new sites.
        existing_min
            Optional minutes to the nearest existing station per row (NaN = none).
        cap_min
            Times above this (and rows nothing reaches) count as ``cap_min``; default: no
            cap, which needs every row reached by some candidate or station.
        demand_ids, candidate_ids
            Optional ids.

        Returns
        -------
        MinWalkTime
        """
        cost = _as_csr(cost_matrix, cap_min)
        w = np.asarray(weights, dtype=np.float64)
        n = cost.shape[0]
        base = np.full(n, np.inf) if existing_min is None else np.asarray(existing_min, float)
        base = _nan_inf(base)
        cap = float("inf") if cap_min is None else float(cap_min)
        base = np.minimum(base, cap)
        p = _check_p(p_facilities, cost.shape[1])
        if not np.isfinite(cap):
            lonely = np.flatnonzero((np.diff(cost.indptr) == 0) & ~np.isfinite(base))
            if len(lonely):
                names = ", ".join(str(x) for x in _ids(demand_ids, n, "d")[lonely[:10]])
                raise InputError(
                    "这些需求点没有任何站点或候选点可达，请设置时间上限 cap_min (no station or "
                    f"candidate reaches these demand rows; give cap_min): {names}"
                )
        return cls(
            demand_ids=_ids(demand_ids, n, "d"),
            candidate_ids=_ids(candidate_ids, cost.shape[1], "c"),
            weights=w,
            cost=cost,
            base_min=base,
            p=p,
            cap_min=cap,
        )

    @classmethod
    def from_walk_times(cls, times: SitingTimes, *, p: int, cap_min: float) -> MinWalkTime:
        """Build from the study's walk times (computed with ``limit_min >= cap_min``).

        Parameters
        ----------
        times
            The walk times.
        p
            Number of new sites.
        cap_min
            Walk times above this count as ``cap_min``.

        Returns
        -------
        MinWalkTime
        """
        _check_minutes(cap_min, times)
        return cls.from_cost_matrix(
            times.cost,
            times.weights,
            p_facilities=p,
            existing_min=times.existing_min,
            cap_min=cap_min,
            demand_ids=times.demand_ids,
            candidate_ids=times.candidate_ids,
        )

    def _reduced(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """Pairs that beat their row's base time; rows with any; identical rows merged.

        Returns ``(times, weights, base minutes, kept rows)`` of the merged rows.
        """
        c = self.cost
        rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
        better = c.data < self.base_min[rows] - _EPS
        pruned = _entries(c, better)
        keep = np.flatnonzero((np.diff(pruned.indptr) > 0) & (self.weights > 0))
        sub = pruned[keep]
        merged, w, group = merge_rows(sub, self.weights[keep], extra=self.base_min[keep])
        base = np.empty(merged.shape[0])
        base[group] = self.base_min[keep]
        self.model_size = {
            "demand_rows": len(self.demand_ids),
            "rows_to_cover": len(keep),
            "rows_merged": merged.shape[0],
            "candidates": merged.shape[1],
            "pairs_before": int(c.nnz),
            "pairs_after": int(merged.nnz),
        }
        return merged, w, base, keep

    def solve(self, *, time_limit_s: float = 60.0, warm_start: bool = True) -> MinWalkTime:
        """Solve with HiGHS (greedy warm start); return the model.

        Parameters
        ----------
        time_limit_s
            HiGHS time limit in seconds.
        warm_start
            Give HiGHS the greedy solution as a start.

        Returns
        -------
        MinWalkTime
        """
        t0 = time.perf_counter()
        d, w, base, keep = self._reduced()
        # rows outside the model keep their base time (finite: rows nothing reaches were
        # refused by from_cost_matrix unless capped)
        outside = np.ones(len(self.weights), dtype=bool)
        outside[keep] = False
        const = float(
            (
                self.weights[outside]
                * np.where(np.isfinite(self.base_min[outside]), self.base_min[outside], 0.0)
            ).sum()
        )
        _n_rows, n_cols = d.shape
        p = min(self.p, n_cols)
        g0 = time.perf_counter()
        greedy = fill_selection(_median_greedy(d, w, base, p), p, n_cols)
        greedy_s = time.perf_counter() - g0
        greedy_obj = const + _median_value(d, w, base, greedy)
        self.method = "milp"
        milp = _median_milp(d, w, base, p)
        start = _median_start(d, base, greedy) if warm_start else None
        solved, chosen = _solve_sites(milp, n_cols, time_limit_s=time_limit_s, start=start, t0=t0)
        solved.objective = const + _median_value(d, w, base, chosen)
        solved.bound = const + solved.bound
        solved.gap = relative_gap(solved.objective, solved.bound, False)
        self._finish(solved, greedy_obj, greedy_s)
        self._record(chosen)
        return self

    def _record(self, chosen: list[int]) -> None:
        """Rank sites by the household-minutes each saves (greedy order within the chosen)."""
        c = sp.csr_matrix(self.cost[:, chosen]) if chosen else sp.csr_matrix((len(self.weights), 0))
        cur = self.base_min.copy()
        order: list[int] = []
        saved: list[float] = []
        served: list[int] = []
        left = list(range(len(chosen)))
        dense = c.toarray() if chosen else np.zeros((len(cur), 0))
        dense[_absent(c)] = np.inf
        while left:
            gains = [float((self.weights * np.maximum(cur - dense[:, k], 0)).sum()) for k in left]
            k = left[int(np.argmax(gains))]
            better = dense[:, k] < cur
            order.append(k)
            saved.append(max(gains))
            served.append(int(better.sum()))
            cur = np.minimum(cur, dense[:, k])
            left.remove(k)
        self.selected = [chosen[k] for k in order]
        self.households_added = np.array(saved)  # household-minutes saved, in rank order
        self.compounds_added = np.array(served, dtype=np.int64)
        assign = np.full(len(cur), -1, dtype=np.int64)
        if chosen:
            ranked = dense[:, order]
            best = np.argmin(ranked, axis=1)
            hit = ranked[np.arange(len(cur)), best] < self.base_min
            assign[hit] = best[hit]
        self.assignment = assign


def _absent(c: sp.csr_matrix) -> np.ndarray:
    """Dense mask of the pairs not stored in ``c``."""
    mask = np.ones(c.shape, dtype=bool)
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    mask[rows, c.indices] = False
    return mask


def _entries(c: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """CSR with the stored entries of ``c`` where ``mask`` (explicit zeros kept)."""
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    counts = np.bincount(rows[mask], minlength=c.shape[0])
    indptr = np.zeros(c.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((c.data[mask], c.indices[mask], indptr), shape=c.shape)


def _best_times(d: sp.csr_matrix, base: np.ndarray, chosen: list[int]) -> np.ndarray:
    """Per row: the smaller of ``base`` and the stored times to the chosen columns."""
    best = base.copy()
    if chosen:
        sub = d[:, chosen].tocoo()
        np.minimum.at(best, sub.row, sub.data)
    return best


def _median_value(d: sp.csr_matrix, w: np.ndarray, base: np.ndarray, chosen: list[int]) -> float:
    return float((w * _best_times(d, base, chosen)).sum())


def _median_greedy(d: sp.csr_matrix, w: np.ndarray, base: np.ndarray, p: int) -> list[int]:
    """Lazy greedy on household-minutes saved (a submodular gain)."""
    csc = d.tocsc()
    # rows with no base time: a large finite stand-in, so the first site reaching them wins
    big = 10.0 * (float(d.data.max()) + 1.0) if d.nnz else 1.0
    cur = np.where(np.isfinite(base), base, big)

    def gain(j: int) -> float:
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        t = csc.data[csc.indptr[j] : csc.indptr[j + 1]]
        return float((w[rows] * np.maximum(cur[rows] - t, 0.0)).sum())

    heap = [(-gain(j), j) for j in range(d.shape[1])]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < p:
        _, j = heapq.heappop(heap)
        g = gain(j)
        if heap and g < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g, j))
            continue
        chosen.append(j)
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        cur[rows] = np.minimum(cur[rows], csc.data[csc.indptr[j] : csc.indptr[j + 1]])
    return chosen


def _median_milp(d: sp.csr_matrix, w: np.ndarray, base: np.ndarray, p: int) -> Milp:
    """Columns ``y`` (candidates), ``x`` (one per stored pair), ``s`` (rows: base time).

    Rows: ``sum_j x_ij + s_i = 1``; ``x_ij - y_j <= 0``; ``sum y = p``. Minimise
    ``sum w_i (d_ij x_ij + base_i s_i)``.
    """
    n_rows, n_cols = d.shape
    nnz = d.nnz
    pair_row = np.repeat(np.arange(n_rows), np.diff(d.indptr))
    pair_col = d.indices
    n_var = n_cols + nnz + n_rows
    x0, s0 = n_cols, n_cols + nnz
    # assignment rows
    r1 = np.r_[pair_row, np.arange(n_rows)]
    c1 = np.r_[x0 + np.arange(nnz), s0 + np.arange(n_rows)]
    v1 = np.ones(nnz + n_rows)
    # linking rows x_ij - y_j <= 0
    r2 = np.r_[n_rows + np.arange(nnz), n_rows + np.arange(nnz)]
    c2 = np.r_[x0 + np.arange(nnz), pair_col]
    v2 = np.r_[np.ones(nnz), -np.ones(nnz)]
    # cardinality
    r3 = np.full(n_cols, n_rows + nnz)
    c3 = np.arange(n_cols)
    matrix = sp.csc_matrix(
        (np.r_[v1, v2, np.ones(n_cols)], (np.r_[r1, r2, r3], np.r_[c1, c2, c3])),
        shape=(n_rows + nnz + 1, n_var),
    )
    base_cost = np.where(np.isfinite(base), base, 0.0)
    s_hi = np.where(np.isfinite(base), 1.0, 0.0)  # no base station: must be served
    return Milp(
        cost=np.r_[np.zeros(n_cols), w[pair_row] * d.data, w * base_cost],
        col_lo=np.zeros(n_var),
        col_hi=np.r_[np.ones(n_cols + nnz), s_hi],
        integer=np.r_[np.ones(n_cols, bool), np.zeros(nnz + n_rows, bool)],
        matrix=matrix,
        row_lo=np.r_[np.ones(n_rows), np.full(nnz, -np.inf), p],
        row_hi=np.r_[np.ones(n_rows), np.zeros(nnz), p],
        maximize=False,
    )


def _median_start(d: sp.csr_matrix, base: np.ndarray, chosen: list[int]) -> np.ndarray:
    n_rows, n_cols = d.shape
    y = np.zeros(n_cols)
    y[chosen] = 1.0
    pair_row = np.repeat(np.arange(n_rows), np.diff(d.indptr))
    t = np.where(y[d.indices] > 0, d.data, np.inf)
    best = base.copy()
    np.minimum.at(best, pair_row, t)
    x = np.zeros(d.nnz)
    # one pair per row: the first open pair achieving the best time below the base
    hit = (t <= best[pair_row]) & (t < base[pair_row])
    first = np.full(n_rows, -1, dtype=np.int64)
    idx = np.flatnonzero(hit)
    first[pair_row[idx[::-1]]] = idx[::-1]
    x[first[first >= 0]] = 1.0
    s = (first < 0).astype(float)
    return np.r_[y, x, s]


@dataclass(eq=False, repr=False)
class CapacitatedCoverage(_Model):
    """Coverage with capacities: every compound is assigned whole to one station within ``T``
    (existing or new) or to none, and no station serves more households than its capacity.

    ``objective`` is the households assigned (existing stations' included: with capacities,
    "already covered" depends on the assignment); ``covered_before`` is what the existing
    stations alone can serve (solved too). ``assignment[i]`` is the station serving compound
    ``i``: ``0..n_existing-1`` an existing station (``station_ids``), ``n_existing + k`` the
    ``k``-th chosen site in ``selected``; -1 none.

    Examples
    --------
    Two compounds of 300 households next to one candidate of capacity 400: only one fits.

    >>> cost = np.array([[2.0], [3.0]])
    >>> m = CapacitatedCoverage.from_cost_matrix(cost, [300, 300], service_radius=10,
    ...                                          p_facilities=1, capacity=400).solve()
    >>> m.objective, int((m.assignment >= 0).sum())
    (300.0, 1)
    """

    name: ClassVar[str] = "capacitated"
    coverage: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    station_coverage: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    station_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    station_capacity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    capacity: float = float("inf")
    p: int = 1

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        *,
        service_radius: float,
        p_facilities: int,
        capacity: float,
        station_cost: Any = None,
        station_capacity: Any = None,
        demand_ids: Any = None,
        candidate_ids: Any = None,
        station_ids: Any = None,
    ) -> CapacitatedCoverage:
        """Build from demand x candidate (and demand x existing station) cost matrices.

        Parameters
        ----------
        cost_matrix
            Walk minutes to the candidates (dense with inf/NaN, or sparse stored entries).
        weights
            Households per compound.
        service_radius
            ``T``.
        p_facilities
            Number of new sites.
        capacity
            Households a new station can serve.
        station_cost
            Optional walk minutes to the existing stations.
        station_capacity
            Capacity of each existing station (NaN = no limit).
        demand_ids, candidate_ids, station_ids
            Optional ids.

        Returns
        -------
        CapacitatedCoverage

        Raises
        ------
        InputError
            When ``capacity`` is not positive, or is below the households of a compound that
            only new sites can reach (it could never be served whole).
        """
        a = _as_csr(cost_matrix, service_radius)
        w = np.asarray(weights, dtype=np.float64)
        n = a.shape[0]
        p = _check_p(p_facilities, a.shape[1])
        b = sp.csr_matrix((n, 0)) if station_cost is None else _as_csr(station_cost, service_radius)
        caps = (
            np.full(b.shape[1], np.nan)
            if station_capacity is None
            else np.asarray(station_capacity, float)
        )
        ids = _ids(demand_ids, n, "d")
        if not capacity > 0:
            raise InputError(
                f"站点容量必须为正数 (capacity must be a positive number of households), got "
                f"{capacity!r}; set capacity in the service or --capacity"
            )
        reach_new = np.diff(a.indptr) > 0
        # the largest capacity among the existing stations that reach each compound
        bb = b.tocoo()
        best_existing = np.zeros(n)
        np.maximum.at(best_existing, bb.row, _nan_inf(caps[bb.col]))
        too_big = np.flatnonzero(reach_new & (w > capacity + _EPS) & (w > best_existing + _EPS))
        if len(too_big):
            names = ", ".join(f"{ids[i]} ({w[i]:,.0f})" for i in too_big[:10])
            more = f" (+{len(too_big) - 10} more)" if len(too_big) > 10 else ""
            raise InputError(
                f"站点容量 {capacity:,.0f} 户小于这些小区的户数，无法整体分配 (capacity "
                f"{capacity:,.0f} households is below the demand of these compounds, which "
                f"could never be served whole): {names}{more}; raise --capacity or split the "
                "compounds into buildings"
            )
        return cls(
            demand_ids=ids,
            candidate_ids=_ids(candidate_ids, a.shape[1], "c"),
            weights=w,
            coverage=_pattern(a),
            station_coverage=_pattern(b),
            station_ids=_ids(station_ids, b.shape[1], "s"),
            station_capacity=caps,
            capacity=float(capacity),
            p=p,
        )

    @classmethod
    def from_walk_times(
        cls, times: SitingTimes, *, p: int, minutes: float, capacity: float
    ) -> CapacitatedCoverage:
        """Build from the study's walk times.

        Parameters
        ----------
        times
            The walk times (existing stations' capacities included).
        p
            Number of new sites.
        minutes
            ``T``.
        capacity
            Households a new station can serve.

        Returns
        -------
        CapacitatedCoverage
        """
        _check_minutes(minutes, times)
        return cls.from_cost_matrix(
            times.cost,
            times.weights,
            service_radius=minutes,
            p_facilities=p,
            capacity=capacity,
            station_cost=times.station_cost,
            station_capacity=times.station_capacity,
            demand_ids=times.demand_ids,
            candidate_ids=times.candidate_ids,
            station_ids=times.station_ids,
        )

    def _milp(self, p: int) -> tuple[Milp, np.ndarray, np.ndarray, np.ndarray]:
        """Columns: ``y`` (candidates), ``x`` (compound, station) pairs (existing then new).

        Rows: each compound at most once; each station's load within its capacity (new:
        ``capacity * y_j``); ``x_ij <= y_j`` (a tighter LP); ``sum y = p``.
        """
        n = len(self.weights)
        n_e = self.station_coverage.shape[1]
        n_c = self.coverage.shape[1]
        be = self.station_coverage.tocoo()
        bn = self.coverage.tocoo()
        rows = np.r_[be.row, bn.row].astype(np.int64)
        fac = np.r_[be.col, n_e + bn.col].astype(np.int64)  # station: existing, then new
        n_x = len(rows)
        xcol = n_c + np.arange(n_x)
        w = self.weights
        parts_r, parts_c, parts_v = [], [], []
        # (1) one station per compound: rows 0..n-1
        parts_r.append(rows)
        parts_c.append(xcol)
        parts_v.append(np.ones(n_x))
        # (2) capacity rows: n + f for every station f
        parts_r.append(n + fac)
        parts_c.append(xcol)
        parts_v.append(w[rows])
        new = np.arange(n_c)
        parts_r.append(n + n_e + new)
        parts_c.append(new)
        parts_v.append(np.full(n_c, -self.capacity))
        # (3) linking rows for new pairs
        is_new = fac >= n_e
        k = np.flatnonzero(is_new)
        base3 = n + n_e + n_c
        parts_r += [base3 + np.arange(len(k)), base3 + np.arange(len(k))]
        parts_c += [xcol[k], fac[k] - n_e]
        parts_v += [np.ones(len(k)), -np.ones(len(k))]
        # (4) cardinality
        card = base3 + len(k)
        parts_r.append(np.full(n_c, card))
        parts_c.append(new)
        parts_v.append(np.ones(n_c))
        n_rows = card + 1
        matrix = sp.csc_matrix(
            (np.concatenate(parts_v), (np.concatenate(parts_r), np.concatenate(parts_c))),
            shape=(n_rows, n_c + n_x),
        )
        cap_e = _nan_inf(self.station_capacity)
        row_hi = np.r_[np.ones(n), cap_e, np.zeros(n_c), np.zeros(len(k)), p]
        row_lo = np.r_[np.full(n + n_e + n_c + len(k), -np.inf), p]
        milp = Milp(
            cost=np.r_[np.zeros(n_c), w[rows]],
            col_lo=np.zeros(n_c + n_x),
            col_hi=np.ones(n_c + n_x),
            integer=np.ones(n_c + n_x, bool),
            matrix=matrix,
            row_lo=row_lo,
            row_hi=row_hi,
            maximize=True,
        )
        return milp, rows, fac, self.weights

    def _greedy(self, p: int) -> tuple[list[int], np.ndarray]:
        """Sites by the households they could take up to capacity; compounds assigned largest
        first to the nearest-listed station with room."""
        n_e = self.station_coverage.shape[1]
        cap_left = np.r_[_nan_inf(self.station_capacity), np.zeros(0)]
        assign = np.full(len(self.weights), -1, dtype=np.int64)
        order = np.argsort(-self.weights, kind="stable")
        be = self.station_coverage
        for i in order:  # existing stations first
            for f in be.indices[be.indptr[i] : be.indptr[i + 1]]:
                if cap_left[f] >= self.weights[i] - _EPS:
                    cap_left[f] -= self.weights[i]
                    assign[i] = f
                    break
        csc = self.coverage.tocsc()
        chosen: list[int] = []
        for _ in range(p):
            free = assign < 0
            gains = []
            for j in range(csc.shape[1]):
                if j in chosen:
                    gains.append(-1.0)
                    continue
                r = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
                gains.append(min(self.capacity, float(self.weights[r][free[r]].sum())))
            j = int(np.argmax(gains))
            chosen.append(j)
            room = self.capacity
            r = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
            for i in r[np.argsort(-self.weights[r], kind="stable")]:
                if assign[i] < 0 and self.weights[i] <= room + _EPS:
                    assign[i] = n_e + len(chosen) - 1
                    room -= self.weights[i]
        return chosen, assign

    def solve(self, *, time_limit_s: float = 60.0, warm_start: bool = True) -> CapacitatedCoverage:
        """Solve with HiGHS (greedy warm start); return the model.

        Parameters
        ----------
        time_limit_s
            HiGHS time limit in seconds.
        warm_start
            Give HiGHS the greedy solution as a start.

        Returns
        -------
        CapacitatedCoverage
        """
        t0 = time.perf_counter()
        n_e = self.station_coverage.shape[1]
        p = self.p
        g0 = time.perf_counter()
        greedy, g_assign = self._greedy(p)
        greedy_s = time.perf_counter() - g0
        greedy_obj = float(self.weights[g_assign >= 0].sum())
        milp, rows, fac, _w = self._milp(p)
        n_c = self.coverage.shape[1]
        self.model_size = {
            "demand_rows": len(self.weights),
            "rows_to_cover": len(self.weights),
            "rows_merged": len(self.weights),
            "candidates": n_c,
            "pairs_before": len(rows),
            "pairs_after": len(rows),
        }
        start = None
        if warm_start:
            y = np.zeros(n_c)
            y[greedy] = 1.0
            x = np.zeros(len(rows))
            target = np.where(
                g_assign >= n_e,
                n_e + np.array([*greedy, 0])[np.maximum(g_assign - n_e, 0)],
                g_assign,
            )
            x[(g_assign[rows] >= 0) & (fac == target[rows])] = 1.0
            start = np.r_[y, x]
        self.method = "milp"
        solved, chosen = _solve_sites(milp, n_c, time_limit_s=time_limit_s, start=start, t0=t0)
        assert solved.x is not None  # _solve_sites raised otherwise
        picked = solved.x[n_c:] > 0.5
        self._finish(solved, greedy_obj, greedy_s)
        assign = np.full(len(self.weights), -1, dtype=np.int64)
        assign[rows[picked]] = fac[picked]
        # before: the existing stations alone (same model with no new site)
        self.covered_before = _existing_only(self)
        # rank the chosen sites by the households assigned to them
        loads = {j: float(self.weights[assign == n_e + j].sum()) for j in chosen}
        counts = {j: int((assign == n_e + j).sum()) for j in chosen}
        self.selected = sorted(chosen, key=lambda j: (-loads[j], j))
        pos = {j: k for k, j in enumerate(self.selected)}
        new = assign >= n_e
        assign[new] = n_e + np.array([pos[j - n_e] for j in assign[new]], dtype=np.int64)
        self.assignment = assign
        self.households_added = np.array([loads[j] for j in self.selected])
        self.compounds_added = np.array([counts[j] for j in self.selected], dtype=np.int64)
        return self

    @property
    def covered_after(self) -> float:
        """Households assigned to a station after siting."""
        return float(self.objective)


def _existing_only(model: CapacitatedCoverage) -> float:
    """Households the existing stations alone can serve under their capacities (exact)."""
    n_e = model.station_coverage.shape[1]
    if n_e == 0 or model.station_coverage.nnz == 0:
        return 0.0
    caps = _nan_inf(model.station_capacity)
    if np.isinf(caps).all():
        return float(model.weights[np.diff(model.station_coverage.indptr) > 0].sum())
    be = model.station_coverage.tocoo()
    n = len(model.weights)
    n_x = be.nnz
    xcol = np.arange(n_x)
    matrix = sp.csc_matrix(
        (
            np.r_[np.ones(n_x), model.weights[be.row]],
            (np.r_[be.row, n + be.col], np.r_[xcol, xcol]),
        ),
        shape=(n + n_e, n_x),
    )
    milp = Milp(
        cost=model.weights[be.row],
        col_lo=np.zeros(n_x),
        col_hi=np.ones(n_x),
        integer=np.ones(n_x, bool),
        matrix=matrix,
        row_lo=np.full(n + n_e, -np.inf),
        row_hi=np.r_[np.ones(n), caps],
        maximize=True,
    )
    solved = run_highs(highs_model(milp, time_limit_s=30.0, start=None), True, time.perf_counter())
    return solved.objective if np.isfinite(solved.objective) else 0.0


# --------------------------------------------------------------------------------------------
# coverage curve


def coverage_curve(model: MaxCoverage, *, k_max: int, time_limit_s: float = 30.0) -> pd.DataFrame:
    """Households covered against the number of new sites, ``k = 0..k_max``, each exact.

    One HiGHS model is re-solved with ``sum y = k`` for each ``k``, warm-started with the
    better of the greedy's first ``k`` sites and the previous optimum plus its best addition.

    Parameters
    ----------
    model
        A :class:`MaxCoverage` (its ``p`` is ignored).
    k_max
        Largest number of new sites (at most the number of candidates).
    time_limit_s
        Time limit for each ``k``.

    Returns
    -------
    pandas.DataFrame
        ``new_sites``, ``households_covered`` (existing stations included), ``share_covered``,
        ``households_added`` (against ``k - 1``), ``greedy_households``, ``bound``, ``gap``,
        ``status``, ``solve_seconds``.
    """
    a, w, _, _ = model._reduced()
    n_rows, n_cols = a.shape
    k_max = min(int(k_max), n_cols)
    total = float(model.weights.sum())
    a_csc = a.tocsc()
    greedy = lazy_greedy(a_csc, w, k_max, np.zeros(n_rows, dtype=bool))
    greedy = fill_selection(greedy, k_max, n_cols)
    milp = mclp_milp(a, w, 1)
    h = highs_model(milp, time_limit_s=time_limit_s, start=None)
    card_row = n_rows
    records = [
        {
            "new_sites": 0,
            "households_covered": model.covered_before,
            "share_covered": model.covered_before / total if total else float("nan"),
            "households_added": 0.0,
            "greedy_households": model.covered_before,
            "bound": model.covered_before,
            "gap": 0.0,
            "status": "optimal",
            "solve_seconds": 0.0,
        }
    ]
    prev: list[int] = []
    prev_obj = 0.0
    for k in range(1, k_max + 1):
        t0 = time.perf_counter()
        h.changeRowBounds(card_row, float(k), float(k))
        g_obj = covered_weight(a, w, greedy[:k])
        start_sel = greedy[:k]
        if prev:
            extra = lazy_greedy(a_csc, w, 1, np.diff(a[:, prev].indptr) > 0)
            cand = fill_selection(prev + [j for j in extra if j not in prev], k, n_cols)
            if covered_weight(a, w, cand) > g_obj:
                start_sel = cand
        if k == 1:  # the best single column (HiGHS' LP is weak for one site)
            solved = Solved("optimal", None, g_obj, g_obj, 0.0, time.perf_counter() - t0)
            solved.x = mclp_start(greedy[:1], n_cols, a, n_rows)
        else:
            h.setSolution(highs_solution(mclp_start(start_sel, n_cols, a, n_rows)))
            solved = run_highs(h, True, t0)
        if solved.x is None:
            raise InfeasibleError(f"HiGHS found no solution for k = {k} ({solved.status})")
        chosen = [int(j) for j in np.flatnonzero(solved.x[:n_cols] > 0.5)]
        obj = covered_weight(a, w, chosen)
        records.append(
            {
                "new_sites": k,
                "households_covered": model.covered_before + obj,
                "share_covered": (model.covered_before + obj) / total if total else float("nan"),
                "households_added": obj - prev_obj,
                "greedy_households": model.covered_before + g_obj,
                "bound": model.covered_before + solved.bound,
                "gap": relative_gap(obj, solved.bound, True),
                "status": solved.status,
                "solve_seconds": solved.seconds,
            }
        )
        prev, prev_obj = chosen, obj
    return pd.DataFrame.from_records(records)
