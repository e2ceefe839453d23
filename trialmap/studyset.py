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
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from trialmap.errors import DefinitionError
from trialmap.tables import Tables, isin

_MESH_RE = re.compile(r"^D\d{6}(?:\d{3})?$")
GROUPS = ("autoimmune", "inflammatory")

# The steps of the flow, in order; each record leaves at one of them or is included.
# "posted_by_as_of" only applies to an as-of replay (select(..., as_of=...)).
STEPS = (
    "records_read",
    "unique_records",
    "posted_by_as_of",
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
    not_treatments: tuple[str, ...]
    study_types: tuple[str, ...]
    switches: dict[str, bool]
    categories: tuple[Category, ...]
    source: str = field(default="default")
    #: What the set is, in words, for every generated text (flow labels, figure
    #: captions, methods): e.g. "MSC trials in inflammatory and autoimmune disease".
    title: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def active_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.switch is None or self.switches[c.switch])


_ALLOWED = {
    "definition": {"name", "version", "description", "title"},
    "msc": {
        "cell_patterns", "products", "not_cells", "derived_products", "not_treatments", "study_types",
    },
    "category": {"label", "group", "mesh", "keywords", "switch", "fallback"},
}
_STUDY_TYPES = {"INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"}
# Joins between the parts of one intervention label ("UC-MSCs and Conditioned Medium").
_LABEL_PARTS = re.compile(r"\s+(?:and|or|plus|versus|vs\.?)\s+|\s*[,;+&]\s*", re.IGNORECASE)


def _line_of(text: str, needle: str, section: str | None = None) -> int:
    """1-based line of ``needle`` in ``text`` (searching from the header of ``section``).

    A line assigning ``needle`` as a key (``needle =``) wins, so that a word
    in a comment is not taken for the key; otherwise the first line holding
    the text. 0 when not found.
    """
    lines = text.splitlines()
    first = 0
    if section is not None:
        header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
        first = next((i for i, line in enumerate(lines) if header.match(line)), 0)
    key_re = re.compile(rf"^\s*[\"']?{re.escape(needle)}[\"']?\s*=")
    for test in (key_re.match, lambda line: needle in line):
        for i in range(first, len(lines)):
            if test(lines[i]):
                return i + 1
    return first + 1 if first else 0


def load_definition(path: str | Path | None = None) -> Definition:
    """Load and check a study-set definition (``None``: the bundled default).

    Parameters
    ----------
    path
        A TOML file laid out like the default (see :func:`default_definition_text`).

    Raises
    ------
    DefinitionError
        For a file that is missing, unreadable or not TOML, an unknown or
        missing key, a value of the wrong type, a bad regular expression, an
        invalid MeSH id or an unknown switch; the message names the file and
        line and what to change.
    """
    if path is None:
        text, where = default_definition_text(), "default"
    else:
        p = Path(path)
        if p.is_dir():
            msg = f"definition file {p} is a folder; give a TOML file (`trialmap definition > mine.toml`)"
            raise DefinitionError(msg)
        if not p.is_file():
            msg = f"definition file {p} does not exist; write one with `trialmap definition > {p.name}`"
            raise DefinitionError(msg)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"definition file {p} cannot be read as UTF-8 text ({exc})"
            raise DefinitionError(msg) from exc
        where = str(p)
    return parse_definition(text, where)


def default_definition_text() -> str:
    """The bundled default definition file, as text (copy it to edit the rule)."""
    return (resources.files("trialmap") / "data" / "studyset.toml").read_text(encoding="utf-8")


