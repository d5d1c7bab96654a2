"""Leaflet's JavaScript and stylesheet, inlined from a pinned package and checked by hash.

The files come from PyPI's ``django-js-lib-leaflet`` (Leaflet 1.9.4 as plain package files;
Django is not needed to read them). Only what the maps use is inlined: ``leaflet.js``,
``leaflet.css`` and the layer-control icons (as ``data:`` URIs). The default marker icon is
not used (every point is a circle marker), so its ``url()`` is dropped from the stylesheet.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from coverage.errors import CoverageError

__all__ = ["LEAFLET_PACKAGE", "LEAFLET_SHA256", "LeafletAssets", "leaflet_assets"]

LEAFLET_PACKAGE = "js_lib_leaflet"
LEAFLET_VERSION = "1.9.4"
# sha256 of the files of django-js-lib-leaflet==1.9.4.1 (pinned in pyproject.toml)
LEAFLET_SHA256 = {
    "leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "images/layers.png": "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6",
    "images/layers-2x.png": "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf",
}


@dataclass(frozen=True)
class LeafletAssets:
    """Leaflet ready to inline.

    Attributes
    ----------
    js
        ``leaflet.js`` exactly as shipped (its sha256 is ``LEAFLET_SHA256["leaflet.js"]``).
    css
        ``leaflet.css`` with the layer icons as ``data:`` URIs and the unused marker icon
        reference removed.
    """

    js: str
    css: str


def _read(name: str) -> bytes:
    path = resources.files(LEAFLET_PACKAGE).joinpath("static", "js_lib_leaflet", *name.split("/"))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != LEAFLET_SHA256[name]:
        raise CoverageError(
            f"{LEAFLET_PACKAGE}/{name}: sha256 {digest} is not the pinned "
            f"{LEAFLET_SHA256[name]}; reinstall django-js-lib-leaflet==1.9.4.1 "
            "(Leaflet 地图库文件与锁定版本不符，请重新安装)"
        )
    return data


@cache
def leaflet_assets() -> LeafletAssets:
    """Return Leaflet's script and stylesheet, checked against the pinned hashes.

    Returns
    -------
    LeafletAssets

    Raises
    ------
    CoverageError
        A file differs from the pinned package's (wrong version installed, or altered).

    Examples
    --------
    >>> assets = leaflet_assets()
    >>> 'version="1.9.4"' in assets.js, "url(images/" in assets.css
    (True, False)
    """
    js = _read("leaflet.js").decode("utf-8")
    css = _read("leaflet.css").decode("utf-8")
    for name in ("images/layers-2x.png", "images/layers.png"):
        uri = "data:image/png;base64," + base64.b64encode(_read(name)).decode("ascii")
        css = css.replace(f"url({name})", f"url({uri})")
    # the default marker icon is never drawn: drop its reference rather than inline it
    css = re.sub(r"background-image:\s*url\(images/marker-icon\.png\);?", "", css)
    # cannot happen with the pinned files; guards inlining them into <script>/<style>
    if re.search(r"</script|<script|<!--", js, re.I) or re.search(r"</style", css, re.I):
        raise CoverageError(f"{LEAFLET_PACKAGE}: a file cannot be inlined into HTML")
    return LeafletAssets(js=js, css=css)
