"""Tests for coverage.gaps: hand-checked numbers, brute-force property tests, validation."""

from __future__ import annotations

import json
import math
import pickle
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from coverage.config import LayerSpec, Service
from coverage.errors import CoverageWarning, InputError
from coverage.gaps import (
    assess_coverage,
    covered_column,
    minutes_label,
    rank_gaps,
    station_load,
    stations_within_column,
    summarize_coverage,
    summary_dict,
    summary_dict_from_summaries,
)

LAYER = LayerSpec(path=Path("stations.csv"))
NAN = float("nan")


def make_service(minutes=(5.0, 10.0, 15.0), capacity=None, weight="households", key="party"):
    return Service(
        key,
        "党群服务站",
        "Party-mass service station",
        LAYER,
        minutes=tuple(minutes),
        weight_column=weight,
        capacity=capacity,
    )


# --------------------------------------------------------------------------------------------
# a small hand-made case
#
#   id  community households nearest walk  reason              long table pairs
#   c1  A          50        s1      3.0                       s1 3.0, s2 12.0
#   c2  A          80        s1      10.0  (== threshold 10)   s1 10.0
#   c3  A          20        s2      14.0                      s2 14.0, s3 15.0 (== 15)
#   c4  A           0        s2      6.0                       s2 6.0
#   c5  B         120        s1      16.5                      -
#   c6  B          40        -       NaN   unreachable         -
#   c7  B          40        -       NaN   far_from_network    -
#   c8  B          30        s2      15.0  (== threshold 15)   s2 15.0
#
# stations: s1 capacity 100 (exceeded), s2 capacity 50 (exactly met), s3 capacity NaN
# (serves nobody as nearest station).


@pytest.fixture
def hand():
    ids = [f"c{i}" for i in range(1, 9)]
    compounds = gpd.GeoDataFrame(
        {
            "compound_id": ids,
            "name": [f"小区{i}" for i in range(1, 9)],
            "households": [50.0, 80.0, 20.0, 0.0, 120.0, 40.0, 40.0, 30.0],
            "households_source": ["given"] * 8,
            "community": ["A"] * 4 + ["B"] * 4,
        },
        geometry=[Point(117.48 + i * 0.001, 30.66) for i in range(8)],
        crs="EPSG:4326",
    )
    nearest = pd.DataFrame(
        {
            "compound_id": ids,
            "nearest_station_id": ["s1", "s1", "s2", "s2", "s1", None, None, "s2"],
            "walk_min": [3.0, 10.0, 14.0, 6.0, 16.5, NAN, NAN, 15.0],
            "reason": ["", "", "", "", "", "unreachable", "far_from_network", ""],
        }
    )
    within = pd.DataFrame(
        {
            "compound_id": ["c1", "c1", "c2", "c3", "c3", "c4", "c8"],
            "station_id": ["s1", "s2", "s1", "s2", "s3", "s2", "s2"],
            "walk_min": [3.0, 12.0, 10.0, 14.0, 15.0, 6.0, 15.0],
        }
    )
    stations = gpd.GeoDataFrame(
        {
            "station_id": ["s1", "s2", "s3"],
            "name": ["站1", "站2", "站3"],
            "service": ["party"] * 3,
            "capacity": [100.0, 50.0, NAN],
        },
        geometry=[Point(117.48, 30.661), Point(117.483, 30.661), Point(117.486, 30.661)],
        crs="EPSG:4326",
    )
    return compounds, nearest, within, stations


def test_minutes_label_and_column_names():
    assert minutes_label(5.0) == "5"
    assert minutes_label(7.5) == "7.5"
    assert minutes_label(15) == "15"
    assert covered_column(7.5) == "covered_7.5min"
    assert stations_within_column(10.0) == "stations_within_10min"


