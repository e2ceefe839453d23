"""Readers for the CSV files the ClinicalTrials.gov website lets researchers download.

Two layouts exist:

``ctgov-website-csv-classic``
    The classic website's "SearchResults.csv" (27 columns: Rank, NCT Number,
    Title, ..., Locations, URL). Display values ("Recruiting", "Phase 1",
    "September 9, 2015"); sites as "Facility, City, State, Country".
``ctgov-website-csv-v2``
    The current website's download (30 columns: NCT Number, Study Title,
    Study URL, ..., Locations, Study Documents). API v2 enums ("RECRUITING",
    "PHASE1"), ISO dates ("2015-09-09", "2019-03"); sites as "Facility, City,
    State, Zip, Country".

Both pack every site of a study into one ``Locations`` cell joined by "|",
with commas inside facility names and inside country names ("Korea,
Republic of"). The country is found as the longest run of trailing
comma-separated parts that :mod:`trialmap.countries`' alias table knows;
what precedes it is split into facility, city, state and zip by position
(best effort: the CSV does not say which part is which). A site whose
country cannot be found keeps ``country`` empty and is logged by NCT id and
text (:func:`sites_without_country` lists them).

The CSVs carry no MeSH terms, keywords or intervention descriptions:
conditions come from the free-text ``Conditions`` column, so the study set's
keyword fallback decides the disease categories.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from trialmap import countries
from trialmap.csvfile import read_rows, read_text
from trialmap.errors import SourceFormatError
from trialmap.sources.common import join, new_rows, phase_enum, status_enum, to_enum, to_tables
from trialmap.tables import Tables

log = logging.getLogger(__name__)

FORMAT_CLASSIC = "ctgov-website-csv-classic"
FORMAT_V2 = "ctgov-website-csv-v2"

# Columns that identify a layout (a header must hold all of them).
_SIGNATURES = {
    FORMAT_CLASSIC: {"Rank", "NCT Number", "Title", "Status", "Conditions", "Interventions",
                     "First Posted", "Locations", "URL"},
    FORMAT_V2: {"NCT Number", "Study Title", "Study URL", "Study Status", "Conditions",
                "Interventions", "First Posted", "Locations"},
}
_MAX_COUNTRY_PARTS = 4  # "Congo, The Democratic Republic of the" has 2; room to spare
_ZIP = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9 -]{1,11}$")


def detect_format(header: list[str]) -> str | None:
    """The layout a CSV header belongs to, or ``None``."""
    cols = {h.strip().lstrip("\ufeff") for h in header}
    for fmt, needed in _SIGNATURES.items():
        if needed <= cols:
            return fmt
    return None


def _read_rows(path: Path) -> tuple[str, list[dict[str, str]]]:
    """The layout and the rows of a website CSV, read strictly (see :mod:`trialmap.csvfile`):
    a row with more or fewer fields than the header is an error naming its line, and
    long ``Locations`` cells (thousands of sites) are read."""
    path = Path(path)
    text = read_text(path, "website CSV", SourceFormatError)
    header, rows, _ = read_rows(path, "website CSV", SourceFormatError, text=text)
    fmt = detect_format(header)
    if fmt is None:
        msg = (
            f"{path.name} is not a ClinicalTrials.gov website CSV: its header "
            f"({', '.join(header[:5])}, ...) matches neither the classic "
            "'SearchResults.csv' nor the current website's download"
        )
        raise SourceFormatError(msg)
    return fmt, [dict(zip(header, row, strict=True)) for row in rows]


def _country_lookup(sites: list[str]) -> dict[str, str | None]:
    """iso3 of every trailing run of 1-4 parts of every site text, in one alias-table call."""
    candidates = set()
    for site in sites:
        parts = [p.strip() for p in site.split(",")]
        for k in range(1, min(_MAX_COUNTRY_PARTS, len(parts)) + 1):
            candidates.add(", ".join(parts[-k:]))
    keys = sorted(candidates)
    iso = countries.to_iso3(pd.Series(keys, dtype="string"))
    return {k: (None if pd.isna(v) else str(v)) for k, v in zip(keys, iso, strict=True)}


def split_location(site: str, lookup: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """One "Facility, City, State, Zip, Country" text as fields.

    Parameters
    ----------
    site
        One site of a ``Locations`` cell.
    lookup
        Candidate country text -> iso3 (from :func:`_country_lookup`);
        built for this one site when ``None``.

    Returns
    -------
    dict
        ``facility``, ``city``, ``state``, ``zip``, ``country`` (the
        registry's spelling of the longest trailing run of parts that is a
        known country name; ``None`` when there is none, and then the whole
        text is the facility).
    """
    lookup = _country_lookup([site]) if lookup is None else lookup
    parts = [p.strip() for p in site.split(",")]
    country, rest = None, parts
    for k in range(min(_MAX_COUNTRY_PARTS, len(parts)), 0, -1):
        candidate = ", ".join(parts[-k:])
        if lookup.get(candidate) is not None:
            country, rest = candidate, parts[:-k]
            break
    out: dict[str, str | None] = {"facility": None, "city": None, "state": None, "zip": None,
                                  "country": country}
    if country is None:
        if len(parts) == 1:  # no comma at all: nothing that could be a country
            out["facility"] = site.strip() or None
            return out
        # Keep the trailing part as the country: it gets no iso3 and is listed by name
        # among the unknown countries instead of vanishing into the facility.
        country, rest = parts[-1], parts[:-1]
        out["country"] = country
    rest = [p for p in rest if p]
    if len(rest) >= 2 and _ZIP.match(rest[-1]):
        out["zip"] = rest.pop()
    # Three or more parts left: the last is taken as the state. Against the
    # classic records of the same trials this places city and state right for
    # 94 % of sites; the rest are facility names with commas in them.
    if len(rest) >= 3:
        out["state"] = rest.pop()
    if len(rest) >= 2:
        out["facility"], out["city"] = ", ".join(rest[:-1]), rest[-1]
    elif rest:
        out["facility"] = rest[0]
    return out


def _interventions(text: str) -> list[tuple[str | None, str]]:
    """ "Biological: MSC|Drug: X" -> [("BIOLOGICAL", "MSC"), ("DRUG", "X")]."""
    out = []
    for item in filter(None, (t.strip() for t in text.split("|"))):
        kind, sep, name = item.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z_ ]+", kind):
            out.append((to_enum(kind.strip()), name.strip()))
        else:
            out.append((None, item))
    return out


def _study_type(value: str) -> str | None:
    # "Expanded Access:Individual Patients" -> EXPANDED_ACCESS
    return to_enum(value.split(":", 1)[0].strip()) if value else None


def read(path: Path | str, registry_data_date: str | None = None) -> Tables:
    """Read one website CSV (either layout) into canonical tables.

    Parameters
    ----------
    path
        The downloaded CSV, unchanged.
    registry_data_date
        The date the file was downloaded (the CSV does not say which data
        it holds); stored as every study's ``registry_data_date``.

    Raises
    ------
    SourceFormatError
        For a file that is not UTF-8, not CSV, or has neither layout's header.
    """
    path = Path(path)
    fmt, rows = _read_rows(path)
    classic = fmt == FORMAT_CLASSIC
    out = new_rows()
    lookup = _country_lookup([s for row in rows for s in row["Locations"].split("|")])
    unplaced = []
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        nct = row.get("NCT Number", "").strip()
        if not nct:
            msg = f"{path.name}: a row has no NCT Number"
            raise SourceFormatError(msg)
        if nct in seen:
            # A download holds each study once; a repeated row is a copy-paste accident.
            if seen[nct] != row:
                msg = f"{path.name}: {nct} appears twice with different content; keep one row per study"
                raise SourceFormatError(msg)
            log.warning("%s: %s appears twice with identical content; read once", path.name, nct)
            continue
        seen[nct] = row
        if classic:
            sponsor = row["Sponsor/Collaborators"].split("|")[0] or None
            sponsor_class = to_enum(row["Funded Bys"].split("|")[0]) if row["Funded Bys"] else None
            phases = join([phase_enum(p) for p in row["Phases"].split("|")])
        else:
            sponsor = row.get("Sponsor") or None
            sponsor_class = to_enum(row.get("Funder Type") or "")
            phases = row["Phases"] or None
        out["studies"].append({
            "nct_id": nct,
            "title": row["Title" if classic else "Study Title"] or None,
            "overall_status": status_enum(row["Status" if classic else "Study Status"] or None),
            "phases": phases,
            "study_type": _study_type(row["Study Type"]),
            "enrollment": row["Enrollment"] or None,
            "start_date": row["Start Date"] or None,
            "first_posted": row["First Posted"] or None,
            "last_update": row["Last Update Posted"] or None,
            "lead_sponsor": sponsor,
            "lead_sponsor_class": sponsor_class,
            "registry_data_date": registry_data_date,
        })
        sites = [s for s in row["Locations"].split("|") if s.strip()]
        for i, text in enumerate(sites):
            site = split_location(text, lookup)
            if site["country"] is None:
                unplaced.append(f"{nct} {text!r}")
            out["sites"].append({"nct_id": nct, "site_no": i, **site})
        for term in filter(None, (t.strip() for t in row["Conditions"].split("|"))):
            out["conditions"].append({"nct_id": nct, "source": "condition", "term": term})
        for kind, name in _interventions(row["Interventions"]):
            out["interventions"].append({"nct_id": nct, "type": kind, "name": name})
    if unplaced:
        log.warning(
            "%s: %d site(s) name no known country, kept without one: %s",
            path.name, len(unplaced), "; ".join(unplaced[:5]),
        )
    return to_tables(out)


def sites_without_country(tables: Tables) -> pd.DataFrame:
    """Sites a website CSV gave with no recognisable country (``nct_id``, ``site_no``, ``facility``)."""
    s = tables.sites
    return s.loc[s["country"].isna(), ["nct_id", "site_no", "facility"]].reset_index(drop=True)
