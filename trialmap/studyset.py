"""The study set: which records are MSC trials in inflammatory or autoimmune disease.

The rule lives in a TOML definition (``trialmap/data/studyset.toml`` by
default); this module loads and checks it, then applies it to the canonical
tables. Every record ends with exactly one inclusion-log row saying at which
step it left the set and why, so the flow counts a Methods section cites are
reproducible.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from trialmap.errors import DefinitionError
from trialmap.tables import Tables

_MESH_RE = re.compile(r"^D\d{6}(?:\d{3})?$")
GROUPS = ("autoimmune", "inflammatory")

# The steps of the flow, in order; each record leaves at one of them or is included.
STEPS = (
    "records_read",
    "unique_records",
    "msc_confirmed",
    "study_type",
    "in_scope",
    "with_site",
    "with_mapped_country",
)


def normalize_mesh_id(mesh_id: str | None) -> str | None:
    """MeSH descriptor ids in 9-digit form: D006086 -> D000006086 (classic API style)."""
    if mesh_id is None or pd.isna(mesh_id):
        return None
    mesh_id = str(mesh_id).strip()
    if re.fullmatch(r"D\d{6}", mesh_id):
        return "D000" + mesh_id[1:]
    return mesh_id


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    group: str
    mesh: tuple[str, ...]
    keywords: tuple[str, ...]
    switch: str | None = None
    fallback: bool = False


@dataclass(frozen=True)
class Definition:
    """A parsed, checked study-set definition."""

    name: str
    version: str
    description: str
    cell_patterns: tuple[str, ...]
    products: tuple[str, ...]
    not_cells: tuple[str, ...]
    derived_products: tuple[str, ...]
    study_types: tuple[str, ...]
    switches: dict[str, bool]
    categories: tuple[Category, ...]
    source: str = field(default="default")

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def active_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.switch is None or self.switches[c.switch])


_ALLOWED = {
    "definition": {"name", "version", "description"},
    "msc": {"cell_patterns", "products", "not_cells", "derived_products", "study_types"},
    "category": {"label", "group", "mesh", "keywords", "switch", "fallback"},
}


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return 0


def load_definition(path: str | Path | None = None) -> Definition:
    """Load and check a study-set definition (``None``: the bundled default).

    Raises
    ------
    DefinitionError
        For a file that is not TOML, an unknown key, a missing key, a bad
        regular expression, an invalid MeSH id or an unknown switch; the
        message names the file and line.
    """
    if path is None:
        ref = resources.files("trialmap") / "data" / "studyset.toml"
        text, where = ref.read_text(encoding="utf-8"), "default"
    else:
        p = Path(path)
        if not p.is_file():
            msg = f"definition file {p} does not exist"
            raise DefinitionError(msg)
        text, where = p.read_text(encoding="utf-8"), str(p)
    return parse_definition(text, where)


def parse_definition(text: str, where: str = "<string>") -> Definition:
    """Parse definition TOML text; see :func:`load_definition`."""

    def fail(problem: str, needle: str | None = None) -> NoReturn:
        line = _line_of(text, needle) if needle else 0
        at = f"{where}:{line}" if line else where
        msg = f"{at}: {problem}"
        raise DefinitionError(msg)

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{where}: not valid TOML ({exc})"
        raise DefinitionError(msg) from exc

    unknown = set(raw) - {"definition", "msc", "switches", "categories"}
    if unknown:
        key = sorted(unknown)[0]
        fail(f"unknown section [{key}]", f"[{key}")
    for section in ("definition", "msc", "categories"):
        if section not in raw:
            fail(f"missing section [{section}]")
    for section in ("definition", "msc"):
        extra = set(raw[section]) - _ALLOWED[section]
        if extra:
            key = sorted(extra)[0]
            fail(f"unknown key {key!r} in [{section}]", f"{key}")
    meta, msc = raw["definition"], raw["msc"]
    for key in ("name", "version"):
        if key not in meta:
            fail(f"[definition] needs {key!r}", "[definition]")
    switches = raw.get("switches", {})
    for k, v in switches.items():
        if not isinstance(v, bool):
            fail(f"switch {k!r} must be true or false", k)

    def patterns(values: Any, key: str) -> tuple[str, ...]:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            fail(f"{key!r} must be a list of strings", key)
        for v in values:
            try:
                re.compile(v)
            except re.error as exc:
                fail(f"bad regular expression {v!r} in {key!r} ({exc})", v)
        return tuple(values)

    categories = []
    for key, cat in raw["categories"].items():
        extra = set(cat) - _ALLOWED["category"]
        if extra:
            bad = sorted(extra)[0]
            fail(f"unknown key {bad!r} in [categories.{key}]", f"{bad}")
        if cat.get("group") not in GROUPS:
            fail(f"[categories.{key}] group must be one of {GROUPS}", f"[categories.{key}]")
        mesh = cat.get("mesh", [])
        for m in mesh:
            if not isinstance(m, str) or not _MESH_RE.match(m):
                fail(f"invalid MeSH descriptor id {m!r} in [categories.{key}]", str(m))
        sw = cat.get("switch")
        if sw is not None and sw not in switches:
            fail(f"[categories.{key}] names switch {sw!r}, not in [switches]", f"{sw}")
        categories.append(
            Category(
                key=key,
                label=str(cat.get("label", key)),
                group=cat["group"],
                mesh=tuple(normalize_mesh_id(m) for m in mesh),
                keywords=patterns(cat.get("keywords", []), "keywords"),
                switch=sw,
                fallback=bool(cat.get("fallback", False)),
            )
        )
    if "derived_products" not in switches:
        switches = {**switches, "derived_products": False}
    return Definition(
        name=str(meta["name"]),
        version=str(meta["version"]),
        description=str(meta.get("description", "")),
        cell_patterns=patterns(msc.get("cell_patterns", []), "cell_patterns"),
        products=patterns(msc.get("products", []), "products"),
        not_cells=patterns(msc.get("not_cells", []), "not_cells"),
        derived_products=patterns(msc.get("derived_products", []), "derived_products"),
        study_types=tuple(msc.get("study_types", ["INTERVENTIONAL"])),
        switches=dict(switches),
        categories=tuple(categories),
        source=where,
    )


def _any(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _matches(text: pd.Series, pattern: re.Pattern[str] | None) -> pd.Series:
    if pattern is None:
        return pd.Series(False, index=text.index)
    return text.str.contains(pattern, regex=True).fillna(False).astype(bool)


def msc_evidence(tables: Tables, definition: Definition) -> pd.DataFrame:
    """Decide per study whether it tests MSCs, and say why.

    Returns
    -------
    DataFrame
        ``nct_id``, ``is_msc`` (bool), ``msc_reason`` (the intervention or
        title text that decided, or why not).
    """
    cells = _any(definition.cell_patterns + definition.products)
    derived = _any(definition.derived_products)
    allow_derived = definition.switches.get("derived_products", False)
    not_cells = _any(definition.not_cells)

    def text(*cols: pd.Series) -> pd.Series:
        joined = cols[0].fillna("")
        for c in cols[1:]:
            joined = joined + " | " + c.fillna("")
        return joined.str.replace(not_cells, " ", regex=True) if not_cells else joined

    iv = tables.interventions
    label = text(iv["name"], iv["other_names"])
    desc = text(iv["description"])
    cell_label, cell_desc = _matches(label, cells), _matches(desc, cells)
    derived_label, derived_desc = _matches(label, derived), _matches(desc, derived)
    if allow_derived:
        derived_label = derived_desc = pd.Series(False, index=iv.index)
    # When only the description names MSCs, it must not be describing a derived product.
    msc_iv = (cell_label & ~derived_label) | (~cell_label & cell_desc & ~derived_label & ~derived_desc)
    first_msc = iv.loc[msc_iv].drop_duplicates("nct_id").set_index("nct_id")["name"]
    is_derived = (cell_label | cell_desc) & ~msc_iv
    derived_only = iv.loc[is_derived].drop_duplicates("nct_id").set_index("nct_id")

    st = tables.studies.set_index("nct_id")
    title = text(st["title"], st["official_title"])
    title_cell = _matches(title, cells)
    title_derived = _matches(title, derived)

    out = pd.DataFrame(index=st.index)
    out["is_msc"] = False
    out["msc_reason"] = "no MSC intervention or title"
    by_title = title_cell & (~title_derived | allow_derived)
    derived_title = title_cell & ~by_title
    out.loc[derived_title, "msc_reason"] = "MSC-derived product only (title): " + st.loc[
        derived_title, "title"
    ].fillna("")
    out.loc[by_title, "is_msc"] = True
    out.loc[by_title, "msc_reason"] = "title: " + st.loc[by_title, "title"].fillna("")
    dids = derived_only.index.difference(first_msc.index)
    dids = dids[~out.loc[dids, "is_msc"].to_numpy()] if len(dids) else dids
    out.loc[dids, "msc_reason"] = "MSC-derived product only: " + derived_only.loc[dids, "name"]
    ids = first_msc.index
    out.loc[ids, "is_msc"] = True
    out.loc[ids, "msc_reason"] = "intervention: " + first_msc
    return out.reset_index().astype({"nct_id": "string", "msc_reason": "string"})


def classify(tables: Tables, definition: Definition) -> pd.DataFrame:
    """Disease categories of every study, one row per (study, category), with the reason.

    MeSH terms and ancestors decide; a record with no MeSH terms at all falls
    back to matching its conditions and keywords against each category's
    keywords.

    Returns
    -------
    DataFrame
        ``nct_id``, ``category``, ``group``, ``matched_by`` ("mesh" or
        "keyword"), ``match`` (the MeSH id and term, or the matched text).
    """
    cond = tables.conditions
    mesh = cond[cond["source"].isin(["mesh", "mesh_ancestor"])].copy()
    mesh["mesh_id"] = mesh["mesh_id"].map(normalize_mesh_id, na_action="ignore")
    has_mesh = set(cond.loc[cond["source"] == "mesh", "nct_id"])
    free = cond[cond["source"].isin(["condition", "keyword"]) & ~cond["nct_id"].isin(has_mesh)]

    rows = []
    for cat in definition.active_categories():
        hit = mesh[mesh["mesh_id"].isin(cat.mesh)]
        for nct, grp in hit.groupby("nct_id", sort=True):
            m = grp.iloc[0]
            rows.append((nct, cat.key, cat.group, "mesh", f"{m['mesh_id']} {m['term']}"))
        pat = _any(cat.keywords)
        if pat is not None and not free.empty:
            kw = free[_matches(free["term"], pat)]
            for nct, grp in kw.groupby("nct_id", sort=True):
                rows.append((nct, cat.key, cat.group, "keyword", str(grp["term"].iloc[0])))
    cols = ["nct_id", "category", "group", "matched_by", "match"]
    out = pd.DataFrame(rows, columns=cols).astype("string")

    # A fallback category only counts when its group has no specific match.
    fallback = {c.key for c in definition.active_categories() if c.fallback}
    if fallback and not out.empty:
        specific = out[~out["category"].isin(fallback)][["nct_id", "group"]].drop_duplicates()
        key = out["nct_id"] + "\0" + out["group"]
        covered = set(specific["nct_id"] + "\0" + specific["group"])
        out = out[~(out["category"].isin(fallback) & key.isin(covered))]
    return out.sort_values(["nct_id", "category"]).reset_index(drop=True)


def select(tables: Tables, definition: Definition) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the definition: the inclusion log and the per-study categories.

    ``tables.sites`` must already carry ``iso3`` (see
    :func:`trialmap.countries.to_iso3`): the last step keeps trials with at
    least one site in a known country.

    Returns
    -------
    log
        One row per study read: ``nct_id``, ``step`` (the step at which it
        left, or "included"), ``included`` (bool), ``reason``.
    categories
        :func:`classify`'s rows for the included studies.
    """
    studies = tables.studies
    log = pd.DataFrame({"nct_id": studies["nct_id"]})
    log["step"] = pd.Series(pd.NA, index=log.index, dtype="string")
    log["reason"] = pd.Series(pd.NA, index=log.index, dtype="string")

    def leave(mask: pd.Series, step: str, reason: pd.Series | str) -> None:
        m = mask & log["step"].isna()
        log.loc[m, "step"] = step
        log.loc[m, "reason"] = reason[m] if isinstance(reason, pd.Series) else reason

    dup = studies["nct_id"].duplicated()
    leave(dup, "unique_records", "duplicate NCT id (an earlier record was kept)")

    ev = msc_evidence(tables, definition).drop_duplicates("nct_id").set_index("nct_id")
    ev = ev.reindex(studies["nct_id"])
    not_msc = ~ev["is_msc"].fillna(False).to_numpy()
    leave(not_msc, "msc_confirmed", ev["msc_reason"].reset_index(drop=True))

    ok_type = studies["study_type"].isin(definition.study_types)
    leave(~ok_type, "study_type", "study type " + studies["study_type"].fillna("missing"))

    cats = classify(tables, definition)
    in_scope = studies["nct_id"].isin(cats["nct_id"])
    leave(~in_scope, "in_scope", "no inflammatory or autoimmune category matched")

    sites = tables.sites
    with_site = studies["nct_id"].isin(sites["nct_id"])
    leave(~with_site, "with_site", "record lists no site")
    mapped = studies["nct_id"].isin(sites.loc[sites["iso3"].notna(), "nct_id"])
    leave(~mapped, "with_mapped_country", "no site in a country trialmap could map")

    log["included"] = log["step"].isna()
    log["step"] = log["step"].fillna("included")
    log["reason"] = log["reason"].fillna("")
    included = set(log.loc[log["included"], "nct_id"])
    return log, cats[cats["nct_id"].isin(included)].reset_index(drop=True)


def flow_counts(log: pd.DataFrame) -> pd.DataFrame:
    """Records remaining after each step of the flow (a PRISMA-style table).

    Returns
    -------
    DataFrame
        ``step``, ``n_remaining``, ``n_excluded`` (at that step).
    """
    left = log["step"].value_counts()
    rows, remaining = [], len(log)
    for step in STEPS:
        excluded = int(left.get(step, 0))
        remaining -= excluded
        rows.append((step, remaining if step != "records_read" else len(log), excluded))
    return pd.DataFrame(rows, columns=["step", "n_remaining", "n_excluded"])
