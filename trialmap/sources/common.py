"""Cleaning shared by every reader: registry dates and enumerations.

The classic API and website wrote "September 9, 2015", "March 2019" and
"Phase 1"; API v2 writes "2015-09-09", "2019-03" and "PHASE1". Everything is
brought to real dates (with their precision kept) and to the v2 enum values.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pandas as pd

from trialmap.tables import Tables

log = logging.getLogger(__name__)

# (strptime format, precision), tried in order; each value is parsed by the first that fits.
_DATE_FORMATS = (
    ("%B %d, %Y", "day"),
    ("%B %Y", "month"),
    ("%Y-%m-%d", "day"),
    ("%Y-%m", "month"),
    ("%Y", "year"),
)


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse registry date strings to dates and their precision.

    Parameters
    ----------
    values
        Strings such as "September 9, 2015", "March 2019", "2015-09-09",
        "2019-03"; missing values stay missing.

    Returns
    -------
    dates, precision
        ``datetime64[s]`` (a month-precision date is the first of the month)
        and "day" / "month" / "year", <NA> where the value was missing.
        A value no format fits is logged and left as NaT with precision
        "unparsed", so it is visible rather than silently dropped.
    """
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    precision = pd.Series(pd.NA, index=values.index, dtype="string")
    todo = text.notna()
    for fmt, prec in _DATE_FORMATS:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        hit = ok[ok].index
        dates.loc[hit] = parsed[ok].astype("datetime64[s]")
        precision.loc[hit] = prec
        todo.loc[hit] = False
    if todo.any():
        bad = text[todo].unique()[:5]
        log.warning("%d date value(s) in no known format, e.g. %s", int(todo.sum()), list(bad))
        precision.loc[todo] = "unparsed"
    return dates, precision


# Classic display values -> API v2 enum values. Unlisted values fall back to
# upper snake case (logged) so a new registry value is kept, not lost.
_STATUS = {
    "Unknown status": "UNKNOWN",
    "Active, not recruiting": "ACTIVE_NOT_RECRUITING",
}
_PHASE = {
    "Early Phase 1": "EARLY_PHASE1",
    "Phase 1": "PHASE1",
    "Phase 2": "PHASE2",
    "Phase 3": "PHASE3",
    "Phase 4": "PHASE4",
    "Not Applicable": "NA",
    "N/A": "NA",
    "Phase 1/Phase 2": "PHASE1|PHASE2",
    "Phase 2/Phase 3": "PHASE2|PHASE3",
    "Early Phase1": "EARLY_PHASE1",
}
_V2_ENUM = re.compile(r"^[A-Z0-9_]+$")


def to_enum(value: str | None, table: dict[str, str] | None = None) -> str | None:
    """One registry enumeration value as its API v2 spelling."""
    if value is None or value == "":
        return None
    if table and value in table:
        return table[value]
    if _V2_ENUM.match(value):
        return value
    return re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")


def status_enum(value: str | None) -> str | None:
    return to_enum(value, _STATUS)


def phase_enum(value: str | None) -> str | None:
    return to_enum(value, _PHASE)


def join(values: list[str] | None, sep: str = "|") -> str | None:
    """Join a list field, ``None`` when empty."""
    vals = [v for v in (values or []) if v]
    return sep.join(vals) if vals else None


def new_rows() -> dict[str, list[dict[str, Any]]]:
    """Empty row lists for the four canonical tables."""
    return {"studies": [], "sites": [], "conditions": [], "interventions": []}


def to_tables(rows: dict[str, list[dict[str, Any]]]) -> Tables:
    """Turn collected row lists into typed canonical tables (dates parsed)."""
    frames = {name: pd.DataFrame(r) for name, r in rows.items()}
    studies = frames["studies"]
    if not studies.empty:
        for col in ("start_date", "first_posted", "last_update"):
            studies[col], studies[f"{col}_precision"] = parse_dates(studies[col])
        studies["registry_data_date"], _ = parse_dates(studies["registry_data_date"])
        studies["enrollment"] = pd.to_numeric(studies["enrollment"], errors="coerce")
    return Tables.from_frames(**frames)
