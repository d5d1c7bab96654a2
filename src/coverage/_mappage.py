"""The map page: Leaflet inlined, escaped texts, GeoJSON data layers and panels.

Everything :mod:`coverage.maps` puts into the HTML page goes through here: texts from input
files are escaped with :func:`escape_text`, data are JSON in ``<script type="application/json">``
blocks (never spliced into code or template literals), and a small runtime (``cpLayer``,
``cpPanel``) draws them with Leaflet alone: no jQuery, Bootstrap or Font Awesome.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

import folium
import numpy as np
import shapely
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from folium.template import Template

from coverage import coords
from coverage._leaflet import leaflet_assets

__all__ = [
    "CANVAS_ABOVE",
    "COORD_DECIMALS",
    "CoverageMap",
    "DataLayer",
    "Decor",
    "escape_text",
    "feature_collection",
    "js_data",
    "shift_round",
]

COORD_DECIMALS = 6
CANVAS_ABOVE = 1000  # layers with more features are drawn on a canvas, not as SVG paths

_ENTITIES = {"\\": "&#92;", "`": "&#96;", "$": "&#36;"}


def escape_text(value: Any) -> str:
    """Escape a text from an input file for HTML, JavaScript strings and template literals.

    Parameters
    ----------
    value
        Any value; ``None`` and NaN become ``""``.

    Returns
    -------
    str
        The text with ``& < > " '`` and also backslash, backtick and ``$`` as HTML entities,
        so it shows as itself in a tooltip, a popup or a legend and cannot end a string,
        a template literal or a tag.

    Examples
    --------
    >>> escape_text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape_text("${alert(2)}`\\\\")
    '&#36;{alert(2)}&#96;&#92;'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return re.sub(r"[\\`$]", lambda m: _ENTITIES[m.group(0)], text)


def js_data(value: Any) -> str:
    """JSON that is also safe inside an HTML ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _script_safe(text)


def _script_safe(text: str) -> str:
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# --------------------------------------------------------------------------------------------
# Leaflet elements (rendered by folium/branca into the page)

_RUNTIME_JS = """
function cpVal(o, i, v) {
  // numbers are formatted here (units once per layer, not once per feature)
  var f = o.fmt ? o.fmt[i] : null;
  if (f === 'min') return v === null ? o.none : o.units.min[0] + v.toFixed(1) + o.units.min[1];
  if (v === null || v === undefined) return '';
  if (f === 'hh') return o.units.hh[0] + Math.round(v).toLocaleString('en-US') + o.units.hh[1];
  if (f === 'ref') return o.refs[v];
  return v;
}
function cpTable(o, vals) {
  var h = '<table class="cp-pop">';
  for (var i = 0; i < o.fields.length; i++) {
    var v = cpVal(o, i, vals[i]);
    if (v === '') continue;
    h += '<tr><th>' + o.fields[i] + '</th><td>' + v + '</td></tr>';
  }
  return h + '</table>';
}
function cpLayer(data, o) {
  var st = o.styles, renderer = o.canvas ? L.canvas({padding: 0.5}) : null;
  var base = {interactive: o.interactive};
  if (o.attribution) base.attribution = o.attribution;
  if (renderer) base.renderer = renderer;
  var group = L.geoJSON(data, L.extend({}, base, {
    style: function (f) {
      // GeoJSON restyles every layer after creation: keep a circle's own radius
      var s = st[f.properties.s || 0];
      return f.properties.r ? L.extend({}, s, {radius: f.properties.r}) : s;
    },
    pointToLayer: function (f, ll) {
      var s = L.extend({}, base, st[f.properties.s || 0]);
      if (f.properties.r) s.radius = f.properties.r;
      return L.circleMarker(ll, s);
    },
    onEachFeature: function (f, layer) {
      if (f.properties.l !== undefined) {
        layer.bindTooltip(f.properties.l,
          {permanent: true, direction: 'center', className: 'cp-label'});
      }
    }
  }));
  if (o.interactive) {
    // one tooltip and one popup for the whole layer, filled from the feature under the mouse
    group.bindTooltip(function (layer) {
      var p = layer.feature.properties;
      if (p.l !== undefined) return '';
      return o.tip === null ? (p.h || '') : p.h + ' · ' + cpVal(o, o.tip, p.p[o.tip]);
    }, {sticky: true});
    group.bindPopup(function (layer) {
      var p = layer.feature.properties;
      return '<div class="cp-head">' + (p.h || '') + '</div>' + cpTable(o, p.p || []);
    }, {maxWidth: 400, minWidth: 220});
  }
  return group;
}
function cpPanel(map, position, cls, html) {
  var c = L.control({position: position});
  c.onAdd = function () {
    var d = L.DomUtil.create('div', 'cp-panel ' + cls);
    d.innerHTML = html;
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.disableScrollPropagation(d);
    return d;
  };
  return c.addTo(map);
}
"""

_CSS = """
.cp-panel { background: rgba(255,255,255,0.93); padding: 6px 10px; border-radius: 4px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.35); color: #222; max-width: 380px;
  font: 13px/1.5 "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei",
  "Helvetica Neue", Arial, sans-serif; }
