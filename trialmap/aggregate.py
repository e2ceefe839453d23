"""Counts per country and per region, under a named counting rule.

Three rules answer "how many trials does a country host?" differently; each
count table carries all three columns and is sorted by the chosen one:

``trials`` (default, column ``n_trials``)
    Distinct trials with at least one counted site in the country: a
    multinational trial counts once in each of its countries.
``sites`` (column ``n_sites``)
    Counted trial x site rows in the country: a trial with ten sites in Spain
    adds ten to Spain.
``fractional`` (column ``trial_share``)
    A trial with counted sites in k countries adds 1/k to each, so the
    shares of all countries add up to the number of trials with a site.

Three handling switches (:class:`CountingRule`) say which sites count:

``withdrawn_sites``
    Count sites whose recruitment status is ``WITHDRAWN`` (default: yes, as
    the registry lists them; a withdrawn site never enrolled anyone).
``removed_countries``
    Also count a trial in the countries the registry lists as removed from it
    (``studies.removed_countries``; default: no). A removed country adds to
    ``n_trials`` and ``trial_share`` but no site, since none is listed.
``no_location``
    Report the trials with no counted site (none listed, none in a mappable
    country, or all withdrawn and withdrawn sites not counted) as a
    ``(no location)`` bucket (default: yes; see :func:`no_location_row`).

A region total counts distinct trials with a counted site in any member
country (not the sum of its countries), the sites in its members, and the
sum of its members' shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from trialmap.tables import isin

COUNTRY_COUNT_COLUMNS = ["iso3", "country", "n_trials", "n_sites", "trial_share"]
REGION_COUNT_COLUMNS = ["region", "scheme", "n_trials", "n_sites", "trial_share", "n_countries"]
NO_LOCATION = "(no location)"

# rule name -> (count column, one-line description printed on figures and in provenance)
COUNTING_RULES: dict[str, tuple[str, str]] = {
    "trials": (
        "n_trials",
        "trials per country = distinct trials with at least one site in the country",
    ),
    "sites": ("n_sites", "sites per country = trial x site rows in the country"),
    "fractional": (
        "trial_share",
        "fractional = a trial with sites in k countries adds 1/k to each",
    ),
}


@dataclass(frozen=True)
class CountingRule:
    """A counting rule by name plus its handling switches (see the module docstring)."""

    name: str = "trials"
    withdrawn_sites: bool = True
    removed_countries: bool = False
    no_location: bool = True

    def __post_init__(self) -> None:
        if self.name not in COUNTING_RULES:
            msg = f"unknown counting rule {self.name!r}: use one of {', '.join(COUNTING_RULES)}"
            raise ValueError(msg)

    @property
    def column(self) -> str:
        """The count column this rule ranks and maps by."""
        return COUNTING_RULES[self.name][0]

    @property
    def unit(self) -> str:
        return {"trials": "trials", "sites": "sites", "fractional": "trials (fractional)"}[self.name]

    def describe(self) -> str:
        """One line for figure source lines and provenance.json."""
        text = COUNTING_RULES[self.name][1]
        text += "; withdrawn sites " + ("counted" if self.withdrawn_sites else "not counted")
        text += "; removed countries " + ("counted" if self.removed_countries else "not counted")
        if self.no_location:
            text += "; trials with no site reported as '(no location)'"
        return text


def removed_country_rows(
    studies: pd.DataFrame, to_iso3: Callable[[pd.Series], pd.Series]
) -> pd.DataFrame:
    """One row per (trial, country the registry lists as removed from it).

    Parameters
    ----------
    studies
        The canonical ``studies`` table (``removed_countries`` joined by "|").
    to_iso3
        Registry name -> iso3 mapper (:func:`trialmap.countries.to_iso3`).

    Returns
    -------
    DataFrame
        ``nct_id``, ``country``, ``iso3`` (``<NA>`` for an unknown name).
    """
    s = studies[["nct_id", "removed_countries"]].dropna()
    rows = s.assign(country=s["removed_countries"].str.split("|")).explode("country")
    rows = rows[rows["country"].str.strip().fillna("") != ""]
    out = pd.DataFrame(
        {"nct_id": rows["nct_id"].astype("string"), "country": rows["country"].astype("string")}
    ).reset_index(drop=True)
    out["iso3"] = to_iso3(out["country"])
    return out


def counted_sites(
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The (trial, country) rows a rule counts, one per site or removed country.

    Returns
    -------
    DataFrame
        ``nct_id``, ``iso3``, ``is_site`` (False for a removed-country row),
        for the given trials, with ``iso3`` present.
    """
    rule = rule or CountingRule()
    ids = nct_ids if isinstance(nct_ids, pd.Series | pd.Index) else pd.Index(list(nct_ids), dtype="string")
    s = sites[isin(sites["nct_id"], ids) & sites["iso3"].notna().to_numpy()]
    if not rule.withdrawn_sites:
        s = s[s["site_status"].fillna("") != "WITHDRAWN"]
    out = s[["nct_id", "iso3"]].assign(is_site=True)
    if rule.removed_countries and removed is not None and not removed.empty:
        r = removed[isin(removed["nct_id"], ids) & removed["iso3"].notna().to_numpy()]
        out = pd.concat([out, r[["nct_id", "iso3"]].assign(is_site=False)], ignore_index=True)
    return out.astype({"nct_id": "string", "iso3": "string", "is_site": bool}).reset_index(drop=True)