def test_assess_hand_case(hand):
    compounds, nearest, within, _ = hand
    a = assess_coverage(compounds, nearest, within, service=make_service())
    assert isinstance(a, gpd.GeoDataFrame)
    assert a.crs == compounds.crs
    assert list(a["compound_id"]) == list(compounds["compound_id"])
    assert list(a.columns) == [
        "compound_id",
        "name",
        "service",
        "households",
        "nearest_station_id",
        "walk_min",
        "covered_5min",
        "stations_within_5min",
        "covered_10min",
        "stations_within_10min",
        "covered_15min",
        "stations_within_15min",
        "reason",
        "minutes_short",
        "households_source",
        "community",
        "geometry",
    ]
    # walk == threshold counts as covered (c2 at 10, c8 at 15)
    assert list(a["covered_5min"]) == [True, False, False, False, False, False, False, False]
    assert list(a["covered_10min"]) == [True, True, False, True, False, False, False, False]
    assert list(a["covered_15min"]) == [True, True, True, True, False, False, False, True]
    assert list(a["stations_within_5min"]) == [1, 0, 0, 0, 0, 0, 0, 0]
    assert list(a["stations_within_10min"]) == [1, 1, 0, 1, 0, 0, 0, 0]
    assert list(a["stations_within_15min"]) == [2, 1, 2, 1, 0, 0, 0, 1]
    assert a["stations_within_15min"].dtype == np.int64
    assert a["covered_15min"].dtype == bool
    assert list(a["reason"]) == [
        "",
        "",
        "",
        "",
        "beyond_threshold",
        "unreachable",
        "far_from_network",
        "",
    ]
    short = a["minutes_short"].to_numpy()
    assert short[4] == pytest.approx(1.5)
    assert np.isnan(np.delete(short, 4)).all()
    assert np.isnan(a["walk_min"].to_numpy()[[5, 6]]).all()
    assert a["nearest_station_id"].isna().tolist() == [False] * 5 + [True, True, False]
    assert (a["service"] == "party").all()
    assert a.attrs == {"service": "party", "weight_column": "households", "minutes": [5, 10, 15]}


def test_assess_custom_weight_and_fractional_threshold(hand):
    compounds, nearest, within, _ = hand
    compounds = compounds.assign(elderly=[5.0, 8.0, 2.0, 0.0, 12.0, 4.0, 4.0, 3.0])
    svc = make_service(minutes=(7.5, 15.0), weight="elderly")
    a = assess_coverage(compounds, nearest, within, service=svc)
    assert a["households"].tolist() == compounds["elderly"].tolist()
    assert "elderly" not in a.columns
    assert a.attrs["weight_column"] == "elderly"
    assert a["covered_7.5min"].tolist() == [True, False, False, True, False, False, False, False]
    assert a["stations_within_7.5min"].tolist() == [1, 0, 0, 1, 0, 0, 0, 0]


def test_summaries_hand_case(hand):
    compounds, nearest, within, _ = hand
    svc = make_service()
    a = assess_coverage(compounds, nearest, within, service=svc)
    s = summarize_coverage(a, service=svc, by=["community"])
    assert list(s.columns) == [
        "service",
        "scope",
        "community",
        "minutes",
        "households_total",
        "households_covered",
        "share_covered",
        "compounds_total",
        "compounds_covered",
        "households_estimated",
        "share_estimated",
    ]
    assert (s["households_estimated"] == 0.0).all()
    overall = s[s["scope"] == "overall"].set_index("minutes")
    assert overall.loc[5.0, "households_covered"] == 50.0
    assert overall.loc[10.0, "households_covered"] == 130.0
    assert overall.loc[15.0, "households_covered"] == 180.0
    assert (overall["households_total"] == 380.0).all()
    assert overall.loc[15.0, "share_covered"] == pytest.approx(180 / 380)
    assert overall["compounds_covered"].tolist() == [1, 3, 5]
    assert (overall["compounds_total"] == 8).all()
    assert overall["community"].isna().all()
    groups = s[s["scope"] == "group"].set_index(["community", "minutes"])
    assert groups.loc[("A", 15.0), "share_covered"] == 1.0
    assert groups.loc[("A", 5.0), "share_covered"] == pytest.approx(50 / 150)
    assert groups.loc[("B", 15.0), "households_covered"] == 30.0
    assert groups.loc[("B", 15.0), "share_covered"] == pytest.approx(30 / 230)
    assert groups.loc[("B", 10.0), "compounds_covered"] == 0
    assert s["compounds_total"].dtype == np.int64

    d = summary_dict({"party": a}, {"party": svc})
    assert json.loads(json.dumps(d)) == d  # plain JSON types round-trip
    assert d["party"]["label_zh"] == "党群服务站"
    assert d["party"]["label_en"] == "Party-mass service station"
    assert list(d["party"]["thresholds"]) == ["5", "10", "15"]
    t15 = d["party"]["thresholds"]["15"]
    assert t15 == {
        "households_total": 380.0,
        "households_covered": 180.0,
        "share_covered": pytest.approx(180 / 380),
        "compounds_total": 8,
        "compounds_covered": 5,
    }
    assert type(t15["compounds_total"]) is int
    assert type(t15["households_total"]) is float
    assert d["party"]["households_estimated"] == 0.0
    assert d["party"]["share_estimated"] == 0.0
    # from summaries already made (group rows included): the same dictionary
    assert summary_dict_from_summaries({"party": s}, [svc]) == d
    with pytest.raises(InputError, match="party"):
        summary_dict_from_summaries({}, [svc])


