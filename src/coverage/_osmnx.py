"""Use osmnx with this project's settings, restoring osmnx's process-wide state afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from coverage.errors import NetworkError

__all__ = ["osmnx_settings"]


@contextlib.contextmanager
def osmnx_settings(
    *,
    http_cache_dir: str | os.PathLike[str] | None = None,
    way_tags: Sequence[str] = (),
    bidirectional: Sequence[str] = (),
) -> Iterator[Any]:
    """Import osmnx with temporary settings; yield the module.

    Parameters
    ----------
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``).
    way_tags
        Extra OSM way tags to keep as edge attributes.
    bidirectional
        Extra network types whose one-way streets are walked both ways.

    Yields
    ------
    module
        ``osmnx``. Its settings, and ``socket.getaddrinfo`` (which osmnx's DNS pinning
        replaces process-wide), are restored on exit.

    Raises
    ------
    NetworkError
        osmnx is not installed.
    """
    try:
        import osmnx as ox
    except ImportError as exc:  # pragma: no cover - osmnx is a dependency
        raise NetworkError(
            "需要 osmnx 才能在线下载 (osmnx is needed for downloads): pip install osmnx"
        ) from exc
    names = ("useful_tags_way", "bidirectional_network_types", "cache_folder")
    saved = {name: getattr(ox.settings, name) for name in names}
    getaddrinfo = socket.getaddrinfo
    try:
        ox.settings.useful_tags_way = list(dict.fromkeys([*saved["useful_tags_way"], *way_tags]))
        ox.settings.bidirectional_network_types = list(
            dict.fromkeys([*saved["bidirectional_network_types"], *bidirectional])
        )
        if http_cache_dir is not None:
            ox.settings.cache_folder = str(http_cache_dir)
        yield ox
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)
        socket.getaddrinfo = getaddrinfo
