"""The figure set of a run, as a value, and one call that draws and exports it.

:data:`DEFAULT_FIGURES` is an immutable tuple of :class:`FigureSpec`: a name (the file
stem), a draw function ``draw(ctx, width) -> Axes`` that draws at the printed width, the
numbers the figure shows (stored in its sidecar) and its legend text. Nothing is
registered anywhere: a notebook and the command line pass the same tuple (or their own)
to :func:`write_figures`, so they write the same figures for the same settings::

    from trialmap.figures.suite import DEFAULT_FIGURES, FigureSpec, figure_names, write_figures

    names = figure_names("figure1,flow")                     # or "all"
    write_figures(run, out / "figures", provenance, names=names)
    mine = (*DEFAULT_FIGURES, FigureSpec("extra", "My figure", draw=..., data=..., caption=...))
    write_figures(run, out / "figures", provenance, figures=mine)

Every figure is drawn at double- (183 mm, ``<name>.*``) and single-column width (89 mm,
``<name>_single.*``) and exported with :func:`~trialmap.figures.export.export_figure`
(PDF, SVG, PNG and TIFF at 300 and 600 dpi, a JSON sidecar). The run is a
``trialmap.pipeline.Run`` (or :class:`trialmap.pipeline.Run`, the same attributes).
Figures print only the short source line of :func:`trialmap.provenance.source_line`;
the full record is in the caption, the file metadata and the sidecar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from trialmap.errors import OutputError
from trialmap.figures.export import JOURNAL_DPIS, JOURNAL_FORMATS, Export

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTHS = ("double", "single")
CHANGE_YEARS = 2  # default span of the two-date change map, ending at the registry data date
PAPER_DATE = "2018-06-14"  # publication of Wang, Yuan & Xie 2018 (Stem Cells Int 2018:3057624)
PER_CAPITA = 1e7
MIN_POPULATION = 1e6


@dataclass
class SuiteContext:
    """What the figures draw from: the run, its provenance and options; derived tables cached.

    ``run`` is a ``trialmap.pipeline.Run`` or anything with its attributes
    (``country_counts``, ``region_counts``, ``tables``, ``included``, ``data_date``,
    ``definition``, ``snapshot``, ``rule``, ``flow``, ``inclusion_log``, ``categories``).
    """

    run: Any
    provenance: Mapping[str, Any] = field(default_factory=dict)
    change_years: int = CHANGE_YEARS
    then_date: str = PAPER_DATE

    @property
    def result(self) -> Any:  # the earlier name
        return self.run

    def source_line(self) -> str:
        from trialmap.provenance import source_line

        return source_line(self.run)

    @property
    def title(self) -> str:
        d = self.run.definition
        return getattr(d, "title", "") or getattr(d, "description", "") or d.name

    @cached_property
    def world(self):
        from trialmap import boundaries

        return boundaries.load_world()

    @cached_property
    def names(self) -> dict[str, str]:
        from trialmap import countries

        names = countries.country_table().set_index("iso3")["name"].to_dict()
        names.update(self.run.country_counts.dropna(subset=["iso3"]).set_index("iso3")["country"].to_dict())
        return names

    @cached_property
    def rule(self):
        from trialmap import aggregate

        return getattr(self.run, "rule", None) or aggregate.CountingRule()

    @cached_property
    def removed(self) -> pd.DataFrame:
        from trialmap import aggregate, countries

        return aggregate.removed_country_rows(self.run.tables.studies, countries.to_iso3)

    @cached_property
    def yearly(self) -> pd.DataFrame:
        from trialmap import aggregate

        t = self.run.tables
        return aggregate.yearly_counts(
            t.studies, t.sites, self.run.included, date="start_date", names=self.names
        )

    @cached_property
    def change_dates(self) -> tuple[str, str]:
        # An as-of replay ends the change window at its date, not at the snapshot's.
        after = pd.Timestamp(getattr(self.run, "as_of", None) or self.run.data_date)
        before = after - pd.DateOffset(years=self.change_years)
        return before.date().isoformat(), after.date().isoformat()

    @cached_property
    def change(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(country change, trials first posted in the window) between the two change dates."""
        from trialmap import aggregate

        t = self.run.tables
        return aggregate.change_between(
            t.studies, t.sites, self.run.included, *self.change_dates, self.names, self.rule, self.removed
        )

    @cached_property
    def then(self) -> tuple[pd.Index, pd.DataFrame]:
        """Trials first posted by :attr:`then_date` and their country counts (the as-of replay)."""
        from trialmap import aggregate

        t = self.run.tables
        return aggregate.counts_as_of(
            t.studies, t.sites, self.run.included, self.then_date, self.names, self.rule, self.removed
        )

    @cached_property
    def europe(self) -> dict[str, Any]:
        from trialmap import countries

        rc = self.run.region_counts.set_index("region")
        col = self.rule.column
        members = countries.region_members("Europe")
        out = {
            "n": float(rc.at["Europe", col]) if "Europe" in rc.index else None,
            "members": members,
            "n_countries": int(rc.at["Europe", "n_countries"]) if "Europe" in rc.index else None,
        }
        if countries.PAPER_EUROPE in rc.index:
            out["n_paper"] = float(rc.at[countries.PAPER_EUROPE, col])
        return out

    @cached_property
    def per_capita(self) -> pd.DataFrame:
        from trialmap import aggregate
        from trialmap.population import load_population

        return aggregate.per_capita(
            self.run.country_counts,
            load_population(),
            column="n_trials",
            per=PER_CAPITA,
            min_population=MIN_POPULATION,
        )

    @cached_property
    def category_table(self) -> pd.DataFrame:
        from trialmap import aggregate

        labels = self._category_labels
        return aggregate.categories_by_country(self.run.categories, self.run.tables.sites, labels, top=10)

    @property
    def _category_labels(self) -> dict[str, str]:
        cc = getattr(self.run, "category_counts", None)
        if cc is not None and len(cc):
            return dict(zip(cc["category"], cc["label"], strict=True))
        return {c.key: c.label for c in self.run.definition.active_categories()}

    @cached_property
    def sensitivity(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(wide counts, summary) under the definition's variants (:mod:`trialmap.sensitivity`)."""
        from trialmap import sensitivity

        return sensitivity.sensitivity(self.run.tables, self.run.definition, self.rule)

    @cached_property
    def sites(self) -> pd.DataFrame:
        from trialmap.tables import isin

        s = self.run.tables.sites
        return s[isin(s["nct_id"], self.run.included)]

    def region_sites(self, region: str | None) -> tuple[pd.DataFrame, int, int]:
        """(places, trials with a site in the region, sites known only by country there)."""
        from trialmap import aggregate, countries
        from trialmap.figures.sitemap import REGIONS

        s = self.sites
        if region is not None:
            members = countries.region_members(REGIONS[region].members or region)
            s = s[s["iso3"].isin(members)]
        places = aggregate.site_places(self.sites)
        return places, int(s["nct_id"].nunique()), int((s["geo_precision"] == "country").sum())


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the suite.

    Attributes
    ----------
    name
        File stem under ``figures/`` (``figure1`` -> ``figure1.pdf``...).
    title
        Short title (file metadata and caption; journals put titles in the legend).
    draw
        ``draw(ctx, width) -> Axes``: draw a new figure ``width`` wide (``"single"`` or
        ``"double"``) with its source line.
    data
        ``data(ctx) -> DataFrame``: the numbers the figure shows (sidecar).
    caption
        ``caption(ctx) -> str``: a suggested legend, with numbers from the run.
    tables
        Optional ``tables(ctx) -> {file name: DataFrame}`` written as CSV beside the figure.
    widths
        Widths to export.
    """

    name: str
    title: str
    draw: Callable[[SuiteContext, str], Axes]
    data: Callable[[SuiteContext], pd.DataFrame]
    caption: Callable[[SuiteContext], str]
    tables: Callable[[SuiteContext], Mapping[str, pd.DataFrame]] | None = None
    widths: tuple[str, ...] = WIDTHS


# ---------------------------------------------------------------------------
# The figures, in the order a paper would show them.


def _title_sentence(ctx: SuiteContext) -> str:
    return ctx.title[:1].upper() + ctx.title[1:]


def _figure1(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.worldmap import figure1

    return figure1(
        ctx.run.country_counts,
        ctx.world,
        europe=ctx.europe,
        source_line=ctx.source_line(),
        width=width,
        value=ctx.rule.column,
        unit=ctx.rule.unit,
    )


def _codes(ctx: SuiteContext, iso3s: Iterable[str]) -> dict[str, str]:
    return {i: ctx.names.get(i, i) for i in iso3s if isinstance(i, str)}


def _labelled(ctx: SuiteContext, name: str) -> set[str]:
    """Codes a figure can print as labels: every country with data (defined in the caption)."""
    del name
    cc = ctx.run.country_counts
    return set(cc.loc[cc["iso3"].notna() & (cc[ctx.rule.column] > 0), "iso3"])


def _figure1_classes(ctx: SuiteContext):
    from trialmap.figures.worldmap import Classes

    v = ctx.run.country_counts[ctx.rule.column]
    return Classes.from_values(v[v > 0], "")


def _figure1_caption(ctx: SuiteContext) -> str:
    from trialmap.figures.worldmap import caption

    return caption(
        ctx.run.country_counts,
        n_trials=len(ctx.run.included),
        data_date=ctx.run.data_date,
        title=_title_sentence(ctx),
        europe=ctx.europe,
        counting_rule=str(ctx.provenance.get("counting_rule") or ctx.rule.describe()),
        codes=_codes(ctx, _labelled(ctx, "figure1")),
        classes=_figure1_classes(ctx),
        value=ctx.rule.column,
        unit=ctx.rule.unit,
    ) + (" In the 89 mm version, countries outside the inset with a single trial are not labelled (their "
         "fill is the class 1); tiny countries are.") + _record(ctx)


def _record(ctx: SuiteContext) -> str:
    """The full record for a caption: definition and switches, counting rule, snapshot, software."""
    import matplotlib

    import trialmap

    d = ctx.run.definition
    switches = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in (d.switches or {}).items())
    text = (
        f" Study set: {d.label}"
        + (f" (judgement calls: {switches})" if switches else "")
        + f". Counting: {ctx.rule.describe()}. {ctx.source_line()}. trialmap {trialmap.__version__}, "
        f"matplotlib {matplotlib.__version__}."
    )
    as_of = getattr(ctx.run, "as_of", None)
    if as_of:
        text += (
            f" As of {as_of}: only trials first posted on or before that date; their sites and "
            f"conditions as the {ctx.run.data_date} snapshot records them."
        )
    return text


def _then_now(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.worldmap import then_now

    return then_now(
        ctx.then[1],
        ctx.run.country_counts,
        ctx.world,
        before_label=f"As of {ctx.then_date}",
        after_label=f"Registry data date {ctx.run.data_date}",
        source_line=ctx.source_line(),
        width=width,
        value=ctx.rule.column,
        unit=ctx.rule.unit,
    )


def _then_now_data(ctx: SuiteContext) -> pd.DataFrame:
    col = ctx.rule.column
    a = ctx.then[1][["iso3", "country", col]].rename(columns={col: f"{col}_then"})
    b = ctx.run.country_counts[["iso3", "country", col]].rename(columns={col: f"{col}_now"})
    out = b.merge(a.drop(columns="country"), on="iso3", how="outer")
    out[f"{col}_then"] = out[f"{col}_then"].fillna(0)
    return out.sort_values(f"{col}_now", ascending=False, ignore_index=True)


def _then_now_caption(ctx: SuiteContext) -> str:
    ids, then = ctx.then
    col = ctx.rule.column
    n_then = int((then[col] > 0).sum())
    n_now = int((ctx.run.country_counts[col] > 0).sum())
    return (
        f"{_title_sentence(ctx)}, then and now: {ctx.rule.unit} per country (a) as of {ctx.then_date}, the "
        f"publication date of Wang, Yuan & Xie (2018), {len(ids)} trials in {n_then} countries, and (b) at "
        f"the "
        f"registry data date {ctx.run.data_date}, {len(ctx.run.included)} trials in {n_now} countries; both "
        "panels use the same classes, derived from both. Panel a is an as-of replay of the same snapshot: it "
        f"keeps the trials first posted on or before {ctx.then_date}, with their sites, conditions and "
        f"status "
        f"as the {ctx.run.data_date} snapshot records them, not as the registry showed them then (sites "
        f"added "
        "later count from the start, records deleted since are missing). Codes: "
        + "; ".join(f"{k}, {v}" for k, v in sorted(_codes(ctx, _labelled(ctx, "then")).items()))
        + ". Equal Earth projection. "
        + _boundary()
        + _record(ctx)
    )


def _boundary() -> str:
    from trialmap.figures.worldmap import BOUNDARY_DISCLAIMER

    return BOUNDARY_DISCLAIMER


def _per_capita(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.worldmap import per_capita_map

    return per_capita_map(
        ctx.per_capita, ctx.world, min_population=MIN_POPULATION, source_line=ctx.source_line(), width=width
    )


def _per_capita_caption(ctx: SuiteContext) -> str:
    from trialmap.population import CREDIT, POP_YEAR

    pc = ctx.per_capita
    rated = pc[pc["rate"].notna()]
    top = ", ".join(f"{r.country} ({r.rate:.1f})" for r in rated.head(3).itertuples())
    small = pc[pc["small_population"]]
    years = sorted(set(pc["pop_year"].dropna().astype(int)))
    other_years = [y for y in years if y != POP_YEAR]
    return (
        f"{_title_sentence(ctx)} per 10 million inhabitants: distinct trials with a site in the country "
        f"divided by the country's population estimate ({CREDIT}; estimates for {POP_YEAR}"
        + (f", for a few countries {', '.join(map(str, other_years))}" if other_years else "")
        + "; each country's year is in the sidecar). Highest rates: "
        + (top or "none")
        + ". Countries with "
        f"trials but under {MIN_POPULATION / 1e6:g} million inhabitants get no rate (one trial would be a "
        "rate of ten or more) and are marked with an open circle: "
        + (
            "; ".join(
                f"{r.country}, {int(r.count)} trial{'s' if r.count != 1 else ''}" for r in small.itertuples()
            )
            or "none"
        )
        + ". Classes are derived from the rates (lower edge inclusive). Codes: "
        + "; ".join(f"{k}, {v}" for k, v in sorted(_codes(ctx, pc["iso3"]).items()))
        + ". Equal Earth projection. "
        + _boundary()
        + _record(ctx)
    )


def _categories(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.categories import categories_by_country_plot

    cc = getattr(ctx.run, "category_counts", None)
    totals = dict(zip(cc["category"], cc["n_trials"], strict=True)) if cc is not None else None
    return categories_by_country_plot(
        ctx.category_table, names=ctx.names, totals=totals, source_line=ctx.source_line(), width=width
    )


def _categories_caption(ctx: SuiteContext) -> str:
    t = ctx.category_table
    leaders = list(dict.fromkeys(t["iso3"]))
    return (
        f"{_title_sentence(ctx)} by disease category and country: distinct trials of each category of the "
        f"definition with at least one site in each of the {len(leaders)} countries with most trials "
        "(89 mm version: the first six). A trial classed in two categories counts in both, and a "
        "multinational "
        "trial in each of its countries; the number after a category is its trials in the study set. "
        "Shading: the trials-per-country classes of the maps." + _record(ctx)
    )


def _sitemap(region: str | None) -> Callable[[SuiteContext, str], Axes]:
    def draw(ctx: SuiteContext, width: str) -> Axes:
        from trialmap.figures.sitemap import REGIONS, sitemap

        places, n, n_country = ctx.region_sites(region)
        label = f"{REGIONS[region].members} (UN M49)" if region else None
        return sitemap(
            places,
            ctx.world,
            ctx.run.country_counts,
            region=region,
            region_label=label,
            n_trials=n,
            n_country_only=n_country,
            source_line=ctx.source_line(),
            width=width,
        )

    return draw


def _sitemap_caption(region: str | None) -> Callable[[SuiteContext], str]:
    def caption(ctx: SuiteContext) -> str:
        from trialmap.figures.sitemap import REGIONS
        from trialmap.provenance import CTGOV_CREDIT

        _places, n, n_country = ctx.region_sites(region)
        used = set(ctx.sites["geo_source"].dropna())
        coords = [
            CTGOV_CREDIT + " coordinates" if "registry" in used else None,
            "GeoNames (geonames.org, CC BY 4.0)" if "gazetteer" in used else None,
            "user overrides" if "override" in used else None,
        ]
        where = f" in {region}" if region else ""
        proj = (
            "Equal Earth projection"
            if region is None
            else "LAEA Europe projection (EPSG:3035)"
            if region == "Europe"
            else f"Lambert azimuthal equal-area projection centred on {region} ({REGIONS[region].crs})"
        )
        members = f" ({REGIONS[region].members}, UN M49)" if region else ""
        return (
            f"Sites of {ctx.title}{where}: {n} trials with a site{where}{members}; a dot per place, its area "
            f"proportional to the trials there; {n_country} site{'s' if n_country != 1 else ''}{where} known "
            "only by country are not drawn. Underneath: trials per country (classes derived from the data). "
            f"{proj}. Site coordinates: {', '.join(c for c in coords if c) or 'none'}. "
            + _boundary()
            + _record(ctx)
        )

    return caption


def _site_data(ctx: SuiteContext) -> pd.DataFrame:
    return ctx.sites[["nct_id", "city", "state", "country", "lat", "lon", "geo_source", "geo_precision"]]


def flow_labels(definition: Any) -> dict[str, str]:
    """Flow box labels in the definition's own words (:func:`trialmap.studyset.step_labels`)."""
    from trialmap import studyset

    return studyset.step_labels(definition)


def _flow(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.flow import flow_diagram

    labels = flow_labels(ctx.run.definition)
    if getattr(ctx.run, "as_of", None):
        labels["posted_by_as_of"] = f"First posted on or before {ctx.run.as_of}"
    return flow_diagram(
        ctx.run.flow, ctx.run.inclusion_log, labels=labels, source_line=ctx.source_line(), width=width
    )


def _flow_caption(ctx: SuiteContext) -> str:
    f = ctx.run.flow.set_index("step")
    return (
        f"Selection of {ctx.title}: the records of the snapshot ({int(f['n_remaining'].iloc[0]):,}) down to "
        f"the "
        f"trials on the map ({int(f['n_remaining'].iloc[-1]):,}). Each box gives the records remaining "
        f"after a "
        "step; the records that left at a step are counted, with their reasons, beside the arrow into that "
        "step's box. inclusion_log.csv gives the step and reason for every record." + _record(ctx)
    )


def _regions(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.regions import regions_bar

    nl = getattr(ctx.run, "no_location", None)
    n_none = int(nl["n_trials"].iloc[0]) if nl is not None and len(nl) else None
    return regions_bar(ctx.run.region_counts, no_location=n_none, source_line=ctx.source_line(), width=width)


def _regions_caption(ctx: SuiteContext) -> str:
    rc = ctx.run.region_counts
    cont = rc[rc["scheme"] == "UN M49 continent"] if "scheme" in rc else rc
    none = cont.loc[cont["n_trials"] == 0, "region"].tolist()
    nl = getattr(ctx.run, "no_location", None)
    n_none = int(nl["n_trials"].iloc[0]) if nl is not None and len(nl) else 0
    text = (
        f"{_title_sentence(ctx)}: trials with at least one site in each region ({len(ctx.run.included)} "
        f"trials; "
        f"ClinicalTrials.gov, registry data date {ctx.run.data_date}). Regions are UN M49 continents; the "
        "light inner bar is the EU27 part of Europe. A multinational trial counts once in each region "
        "where it "
        "has a site, so the regions add up to more than the number of trials."
    )
    if n_none:
        text += (
            f" {n_none} trials in scope list no site in a country that could be mapped (outlined bar); "
            "they are on no map."
        )
    return text + (f" No trial had a site in {', '.join(none)}." if none else "") + _record(ctx)


def _timeline(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.timeline import timeline

    return timeline(
        ctx.yearly, date="start_date", data_date=ctx.run.data_date, source_line=ctx.source_line(), width=width
    )


def _timeline_caption(ctx: SuiteContext) -> str:
    from trialmap.aggregate import ALL

    y = ctx.yearly
    n_dated = int(y.loc[y["iso3"] == ALL, "n_trials"].sum())
    leaders = y.loc[y["iso3"] != ALL, "country"].drop_duplicates().tolist()
    missing = len(ctx.run.included) - n_dated
    year = str(ctx.run.data_date)[:4]
    return (
        f"{_title_sentence(ctx)} per year of study start: top, all {n_dated} trials with a start date"
        + (f" ({missing} without one {'is' if missing == 1 else 'are'} not shown)" if missing else "")
        + f"; below, one panel for each of the {len(leaders)} countries with most trials "
        f"({', '.join(leaders)}), "
        "on a common scale, a multinational trial counting in each of its countries. "
        f"{year} and later (hatched, in every panel) are partial: the registry data date is "
        f"{ctx.run.data_date} and later start dates are anticipated." + _record(ctx)
    )


def _change(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.change import change_map

    before, after = ctx.change_dates
    return change_map(
        ctx.change[0],
        ctx.world,
        before_label=before,
        after_label=after,
        source_line=ctx.source_line(),
        width=width,
    )


def _change_caption(ctx: SuiteContext) -> str:
    countries, trials = ctx.change
    before, after = ctx.change_dates
    gained = countries[countries["change"] > 0]
    top = ", ".join(f"{r.country} +{r.change}" for r in gained.head(3).itertuples())
    added = int((trials["change"] == "added").sum())
    same = int((countries["status"] == "unchanged").sum())
    return (
        f"{_title_sentence(ctx)} first posted between {before} and {after}: {added} trials, in "
        f"{len(gained)} countries (most: {top or 'none'}); {same} countries had trials before and none new "
        "(dotted). Trials are counted as of each date by their first-posted date, with the sites the "
        "snapshot records; the trials are listed in change_trials.csv. Equal Earth projection. "
        + _boundary()
        + _record(ctx)
    )


def _sensitivity(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.sensitivity import sensitivity_plot

    wide, summary = ctx.sensitivity
    names = switch_names(ctx.run.definition)
    labels = {v: variant_words(v, d, names)
              for v, d in zip(summary["variant"], summary["description"], strict=True)}
    labels["default"] = "The definition as written"
    return sensitivity_plot(
        wide,
        top=12 if width == "double" else 10,
        unit=ctx.rule.unit,
        labels=labels,
        source_line=ctx.source_line(),
        width=width,
    )


def switch_names(definition: Any, longest: int = 28) -> dict[str, str]:
    """Switch -> the name of the category it turns on or off, as a legend can hold it: the
    label before any parenthesis, when that is at most ``longest`` characters ("IgA
    nephropathy", "COVID-19"; "Polymyositis and dermatomyositis" is left to the switch's words)."""
    names: dict[str, str] = {}
    for c in definition.categories:
        short = c.label.split(" (")[0].strip()
        if c.switch is not None and c.switch not in names and len(short) <= longest:
            names[c.switch] = short
    return names


def variant_words(variant: str, description: str, names: Mapping[str, str] | None = None) -> str:
    """A sensitivity variant in words: ``"covid19=off"`` -> ``"COVID-19 left out (definition:
    counted)"``, with the category names of ``names`` (:func:`switch_names`), else the switch's words."""
    m = re.fullmatch(r"switch (\S+) (on|off) \(file: (on|off)\)", description)
    if not m:
        return description[:1].upper() + description[1:]
    name, state, file_state = m.groups()
    words = (names or {}).get(name) or name.replace("_", " ")
    return (f"{words[:1].upper() + words[1:]} {'counted' if state == 'on' else 'left out'} "
            f"(definition: {'counted' if file_state == 'on' else 'left out'})")


def _sensitivity_caption(ctx: SuiteContext) -> str:
    _wide, summary = ctx.sensitivity
    moved = summary[summary["n_changed"] > 0]
    return (
        f"{_title_sentence(ctx)}: {ctx.rule.unit} per country under variants of the study-set definition "
        f"(black diamonds: the definition as written; {len(summary) - 1} variants, each one colour and "
        f"marker shape, offset within the row, drawn only where it changes the count). {len(moved)} variants "
        "change at least one country's count. "
        "sensitivity_summary.csv gives each variant's trials and the largest change." + _record(ctx)
    )


DEFAULT_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "figure1",
        "Trials per country (Figure 1)",
        draw=_figure1,
        data=lambda ctx: ctx.run.country_counts,
        caption=_figure1_caption,
    ),
    FigureSpec(
        "figure1-then-now",
        f"Trials per country as of {PAPER_DATE} and now",
        draw=_then_now,
        data=_then_now_data,
        caption=_then_now_caption,
    ),
    FigureSpec(
        "figure1-per-capita",
        "Trials per 10 million inhabitants",
        draw=_per_capita,
        data=lambda ctx: ctx.per_capita,
        caption=_per_capita_caption,
    ),
    FigureSpec(
        "categories-by-country",
        "Trials by disease category and country",
        draw=_categories,
        data=lambda ctx: ctx.category_table,
        caption=_categories_caption,
    ),
    FigureSpec(
        "sitemap", "Trial sites", draw=_sitemap(None), data=_site_data, caption=_sitemap_caption(None)
    ),
    FigureSpec(
        "sitemap-europe",
        "Trial sites: Europe",
        draw=_sitemap("Europe"),
        data=_site_data,
        caption=_sitemap_caption("Europe"),
    ),
    FigureSpec(
        "sitemap-east-asia",
        "Trial sites: East Asia",
        draw=_sitemap("East Asia"),
        data=_site_data,
        caption=_sitemap_caption("East Asia"),
    ),
    FigureSpec(
        "flow",
        "Study flow: records read to trials mapped (PRISMA-style)",
        draw=_flow,
        data=lambda ctx: ctx.run.flow,
        caption=_flow_caption,
    ),
    FigureSpec(
        "regions",
        "Trials per region",
        draw=_regions,
        data=lambda ctx: ctx.run.region_counts,
        caption=_regions_caption,
    ),
    FigureSpec(
        "timeline",
        "Trials per year of study start",
        draw=_timeline,
        data=lambda ctx: ctx.yearly,
        caption=_timeline_caption,
    ),
    FigureSpec(
        "change",
        "Trials first posted in the last two years, per country",
        draw=_change,
        data=lambda ctx: ctx.change[0][ctx.change[0]["change"] != 0],
        caption=_change_caption,
        tables=lambda ctx: {"change_trials.csv": ctx.change[1]},
    ),
    FigureSpec(
        "sensitivity",
        "Per-country counts under variants of the definition",
        draw=_sensitivity,
        data=lambda ctx: ctx.sensitivity[0],
        caption=_sensitivity_caption,
        tables=lambda ctx: {"sensitivity_summary.csv": ctx.sensitivity[1]},
    ),
)


def figure_names(spec: str | Iterable[str], figures: Sequence[FigureSpec] = DEFAULT_FIGURES) -> list[str]:
    """``"all"``, ``"figure1,flow"`` or a list of names -> figure names, in the set's order.

    Parameters
    ----------
    spec : str or iterable of str
        Names separated by commas, or ``"all"``.
    figures : sequence of FigureSpec
        The figure set (default :data:`DEFAULT_FIGURES`).

    Returns
    -------
    list of str

    Raises
    ------
    OutputError
        For an empty spec or a name the set does not have.
    """
    known = [f.name for f in figures]
    names = [n.strip() for n in (re.split(r",", spec) if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        msg = f"--figures / names= names no figure: give all or some of {', '.join(known)}"
        raise OutputError(msg)
    if "all" in names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"unknown figure {unknown[0]!r} (--figures / names=): choose from all, {', '.join(known)}"
        raise OutputError(msg)
    return [n for n in known if n in names]


def write_figures(
    run: Any,
    out_dir: str | Path,
    provenance: Mapping[str, Any],
    *,
    names: Iterable[str] | str | None = None,
    figures: Sequence[FigureSpec] = DEFAULT_FIGURES,
    widths: Sequence[str] | None = None,
    formats: Sequence[str] = JOURNAL_FORMATS,
    dpis: Sequence[int] = JOURNAL_DPIS,
    change_years: int = CHANGE_YEARS,
) -> list[Export]:
    """Draw and export figures of ``figures`` into ``out_dir`` (usually ``<out>/figures``).

    Parameters
    ----------
    run : Run
        The processed run (``trialmap.pipeline.Run`` / :class:`trialmap.pipeline.Run`).
    out_dir : str or Path
        Folder to write into (created).
    provenance : mapping
        The run's provenance record; embedded in every file and sidecar.
    names : str or iterable of str, optional
        Figures to write (``"all"``, ``"figure1,flow"`` or names; default: all of ``figures``).
    figures : sequence of FigureSpec
        The figure set (default :data:`DEFAULT_FIGURES`).
    widths : sequence of str, optional
        Override each figure's widths (``"single"``, ``"double"``).
    formats, dpis : sequence
        Passed to :func:`~trialmap.figures.export.export_figure`.
    change_years : int
        The change map compares the registry data date with this many years earlier.

    Returns
    -------
    list of Export
        One per figure and width, in order; each export's record holds its caption.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from trialmap.figures.export import export_figure, journal_rc

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = SuiteContext(run, provenance, change_years)
    chosen = figure_names("all" if names is None else names, figures)
    by_name = {f.name: f for f in figures}
    exports = []
    for name in chosen:
        spec = by_name[name]
        caption = spec.caption(ctx)
        data = spec.data(ctx)
        for width in widths or spec.widths:
            with mpl.rc_context(journal_rc(width)):
                ax = spec.draw(ctx, width)
            fig = ax.figure
            try:
                stem = out_dir / (name if width == "double" else f"{name}_{width}")
                exports.append(
                    export_figure(
                        fig,
                        stem,
                        provenance,
                        title=spec.title,
                        source_line=drawn_source_line(fig),
                        caption=caption,
                        data=data,
                        formats=formats,
                        dpis=dpis,
                    )
                )
            finally:
                plt.close(fig)
        for file_name, table in (spec.tables(ctx) if spec.tables else {}).items():
            table.to_csv(out_dir / file_name, index=False)
    return exports


def draw(
    run: Any,
    name: str,
    width: str = "double",
    *,
    figures: Sequence[FigureSpec] = DEFAULT_FIGURES,
    provenance: Mapping[str, Any] | None = None,
) -> Axes:
    """Draw one figure of the set for ``run`` (e.g. in a notebook); return its main Axes."""
    import matplotlib as mpl

    from trialmap.figures.export import journal_rc

    by_name = {f.name: f for f in figures}
    figure_names([name], figures)
    with mpl.rc_context(journal_rc(width)):
        return by_name[name].draw(SuiteContext(run, provenance or {}), width)


def draw_figure1(run: Any, provenance: Mapping[str, Any] | None = None, *, ax: Axes | None = None,
                 **kw: Any) -> Axes:
    """Figure 1 for a run as the set draws it; with ``ax`` or ``kw``, :func:`figure1` itself.

    ``kw`` overrides the set's arguments to :func:`trialmap.figures.worldmap.figure1`.
    """
    if ax is None and not kw:
        return draw(run, "figure1", provenance=provenance)
    import inspect

    from trialmap.figures.worldmap import figure1

    ctx = SuiteContext(run, provenance or {})
    sig = inspect.signature(figure1).parameters
    args: dict[str, Any] = {"source_line": ctx.source_line(), "value": ctx.rule.column, "unit": ctx.rule.unit}
    args = {k: v for k, v in args.items() if k in sig}
    return figure1(run.country_counts, ctx.world, ax=ax, **{**args, **kw})


def export_one(
    run: Any, stem: str | Path, name: str, provenance: Mapping[str, Any], *, width: str = "double",
    formats: Sequence[str] | None = None, dpis: Sequence[int] | None = None,
    figures: Sequence[FigureSpec] = DEFAULT_FIGURES,
) -> Export:
    """Draw one figure and export it in journal formats with its caption, data and provenance."""
    import matplotlib.pyplot as plt

    from trialmap.figures.export import export_figure

    figure_names([name], figures)
    spec = next(f for f in figures if f.name == name)
    ctx = SuiteContext(run, provenance)
    ax = draw(run, name, width, figures=figures, provenance=provenance)
    try:
        return export_figure(
            ax.figure, stem, provenance, title=spec.title, source_line=drawn_source_line(ax.figure),
            caption=spec.caption(ctx), data=spec.data(ctx), formats=formats or JOURNAL_FORMATS,
            dpis=dpis or JOURNAL_DPIS,
        )
    finally:
        plt.close(ax.figure)


def warm_up() -> None:
    """Import the drawing stack and load what Figure 1 needs before it is drawn: matplotlib
    with its PDF backend, the world's boundaries, the map projections and the font.

    The main command does this while a forked copy runs the pipeline. Any failure is left
    for the drawing itself to report.
    """
    try:
        import matplotlib.backends.backend_pdf
        import matplotlib.pyplot  # noqa: F401
        from matplotlib import font_manager

        from trialmap import boundaries, report  # noqa: F401
        from trialmap.figures import export, worldmap

        boundaries.load_world()
        for src, dst in worldmap.PIPELINES:
            worldmap._transformer(src, dst)
        family = export.journal_rc()["font.sans-serif"]
        for weight in ("normal", "bold"):
            props = font_manager.FontProperties(family=family, weight=weight)
            font_manager.get_font(font_manager.findfont(props))
    except Exception:  # the figure says what is wrong when it is drawn
        return


def drawn_source_line(fig) -> str:
    from matplotlib.text import Text

    # add_source_line puts it among the figure's own texts: look there before walking every artist
    found = [t.get_text() for t in fig.texts if t.get_gid() == "source-line"] or [
        t.get_text() for t in fig.findobj(Text) if t.get_gid() == "source-line"]
    return " ".join(found[0].split()) if found else ""


__all__ = [
    "DEFAULT_FIGURES",
    "FigureSpec",
    "SuiteContext",
    "draw",
    "draw_figure1",
    "export_one",
    "figure_names",
    "flow_labels",
    "write_figures",
]