def test_estimated_households_are_summed_overall_and_per_group(hand):
    # c2 (A, 80) and c5, c6 (B, 120 + 40) estimated; checked against a plain loop
    compounds, nearest, within, _ = hand
    source = ["given", "estimated", "given", "given", "estimated", "estimated", "given", "given"]
    compounds = compounds.assign(households_source=source)
    svc = make_service()
    a = assess_coverage(compounds, nearest, within, service=svc)
    s = summarize_coverage(a, service=svc, by=["community"])
    expect: dict[str, float] = {}
    rows = zip(compounds["community"], compounds["households"], source, strict=True)
    for community, hh, src in rows:
        expect[community] = expect.get(community, 0.0) + (hh if src == "estimated" else 0.0)
    overall = s[s["scope"] == "overall"]
    assert (overall["households_estimated"] == sum(expect.values())).all()
    assert overall["share_estimated"].iloc[0] == pytest.approx(240 / 380)
    for community, value in expect.items():
        rows = s[(s["scope"] == "group") & (s["community"] == community)]
        assert len(rows) == 3 and (rows["households_estimated"] == value).all()
    assert summary_dict({"party": a}, [svc])["party"]["share_estimated"] == pytest.approx(240 / 380)
    # a table that does not say where its counts come from has no such columns
    plain = summarize_coverage(a.drop(columns="households_source"), service=svc)
    assert "households_estimated" not in plain.columns


def test_share_is_nan_without_households(hand):
    compounds, nearest, within, _ = hand
    svc = make_service()
    a = assess_coverage(compounds.assign(households=0.0), nearest, within, service=svc)
    s = summarize_coverage(a, service=svc)
    assert s["share_covered"].isna().all()
    assert s["compounds_covered"].tolist() == [1, 3, 5]
    d = summary_dict({"party": a}, [svc])
    assert d["party"]["thresholds"]["5"]["share_covered"] is None
    json.dumps(d, allow_nan=False)


def test_summary_of_no_compounds(hand):
    compounds, nearest, within, _ = hand
    svc = make_service()
    a = assess_coverage(compounds.iloc[:0], nearest.iloc[:0], within.iloc[:0], service=svc)
    s = summarize_coverage(a, service=svc, by=["community"])
    assert len(s) == 3
    assert (s["households_total"] == 0).all()
    assert (s["compounds_total"] == 0).all()
    assert s["share_covered"].isna().all()


