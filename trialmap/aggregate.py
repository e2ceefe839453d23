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
