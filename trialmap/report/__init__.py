"""``report.html``: one self-contained, interactive page to explore and share a run.

:func:`report_html` turns a run (a :class:`trialmap.pipeline.Run`, or anything with
the same attributes: ``snapshot``, ``definition``, ``tables``, ``inclusion_log``,
``flow``, ``categories``, ``country_counts``, ``region_counts``, ``rule``, ``as_of``,
``no_location``, ``included``, ``data_date``) into a single HTML file:

- the Figure 1 world map as inline SVG: the same Natural Earth boundaries
  (:func:`trialmap.boundaries.load_world`), Equal Earth projection and colour
  classes (:func:`_figure1_classes` is the one place they are taken from
  :mod:`trialmap.figures.worldmap`), simplified and rounded to 10 km. Every
  country shape carries ``data-iso3``, ``data-name``, ``data-n-trials``,
  ``data-n-sites`` and ``data-trial-share``; hovering or focusing one shows a
  tooltip, clicking it (or Enter) lists its trials, linked to ClinicalTrials.gov;
- a switch between the three counting rules (trials / sites / fractional) that
  re-colours the map from the data embedded in the page, without a server;
- sortable tables of countries, regions and all trials, the selection flow, the
  study-set definition and counting rule, a generated methods paragraph, the
  provenance summary and the data credits.

Nothing is fetched when the page is viewed: the script, styles and data are inline,
and a Content-Security-Policy allowing only the page's own script and style (by
hash) makes the browser refuse anything else. Every registry text is escaped with
:func:`html.escape`; the data travel as JSON in a ``<script type="application/json">``
with ``<``, ``>`` and ``&`` escaped, and the script writes them with ``textContent``
only. No text about a particular therapy is typed here: titles and labels come from
the run's definition, so the page works for any study set.

The page uses plain SVG and about 300 lines of JavaScript (``report.js``) and CSS
(``report.css``) shipped beside this module; no library earned its place: the map
is pre-projected in Python, so no d3/Leaflet is needed to draw it.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import html
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ReportHTML", "report_html", "write_report"]

#: Counting rules the page can switch between: name -> (count column, button label).
RULES: dict[str, tuple[str, str]] = {
    "trials": ("n_trials", "Trials"),
    "sites": ("n_sites", "Sites"),
    "fractional": ("trial_share", "Fractional trials"),
}
#: One SVG unit is this many metres of the Equal Earth map (10 km: under a pixel at any screen size).
SVG_UNIT_M = 10_000.0
#: Tolerance of the shared-border simplification, in metres.
SIMPLIFY_M = 8_000.0
#: Islands and holes smaller than this (SVG units², 1 = 100 km²) are left out of the map.
MIN_RING_AREA = 3.0
#: Radius of a tiny country's marker, in SVG units.
MARKER_R = 9
#: Credits links (the only absolute links of the page besides the trial records).
CREDIT_LINKS = {
    "ctgov": "https://clinicaltrials.gov/",
    "naturalearth": "https://www.naturalearthdata.com/",
    "geonames": "https://www.geonames.org/",
    "ccby": "https://creativecommons.org/licenses/by/4.0/",
}
STUDY_URL = "https://clinicaltrials.gov/study/"
#: Column headings of the count columns in the tables.
HEADINGS = {"n_trials": "Trials", "n_sites": "Sites", "trial_share": "Fractional"}

# How each step of the selection flow reads, without naming any therapy (the
# definition's title does that); other steps are shown by their name.
STEP_TEXT = {
    "records_read": "Records read from the snapshot",
    "unique_records": "Unique records (one per NCT number)",
    "posted_by_as_of": "First posted on or before the as-of date",
    "msc_confirmed": "Intervention accepted by the definition",
    "study_type": "Study type included by the definition",
    "in_scope": "Condition in a category of the definition",
    "with_site": "At least one site listed",
    "with_mapped_country": "A site in a mapped country (the trials on the map)",
}


# The same steps in the methods paragraph ("Of 1,783 records read, 1,783 were unique; ...").
FLOW_PHRASE = {
    "unique_records": "{n} were unique",
    "posted_by_as_of": "{n} were first posted on or before the as-of date",
    "msc_confirmed": "{n} tested an intervention the definition accepts",
    "study_type": "{n} were of a study type it includes ({types})",
    "in_scope": "{n} studied a condition in one of its disease categories",
    "with_site": "{n} listed at least one site",
    "with_mapped_country": "{n} had a site in a country that could be mapped",
}


def esc(value: Any) -> str:
    """HTML-escaped text (quotes too, so it is safe in attribute values); "" for missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value), quote=True)


def _fmt(v: float) -> str:
    """A count as shown: whole numbers without decimals, fractional shares with one."""
    v = float(v)
    return f"{int(v):,}" if v.is_integer() else f"{v:,.1f}"


def _json_for_script(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</``, ``<!--`` or ``]]>``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


# ---------------------------------------------------------------------------
# Colour classes: the one call site of Figure 1's classes.


