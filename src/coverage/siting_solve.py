"""Solvers behind the siting models: HiGHS MILPs, greedy, swaps, Lagrangian bounds.

Used by :mod:`coverage.siting`; everything here works on plain arrays (a 0/1 coverage matrix
``a`` of demand rows x candidate columns and row weights ``w``).

- :func:`highs_model` / :func:`run_highs`: a :class:`Milp` in column form solved by HiGHS
  (``highspy``) with a time limit, ``mip_rel_gap = 0`` and an optional start
  (``setSolution``); :class:`Solved` carries status, objective, bound and gap.
- :func:`lazy_greedy`: weighted coverage greedy with lazily re-evaluated gains.
- :func:`swap_search`: best-improvement swaps (one site out, one in).
- :func:`lagrangian`: the subgradient bound of maximal coverage with ``z_i <= sum_j a_ij y_j``
  relaxed, with Lagrangian variable fixing; :func:`kernel_search` and :func:`reduced_milp`
  use it; :func:`decompose` runs them within a time limit.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "COMPACT_MAX_NNZ",
    "Lagrange",
    "Milp",
    "Smoothed",
    "Solved",
    "covered_weight",
    "decompose",
    "fill_selection",
    "highs_model",
    "highs_solution",
    "iterated_swaps",
    "kernel_search",
    "lagrangian",
    "lagrangian_value",
    "lazy_greedy",
    "marginals",
    "mclp_milp",
    "mclp_start",
    "merge_rows",
    "reduced_milp",
    "refix",
    "relative_gap",
    "run_highs",
    "smoothed_bound",
    "swap_search",
]

log = logging.getLogger(__name__)

COMPACT_MAX_NNZ = 400_000
"""Above this many coverage pairs (after merging), maximal coverage decomposes."""


def merge_rows(
    matrix: sp.csr_matrix, weights: np.ndarray, *, extra: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge rows with the same stored pattern (and values, and ``extra``) into one.

    Parameters
    ----------
    matrix
        CSR matrix; two rows merge when their column indices (and stored values) are equal.
    weights
        Weight of each row; a merged row carries the sum.
    extra
        Optional per-row value that must also be equal for rows to merge.

    Returns
    -------
    tuple
        ``(merged matrix, merged weights, group)`` where ``group[i]`` is the merged row of
        input row ``i``.

    Examples
    --------
    >>> m = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=float))
    >>> merged, w, group = merge_rows(m, np.array([2.0, 3.0, 5.0]))
    >>> merged.shape, w.tolist(), group.tolist()
    ((2, 3), [7.0, 3.0], [0, 1, 0])
    """
    m = sp.csr_matrix(matrix, copy=True)
    m.sort_indices()
    n = m.shape[0]
    ind, dat, ptr = m.indices, m.data, m.indptr
    extra_arr = np.zeros(n) if extra is None else np.asarray(extra, dtype=np.float64)
    seen: dict[bytes, int] = {}
    group = np.empty(n, dtype=np.int64)
    for i in range(n):
        a, b = ptr[i], ptr[i + 1]
        key = ind[a:b].tobytes() + b"|" + dat[a:b].tobytes() + b"|" + extra_arr[i].tobytes()
        group[i] = seen.setdefault(key, len(seen))
    first = np.full(len(seen), -1, dtype=np.int64)
    first[group[::-1]] = np.arange(n)[::-1]
    merged_w = np.bincount(
        group, weights=np.asarray(weights, dtype=np.float64), minlength=len(seen)
    )
    return m[first], merged_w, group


# --------------------------------------------------------------------------------------------
# HiGHS


@dataclass
class Milp:
    """A MILP in column form for HiGHS: ``sense * cost @ x`` s.t. ``row_lo <= A x <= row_hi``."""

    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray  # bool per column
    matrix: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    maximize: bool


@dataclass
class Solved:
    status: str
    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    seconds: float


def highs_model(milp: Milp, *, time_limit_s: float, start: np.ndarray | None) -> Any:
    """A HiGHS instance holding ``milp`` (quiet, one thread, ``mip_rel_gap = 0``, time limit,
    optional start values for every column)."""
    import highspy
    from highspy import _Highs  # type: ignore[attr-defined]

    # the core class (exported by highspy's top level): highspy.Highs() sets Python callbacks
    # and its callback set-up prints a banner to stdout before any option can silence it
    h = _Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    n_cols = len(milp.cost)
    lp.num_col_ = n_cols
    lp.num_row_ = len(milp.row_lo)
    lp.col_cost_ = milp.cost.astype(np.float64)
    lp.col_lower_ = milp.col_lo.astype(np.float64)
    lp.col_upper_ = milp.col_hi.astype(np.float64)
    lp.row_lower_ = milp.row_lo.astype(np.float64)
    lp.row_upper_ = milp.row_hi.astype(np.float64)
    a = milp.matrix.tocsc()
    a.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if milp.maximize else highspy.ObjSense.kMinimize
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in milp.integer
    ]
    h.passModel(lp)
    if start is not None:
        h.setSolution(highs_solution(start))
    return h


