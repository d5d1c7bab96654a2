"""The basemap names live in a light module shared by the command line and the maps."""

from __future__ import annotations

import subprocess
import sys

import click

from coverage import basemaps, cli


def test_cli_choices_are_the_maps_basemaps() -> None:
    from coverage import maps

    assert maps.BASEMAPS is basemaps.BASEMAPS
    for command in ("map", "report"):
        option = next(p for p in cli.main.commands[command].params if p.name == "basemap")
        assert isinstance(option.type, click.Choice)
        assert tuple(option.type.choices) == basemaps.BASEMAPS
        for name, (zh, en) in basemaps.BASEMAP_DESCRIPTIONS.items():
            assert f"{name}: {zh}" in str(option.help) and f"{name}: {en}" in str(option.help)


def test_importing_the_cli_does_not_import_folium() -> None:
    code = (
        "import sys, coverage.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('folium', 'branca'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