def test_station_load_hand_case(hand):
    compounds, nearest, within, stations = hand
    svc = make_service(capacity=250.0)
    a = assess_coverage(compounds, nearest, within, service=svc)
    load = station_load(a, stations, service=svc)
    assert isinstance(load, gpd.GeoDataFrame)
    assert list(load.columns) == [
        "station_id",
        "name",
        "service",
        "compounds_served",
        "households_served",
        "households_served_within_15min",
        "capacity",
        "over_capacity",
        "load_ratio",
        "geometry",
    ]
    load = load.set_index("station_id")
    # s1: c1 + c2 + c5 (16.5 min, beyond 15 but still nearest)
    assert load.loc["s1", "compounds_served"] == 3
    assert load.loc["s1", "households_served"] == 250.0
    assert load.loc["s1", "households_served_within_15min"] == 130.0
    assert load.loc["s1", "over_capacity"]
    assert load.loc["s1", "load_ratio"] == pytest.approx(2.5)
    # s2: c3 + c4 + c8 = 50 households, capacity 50 exactly: not over
    assert load.loc["s2", "compounds_served"] == 3
    assert load.loc["s2", "households_served"] == 50.0
    assert not load.loc["s2", "over_capacity"]
    assert load.loc["s2", "load_ratio"] == 1.0
    # s3 serves nobody; capacity NaN falls back to the service's 250
    assert load.loc["s3", "compounds_served"] == 0
    assert load.loc["s3", "households_served"] == 0.0
    assert load.loc["s3", "capacity"] == 250.0
    assert load.loc["s3", "load_ratio"] == 0.0
    assert not load.loc["s3", "over_capacity"]
    assert load["compounds_served"].dtype == np.int64
    assert load["over_capacity"].dtype == bool


def test_station_load_without_capacity(hand):
    compounds, nearest, within, stations = hand
    svc = make_service(capacity=None)
    a = assess_coverage(compounds, nearest, within, service=svc)
    extra = stations.iloc[:1].assign(station_id="x1", service="meal")  # other service: ignored
    stations = pd.concat([stations, extra], ignore_index=True)
    load = station_load(a, stations, service=svc).set_index("station_id")
    assert list(load.index) == ["s1", "s2", "s3"]
    assert np.isnan(load.loc["s3", "capacity"])
    assert np.isnan(load.loc["s3", "load_ratio"])
    assert not load.loc["s3", "over_capacity"]
    load2 = station_load(a, stations.drop(columns="capacity"), service=svc)
    assert not load2["over_capacity"].any()
    assert load2["load_ratio"].isna().all()


def test_rank_gaps_hand_case(hand):
    compounds, nearest, within, _ = hand
    a = assess_coverage(compounds, nearest, within, service=make_service())
    g = rank_gaps(a)
    # c5 (120); c6 and c7 tie on 40 households and NaN walk -> by id
    assert g["compound_id"].tolist() == ["c5", "c6", "c7"]
    assert g["rank"].tolist() == [1, 2, 3]
    assert g["reason"].tolist() == ["beyond_threshold", "unreachable", "far_from_network"]
    assert g["minutes_short"].iloc[0] == pytest.approx(1.5)
    assert isinstance(g, gpd.GeoDataFrame)
    assert g.columns[0] == "rank"
    for c in ("nearest_station_id", "walk_min", "minutes_short", "reason", "community"):
        assert c in g.columns
    assert not any(c.startswith(("covered_", "stations_within_")) for c in g.columns)


def test_rank_gaps_ties_by_walk_min(hand):
    compounds, nearest, within, _ = hand
    compounds = compounds.assign(households=[1.0, 1, 1, 1, 40, 40, 40, 40])
    nearest = nearest.assign(walk_min=[3.0, 10, 14, 6, 16.5, NAN, NAN, 20.0])
    within = within[within["compound_id"] != "c8"]
    g = rank_gaps(assess_coverage(compounds, nearest, within, service=make_service()))
    # unreachable (NaN) ranks as the longest walk, then 20.0, then 16.5
    assert g["compound_id"].tolist() == ["c6", "c7", "c8", "c5"]


