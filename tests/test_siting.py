"""Siting models: hand-solvable lattices, brute force, spopt (CBC) cross-checks, greedy bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from coverage.errors import InputError
from coverage.siting import (
    CapacitatedCoverage,
    MaxCoverage,
    MinStations,
    MinWalkTime,
    coverage_curve,
    merge_rows,
)

REL = 1e-6
#: PuLP 3 warns about what PuLP 4 changes (spopt's variables, its bundled CBC)
CBC_DEPRECATED = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def lattice_cost(k: int, step: float = 1.0) -> np.ndarray:
    """Manhattan walk minutes between the nodes of a k x k lattice (demand = candidates)."""
    xy = np.array([(c, r) for r in range(k) for c in range(k)], dtype=float) * step
    return np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)


def random_instance(seed: int, n: int = 40, m: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10, (n, 2))
    sites = rng.uniform(0, 10, (m, 2))
    cost = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    weights = rng.integers(10, 500, n).astype(float)
    return cost, weights


# --------------------------------------------------------------------------------------------
# hand-solvable lattices


def test_max_coverage_on_lattice_centre_covers_the_cross() -> None:
    # 3 x 3 lattice, unit weights, T = 1: the centre reaches itself and its 4 neighbours
    cost = lattice_cost(3)
    m = MaxCoverage.from_cost_matrix(cost, np.ones(9), service_radius=1, p_facilities=1).solve()
    assert m.status == "optimal"
    assert m.selected_ids == ["c4"]
    assert m.objective == 5.0
    assert m.gap == 0.0
    # p = 2: two opposite edge midpoints reach 4 + 4 - 1 (the shared centre) = 7; no pair
    # reaches 8 (each site reaches at most 5, the centre's 5 overlaps every other site)
    m2 = MaxCoverage.from_cost_matrix(cost, np.ones(9), service_radius=1, p_facilities=2).solve()
    assert m2.objective == 7.0
    assert (cost[:, m2.selected] <= 1).any(axis=1).sum() == 7


def test_max_coverage_counts_existing_coverage() -> None:
    # the left column is already covered: the best new site is then the right column's middle
    cost = lattice_cost(3)
    covered = np.array([c == 0 for r in range(3) for c in range(3)])
    m = MaxCoverage.from_cost_matrix(
        cost, np.ones(9), service_radius=1, p_facilities=1, covered=covered
    ).solve()
    assert m.covered_before == 3.0
    assert m.objective == 4.0  # the centre adds 1, 4, 5, 7; the right middle 2, 4, 5, 8
    assert m.selected_ids[0] in ("c4", "c5")
    assert m.covered_after == 7.0


def test_min_stations_on_lattice() -> None:
    # 3 x 3, T = 1: the lattice's domination number is 3
    cost = lattice_cost(3)
    m = MinStations.from_cost_matrix(cost, np.ones(9), service_radius=1).solve()
    assert m.objective == 3.0
    assert m.status == "optimal"
    covered = np.diff(sp.csr_matrix(cost[:, m.selected] <= 1).indptr) > 0
    assert covered.all()
    # half of the households: the centre alone (5 of 9)
    half = MinStations.from_cost_matrix(cost, np.ones(9), service_radius=1, target=0.5).solve()
    assert half.objective == 1.0 and half.selected_ids == ["c4"]


def test_min_walk_on_lattice() -> None:
    # a 1 x 5 path with unit steps, p = 1: the median node (2) with total 2+1+0+1+2 = 6
    xy = np.arange(5, dtype=float)
    cost = np.abs(xy[:, None] - xy[None, :])
    m = MinWalkTime.from_cost_matrix(cost, np.ones(5), p_facilities=1).solve()
    assert m.selected_ids == ["c2"] and m.objective == 6.0
    # an existing station at node 0: the best new site moves to node 3 (0,1,1,0,1 -> 3)
    m2 = MinWalkTime.from_cost_matrix(
        cost, np.ones(5), p_facilities=1, existing_min=cost[:, 0]
    ).solve()
    assert m2.objective == 3.0 and m2.selected_ids == ["c3"]
    assert m2.assignment.tolist() == [-1, -1, 0, 0, 0]


def test_capacitated_on_lattice() -> None:
    # 1 x 4 path, 100 households each, T = 1, capacity 200: one site serves two compounds;
    # two sites serve all 400; an uncapacitated site at node 1 would reach three
    xy = np.arange(4, dtype=float)
    cost = np.abs(xy[:, None] - xy[None, :])
    w = np.full(4, 100.0)
    one = CapacitatedCoverage.from_cost_matrix(
        cost, w, service_radius=1, p_facilities=1, capacity=200
    ).solve()
    assert one.objective == 200.0 and one.status == "optimal"
    assert (
        MaxCoverage.from_cost_matrix(cost, w, service_radius=1, p_facilities=1).solve().objective
        == 300.0
    )
    two = CapacitatedCoverage.from_cost_matrix(
        cost, w, service_radius=1, p_facilities=2, capacity=200
    ).solve()
    assert two.objective == 400.0
    loads = np.bincount(two.assignment[two.assignment >= 0], weights=w[two.assignment >= 0])
    assert (loads <= 200).all()
    # an existing station at node 0 with capacity 100 serves node 0; one new site the rest 2
    ex = CapacitatedCoverage.from_cost_matrix(
        cost,
        w,
        service_radius=1,
        p_facilities=1,
        capacity=200,
        station_cost=cost[:, [0]],
        station_capacity=[100.0],
    ).solve()
    assert ex.objective == 300.0 and ex.covered_before == 100.0


# --------------------------------------------------------------------------------------------
# brute force on random instances


def _cover(cost: np.ndarray, t: float, cols: tuple[int, ...]) -> np.ndarray:
    return (cost[:, list(cols)] <= t).any(axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_models_equal_brute_force(seed: int) -> None:
    cost, w = random_instance(seed, n=30, m=9)
    t, p = 2.5, 3
    subsets = list(itertools.combinations(range(9), p))
    best_mclp = max(float(w[_cover(cost, t, s)].sum()) for s in subsets)
    m = MaxCoverage.from_cost_matrix(cost, w, service_radius=t, p_facilities=p).solve()
    assert m.objective == pytest.approx(best_mclp, rel=REL)
    assert m.greedy_objective <= m.objective + 1e-9
    assert m.greedy_gap == pytest.approx((m.bound - m.greedy_objective) / m.greedy_objective)
    best_med = min(float((w * cost[:, list(s)].min(axis=1)).sum()) for s in subsets)
    med = MinWalkTime.from_cost_matrix(cost, w, p_facilities=p).solve()
    assert med.objective == pytest.approx(best_med, rel=REL)
    assert med.greedy_objective >= med.objective - 1e-9
    reach = (cost <= t).any(axis=1)
    fewest = next(
        k
        for k in range(1, 10)
        if any(_cover(cost, t, s)[reach].all() for s in itertools.combinations(range(9), k))
    )
    ls = MinStations.from_cost_matrix(cost, w, service_radius=t).solve()
    assert ls.objective == fewest
    assert ls.unreached().tolist() == np.flatnonzero(~reach).tolist()


def _capacitated_brute(cost: np.ndarray, w: np.ndarray, t: float, p: int, cap: float) -> float:
    n, m = cost.shape
    best = 0.0
    for s in itertools.combinations(range(m), p):
        options = [[j for j in s if cost[i, j] <= t] + [-1] for i in range(n)]
        for choice in itertools.product(*options):
            load: dict[int, float] = {}
            for i, j in enumerate(choice):
                if j >= 0:
                    load[j] = load.get(j, 0.0) + w[i]
            if all(v <= cap for v in load.values()):
                best = max(best, sum(w[i] for i, j in enumerate(choice) if j >= 0))
    return best


@pytest.mark.parametrize("seed", [4, 5])
def test_capacitated_equals_brute_force(seed: int) -> None:
    cost, w = random_instance(seed, n=7, m=4)
    t, p, cap = 4.0, 2, 600.0
    w = np.minimum(w, cap)
    m = CapacitatedCoverage.from_cost_matrix(
        cost, w, service_radius=t, p_facilities=p, capacity=cap
    ).solve()
    assert m.objective == pytest.approx(_capacitated_brute(cost, w, t, p, cap), rel=REL)
    assert m.greedy_objective <= m.objective + 1e-9
    served = m.assignment >= 0
    assert float(w[served].sum()) == pytest.approx(m.objective)
    for k in range(len(m.selected)):
        assert float(w[m.assignment == k].sum()) <= cap + 1e-6
        assert (cost[m.assignment == k, m.selected[k]] <= t).all()


def test_curve_points_equal_separate_solves_and_greedy_never_wins() -> None:
    cost, w = random_instance(7, n=60, m=20)
    base = MaxCoverage.from_cost_matrix(cost, w, service_radius=2.0, p_facilities=1)
    curve = coverage_curve(base, k_max=6)
    assert curve["new_sites"].tolist() == list(range(7))
    for k in range(1, 7):
        one = MaxCoverage.from_cost_matrix(cost, w, service_radius=2.0, p_facilities=k).solve()
        row = curve.iloc[k]
        assert row["households_covered"] == pytest.approx(one.objective, rel=REL)
        assert row["status"] == "optimal"
        assert row["greedy_households"] <= row["households_covered"] + 1e-9
    assert (np.diff(curve["households_covered"]) >= -1e-9).all()


def test_decomposition_bound_brackets_the_optimum() -> None:
    cost, w = random_instance(11, n=400, m=80)
    exact = MaxCoverage.from_cost_matrix(cost, w, service_radius=1.5, p_facilities=8).solve()
    dec = MaxCoverage.from_cost_matrix(cost, w, service_radius=1.5, p_facilities=8).solve(
        method="decompose", time_limit_s=5
    )
    assert dec.method == "decompose"
    assert dec.objective <= exact.objective + 1e-6
    assert dec.bound >= exact.objective - 1e-6
    assert dec.greedy_objective <= dec.objective + 1e-9  # swaps only improve
    assert dec.gap == pytest.approx((dec.bound - dec.objective) / dec.objective)


def test_merge_rows_keeps_weights_and_shrinks() -> None:
    cost, w = random_instance(3, n=200, m=5)
    a = sp.csr_matrix(cost <= 3.0, dtype=float)
    merged, mw, group = merge_rows(a, w)
    assert merged.shape[0] < a.shape[0]
    assert mw.sum() == pytest.approx(w.sum())
    assert (merged[group].toarray() == a.toarray()).all()


# --------------------------------------------------------------------------------------------
# spopt (pulp + CBC, spopt's default) on random instances


def _spopt_objective(model: object) -> float:
    import pulp

    return float(pulp.value(model.problem.objective))  # type: ignore[attr-defined]


@CBC_DEPRECATED
@pytest.mark.parametrize("seed", [21, 22, 23])
def test_objectives_equal_spopt(seed: int) -> None:
    import pulp
    from spopt.locate import LSCP, MCLP, PMedian

    cost, w = random_instance(seed, n=80, m=25)
    t, p = 2.0, 4
    solver = pulp.PULP_CBC_CMD(msg=False)
    ref = MCLP.from_cost_matrix(cost, w, service_radius=t, p_facilities=p).solve(solver)
    ours = MaxCoverage.from_cost_matrix(cost, w, service_radius=t, p_facilities=p).solve()
    assert ours.objective == pytest.approx(_spopt_objective(ref), rel=REL)
    reach = (cost <= t).any(axis=1)
    ref_ls = LSCP.from_cost_matrix(cost[reach], service_radius=t).solve(solver)
    ours_ls = MinStations.from_cost_matrix(cost, w, service_radius=t).solve()
    assert ours_ls.objective == pytest.approx(_spopt_objective(ref_ls), rel=REL)
    ref_pm = PMedian.from_cost_matrix(cost, w, p_facilities=p).solve(solver)
    ours_pm = MinWalkTime.from_cost_matrix(cost, w, p_facilities=p).solve()
    assert ours_pm.objective == pytest.approx(_spopt_objective(ref_pm), rel=REL)


@CBC_DEPRECATED
def test_existing_stations_equal_spopt_predefined_facilities() -> None:
    import pulp
    from spopt.locate import MCLP

    cost, w = random_instance(31, n=80, m=25)
    t, p = 2.0, 3
    existing = [0, 1]  # the first two columns are existing stations
    ref = MCLP.from_cost_matrix(
        cost,
        w,
        service_radius=t,
        p_facilities=p + len(existing),
        predefined_facilities_arr=np.isin(np.arange(25), existing),
    ).solve(pulp.PULP_CBC_CMD(msg=False))
    covered = (cost[:, existing] <= t).any(axis=1)
    ours = MaxCoverage.from_cost_matrix(
        cost[:, 2:], w, service_radius=t, p_facilities=p, covered=covered
    ).solve()
    assert ours.covered_after == pytest.approx(_spopt_objective(ref), rel=REL)


# --------------------------------------------------------------------------------------------
# bad cases


def test_bad_models_raise_clear_errors() -> None:
    cost, w = random_instance(1, n=5, m=3)
    with pytest.raises(InputError, match="larger than the 3"):
        MaxCoverage.from_cost_matrix(cost, w, service_radius=5, p_facilities=4)
    with pytest.raises(InputError, match="no candidate sites"):
        MaxCoverage.from_cost_matrix(np.zeros((5, 0)), w, service_radius=5, p_facilities=1)
    far = np.full((3, 2), 99.0)
    far[0, 0] = 1.0
    with pytest.raises(InputError, match=r"cannot be reached.*d1, d2"):
        MinStations.from_cost_matrix(far, [1, 1, 1], service_radius=5, target=0.9).solve()
    with pytest.raises(InputError, match=r"below the demand.*d0 \(500\)"):
        CapacitatedCoverage.from_cost_matrix(
            np.array([[1.0]]), [500], service_radius=5, p_facilities=1, capacity=400
        )
