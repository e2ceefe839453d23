"""The one pipeline: snapshot -> tables -> placed sites -> study set -> counts -> :class:`Run`.

This module holds the only spelling of the stage order. The main command, every
``trialmap`` subcommand, the sensitivity analysis, the benchmark and the
notebooks call :func:`run` (or its stages, in this order)::

    read(snapshot)                      canonical tables (sources)
    locate(tables, overrides)           ISO3 country + coordinates for every site (countries, geocode)
    select(tables, definition, as_of)   inclusion log, categories, flow (studyset)
    count(tables, log, rule)            trials per country and region (aggregate)

Stage functions are pure apart from reading the snapshot and the vendored data;
nothing here writes. Writing a run's folder is :mod:`trialmap.outputs`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialmap import forked, paths
from trialmap.errors import ArgumentError, SnapshotNotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from trialmap.aggregate import CountingRule
    from trialmap.snapshot import Snapshot
    from trialmap.studyset import Definition
    from trialmap.tables import Tables

#: The stages of :func:`run`, in order (names used by the benchmark's timings).
STAGES = ("read", "locate", "select", "count")

StageTimer = Callable[[str], AbstractContextManager[Any]]


# ---------------------------------------------------------------------------- snapshots


def open_snapshot(ref: str | Path | None = None, data_dir: str | Path | None = None) -> Snapshot:
    """Find a raw snapshot and verify its files against its manifest.

    Parameters
    ----------
    ref : str or pathlib.Path, optional
        A snapshot id (folder name under ``<data_dir>/raw``) or a snapshot
        folder. ``None``: the newest registry snapshot in the data directory,
        else the real snapshot bundled with trialmap
        (:data:`trialmap.paths.BUNDLED_SNAPSHOT`, ClinicalTrials.gov, January 2022).
    data_dir : str or pathlib.Path, optional
        The data directory (see :func:`trialmap.paths.data_dir`).

    Returns
    -------
    trialmap.snapshot.Snapshot
        The verified snapshot (every file re-hashed).

    Raises
    ------
    SnapshotNotFoundError
        No such snapshot (the message lists the known ones).
    SnapshotIntegrityError
        Its files do not match its manifest.
    """
    from trialmap import snapshot

    raw = paths.data_dir(data_dir) / "raw"
    bundled = paths.bundled_raw_dir()
    try:
        return snapshot.open_snapshot(ref, raw)
    except SnapshotNotFoundError:
        if bundled is None or raw.resolve() == bundled.resolve():
            raise
        if ref is None:
            if raw.is_dir() and snapshot.list_snapshots(raw):
                raise
            return snapshot.open_snapshot(paths.BUNDLED_SNAPSHOT, bundled)
        if str(ref) == paths.BUNDLED_SNAPSHOT:
            return snapshot.open_snapshot(ref, bundled)
        raise


def list_snapshots(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Manifests of the snapshots in ``<data_dir>/raw`` plus the bundled one, oldest first.

    Parameters
    ----------
    data_dir : str or pathlib.Path, optional
        The data directory (see :func:`trialmap.paths.data_dir`).

    Returns
    -------
    list of dict
        Each manifest with its ``path``; the bundled snapshot is listed (with
        ``"bundled": True``) when the data directory has no copy of it.
    """
    from trialmap import snapshot

    raw = paths.data_dir(data_dir) / "raw"
    found = snapshot.list_snapshots(raw) if raw.is_dir() else []
    bundled = paths.bundled_raw_dir()
    if bundled is not None and not any(m["snapshot_id"] == paths.BUNDLED_SNAPSHOT for m in found):
        found = [
            {**m, "bundled": True} for m in snapshot.list_snapshots(bundled)
            if m["snapshot_id"] == paths.BUNDLED_SNAPSHOT
        ] + found
    return found


# ---------------------------------------------------------------------------- definitions