def parse_definition(text: str, where: str = "<string>") -> Definition:
    """Parse definition TOML text; see :func:`load_definition`."""

    def fail(problem: str, needle: str | None = None, section: str | None = None) -> NoReturn:
        line = _line_of(text, needle, section) if needle else 0
        at = f"{where}:{line}" if line else where
        msg = f"{at}: {problem}"
        raise DefinitionError(msg)

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        at = f"{where}:{m.group(1)}" if m else where
        msg = f"{at}: not valid TOML ({exc}); fix the syntax on that line"
        raise DefinitionError(msg) from exc

    unknown = set(raw) - {"definition", "msc", "switches", "categories"}
    if unknown:
        key = sorted(unknown)[0]
        fail(
            f"unknown section [{key}]; expected [definition], [msc], [switches], [categories.*]",
            f"[{key}",
        )
    for section in ("definition", "msc", "categories"):
        if section not in raw:
            fail(f"missing section [{section}]")
        if not isinstance(raw[section], dict):
            fail(f"{section} must be a table ([{section}])", section)
    for section in ("definition", "msc"):
        extra = set(raw[section]) - _ALLOWED[section]
        if extra:
            key = sorted(extra)[0]
            allowed = ", ".join(sorted(_ALLOWED[section]))
            fail(f"unknown key {key!r} in [{section}] (allowed: {allowed})", key, section)
    meta, msc = raw["definition"], raw["msc"]
    for key in ("name", "version"):
        if key not in meta:
            fail(f"[definition] needs {key!r}", "[definition]")
        if not isinstance(meta[key], str | int | float):
            fail(f"[definition] {key} must be a string", key, "definition")
    switches = raw.get("switches", {})
    if not isinstance(switches, dict):
        fail("switches must be a table ([switches])", "switches")
    for k, v in switches.items():
        if not isinstance(v, bool):
            fail(f"switch {k!r} must be true or false, not {v!r}", k, "switches")

    def patterns(values: Any, key: str, section: str | None = "msc") -> tuple[str, ...]:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            fail(f"{key!r} must be a list of strings", key, section)
        for v in values:
            try:
                re.compile(v)
            except re.error as exc:
                fail(f"bad regular expression {v!r} in {key!r} ({exc})", v, section)
        return tuple(values)

    study_types = msc.get("study_types", ["INTERVENTIONAL"])
    if not isinstance(study_types, list) or not set(study_types) <= _STUDY_TYPES:
        fail(f"study_types must be a list drawn from {sorted(_STUDY_TYPES)}", "study_types", "msc")

    categories = []
    if not all(isinstance(c, dict) for c in raw["categories"].values()):
        bad = next(k for k, c in raw["categories"].items() if not isinstance(c, dict))
        fail(f"categories.{bad} must be a table ([categories.{bad}])", bad, "categories")
    for key, cat in raw["categories"].items():
        sec = f"categories.{key}"
        extra = set(cat) - _ALLOWED["category"]
        if extra:
            bad = sorted(extra)[0]
            allowed = ", ".join(sorted(_ALLOWED["category"]))
            fail(f"unknown key {bad!r} in [{sec}] (allowed: {allowed})", bad, sec)
        if cat.get("group") not in GROUPS:
            fail(f"[{sec}] group must be one of {GROUPS}, not {cat.get('group')!r}", "group", sec)
        mesh = cat.get("mesh", [])
        if not isinstance(mesh, list):
            fail(f"[{sec}] mesh must be a list of MeSH descriptor ids", "mesh", sec)
        for m in mesh:
            if not isinstance(m, str) or not _MESH_RE.match(m):
                fail(
                    f"invalid MeSH descriptor id {m!r} in [{sec}]; expected D followed by 6 or 9 "
                    "digits, e.g. D000006086",
                    str(m), sec,
                )
        keywords = patterns(cat.get("keywords", []), "keywords", sec)
        if not mesh and not keywords:
            fail(f"[{sec}] has neither mesh ids nor keywords, so it can match nothing", f"[{sec}]")
        sw = cat.get("switch")
        if sw is not None and sw not in switches:
            fail(f"[{sec}] names switch {sw!r}, not in [switches]", "switch", sec)
        if not isinstance(cat.get("fallback", False), bool):
            fail(f"[{sec}] fallback must be true or false", "fallback", sec)
        categories.append(
            Category(
                key=key,
                label=str(cat.get("label", key)),
                group=cat["group"],
                mesh=tuple(normalize_mesh_id(m) for m in mesh),
                keywords=keywords,
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
        title=str(meta.get("title") or meta.get("description") or meta["name"]),
        cell_patterns=patterns(msc.get("cell_patterns", []), "cell_patterns"),
        products=patterns(msc.get("products", []), "products"),
        not_cells=patterns(msc.get("not_cells", []), "not_cells"),
        derived_products=patterns(msc.get("derived_products", []), "derived_products"),
        not_treatments=patterns(msc.get("not_treatments", []), "not_treatments"),
        study_types=tuple(study_types),
        switches=dict(switches),
        categories=tuple(categories),
        source=where,
    )


def _any(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _on_unique(values: pd.Series, fn: Any, missing: Any, dtype: Any = None) -> pd.Series:
    """``fn`` applied once per distinct value of ``values`` (``missing`` for <NA>), as a Series.

    Registries repeat texts ("Placebo", "Mesenchymal stem cells", a sponsor's standard
    description): at 500,000 studies most intervention labels are repeats, so each
    regular expression runs on the distinct texts only.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    done = np.array([fn(u) for u in uniques] + [missing], dtype=dtype if dtype is not None else object)
    return pd.Series(done[codes], index=values.index)


def _matches(text: pd.Series, pattern: re.Pattern[str] | None, where: pd.Series | None = None) -> pd.Series:
    """Whether ``pattern`` is found in each text (<NA>: no); only rows ``where`` is true
    are searched, the others are False."""
    out = pd.Series(False, index=text.index)
    if pattern is None or text.empty:
        return out
    search = pattern.search
    if where is None:
        return _on_unique(text, lambda t: search(t) is not None, False, bool)
    where = where.to_numpy(dtype=bool)
    if where.any():
        out[where] = _on_unique(text[where], lambda t: search(t) is not None, False, bool).to_numpy()
    return out


def msc_evidence(tables: Tables, definition: Definition) -> pd.DataFrame:
    """Decide per study whether it tests MSCs, and say why.

    The rule, in order:

    1. Interventions whose name matches ``not_treatments`` (sample collection,
       biopsies) are not treatments and are ignored; a study with only such
       interventions is not an MSC trial whatever its title says.
    2. An intervention label (name and other names) is split into its parts
       at "and", "or", "plus", "vs", commas, "+" and "&"; the intervention is
       an MSC intervention when one part names MSCs (``cell_patterns`` or
       ``products``) and does not name a derived product (so "UC-MSCs and
       conditioned medium" is MSC, "MSC-derived exosomes" is not).
    3. Failing that, when only the description names MSCs, neither the label
       nor the description may name a derived product.
    4. With no MSC intervention, the title (brief or official) decides by the
       same cell / derived-product test.

    Phrases matching ``not_cells`` ("epithelial-mesenchymal transition",
    "stromal vascular fraction") are blanked before any of this.

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
    sampling = _any(definition.not_treatments)

    def text(*cols: pd.Series) -> pd.Series:
        joined = cols[0].fillna("")
        for c in cols[1:]:
            joined = joined + " | " + c.fillna("")
        if not not_cells or joined.empty:
            return joined
        sub = not_cells.sub
        return _on_unique(joined, lambda t: sub(" ", t), pd.NA).astype("string")

    iv = tables.interventions
    is_sampling = _matches(iv["name"].fillna(""), sampling)
    iv = iv.loc[~is_sampling]
    label = text(iv["name"], iv["other_names"])
    # Each part of a label ("X and Y") is judged on its own.
    def msc_part(text: str) -> bool:
        for part in _LABEL_PARTS.split(text):
            if not part.strip() or cells is None or cells.search(part) is None:
                continue
            if allow_derived or derived is None or derived.search(part) is None:
                return True
        return False

    part_msc = _on_unique(label, msc_part, False, bool)
    # Each test runs only where its answer can change the outcome (long descriptions are
    # the costliest texts): the description only where the label names no MSCs, the
    # derived-product tests only where the description alone names them.
    cell_label = _matches(label, cells)
    desc = pd.Series("", index=iv.index, dtype="string")
    if (~cell_label).any():
        desc[~cell_label] = text(iv.loc[~cell_label, "description"]).to_numpy()
    cell_desc = _matches(desc, cells, ~cell_label)
    by_desc = ~cell_label & cell_desc
    if allow_derived:
        derived_label = derived_desc = pd.Series(False, index=iv.index)
    else:
        derived_label, derived_desc = _matches(label, derived, by_desc), _matches(desc, derived, by_desc)
    msc_iv = part_msc | (by_desc & ~derived_label & ~derived_desc)
    first_msc = iv.loc[msc_iv].drop_duplicates("nct_id").set_index("nct_id")["name"]
    is_derived = (cell_label | cell_desc) & ~msc_iv
    derived_only = iv.loc[is_derived].drop_duplicates("nct_id").set_index("nct_id")

    st = tables.studies.set_index("nct_id")
    all_iv = tables.interventions
    only_sampling = pd.unique(all_iv.loc[~isin(all_iv["nct_id"], iv["nct_id"]), "nct_id"])
    # The title only decides for studies without an MSC intervention.
    sampled = isin(st.index, only_sampling)
    undecided = pd.Series(~sampled & ~isin(st.index, first_msc.index), index=st.index)
    title = pd.Series("", index=st.index, dtype="string")
    if undecided.any():
        m = undecided.to_numpy()
        title[m] = text(st.loc[m, "title"], st.loc[m, "official_title"]).to_numpy()
    title_cell = _matches(title, cells, undecided)
    title_derived = _matches(title, derived, title_cell)

    out = pd.DataFrame(index=st.index)
    out["is_msc"] = False
    out["msc_reason"] = "no MSC intervention or title"
    out.loc[sampled, "msc_reason"] = "interventions are sample collection only, not a treatment"
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


MATCH_MODES = ("default", "mesh", "keyword", "both")


def classify(tables: Tables, definition: Definition, match: str = "default") -> pd.DataFrame:
    """Disease categories of every study, one row per (study, category), with the reason.

    ``match`` says what evidence counts:

    ``"default"``
        MeSH terms and ancestors decide; a record with no MeSH terms at all
        falls back to matching its conditions and keywords against each
        category's keywords.
    ``"mesh"``
        MeSH only (records without MeSH match nothing).
    ``"keyword"``
        Keywords only, on every record's conditions and keywords.
    ``"both"``
        A MeSH match or a keyword match, on every record.

    Returns
    -------
    DataFrame
        ``nct_id``, ``category``, ``group``, ``matched_by`` ("mesh" or
        "keyword"), ``match`` (the MeSH id and term, or the matched text).
    """
    cond = tables.conditions
    mesh = cond[cond["source"].isin(["mesh", "mesh_ancestor"])].copy()
    mesh["mesh_id"] = _on_unique(mesh["mesh_id"], normalize_mesh_id, None)
    if match not in MATCH_MODES:
        msg = f"unknown match mode {match!r}: use one of {', '.join(MATCH_MODES)}"
        raise ValueError(msg)
    has_mesh = cond.loc[cond["source"] == "mesh", "nct_id"]
    free = cond[cond["source"].isin(["condition", "keyword"])]
    if match == "default":
        free = free[~isin(free["nct_id"], has_mesh)]
    elif match == "mesh":
        free = free.iloc[0:0]
    if match == "keyword":
        mesh = mesh.iloc[0:0]

    def first_per_study(df: pd.DataFrame) -> pd.DataFrame:
        """Each study's first row, studies in id order."""
        df = df[df["nct_id"].notna()].drop_duplicates("nct_id")
        return df.sort_values("nct_id", kind="stable")

    rows = []
    for cat in definition.active_categories():
        hit = first_per_study(mesh[isin(mesh["mesh_id"], cat.mesh)])
        rows += [(nct, cat.key, cat.group, "mesh", f"{m} {t}")
                 for nct, m, t in zip(hit["nct_id"], hit["mesh_id"], hit["term"], strict=True)]
        pat = _any(cat.keywords)
        if pat is not None and not free.empty:
            kw = first_per_study(free[_matches(free["term"], pat)])
            rows += [(nct, cat.key, cat.group, "keyword", str(t))
                     for nct, t in zip(kw["nct_id"], kw["term"], strict=True)]
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


def select(
    tables: Tables,
    definition: Definition,
    as_of: str | pd.Timestamp | None = None,
    match: str = "default",
    evidence: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the definition: the inclusion log and the per-study categories.

    ``as_of`` (a date) replays the past: records first posted after it (or
    with no first-posted date) leave at step "posted_by_as_of". Their sites
    and categories are still as the snapshot records them. ``match`` is
    :func:`classify`'s evidence mode (for sensitivity analyses);
    ``evidence`` is :func:`msc_evidence` computed beforehand for the same
    tables and MSC rule (it only saves time).

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

    if as_of is not None:
        cutoff = pd.Timestamp(as_of)
        posted = studies["first_posted"]
        leave(posted.isna(), "posted_by_as_of", "no first-posted date")
        late = posted > cutoff
        leave(
            late.fillna(False).astype(bool), "posted_by_as_of",
            "first posted " + posted.dt.strftime("%Y-%m-%d").fillna("") + f", after {cutoff:%Y-%m-%d}",
        )

    ev = msc_evidence(tables, definition) if evidence is None else evidence
    ev = ev.drop_duplicates("nct_id").set_index("nct_id")
    ev = ev.reindex(studies["nct_id"])
    not_msc = ~ev["is_msc"].fillna(False).to_numpy()
    leave(not_msc, "msc_confirmed", ev["msc_reason"].reset_index(drop=True))

    ok_type = studies["study_type"].isin(definition.study_types)
    leave(~ok_type, "study_type", "study type " + studies["study_type"].fillna("missing"))

    cats = classify(tables, definition, match)
    in_scope = isin(studies["nct_id"], cats["nct_id"])
    leave(~in_scope, "in_scope", "no inflammatory or autoimmune category matched")

    sites = tables.sites
    with_site = isin(studies["nct_id"], sites["nct_id"])
    leave(~with_site, "with_site", "record lists no site")
    mapped = isin(studies["nct_id"], sites.loc[sites["iso3"].notna(), "nct_id"])
    leave(~mapped, "with_mapped_country", "no site in a country trialmap could map")

    log["included"] = log["step"].isna()
    log["step"] = log["step"].fillna("included")
    log["reason"] = log["reason"].fillna("")
    return log, cats[isin(cats["nct_id"], log.loc[log["included"], "nct_id"])].reset_index(drop=True)


def flow_counts(log: pd.DataFrame, as_of: bool = False) -> pd.DataFrame:
    """Records remaining after each step of the flow (a PRISMA-style table).

    Parameters
    ----------
    log
        :func:`select`'s inclusion log.
    as_of
        Whether the run was an as-of replay: only then is the
        "posted_by_as_of" step listed (it is always present when any record
        left there).

    Returns
    -------
    DataFrame
        ``step``, ``n_remaining``, ``n_excluded`` (at that step).
    """
    left = log["step"].value_counts()
    rows, remaining = [], len(log)
    for step in STEPS:
        excluded = int(left.get(step, 0))
        if step == "posted_by_as_of" and not (as_of or excluded):
            continue
        remaining -= excluded
        rows.append((step, remaining if step != "records_read" else len(log), excluded))
    return pd.DataFrame(rows, columns=["step", "n_remaining", "n_excluded"])


def category_counts(categories: pd.DataFrame, definition: Definition) -> pd.DataFrame:
    """In-scope trials per category (a trial in two categories counts in both).

    Returns
    -------
    DataFrame
        ``category``, ``label``, ``group``, ``n_trials``, ``n_by_mesh``,
        ``n_by_keyword``, one row per active category of the definition (zero
        rows included), in the definition's order, then one ``all`` row per
        group and a grand total (distinct trials).
    """
    rows = []
    for cat in definition.active_categories():
        c = categories[categories["category"] == cat.key]
        rows.append((
            cat.key, cat.label, cat.group, c["nct_id"].nunique(),
            c.loc[c["matched_by"] == "mesh", "nct_id"].nunique(),
            c.loc[c["matched_by"] == "keyword", "nct_id"].nunique(),
        ))
    for group in GROUPS:
        g = categories[categories["group"] == group]
        rows.append((f"all_{group}", f"Any {group} category", group, g["nct_id"].nunique(), pd.NA, pd.NA))
    rows.append(("all", "Any category (distinct trials)", "", categories["nct_id"].nunique(), pd.NA, pd.NA))
    return pd.DataFrame(
        rows, columns=["category", "label", "group", "n_trials", "n_by_mesh", "n_by_keyword"]
    ).astype({"category": "string", "label": "string", "group": "string", "n_trials": "int64",
              "n_by_mesh": "Int64", "n_by_keyword": "Int64"})


def with_switches(definition: Definition, overrides: dict[str, bool]) -> Definition:
    """A copy of the definition with some judgement-call switches flipped.

    Raises
    ------
    DefinitionError
        For a switch the definition does not declare.
    """
    unknown = sorted(set(overrides) - set(definition.switches))
    if unknown:
        msg = (
            f"unknown switch {unknown[0]!r}; the definition {definition.label} has: "
            f"{', '.join(sorted(definition.switches))}"
        )
        raise DefinitionError(msg)
    return replace(definition, switches={**definition.switches, **overrides})
