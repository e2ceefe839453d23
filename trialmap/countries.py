"""Country names to ISO 3166-1 alpha-3 codes, and region memberships.

Registry country names are looked up in an explicit table,
``trialmap/data/country_aliases.csv`` (columns ``name,iso3``), after
:func:`normalize_name`. Nothing is ever guessed: a name that is not in the
table maps to ``<NA>`` and is listed by :func:`unknown_countries`, so a run can
report it by name and count. The table holds the spellings ClinicalTrials.gov
is known to use, including every name in the bundled real exports (classic API
and website: "Korea, Republic of", "Iran, Islamic Republic of", "Russian
Federation", "Turkey", "Czech Republic", "Macedonia, The Former Yugoslav
Republic of", "Côte D'Ivoire", ...; current website: "South Korea", "Russia",
"Turkey (Türkiye)", "Czechia", "Côte d’Ivoire", "Democratic Republic of the
Congo", ...), the ISO 3166-1 short, common and formal names, UN names and a
few common alternates.

``trialmap/data/countries.csv`` has one row per code: ``iso3, name`` (short
English display name), ``continent`` and ``subregion`` (UN M49 region and
sub-region), ``eu27`` (current EU member) and ``who_region``.

Choices worth knowing:

* UN M49 puts Türkiye, Cyprus, Georgia, Armenia and Azerbaijan in Asia
  (Western Asia) and Russia in Europe (Eastern Europe); Mexico and Central
  America are in "Latin America and the Caribbean". The sub-region is M49's
  own (so Brazil is "Latin America and the Caribbean" and Kenya
  "Sub-Saharan Africa"; M49's finer "intermediate regions" are not used).
* M49 has no row for Taiwan or Kosovo; they are placed where geography puts
  them (Asia / Eastern Asia and Europe / Southern Europe). Antarctica has no
  M49 region, so its continent and sub-region are empty.
* Kosovo uses the user-assigned code ``XKX`` (as the EU and IMF do).
* ``who_region`` is set for the 194 WHO Member States and the two Associate
  Members (Puerto Rico, AMR; Tokelau, WPR) and is empty for everything else:
  Taiwan, Hong Kong, Macao, Kosovo, Palestine, Liechtenstein, the Holy See and
  dependent territories (Greenland, Réunion, Guam, ...). Indonesia is in WPR
  (moved from SEAR by the World Health Assembly in 2025). Regions are used as
  geographic groupings, so the United States and Argentina stay in AMR
  although both have announced their withdrawal from WHO.
* ``"Europe (paper)"`` is Europe as Figure 1 of Wang, Yuan & Xie (2018)
  most plausibly used it; the paper calls out "Europe" as one block and gives
  no membership. trialmap takes geographic Europe as a reader of a world map
  sees it: the UN M49 continent (Russia in: its trial sites are overwhelmingly
  in European Russia) plus Cyprus (an EU member state, which M49 puts in
  Western Asia) and Türkiye (a Council of Europe member, in WHO EUR, commonly
  grouped with Europe in trial-landscape papers). The Caucasus states stay in
  Asia as M49 places them. The membership is :data:`PAPER_EUROPE_EXTRA` added
  to the M49 continent; ``"Europe"`` (M49 alone), ``"EU27"`` and ``"EUR"``
  (WHO) are always reported beside it, so the choice is visible.
* Names of states that no longer exist map to their ISO 3166-3 former codes,
  which have rows of their own: "Former Serbia and Montenegro" -> ``SCG``,
  "Former Yugoslavia" -> ``YUG``, "Netherlands Antilles" -> ``ANT``. They are
  not silently given to a successor state, because a site there may now be in
  any of several countries.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

import pandas as pd

from trialmap.errors import TrialmapError, UnknownRegionError

__all__ = [
    "REPORTED_REGIONS",
    "available_regions",
    "country_table",
    "normalize_name",
    "region_members",
    "to_iso3",
    "unknown_countries",
]

CONTINENTS = ("Africa", "Americas", "Asia", "Europe", "Oceania")
WHO_REGIONS = ("AFR", "AMR", "SEAR", "EUR", "EMR", "WPR")
EU27 = "EU27"
PAPER_EUROPE = "Europe (paper)"
# Added to the UN M49 continent Europe to make "Europe (paper)" (see the module docstring).
PAPER_EUROPE_EXTRA = ("CYP", "TUR")
# The region totals a run reports: (region name, membership scheme).
REPORTED_REGIONS = (
    *((c, "UN M49 continent") for c in CONTINENTS),
    (PAPER_EUROPE, "Europe as the paper used it: M49 Europe + Cyprus + Türkiye"),
    (EU27, "European Union (27 member states)"),
    *((w, "WHO region") for w in WHO_REGIONS),
)

# Typographic apostrophes that registries mix with the ASCII one ("Côte d’Ivoire").
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})
_WHITESPACE = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """Return the lookup key of a country name.

    Unicode NFKC, typographic apostrophes to ``'``, whitespace runs to one
    space, stripped and case-folded. This is an exact-match key, never a fuzzy
    one: "KOREA,  REPUBLIC OF " and "Korea, Republic of" give the same key,
    "Korea Republic" does not.

    Parameters
    ----------
    name : str
        A country name as a registry wrote it.

    Returns
    -------
    str
        The normalised key.

    Examples
    --------
    >>> normalize_name("  KOREA,   Republic of ")
    'korea, republic of'
    """
    text = unicodedata.normalize("NFKC", name).translate(_APOSTROPHES)
    return _WHITESPACE.sub(" ", text).strip().casefold()


def _read_data_csv(filename: str) -> pd.DataFrame:
    resource = resources.files("trialmap") / "data" / filename
    with resource.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _blank_to_na(column: pd.Series) -> pd.Series:
    return column.astype("string").mask(column == "")


@functools.cache
def _countries() -> pd.DataFrame:
    raw = _read_data_csv("countries.csv")
    table = pd.DataFrame(
        {
            "iso3": raw["iso3"].astype("string"),
            "name": raw["name"].astype("string"),
            "continent": _blank_to_na(raw["continent"]),
            "subregion": _blank_to_na(raw["subregion"]),
            "eu27": raw["eu27"].map({"true": True, "false": False}).astype(bool),
            "who_region": _blank_to_na(raw["who_region"]),
        }
    )
    if table["iso3"].duplicated().any():
        dupes = sorted(table.loc[table["iso3"].duplicated(), "iso3"])
        msg = f"countries.csv lists these iso3 codes more than once: {dupes}"
        raise TrialmapError(msg)
    return table


@functools.cache
def _alias_map() -> dict[str, str]:
    raw = _read_data_csv("country_aliases.csv")
    known = set(_countries()["iso3"])
    mapping: dict[str, str] = {}
    for name, iso3 in zip(raw["name"], raw["iso3"], strict=True):
        if iso3 not in known:
            msg = f"country_aliases.csv maps {name!r} to {iso3!r}, which countries.csv lacks"
            raise TrialmapError(msg)
        key = normalize_name(name)
        if mapping.setdefault(key, iso3) != iso3:
            msg = (
                f"country_aliases.csv maps {name!r} to {iso3!r} but an equal name "
                f"to {mapping[key]!r}"
            )
            raise TrialmapError(msg)
    return mapping


def country_table() -> pd.DataFrame:
    """Return the country reference table.

    Returns
    -------
    pandas.DataFrame
        One row per code, columns ``iso3, name, continent, subregion,
        who_region`` (string dtype, ``<NA>`` where empty) and ``eu27`` (bool).
        A fresh copy: changing it does not change later calls.
    """
    return _countries().copy()


def to_iso3(names: pd.Series) -> pd.Series:
    """Map registry country names to ISO 3166-1 alpha-3 codes.

    Each distinct value is looked up once (by :func:`normalize_name`) in the
    alias table; the result is mapped back onto the input.

    Parameters
    ----------
    names : pandas.Series
        Country names; missing values are allowed.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index and name as ``names``; ``<NA>`` for a
        missing, blank or unknown name.
    """
    import pyarrow as pa

    from trialmap.tables import arrow_map, arrow_strings

    aliases = _alias_map()
    # Arrow's distinct values and a take, not Series.map: no Python string per row (1.7
    # million sites at registry scale).
    out = arrow_map(arrow_strings(names), lambda v: None if v is None else aliases.get(normalize_name(v)))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([out])), index=names.index,
                     name=names.name, dtype="string")


def unknown_countries(names: pd.Series) -> pd.DataFrame:
    """List the country names that the alias table does not know.

    Parameters
    ----------
    names : pandas.Series
        Country names, one per site; missing and blank values are skipped
        (they are "no country given", not an unknown country).

    Returns
    -------
    pandas.DataFrame
        Columns ``country`` (the name as written) and ``n_sites`` (how often it
        occurs), most frequent first, ties by name. Empty when every name is
        known.
    """
    values = names.astype("string")
    present = values[values.str.strip().fillna("") != ""]
    unknown = present[to_iso3(present).isna()]
    counts = unknown.value_counts()
    result = pd.DataFrame(
        {
            "country": pd.Series(counts.index, dtype="string"),
            "n_sites": pd.Series(counts.to_numpy(), dtype="int64"),
        }
    )
    return result.sort_values(["n_sites", "country"], ascending=[False, True], ignore_index=True)


@functools.cache
def _regions() -> dict[str, tuple[str, frozenset[str]]]:
    table = _countries()
    groups: dict[str, tuple[str, frozenset[str]]] = {}

    def add(label: str, mask: pd.Series) -> None:
        groups[normalize_name(label)] = (label, frozenset(table.loc[mask.fillna(False), "iso3"]))

    for continent in CONTINENTS:
        add(continent, table["continent"] == continent)
    for subregion in sorted(table["subregion"].dropna().unique()):
        add(subregion, table["subregion"] == subregion)
    add(EU27, table["eu27"])
    add(PAPER_EUROPE, (table["continent"] == "Europe") | table["iso3"].isin(PAPER_EUROPE_EXTRA))
    for who in WHO_REGIONS:
        add(who, table["who_region"] == who)
    return groups


def available_regions() -> tuple[str, ...]:
    """Return the region names that :func:`region_members` accepts.

    Returns
    -------
    tuple of str
        The UN M49 continents (``"Europe"``, ...), the UN M49 sub-regions
        (``"Western Europe"``, ...), ``"EU27"``, ``"Europe (paper)"`` and the WHO regions
        (``"AFR"``, ``"AMR"``, ``"SEAR"``, ``"EUR"``, ``"EMR"``, ``"WPR"``).
    """
    return tuple(label for label, _ in _regions().values())


def region_members(region: str) -> frozenset[str]:
    """Return the ISO alpha-3 codes of a region's members.

    Parameters
    ----------
    region : str
        A UN M49 continent ("Europe": Russia is in, Türkiye and Cyprus are not),
        a UN M49 sub-region ("Northern Europe"), ``"EU27"`` (the current 27 EU
        member states) or a WHO region code (``"EUR"``). Case and spacing do
        not matter.

    Returns
    -------
    frozenset of str
        The member codes, territories included where the region is geographic.

    Raises
    ------
    trialmap.errors.UnknownRegionError
        If ``region`` is not one of :func:`available_regions`.
    """
    found = _regions().get(normalize_name(region))
    if found is None:
        msg = f"unknown region {region!r}: expected one of {', '.join(available_regions())}"
        raise UnknownRegionError(msg)
    return found[1]
