"""Solvers behind maximal coverage: the Lagrangian bounds are valid, the LP is their optimum,
the large-model path brackets the optimum and reports its gap honestly."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from coverage import siting_solve
from coverage.siting import MaxCoverage
from coverage.siting_solve import (
    covered_weight,
    iterated_swaps,
    lagrangian,
    lagrangian_value,
    lazy_greedy,
    smoothed_bound,
    swap_search,
)


def instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10, (n, 2))
    sites = rng.uniform(0, 10, (m, 2))
    cost = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    return cost, rng.integers(10, 500, n).astype(float)


def lp_value(a: np.ndarray, w: np.ndarray, p: int) -> float:
    """The LP relaxation of maximal coverage by scipy's linprog (variables y then z)."""
    n, m = a.shape
    res = linprog(
        np.r_[np.zeros(m), -w],
        A_ub=np.hstack([-a, np.eye(n)]),
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(m), np.zeros(n)][None, :],
        b_eq=[p],
        bounds=[(0, 1)] * (m + n),
    )
    assert res.status == 0
    return float(-res.fun)


def brute_optimum(a: np.ndarray, w: np.ndarray, p: int) -> float:
    return max(
        float(w[a[:, list(s)].any(axis=1)].sum())
        for s in itertools.combinations(range(a.shape[1]), p)
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_lagrangian_bounds_are_valid_and_the_smoothed_one_reaches_the_lp(seed: int) -> None:
    cost, w = instance(seed, n=120, m=14)
    dense = (cost <= 2.0).astype(float)
    p = 3
    a = sp.csr_matrix(dense)
    a_t = sp.csr_matrix(a.T)
    lp = lp_value(dense, w, p)
    opt = brute_optimum(dense > 0, w, p)
    assert lp >= opt - 1e-6
    # any multipliers, even outside [0, w] (clipped), give a bound no lower than the LP's
    rng = np.random.default_rng(seed)
    for _ in range(20):
        lam = rng.uniform(-0.5, 1.5, len(w)) * w
        assert lagrangian_value(a_t, w, p, lam)[0] >= lp - 1e-6 * lp
    greedy = lazy_greedy(a.tocsc(), w, p, np.zeros(len(w), dtype=bool))
    lag = lagrangian(a, a.tocsc(), w, p, greedy, deadline=time.perf_counter() + 30, max_iter=30)
    far = time.perf_counter() + 60
    sm = smoothed_bound(a, a_t, w, p, lag.lam_best, deadline=far, stall_rel=1e-9)
    assert sm.bound >= lp - 1e-6 * lp  # valid
    assert sm.bound <= lp * (1 + 1e-3)  # and converged to the LP bound (its optimum)
    # the bound it reports is the value at the multipliers it returns
    assert lagrangian_value(a_t, w, p, sm.lam)[0] == pytest.approx(sm.bound, rel=1e-12)


def test_iterated_swaps_never_worse_and_repeatable() -> None:
    cost, w = instance(3, n=200, m=30)
    a = sp.csr_matrix((cost <= 1.5).astype(float))
    a_csc = a.tocsc()
    p = 5
    greedy = lazy_greedy(a_csc, w, p, np.zeros(len(w), dtype=bool))
    local = swap_search(a, a_csc, w, greedy, deadline=time.perf_counter() + 30)
    far = time.perf_counter() + 60
    one = iterated_swaps(a, a_csc, w, local, deadline=far, patience=15)
    two = iterated_swaps(a, a_csc, w, local, deadline=far, patience=15)
    assert one == two
    assert len(set(one)) == p
    assert covered_weight(a, w, one) >= covered_weight(a, w, local)
    assert covered_weight(a, w, one) <= brute_optimum(cost <= 1.5, w, p)


@pytest.mark.parametrize("seed", [5, 6])
def test_large_model_path_brackets_the_optimum_and_reports_its_gap(
    seed: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the path for models too large for HiGHS (smoothed bound, iterated swaps), made to run on
    # an instance HiGHS solves exactly on the compact model; its LP leaves a gap there
    cost, w = instance(seed, n=300, m=40)
    exact = MaxCoverage.from_cost_matrix(cost, w, service_radius=3.0, p_facilities=5)
    exact.solve(method="milp")
    assert exact.status == "optimal"
    opt = exact.objective
    monkeypatch.setattr(siting_solve, "COMPACT_MAX_NNZ", 20)
    m = MaxCoverage.from_cost_matrix(cost, w, service_radius=3.0, p_facilities=5)
    with caplog.at_level("INFO", logger="coverage.siting_solve"):
        m.solve(method="decompose", time_limit_s=4)
    assert "smoothed bound" in caplog.text and "iterated swaps" in caplog.text
    assert m.objective <= opt + 1e-6
    assert m.bound >= opt - 1e-6
    assert m.gap > 0  # the LP bound is not tight here: the gap must not be hidden
    # the objective is what the chosen sites really cover, the gap is against the bound
    assert float(w[(cost[:, m.selected] <= 3.0).any(axis=1)].sum()) == pytest.approx(m.objective)
    assert m.gap == pytest.approx(max(m.bound - m.objective, 0.0) / m.objective)
    assert m.status == "heuristic"
    assert m.greedy_objective <= m.objective + 1e-9