def _tally(rows: pd.DataFrame) -> pd.DataFrame:
    """n_trials, n_sites, trial_share per iso3 from counted_sites rows."""
    if rows.empty:
        return pd.DataFrame(columns=["iso3", "n_trials", "n_sites", "trial_share"])
    k = rows.groupby("nct_id")["iso3"].nunique()
    pairs = rows.drop_duplicates(["nct_id", "iso3"])
    share = (1.0 / pairs["nct_id"].map(k)).groupby(pairs["iso3"]).sum()
    out = rows.groupby("iso3").agg(n_trials=("nct_id", "nunique"), n_sites=("is_site", "sum"))
    out["trial_share"] = share.reindex(out.index)
    return out.reset_index()


def country_counts(
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    names: Mapping[str, str] | None = None,
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Trials, sites and fractional trial shares per country for the given trials.

    Parameters
    ----------
    sites
        The canonical ``sites`` table with ``iso3`` filled.
    nct_ids
        The trials to count (the study set).
    names
        iso3 -> display name; defaults to the most common registry spelling.
    rule
        Counting rule and switches (default: trials, withdrawn sites counted,
        removed countries not).
    removed
        :func:`removed_country_rows`, needed when ``rule.removed_countries``.

    Returns
    -------
    DataFrame
        ``iso3``, ``country``, ``n_trials``, ``n_sites``, ``trial_share``,
        sorted by the rule's column (descending), then the other counts, then
        ``iso3``. Only countries; the no-location bucket is
        :func:`no_location_row`.
    """
    rule = rule or CountingRule()
    rows = counted_sites(sites, nct_ids, rule, removed)
    out = _tally(rows)
    if names is None:
        s = sites[sites["iso3"].notna()]
        names = s.groupby("iso3")["country"].agg(lambda x: x.mode().iloc[0]).to_dict()
    out["country"] = out["iso3"].map(names).fillna(out["iso3"])
    out = out.astype(
        {"iso3": "string", "country": "string", "n_trials": "int64", "n_sites": "int64",
         "trial_share": "float64"}
    )
    order = [rule.column] + [c for c in ("n_trials", "n_sites", "trial_share") if c != rule.column]
    out = out.sort_values([*order, "iso3"], ascending=[False, False, False, True])
    return out[COUNTRY_COUNT_COLUMNS].reset_index(drop=True)


def no_location_row(
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``(no location)`` bucket: trials among ``nct_ids`` with no counted site.

    Pass the trials in scope *before* the "with a site" steps of the flow,
    or the bucket is empty by construction.

    Returns
    -------
    DataFrame
        One row in the :data:`COUNTRY_COUNT_COLUMNS` layout: ``iso3`` <NA>,
        ``country`` "(no location)", ``n_trials`` = ``trial_share`` = the
        number of such trials, ``n_sites`` 0.
    """
    ids = pd.Index(pd.unique(pd.Series(list(nct_ids), dtype="string")))
    counted = counted_sites(sites, ids, rule, removed)["nct_id"]
    n = int((~isin(ids, counted)).sum())
    return pd.DataFrame(
        {"iso3": [pd.NA], "country": [NO_LOCATION], "n_trials": [n], "n_sites": [0],
         "trial_share": [float(n)]}
    ).astype({"iso3": "string", "country": "string", "n_trials": "int64", "n_sites": "int64",
              "trial_share": "float64"})


def region_counts(
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    regions: Mapping[str, Iterable[str]],
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
    schemes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Distinct trials, sites and trial shares per region.

    Parameters
    ----------
    regions
        Region name -> member iso3 codes.
    schemes
        Region name -> the membership scheme it comes from ("UN M49
        continent", "WHO region", ...); empty when not given.

    Returns
    -------
    DataFrame
        ``region``, ``scheme``, ``n_trials`` (distinct trials with a counted
        site in a member), ``n_sites``, ``trial_share`` (sum of the members'
        shares), ``n_countries`` (members with a counted site or removed
        country), in the order ``regions`` gives.
    """
    rows_all = counted_sites(sites, nct_ids, rule, removed)
    per_country = _tally(rows_all).set_index("iso3")
    rows = []
    for name, members in regions.items():
        members = set(members)
        r = rows_all[rows_all["iso3"].isin(members)]
        share = float(per_country["trial_share"].reindex(sorted(members)).fillna(0).sum())
        rows.append(
            (name, (schemes or {}).get(name, ""), r["nct_id"].nunique(), int(r["is_site"].sum()),
             share, r["iso3"].nunique())
        )
    return pd.DataFrame(rows, columns=REGION_COUNT_COLUMNS).astype(
        {"region": "string", "scheme": "string", "n_trials": "int64", "n_sites": "int64",
         "trial_share": "float64", "n_countries": "int64"}
    )


# ---------------------------------------------------------------------------
# Derived tables the figures draw (moved here from the figure layer: figures only draw).

CHANGE_COLUMNS = ["iso3", "country", "n_before", "n_after", "change", "status"]
TRIAL_CHANGE_COLUMNS = ["nct_id", "change", "title", "first_posted", "countries"]
YEARLY_COLUMNS = ["year", "iso3", "country", "n_trials"]
ALL = "ALL"  # the iso3 value of the all-trials rows of yearly_counts
DATE_FIELDS = {"start_date": "Study start", "first_posted": "First posted"}
PLACE_COLUMNS = ["lat", "lon", "n_trials", "n_sites"]


def posted_by(
    studies: pd.DataFrame, nct_ids: Iterable[str], date: object, field: str = "first_posted"
) -> pd.Index:
    """The trials among ``nct_ids`` whose ``field`` is on or before ``date`` (sorted ``nct_id``).

    Parameters
    ----------
    studies : DataFrame
        The canonical ``studies`` table.
    nct_ids : iterable of str
        The trials to filter (e.g. a run's included trials).
    date : str or Timestamp
        The cut-off, inclusive.
    field : str
        The date column (default ``first_posted``).

    Returns
    -------
    Index
        ``nct_id`` values, string dtype.
    """
    when = pd.Timestamp(date)
    s = studies[studies["nct_id"].isin(set(nct_ids))]
    keep = s.loc[s[field].notna() & (s[field] <= when), "nct_id"]
    return pd.Index(sorted(set(keep)), name="nct_id", dtype="string")


def country_change(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Trials per country before and after, the difference and what kind of change it is.

    Parameters
    ----------
    before, after : DataFrame
        Country counts (``iso3``, ``country``, ``n_trials``), e.g. from
        :func:`country_counts`.

    Returns
    -------
    DataFrame
        ``iso3, country, n_before, n_after, change, status`` for every country
        in either table; ``status`` is ``"gained"`` (more trials after),
        ``"lost"``, ``"unchanged"`` (had trials, no change) or ``"first"`` (a
        gain from zero). Sorted by ``change`` (largest gain first), then
        ``n_after`` (descending), then ``iso3``.
    """
    b = before.set_index("iso3")[["country", "n_trials"]]
    a = after.set_index("iso3")[["country", "n_trials"]]
    idx = a.index.union(b.index)
    out = pd.DataFrame({
        "iso3": idx,
        "country": a["country"].reindex(idx).fillna(b["country"].reindex(idx)).to_numpy(),
        "n_before": b["n_trials"].reindex(idx, fill_value=0).to_numpy(),
        "n_after": a["n_trials"].reindex(idx, fill_value=0).to_numpy(),
    })
    out["change"] = out["n_after"] - out["n_before"]
    status = pd.Series("unchanged", index=out.index)
    status[out["change"] > 0] = "gained"
    status[(out["change"] > 0) & (out["n_before"] == 0)] = "first"
    status[out["change"] < 0] = "lost"
    out["status"] = status
    out = out.astype({"iso3": "string", "country": "string", "n_before": "int64", "n_after": "int64",
                      "change": "int64", "status": "string"})
    out = out.sort_values(["change", "n_after", "iso3"], ascending=[False, False, True])
    return out[CHANGE_COLUMNS].reset_index(drop=True)


def trial_changes(
    before_ids: Iterable[str], after_ids: Iterable[str], studies: pd.DataFrame, sites: pd.DataFrame
) -> pd.DataFrame:
    """The trials added and removed between two study sets.

    Parameters
    ----------
    before_ids, after_ids : iterable of str
        The two study sets.
    studies, sites : DataFrame
        Tables describing the trials (for two snapshots, the later snapshot's
        rows first, then the earlier one's: the first row of a trial wins).

    Returns
    -------
    DataFrame
        ``nct_id, change ("added" | "removed"), title, first_posted,
        countries`` (iso3 codes joined by ``|``), added first, each part by
        ``nct_id``.
    """
    before, after = set(before_ids), set(after_ids)
    added, removed = sorted(after - before), sorted(before - after)
    rows = pd.DataFrame({
        "nct_id": added + removed, "change": ["added"] * len(added) + ["removed"] * len(removed),
    })
    st = studies.drop_duplicates("nct_id").set_index("nct_id")
    where = (
        sites[sites["iso3"].notna()].drop_duplicates(["nct_id", "iso3"])
        .groupby("nct_id")["iso3"].agg(lambda x: "|".join(sorted(x)))
    )
    rows["title"] = rows["nct_id"].map(st["title"])
    rows["first_posted"] = rows["nct_id"].map(st["first_posted"])
    rows["countries"] = rows["nct_id"].map(where)
    return rows.astype({"nct_id": "string", "change": "string", "title": "string", "countries": "string"})[
        TRIAL_CHANGE_COLUMNS
    ]


def compare_runs(before: object, after: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Country change and trial changes between two processed runs (two snapshots).

    Parameters
    ----------
    before, after : Run
        Anything with ``country_counts``, ``included`` and ``tables``
        (a :class:`trialmap.pipeline.Run` / ``trialmap.pipeline.Run``).

    Returns
    -------
    (DataFrame, DataFrame)
        :func:`country_change` and :func:`trial_changes`.
    """
    countries = country_change(before.country_counts, after.country_counts)
    studies = pd.concat([after.tables.studies, before.tables.studies], ignore_index=True)
    sites = pd.concat([after.tables.sites, before.tables.sites], ignore_index=True)
    return countries, trial_changes(before.included, after.included, studies, sites)


def counts_as_of(
    studies: pd.DataFrame,
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    date: object,
    names: Mapping[str, str] | None = None,
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
) -> tuple[pd.Index, pd.DataFrame]:
    """The trials first posted by ``date`` and their country counts (an as-of replay of a run).

    Equal to the counts of a run with ``as_of=date`` (that run drops the
    later records at its "posted by" step; every other step decides record by
    record), without re-reading or re-geocoding the snapshot. Sites and
    conditions are as the snapshot records them, not as they were on ``date``.

    Returns
    -------
    (Index, DataFrame)
        The trials, and :func:`country_counts` for them.
    """
    ids = posted_by(studies, nct_ids, date)
    return ids, country_counts(sites, ids, names, rule, removed)


def change_between(
    studies: pd.DataFrame,
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    before_date: object,
    after_date: object,
    names: Mapping[str, str] | None = None,
    rule: CountingRule | None = None,
    removed: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Country change and trials first posted between two dates of one snapshot.

    Trials per country (the rule's switches, counted as distinct trials) as of
    each date by first-posted date, with the sites the snapshot records.

    Returns
    -------
    (DataFrame, DataFrame)
        :func:`country_change` and :func:`trial_changes`.
    """
    from dataclasses import replace

    rule = replace(rule or CountingRule(), name="trials")
    ids = list(nct_ids)
    b_ids, before = counts_as_of(studies, sites, ids, before_date, names, rule, removed)
    a_ids, after = counts_as_of(studies, sites, ids, after_date, names, rule, removed)
    return country_change(before, after), trial_changes(b_ids, a_ids, studies, sites)


def yearly_counts(
    studies: pd.DataFrame,
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    *,
    date: str = "start_date",
    top: int = 4,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Trials per year by ``date``, for all trials and for the ``top`` leading countries.

    Parameters
    ----------
    studies, sites : DataFrame
        Canonical tables (``sites`` with ``iso3`` filled).
    nct_ids : iterable of str
        The trials to count (the study set).
    date : str
        ``"start_date"`` or ``"first_posted"``. A date with month or year
        precision still has a year. Trials without the date are left out.
    top : int
        How many countries to break out, ranked by distinct trials in the study
        set (ties by iso3).
    names : mapping, optional
        iso3 -> display name; default: the registry's spelling.

    Returns
    -------
    DataFrame
        ``year``, ``iso3`` (:data:`ALL` for all trials), ``country``,
        ``n_trials``; every year from the first to the last present, zeros
        included, all-trials rows first, then countries in rank order.
    """
    if date not in DATE_FIELDS:
        msg = f"date must be one of {sorted(DATE_FIELDS)}, not {date!r}"
        raise ValueError(msg)
    ids = set(nct_ids)
    st = studies.loc[studies["nct_id"].isin(ids) & studies[date].notna(), ["nct_id", date]]
    st = st.drop_duplicates("nct_id").assign(year=st[date].dt.year.astype("int64"))
    s = sites.loc[sites["nct_id"].isin(ids) & sites["iso3"].notna(), ["nct_id", "iso3", "country"]]
    ranked = s.groupby("iso3")["nct_id"].nunique().reset_index(name="n")
    leaders = ranked.sort_values(["n", "iso3"], ascending=[False, True])["iso3"].head(top).tolist()
    if names is None:
        names = s.groupby("iso3")["country"].agg(lambda x: x.mode().iloc[0]).to_dict()
    if st.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(YEARLY_COLUMNS, ["int64", "string", "string", "int64"], strict=True)})
    years = pd.RangeIndex(st["year"].min(), st["year"].max() + 1, name="year")
    parts = [pd.DataFrame({"year": years, "iso3": ALL, "country": "All trials",
                           "n_trials": st.groupby("year")["nct_id"].nunique().reindex(years, fill_value=0)})]
    pairs = s[s["iso3"].isin(leaders)].drop_duplicates(["nct_id", "iso3"]).merge(st[["nct_id", "year"]])
    for iso in leaders:
        n = pairs[pairs["iso3"] == iso].groupby("year")["nct_id"].nunique().reindex(years, fill_value=0)
        parts.append(pd.DataFrame({"year": years, "iso3": iso, "country": names.get(iso, iso),
                                   "n_trials": n}))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"year": "int64", "iso3": "string", "country": "string", "n_trials": "int64"})


def site_places(sites: pd.DataFrame, nct_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Places with trial sites: sites located better than their country, grouped by point.

    Parameters
    ----------
    sites : DataFrame
        Geocoded sites (``nct_id``, ``lat``, ``lon``, ``geo_precision``).
    nct_ids : iterable of str, optional
        Trials to keep (e.g. the included study set); all when ``None``.

    Returns
    -------
    DataFrame
        ``lat``, ``lon``, ``n_trials`` (distinct trials), ``n_sites``, most
        trials first. Sites known only by their country are left out (a dot at
        a country's centre would claim a place nobody named).
    """
    s = sites if nct_ids is None else sites[sites["nct_id"].isin(set(nct_ids))]
    s = s[s["geo_precision"].isin(["site", "city"]) & s["lat"].notna() & s["lon"].notna()]
    g = s.assign(lat=s["lat"].astype(float).round(4), lon=s["lon"].astype(float).round(4))
    pts = g.groupby(["lat", "lon"]).agg(n_trials=("nct_id", "nunique"), n_sites=("nct_id", "size"))
    return pts.reset_index().sort_values(["n_trials", "n_sites"], ascending=False, ignore_index=True)


def per_capita(
    counts: pd.DataFrame,
    population: pd.DataFrame,
    *,
    column: str = "n_trials",
    per: float = 1e7,
    min_population: float = 1e6,
) -> pd.DataFrame:
    """Trials per ``per`` inhabitants for each country with trials.

    Parameters
    ----------
    counts : DataFrame
        Country counts (``iso3``, ``country`` and ``column``).
    population : DataFrame
        ``iso3``, ``pop_est``, ``pop_year`` (Natural Earth's estimate,
        :func:`trialmap.population.load_population`).
    column : str
        The count to divide.
    per : float
        Inhabitants per unit of the rate (default ten million).
    min_population : float
        Countries with fewer inhabitants get no rate (``rate`` NA,
        ``small_population`` True): one trial in Antigua and Barbuda (97,000
        people) would otherwise be 100 per ten million and top the map.

    Returns
    -------
    DataFrame
        ``iso3``, ``country``, ``count``, ``pop_est``, ``pop_year``,
        ``rate``, ``small_population``, sorted by ``rate`` (descending, NA last).
    """
    pop = population.drop_duplicates("iso3").set_index("iso3")
    out = counts[counts["iso3"].notna()][["iso3", "country", column]].rename(columns={column: "count"})
    out = out.assign(pop_est=out["iso3"].map(pop["pop_est"]), pop_year=out["iso3"].map(pop["pop_year"]))
    out["small_population"] = out["pop_est"].fillna(0) < min_population
    rate = out["count"] / out["pop_est"] * per
    out["rate"] = rate.where(~out["small_population"])
    out = out.astype({"iso3": "string", "country": "string", "count": "float64", "pop_est": "Int64",
                      "pop_year": "Int64", "rate": "Float64", "small_population": bool})
    return out.sort_values(["rate", "count"], ascending=False, na_position="last").reset_index(drop=True)


def categories_by_country(
    categories: pd.DataFrame,
    sites: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    *,
    top: int = 10,
) -> pd.DataFrame:
    """Distinct trials per (disease category, country), for the ``top`` countries.

    Parameters
    ----------
    categories : DataFrame
        A run's ``categories`` (``nct_id``, ``category``, ``group``): a trial
        in two categories counts in both.
    sites : DataFrame
        Sites with ``iso3``; a trial counts in every country where it has a site.
    labels : mapping, optional
        Category key -> label.
    top : int
        Countries to keep, by distinct trials in the categorised set (ties by iso3).

    Returns
    -------
    DataFrame
        ``category``, ``label``, ``group``, ``iso3``, ``n_trials``: every
        category x kept country (zeros included), categories in the order
        given, countries by rank.
    """
    ids = set(categories["nct_id"])
    s = sites.loc[sites["nct_id"].isin(ids) & sites["iso3"].notna(), ["nct_id", "iso3"]].drop_duplicates()
    rank = s.groupby("iso3")["nct_id"].nunique().reset_index(name="n")
    leaders = rank.sort_values(["n", "iso3"], ascending=[False, True])["iso3"].head(top).tolist()
    cats = categories.drop_duplicates(["nct_id", "category"])
    pairs = cats.merge(s[s["iso3"].isin(leaders)], on="nct_id")
    n = pairs.groupby(["category", "iso3"])["nct_id"].nunique()
    order = list(dict.fromkeys(cats["category"]))
    if labels:
        order = [c for c in labels if c in set(order)] + [c for c in order if c not in labels]
    groups = cats.drop_duplicates("category").set_index("category")["group"]
    rows = [
        (c, (labels or {}).get(c, c), groups.get(c, ""), iso, int(n.get((c, iso), 0)))
        for c in order for iso in leaders
    ]
    return pd.DataFrame(rows, columns=["category", "label", "group", "iso3", "n_trials"]).astype(
        {"category": "string", "label": "string", "group": "string", "iso3": "string", "n_trials": "int64"})