def run_highs(h: Any, maximize: bool, seconds0: float) -> Solved:
    """Run HiGHS; return status, solution (None when none was found), objective, bound, gap
    and the seconds since ``seconds0``."""
    import highspy

    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    names = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
    }
    name = names.get(status, h.modelStatusToString(status).lower().replace(" ", "_"))
    has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_sol else None
    obj = float(info.objective_function_value) if has_sol else float("nan")
    bound = float(info.mip_dual_bound)
    if name == "optimal":
        bound = obj if not np.isfinite(bound) else bound
    gap = relative_gap(obj, bound, maximize)
    return Solved(name, x, obj, bound, gap, time.perf_counter() - seconds0)


def relative_gap(objective: float, bound: float, maximize: bool) -> float:
    """Relative gap ``|bound - objective| / |objective|`` (0 when both are 0)."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    diff = (bound - objective) if maximize else (objective - bound)
    diff = max(diff, 0.0)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-12)


# --------------------------------------------------------------------------------------------
# greedy and local search for maximal coverage


def lazy_greedy(a_csc: sp.csc_matrix, w: np.ndarray, p: int, covered0: np.ndarray) -> list[int]:
    """Lazy greedy for weighted coverage: ``p`` columns in the order they were chosen."""
    covered = covered0.copy()
    gains = np.asarray(a_csc.T @ (w * ~covered)).ravel()
    heap = [(-g, j) for j, g in enumerate(gains.tolist())]
    heapq.heapify(heap)
    chosen: list[int] = []
    ptr, ind = a_csc.indptr, a_csc.indices
    while heap and len(chosen) < p:
        _neg, j = heapq.heappop(heap)
        rows = ind[ptr[j] : ptr[j + 1]]
        gain = float(w[rows][~covered[rows]].sum())
        if heap and gain < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-gain, j))
            continue
        chosen.append(j)
        covered[rows] = True
    return chosen


def marginals(
    a_csr: sp.csr_matrix, w: np.ndarray, chosen: list[int], covered0: np.ndarray
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Order ``chosen`` greedily and give each its added weight and row count."""
    a_csc = a_csr[:, chosen].tocsc()
    covered = covered0.copy()
    order: list[int] = []
    added_w: list[float] = []
    added_n: list[int] = []
    left = list(range(len(chosen)))
    while left:
        best, best_gain = left[0], -1.0
        for k in left:
            rows = a_csc.indices[a_csc.indptr[k] : a_csc.indptr[k + 1]]
            g = float(w[rows][~covered[rows]].sum())
            if g > best_gain + 1e-12:
                best, best_gain = k, g
        rows = a_csc.indices[a_csc.indptr[best] : a_csc.indptr[best + 1]]
        new = rows[~covered[rows]]
        order.append(chosen[best])
        added_w.append(float(w[new].sum()))
        added_n.append(len(new))
        covered[new] = True
        left.remove(best)
    return order, np.array(added_w), np.array(added_n, dtype=np.int64)


def swap_search(
    a_csr: sp.csr_matrix,
    a_csc: sp.csc_matrix,
    w: np.ndarray,
    chosen: list[int],
    *,
    deadline: float,
) -> list[int]:
    """Best-improvement swaps (one site out, one in) until none improves or time runs out."""
    sel = list(chosen)
    n_rows, n_cols = a_csr.shape
    a_t = a_csc.T  # CSR view, no copy
    tol = 1e-9 * max(1.0, float(w.sum()))
    while time.perf_counter() < deadline:
        k_sel = len(sel)
        in_sel = np.zeros(n_cols, dtype=bool)
        in_sel[sel] = True
        cols_sel = a_csc[:, sel]
        rows_of = cols_sel.indices
        site_of = np.repeat(np.arange(k_sel), np.diff(cols_sel.indptr))
        count = np.bincount(rows_of, minlength=n_rows)
        # loss of removing each selected site: rows it covers alone
        alone = count == 1
        owner = np.full(n_rows, -1, dtype=np.int64)
        one = alone[rows_of]
        owner[rows_of[one]] = site_of[one]
        loss = np.bincount(owner[alone], weights=w[alone], minlength=k_sel)
        gain0 = a_t @ (w * (count == 0))
        # extra[k, s]: weight of the rows covered only by selected site s that candidate k
        # also covers (one bincount over the entries of those rows)
        rows = np.flatnonzero(alone)
        sub = a_csr[rows]
        per_row = np.diff(sub.indptr)
        flat = sub.indices * k_sel + np.repeat(owner[rows], per_row)
        extra = np.bincount(
            flat, weights=np.repeat(w[rows], per_row), minlength=n_cols * k_sel
        ).reshape(n_cols, k_sel)
        delta = gain0[:, None] + extra - loss[None, :]
        delta[in_sel, :] = -np.inf
        k, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[k, s] > tol:
            break
        sel[s] = int(k)
    return sel