.cp-title .cp-name { font-size: 16px; font-weight: bold; }
.cp-title .cp-service { font-size: 14px; }
.cp-title .cp-meta { color: #555; font-size: 12px; }
.cp-title .cp-sample, .cp-title .cp-gcj { color: #b2182b; font-weight: bold; font-size: 12px; }
.cp-legend .cp-h { font-weight: bold; margin-top: 4px; }
.cp-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid rgba(0,0,0,0.35); }
.cp-legend i.cp-dot { border-radius: 50%; border: 2px solid #fff;
  box-shadow: 0 0 0 1px rgba(0,0,0,0.4); width: 11px; height: 11px; }
.cp-legend i.cp-size { background: #a6d96a; border: 1px solid #4d4d4d; box-shadow: none;
  margin-right: 3px; vertical-align: middle; }
.cp-legend i.cp-gapkey { border: 2px dashed #a50026; background: transparent; }
.cp-legend i.cp-extentkey { height: 0; border-top: 2px dashed #555555; background: transparent;
  vertical-align: middle; }
.cp-pop { border-collapse: collapse; }
.cp-pop th { text-align: left; font-weight: normal; color: #555; padding: 1px 10px 1px 0;
  white-space: nowrap; vertical-align: top; }
.cp-pop td { padding: 1px 0; }
.cp-head { font-weight: bold; font-size: 14px; margin-bottom: 3px; }
.leaflet-tooltip.cp-label { background: transparent; border: 0; box-shadow: none;
  font-weight: bold; font-size: 12px; padding: 0; color: #000; }
.leaflet-tooltip.cp-label::before { display: none; }
.leaflet-container.cp-nobase { background: #f6f5f1; }
.leaflet-interactive:focus { outline: none; }
"""


class _RawHtml(Element):
    """Fixed HTML inserted as is (branca would treat the text as a Jinja template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


def _assets_html() -> str:
    assets = leaflet_assets()
    return (
        f"<style>{assets.css}</style>\n<style>{_CSS}</style>\n"
        f"<script>{assets.js}</script>\n<script>{_RUNTIME_JS}</script>\n"
    )


class CoverageMap(folium.Map):
    """A ``folium.Map`` whose page inlines Leaflet instead of linking CDN files.

    folium's default scripts and stylesheets (Leaflet from a CDN, jQuery, Bootstrap, Font
    Awesome, awesome-markers) are not linked: these maps need Leaflet alone.
    """

    default_js: list[tuple[str, str]] = []  # noqa: RUF012  (folium's class attribute)
    default_css: list[tuple[str, str]] = []  # noqa: RUF012

    def render(self, **kwargs: Any) -> Any:
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(_RawHtml(_assets_html()), name="coverage_assets", index=0)
        return super().render(**kwargs)


class DataLayer(Layer):
    """A GeoJSON layer drawn by the page's ``cpLayer``: shared styles, escaped texts."""

    colour = ""  # its legend colour, when it has one

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = cpLayer(
                JSON.parse(document.getElementById({{ this.data_id }}).textContent),
                {{ this.options }}
            );
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: str,
        *,
        name: str,
        styles: Sequence[dict[str, Any]],
        fields: Sequence[str] = (),
        tip: int | None = None,
        formats: dict[str, Any] | None = None,
        interactive: bool = True,
        canvas: bool = False,
        attribution: str | None = None,
        overlay: bool = True,
        control: bool = True,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=overlay, control=control, show=show)
        self._name = "CoverageLayer"
        # the data sit in a JSON data block, not in the code: the page opens faster when
        # the JavaScript parser does not have to read megabytes of literals
        self.data = _script_safe(data)
        self.data_id = js_data(f"{self.get_name()}_data")
        # thousands of SVG paths make the page slow to open: draw big layers on a canvas
        canvas = canvas or data.count('"type":"Feature"') > CANVAS_ABOVE
        self.options = js_data(
            {
                "styles": list(styles),
                "fields": list(fields),
                "tip": tip,
                "interactive": interactive,
                "canvas": canvas,
                "attribution": attribution,
                **(formats or {}),
            }
        )

    def render(self, **kwargs: Any) -> Any:
        figure = self.get_root()
        if isinstance(figure, Figure):
            block = f'<script type="application/json" id="{self.get_name()}_data">'
            figure.html.add_child(
                _RawHtml(block + self.data + "</script>\n"), name=f"{self.get_name()}_data"
            )
        return super().render(**kwargs)


class Decor(MacroElement):
    """Title, zoom buttons, scale bar and legend, in that order."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function (map) {
                {%- if this.nobase %}
                map.getContainer().classList.add('cp-nobase');
                {%- endif %}
                cpPanel(map, 'topleft', 'cp-title', {{ this.title }});
                L.control.zoom({{ this.zoom }}).addTo(map);
                L.control.scale({position: 'bottomleft', imperial: false}).addTo(map);
                cpPanel(map, 'bottomright', 'cp-legend', {{ this.legend }});
            })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, *, title_html: str, legend_html: str, nobase: bool, t: dict[str, str]):
        super().__init__()
        self._name = "CoverageDecor"
        self.title = js_data(title_html)
        self.legend = js_data(legend_html)
        self.zoom = js_data(
            {"position": "topleft", "zoomInTitle": t["zoom_in"], "zoomOutTitle": t["zoom_out"]}
        )
        self.nobase = nobase


# --------------------------------------------------------------------------------------------
# geometry


def shift_round(geoms: Any, *, gcj: bool) -> np.ndarray:
    """WGS-84 geometries -> (GCJ-02 when ``gcj``) rounded to ``COORD_DECIMALS``."""

    def move(xy: np.ndarray) -> np.ndarray:
        if gcj and len(xy):
            lon, lat = coords.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            xy = np.column_stack([lon, lat])
        return np.round(xy, COORD_DECIMALS)

    return np.asarray(shapely.transform(np.asarray(geoms), move))


def feature_collection(geoms: np.ndarray, props: Sequence[dict[str, Any]]) -> str:
    """A FeatureCollection as JSON text; missing or empty geometries are left out."""
    texts = shapely.to_geojson(geoms)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    parts = [
        f'{{"type":"Feature","geometry":{g},"properties":{dumps(p)}}}'
        for g, p, k in zip(texts, props, keep, strict=True)
        if k
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"
