"""The canonical tables every source produces, and their one column vocabulary.

Readers in :mod:`trialmap.sources` return a :class:`Tables`; every later stage
takes and returns these frames. Columns are documented once, in the README.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

# name -> pandas dtype; order is the column order on disk.
STUDIES = {
    "nct_id": "string",
    "title": "string",
    "official_title": "string",
    "overall_status": "string",
    "phases": "string",  # v2 enum values joined by "|", e.g. "PHASE1|PHASE2"
    "study_type": "string",
    "enrollment": "Int64",
    "enrollment_type": "string",
    "start_date": "datetime64[s]",
    "start_date_precision": "string",  # "day" | "month" | "year" | <NA>
    "first_posted": "datetime64[s]",
    "first_posted_precision": "string",
    "last_update": "datetime64[s]",
    "last_update_precision": "string",
    "lead_sponsor": "string",
    "lead_sponsor_class": "string",
    "registry_data_date": "datetime64[s]",
    "removed_countries": "string",  # countries the registry lists as removed, joined by "|"
}

SITES = {
    "nct_id": "string",
    "site_no": "Int64",  # position of the site in the record, from 0
    "facility": "string",
    "site_status": "string",
    "city": "string",
    "state": "string",
    "zip": "string",
    "country": "string",  # as the registry wrote it
    "iso3": "string",  # ISO 3166-1 alpha-3, filled by trialmap.countries
    "lat": "Float64",
    "lon": "Float64",
    "geo_source": "string",  # "registry" | "override" | "gazetteer" | "country" | <NA>
    "geo_precision": "string",  # "site" | "city" | "country" | <NA> (no coordinates)
}

CONDITIONS = {
    "nct_id": "string",
    "source": "string",  # "condition" | "keyword" | "mesh" | "mesh_ancestor"
    "term": "string",
    "mesh_id": "string",  # MeSH descriptor id (D000…) for mesh rows
}

INTERVENTIONS = {
    "nct_id": "string",
    "type": "string",  # v2 enum, e.g. "BIOLOGICAL", "DRUG"
    "name": "string",
    "description": "string",
    "other_names": "string",  # joined by "|"
}

SCHEMAS = {
    "studies": STUDIES,
    "sites": SITES,
    "conditions": CONDITIONS,
    "interventions": INTERVENTIONS,
}


def conform(df: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns, in order, with its dtypes.

    Missing columns are added empty; extra columns are a programming error.
    """
    extra = set(df.columns) - set(schema)
    if extra:
        msg = f"columns outside the vocabulary: {sorted(extra)}"
        raise ValueError(msg)
    out = df.reindex(columns=list(schema))
    return out.astype(schema)


def isin(values: pd.Series | pd.Index, candidates: Iterable) -> np.ndarray:
    """Which of ``values`` are among ``candidates``: ``values.isin(candidates)`` as a bool array.

    For the Arrow-backed string columns of the canonical tables, pandas' ``isin``
    turns every candidate into an Arrow scalar one at a time (seconds for the half
    a million ids of a registry-wide run); here the candidates go to
    ``pyarrow.compute.is_in`` as one array. <NA> is among the candidates only if
    they hold a missing value, as with pandas.
    """
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return np.asarray(values.isin(candidates), dtype=bool)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.array)
    if isinstance(candidates, pd.Series | pd.Index) and candidates.dtype == dtype:
        cand = pa.array(candidates.array)
    else:
        items = candidates if isinstance(candidates, list | tuple | np.ndarray) else list(candidates)
        cand = pa.array([None if v is None or v is pd.NA else v for v in items], type=arr.type)
    hit = pc.is_in(arr, value_set=pc.unique(cand.cast(arr.type)))
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


def arrow_strings(values: Any) -> pa.Array:
    """``values`` (a Series, Index or array of texts, <NA> as null) as one Arrow large_string array."""
    import pyarrow as pa

    arr = pa.array(pd.Series(values, dtype="string").array, type=pa.large_string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def arrow_map(arr: Any, fn: Any, type_: Any = None) -> Any:
    """``fn`` applied to each distinct value of ``arr`` once (nulls stay null unless ``fn`` maps None)."""
    import pyarrow as pa

    if type_ is None:
        type_ = pa.large_string()
    enc = arr.dictionary_encode() if not isinstance(arr.type, pa.DictionaryType) else arr
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], type=type_)
    out = mapped.take(enc.indices)
    if arr.null_count and fn(None) is not None:
        out = pa.array([fn(None) if v is None else v for v in out.to_pylist()], type=type_)
    return out


def join_runs(codes: np.ndarray, text: pd.Series, sep: str) -> tuple[np.ndarray, pd.Series]:
    """``sep.join`` of ``text`` over each run of equal group ``codes``, in row order, at Arrow speed.

    ``codes`` are group numbers 0..n-1 (``groupby(...).ngroup()``) whose rows are
    contiguous (the frame is sorted by the group keys). Returns each run's first row
    and the joined texts (one per run, in run order). ValueError if a group's rows
    are not contiguous.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = np.asarray(codes)
    if not len(codes):
        return np.zeros(0, dtype=np.int64), pd.Series([], dtype="string")
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    if len(starts) != int(codes.max()) + 1:
        msg = "join_runs: the rows of a group are not contiguous (sort by the group keys first)"
        raise ValueError(msg)
    offsets = pa.array(np.r_[starts, len(codes)], pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, arrow_strings(text))
    joined = pc.binary_join(lists, pa.scalar(sep, pa.large_string()))
    return starts, pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([joined])), dtype="string")


@dataclass(frozen=True)
class Tables:
    """The four canonical tables of one snapshot."""

    studies: pd.DataFrame
    sites: pd.DataFrame
    conditions: pd.DataFrame
    interventions: pd.DataFrame

    @classmethod
    def from_frames(cls, **frames: pd.DataFrame) -> Tables:
        return cls(**{name: conform(frames[name], SCHEMAS[name]) for name in SCHEMAS})

    def replace(self, **frames: pd.DataFrame) -> Tables:
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return Tables(**{**current, **frames})