def load_definition(definition: Any = None, switches: dict[str, bool] | None = None) -> Definition:
    """A study-set definition: a shipped name, a TOML file, or a :class:`Definition` as it is.

    Parameters
    ----------
    definition : str, pathlib.Path or Definition, optional
        ``None`` for the default; a name from :func:`list_definitions`; a path
        to a TOML file laid out like ``trialmap definition`` prints.
    switches : dict of str to bool, optional
        Judgement calls to flip (``{"osteoarthritis": True}``).

    Returns
    -------
    trialmap.studyset.Definition

    Raises
    ------
    DefinitionError
        For an unknown name, a bad file (the message names file and line) or
        an unknown switch.
    """
    from trialmap import studyset

    d = definition if isinstance(definition, studyset.Definition) else studyset.load_definition(definition)
    return studyset.with_switches(d, switches) if switches else d


def list_definitions() -> list[dict[str, str]]:
    """The study-set definitions shipped with trialmap.

    Returns
    -------
    list of dict
        ``name``, ``version`` and ``title`` of each, the default first.
    """
    from trialmap import studyset

    return [{"name": i.name, "version": i.version, "title": i.title} for i in studyset.list_definitions()]


# ---------------------------------------------------------------------------- stages


def read(snapshot: Snapshot) -> Tables:
    """Stage 1: the snapshot's canonical tables (studies, sites, conditions, interventions)."""
    from trialmap.sources import read_snapshot

    return read_snapshot(snapshot)


def locate(tables: Tables, overrides: str | Path | None = None) -> tuple[Tables, dict[str, Any]]:
    """Stage 2: an ISO3 code and coordinates for every site.

    Parameters
    ----------
    tables : trialmap.tables.Tables
        From :func:`read`.
    overrides : str or pathlib.Path, optional
        A CSV of ``city, state, country, lat, lon`` applied before the gazetteer.

    Returns
    -------
    tables : trialmap.tables.Tables
        ``sites`` gains ``iso3``, ``lat``, ``lon``, ``geo_source``, ``geo_precision``.
    geocoding : dict
        The placement ladder, gazetteer and overrides used (for provenance).
    """
    from trialmap import boundaries, countries, gazetteer, geocode

    gaz, points = gazetteer.load(), boundaries.country_points()
    sites = tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"]))
    ov = gazetteer.read_overrides(overrides) if overrides is not None else None
    sites = geocode.place_sites(sites, points, gaz, ov)
    info: dict[str, Any] = {
        "ladder": "registry geoPoint > overrides > GeoNames gazetteer (city, state, country) > "
        "country representative point",
        "gazetteer": gaz.meta,
        "overrides": None,
    }
    if ov is not None:
        info["overrides"] = {
            "file": Path(overrides).name,
            "sha256": paths.sha256_file(overrides),
            "rows": len(ov),
            "sites_placed": int((sites["geo_source"] == "override").sum()),
        }
    return tables.replace(sites=sites), info


