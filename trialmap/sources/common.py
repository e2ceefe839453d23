"""Cleaning shared by every reader: registry dates and enumerations.

The classic API and website wrote "September 9, 2015", "March 2019" and
"Phase 1"; API v2 writes "2015-09-09", "2019-03" and "PHASE1". Everything is
brought to real dates (with their precision kept) and to the v2 enum values.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
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
    return typed_tables({name: pd.DataFrame(r) for name, r in rows.items()})


def typed_tables(frames: dict[str, pd.DataFrame]) -> Tables:
    """Raw frames (dates as registry strings) -> typed canonical tables (dates parsed)."""
    studies = frames["studies"]
    if not studies.empty:
        for col in ("start_date", "first_posted", "last_update"):
            studies[col], studies[f"{col}_precision"] = parse_distinct_dates(studies[col])
        studies["registry_data_date"], _ = parse_distinct_dates(studies["registry_data_date"])
        studies["enrollment"] = pd.to_numeric(studies["enrollment"], errors="coerce")
    return Tables.from_frames(**frames)


def parse_distinct_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """:func:`parse_dates`, computed once per distinct value (a registry has a few thousand
    distinct dates for half a million studies) and spread back to every row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) * 2 > len(values):
        return parse_dates(values)
    dates, precision = parse_dates(pd.Series(uniques, dtype=values.dtype))
    codes = np.asarray(codes)
    missing = codes < 0
    take = np.where(missing, 0, codes)
    d = dates.to_numpy()[take] if len(uniques) else np.full(len(values), np.datetime64("NaT", "s"))
    d[missing] = np.datetime64("NaT")
    p = precision.array.take(take) if len(uniques) else pd.array([pd.NA] * len(values), dtype="string")
    p[missing] = pd.NA
    return pd.Series(d, index=values.index), pd.Series(p, index=values.index, dtype="string")


# Raw columns the JSON readers collect per table, before typing ("_rec": which record a row
# came from, so a reader can drop a replaced version's rows). Numbers as Arrow types; the
# rest are strings.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "studies": (
        "nct_id", "title", "official_title", "overall_status", "phases", "study_type", "enrollment",
        "enrollment_type", "start_date", "first_posted", "last_update", "lead_sponsor",
        "lead_sponsor_class", "registry_data_date", "removed_countries", "_rec",
    ),
    "sites": (
        "nct_id", "site_no", "facility", "site_status", "city", "state", "zip", "country", "lat", "lon",
        "geo_source", "geo_precision", "_rec",
    ),
    "conditions": ("nct_id", "source", "term", "mesh_id", "_rec"),
    "interventions": ("nct_id", "type", "name", "description", "other_names", "_rec"),
}
_NUMERIC = {"enrollment": "float64", "site_no": "int64", "lat": "float64", "lon": "float64",
            "_rec": "int64"}


