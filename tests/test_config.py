"""Tests for coverage.config: the study file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from coverage.config import DEFAULT_MINUTES, load_study, study_from_dict
from coverage.errors import InputError, StudyError


@pytest.fixture
def layers(tmp_path: Path) -> Path:
    for name in ("compounds.geojson", "party.csv", "meal.csv", "area.osm"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
name = "池州市贵池区 15分钟便民服务圈"
note = "草案 draft"
[network]
osm_file = "area.osm"
[compounds]
path = "compounds.geojson"
[profiles]
adult = 4.8
slow = { speed_kmh = 2.5, factors = { steps = 3.0 } }
[services.party_station]
label_zh = "党群服务站"
label_en = "Party-mass service station"
stations = "party.csv"
[services.meal_point]
label_zh = "老年助餐点"
label_en = "Elderly meal point"
stations = { path = "meal.csv", coords = "gcj02" }
minutes = [5, 10]
profile = "elderly"
capacity = 400
"""


def test_good_study_resolves_paths_and_defaults(layers: Path) -> None:
    study = load_study(write(layers, GOOD))
    assert study.name == "池州市贵池区 15分钟便民服务圈"
    assert study.note == "草案 draft"
    assert study.group_by == ()
    grouped = load_study(
        write(layers, GOOD.replace('note = "草案 draft"', 'group_by = ["街道", "社区"]'))
    )
    assert grouped.group_by == ("街道", "社区")
    assert (study.access, study.gate_tolerance_m, study.gate_link_m) == ("auto", 20.0, 50.0)
    keyed = load_study(
        write(
            layers,
            GOOD.replace(
                'note = "草案 draft"', 'access = "open"\ngate_tolerance_m = 15\ngate_link_m = 30'
            ),
        )
    )
    assert (keyed.access, keyed.gate_tolerance_m, keyed.gate_link_m) == ("open", 15.0, 30.0)
    assert study.network.osm_file == layers / "area.osm"
    assert list(study.services) == ["party_station", "meal_point"]
    party = study.services["party_station"]
    assert party.minutes == DEFAULT_MINUTES
    assert party.profile == "adult"
    assert party.weight_column == "households"
    assert party.capacity is None
    meal = study.services["meal_point"]
    assert meal.stations.path == layers / "meal.csv"
    assert meal.stations.coords == "gcj02"
    assert meal.minutes == (5.0, 10.0)
    assert meal.capacity == 400.0
    assert study.profiles["adult"].speed_kmh == 4.8
    assert study.profiles["adult"].factors["steps"] == 1.5  # default factor kept
    assert study.profiles["elderly"].speed_kmh == 3.0
    assert study.profiles["slow"].factors == {"steps": 3.0}
    assert study.profiles["adult"].speed_m_per_min == pytest.approx(80.0)
    assert pickle.loads(pickle.dumps(study)) == study


@pytest.mark.parametrize(
    ("patch", "key", "fragment"),
    [
        (
            ("minutes = [5, 10]", 'minutes = [5, "ten"]'),
            "services.meal_point.minutes[1]",
            'expected a positive number, got "ten"',
        ),
        (
            ("minutes = [5, 10]", "minutes = [10, 5]"),
            "services.meal_point.minutes",
            "strictly increasing",
        ),
        (
            ("minutes = [5, 10]", "minutes = [5, -1]"),
            "services.meal_point.minutes[1]",
            "positive number",
        ),
        (
            ('profile = "elderly"', 'profile = "runner"'),
            "services.meal_point.profile",
            "unknown travel profile",
        ),
        (
            ('stations = "party.csv"', 'stations = "missing.csv"'),
            "services.party_station.stations.path",
            "file not found",
        ),
        (
            ('stations = "party.csv"', 'station = "party.csv"'),
            "services.party_station.station",
            "unknown key",
        ),
        (
            ("capacity = 400", 'capacity = "many"'),
            "services.meal_point.capacity",
            "positive number",
        ),
        (
            ('coords = "gcj02"', 'coords = "mars"'),
            "services.meal_point.stations.coords",
            "expected one of wgs84, gcj02, bd09",
        ),
        (
            ('osm_file = "area.osm"', 'osm_file = "area.osm"\nplace = "池州"'),
            "network",
            "exactly one of",
        ),
        (
            ('osm_file = "area.osm"', "bbox = [117.5, 30.7, 117.4, 30.6]"),
            "network.bbox",
            "west < east",
        ),
        (("adult = 4.8", "adult = 0"), "profiles.adult", "positive number"),
        (('name = "池州市贵池区 15分钟便民服务圈"', ""), "name", "required key is missing"),
        (("[compounds]", "[compound]"), "compound", "unknown key"),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\ngroup_by = "社区"'),
            "group_by",
            "expected a list of column names",
        ),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\naccess = "walls"'),
            "access",
            "expected one of auto, gates, entries, open",
        ),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\ngate_tolerance_m = -5'),
            "gate_tolerance_m",
            "positive number",
        ),
    ],
)
def test_bad_study_names_key_path(
    layers: Path, patch: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = patch
    assert old in GOOD
    p = write(layers, GOOD.replace(old, new))
    with pytest.raises(StudyError) as info:
        load_study(p)
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert f"{key}: " in text
    assert fragment in text
    assert str(p) in text


def test_all_problems_reported_together(layers: Path) -> None:
    text = (
        GOOD.replace("minutes = [5, 10]", 'minutes = [5, "ten"]')
        .replace('stations = "party.csv"', 'stations = "nope.csv"')
        .replace("adult = 4.8", "adult = -1")
    )
    with pytest.raises(StudyError) as info:
        load_study(write(layers, text))
    keys = {p.key for p in info.value.problems}
    assert keys == {
        "services.meal_point.minutes[1]",
        "services.party_station.stations.path",
        "profiles.adult",
    }
    err = pickle.loads(pickle.dumps(info.value))
    assert err.problems == info.value.problems


def test_unreadable_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="not found"):
        load_study(tmp_path / "nope.toml")
    p = write(tmp_path, "name = \n")
    with pytest.raises(StudyError, match="not valid TOML"):
        load_study(p)


def test_dict_study_with_bbox() -> None:
    study = study_from_dict(
        {
            "name": "x",
            "network": {"bbox": [117.4, 30.6, 117.5, 30.7]},
            "services": {"grid": {"stations": __file__, "capacity": 500}},
        },
    )
    assert study.network.bbox == (117.4, 30.6, 117.5, 30.7)
    assert study.services["grid"].label_zh == "grid"
    assert study.network.describe().startswith("bbox")