def select(
    tables: Tables, definition: Definition, as_of: str | None = None, **kw: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stage 3: which trials count.

    ``kw`` goes to :func:`trialmap.studyset.select` (``match=`` evidence mode and a
    precomputed ``evidence=``, for the sensitivity analysis).

    Returns
    -------
    inclusion_log, categories, flow : pandas.DataFrame
        One row per record with the step it left at and why; the disease
        categories of each trial with their evidence; records remaining after each step.
    """
    from trialmap import studyset

    log, categories = studyset.select(tables, definition, as_of=as_of, **kw)
    return log, categories, studyset.flow_counts(log, as_of=as_of is not None)


@dataclass(frozen=True)
class Counts:
    """What :func:`count` returns: the tallies of one counting rule."""

    country_counts: pd.DataFrame
    region_counts: pd.DataFrame
    no_location: pd.DataFrame | None


def count(tables: Tables, inclusion_log: pd.DataFrame, rule: CountingRule) -> Counts:
    """Stage 4: trials (or sites, or fractional trials) per country and region.

    Parameters
    ----------
    tables : trialmap.tables.Tables
        With located sites (``iso3``).
    inclusion_log : pandas.DataFrame
        From :func:`select`.
    rule : trialmap.aggregate.CountingRule
        The counting rule and its switches.
    """
    from trialmap import aggregate, countries

    ids = inclusion_log.loc[inclusion_log["included"], "nct_id"]
    names = countries.country_table().set_index("iso3")["name"].to_dict()
    removed = aggregate.removed_country_rows(tables.studies, countries.to_iso3)
    # The "(no location)" bucket holds the in-scope trials that the site steps dropped.
    in_scope = inclusion_log.loc[
        inclusion_log["step"].isin(["included", "with_site", "with_mapped_country"]), "nct_id"
    ]
    # Counting removed countries can place a trial that lists no current site.
    counted = in_scope if rule.removed_countries else ids
    sites = tables.sites
    regions = {r: countries.region_members(r) for r, _ in countries.REPORTED_REGIONS}
    return Counts(
        aggregate.country_counts(sites, counted, names, rule, removed),
        aggregate.region_counts(sites, counted, regions, rule, removed,
                                schemes=dict(countries.REPORTED_REGIONS)),
        aggregate.no_location_row(sites, in_scope, rule, removed) if rule.no_location else None,
    )


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Run:
    """Everything one run computed, before anything is written.

    Made by :func:`run`. Tables are pandas DataFrames in the column vocabulary
    of the README; methods draw the figures, export them for a journal and
    write the whole output folder.
    """

    snapshot: Snapshot
    definition: Definition
    tables: Tables
    inclusion_log: pd.DataFrame
    flow: pd.DataFrame
    categories: pd.DataFrame
    country_counts: pd.DataFrame
    region_counts: pd.DataFrame
    unknown_countries: pd.DataFrame
    geo_audit: pd.DataFrame
    rule: CountingRule
    as_of: str | None = None
    no_location: pd.DataFrame | None = None
    category_counts: pd.DataFrame | None = None
    geo_unmatched: pd.DataFrame | None = None
    #: The placement ladder, gazetteer and overrides used (provenance).
    geocoding: dict[str, Any] | None = None
    #: What a fetch step did before this run (None: not attempted).
    fetch: dict[str, Any] | None = None
    #: Settings that make this run differ from the default, for the output folder's name.
    settings: dict[str, Any] = field(default_factory=dict)

    # -- derived ------------------------------------------------------------------------

    @property
    def included(self) -> pd.Index:
        """NCT ids of the trials counted on the map."""
        import pandas as pd

        return pd.Index(self.inclusion_log.loc[self.inclusion_log["included"], "nct_id"])

    @property
    def data_date(self) -> str:
        """The snapshot's registry data date (YYYY-MM-DD)."""
        return str(self.snapshot.manifest.get("registry_data_date", "unknown"))

    @property
    def output_name(self) -> str:
        """Folder name under ``processed/``: the snapshot id plus whatever is not default.

        The as-of date and a non-default counting rule are spelled out; any
        other non-default setting (definition or switches, rule switches,
        overrides, figure options) adds a short hash, so such runs never
        replace the default outputs or each other.
        """
        name = self.snapshot.id
        if self.as_of:
            name += f"_as-of-{self.as_of}"
        if self.rule.name != "trials":
            name += f"_{self.rule.name}"
        custom = {k: v for k, v in self.settings.items() if v is not None}
        if custom:
            digest = hashlib.sha256(json.dumps(custom, sort_keys=True, default=str).encode()).hexdigest()
            name += f"_custom-{digest[:8]}"
        return name

    def flow_numbers(self) -> dict[str, int]:
        """Records remaining after each step of the flow, by step id."""
        return {str(k): int(v) for k, v in self.flow.set_index("step")["n_remaining"].items()}

    # -- provenance -----------------------------------------------------------------------

    def provenance(self, argv: Sequence[str] | None = None, *, full_paths: bool = False) -> dict[str, Any]:
        """The run's provenance record (what :meth:`write` saves as ``provenance.json``).

        Parameters
        ----------
        argv : sequence of str, optional
            The command line that made the run (recorded without absolute paths).
        full_paths : bool, default False
            Record absolute paths of the snapshot and inputs.
        """
        from trialmap import provenance

        return provenance.record(self, argv, full_paths=full_paths)

    def source_line(self) -> str:
        """The one-line credit printed on figures: source, registry data date, snapshot id."""
        from trialmap import provenance

        return provenance.source_line(self)

    # -- figures ----------------------------------------------------------------------------

    def figure(self, name: str = "figure1", width: str = "double"):  # -> matplotlib Axes
        """Draw one figure of the suite (see :data:`trialmap.figures.suite.DEFAULT_FIGURES`).

        Parameters
        ----------
        name : str, default "figure1"
            A figure name, e.g. ``"figure1"``, ``"flow"``, ``"sitemap-europe"``.
        width : {"double", "single"}
            183 mm or 89 mm.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from trialmap.figures import suite

        return suite.draw(self, name, width, provenance=self.provenance())

    def figure1(self, ax=None, **kw):  # -> matplotlib Axes
        """Draw Figure 1, the world map of trials per country.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new 183 mm figure.
        **kw
            Passed to :func:`trialmap.figures.figure1` (e.g. ``width="single"``,
            ``label_top=5``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from trialmap.figures import suite

        return suite.draw_figure1(self, self.provenance(), ax=ax, **kw)

    def export(
        self, stem: str | Path, name: str = "figure1", *, width: str = "double",
        formats: Sequence[str] | None = None, dpis: Sequence[int] | None = None,
    ):  # -> trialmap.figures.export.Export
        """Export one figure in journal formats, with provenance in every file and a sidecar.

        Parameters
        ----------
        stem : str or pathlib.Path
            Path without suffix, e.g. ``"figure1"`` writes ``figure1.pdf``, ``figure1.png``...
        name : str, default "figure1"
            The suite figure to export.
        width : {"double", "single"}
            183 mm or 89 mm.
        formats : sequence of str, optional
            Default: every journal format (PDF, SVG, PNG, TIFF).
        dpis : sequence of int, optional
            Raster resolutions (default 300 and 600).

        Returns
        -------
        trialmap.figures.export.Export
            The files written, with their sizes and sha256.
        """
        from trialmap.figures import suite

        return suite.export_one(self, stem, name, self.provenance(), width=width,
                                formats=formats, dpis=dpis)

    def write(
        self, out_dir: str | Path | None = None, *, figures: Sequence[str] | str | None = None,
        journal: bool = False, argv: Sequence[str] | None = None,
    ) -> Path:
        """Write tables, figures, methods and provenance into one folder, atomically.

        Parameters
        ----------
        out_dir : str or pathlib.Path, optional
            The parent folder (default: ``<data_dir>/processed``); the run's
            folder inside it is :attr:`output_name`.
        figures : str or sequence of str, optional
            ``"all"``, names, or ``None`` for Figure 1 only (all with ``journal``).
        journal : bool, default False
            Every journal format at 89 and 183 mm instead of PDF + PNG at 183 mm.
        argv : sequence of str, optional
            The command line recorded in provenance.

        Returns
        -------
        pathlib.Path
            The run's output folder.
        """
        from trialmap import outputs

        root = Path(out_dir) if out_dir is not None else paths.data_dir() / "processed"
        return outputs.write(self, root, argv=argv, figures=figures, journal=journal)

    def report(self, path: str | Path | None = None):  # -> Path or trialmap.report.ReportHTML
        """The self-contained interactive ``report.html`` of this run.

        Parameters
        ----------
        path : str or pathlib.Path, optional
            Write the page there (atomically) and return the path; ``None``
            returns an object Jupyter shows inline.
        """
        from trialmap.report import ReportHTML, write_report

        return ReportHTML.from_run(self) if path is None else write_report(self, path)

    # -- display ----------------------------------------------------------------------------

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs shown by ``repr`` and in Jupyter."""
        f = self.flow_numbers()
        col = self.rule.column
        top = self.country_counts.head(5)
        fmt = (lambda v: f"{v:.1f}") if col == "trial_share" else (lambda v: f"{int(v)}")
        steps = [s for s in f if s not in ("records_read",)]
        return [
            ("snapshot", f"{self.snapshot.id} (registry data date {self.data_date})"),
            ("definition", f"{self.definition.label}: {self.definition.title}"),
            ("counting", self.rule.describe()),
            *([("as of", self.as_of)] if self.as_of else []),
            ("flow", f"{f.get('records_read', 0):,} records -> "
                     + " -> ".join(f"{f[s]:,} {s.replace('_', ' ')}" for s in steps)),
            ("top five", ", ".join(f"{r.country} {fmt(getattr(r, col))}" for r in top.itertuples())),
        ]

    def __repr__(self) -> str:
        rows = self.summary_rows()
        width = max(len(k) for k, _ in rows)
        return "<trialmap.Run>\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)

    def _repr_html_(self) -> str:
        from html import escape

        body = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th>"
            f"<td style='text-align:left'>{escape(v)}</td></tr>"
            for k, v in self.summary_rows()
        )
        return f"<table><caption style='text-align:left'><b>trialmap.Run</b></caption>{body}</table>"


def _read_locate_select(snap: Snapshot, defn: Definition, as_of: str | None, overrides: Any,
                        clock: StageTimer, trim: Callable[[], None], beside: bool) -> tuple:
    """Stages 1 to 3.

    In a small run (and not timed) the study set is decided by a forked copy while this
    process places the sites: it needs each site's country code, not its coordinates.
    Otherwise one after the other, each stage's input freed as it is replaced.
    """
    from trialmap import countries

    with clock("read"):
        tables = read(snap)
        trim()
    if beside and len(tables.studies) <= forked.SMALL_RECORDS:
        coded = tables.replace(sites=tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"])))
        with forked.beside(lambda: select(coded, defn, as_of)) as decided:
            with clock("locate"):
                tables, geocoding = locate(tables, overrides)
            with clock("select"):
                return tables, geocoding, decided()
    with clock("locate"):
        tables, geocoding = locate(tables, overrides)
        trim()
    with clock("select"):
        selected = select(tables, defn, as_of)
        trim()
    return tables, geocoding, selected


@contextmanager
def _malloc_for_arrow(large: bool) -> Iterator[Callable[[], None]]:
    """Arrow allocates from the C library's malloc during a run; ``trim()`` returns freed memory.

    At 500,000 studies, against pyarrow's default mimalloc, the tables were read in 8.9
    instead of 12.4 s and the study set's peak was 2.6 instead of 3.0 GiB (mimalloc keeps
    what the reader's buffers freed). The caller's default pool is restored afterwards;
    every buffer remembers the pool it came from. A ``large`` run also maps big blocks
    on their own (:func:`_map_large_blocks`).
    """
    import pyarrow as pa

    before = pa.default_memory_pool()
    system = pa.system_memory_pool()
    pa.set_memory_pool(system)
    if large:
        _map_large_blocks()
    try:
        yield system.release_unused
    finally:
        pa.set_memory_pool(before)


def _map_large_blocks() -> None:
    """glibc: every block of 256 KiB or more gets its own mapping, returned to the system when freed.

    glibc raises its mapping threshold each time such a block is freed, after which the
    columns a stage frees stay in the heap: at 500,000 studies 470 MiB of freed memory
    were still resident after the study set, and its peak was 2.15 instead of 1.94 GiB.
    The setting lasts for the process (glibc has no way back to its sliding threshold).
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return
    m_mmap_threshold = -3  # <malloc.h>
    ctypes.CDLL(None).mallopt(m_mmap_threshold, 256 * 1024)


def run(
    snapshot: Snapshot | str | Path | None = None,
    definition: Any = None,
    *,
    rule: str | CountingRule = "trials",
    as_of: str | None = None,
    overrides: str | Path | None = None,
    switches: dict[str, bool] | None = None,
    data_dir: str | Path | None = None,
    fetch: dict[str, Any] | None = None,
    timer: StageTimer | None = None,
) -> Run:
    """Run every stage on a verified snapshot and return the :class:`Run` (nothing is written).

    Parameters
    ----------
    snapshot : Snapshot, str or pathlib.Path, optional
        A snapshot, its id or folder; ``None``: the newest local one, else the bundled one.
    definition : str, pathlib.Path or Definition, optional
        The study set: a shipped name (:func:`list_definitions`), a TOML file,
        or ``None`` for the default (MSC trials in inflammatory and autoimmune disease).
    rule : str or CountingRule, default "trials"
        ``"trials"`` (distinct trials with a site in the country), ``"sites"``
        or ``"fractional"``, or a :class:`trialmap.aggregate.CountingRule` with switches.
    as_of : str, optional
        ``"YYYY-MM-DD"``: keep only trials first posted on or before that date.
    overrides : str or pathlib.Path, optional
        CSV of ``city, state, country, lat, lon`` placing sites before the gazetteer.
    switches : dict of str to bool, optional
        Flip the definition's judgement calls, e.g. ``{"osteoarthritis": True}``.
    data_dir : str or pathlib.Path, optional
        Where snapshots are looked up (see :func:`trialmap.paths.data_dir`).
    fetch : dict, optional
        What a fetch step did (recorded in provenance; the CLI passes it).
    timer : callable, optional
        ``timer(stage) -> context manager`` wrapped around each stage (the benchmark's clock);
        a timed run runs its stages one after the other, in this process.

    Returns
    -------
    Run

    Examples
    --------
    >>> import trialmap as tm
    >>> run = tm.run()                        # doctest: +SKIP
    >>> run.country_counts.head(3)            # doctest: +SKIP
    """
    from trialmap import aggregate, countries, geocode, studyset
    from trialmap import snapshot as snapshot_mod
    from trialmap.tables import isin

    clock = timer or (lambda _stage: nullcontext())
    snap = snapshot if isinstance(snapshot, snapshot_mod.Snapshot) else open_snapshot(snapshot, data_dir)
    defn = load_definition(definition, switches)
    if isinstance(rule, str):
        if rule not in aggregate.COUNTING_RULES:
            msg = (f"rule={rule!r} (--counting-rule) is not a counting rule: choose from "
                   f"{', '.join(aggregate.COUNTING_RULES)}")
            raise ArgumentError(msg)
        rule = aggregate.CountingRule(rule)
    data_date = str(snap.manifest.get("registry_data_date") or "")
    if as_of is not None:
        import datetime as dt

        try:
            as_of = dt.date.fromisoformat(str(as_of)).isoformat()
        except ValueError:
            msg = f"as_of={as_of!r} (--as-of) is not a date in YYYY-MM-DD form, e.g. 2018-06-14"
            raise ArgumentError(msg) from None
        if data_date and as_of > data_date:
            msg = (f"as_of={as_of} (--as-of) is after the registry data date of snapshot {snap.id} "
                   f"({data_date}); give a date on or before it")
            raise ArgumentError(msg)
    large = int(snap.manifest.get("record_count") or 0) > forked.SMALL_RECORDS
    with _malloc_for_arrow(large) as trim:
        # A timed run (the benchmark) keeps the stages one after the other, so that each
        # stage's time and memory are its own.
        tables, geocoding, (log, categories, flow) = _read_locate_select(
            snap, defn, as_of, overrides, clock, trim, beside=timer is None)
        with clock("count"):
            counts = count(tables, log, rule)
    ids = log.loc[log["included"], "nct_id"]
    included_sites = tables.sites[isin(tables.sites["nct_id"], ids)]
    default = studyset.load_definition()
    settings = {
        "definition": [defn.source, defn.label, defn.switches]
        if (defn.source, defn.switches) != (default.source, default.switches) else None,
        "rule": [rule.withdrawn_sites, rule.removed_countries, rule.no_location]
        if dataclasses.replace(rule, name="trials") != aggregate.CountingRule() else None,
        "overrides": (geocoding.get("overrides") or {}).get("sha256"),
    }
    return Run(
        snap, defn, tables, log, flow, categories, counts.country_counts, counts.region_counts,
        countries.unknown_countries(tables.sites["country"]), geocode.geo_audit(included_sites),
        rule=rule, as_of=as_of, no_location=counts.no_location,
        category_counts=studyset.category_counts(categories, defn),
        geo_unmatched=geocode.unmatched_keys(included_sites), geocoding=geocoding, fetch=fetch,
        settings=settings,
    )


# ---------------------------------------------------------------------------- fetching


def fetch(
    query: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    api_url: str | None = None,
    incremental: bool = False,
    page_size: int | None = None,
    max_studies: int | None = None,
    min_interval: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
) -> Snapshot:
    """Fetch the query from the ClinicalTrials.gov API v2 into a new immutable snapshot.

    Parameters
    ----------
    query : str or pathlib.Path, optional
        A query TOML (default: the bundled MSC query, ``trialmap/data/ctgov_query.toml``).
    data_dir : str or pathlib.Path, optional
        The snapshot goes to ``<data_dir>/raw/<id>/`` (see :func:`trialmap.paths.data_dir`).
    api_url : str, optional
        API base URL (default ``$TRIALMAP_API_URL`` or the public API).
    incremental : bool, default False
        Fetch only what changed since the newest snapshot of the same query.
    page_size, max_studies : int, optional
        Studies per page (1-1000) and the size guard (default: the query file's).
    min_interval : float, default 1.0
        Seconds between two requests.
    progress : callable, optional
        ``progress(pages_done, pages_expected)``.
    client : trialmap.client.Client, optional
        A client to use instead of a new one (tests inject one).

    Returns
    -------
    trialmap.snapshot.Snapshot

    Raises
    ------
    ApiUnavailableError
        The API could not be reached (the CLI then falls back to a local snapshot).
    FetchError
        The API answered but broke the protocol, refused the client, or the size guard tripped.
    """
    import os

    from trialmap import client as client_mod
    from trialmap import query as query_mod
    from trialmap import snapshot as snap_mod

    raw = paths.data_dir(data_dir) / "raw"
    q = query_mod.load_query(query)
    base = None
    if incremental:
        same = [
            m for m in snap_mod.list_snapshots(raw) if raw.is_dir()
            and m["format"] in (snap_mod.FORMAT_PAGES, snap_mod.FORMAT_INCREMENTAL)
            and m.get("query", {}).get("params") == q.request_params()
        ]
        base = snap_mod.open_snapshot(same[-1]["path"], raw) if same else None
    if client is None:
        url = api_url or os.environ.get("TRIALMAP_API_URL") or query_mod.DEFAULT_API_URL
        client = client_mod.Client(url, min_interval=min_interval)
    try:
        if base is None:
            got = client_mod.fetch_full(client, q, page_size=page_size, max_studies=max_studies,
                                        progress=progress)
        else:
            have = set(read(base).studies["nct_id"])
            got = client_mod.fetch_changes(client, q, str(base.manifest["registry_data_date"]), have,
                                           page_size=page_size, max_studies=max_studies, progress=progress)
    finally:
        client.close()
    return snap_mod.write_fetched(raw, got, base=base)
