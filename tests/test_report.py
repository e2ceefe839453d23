"""report.html on the bundled real snapshot: its structure without a browser, then its behaviour
in headless Chromium (Debian's package, driven by Playwright) with the network blocked.

The browser tests never skip: without Chromium or Playwright they fail and say what to install
(``.ci/run`` installs Chromium). Screenshots at 1280 × 800 and 390 × 844 are written under
pytest's temporary folder; the path is printed (``pytest -s``) for a person to look at.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import time
import types
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
BUNDLED_ID = "ctgov-classic-2022-01-21"
HOSTILE = '<script>alert(1)</script> & "quotes"'
HOSTILE_DEFINITION_TITLE = "<img src=x onerror=alert(2)> Hostile & 'co'"
CHROMIUM = Path(os.environ.get("TRIALMAP_CHROMIUM", "/usr/bin/chromium"))
# Playwright adds --headless and a fresh temporary --user-data-dir to every launch.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
RUN_ATTRIBUTES = (
    "snapshot", "definition", "tables", "inclusion_log", "flow", "categories", "country_counts",
    "region_counts", "rule", "as_of", "no_location", "included", "data_date",
)


# ---------------------------------------------------------------------------
# Fixtures: one run, one report, per module.


@pytest.fixture(scope="module")
def run():
    from trialmap import pipeline, studyset
    from trialmap.snapshot import open_snapshot

    return pipeline.run(open_snapshot(BUNDLED_ID, RAW), studyset.load_definition())


@pytest.fixture(scope="module")
def page_html(run) -> str:
    from trialmap.report import report_html

    return report_html(run)


@pytest.fixture(scope="module")
def report_file(run, tmp_path_factory) -> Path:
    from trialmap.report import write_report

    return write_report(run, tmp_path_factory.mktemp("report") / "report.html")


def _copy_run(run, **changes):
    """A duck-typed copy of a run (only the attributes the report reads), some replaced."""
    attrs = {name: getattr(run, name) for name in RUN_ATTRIBUTES}
    return types.SimpleNamespace(**{**attrs, **changes})


@pytest.fixture(scope="module")
def hostile(run):
    """(run copy, NCT id, iso3): one Spanish trial titled HOSTILE, the definition's title hostile too."""
    from trialmap.report import counted_trials

    pairs = counted_trials(run)
    nct = str(pairs.loc[pairs["iso3"] == "ESP", "nct_id"].iloc[0])
    studies = run.tables.studies.copy()
    studies.loc[studies["nct_id"] == nct, "title"] = HOSTILE
    definition = dataclasses.replace(run.definition, title=HOSTILE_DEFINITION_TITLE)
    return _copy_run(run, tables=run.tables.replace(studies=studies), definition=definition), nct, "ESP"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of <script>/<style> elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.raw: list[tuple[str, dict[str, str], str]] = []
        self._open: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, a))
        if tag in {"script", "style"}:
            self._open = (tag, a)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        if self._open is not None:
            self.raw.append((*self._open, data))

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._open = None


def parse(text: str) -> Elements:
    p = Elements()
    p.feed(text)
    p.close()
    return p


def country_paths(page: Elements, *, markers: bool = False) -> dict[str, dict[str, str]]:
    """iso3 -> attributes of its shape on the map (``markers``: of its marker, for tiny countries)."""
    out = {}
    for tag, a in page.tags:
        classes = a.get("class", "").split()
        if tag == "path" and "country" in classes and ("marker" in classes) == markers:
            out[a["data-iso3"]] = a
    return out


CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>")


def table_rows(text: str, table_id: str) -> list[list[str]]:
    """The text of each body cell of a table, row by row (tags dropped, entities resolved)."""
    body = text.split(f'id="{table_id}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(CELL, r)]
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    ]


def embedded_data(page: Elements) -> dict:
    (text,) = [t for tag, a, t in page.raw if tag == "script" and a.get("id") == "report-data"]
    return json.loads(text)