def _figure1_classes(values: pd.Series) -> tuple[list[int], list[str], list[tuple[str, str]]]:
    """Figure 1's colour classes for one counting rule's values (one per country).

    Returns the class of each value (-1: none, drawn in the no-trials tint), its
    fill, and the legend as (label, colour), "0" first. The classes are Figure 1's
    own, derived from the data (:class:`trialmap.figures.worldmap.Classes`), so the
    map on the page and the figure agree for every rule.
    """
    from matplotlib.colors import to_hex

    from trialmap.figures.worldmap import NO_TRIALS_COLOR, Classes, classify

    v = pd.to_numeric(pd.Series(values), errors="coerce").fillna(0).astype(float).reset_index(drop=True)
    classes = Classes.from_values(v[v > 0], "")
    fills = [to_hex(c) for c in classes.colors_for(v)]
    idx = [int(i) for i in classify(v, classes.edges)]
    palette = [to_hex(c) for c in classes.colors]
    legend = [("0", to_hex(NO_TRIALS_COLOR)), *zip(classes.labels, palette, strict=True)]
    return idx, fills, legend


def _no_trials_color() -> str:
    from matplotlib.colors import to_hex

    from trialmap.figures.worldmap import NO_TRIALS_COLOR

    return to_hex(NO_TRIALS_COLOR)


# ---------------------------------------------------------------------------
# The map: projected, simplified, rounded SVG paths.


def _ring(coords: np.ndarray, unit: float) -> tuple[str, float]:
    """One closed ring as SVG path data in whole ``unit``s (relative moves) and its area in unit²;
    ("", 0) if it vanishes when rounded."""
    c = np.round(np.asarray(coords, float)[:, :2] / unit).astype(np.int64)
    c[:, 1] = -c[:, 1]  # SVG y grows downwards
    keep = np.r_[True, np.any(np.diff(c, axis=0) != 0, axis=1)]
    c = c[keep]
    if (c[0] == c[-1]).all():
        c = c[:-1]
    if len(c) < 3:  # fewer than three distinct corners once rounded
        return "", 0.0
    x, y = c[:, 0].astype(float), c[:, 1].astype(float)
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    nums = " ".join(str(int(n)) for n in np.diff(c, axis=0).ravel()).replace(" -", "-")
    return f"M{c[0, 0]} {c[0, 1]}l{nums}z", area


def _geom_d(geom, unit: float, min_area: float = MIN_RING_AREA) -> str:
    """Path data of a (multi)polygon; islands and holes under ``min_area`` unit² are left out
    (specks at world scale; tiny countries get a marker), but never a unit's largest polygon."""
    if geom is None or geom.is_empty:
        return ""
    polys = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon":
            continue
        d, area = _ring(np.asarray(poly.exterior.coords), unit)
        if d:
            holes = [_ring(np.asarray(r.coords), unit) for r in poly.interiors]
            polys.append((area, d + "".join(h for h, a in holes if h and a >= min_area)))
    if not polys:
        return ""
    largest = max(a for a, _ in polys)
    return "".join(d for a, d in polys if a >= min_area or a == largest)


def _marker_d(x: float, y: float, r: float = MARKER_R) -> str:
    """A circle as path data (so a marker is highlighted like any other country shape)."""
    return f"M{x - r:.0f} {y:.0f}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0z"


@dataclasses.dataclass(frozen=True)
class MapShapes:
    """The world map in SVG units: one path per country, the unattributed areas, markers."""

    view_box: tuple[float, float, float, float]
    countries: dict[str, str]  # iso3 -> path data
    names: dict[str, str]  # iso3 -> boundary name
    other: list[str]  # areas with no country code (disputed, sovereign bases...)
    markers: dict[str, tuple[float, float]]  # iso3 -> centre, for the tiny and the polygon-less


def map_shapes(
    world=None, marked: Iterable[str] = (), *, unit: float = SVG_UNIT_M, tolerance: float = SIMPLIFY_M
) -> MapShapes:
    """Project ``world`` (default :func:`trialmap.boundaries.load_world`) as Figure 1 does.

    Equal Earth, Antarctica left out (Figure 1 frames the land without it), shared
    borders simplified together (:func:`shapely.coverage_simplify`, so neighbours
    still meet), coordinates rounded to ``unit`` metres. ``marked`` names the
    countries to give a marker: those among them that are tiny at world scale or
    have no polygon (former codes: their successor's point). The default world's
    paths are computed once per process.
    """
    import geopandas as gpd

    from trialmap import boundaries
    from trialmap.figures.worldmap import EQUAL_EARTH

    if world is None:
        view_box, countries, names, other, tiny = default_world_paths(unit, tolerance)
    else:
        view_box, countries, names, other, tiny = world_paths(world, unit, tolerance)
    points = boundaries.country_points().set_index("iso3")
    want = [
        iso for iso in dict.fromkeys(marked) if iso in points.index and (iso in tiny or iso not in countries)
    ]
    markers = {}
    if want:
        pts = gpd.GeoSeries(
            gpd.points_from_xy(points.loc[want, "lon"], points.loc[want, "lat"]), crs="EPSG:4326"
        ).to_crs(EQUAL_EARTH)
        markers = {iso: (p.x / unit, -p.y / unit) for iso, p in zip(want, pts, strict=True)}
    return MapShapes(view_box, dict(countries), dict(names), list(other), markers)


#: The default world's paths, precomputed (a second per run otherwise): rebuilt by
#: ``python -m trialmap.report.build`` whenever the boundaries or the settings change;
#: tests/test_report.py checks the file equals a fresh computation.
PATHS_FILE = Path(__file__).with_name("world_paths.json")