def number(value: Any) -> float | None:
    """A registry count as a float (``"30"`` and ``30`` alike); ``None`` when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


class Columns:
    """Column lists of the four tables, turned into Arrow tables one chunk (page) at a time.

    A reader appends one value per column per row (``cols["sites"]["city"].append(...)``)
    and calls :meth:`flush` after each page: the page's Python objects become compact
    Arrow columns and are freed, so memory grows with the tables, not with the JSON.
    """

    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {}
        self.chunks: dict[str, list[Any]] = {t: [] for t in RAW_COLUMNS}
        self._reset()

    def _reset(self) -> None:
        self.cols = {t: {c: [] for c in cols} for t, cols in RAW_COLUMNS.items()}

    def flush(self) -> None:
        import pyarrow as pa

        for table, cols in self.cols.items():
            if not cols["nct_id"]:
                continue
            arrays = {}
            for name, values in cols.items():
                kind = _NUMERIC.get(name)
                if kind is not None:
                    arrays[name] = pa.array(values, type=getattr(pa, kind)())
                    continue
                try:
                    arrays[name] = pa.array(values, type=pa.large_string())
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    # a number where the registry usually writes text: kept as its text
                    arrays[name] = pa.array([None if v is None else str(v) for v in values],
                                            type=pa.large_string())
            self.chunks[table].append(pa.table(arrays))
        self._reset()

    def arrow(self) -> dict[str, Any]:
        """Every flushed chunk, one Arrow table per canonical table."""
        import pyarrow as pa

        self.flush()
        out = {}
        for table, chunks in self.chunks.items():
            if chunks:
                out[table] = pa.concat_tables(chunks)
            else:
                out[table] = pa.table({c: pa.array([], type=getattr(pa, _NUMERIC.get(c, "large_string"))())
                                       for c in RAW_COLUMNS[table]})
        self.chunks = {t: [] for t in RAW_COLUMNS}
        return out


def arrow_to_tables(arrow: dict[str, Any]) -> Tables:
    """Arrow tables of raw columns (see :class:`Columns`) -> typed canonical tables.

    Each column becomes one contiguous chunk: pyarrow's ``take`` on a chunked column
    first concatenates all its chunks, and on the page-per-chunk columns of a
    500,000-study snapshot every row selection of a study-set batch copied the whole
    column (0.9 s and 180 MiB for one column of the conditions). ``arrow`` is emptied so
    that each column's chunks are freed once combined (when the caller holds no other
    reference to them), and freed memory is handed back to the system as it goes (with
    the system allocator, a peak of 1.6 instead of 2.7 GiB at 500,000 studies).
    """
    import pyarrow as pa

    def mapper(t: Any) -> Any:
        return pd.StringDtype("pyarrow") if t in (pa.string(), pa.large_string()) else None

    pool = pa.default_memory_pool()
    frames = {}
    for name in list(arrow):
        table = arrow.pop(name)
        table = table.drop_columns([c for c in ("_rec",) if c in table.column_names])
        for i in range(table.num_columns):
            if table.column(i).num_chunks > 1:
                table = table.set_column(i, table.field(i), table.column(i).combine_chunks())
                if table.column(i).nbytes > 2**26:
                    pool.release_unused()  # the freed pages go back now, not after the whole table
        frames[name] = table.to_pandas(types_mapper=mapper)
        del table
        pool.release_unused()
    return typed_tables(frames)


# ---------------------------------------------------------------- Arrow helpers of the fast readers
#
# The fast readers (trialmap.sources.v2, classic, bulk_zip) let pyarrow's JSON reader decode
# records straight into nested Arrow arrays and flatten them here with Arrow kernels, with
# the same values as the row-by-row code above (tests/reference_readers.py holds the old
# readers; the tests compare every shipped record).


def arrow_field(arr: Any, *path: str) -> Any:
    """``arr.a.b.c`` of a struct array; null wherever a parent is null."""
    import pyarrow.compute as pc

    for name in path:
        arr = pc.struct_field(arr, name)
    return arr


def arrow_list_items(lists: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The items of a list array, their row (parent index) and their position in the row."""
    import pyarrow.compute as pc

    items = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy()
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy()
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(parent), dtype=np.int64) - starts[parent]
    return items, parent, position


def arrow_join(lists: Any, sep: str = "|") -> Any:
    """:func:`join` of every row of a ``list<string>`` array: non-empty items joined, null when none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    items = pc.list_flatten(lists)
    if items.null_count or (len(items) and pc.any(pc.equal(pc.utf8_length(items), 0)).as_py()):
        return pa.array([join(v, sep) for v in lists.to_pylist()], type=pa.large_string())
    joined = pc.binary_join(lists, sep)
    return pc.if_else(pc.equal(joined, ""), None, joined).cast(pa.large_string())


def arrow_repeat(values: Any, rows: np.ndarray) -> Any:
    """``values[rows]``: a per-study column spread onto its child rows."""
    import pyarrow as pa

    return values.take(pa.array(rows, type=pa.int64()))


def arrow_tables(cols: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Flattened columns -> the raw Arrow tables :class:`Columns` produces (same names and types)."""
    import pyarrow as pa

    out = {}
    for table, names in RAW_COLUMNS.items():
        given = cols[table]
        n = len(given["nct_id"])
        arrays = {}
        for name in names:
            value = given.get(name)
            kind = getattr(pa, _NUMERIC.get(name, "large_string"))()
            if value is None:
                arrays[name] = pa.nulls(n, type=kind)
            elif isinstance(value, np.ndarray):
                arrays[name] = pa.array(value, type=kind)
            elif isinstance(value, str):
                arrays[name] = pa.array(np.full(n, value, dtype=object), type=kind)
            else:
                arrays[name] = value if value.type == kind else value.cast(kind)
        out[table] = pa.table(arrays)
    return out


def concat_arrow(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One Arrow table per canonical table from per-file (or per-page) parts."""
    import pyarrow as pa

    out = {}
    for table in RAW_COLUMNS:
        chunks = [p[table] for p in parts if p[table].num_rows]
        out[table] = (pa.concat_tables(chunks) if chunks else
                      pa.table({c: pa.array([], type=getattr(pa, _NUMERIC.get(c, "large_string"))())
                                for c in RAW_COLUMNS[table]}))
    return out
