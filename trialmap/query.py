"""The API v2 query that defines the fetched set, read from one TOML file.

The default is ``trialmap/data/ctgov_query.toml``. :func:`load_query` checks
every parameter name against :data:`STUDIES_PARAMETERS` (the names the API's
OpenAPI specification defines for ``GET /studies``; a test keeps the two
equal), so a typo fails here rather than as an HTTP 400 half-way through.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from trialmap.errors import QueryError

# Here rather than in trialmap.client so that naming it does not import requests.
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"

#: Query parameters of ``GET /studies`` in the API v2 specification (ctg-oas-v2.yaml, 2.0.5).
STUDIES_PARAMETERS = frozenset({
    "format", "markupFormat",
    "query.cond", "query.term", "query.locn", "query.titles", "query.intr", "query.outc",
    "query.spons", "query.lead", "query.id", "query.patient",
    "filter.overallStatus", "filter.geo", "filter.ids", "filter.advanced", "filter.synonyms",
    "postFilter.overallStatus", "postFilter.geo", "postFilter.ids", "postFilter.advanced",
    "postFilter.synonyms",
    "aggFilters", "geoDecay", "fields", "sort", "countTotal", "pageSize", "pageToken",
})
#: Set by the fetcher itself, never in a query file.
PAGING_PARAMETERS = frozenset({"pageSize", "pageToken", "countTotal", "fields"})


@dataclass(frozen=True)
class Query:
    """One declared query: parameters, the fields asked for, paging limits."""

    name: str
    version: str
    description: str
    params: dict[str, str]
    fields: tuple[str, ...]
    page_size: int = 1000
    max_studies: int = 20000
    source: str = "<string>"
    sha256: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def request_params(self, *, fields: bool = True) -> dict[str, str]:
        """The parameters of the first page, without the paging ones."""
        out = dict(self.params)
        if fields and self.fields:
            out["fields"] = ",".join(self.fields)
        return out

    def since(self, date: str) -> Query:
        """The same query restricted to studies whose last update was posted on or after ``date``."""
        window = f"AREA[LastUpdatePostDate]RANGE[{date},MAX]"
        params = dict(self.params)
        old = params.get("filter.advanced")
        params["filter.advanced"] = f"({old}) AND {window}" if old else window
        return Query(
            self.name, self.version, self.description, params, self.fields, self.page_size,
            self.max_studies, self.source, self.sha256,
        )

    def ids_only(self) -> Query:
        """The same query asking only for NCT ids (the current membership of the set)."""
        return Query(
            self.name, self.version, self.description, dict(self.params),
            ("protocolSection.identificationModule.nctId",), self.page_size, self.max_studies,
            self.source, self.sha256,
        )

    def for_ids(self, nct_ids: list[str]) -> Query:
        """Records of the named studies only (``filter.ids``), same fields."""
        params = {"format": self.params.get("format", "json"), "filter.ids": ",".join(sorted(nct_ids))}
        return Query(
            self.name, self.version, self.description, params, self.fields, self.page_size,
            self.max_studies, self.source, self.sha256,
        )


def default_query_path() -> Path:
    return Path(str(resources.files("trialmap") / "data" / "ctgov_query.toml"))


def load_query(path: str | Path | None = None) -> Query:
    """Read and check a query file (``None``: the bundled default).

    Raises
    ------
    QueryError
        If the file is missing, not TOML, or names a parameter the API does not define.
    """
    path = Path(path) if path is not None else default_query_path()
    try:
        blob = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read query file {path} ({exc.strerror}); pass an existing file with --query"
        raise QueryError(msg) from exc
    try:
        raw = tomllib.loads(blob.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"query file {path} is not valid TOML ({exc}); fix it or use the bundled one"
        raise QueryError(msg) from exc
    return parse_query(raw, str(path), hashlib.sha256(blob).hexdigest())


def parse_query(raw: dict[str, Any], source: str = "<string>", sha256: str = "") -> Query:
    q = raw.get("query")
    if not isinstance(q, dict) or "name" not in q or not isinstance(q.get("params"), dict):
        msg = f"query file {source} needs a [query] table with name and a [query.params] table"
        raise QueryError(msg)
    params = {str(k): str(v) for k, v in q["params"].items()}
    unknown = sorted(set(params) - STUDIES_PARAMETERS)
    if unknown:
        msg = (
            f"query file {source}: {', '.join(unknown)} is not a GET /studies parameter of API v2 "
            "(there is no filter.phase: use filter.advanced=AREA[Phase](PHASE1 OR PHASE2))"
        )
        raise QueryError(msg)
    reserved = sorted(set(params) & PAGING_PARAMETERS)
    if reserved:
        msg = (
            f"query file {source}: {', '.join(reserved)} is set by trialmap itself; remove it "
            "from [query.params] (fields go in [query.fields] paths)"
        )
        raise QueryError(msg)
    if params.get("format", "json") != "json":
        msg = f"query file {source}: format must be json, found {params['format']!r}"
        raise QueryError(msg)
    fields = tuple(str(f) for f in q.get("fields", {}).get("paths", []))
    page_size = int(q.get("page_size", 1000))
    if not 1 <= page_size <= 1000:
        msg = f"query file {source}: page_size must be 1..1000 (the API's maximum), found {page_size}"
        raise QueryError(msg)
    return Query(
        name=str(q["name"]),
        version=str(q.get("version", "1")),
        description=str(q.get("description", "")),
        params=params,
        fields=fields,
        page_size=page_size,
        max_studies=int(q.get("max_studies", 20000)),
        source=source,
        sha256=sha256,
    )


def _tree(paths: Sequence[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for p in paths:
        node = root
        parts = p.split(".")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = None  # None: the whole subtree
            else:
                nxt = node.get(part, {})
                if nxt is None:
                    break  # an ancestor was already asked for whole
                node = node.setdefault(part, nxt)
    return root


def _apply(value: Any, node: dict[str, Any] | None) -> Any:
    if node is None:
        return value
    if isinstance(value, list):
        return [_apply(v, node) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, sub in node.items():
            if key in value:
                v = _apply(value[key], sub)
                if not (isinstance(v, dict) and not v):
                    out[key] = v
        return out
    return value


def project(study: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """The study restricted to dotted field paths, as the API's ``fields=`` returns it
    (used by the local test server and the scale generator)."""
    return _apply(study, _tree(paths))
