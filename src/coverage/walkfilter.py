"""The walk filter: which OpenStreetMap ways belong to the pedestrian network (one definition).

:data:`WALK_HIGHWAYS` and :func:`is_walkable` decide; the Overpass filter sent by osmnx
(:func:`overpass_walk_filter`) selects a superset, and the same predicate is applied to what
comes back, so online and offline networks agree. :data:`FILTER_SPEC` describes the rules in
the network cache key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "ACCESS_FORBIDDEN",
    "FILTER_SPEC",
    "FILTER_TAGS",
    "FOOT_ALLOWED",
    "FOOT_FORBIDDEN",
    "OSMNX_WAY_TAGS",
    "PRIVATE_VALUES",
    "WALK_HIGHWAYS",
    "Tags",
    "is_private",
    "is_walkable",
    "overpass_walk_filter",
]

#: ``highway`` values a pedestrian may use. Everything else is excluded, notably
#: ``motorway``/``motorway_link``, ``construction``, ``proposed``, ``abandoned``, ``razed``,
#: ``platform`` (mostly unconnected areas), ``raceway``, ``bus_guideway``, ``busway``,
#: ``escape``, ``rest_area``, ``services`` and ``elevator``.
#:
#: ``trunk``/``trunk_link`` are included: in Chinese county towns the national road is the
#: main street and people walk along it. Urban expressways (快速路) mapped as trunk carry
#: ``motorroad=yes`` (or ``foot=no``), which excludes them. ``cycleway`` is included
#: (shared paths are walked; ``foot=no`` still excludes one), as are ``track``, ``road``
#: (unknown type), ``corridor`` (indoor passages) and ``bridleway``.
WALK_HIGHWAYS: frozenset[str] = frozenset(
    {
        "footway",
        "path",
        "pedestrian",
        "steps",
        "corridor",
        "living_street",
        "residential",
        "service",
        "unclassified",
        "road",
        "track",
        "cycleway",
        "bridleway",
        "tertiary",
        "tertiary_link",
        "secondary",
        "secondary_link",
        "primary",
        "primary_link",
        "trunk",
        "trunk_link",
    }
)
#: ``foot`` values that forbid walking (``use_sidepath``: walk on the separately mapped sidewalk).
FOOT_FORBIDDEN: frozenset[str] = frozenset({"no", "use_sidepath"})
#: ``foot`` values that allow walking even when ``access=no`` or ``motorroad=yes``.
FOOT_ALLOWED: frozenset[str] = frozenset({"yes", "designated", "permissive"})
#: ``access`` values that forbid walking unless ``foot`` allows it.
ACCESS_FORBIDDEN: frozenset[str] = frozenset({"no"})
#: ``access``/``foot`` values kept but flagged ``private`` (gated compounds: residents walk there).
PRIVATE_VALUES: frozenset[str] = frozenset({"private"})

# tags the predicate reads, plus a few kept for people looking at the osmnx graph
FILTER_TAGS = ("highway", "foot", "access", "motorroad", "area")
OSMNX_WAY_TAGS = (*FILTER_TAGS, "name", "service", "oneway", "sidewalk", "junction")

# Area highways (``area=yes``, mostly pedestrian squares) are kept as their outline ring: a
# walker can go round the square and every way touching the outline stays connected.
FILTER_SPEC: dict[str, Any] = {
    "highway": sorted(WALK_HIGHWAYS),
    "foot_forbidden": sorted(FOOT_FORBIDDEN),
    "foot_allowed": sorted(FOOT_ALLOWED),
    "access_forbidden": sorted(ACCESS_FORBIDDEN),
    "private": sorted(PRIVATE_VALUES),
    "motorroad_yes_excluded": True,
    "area_yes_kept_as_ring": True,
    "oneway_ignored": True,
}


class Tags(Protocol):
    """Anything with a dict-like ``get`` (a dict, a pyosmium ``TagList``)."""

    def get(self, key: str, default: str | None = None, /) -> str | None: ...


def is_walkable(tags: Tags | Mapping[str, str]) -> bool:
    """Tell whether a way with these OSM tags belongs to the walk network.

    Parameters
    ----------
    tags
        The way's tags (any mapping with ``get``; pyosmium ``TagList`` works).

    Returns
    -------
    bool
        True for a walkable way: ``highway`` in :data:`WALK_HIGHWAYS`, not ``foot=no`` (or
        ``use_sidepath``), and neither ``access=no`` nor ``motorroad=yes`` unless ``foot`` is
        ``yes``, ``designated`` or ``permissive``. ``access=private`` stays walkable (see
        :func:`is_private`); ``oneway`` is ignored.

    Examples
    --------
    >>> is_walkable({"highway": "residential", "access": "private"})
    True
    >>> is_walkable({"highway": "footway", "access": "no", "foot": "yes"})
    True
    >>> is_walkable({"highway": "motorway"})
    False
    """
    if tags.get("highway") not in WALK_HIGHWAYS:
        return False
    foot = tags.get("foot")
    if foot in FOOT_FORBIDDEN:
        return False
    if foot in FOOT_ALLOWED or foot in PRIVATE_VALUES:
        return True
    return tags.get("access") not in ACCESS_FORBIDDEN and tags.get("motorroad") != "yes"


def is_private(tags: Tags | Mapping[str, str]) -> bool:
    """Tell whether a walkable way is private (``access=private`` or ``foot=private``).

    ``foot=yes``/``designated``/``permissive`` overrides ``access=private``.

    Parameters
    ----------
    tags
        The way's tags.

    Returns
    -------
    bool
        True when only residents or permitted people may walk there.

    Examples
    --------
    >>> is_private({"highway": "service", "access": "private"})
    True
    >>> is_private({"highway": "service", "access": "private", "foot": "yes"})
    False
    """
    foot = tags.get("foot")
    if foot in PRIVATE_VALUES:
        return True
    return foot not in FOOT_ALLOWED and tags.get("access") in PRIVATE_VALUES


def overpass_walk_filter() -> str:
    """Return the osmnx ``custom_filter`` (Overpass QL) that downloads walkable ways.

    It selects a superset of the walk network (``highway`` in :data:`WALK_HIGHWAYS` and not
    ``foot=no``); :func:`is_walkable` is applied again to what is downloaded, because the
    ``access=no`` unless ``foot=yes`` rule cannot be written as one Overpass filter.

    Returns
    -------
    str
        For example ``["highway"~"^(bridleway|corridor|...)$"]["foot"!~"^(no|use_sidepath)$"]``.

    Examples
    --------
    >>> overpass_walk_filter().startswith('["highway"~"^(')
    True
    """
    highways = "|".join(sorted(WALK_HIGHWAYS))
    foot_no = "|".join(sorted(FOOT_FORBIDDEN))
    return f'["highway"~"^({highways})$"]["foot"!~"^({foot_no})$"]'
