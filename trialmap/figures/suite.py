"""The set of figures a run writes, and one call that draws and exports them all.

:data:`DEFAULT_FIGURES` is a tuple of :class:`FigureSpec` values: a name (the
file stem), a draw function ``draw(ctx, width) -> Axes`` that draws at the
printed width, the numbers the figure shows (stored in its sidecar) and its
legend text. :func:`write_figures` draws the chosen figures and exports each
with :func:`~trialmap.figures.export.export_figure` into ``<out>/figures/``:
``<name>.*`` is 183 mm wide, ``<name>_single.*`` 89 mm. The set is passed
explicitly (``suite=``), so a notebook and the CLI write the same figures and
nothing depends on import order::

    mine = DEFAULT_FIGURES + (FigureSpec("my-map", "...", draw=..., data=..., caption=...),)
    write_figures(run, "out/figures", run.provenance(), suite=mine)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from trialmap.figures.export import JOURNAL_DPIS, JOURNAL_FORMATS, Export
from trialmap.provenance import CTGOV_CREDIT, NE_CREDIT

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTHS = ("double", "single")
CHANGE_YEARS = 2  # default span of the two-date change map, ending at the registry data date


def source_line(provenance: Mapping[str, Any], *, boundaries: bool = False) -> str:
    """The short credit printed on a figure, from a run's provenance record.

    Source, registry data date, snapshot id, study-set definition and version,
    counting rule; the boundary credit for maps.
    """
    if provenance.get("source_line"):  # the run's own line (fallback, switches, as-of)
        return provenance["source_line"] + (f" Boundaries: {NE_CREDIT}." if boundaries else "")
    snap = provenance.get("snapshot", {})
    d = provenance.get("definition", {})
    text = (
        f"Data: {CTGOV_CREDIT}, registry data date {snap.get('registry_data_date', 'unknown')}, snapshot "
        f"{snap.get('id', 'unknown')}. Study set: {d.get('name', '?')} v{d.get('version', '?')}. "
        f"Counting: {provenance.get('counting_rule', 'unknown')}."
    )
    return text + (f" Boundaries: {NE_CREDIT}." if boundaries else "")


@dataclass
class SuiteContext:
    """What the figure adapters draw from: the run, its provenance and options.

    ``result`` is a :class:`trialmap.refresh.Result` or anything with the same
    attributes (``country_counts``, ``region_counts``, ``tables``,
    ``included``, ``data_date``). Derived tables are computed once, on first use.
    """

    result: Any
    provenance: Mapping[str, Any]
    change_years: int = CHANGE_YEARS
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def source_line(self, *, boundaries: bool = False) -> str:
        return source_line(self.provenance, boundaries=boundaries)

    @cached_property
    def world(self):
        from trialmap import boundaries

        return boundaries.load_world()

    @cached_property
    def names(self) -> dict[str, str]:
        return self.result.country_counts.set_index("iso3")["country"].to_dict()

    @cached_property
    def yearly(self) -> pd.DataFrame:
        from trialmap.figures.timeline import yearly_counts

        t = self.result.tables
        return yearly_counts(t.studies, t.sites, self.result.included, date="start_date", names=self.names)

    @cached_property
    def rule(self):
        """The run's counting rule (trials per country when the result has none)."""
        from trialmap import aggregate

        return getattr(self.result, "rule", None) or aggregate.CountingRule()

    @cached_property
    def change_dates(self) -> tuple[str, str]:
        # An as-of replay ends the change window at its date, not at the snapshot's.
        after = pd.Timestamp(getattr(self.result, "as_of", None) or self.result.data_date)
        before = after - pd.DateOffset(years=self.change_years)
        return before.date().isoformat(), after.date().isoformat()

    @cached_property
    def change(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(country change, trials added/removed) between the two change dates."""
        from trialmap import aggregate, countries
        from trialmap.figures.change import country_change, posted_by, trial_changes

        t = self.result.tables
        before_date, after_date = self.change_dates
        before = posted_by(t.studies, self.result.included, before_date)
        after = posted_by(t.studies, self.result.included, after_date)
        # Same rule switches as the run (withdrawn sites, removed countries); trials per country.
        rule = dataclasses.replace(self.rule, name="trials")
        removed = aggregate.removed_country_rows(t.studies, countries.to_iso3)
        counts = [
            aggregate.country_counts(t.sites, ids, self.names, rule, removed) for ids in (before, after)
        ]
        return country_change(*counts), trial_changes(before, after, t.studies, t.sites)


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the suite.

    Attributes
    ----------
    name
        File stem under ``figures/`` (``figure1`` -> ``figure1.pdf``...).
    title
        Short title (file metadata; journals put titles in the legend).
    draw
        ``draw(ctx, width) -> Axes``: draw a new figure ``width`` wide
        (``"single"`` or ``"double"``) with its source line.
    data
        ``data(ctx) -> DataFrame``: the numbers the figure shows (sidecar).
    caption
        ``caption(ctx) -> str``: a suggested legend, with numbers from the run.
    tables
        Optional ``tables(ctx) -> {file name: DataFrame}`` written as CSV
        beside the figure (e.g. the trials behind a change map).
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


def write_figures(
    result: Any,
    out_dir: str | Path,
    provenance: Mapping[str, Any],
    *,
    names: Iterable[str] | None = None,
    widths: Sequence[str] | None = None,
    formats: Sequence[str] = JOURNAL_FORMATS,
    dpis: Sequence[int] = JOURNAL_DPIS,
    change_years: int = CHANGE_YEARS,
    suite: Sequence[FigureSpec] | None = None,
) -> list[Export]:
    """Draw and export every figure of the suite into ``out_dir`` (usually ``<out>/figures``).

    Parameters
    ----------
    result
        The processed run (:class:`trialmap.refresh.Result`).
    provenance
        The run's provenance record; embedded in every file and sidecar.
    names
        Figures to write (default: all of ``suite``, in order).
    suite
        The figure set (default :data:`DEFAULT_FIGURES`).
    widths
        Override each figure's widths (``"single"``, ``"double"``).
    formats, dpis
        Passed to :func:`~trialmap.figures.export.export_figure`.
    change_years
        The change map compares the registry data date with this many years earlier.

    Returns
    -------
    list of Export
        One per figure and width, in order.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from trialmap.figures.export import export_figure, journal_rc

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = SuiteContext(result, provenance, change_years)
    suite = DEFAULT_FIGURES if suite is None else suite
    chosen = figure_names(list(names) if names is not None else "all", suite)
    exports = []
    for name in chosen:
        spec = _spec(name, suite)
        caption = spec.caption(ctx)
        data = spec.data(ctx)
        for width in widths or spec.widths:
            with mpl.rc_context(journal_rc(width)):
                ax = spec.draw(ctx, width)
            fig = ax.figure
            try:
                stem = out_dir / (name if width == "double" else f"{name}_{width}")
                exports.append(export_figure(
                    fig, stem, provenance, title=spec.title, source_line=_drawn_source_line(fig),
                    caption=caption, data=data, formats=formats, dpis=dpis,
                ))
            finally:
                plt.close(fig)
        for file_name, table in (spec.tables(ctx) if spec.tables else {}).items():
            table.to_csv(out_dir / file_name, index=False)
    return exports


def _drawn_source_line(fig) -> str:
    from matplotlib.text import Text

    found = [t.get_text() for t in fig.findobj(Text) if t.get_gid() == "source-line"]
    return " ".join(found[0].split()) if found else ""


# ---------------------------------------------------------------------------
# The built-in figures, in the order a paper would show them.


def _figure1(ctx: SuiteContext, width: str) -> Axes:
    from trialmap import countries
    from trialmap.figures.worldmap import figure1

    return figure1(
        ctx.result.country_counts, ctx.world, regions=_europe(ctx, countries.region_members("Europe")),
        source_line=ctx.source_line(boundaries=True), width=width, value=ctx.rule.column,
        unit=ctx.rule.unit,
    )


def _europe(ctx: SuiteContext, members: Iterable[str]) -> dict[str, tuple[float, Iterable[str]]]:
    n = ctx.result.region_counts.set_index("region")[ctx.rule.column].get("Europe", 0)
    return {"Europe": (n, members)}


def _figure1_caption(ctx: SuiteContext) -> str:
    from trialmap.figures.worldmap import caption

    rc = ctx.result.region_counts.set_index("region")[ctx.rule.column]
    return caption(
        ctx.result.country_counts, n_trials=len(ctx.result.included), data_date=ctx.result.data_date,
        regions={"Europe": rc.get("Europe", 0)},
        counting_rule=str(ctx.provenance.get("counting_rule", "unknown")),
        value=ctx.rule.column, unit=ctx.rule.unit,
    )


def _regions(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.regions import regions_bar

    return regions_bar(ctx.result.region_counts, source_line=ctx.source_line(), width=width)


def _regions_caption(ctx: SuiteContext) -> str:
    rc = ctx.result.region_counts
    none = rc.loc[rc["n_trials"] == 0, "region"].tolist()
    text = (
        f"Trials with at least one site in each region ({len(ctx.result.included)} trials; "
        f"ClinicalTrials.gov, registry data date {ctx.result.data_date}). Regions are UN M49 continents; "
        "the hatched inner bar is the EU27 part of Europe. A multinational trial counts once in each "
        "region where it has a site, so the regions add up to more than the number of trials."
    )
    return text + (f" No trial had a site in {', '.join(none)}." if none else "")


def _timeline(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.timeline import timeline

    return timeline(ctx.yearly, date="start_date", data_date=ctx.result.data_date,
                    source_line=ctx.source_line(), width=width)


def _timeline_caption(ctx: SuiteContext) -> str:
    from trialmap.figures.timeline import ALL

    y = ctx.yearly
    n_dated = int(y.loc[y["iso3"] == ALL, "n_trials"].sum())
    leaders = y.loc[y["iso3"] != ALL, "country"].drop_duplicates().tolist()
    missing = len(ctx.result.included) - n_dated
    year = str(ctx.result.data_date)[:4]
    return (
        f"Trials per year of study start: bars, all {n_dated} trials with a start date"
        + (f" ({missing} without one {'is' if missing == 1 else 'are'} not shown)" if missing else "")
        + f"; lines, the {len(leaders)} countries with most trials ({', '.join(leaders)}), a multinational "
        f"trial counting in each of its countries. {year} and later (hatched) are partial: the registry "
        f"data date is {ctx.result.data_date} and later start dates are anticipated."
    )


def _change(ctx: SuiteContext, width: str) -> Axes:
    from trialmap.figures.change import change_map

    before, after = ctx.change_dates
    return change_map(ctx.change[0], ctx.world, before_label=before, after_label=after,
                      source_line=ctx.source_line(boundaries=True), width=width)


def _change_caption(ctx: SuiteContext) -> str:
    countries, trials = ctx.change
    before, after = ctx.change_dates
    gained = countries[countries["change"] > 0]
    top = ", ".join(f"{r.country} +{r.change}" for r in gained.head(3).itertuples())
    added = int((trials["change"] == "added").sum())
    return (
        f"Trials gained per country between {before} and {after}: {added} trials first posted in that "
        f"period, in {len(gained)} countries (largest gains: {top or 'none'}). Trials are counted as of "
        "each date by their first-posted date, with the sites the snapshot records; the trials are listed "
        "in change_trials.csv."
    )


def _sitemap_source_line(ctx: SuiteContext) -> str:
    from trialmap.provenance import CTGOV_CREDIT, GEONAMES_CREDIT

    used = set(ctx.result.tables.sites["geo_source"].dropna())
    places = [CTGOV_CREDIT + " coordinates" if "registry" in used else None,
              GEONAMES_CREDIT if "gazetteer" in used else None,
              "user overrides" if "override" in used else None]
    return (f"{ctx.source_line(boundaries=True)} Site coordinates: "
            f"{', '.join(p for p in places if p) or 'none'}.")


def _included_sites(ctx: SuiteContext) -> pd.DataFrame:
    from trialmap.tables import isin

    sites = ctx.result.tables.sites
    return sites[isin(sites["nct_id"], ctx.result.included)]


def _sitemap(region: str | None) -> Callable[[SuiteContext, str], Axes]:
    def draw(ctx: SuiteContext, width: str) -> Axes:
        from trialmap.figures import site_points, sitemap

        sites = _included_sites(ctx)
        zoom = f", {region}" if region else ""
        return sitemap(
            site_points(sites), ctx.world, ctx.result.country_counts, region=region,
            n_country_only=int((sites["geo_precision"] == "country").sum()),
            source_line=_sitemap_source_line(ctx),
            title=f"Sites: {ctx.result.definition.title}{zoom} (n = {len(ctx.result.included)} trials)",
        )

    return draw


def _flow(ctx: SuiteContext, width: str) -> Axes:
    from trialmap import studyset
    from trialmap.figures.flow import flow_diagram

    return flow_diagram(ctx.result.flow, ctx.result.inclusion_log, source_line=ctx.source_line(),
                        labels=studyset.step_labels(ctx.result.definition),
                        title=f"Study flow: {ctx.result.definition.title}")


def _sitemap_spec(region: str | None, name: str) -> FigureSpec:
    return FigureSpec(
        name, f"Trial sites{': ' + region if region else ''}", draw=_sitemap(region),
        data=lambda ctx: _included_sites(ctx)[
            ["nct_id", "city", "state", "country", "lat", "lon", "geo_source", "geo_precision"]],
        caption=lambda ctx: (
            f"Sites of the {len(ctx.result.included)} included trials{' in ' + region if region else ''}; "
            f"dot area proportional to trials per place. {_sitemap_source_line(ctx)}"
        ),
        widths=("double",),
    )


#: The figures of the suite, in the order a paper would show them. A value, not a
#: registry: pass another tuple (e.g. ``DEFAULT_FIGURES + (my_spec,)``) to add figures.
DEFAULT_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "figure1", "Trials by country", draw=_figure1, data=lambda ctx: ctx.result.country_counts,
        caption=_figure1_caption,
    ),
    _sitemap_spec(None, "sitemap"),
    _sitemap_spec("Europe", "sitemap-europe"),
    _sitemap_spec("East Asia", "sitemap-east-asia"),
    FigureSpec(
        "flow", "Study flow: records read to trials mapped (PRISMA-style)", draw=_flow,
        data=lambda ctx: ctx.result.flow,
        caption=lambda ctx: f"Study selection. {ctx.result.provenance().get('description', '')}",
        widths=("double",),
    ),
    FigureSpec(
        "regions", "Trials per region", draw=_regions, data=lambda ctx: ctx.result.region_counts,
        caption=_regions_caption,
    ),
    FigureSpec(
        "timeline", "Trials per year of study start, by leading country", draw=_timeline,
        data=lambda ctx: ctx.yearly, caption=_timeline_caption,
    ),
    FigureSpec(
        "change", "Trials gained per country", draw=_change,
        data=lambda ctx: ctx.change[0][ctx.change[0]["change"] != 0], caption=_change_caption,
        tables=lambda ctx: {"change_trials.csv": ctx.change[1]},
    ),
)


def figure_names(figures: Sequence[str] | str, suite: Sequence[FigureSpec] = DEFAULT_FIGURES) -> list[str]:
    """``"all"``, ``"figure1,flow"`` or a list of names -> figure names, in suite order.

    Raises
    ------
    OutputError
        For a name the suite does not have, or none at all.
    """
    from trialmap.errors import OutputError

    known = [s.name for s in suite]
    names = [n.strip() for n in (figures.split(",") if isinstance(figures, str) else figures) if n.strip()]
    if not names:
        msg = f"no figure named: give figures= (--figures) all or some of {', '.join(known)}"
        raise OutputError(msg)
    if "all" in names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"unknown figure {unknown[0]!r}: choose figures= (--figures) from all, {', '.join(known)}"
        raise OutputError(msg)
    return [n for n in known if n in names]


def _spec(name: str, suite: Sequence[FigureSpec]) -> FigureSpec:
    figure_names([name], suite)
    return next(s for s in suite if s.name == name)


def draw(run: Any, name: str, width: str, provenance: Mapping[str, Any],
         suite: Sequence[FigureSpec] = DEFAULT_FIGURES) -> Axes:
    """Draw one figure of the suite for a run, at its printed width, with journal type sizes."""
    import matplotlib as mpl

    from trialmap.figures.export import journal_rc

    with mpl.rc_context(journal_rc(width)):
        return _spec(name, suite).draw(SuiteContext(run, provenance), width)


def draw_figure1(run: Any, provenance: Mapping[str, Any], *, ax: Axes | None = None, **kw: Any) -> Axes:
    """Figure 1 for a run as the suite draws it; ``ax`` and ``kw`` go to :func:`figure1`."""
    if ax is None and not kw:
        return draw(run, "figure1", "double", provenance)
    from trialmap import countries
    from trialmap.figures.worldmap import figure1

    ctx = SuiteContext(run, provenance)
    args: dict[str, Any] = {
        "regions": _europe(ctx, countries.region_members("Europe")),
        "source_line": ctx.source_line(boundaries=True), "value": ctx.rule.column, "unit": ctx.rule.unit,
    }
    return figure1(run.country_counts, ctx.world, ax=ax, **{**args, **kw})


def export_one(run: Any, stem: str | Path, name: str, provenance: Mapping[str, Any], *,
               width: str = "double", formats: Sequence[str] | None = None,
               dpis: Sequence[int] | None = None, suite: Sequence[FigureSpec] = DEFAULT_FIGURES) -> Export:
    """Draw one figure and export it in journal formats with its caption, data and provenance."""
    import matplotlib.pyplot as plt

    from trialmap.figures.export import export_figure

    spec = _spec(name, suite)
    ctx = SuiteContext(run, provenance)
    ax = draw(run, name, width, provenance, suite)
    try:
        return export_figure(
            ax.figure, stem, provenance, title=spec.title, source_line=_drawn_source_line(ax.figure),
            caption=spec.caption(ctx), data=spec.data(ctx), formats=formats or JOURNAL_FORMATS,
            dpis=dpis or JOURNAL_DPIS,
        )
    finally:
        plt.close(ax.figure)


__all__ = [
    "DEFAULT_FIGURES", "FigureSpec", "SuiteContext", "draw", "draw_figure1", "export_one",
    "figure_names", "source_line", "write_figures",
]