def test_results_pickle_and_inputs_unchanged(hand):
    compounds, nearest, within, stations = hand
    copies = [x.copy(deep=True) for x in hand]
    svc = make_service(capacity=60.0)
    a = assess_coverage(compounds, nearest, within, service=svc)
    results = [
        a,
        summarize_coverage(a, service=svc, by=["community"]),
        station_load(a, stations, service=svc),
        rank_gaps(a),
    ]
    a_copy = a.copy(deep=True)
    summary_dict({"party": a}, [svc])
    for r in results:
        back = pickle.loads(pickle.dumps(r))
        pd.testing.assert_frame_equal(back, r)
        assert back.attrs == r.attrs
    pd.testing.assert_frame_equal(a, a_copy)
    for before, after in zip(copies, hand, strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_inconsistent_long_table_warns(hand):
    compounds, nearest, within, _ = hand
    short = within[within["walk_min"] < 15.0]  # as if computed with a smaller limit
    with pytest.warns(CoverageWarning, match="c8"):
        assess_coverage(compounds, nearest, short, service=make_service())


# --------------------------------------------------------------------------------------------
# validation


def _drop_row(df, cid):
    return df[df["compound_id"] != cid]


def _add_row(df, cid):
    row = df.iloc[[0]].assign(compound_id=cid)
    return pd.concat([df, row], ignore_index=True)


BAD_CASES = {
    "missing in nearest": (lambda c, n, w: (c, _drop_row(n, "c3"), w), {}, ["缺少小区", "c3"]),
    "unknown in nearest": (
        lambda c, n, w: (c, _add_row(n, "zz9"), w),
        {},
        ["unknown compound ids", "zz9"],
    ),
    "unknown in long": (
        lambda c, n, w: (c, n, _add_row(w, "qq7")),
        {},
        ["long table", "qq7"],
    ),
    "duplicate in nearest": (
        lambda c, n, w: (c, _add_row(n, "c2"), w),
        {},
        ["duplicate ids", "c2"],
    ),
    "non-increasing thresholds": (
        lambda c, n, w: (c, n, w),
        {"minutes": (5.0, 15.0, 10.0)},
        ["strictly increasing", "[5.0, 15.0, 10.0]", "services.party.minutes"],
    ),
    "equal thresholds": (lambda c, n, w: (c, n, w), {"minutes": (10.0, 10.0)}, ["increasing"]),
    "zero threshold": (lambda c, n, w: (c, n, w), {"minutes": (0.0, 10.0)}, ["positive"]),
    "missing column": (
        lambda c, n, w: (c, n.drop(columns="reason"), w),
        {},
        ["缺少必需列", "'reason'"],
    ),
    "missing weight column": (
        lambda c, n, w: (c, n, w),
        {"weight": "elderly"},
        ["missing required column", "'elderly'"],
    ),
    "negative households": (
        lambda c, n, w: (c.assign(households=[-1.0] + [1.0] * 7), n, w),
        {},
        [">= 0", "c1"],
    ),
    "negative walk": (
        lambda c, n, w: (c, n.assign(walk_min=[-1.0] + [1.0] * 7), w),
        {},
        ["walk_min must be >= 0"],
    ),
    "unknown reason": (
        lambda c, n, w: (c, n.assign(reason=["oops"] + [""] * 7), w),
        {},
        ["unknown reason", "oops"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_assess_rejects_bad_input(hand, case):
    compounds, nearest, within, _ = hand
    change, svc_kw, fragments = BAD_CASES[case]
    c, n, w = change(compounds, nearest, within)
    with pytest.raises(InputError) as info:
        assess_coverage(c, n, w, service=make_service(**svc_kw))
    for f in fragments:
        assert f in str(info.value)
    assert info.value.problems


def test_all_problems_reported_at_once(hand):
    compounds, nearest, within, _ = hand
    n = _add_row(_drop_row(nearest, "c4"), "nope")
    with pytest.raises(InputError) as info:
        assess_coverage(compounds, n, _add_row(within, "nix"), service=make_service())
    text = str(info.value)
    assert "c4" in text and "nope" in text and "nix" in text
    assert len(info.value.problems) == 3


def test_other_functions_reject_bad_input(hand):
    compounds, nearest, within, stations = hand
    svc = make_service()
    a = assess_coverage(compounds, nearest, within, service=svc)
    with pytest.raises(InputError, match="district"):
        summarize_coverage(a, service=svc, by=["district"])
    with pytest.raises(InputError, match="covered_20min"):
        summarize_coverage(a, service=make_service(minutes=(10.0, 20.0)))
    with pytest.raises(InputError, match="s2"):
        station_load(a, stations[stations["station_id"] != "s2"], service=svc)
    with pytest.raises(InputError, match="capacity must be > 0"):
        station_load(a, stations.assign(capacity=[0.0, 1.0, NAN]), service=svc)
    with pytest.raises(InputError, match="duplicate"):
        station_load(a, pd.concat([stations, stations.iloc[:1]]), service=svc)
    with pytest.raises(InputError, match="meal"):
        summary_dict({"party": a}, [svc, make_service(key="meal")])
    with pytest.raises(InputError, match="covered_"):
        rank_gaps(a.drop(columns=[c for c in a.columns if c.startswith("covered_")]))


# --------------------------------------------------------------------------------------------
# random property test against brute-force loops


def random_case(seed, n=300, s=25):
    rng = np.random.default_rng(seed)
    ids = [f"k{i:04d}" for i in rng.permutation(n)]
    sids = [f"st{j:03d}" for j in range(s)]
    # walk times on a half-minute grid hit thresholds exactly
    m = np.round(rng.uniform(0.0, 25.0, size=(n, s)) * 2) / 2
    m[rng.random((n, s)) < 0.6] = np.inf  # most pairs unreachable
    kind = rng.choice(["", "unreachable", "far_from_network"], p=[0.85, 0.1, 0.05], size=n)
    m[kind != ""] = np.inf
    best = m.argmin(axis=1)
    walk = m[np.arange(n), best]
    reachable = np.isfinite(walk)
    kind[(kind == "") & ~reachable] = "unreachable"
    compounds = gpd.GeoDataFrame(
        {
            "compound_id": ids,
            "name": [f"n{i}" for i in range(n)],
            "households": rng.choice([0.0, 10.0, 20.0, 35.5, 100.0], size=n),
            "households_source": "given",
            "community": rng.choice(["A", "B", "C", None], p=[0.3, 0.3, 0.3, 0.1], size=n),
            "street": rng.choice(["S1", "S2"], size=n),
        },
        geometry=gpd.points_from_xy(rng.uniform(117, 118, n), rng.uniform(30, 31, n)),
        crs="EPSG:4326",
    )
    nearest = pd.DataFrame(
        {
            "compound_id": ids,
            "nearest_station_id": [
                sids[b] if r else None for b, r in zip(best, reachable, strict=True)
            ],
            "walk_min": np.where(reachable, walk, np.nan),
            "reason": kind,
        }
    ).sample(frac=1.0, random_state=seed)  # row order must not matter
    minutes = (5.0, 7.5, 15.0) if seed % 2 else (5.0, 10.0, 15.0)
    ii, jj = np.nonzero(m <= minutes[-1])
    within = pd.DataFrame(
        {"compound_id": np.array(ids)[ii], "station_id": np.array(sids)[jj], "walk_min": m[ii, jj]}
    )
    # a few repeated pairs (a second, longer route): counts are of distinct stations
    again = within.sample(frac=0.1, random_state=seed)
    again = again.assign(walk_min=np.minimum(again["walk_min"] + 1.0, minutes[-1]))
    within = pd.concat([within, again], ignore_index=True)
    stations = gpd.GeoDataFrame(
        {
            "station_id": sids,
            "name": sids,
            "service": "party",
            "capacity": np.where(rng.random(s) < 0.3, np.nan, rng.choice([50.0, 200.0, 400.0], s)),
        },
        geometry=gpd.points_from_xy(rng.uniform(117, 118, s), rng.uniform(30, 31, s)),
        crs="EPSG:4326",
    )
    svc = make_service(minutes=minutes, capacity=300.0 if seed % 3 else None)
    return compounds, nearest, within, stations, svc


def brute_assess(compounds, nearest, within, svc):
    near = {r["compound_id"]: r for r in nearest.to_dict("records")}
    pairs = defaultdict(list)
    for r in within.to_dict("records"):
        pairs[r["compound_id"]].append((r["station_id"], r["walk_min"]))
    tmax = svc.minutes[-1]
    rows = []
    for c in compounds.to_dict("records"):
        nr = near[c["compound_id"]]
        w = nr["walk_min"]
        reach = not math.isnan(w)
        row = {
            "compound_id": c["compound_id"],
            "households": c["households"],
            "walk_min": w,
            "nearest_station_id": nr["nearest_station_id"] if reach else None,
            "community": c["community"],
            "street": c["street"],
        }
        for t in svc.minutes:
            row[f"cov{t}"] = reach and w <= t
            row[f"n{t}"] = len({sid for sid, x in pairs[c["compound_id"]] if x <= t})
        if reach and w <= tmax:
            row["reason"], row["short"] = "", NAN
        else:
            row["reason"] = nr["reason"] or ("unreachable" if not reach else "beyond_threshold")
            row["short"] = w - tmax if reach else NAN
        rows.append(row)
    return rows


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == pytest.approx(b)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_against_brute_force(seed):
    compounds, nearest, within, stations, svc = random_case(seed)
    a = assess_coverage(compounds, nearest, within, service=svc)
    rows = brute_assess(compounds, nearest, within, svc)
    assert len(a) == len(rows)

    # assess_coverage, every column
    for got, exp in zip(a.to_dict("records"), rows, strict=True):
        assert got["compound_id"] == exp["compound_id"]
        assert got["households"] == exp["households"]
        assert same(got["walk_min"], exp["walk_min"])
        if exp["nearest_station_id"] is None:
            assert pd.isna(got["nearest_station_id"])
        else:
            assert got["nearest_station_id"] == exp["nearest_station_id"]
        for t in svc.minutes:
            assert got[covered_column(t)] == exp[f"cov{t}"]
            assert got[stations_within_column(t)] == exp[f"n{t}"]
        assert got["reason"] == exp["reason"]
        assert same(got["minutes_short"], exp["short"])
        if pd.isna(exp["community"]):
            assert pd.isna(got["community"])
        else:
            assert got["community"] == exp["community"]

    # summaries, overall and per (community, street)
    s = summarize_coverage(a, service=svc, by=["community", "street"])
    expected = defaultdict(lambda: [0.0, 0.0, 0, 0])
    for r in rows:
        comm = None if pd.isna(r["community"]) else r["community"]
        for key in (("overall", None, None), ("group", comm, r["street"])):
            for t in svc.minutes:
                e = expected[(*key, t)]
                e[0] += r["households"]
                e[2] += 1
                if r[f"cov{t}"]:
                    e[1] += r["households"]
                    e[3] += 1
    got = {}
    for r in s.to_dict("records"):
        comm = None if pd.isna(r["community"]) else r["community"]
        street = None if pd.isna(r["street"]) else r["street"]
        got[(r["scope"], comm, street, r["minutes"])] = r
    assert set(got) == set(expected)
    for key, (ht, hc, ct, cc) in expected.items():
        r = got[key]
        assert r["households_total"] == pytest.approx(ht)
        assert r["households_covered"] == pytest.approx(hc)
        assert r["compounds_total"] == ct
        assert r["compounds_covered"] == cc
        assert same(r["share_covered"], hc / ht if ht > 0 else NAN)
    d = summary_dict({"party": a}, [svc])
    for t in svc.minutes:
        ht, hc, ct, cc = expected[("overall", None, None, t)]
        assert d["party"]["thresholds"][minutes_label(t)]["households_covered"] == pytest.approx(hc)
        assert d["party"]["thresholds"][minutes_label(t)]["compounds_covered"] == cc

    # station loads
    load = station_load(a, stations, service=svc)
    tmax = svc.minutes[-1]
    for st in load.to_dict("records"):
        mine = [r for r in rows if r["nearest_station_id"] == st["station_id"]]
        assert st["compounds_served"] == len(mine)
        hh = sum(r["households"] for r in mine)
        assert st["households_served"] == pytest.approx(hh)
        within_col = f"households_served_within_{minutes_label(tmax)}min"
        assert st[within_col] == pytest.approx(
            sum(r["households"] for r in mine if r["walk_min"] <= tmax)
        )
        cap = stations.set_index("station_id").loc[st["station_id"], "capacity"]
        if math.isnan(cap) and svc.capacity is not None:
            cap = svc.capacity
        assert same(st["capacity"], float(cap))
        assert st["over_capacity"] == (not math.isnan(cap) and hh > cap)
        assert same(st["load_ratio"], hh / cap if not math.isnan(cap) else NAN)
    assert load["compounds_served"].sum() == sum(1 for r in rows if r["nearest_station_id"])

    # gaps
    g = rank_gaps(a)
    gaps = [r for r in rows if r["reason"] != ""]
    gaps.sort(
        key=lambda r: (
            -r["households"],
            -(math.inf if math.isnan(r["walk_min"]) else r["walk_min"]),
            r["compound_id"],
        )
    )
    assert g["compound_id"].tolist() == [r["compound_id"] for r in gaps]
    assert g["rank"].tolist() == list(range(1, len(gaps) + 1))
    for got_row, exp in zip(g.to_dict("records"), gaps, strict=True):
        assert got_row["reason"] == exp["reason"]
        assert same(got_row["minutes_short"], exp["short"])
        assert same(got_row["walk_min"], exp["walk_min"])


def test_station_load_passes_station_attributes_through(hand):
    compounds, nearest, within, stations = hand
    svc = make_service(capacity=None)
    a = assess_coverage(compounds, nearest, within, service=svc)
    stations = stations.assign(地址=["a路1号", "b路2号", "c路3号"])
    load = station_load(a, stations, service=svc)
    assert load["地址"].tolist() == ["a路1号", "b路2号", "c路3号"]
    assert load.columns[-1] == "geometry"


def test_plain_parameters_equal_a_service_object(hand):
    """siting and batch call gaps without config objects: the same tables."""
    compounds, nearest, within, stations = hand
    svc = make_service(minutes=(5.0, 12.5), capacity=60.0, weight="hh")
    compounds = compounds.assign(hh=compounds["households"] * 2)
    a = assess_coverage(compounds, nearest, within, service=svc)
    b = assess_coverage(
        compounds, nearest, within, minutes=[5.0, 12.5], weight_column="hh", service="party"
    )
    pd.testing.assert_frame_equal(a, b)
    assert b.attrs == a.attrs
    for by in ((), ("community",)):
        pd.testing.assert_frame_equal(
            summarize_coverage(a, service=svc, by=by),
            summarize_coverage(b, minutes=[5.0, 12.5], service="party", by=by),
        )
        # thresholds and key default to the assessed table's
        pd.testing.assert_frame_equal(
            summarize_coverage(a, service=svc, by=by), summarize_coverage(b, by=by)
        )
    pd.testing.assert_frame_equal(
        station_load(a, stations, service=svc),
        station_load(b, stations, minutes=[5.0, 12.5], capacity=60.0, service="party"),
    )
    # the defaults: thresholds 5/10/15 and households
    c = assess_coverage(compounds, nearest, within, service="party")
    pd.testing.assert_frame_equal(
        c, assess_coverage(compounds, nearest, within, service=make_service())
    )


def test_station_counts_within_each_threshold_match_a_loop() -> None:
    # gaps._station_counter against a plain loop over the pairs: repeated pairs (the same
    # station reached twice), missing station ids (not counted), pairs of unknown compounds,
    # walk times exactly on a threshold
    from coverage.gaps import _station_counter

    rng = np.random.default_rng(7)
    compounds = pd.Series([f"c{i}" for i in range(40)], dtype="str")
    n = 600
    comp = rng.choice([*compounds, "unknown"], n)
    station = rng.choice(["s1", "s2", "s3", "s4", None], n)
    walk = rng.choice([1.0, 5.0, 7.5, 10.0, 12.0, 15.0, 20.0], n)
    within = pd.DataFrame({"compound_id": comp, "station_id": station, "walk_min": walk})
    count = _station_counter(compounds, within, walk)
    for t in (5.0, 10.0, 15.0):
        expected = []
        for c in compounds:
            near = {s for cc, s, w in zip(comp, station, walk, strict=True) if cc == c and w <= t}
            expected.append(len(near - {None}))
        assert count(t).tolist() == expected