def iterated_swaps(
    a_csr: sp.csr_matrix,
    a_csc: sp.csc_matrix,
    w: np.ndarray,
    chosen: list[int],
    *,
    deadline: float,
    seed: int = 0,
    patience: int = 100,
) -> list[int]:
    """Iterated local search: drop 5..15 random sites of the current solution (fewer when
    ``p < 16``), refill (one random site among the 10 of largest gain, the rest greedily),
    swap to a local optimum (:func:`swap_search`); the result becomes the current solution
    when it is no worse, and the best is kept.

    ``chosen`` should be a swap local optimum already. Stops at ``deadline`` or after
    ``patience`` rounds without a better solution; the random generator is seeded, so the
    same number of rounds gives the same result.
    """
    rng = np.random.default_rng(seed)
    best = current = list(chosen)
    best_value = current_value = covered_weight(a_csr, w, best)
    p = len(best)
    rounds = since = 0
    while time.perf_counter() < deadline and p > 1 and since < patience:
        rounds += 1
        since += 1
        r = int(rng.integers(min(5, max(1, p // 2)), min(15, p - 1) + 1))
        keep = [int(j) for j in rng.choice(current, p - r, replace=False)]
        covered = np.diff(sp.csr_matrix(a_csr[:, keep]).indptr) > 0
        # the first new site at random among the 10 of largest gain, the others greedily
        gains = a_csc.T @ (w * ~covered)
        gains[keep] = -np.inf
        first = int(rng.choice(np.argsort(-gains)[:10]))
        covered[a_csc.indices[a_csc.indptr[first] : a_csc.indptr[first + 1]]] = True
        add = [first] + [
            j for j in lazy_greedy(a_csc, w, r + len(keep), covered) if j not in keep and j != first
        ]
        trial = fill_selection(keep + add[:r], p, a_csr.shape[1])
        trial = swap_search(a_csr, a_csc, w, trial, deadline=deadline)
        value = covered_weight(a_csr, w, trial)
        if value >= current_value:  # sideways moves too: they leave a plateau
            current, current_value = trial, value
        if value > best_value:
            best, best_value, since = trial, value, 0
    log.info("iterated swaps: %d rounds, best %.8g", rounds, best_value)
    return best


@dataclass
class Lagrange:
    """Result of the subgradient phase: best bound, best primal found, fixed columns."""

    bound: float
    best: list[int]
    best_value: float
    fixed0: np.ndarray  # bool per column: no solution better than best_value opens it
    fixed1: np.ndarray  # bool per column: every solution better than best_value opens it
    col_best: np.ndarray  # A^T lam at the best bound (Lagrangian column values)
    lam_best: np.ndarray | None = None  # the multipliers of the best bound


def lagrangian(
    a_csr: sp.csr_matrix,
    a_csc: sp.csc_matrix,
    w: np.ndarray,
    p: int,
    start: list[int],
    *,
    deadline: float,
    max_iter: int = 5000,
    deflect: float = 0.5,
    patience: int = 20,
    scale0: float = 1.0,
    lam0: np.ndarray | None = None,
    stall_rel: float = 1e-5,
) -> Lagrange:
    """Subgradient bound for max ``w z`` s.t. ``z_i <= sum_j a_ij y_j``, ``sum y = p``, with
    Lagrangian variable fixing.

    With multipliers ``0 <= lam_i <= w_i`` the relaxation splits:
    ``L(lam) = sum_i (w_i - lam_i) + sum of the p largest c_j = (A^T lam)_j``, an upper bound
    for every ``lam`` (Polyak steps towards the best primal value). Each iteration's ``p``
    largest columns are also a primal solution. Fixing (valid for any ``lam``): a column ``j``
    outside the top ``p`` with ``L - c_(p) + c_j <= best`` cannot be in a solution better than
    the best known (fixed to 0); one inside with ``L - c_j + c_(p+1) <= best`` is in every
    such solution (fixed to 1).
    """
    n_rows, n_cols = a_csr.shape
    best = list(start)
    best_value = covered_weight(a_csr, w, best)
    fixed0 = np.zeros(n_cols, dtype=bool)
    fixed1 = np.zeros(n_cols, dtype=bool)
    lam = 0.5 * w if lam0 is None else lam0.copy()
    lam_best = lam
    bound = float("inf")
    scale, stall = scale0, 0
    tol = 1e-9 * max(1.0, float(w.sum()))
    a_t = sp.csr_matrix(a_csc.T)  # made once: ``a_csc.T @`` would rebuild it every iteration
    ptr, ind = a_csc.indptr, a_csc.indices
    direction = np.zeros(n_rows)
    col_best = np.zeros(n_cols)
    history: list[float] = []
    iters = 0
    for iters in range(1, max_iter + 1):  # noqa: B007 (logged)
        if time.perf_counter() > deadline:
            break
        col = a_t @ lam
        if p < n_cols:
            order = np.argpartition(-col, p)
            top, nxt = order[:p], order[p]
            c_p, c_next = float(col[top].min()), float(col[nxt])
        else:
            top, c_p, c_next = np.arange(n_cols), float(col.min()), 0.0
        value = float((w - lam).sum() + col[top].sum())
        if value < bound - tol:
            bound, stall, col_best, lam_best = value, 0, col, lam
        else:
            stall += 1
            if stall >= patience:
                scale, stall = scale / 2, 0
        # rows reached by the p columns: the subgradient and a primal solution at once
        rows = np.concatenate([ind[ptr[j] : ptr[j + 1]] for j in top])
        cover = np.bincount(rows, minlength=n_rows).astype(np.float64)
        v = float(w[cover > 0].sum())
        if v > best_value + tol:
            best, best_value = [int(j) for j in top], v
        out = np.ones(n_cols, dtype=bool)
        out[top] = False
        fixed0 |= out & (value - c_p + col <= best_value + tol)
        fixed1 |= ~out & (value - col + c_next <= best_value + tol)
        if bound <= best_value + tol or scale < 1e-4:
            break
        history.append(bound)
        if len(history) > 100 and history[-101] - bound < stall_rel * abs(bound):
            break  # less than stall_rel better in 100 iterations
        g = cover - 1.0
        g[(lam <= 0) & (g > 0)] = 0.0  # projected: lam cannot go below 0 ...
        g[(lam >= w) & (g < 0)] = 0.0  # ... nor above w
        # deflected subgradient (Camerini, Fratta and Maffioli): damps the zig-zag
        direction = g + deflect * direction
        norm = _dot(direction, direction)
        if norm == 0:
            break
        lam = np.clip(lam - scale * (value - best_value) / norm * direction, 0.0, w)
    log.info("lagrangian: %d iterations, bound %.6g, best %.6g", iters, bound, best_value)
    return Lagrange(bound, best, best_value, fixed0 & ~fixed1, fixed1, col_best, lam_best)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """``u . v`` without BLAS: OpenBLAS runs dot products over 10,000 entries on several
    threads, whose start-up and spinning cost far more than the sum on a loaded machine."""
    return float(np.multiply(u, v).sum())


def lagrangian_value(
    a_t: sp.csr_matrix, w: np.ndarray, p: int, lam: np.ndarray
) -> tuple[float, np.ndarray]:
    """The Lagrangian bound ``L(lam)`` of maximal coverage and the column values ``A^T lam``.

    ``lam`` is first clipped to ``[0, w]``, where ``L(lam) = sum_i (w_i - lam_i) + (sum of
    the p largest (A^T lam)_j)`` is an upper bound for every solution (see
    :func:`lagrangian`), so the value returned is a valid bound whatever ``lam`` is given.
    """
    lam = np.clip(lam, 0.0, w)
    col = a_t @ lam
    return float((w - lam).sum()) + _top_sum(col, p), col


def _top_sum(col: np.ndarray, p: int) -> float:
    """Sum of the ``p`` largest values of ``col``."""
    n = len(col)
    return float((col if p >= n else np.partition(col, n - p)[n - p :]).sum())


def _capped_top(col: np.ndarray, p: int, mu: float) -> np.ndarray:
    """``argmax_y col.y - mu/2 |y|^2`` over ``0 <= y <= 1, sum y = p`` (the smoothed top-p).

    The solution is ``clip((col - tau) / mu, 0, 1)``; ``tau`` lies in ``[c_(p) - mu, c_(p)]``
    (``c_(p)`` the p-th largest value) and is found by bisection on the columns above it.
    """
    n = len(col)
    if p >= n:
        return np.ones(n)
    c_p = float(np.partition(col, n - p)[n - p])
    idx = np.flatnonzero(col > c_p - mu)
    cc = col[idx]
    lo, hi = c_p - mu, c_p
    for _ in range(50):
        tau = 0.5 * (lo + hi)
        if np.clip((cc - tau) / mu, 0.0, 1.0).sum() > p:
            lo = tau
        else:
            hi = tau
    y = np.zeros(n)
    y[idx] = np.clip((cc - hi) / mu, 0.0, 1.0)
    return y


@dataclass
class Smoothed:
    """Result of :func:`smoothed_bound`: the best bound, its multipliers and column values."""

    bound: float
    lam: np.ndarray
    col: np.ndarray
    iterations: int
    mu: float


def smoothed_bound(
    a_csr: sp.csr_matrix,
    a_t: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    lam0: np.ndarray | None,
    *,
    deadline: float,
    mu0: float | None = None,
    halve_every: int = 300,
    max_iter: int = 100_000,
    target: float = -np.inf,
    stall_rel: float = 1e-6,
) -> Smoothed:
    """Minimise the Lagrangian bound ``L(lam)`` by smoothing (Nesterov 2005) and FISTA.

    ``L`` is piecewise linear, so subgradient steps converge slowly. Its only non-smooth part,
    the sum of the ``p`` largest column values, is replaced by
    ``max_y col.y - mu/2 |y|^2`` over ``0 <= y <= 1, sum y = p`` (at most ``mu p / 2`` below
    it, with a gradient that is ``1/mu``-Lipschitz), which is minimised over the box
    ``0 <= lam <= w`` by accelerated projected gradient steps (Beck and Teboulle's FISTA with
    backtracking and O'Donoghue and Candes' gradient restart); ``mu`` halves every
    ``halve_every`` iterations. Every iterate is in the box, and the exact ``L`` is evaluated
    at each (:func:`lagrangian_value`): the bound returned is valid whatever the convergence.
    The optimum of ``L`` is the LP bound of the compact model (the relaxed problem has the
    integrality property).

    Parameters
    ----------
    a_csr, a_t
        The coverage matrix (rows x columns) and its transpose, both CSR.
    w
        Row weights.
    p
        Number of columns to choose.
    lam0
        Starting multipliers (e.g. the subgradient's best; default ``w / 2``).
    deadline
        ``time.perf_counter()`` value to stop at.
    mu0
        First smoothing parameter (default: 5% of the p-th largest column value at ``lam0``).
    halve_every
        Iterations between halvings of ``mu``.
    max_iter
        Iteration limit.
    target
        Stop once the bound is at most this (e.g. the best known solution's value).
    stall_rel
        Stop when the bound improved by less than this (relative) between two halvings of
        ``mu``, or when ``mu`` reaches the floating-point resolution of the column values.

    Returns
    -------
    Smoothed
    """
    x = np.clip(0.5 * w if lam0 is None else lam0, 0.0, w).astype(np.float64)
    bound, col_best = lagrangian_value(a_t, w, p, x)
    lam_best = x
    w_sum = float(w.sum())
    if mu0 is None:
        top = np.sort(col_best)[-min(p, len(col_best)) :]
        mu0 = 0.05 * max(float(top[0]), 1e-9 * max(w_sum, 1.0))
    mu = float(mu0)

    def smooth_at(col: np.ndarray, lam: np.ndarray) -> tuple[float, np.ndarray]:
        y = _capped_top(col, p, mu)
        return w_sum - float(lam.sum()) + _dot(col, y) - 0.5 * mu * _dot(y, y), y

    lip = 1.0 / mu  # backtracking finds the local Lipschitz constant
    y_pt, t_k = x.copy(), 1.0
    mu_floor = 1e-9 * max(float(np.abs(col_best).max()), 1e-300)
    last_bound = bound
    it = 0
    for it in range(1, max_iter + 1):
        if time.perf_counter() > deadline or bound <= target:
            break
        col_y = a_t @ y_pt
        f_y, top_y = smooth_at(col_y, y_pt)
        grad = a_csr @ top_y - 1.0
        for _ in range(60):
            x_new = np.clip(y_pt - grad / lip, 0.0, w)
            d = x_new - y_pt
            col_x = a_t @ x_new
            f_x, _ = smooth_at(col_x, x_new)
            if f_x <= f_y + _dot(grad, d) + 0.5 * lip * _dot(d, d) + 1e-12 * abs(f_y):
                break
            lip *= 2.0
        else:
            break  # no step decreases the smoothed function: rounding, nothing left to gain
        value = float((w - x_new).sum()) + _top_sum(col_x, p)
        if value < bound:
            bound, lam_best, col_best = value, x_new, col_x
        if _dot(grad, x_new - x) > 0:  # gradient restart: momentum points uphill
            t_k, y_pt = 1.0, x_new
        else:
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
            y_pt = np.clip(x_new + (t_k - 1.0) / t_next * (x_new - x), 0.0, w)
            t_k = t_next
        x = x_new
        lip *= 0.9
        if it % halve_every == 0:
            if mu < mu_floor or last_bound - bound <= stall_rel * abs(bound):
                break
            last_bound = bound
            mu *= 0.5
            lip *= 2.0
            t_k, y_pt = 1.0, x
    log.info("smoothed bound: %d iterations, bound %.8g, mu %.3g", it, bound, mu)
    return Smoothed(bound, lam_best, col_best, it, mu)


def reduced_milp(
    a: sp.csr_matrix, w: np.ndarray, p: int, lag: Lagrange, *, deadline: float
) -> tuple[list[int], float, float, str]:
    """Solve what the fixing leaves with HiGHS; return (chosen, objective, bound, status).

    Rows covered by a column fixed to 1 leave the model (a constant); columns fixed to 0 and
    rows only they reach leave too. The bound is the larger of the best known value (every
    solution that breaks a fixing is no better) and the reduced model's bound.
    """
    ones = np.flatnonzero(lag.fixed1)
    free = np.flatnonzero(~lag.fixed0 & ~lag.fixed1)
    p_left = p - len(ones)
    if p_left < 0 or len(free) < p_left:
        return lag.best, lag.best_value, lag.best_value, "optimal"
    done = np.diff(sp.csr_matrix(a[:, ones]).indptr) > 0 if len(ones) else np.zeros(len(w), bool)
    const = float(w[done].sum())
    sub = sp.csr_matrix(a[:, free])
    rows = np.flatnonzero(~done & (np.diff(sub.indptr) > 0))
    sub_a, sub_w, _ = merge_rows(sub[rows], w[rows])
    if p_left == 0 or sub_a.shape[0] == 0:
        chosen = [int(j) for j in ones] + [int(j) for j in free[:p_left]]
        value = covered_weight(a, w, chosen)
        return chosen, value, max(value, lag.best_value), "optimal"
    solved, picked = _restricted_mclp(sub_a, sub_w, p_left, free, lag.best, deadline=deadline)
    if solved.x is None:
        return lag.best, lag.best_value, max(lag.bound, lag.best_value), "time_limit"
    chosen = [int(j) for j in ones] + picked
    value = covered_weight(a, w, chosen)
    if value < lag.best_value:
        chosen, value = lag.best, lag.best_value
    bound = max(const + solved.bound, lag.best_value)
    return chosen, value, min(bound, lag.bound), solved.status


def kernel_search(
    a_csc: sp.csc_matrix, w: np.ndarray, p: int, lag: Lagrange, *, size: int, deadline: float
) -> list[int]:
    """Primal from a restricted MILP: the best solution's sites plus the ``size`` columns of
    largest Lagrangian value, solved by HiGHS (a kernel search)."""
    keep = np.unique(np.r_[np.argsort(-lag.col_best)[:size], lag.best]).astype(np.int64)
    sub = sp.csr_matrix(a_csc[:, keep])
    rows = np.flatnonzero(np.diff(sub.indptr) > 0)
    sa, sw, _ = merge_rows(sub[rows], w[rows])
    solved, picked = _restricted_mclp(sa, sw, p, keep, lag.best, deadline=deadline)
    return lag.best if solved.x is None else picked


def _restricted_mclp(
    sub_a: sp.csr_matrix,
    sub_w: np.ndarray,
    p: int,
    cols: np.ndarray,
    start: list[int],
    *,
    deadline: float,
) -> tuple[Solved, list[int]]:
    """Maximal coverage on the columns ``cols`` only (``sub_a`` holds them, in that order)
    by HiGHS until ``deadline``, started from the sites of ``start`` when all of them are
    among ``cols``; return the solve and the chosen sites as columns of the whole model."""
    pos = {int(j): k for k, j in enumerate(cols)}
    start_cols = [pos[j] for j in start if j in pos]
    x0 = None
    if len(start_cols) == p:
        x0 = mclp_start(start_cols, len(cols), sub_a, sub_a.shape[0])
    h = highs_model(
        mclp_milp(sub_a, sub_w, p),
        time_limit_s=max(0.1, deadline - time.perf_counter()),
        start=x0,
    )
    solved = run_highs(h, True, time.perf_counter())
    if solved.x is None:
        return solved, []
    return solved, [int(cols[k]) for k in np.flatnonzero(solved.x[: len(cols)] > 0.5)]


def refix(lag: Lagrange, p: int, best: list[int], best_value: float) -> Lagrange:
    """Lagrangian fixing again at the best multipliers with a better primal value."""
    col = lag.col_best
    n_cols = len(col)
    tol = 1e-9 * max(1.0, best_value)
    if p < n_cols:
        order = np.argpartition(-col, p)
        top, c_p, c_next = order[:p], float(col[order[:p]].min()), float(col[order[p]])
        out = np.ones(n_cols, dtype=bool)
        out[top] = False
        fixed0 = lag.fixed0 | (out & (lag.bound - c_p + col <= best_value + tol))
        fixed1 = lag.fixed1 | (~out & (lag.bound - col + c_next <= best_value + tol))
    else:
        fixed0, fixed1 = lag.fixed0, lag.fixed1
    return Lagrange(lag.bound, best, best_value, fixed0 & ~fixed1, fixed1, col, lag.lam_best)


def _free_nnz(a_csc: sp.csc_matrix, lag: Lagrange) -> int:
    """Coverage pairs of the columns Lagrangian fixing leaves free."""
    free = ~lag.fixed0 & ~lag.fixed1
    return int(np.diff(a_csc.indptr)[free].sum())


def _with_bound(lag: Lagrange, sm: Smoothed) -> Lagrange:
    """``lag`` with the smoothed bound's multipliers when they give a lower bound, fixing
    again from them (fixings from either multipliers stay valid together)."""
    if sm.bound >= lag.bound:
        return lag
    better = Lagrange(sm.bound, lag.best, lag.best_value, lag.fixed0, lag.fixed1, sm.col, sm.lam)
    return refix(better, len(lag.best), lag.best, lag.best_value)


def decompose(
    a: sp.csr_matrix,
    a_csc: sp.csc_matrix,
    w: np.ndarray,
    p: int,
    greedy: list[int],
    *,
    t0: float,
    time_limit_s: float,
    full: bool,
) -> tuple[list[int], Solved]:
    """Maximal coverage without the compact MILP.

    Primal: lazy greedy, best-improvement swaps (up to 15% of the time), the Lagrangian's own
    solutions, then, when Lagrangian fixing left a small model, a kernel MILP on the 2p
    columns of largest Lagrangian value, else iterated swaps (:func:`iterated_swaps`, up to
    95% of the time). Dual: a short subgradient phase for starting multipliers (up to 5%),
    then the smoothed Lagrangian (:func:`smoothed_bound`, which converges to the LP bound) up
    to 35% of the time. Lagrangian fixing at each bound's multipliers; when the columns left
    free are few enough, HiGHS solves what is left, which can close the gap.
    ``full=False``: greedy and a 5-second bound only.
    """
    limit = time_limit_s
    chosen = greedy
    if full:
        chosen = swap_search(a, a_csc, w, greedy, deadline=t0 + 0.15 * limit)
    large = a.nnz > COMPACT_MAX_NNZ
    # a large model: a short subgradient phase only, for starting multipliers (and primal
    # solutions, fixing) of the smoothed bound, which converges far better from them
    lag = lagrangian(
        a,
        a_csc,
        w,
        p,
        chosen,
        deadline=(
            time.perf_counter() + (0.05 * limit if full else 1.0)
            if large
            else t0 + (0.5 * limit if full else 5.0)
        ),
        stall_rel=1e-3 if large else 1e-4,
    )
    if (
        _free_nnz(a_csc, lag) > COMPACT_MAX_NNZ
        and relative_gap(lag.best_value, lag.bound, True) > 0
    ):
        sm = smoothed_bound(
            a,
            sp.csr_matrix(a_csc.T),
            w,
            p,
            lag.lam_best,
            deadline=t0 + (0.35 * limit if full else 5.0),
            target=lag.best_value,
        )
        lag = _with_bound(lag, sm)
    if full and relative_gap(lag.best_value, lag.bound, True) > 0:
        # a better primal (it fixes more): a kernel MILP on the columns of largest Lagrangian
        # value (2p of them when fixing left a small model, else 300); when what fixing left
        # is too large for HiGHS anyway, iterated swaps instead (at that scale the LP is
        # fractional over many near-equal columns and HiGHS is slow even on a kernel)
        free_nnz = _free_nnz(a_csc, lag)
        size = 300 if free_nnz > COMPACT_MAX_NNZ // 4 else max(2 * p, 40)
        if free_nnz > COMPACT_MAX_NNZ:
            kern = iterated_swaps(a, a_csc, w, lag.best, deadline=t0 + 0.95 * limit)
        elif size < a.shape[1]:
            kern = kernel_search(a_csc, w, p, lag, size=size, deadline=t0 + 0.95 * limit)
        else:
            kern = lag.best
        value = covered_weight(a, w, kern)
        if value > lag.best_value:
            lag = refix(lag, p, kern, value)
        log.info(
            "decompose: bound %.8g, best %.8g, fixed %d to 0 and %d to 1 of %d",
            lag.bound,
            lag.best_value,
            int(lag.fixed0.sum()),
            int(lag.fixed1.sum()),
            len(lag.fixed0),
        )
        if _free_nnz(a_csc, lag) <= COMPACT_MAX_NNZ:
            best, value, bound, _status = reduced_milp(a, w, p, lag, deadline=t0 + limit)
            lag = refix(lag, p, best, value)
            lag.bound = min(lag.bound, bound)
    bound = min(lag.bound, float(w.sum()))
    obj = lag.best_value
    gap = relative_gap(obj, bound, True)
    status = "optimal" if gap == 0 else "heuristic"
    if gap == 0:
        bound = obj  # proven within the tolerance: report the optimum as its own bound
    return lag.best, Solved(status, None, obj, bound, gap, time.perf_counter() - t0)


def fill_selection(chosen: list[int], p: int, n_cols: int) -> list[int]:
    """Pad a selection with unused columns up to ``p`` (zero-gain sites still count in p)."""
    out = list(chosen)
    used = set(out)
    j = 0
    while len(out) < p and j < n_cols:
        if j not in used:
            out.append(j)
        j += 1
    return out


def covered_weight(a: sp.csr_matrix, w: np.ndarray, chosen: list[int]) -> float:
    """Weight of the rows at least one of the ``chosen`` columns reaches."""
    if not chosen:
        return 0.0
    hit = np.diff(sp.csr_matrix(a[:, chosen]).indptr) > 0
    return float(w[hit].sum())


def mclp_milp(a: sp.csr_matrix, w: np.ndarray, p: int) -> Milp:
    """Columns ``y`` (candidates, binary) then ``z`` (rows, [0, 1]).

    Rows: ``z_i - sum_j a_ij y_j <= 0`` per demand row, then ``sum_j y_j = p``.
    """
    n_rows, n_cols = a.shape
    eye = sp.identity(n_rows, format="csr")
    top = sp.hstack([-a, eye])
    card = sp.hstack([sp.csr_matrix(np.ones((1, n_cols))), sp.csr_matrix((1, n_rows))])
    matrix = sp.vstack([top, card]).tocsc()
    return Milp(
        cost=np.r_[np.zeros(n_cols), w],
        col_lo=np.zeros(n_cols + n_rows),
        col_hi=np.ones(n_cols + n_rows),
        integer=np.r_[np.ones(n_cols, bool), np.zeros(n_rows, bool)],
        matrix=matrix,
        row_lo=np.r_[np.full(n_rows, -np.inf), p],
        row_hi=np.r_[np.zeros(n_rows), p],
        maximize=True,
    )


def mclp_start(chosen: list[int], n_cols: int, a: sp.csr_matrix, n_rows: int) -> np.ndarray:
    """Column values of :func:`mclp_milp` for the sites ``chosen`` (a warm start)."""
    y = np.zeros(n_cols)
    y[chosen] = 1.0
    z = (np.asarray(a @ y).ravel() > 0).astype(float)
    return np.r_[y, z]


def highs_solution(values: np.ndarray) -> Any:
    """A ``highspy.HighsSolution`` with these column values (for ``setSolution``)."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(values, dtype=np.float64).tolist()
    return sol