def world_paths_key(unit: float, tolerance: float) -> dict[str, Any]:
    from trialmap import boundaries
    from trialmap.paths import sha256_file

    return {"boundaries_sha256": sha256_file(boundaries.world_path()), "unit": unit, "tolerance": tolerance,
            "min_ring_area": MIN_RING_AREA}


@functools.cache
def default_world_paths(unit: float, tolerance: float):
    import json

    from trialmap import boundaries

    if PATHS_FILE.is_file():
        saved = json.loads(PATHS_FILE.read_text(encoding="utf-8"))
        if saved.get("key") == world_paths_key(unit, tolerance):
            return (tuple(saved["view_box"]), saved["countries"], saved["names"], tuple(saved["other"]),
                    frozenset(saved["tiny"]))
    return world_paths(boundaries.load_world(), unit, tolerance)


def world_paths(world, unit: float, tolerance: float):
    """(view box, iso3 -> path data, iso3 -> name, unattributed areas' path data, tiny iso3s)."""
    import shapely

    from trialmap.figures.worldmap import EQUAL_EARTH

    geo = world[world["iso3"] != "ATA"].to_crs(EQUAL_EARTH)
    xmin, ymin, xmax, ymax = geo.total_bounds / unit
    pad = 0.01 * (xmax - xmin)
    view_box = (
        round(xmin - pad, 1), round(-ymax - pad, 1), round(xmax - xmin + 2 * pad, 1),
        round(ymax - ymin + 2 * pad, 1),
    )
    simple = shapely.coverage_simplify(geo.geometry.to_numpy(), tolerance)
    parts: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    other = []
    for iso, name, geom in zip(geo["iso3"], geo["name"], simple, strict=True):
        d = _geom_d(geom, unit)
        if not iso:
            if d:
                other.append(d)
            continue
        parts.setdefault(iso, []).append(d)
        names.setdefault(iso, str(name))  # the largest unit comes first
    tiny = frozenset(geo.loc[geo["tiny"], "iso3"])
    return view_box, {k: "".join(v) for k, v in parts.items()}, names, tuple(other), tiny


# ---------------------------------------------------------------------------
# The run's data, as the page shows them.


def _phase(value: Any) -> str:
    if value is None or pd.isna(value) or not str(value).strip():
        return ""
    parts = []
    for p in str(value).split("|"):
        p = p.strip().upper()
        if p in {"NA", "N/A"}:
            parts.append("Not applicable")
        elif p.startswith("EARLY_PHASE"):
            parts.append("Early phase " + p.removeprefix("EARLY_PHASE"))
        elif p.startswith("PHASE"):
            parts.append("Phase " + p.removeprefix("PHASE"))
        else:
            parts.append(p.replace("_", " ").capitalize())
    if len(parts) > 1 and all(p.startswith("Phase ") for p in parts):
        return "Phase " + "/".join(p.removeprefix("Phase ") for p in parts)
    return "/".join(parts)