# ---------------------------------------------------------------------------
# Structure, without a browser.


def test_report_is_self_contained_and_small(page_html):
    from trialmap.report import CREDIT_LINKS, STUDY_URL

    page = parse(page_html)
    size = len(page_html.encode("utf-8"))
    assert 100_000 < size < 3_000_000, size
    allowed = set(CREDIT_LINKS.values())
    study = re.compile(re.escape(STUDY_URL) + r"NCT\d{8}$")
    links = 0
    for tag, attrs in page.tags:
        assert tag not in {"img", "iframe", "object", "embed", "link"} or (
            tag == "link" and attrs.get("href", "").startswith("data:")
        ), (tag, attrs)
        for name in ("src", "href", "xlink:href", "action", "poster", "srcset"):
            value = attrs.get(name, "")
            if re.match(r"(https?:)?//", value, re.IGNORECASE):
                assert tag == "a" and name == "href", (tag, value)
                assert value in allowed or study.match(value), value
                links += 1
            assert not value.lower().startswith(("javascript:", "file:"))
    assert links > 300  # every trial links to its record
    scripts = [(a, t) for tag, a, t in page.raw if tag == "script"]
    assert all("src" not in a for a, _ in scripts)
    assert sum(1 for a, _ in scripts if a.get("type") == "application/json") == 1
    for tag, _, text in page.raw:
        assert not re.search(r"https?://|@import|url\(", text if tag == "style" else ""), tag
    # Nothing but the page's own script and style may run or load (by hash).
    (csp,) = [a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp


def test_every_country_path_carries_its_numbers(run, page_html):
    page = parse(page_html)
    paths = country_paths(page)
    markers = country_paths(page, markers=True)
    assert len(paths) > 200 and set(markers) <= set(paths) and all(a["d"] for a in paths.values())
    for attrs in [*paths.values(), *markers.values()]:
        for name in ("data-iso3", "data-name", "data-n-trials", "data-n-sites", "data-trial-share", "fill"):
            assert attrs.get(name, "") != "", (attrs.get("data-iso3"), name)
    counts = run.country_counts.set_index("iso3")
    for iso in ("USA", "CHN", "ESP"):
        assert iso in paths
    for iso, row in counts.iterrows():
        a = paths[iso]
        assert int(a["data-n-trials"]) == row["n_trials"], iso
        assert int(a["data-n-sites"]) == row["n_sites"], iso
        assert float(a["data-trial-share"]) == pytest.approx(row["trial_share"], abs=1e-4), iso
        # A tab stop: the shape, or for a country too small to see, its marker (with the same numbers).
        marker = markers.get(iso)
        focus = a if marker is None else marker
        assert (focus["tabindex"], focus["role"]) == ("0", "button")
        assert a["data-name"] in focus["aria-label"]
        assert marker is None or {k: v for k, v in marker.items() if k.startswith("data-")} == {
            k: v for k, v in a.items() if k.startswith("data-")}
    assert (int(paths["USA"]["data-n-trials"]), int(paths["CHN"]["data-n-trials"])) == (73, 74)
    assert int(paths["ESP"]["data-n-sites"]) == 100
    # Countries without trials show zeros and are not tab stops.
    assert paths["FIN"]["data-n-trials"] == "0" and "tabindex" not in paths["FIN"]


def test_map_fills_are_figure1s_classes(run, page_html):
    """The fill of every country is the face colour Figure 1 draws for it, for each counting rule."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from trialmap import boundaries
    from trialmap.figures.worldmap import figure1

    page = parse(page_html)
    paths = country_paths(page)
    data = embedded_data(page)
    world = boundaries.load_world()
    for rule, column in (("trials", "n_trials"), ("sites", "n_sites"), ("fractional", "trial_share")):
        ax = figure1(run.country_counts, world, value=column)
        try:
            faces = next(c for c in ax.collections if c.get_gid() == "countries").get_facecolors()
        finally:
            plt.close(ax.figure)
        drawn = {}
        for iso, face in zip(world["iso3"], faces, strict=True):
            drawn.setdefault(iso, to_hex(face))
        for iso, attrs in paths.items():
            shown = data["countries"][iso]["fill"][rule] if iso in data["countries"] else data["none"]
            assert shown == drawn[iso], (rule, iso)
            if rule == data["rule"]:
                assert attrs["fill"] == drawn[iso], iso
    # The rules differ: the switch has something to show.
    assert any(c["fill"]["trials"] != c["fill"]["sites"] for c in data["countries"].values())


def test_embedded_data_lists_each_countrys_trials(run, page_html):
    data = embedded_data(parse(page_html))
    assert "</" not in page_html.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    counts = run.country_counts.set_index("iso3")
    assert set(data["countries"]) == set(counts.index)
    for iso, c in data["countries"].items():
        assert len(c["trials"]) == counts.loc[iso, "n_trials"], iso
        assert sum(n for _, n in c["trials"]) == counts.loc[iso, "n_sites"], iso
    listed = {nct for c in data["countries"].values() for nct, _ in c["trials"]}
    assert listed == set(run.included) == set(data["trials"])
    studies = run.tables.studies.set_index("nct_id")
    for nct in ("NCT00081055", *sorted(listed)[:5]):
        t = data["trials"][nct]
        assert t["title"] == studies.loc[nct, "title"]
        start = studies.loc[nct, "start_date"]
        assert t["start"] == (None if pd.isna(start) else start.year), nct
        assert t["phase"].startswith(("Phase", "Early phase", "Not applicable")) or t["phase"] == ""
    labels = {c.key: c.label for c in run.definition.categories}
    cats = run.categories[run.categories["nct_id"] == "NCT00081055"]["category"]
    assert data["trials"]["NCT00081055"]["categories"] == [labels[k] for k in cats]


def test_tables_flow_definition_methods_provenance_and_credits(run, page_html):
    from trialmap.provenance import CTGOV_CREDIT, GEONAMES_CREDIT, NE_CREDIT

    text = html.unescape(re.sub(r"<[^>]+>", " ", page_html))
    text = re.sub(r"\s+", " ", text)
    d = run.definition
    assert page_html.count(f"<h1>{html.escape(d.title)}</h1>") == 1
    for needle in (
        d.label, run.snapshot.id, run.data_date, run.rule.describe(), CTGOV_CREDIT, NE_CREDIT,
        GEONAMES_CREDIT, "generated by trialmap", "Fractional", "(no location): 25 in-scope trials",
        "Of 1,783 records read", "The 300 trials on the map have sites in 41 countries",
    ):
        assert needle in text, needle
    # Every region and every step of the flow, with their numbers.
    regions = table_rows(page_html, "regions-table")
    assert [r[0] for r in regions] == [f"{r.region}{r.scheme}" for r in run.region_counts.itertuples()]
    for cells, r in zip(regions, run.region_counts.itertuples(), strict=True):
        assert cells[2:] == [f"{r.n_trials:,}", f"{r.n_sites:,}", f"{r.trial_share:,.1f}", f"{r.n_countries}"]
    flow = table_rows(page_html, "flow-table")
    for cells, r in zip(flow, run.flow.itertuples(), strict=True):
        assert cells[0].endswith(r.step) and cells[1:3] == [f"{r.n_remaining:,}", f"{r.n_excluded:,}"]
    for k in d.switches:
        assert f"<code>{k}</code>" in page_html
    rows = re.findall(r'<tr data-iso3="([A-Z]{3})">', page_html)
    assert rows == list(run.country_counts["iso3"])  # in the run's order, before any sorting
    assert page_html.count('<tr><th scope="row" data-v="NCT') == len(run.included)


def test_texts_follow_the_definition(run):
    """No title is typed into the page: another definition's title is what it shows."""
    from trialmap.report import report_html

    title = "Widget trials in gadget disease"
    other = _copy_run(run, definition=dataclasses.replace(run.definition, title=title))
    text = report_html(other)
    assert "<h1>Widget trials in gadget disease</h1>" in text
    assert "<title>Widget trials in gadget disease — trialmap report" in text
    assert "“Widget trials in gadget disease”" in text  # methods paragraph
    assert run.definition.title not in text


def test_the_runs_rule_and_as_of_date_lead(run):
    """A run counted by sites opens on the sites map; an as-of replay says so in the header and methods."""
    from trialmap.aggregate import CountingRule
    from trialmap.report import report_html

    text = report_html(_copy_run(run, rule=CountingRule("sites"), as_of="2020-06-30"))
    page = parse(text)
    data = embedded_data(page)
    assert data["rule"] == "sites"
    (checked,) = [a["value"] for t, a in page.tags if t == "input" and "checked" in a]
    assert checked == "sites"
    assert '<span id="legend-title">Sites per country</span>' in text
    usa = country_paths(page)["USA"]
    assert usa["fill"] == data["countries"]["USA"]["fill"]["sites"]
    assert '<th scope="col" data-type="num" data-key="n_sites" aria-sort="descending">' in text
    assert "registry data date 2022-01-21, as of 2020-06-30" in text
    assert "Only trials first posted on or before 2020-06-30 were kept" in text


def test_hostile_title_is_escaped_in_the_html(hostile):
    from trialmap.report import report_html

    bad, nct, _ = hostile
    text = report_html(bad)
    assert "<script>alert" not in text and "<img src=x" not in text
    assert html.escape(HOSTILE) in text  # the trials table shows it as text
    assert f"<h1>{html.escape(HOSTILE_DEFINITION_TITLE)}</h1>" in text
    data = embedded_data(parse(text))
    assert data["trials"][nct]["title"] == HOSTILE


def test_write_report_and_the_jupyter_view(run, page_html, report_file):
    from trialmap.report import ReportHTML

    assert report_file.read_text(encoding="utf-8") == page_html  # deterministic, and written whole
    assert [p.name for p in report_file.parent.iterdir()] == ["report.html"]
    view = ReportHTML(page_html)
    frame = view._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and "<script" not in frame
    srcdoc = re.match(r'<iframe srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(srcdoc) == page_html
    assert "allow-scripts" in frame and "allow-same-origin" not in frame
    assert str(view) == page_html and "bytes" in repr(view)


def test_tiny_countries_get_markers():
    from trialmap.report import map_shapes

    shapes = map_shapes(marked=["SGP", "MLT", "FRA", "ESP"])
    assert set(shapes.markers) == {"SGP", "MLT"}
    assert "ATA" not in shapes.countries and shapes.other
    *_, w, h = shapes.view_box
    assert 2.0 < w / h < 2.4  # Equal Earth without Antarctica, as Figure 1 frames it


# ---------------------------------------------------------------------------
# In a real browser: headless Chromium, no network.

INSIDE = """(iso) => {
  const p = document.querySelector(`path.country[data-iso3="${iso}"]`);
  p.scrollIntoView({block: "center"});
  const r = p.getBoundingClientRect();
  for (let i = 1; i < 48; i++) for (let j = 1; j < 48; j++) {
    const x = r.left + r.width * i / 48, y = r.top + r.height * j / 48;
    if (document.elementFromPoint(x, y) === p) return [x, y];
  }
  return null;
}"""


@dataclasses.dataclass
class View:
    page: object
    errors: list
    attempted: list
    dialogs: list

    def point_in(self, iso: str) -> tuple[float, float]:
        xy = self.page.evaluate(INSIDE, iso)
        assert xy, f"no visible point of {iso} on the map"
        return xy

    def assert_clean(self):
        assert self.errors == [], self.errors
        assert self.attempted == [], f"the page tried to fetch {self.attempted}"
        assert self.dialogs == [], self.dialogs


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright for Python: python -m pip install '.[test]'")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium (Debian; .ci/run "
            "installs it), or set TRIALMAP_CHROMIUM to a Chromium binary. They never skip."
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_report(browser, report_file):
    contexts = []

    def _open(path: Path = report_file, width: int = 1280, height: int = 800, phone: bool = False) -> View:
        ctx = browser.new_context(
            viewport={"width": width, "height": height}, service_workers="block", is_mobile=phone,
            has_touch=phone,
        )
        contexts.append(ctx)
        view = View(None, [], [], [])

        def block(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                route.continue_()
            else:
                view.attempted.append(url)
                route.abort()

        ctx.route("**/*", block)
        page = ctx.new_page()
        page.on("console", lambda m: view.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: view.errors.append(str(e)))

        def dialog(d):
            view.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(path.as_uri(), wait_until="load")
        view.page = page
        return view

    yield _open
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("report-screenshots")
    print(f"\nreport.html screenshots: {d}")
    return d


def test_renders_at_desktop_and_phone_width(open_report, screenshot_dir):
    for width, height, name in ((1280, 800, "desktop-1280x800"), (390, 844, "phone-390x844")):
        t = time.perf_counter()
        v = open_report(width=width, height=height, phone=width < 500)
        page = v.page
        assert page.locator("#map path.country").count() > 200
        box = page.locator("#map").bounding_box()
        assert box["width"] >= 0.9 * (width - 40) and box["height"] > 100, box
        # Nothing wider than the screen at phone width (tables scroll inside their box).
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(screenshot_dir / f"{name}.png"))
        if width < 500:
            assert box["y"] + box["height"] < height  # the map is in the first screen
        else:
            legend = page.locator("#legend").bounding_box()
            assert box["y"] + box["height"] <= height and legend["y"] < box["y"]  # map and legend fit
        xy = v.point_in("CHN")
        if width < 500:
            page.touchscreen.tap(*xy)
            assert page.locator(".hint .touch").is_visible() and page.locator(".hint .pointer").is_hidden()
        else:
            page.mouse.click(*xy)
        page.locator("#selection-table").wait_for()
        page.screenshot(path=str(screenshot_dir / f"{name}-full-china.png"), full_page=True)
        v.assert_clean()
        print(f"{name}: {time.perf_counter() - t:.2f} s")
    assert len(list(screenshot_dir.glob("*.png"))) == 4


def test_print_layout(open_report, screenshot_dir):
    """Printed: the map in colour, no controls; a PDF is written beside the screenshots."""
    v = open_report()
    page = v.page
    page.emulate_media(media="print")
    assert page.locator("#map").is_visible() and page.locator("#countries-table").is_visible()
    assert page.locator("#rule-switch").is_hidden() and page.locator(".hint").is_hidden()
    adjust = page.evaluate("getComputedStyle(document.querySelector('#map path')).printColorAdjust")
    assert adjust == "exact"
    page.pdf(path=str(screenshot_dir / "print-a4.pdf"), format="A4", print_background=True)
    assert (screenshot_dir / "print-a4.pdf").stat().st_size > 50_000
    v.assert_clean()


def test_hovering_a_country_shows_its_numbers(open_report):
    v = open_report()
    v.page.mouse.move(*v.point_in("ESP"))
    tip = v.page.locator("#tooltip")
    tip.wait_for(state="visible")
    assert tip.locator("strong").inner_text() == "Spain"
    assert tip.locator(".tip-trials").inner_text() == "23 trials"
    assert tip.locator(".tip-sites").inner_text() == "100 sites"
    assert v.page.locator("#hl-hover").get_attribute("d") == v.page.locator(
        'path.country[data-iso3="ESP"]').get_attribute("d")
    v.page.mouse.move(2, 2)
    assert tip.is_hidden()
    v.assert_clean()


def test_clicking_a_country_lists_its_trials(run, open_report):
    from trialmap.report import STUDY_URL, counted_trials

    v = open_report()
    v.page.mouse.click(*v.point_in("CHN"))
    rows = v.page.locator("#selection-table tbody tr")
    rows.first.wait_for()
    assert v.page.locator("#selection-heading").inner_text() == "China (CHN)"
    pairs = counted_trials(run)
    expected = set(pairs.loc[pairs["iso3"] == "CHN", "nct_id"])
    assert rows.count() == len(expected) == 74
    listed = rows.evaluate_all("rs => rs.map(r => r.getAttribute('data-nct'))")
    assert set(listed) == expected
    first = rows.first
    nct = first.get_attribute("data-nct")
    assert first.locator("a").get_attribute("href") == STUDY_URL + nct
    study = run.tables.studies.set_index("nct_id").loc[nct]
    cells = first.locator("td").all_inner_texts()
    assert cells[0] == study["title"] and cells[3] == str(study["start_date"].year)
    assert cells[1].startswith("Phase") and cells[2] and cells[4]
    years = [int(y) if y.isdigit() else -1 for y in rows.evaluate_all(
        "rs => rs.map(r => r.children[4].textContent)")]
    assert years == sorted(years, reverse=True)  # newest start first
    assert v.page.locator('#countries-table tr.selected').get_attribute("data-iso3") == "CHN"
    # The tables' country buttons select too.
    v.page.locator('#countries-table button.pick[data-iso3="ESP"]').click()
    assert v.page.locator("#selection-heading").inner_text() == "Spain (ESP)"
    assert rows.count() == 23
    v.assert_clean()


def test_tables_sort(run, open_report):
    v = open_report()
    table = v.page.locator("#countries-table")

    def column(i):
        return table.locator("tbody tr").evaluate_all(f"rs => rs.map(r => r.children[{i}].textContent)")

    names = column(0)
    assert names == list(run.country_counts["country"])  # the run's order: trials, descending
    table.locator("thead th", has_text="Country").locator("button").click()
    assert column(0) == sorted(names, key=str.lower)
    assert table.locator("thead th", has_text="Country").get_attribute("aria-sort") == "ascending"
    table.locator("thead th", has_text="Country").locator("button").click()
    assert column(0) == sorted(names, key=str.lower, reverse=True)
    table.locator('thead th[data-key="n_sites"] button').click()
    sites = [int(s.replace(",", "")) for s in column(3)]
    assert sites == sorted(sites, reverse=True) and column(0)[0] == "United States"
    regions = v.page.locator("#regions-table")
    regions.locator('thead th[data-key="n_trials"] button').click()
    first = regions.locator("tbody tr").first.locator("th").inner_text()
    assert first.startswith(run.region_counts.sort_values("n_trials", ascending=False)["region"].iloc[0])
    v.assert_clean()


def test_rule_switch_recolours_the_map(open_report, page_html):
    data = embedded_data(parse(page_html))
    v = open_report()
    # A country whose class differs between the two rules (classes come from the data).
    iso = next(i for i, c in data["countries"].items() if c["fill"]["trials"] != c["fill"]["sites"])
    usa = v.page.locator(f'path.country[data-iso3="{iso}"]')
    before = (usa.get_attribute("fill"), usa.get_attribute("data-class"))
    usa_data = data["countries"][iso]
    assert before == (usa_data["fill"]["trials"], str(usa_data["cls"]["trials"]))
    v.page.get_by_role("radio", name="Sites", exact=True).check()
    after = (usa.get_attribute("fill"), usa.get_attribute("data-class"))
    assert after == (usa_data["fill"]["sites"], str(usa_data["cls"]["sites"]))
    assert after != before
    assert v.page.locator("#legend-title").inner_text() == "Sites per country"
    assert v.page.locator("#rule-describe").inner_text().startswith("Sites per country")
    sites_th = v.page.locator('#countries-table th[data-key="n_sites"]')
    assert sites_th.get_attribute("aria-sort") == "descending"
    # Every country takes its class under the new rule, from the embedded data.
    fills = v.page.eval_on_selector_all(
        "#map path.country", "ps => ps.map(p => [p.dataset.iso3, p.getAttribute('fill')])")
    for iso, fill in fills:
        expected = data["countries"][iso]["fill"]["sites"] if iso in data["countries"] else data["none"]
        assert fill == expected, iso
    v.page.get_by_role("radio", name="Fractional trials").check()
    assert v.page.locator("#legend li").nth(1).inner_text() == "<2"
    v.page.get_by_role("radio", name="Trials", exact=True).check()
    assert (usa.get_attribute("fill"), usa.get_attribute("data-class")) == before
    v.assert_clean()


def test_keyboard_reaches_a_country(open_report):
    v = open_report()
    page = v.page
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('path.country')"):
            break
    else:
        pytest.fail("12 presses of Tab did not reach a country")
    iso = page.evaluate("document.activeElement.dataset.iso3")
    name = page.evaluate("document.activeElement.dataset.name")
    # The first country with trials in alphabetical order, shown focused (outline and tooltip).
    assert page.locator("#tooltip").is_visible() and page.locator("#tooltip strong").inner_text() == name
    focused_d = page.evaluate("document.activeElement.getAttribute('d')")
    assert page.locator("#hl-hover").get_attribute("d") == focused_d
    stroke = page.evaluate("getComputedStyle(document.getElementById('hl-hover')).strokeWidth")
    assert float(stroke.rstrip("px")) >= 1.5
    page.keyboard.press("Enter")
    assert page.locator("#selection-heading").inner_text() == f"{name} ({iso})"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('path.country')")
    assert page.evaluate("document.activeElement.dataset.name") > name
    v.assert_clean()


def test_hostile_title_stays_text_in_the_browser(hostile, open_report, tmp_path):
    from trialmap.report import write_report

    bad, nct, iso = hostile
    path = write_report(bad, tmp_path / "report.html")
    v = open_report(path)
    v.page.mouse.click(*v.point_in(iso))
    row = v.page.locator(f'#selection-table tr[data-nct="{nct}"]')
    assert row.locator("td.title").inner_text() == HOSTILE
    assert v.page.locator("#selection script, #trials-table script, h1 img").count() == 0
    assert v.page.locator("h1").inner_text() == HOSTILE_DEFINITION_TITLE
    v.page.locator("#all-trials summary").click()
    link = v.page.locator(f'a:text-is("{nct}")')
    cell = v.page.locator("#trials-table tbody tr", has=link).locator("td").first
    assert cell.inner_text() == HOSTILE
    v.page.wait_for_timeout(200)
    v.assert_clean()  # no dialog, no console error, no request for "x"


def test_the_precomputed_world_paths_equal_a_fresh_computation():
    # world_paths.json spares every run a second of path building; it must never go stale.
    from trialmap import boundaries
    from trialmap.report import (
        PATHS_FILE,
        SIMPLIFY_M,
        SVG_UNIT_M,
        default_world_paths,
        world_paths,
        world_paths_key,
    )

    saved = json.loads(PATHS_FILE.read_text(encoding="utf-8"))
    assert saved["key"] == world_paths_key(SVG_UNIT_M, SIMPLIFY_M), "run python -m trialmap.report.build"
    fresh = world_paths(boundaries.load_world(), SVG_UNIT_M, SIMPLIFY_M)
    view_box, countries, names, other, tiny = default_world_paths(SVG_UNIT_M, SIMPLIFY_M)
    assert (tuple(view_box), countries, names, tuple(other), frozenset(tiny)) == fresh