def _status(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    text = str(value).replace("_", " ").strip().capitalize()
    return text.replace("Active not recruiting", "Active, not recruiting")


def _year(value: Any) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(pd.Timestamp(value).year)


def counted_trials(run) -> pd.DataFrame:
    """The (trial, country) pairs the run's counts are made of, with the sites of each.

    The same rows :func:`trialmap.aggregate.country_counts` tallies for the run:
    its rule's switches (withdrawn sites, removed countries), its study set.

    Returns
    -------
    DataFrame
        ``nct_id``, ``iso3``, ``n_sites``; ``n_trials`` of a country is its number of rows.
    """
    from trialmap import aggregate, countries

    rule = run.rule
    ids = pd.Index(run.included)
    removed = None
    if getattr(rule, "removed_countries", False):
        removed = aggregate.removed_country_rows(run.tables.studies, countries.to_iso3)
        # As the pipeline counts it: in-scope trials that left at a site step may count there.
        log = run.inclusion_log
        in_scope = log.loc[log["step"].isin(["included", "with_site", "with_mapped_country"]), "nct_id"]
        ids = pd.Index(in_scope)
    rows = aggregate.counted_sites(run.tables.sites, ids, rule, removed)
    out = rows.groupby(["nct_id", "iso3"], sort=True)["is_site"].sum().rename("n_sites").reset_index()
    return out.astype({"nct_id": "string", "iso3": "string", "n_sites": "int64"})


def _category_labels(run) -> dict[str, str]:
    return {c.key: c.label for c in getattr(run.definition, "categories", ())}


def trial_records(run, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """NCT id -> title, phase, status, start year, disease categories (labels), for ``ids``."""
    ids = list(dict.fromkeys(str(i) for i in ids))
    studies = run.tables.studies
    s = studies[studies["nct_id"].isin(ids)].drop_duplicates("nct_id").set_index("nct_id")
    labels = _category_labels(run)
    cats = run.categories[run.categories["nct_id"].isin(ids)]
    by_trial = (
        cats.assign(label=cats["category"].map(lambda k: labels.get(k, k)))
        .groupby("nct_id")["label"].agg(lambda x: list(dict.fromkeys(x)))
        .to_dict()
    )
    # column by column, not row by row (a .loc per trial was most of the report's time)
    fields = ("title", "phases", "overall_status", "start_date")
    cols = {c: dict(zip(s.index, s[c].tolist(), strict=True)) for c in fields if c in s.columns}
    out = {}
    for nct in sorted(ids):

        def get(col: str, nct=nct) -> Any:
            return cols[col].get(nct) if col in cols else None

        out[nct] = {
            "title": "" if pd.isna(get("title")) else str(get("title")),
            "phase": _phase(get("phases")),
            "status": _status(get("overall_status")),
            "start": _year(get("start_date")),
            "categories": by_trial.get(nct, []),
        }
    return out


def _country_names(run, shapes: MapShapes) -> dict[str, str]:
    names = dict(shapes.names)
    cc = run.country_counts
    names.update({str(i): str(n) for i, n in zip(cc["iso3"], cc["country"], strict=True) if pd.notna(i)})
    return names


def page_data(run, shapes: MapShapes) -> dict[str, Any]:
    """Everything the page's script needs, JSON-ready: rules, per-country numbers and trials."""
    cc = run.country_counts[run.country_counts["iso3"].notna()].reset_index(drop=True)
    pairs = counted_trials(run)
    by_country = {
        str(iso): [[str(n), int(k)] for n, k in zip(g["nct_id"], g["n_sites"], strict=True)]
        for iso, g in pairs.groupby("iso3")
    }
    rules: dict[str, Any] = {}
    classes: dict[str, tuple[list[int], list[str]]] = {}
    for name, (column, label) in RULES.items():
        cls, fills, legend = _figure1_classes(cc[column])
        classes[name] = (cls, fills)
        rules[name] = {
            "column": column, "label": label, "describe": _describe(run.rule, name),
            "legend": legend, "title": f"{label} per country",
        }
    countries = {}
    for i, row in enumerate(cc.itertuples(index=False)):
        countries[str(row.iso3)] = {
            "name": str(row.country),
            "n_trials": int(row.n_trials),
            "n_sites": int(row.n_sites),
            "trial_share": round(float(row.trial_share), 4),
            "fill": {r: classes[r][1][i] for r in RULES},
            "cls": {r: classes[r][0][i] for r in RULES},
            "trials": by_country.get(str(row.iso3), []),
        }
    return {
        "rule": run.rule.name if run.rule.name in RULES else "trials",
        "rules": rules,
        "none": _no_trials_color(),
        "countries": countries,
        "trials": trial_records(run, pairs["nct_id"]),
        "study_url": STUDY_URL,
    }


def _describe(rule, name: str) -> str:
    """The run's rule (its switches) described under another rule name, as a sentence."""
    try:
        text = dataclasses.replace(rule, name=name).describe()
    except (TypeError, ValueError):  # not a dataclass: fall back to the run's own text
        text = rule.describe() if rule.name == name else name
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------
# HTML


def _svg(run, shapes: MapShapes, data: Mapping[str, Any]) -> str:
    names = _country_names(run, shapes)
    rule = data["rule"]
    none = data["none"]
    info = data["countries"]

    def attrs(iso: str, focusable: bool) -> str:
        c = info.get(iso)
        n_t, n_s, share = (c["n_trials"], c["n_sites"], c["trial_share"]) if c else (0, 0, 0.0)
        fill = c["fill"][rule] if c else none
        cls = c["cls"][rule] if c else -1
        label = f"{names.get(iso, iso)}: {_fmt(n_t)} trials, {_fmt(n_s)} sites"
        a = (
            f' data-iso3="{esc(iso)}" data-name="{esc(names.get(iso, iso))}" data-n-trials="{n_t}"'
            f' data-n-sites="{n_s}" data-trial-share="{share:g}" data-class="{cls}" fill="{esc(fill)}"'
        )
        if focusable:
            a += f' tabindex="0" role="button" aria-label="{esc(label)}"'
        return a

    has_data = {iso for iso, c in info.items() if c["n_trials"] or c["n_sites"] or c["trial_share"]}
    order = sorted(shapes.countries, key=lambda i: (names.get(i, i).casefold(), i))
    lines = []
    for iso in order:
        d = shapes.countries[iso]
        if not d:
            continue
        focus = iso in has_data and iso not in shapes.markers
        lines.append(f'<path class="country"{attrs(iso, focus)} d="{d}"/>')
    other = "".join(f'<path d="{d}"/>' for d in shapes.other)
    markers = [
        f'<path class="country marker"{attrs(iso, True)} d="{_marker_d(x, y)}"/>'
        for iso, (x, y) in sorted(shapes.markers.items(), key=lambda kv: names.get(kv[0], kv[0]).casefold())
        if iso in has_data
    ]
    vb = " ".join(f"{v:g}" for v in shapes.view_box)
    title = getattr(run.definition, "title", "") or run.definition.label
    n_countries = len(has_data)
    return (
        f'<svg id="map" viewBox="{vb}" role="group" aria-labelledby="map-title" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="map-title">World map: {esc(title)}, {n_countries} countries with trials '
        f'(Equal Earth projection)</title>'
        f'<g id="countries" stroke="#b4b4b4">{"".join(lines)}</g>'
        f'<g id="other-areas" fill="{esc(none)}" stroke="#b4b4b4" aria-hidden="true">{other}</g>'
        f'<g id="markers" stroke="#333333">{"".join(markers)}</g>'
        '<path id="hl-selected" class="outline" d="" aria-hidden="true"/>'
        '<path id="hl-hover-halo" class="outline halo" d="" aria-hidden="true"/>'
        '<path id="hl-hover" class="outline" d="" aria-hidden="true"/>'
        "</svg>"
    )


def _sort_th(
    label: str, kind: str = "text", *, sorted_desc: bool = False, key: str = "", cls: str = ""
) -> str:
    aria = ' aria-sort="descending"' if sorted_desc else ""
    data_key = f' data-key="{esc(key)}"' if key else ""
    klass = f' class="{esc(cls)}"' if cls else ""
    return (
        f'<th scope="col"{klass} data-type="{kind}"{data_key}{aria}><button type="button">{esc(label)}'
        '<span class="arrow" aria-hidden="true"></span></button></th>'
    )


def _num_td(v: float, column: str = "") -> str:
    shown = f"{float(v):,.1f}" if column == "trial_share" else _fmt(v)
    return f'<td class="num" data-v="{float(v):.6g}">{shown}</td>'


def _countries_table(run, data: Mapping[str, Any]) -> str:
    rule_col = RULES[data["rule"]][0]
    head = (
        _sort_th("Country") + _sort_th("ISO3", cls="iso")
        + "".join(
            _sort_th(HEADINGS[c], "num", sorted_desc=(c == rule_col), key=c) for c, _ in RULES.values()
        )
    )
    rows = []
    for iso, c in data["countries"].items():
        rows.append(
            f'<tr data-iso3="{esc(iso)}"><th scope="row" data-v="{esc(c["name"])}">'
            f'<button type="button" class="pick" data-iso3="{esc(iso)}">{esc(c["name"])}</button></th>'
            f'<td class="iso" data-v="{esc(iso)}">{esc(iso)}</td>'
            + "".join(_num_td(c[col], col) for col, _ in RULES.values()) + "</tr>"
        )
    note = ""
    nl = run.no_location
    if nl is not None and len(nl) and int(nl["n_trials"].iloc[0]) > 0:
        n = int(nl["n_trials"].iloc[0])
        note = (
            f'<p class="note">{esc(nl["country"].iloc[0])}: {n} in-scope trial{"s" if n != 1 else ""} '
            "with no counted site, not on the map.</p>"
        )
    return (
        '<div class="scroll"><table id="countries-table" class="sortable">'
        f"<caption>Countries hosting trials ({len(rows)}); a multinational trial counts in each of its "
        "countries. Select a name to list its trials.</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def _regions_table(run) -> str:
    rc = run.region_counts
    head = (
        _sort_th("Region") + _sort_th("Scheme", cls="scheme")
        + "".join(_sort_th(HEADINGS[col], "num", key=col) for col, _ in RULES.values())
        + _sort_th("Countries", "num")
    )
    rows = []
    for r in rc.itertuples(index=False):
        scheme = getattr(r, "scheme", "")
        rows.append(
            f'<tr><th scope="row" data-v="{esc(r.region)}">{esc(r.region)}'
            f'<span class="scheme-inline">{esc(scheme)}</span></th>'
            f'<td class="scheme" data-v="{esc(scheme)}">{esc(scheme)}</td>'
            + "".join(_num_td(getattr(r, col), col) for col, _ in RULES.values())
            + (_num_td(r.n_countries) if hasattr(r, "n_countries") else "<td></td>") + "</tr>"
        )
    return (
        '<div class="scroll"><table id="regions-table" class="sortable">'
        "<caption>Regions: distinct trials with a site in any member country (not the sum of its "
        "countries), the sites in its members, and the sum of its members' fractional shares.</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _exclusion_reasons(run) -> dict[str, list[tuple[str, int]]]:
    from trialmap.figures.flow import exclusion_reasons

    try:
        return exclusion_reasons(run.inclusion_log)
    except KeyError:
        return {}


def _flow_table(run) -> str:
    reasons = _exclusion_reasons(run)
    rows = []
    for r in run.flow.itertuples(index=False):
        why = "; ".join(f"{k} ({v:,})" for k, v in reasons.get(str(r.step), []))
        rows.append(
            f'<tr><th scope="row">{esc(STEP_TEXT.get(str(r.step), str(r.step)))}'
            f' <code>{esc(r.step)}</code></th>'
            f'<td class="num" data-label="Remaining">{int(r.n_remaining):,}</td>'
            f'<td class="num" data-label="Left">{int(r.n_excluded):,}</td>'
            + (f'<td data-label="Reasons">{esc(why)}</td>' if why else "<td></td>") + "</tr>"
        )
    return (
        '<div class="scroll"><table id="flow-table" class="cards"><caption>Selection flow: records '
        "remaining after each step, those that left there and why (most common reasons).</caption>"
        '<thead><tr><th scope="col">Step</th><th scope="col" class="num">Remaining</th>'
        '<th scope="col" class="num">Left</th><th scope="col">Reasons for leaving</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _definition_section(run) -> str:
    d = run.definition
    switches = getattr(d, "switches", {}) or {}
    sw = "".join(
        f"<li><code>{esc(k)}</code>: {'included' if v else 'excluded'}</li>" for k, v in switches.items()
    )
    cats = run.categories[run.categories["nct_id"].isin(pd.Index(run.included))]
    per_cat = cats.groupby("category")["nct_id"].nunique().to_dict()
    active = d.active_categories() if hasattr(d, "active_categories") else getattr(d, "categories", ())
    cat_rows = "".join(
        f'<tr><th scope="row">{esc(c.label)}</th><td>{esc(c.group)}</td>'
        f'<td class="num">{int(per_cat.get(c.key, 0))}</td></tr>'
        for c in active
    )
    study_types = ", ".join(str(t).lower().replace("_", " ") for t in getattr(d, "study_types", ()))
    return (
        f"<p><strong>{esc(getattr(d, 'title', '') or d.label)}</strong>"
        + (f": {esc(d.description)}" if getattr(d, "description", "") else "") + "</p>"
        "<dl>"
        f"<dt>Definition</dt><dd><code>{esc(d.label)}</code>"
        + (f" ({esc(d.source)})" if getattr(d, "source", "") else "") + "</dd>"
        + (f"<dt>Study types</dt><dd>{esc(study_types)}</dd>" if study_types else "")
        + (f"<dt>Judgement calls (switches)</dt><dd><ul>{sw}</ul></dd>" if sw else "")
        + f'<dt>Counting rule of this run</dt><dd id="run-rule">{esc(run.rule.describe())}</dd>'
        + "</dl>"
        + (
            '<div class="scroll"><table id="categories-table"><caption>Disease categories of the '
            "definition: trials on the map in each (a trial can be in several).</caption>"
            '<thead><tr><th scope="col">Category</th><th scope="col">Group</th>'
            f'<th scope="col" class="num">Trials</th></tr></thead><tbody>{cat_rows}</tbody></table></div>'
            if cat_rows else ""
        )
    )


def _version() -> str:
    import trialmap

    return str(getattr(trialmap, "__version__", "unknown"))


def _gazetteer_sites(run) -> int:
    sites = run.tables.sites
    if "geo_source" not in sites.columns:
        return 0
    s = sites[sites["nct_id"].isin(pd.Index(run.included))]
    return int((s["geo_source"] == "gazetteer").sum())


def methods_paragraph(run) -> str:
    """A short Methods paragraph, every number from ``run`` (plain text)."""
    d = run.definition
    m = run.snapshot.manifest
    steps = [(str(r.step), int(r.n_remaining)) for r in run.flow.itertuples(index=False)]
    n_read = steps[0][1] if steps else 0
    final = steps[-1][1] if steps else len(run.included)
    n_countries = int((run.country_counts["n_trials"] > 0).sum())
    types = ", ".join(str(t).lower().replace("_", " ") for t in getattr(d, "study_types", ()))
    phrases = [
        FLOW_PHRASE.get(step, "{n} remained after the step “" + step + "”").format(n=f"{n:,}", types=types)
        for step, n in steps[1:]
    ]
    switches = getattr(d, "switches", {}) or {}
    sw = ", ".join(f"{k} {'included' if v else 'excluded'}" for k, v in switches.items())
    source = m.get("source") if isinstance(m.get("source"), Mapping) else {}
    registry = source.get("registry", "ClinicalTrials.gov")
    text = (
        f"Trial records came from {registry} (U.S. National Library of Medicine), registry data date "
        f"{run.data_date}, snapshot {run.snapshot.id}. They were selected with the study-set definition "
        f"“{getattr(d, 'title', '') or d.label}” ({d.label}"
        + (f"; judgement calls: {sw}" if sw else "") + "). "
        + (f"Of {n_read:,} records read, " + "; ".join(phrases) + ". " if phrases else "")
        + f"The {final:,} trials on the map have sites in {n_countries} countries. "
    )
    if run.as_of:
        text += (
            f"Only trials first posted on or before {run.as_of} were kept; their sites and conditions are "
            f"as the {run.data_date} snapshot records them. "
        )
    rule = run.rule.describe()
    text += (
        f"Counting: {rule[:1].upper() + rule[1:]}. A region counts distinct trials with a site in any "
        "member country, so it is not the sum of its countries. The map uses the equal-area Equal Earth "
        "projection and Natural Earth admin-0 boundaries, simplified."
    )
    return text


def _provenance_section(run) -> str:
    m = run.snapshot.manifest
    files = m.get("files") or []
    file_items = "".join(
        f"<li><code>{esc(f.get('name', ''))}</code> SHA-256 "
        f"<code>{esc(str(f.get('sha256', ''))[:16])}…</code></li>"
        for f in files if isinstance(f, Mapping)
    )
    fetch = getattr(run, "fetch", None)
    fetch_note = ""
    if isinstance(fetch, Mapping) and fetch.get("fallback"):
        when = str(fetch.get("attempted_utc", ""))[:10]
        fetch_note = (
            "<dt>Fetch</dt><dd>Not fetched: the registry API could not be reached"
            f"{' on ' + esc(when) if when else ''}; this is a local snapshot.</dd>"
        )
    synthetic = (
        '<p class="warning"><strong>Synthetic data</strong>: this snapshot is not real registry data.</p>'
        if m.get("synthetic") else ""
    )
    rows = [
        ("Snapshot", f"<code>{esc(run.snapshot.id)}</code>"
         + (f" — {esc(m['title'])}" if m.get("title") else "")),
        ("Registry data date", esc(run.data_date)),
        ("Records in the snapshot", esc(f"{m['record_count']:,}" if isinstance(m.get("record_count"), int)
                                        else m.get("record_count", ""))),
        ("As of", esc(run.as_of) if run.as_of else "not an as-of replay: every trial of the snapshot"),
        ("Study-set definition", f"<code>{esc(run.definition.label)}</code>"),
        ("Counting rule", esc(run.rule.describe())),
        ("Generated by", f"trialmap {esc(_version())}"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + fetch_note
    if file_items:
        dl += f"<dt>Snapshot files</dt><dd><ul>{file_items}</ul></dd>"
    return f"{synthetic}<dl>{dl}</dl>"


def _credits_section(run) -> str:
    from trialmap.provenance import CTGOV_CREDIT, NE_CREDIT

    attribution = run.snapshot.manifest.get("attribution")
    items = [
        f'<li>Trial records: <a href="{CREDIT_LINKS["ctgov"]}">{esc(CTGOV_CREDIT)}</a>, registry data date '
        f"{esc(run.data_date)}"
        + (f" (the snapshot's attribution: “{esc(attribution)}”)" if attribution else "") + ".</li>",
        f'<li>Country boundaries: <a href="{CREDIT_LINKS["naturalearth"]}">{esc(NE_CREDIT)}</a>, '
        "1:10m admin-0 countries, simplified (the disclaimer is under the map).</li>",
    ]
    n_gaz = _gazetteer_sites(run)
    if n_gaz:
        from trialmap.provenance import GEONAMES_CREDIT

        items.append(
            f'<li>Place coordinates of {n_gaz:,} sites in the run\'s tables: '
            f'<a href="{CREDIT_LINKS["geonames"]}">{esc(GEONAMES_CREDIT)}</a> '
            f'(<a href="{CREDIT_LINKS["ccby"]}">licence</a>). The map colours whole countries and does '
            "not draw them.</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def _all_trials_table(run, data: Mapping[str, Any], names: Mapping[str, str]) -> str:
    trials = data["trials"]
    where: dict[str, list[str]] = {}
    for iso, c in data["countries"].items():
        for nct, _ in c["trials"]:
            where.setdefault(nct, []).append(names.get(iso, iso))
    rows = []
    for nct, t in trials.items():
        start = t["start"]
        rows.append(
            f'<tr><th scope="row" data-v="{esc(nct)}"><a href="{STUDY_URL}{esc(nct)}" target="_blank" '
            f'rel="noopener noreferrer">{esc(nct)}</a></th>'
            f'<td data-label="Title" class="title">{esc(t["title"])}</td>'
            f'<td data-label="Phase" class="meta">{esc(t["phase"])}</td>'
            f'<td data-label="Status" class="meta">{esc(t["status"])}</td>'
            f'<td data-label="Start" class="num meta" data-v="{"" if start is None else start}">'
            f'{"" if start is None else start}</td>'
            f'<td data-label="Categories">{esc("; ".join(t["categories"]))}</td>'
            f'<td data-label="Countries">{esc(", ".join(sorted(where.get(nct, []))))}</td></tr>'
        )
    head = (
        _sort_th("NCT id") + _sort_th("Title") + _sort_th("Phase") + _sort_th("Status")
        + _sort_th("Start", "num") + '<th scope="col">Disease categories</th><th scope="col">Countries</th>'
    )
    return (
        f'<details id="all-trials"><summary>All {len(rows)} trials on the map</summary>'
        '<div class="scroll"><table id="trials-table" class="sortable trials cards">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _rule_switch(data: Mapping[str, Any]) -> str:
    radios = "".join(
        f'<label><input type="radio" name="rule" value="{esc(name)}"'
        f'{" checked" if name == data["rule"] else ""}> {esc(r["label"])}</label>'
        for name, r in data["rules"].items()
    )
    return f'<fieldset id="rule-switch"><legend>Count per country</legend>{radios}</fieldset>'


def _swatch(color: str) -> str:
    # An SVG swatch: its colour is an attribute, not a style (the page allows no style attributes).
    return (
        '<svg class="swatch" viewBox="0 0 14 10" width="14" height="10" aria-hidden="true">'
        f'<rect width="14" height="10" fill="{esc(color)}" stroke="#999"/></svg>'
    )


def _legend(data: Mapping[str, Any]) -> str:
    r = data["rules"][data["rule"]]
    items = "".join(
        f'<li>{_swatch(c)}{esc(lab)}</li>' for lab, c in r["legend"]
    )
    return f'<div id="legend"><span id="legend-title">{esc(r["title"])}</span><ul>{items}</ul></div>'


def report_html(run) -> str:
    """The report of ``run`` as one self-contained HTML document (see the module docstring).

    Parameters
    ----------
    run
        A :class:`trialmap.pipeline.Run` (or :class:`trialmap.pipeline.Run`): anything with
        ``snapshot``, ``definition``, ``tables``, ``inclusion_log``, ``flow``,
        ``categories``, ``country_counts``, ``region_counts``, ``rule``, ``as_of``,
        ``no_location``, ``included`` and ``data_date``.

    Returns
    -------
    str
        The page; nothing in it is fetched when it is viewed.
    """
    cc = run.country_counts
    hosting = cc["iso3"].notna() & ((cc["n_trials"] > 0) | (cc["n_sites"] > 0))
    marked = [str(i) for i in cc.loc[hosting, "iso3"]]
    shapes = map_shapes(marked=marked)
    data = page_data(run, shapes)
    names = _country_names(run, shapes)
    from trialmap.figures.worldmap import BOUNDARY_DISCLAIMER

    d = run.definition
    title = getattr(d, "title", "") or d.label
    n_countries = sum(1 for c in data["countries"].values() if c["n_trials"] > 0)
    n_trials = len(run.included)
    css = _asset("report.css")
    js = _asset("report.js")
    # Only this page's own script and style run (by hash): nothing is fetched, nothing injected runs.
    csp = (
        f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    as_of = f", as of {esc(run.as_of)}" if run.as_of else ""
    body = f"""<a class="skip" href="#tables">Skip the map</a>
<header>
<p class="kicker">trialmap report · ClinicalTrials.gov</p>
<h1>{esc(title)}</h1>
<ul class="sub"><li>{n_trials:,} trials with sites in {n_countries} countries</li>
<li>registry data date {esc(run.data_date)}{as_of}</li><li>snapshot <code>{esc(run.snapshot.id)}</code></li>
<li>definition <code>{esc(d.label)}</code></li></ul>
</header>
<main>
<section id="map-section" aria-labelledby="map-heading">
<h2 id="map-heading" class="visually-hidden">World map of trials per country</h2>
<div class="toolbar">{_rule_switch(data)}{_legend(data)}</div>
<figure id="map-figure">
<div id="map-wrap">{_svg(run, shapes, data)}<div id="tooltip" role="tooltip" hidden></div></div>
<figcaption><p id="rule-describe">{esc(data["rules"][data["rule"]]["describe"])}.</p>
<p class="hint"><span class="pointer">Hover or focus a country for its numbers; click it or press Enter to
list its trials below. Countries with trials are in the tab order (alphabetical; those drawn as dots
last).</span>
<span class="touch">Tap a country for its numbers and its trials (listed below the map), or pick one in the
table of countries.</span> Equal Earth projection.</p>
<p class="disclaimer">{esc(BOUNDARY_DISCLAIMER)}</p></figcaption>
</figure>
<section id="selection" aria-live="polite" tabindex="-1">
<h3 id="selection-heading">Trials by country</h3>
<p id="selection-empty">Select a country on the map or in the table to list its trials.</p>
</section>
</section>
<div id="tables" class="grid">
<section id="countries" aria-labelledby="countries-heading"><h2 id="countries-heading">Countries</h2>
{_countries_table(run, data)}</section>
<section id="regions" aria-labelledby="regions-heading"><h2 id="regions-heading">Regions</h2>
{_regions_table(run)}</section>
</div>
<section id="flow" aria-labelledby="flow-heading"><h2 id="flow-heading">Selection flow</h2>
{_flow_table(run)}</section>
<section id="trials" aria-labelledby="trials-heading"><h2 id="trials-heading">Trials</h2>
{_all_trials_table(run, data, names)}</section>
<section id="definition" aria-labelledby="definition-heading">
<h2 id="definition-heading">Study set and counting rule</h2>
{_definition_section(run)}</section>
<section id="methods" aria-labelledby="methods-heading"><h2 id="methods-heading">Methods</h2>
<p id="methods-text">{esc(methods_paragraph(run))}</p>
<p class="note">This paragraph was generated by trialmap from this run's numbers; edit the wording, not
the numbers.</p></section>
<section id="provenance" aria-labelledby="provenance-heading"><h2 id="provenance-heading">Provenance</h2>
{_provenance_section(run)}</section>
<section id="credits" aria-labelledby="credits-heading"><h2 id="credits-heading">Data credits</h2>
{_credits_section(run)}</section>
</main>"""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="trialmap {esc(_version())}">
<title>{esc(title)} — trialmap report ({esc(run.snapshot.id)})</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
{body}
<script type="application/json" id="report-data">{_json_for_script(data)}</script>
<script>{js}</script>
</body>
</html>
"""


def write_report(run, path: str | os.PathLike[str]) -> Path:
    """Write :func:`report_html` of ``run`` to ``path`` (atomically: a temporary file, then renamed).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    text = report_html(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class ReportHTML:
    """A report to show inline in Jupyter (an ``<iframe srcdoc>``, so its script and styles
    stay inside it) or to save.

    >>> ReportHTML.from_run(run)            # doctest: +SKIP
    >>> ReportHTML.from_run(run).save("report.html")  # doctest: +SKIP
    """

    def __init__(self, html_text: str, *, height: int = 900):
        self.html = html_text
        self.height = height

    @classmethod
    def from_run(cls, run, *, height: int = 900) -> ReportHTML:
        return cls(report_html(run), height=height)

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="trialmap report" '
            f'style="width:100%;height:{int(self.height)}px;border:1px solid #ddd" '
            'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"></iframe>'
        )

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<ReportHTML {len(self.html.encode('utf-8')):,} bytes>"
