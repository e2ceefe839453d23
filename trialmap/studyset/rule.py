"""The rule: which studies test the definition's intervention, and which conditions they study.

:func:`intervention_evidence` decides per study whether it tests the
intervention (and why); :func:`classify` gives every study's condition
categories with their evidence and whether each counts. Both are pure
functions of the canonical tables and a
:class:`~trialmap.studyset.definition.Definition`.

Condition evidence and its precedence (default match mode)
----------------------------------------------------------
Evidence for a category comes from five fields, each kept with the term that
matched: the **title** (brief and official) and the **conditions** matched
against the category's keyword patterns; the record's **MeSH** terms and
their **MeSH ancestors** matched against its MeSH ids; and the free-text
**keywords**. A source without MeSH terms (a website CSV) gets them from the
conditions through a table learned from real records that carry both
(``trialmap/data/condition_mesh.csv``; field ``condition_mesh``; see
:mod:`trialmap.studyset.learn`).

1. A category whose ``not_if`` patterns are named in the title or conditions
   does not count (type 1 diabetes in a trial of diabetic foot ulcers or
   erectile dysfunction: a comorbidity, not the disease studied).
2. The title or a condition naming a category counts, whatever MeSH says.
3. MeSH (terms, ancestors, or learned from the conditions) and keyword-field
   evidence count only when the title and conditions name no disease outside
   scope: the definition's ``outside`` patterns and the keywords of categories
   switched off (a "Spondylarthritis" MeSH term on an osteoarthritis trial,
   "Viremia" -> Sepsis on an HIV trial).
4. A ``fallback`` category counts only when no other category of its group does.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trialmap.studyset.definition import Definition, normalize_mesh_id
from trialmap.studyset.search import candidates, found
from trialmap.tables import Tables, arrow_strings, isin, join_runs

# Joins between the parts of one intervention label ("UC-MSCs and Conditioned Medium").
_LABEL_PARTS = re.compile(r"\s+(?:and|or|plus|versus|vs\.?|with)\s+|\s*[,;+&/]\s*", re.IGNORECASE)
# "without IBD", "non-Crohn's": a category named only to be excluded is blanked before
# the keywords are matched (NCT01803347: "perianal fistulizing disease in patients without IBD").
_NEGATED = re.compile(r"\b(?:without|excluding|non|not)[- ]+(?:[\w'’]+[- ]+){0,2}[\w'’]+", re.IGNORECASE)
# An intervention named as a comparator never confirms by its description
# ("Placebo infusion without mesenchymal stem cells").
_COMPARATOR = re.compile(r"\b(?:placebo|sham|vehicle|saline|control|standard (?:of )?care)\b", re.I)
# The title decides only for a study with an intervention that could be a cell product:
# not only drugs, supplements, tests or behaviours ("Linagliptin and Mesenchymal Stem
# Cells", NCT02442817, gives linagliptin and measures the patients' own MSCs).
_CARRIER_TYPES = {"BIOLOGICAL", "GENETIC", "PROCEDURE", "OTHER", "COMBINATION_PRODUCT", "DEVICE"}
_CELL_WORDS = re.compile(r"\bcell|stem|transplant|graft|implant|infusion|injection", re.IGNORECASE)
MATCH_MODES = ("default", "mesh", "keyword", "both")
TEXT_FIELDS = ("title", "condition")
# Strongest first: the evidence a category row reports as matched_by/match.
FIELD_ORDER = ("title", "condition", "mesh", "condition_mesh", "mesh_ancestor", "condition_mesh_ancestor",
               "keyword")


def _any(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _distinct(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """The codes of ``values`` (-1 for <NA>) and their distinct texts (Arrow: no Python
    string is made for a text no pattern can match)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, arrow_strings(uniques)


def _on_unique(values: pd.Series, fn: Any, missing: Any, dtype: Any = None,
               where: re.Pattern[str] | None = None) -> pd.Series:
    """``fn`` applied once per distinct value of ``values`` (``missing`` for <NA>), as a Series.

    Registries repeat texts ("Placebo", "Mesenchymal stem cells", a sponsor's standard
    description): at 500,000 studies most intervention labels are repeats, so each
    regular expression runs on the distinct texts only. With ``where``, ``fn`` runs only
    on the texts that pattern may match (see :mod:`trialmap.studyset.search`); the
    others get ``missing``, so ``fn`` must give ``missing`` wherever ``where`` finds nothing.
    """
    codes, uniques = _distinct(values)
    done = np.empty(len(uniques) + 1, dtype=object)
    done[:] = [missing]
    todo = np.arange(len(uniques)) if where is None else candidates(uniques, where)
    for i, text in zip(todo.tolist(), uniques.take(todo).to_pylist(), strict=True):
        done[i] = fn(text)
    return pd.Series(done[codes] if dtype is None else done[codes].astype(dtype), index=values.index)


def _blanked(values: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """``values`` with every text ``pattern`` finds replaced by a space."""
    codes, uniques = _distinct(values)
    todo = candidates(uniques, pattern)
    blanked = [pattern.sub(" ", t) for t in uniques.take(todo).to_pylist()]
    done = pa.concat_arrays([uniques, pa.array([None], pa.large_string())])
    if len(todo):
        mask = np.zeros(len(done), dtype=bool)
        mask[todo] = True
        done = pc.replace_with_mask(done, pa.array(mask), pa.array(blanked, pa.large_string()))
    out = done.take(pa.array(np.where(codes < 0, len(uniques), codes)))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([out])), index=values.index, dtype="string")


def _matches(text: pd.Series, pattern: re.Pattern[str] | None, where: pd.Series | None = None) -> pd.Series:
    """Whether ``pattern`` is found in each text (<NA>: no); only rows ``where`` is true
    are searched, the others are False."""
    out = pd.Series(False, index=text.index)
    if pattern is None or text.empty:
        return out
    search = pattern.search
    if where is None:
        return _on_unique(text, lambda t: search(t) is not None, False, bool, where=pattern)
    where = where.to_numpy(dtype=bool)
    if where.any():
        out[where] = _on_unique(text[where], lambda t: search(t) is not None, False, bool,
                                where=pattern).to_numpy()
    return out


def _found(text: pd.Series, pattern: re.Pattern[str] | None) -> pd.Series:
    """The first text ``pattern`` finds in each value ("" for none)."""
    if pattern is None or text.empty:
        return pd.Series("", index=text.index, dtype="string")
    search = pattern.search

    def first(t: str) -> str:
        m = search(t)
        return m.group(0) if m else ""

    return _on_unique(text, first, "", where=pattern).astype("string")


# -- the intervention ---------------------------------------------------------------------


def intervention_evidence(tables: Tables, definition: Definition) -> pd.DataFrame:
    """Decide per study whether it tests the definition's intervention, and say why.

    The rule, in order:

    1. Interventions whose name matches ``not_treatments`` (sample collection,
       biopsies) are ignored; a study with only such interventions is out
       whatever its title says.
    2. An intervention label (name and other names) is split into parts at
       "and", "or", "plus", "vs", "with", commas, "/", "+" and "&"; the
       intervention qualifies when one part names it (``patterns`` or
       ``products``) and names neither a derived product nor another product
       (``other_products``: stromal vascular fraction, bone-marrow concentrate,
       micro-fragmented fat...). So "UC-MSCs and conditioned medium" is MSC,
       "MSC-derived exosomes" is not.
    3. Failing that, an intervention whose label names nothing of the kind,
       is no comparator (placebo, sham, control), and whose description names
       it (``description_patterns`` or ``products``) qualifies, unless the label
       or description names a derived product or another product, or the
       study's title names another product.
    4. A study with no qualifying intervention is confirmed by its title (brief
       or official: ``title_patterns``, default the label patterns), unless the
       title names a derived product, one of its interventions is another
       product (a title naming MSCs does not make a stromal vascular fraction
       an MSC product), or none of its interventions could be a cell product
       (only drugs, supplements, tests or behaviours, none named as cells,
       a transplant, graft, implant, infusion or injection).

    Phrases matching ``not_cells`` ("epithelial-mesenchymal transition",
    "mesenchymal tumour") are blanked before any of this.

    Returns
    -------
    DataFrame
        ``nct_id``, ``confirmed`` (bool), ``reason`` (why, with the text that
        decided), ``field`` (``intervention``, ``other_names``, ``description``,
        ``title``, or empty) and ``term`` (the intervention name or title).
    """
    rule = definition.intervention
    words = definition.texts()
    cells = _any(rule.patterns + rule.products)
    desc_cells = _any(rule.description_patterns + rule.products)
    title_cells = _any(rule.title_patterns)
    derived = _any(rule.derived_products)
    other = _any(rule.other_products)
    allow_derived = definition.switches.get("derived_products", False)
    if allow_derived:
        derived = None
    not_cells = _any(rule.not_cells)
    sampling = _any(rule.not_treatments)

    def text(*cols: pd.Series) -> pd.Series:
        joined = cols[0].fillna("")
        for c in cols[1:]:
            joined = joined + " | " + c.fillna("")
        if not not_cells or joined.empty:
            return joined.astype("string")
        return _blanked(joined, not_cells)

    iv = tables.interventions
    is_sampling = _matches(iv["name"].fillna(""), sampling)
    iv = iv.loc[~is_sampling]
    name = text(iv["name"])
    others = text(iv["other_names"])
    label = name + " | " + others

    # Each part of a label ("X and Y") is judged on its own.
    def qualifying_part(value: str) -> bool:
        for part in _LABEL_PARTS.split(value):
            if not part.strip() or cells is None or cells.search(part) is None:
                continue
            if derived is not None and derived.search(part):
                continue
            if other is not None and other.search(part):
                continue
            return True
        return False

    by_name = _on_unique(name, qualifying_part, False, bool, where=cells)
    # Other names cannot rescue an intervention whose own name is a derived or other product.
    spoilt_name = _matches(name, derived) | _matches(name, other)
    by_other = ~by_name & ~spoilt_name & _on_unique(others, qualifying_part, False, bool, where=cells)
    cell_label = _matches(label, cells)
    other_label = _matches(label, other)
    # The description is read only where the label names nothing of the kind (long
    # descriptions are the costliest texts).
    read_desc = ~cell_label & ~other_label & ~_matches(iv["name"].fillna(""), _COMPARATOR)
    desc = pd.Series("", index=iv.index, dtype="string")
    if read_desc.any():
        desc[read_desc] = text(iv.loc[read_desc, "description"]).to_numpy()
    cell_desc = _matches(desc, desc_cells, read_desc)
    derived_hit = _matches(label, derived, cell_label | cell_desc) | _matches(desc, derived, cell_desc)
    other_desc = _matches(desc, other, cell_desc)
    spoilt = derived_hit | other_desc
    # A description naming the cells does not outweigh a title naming another product.
    st_titles = tables.studies.drop_duplicates("nct_id").set_index("nct_id")
    desc_only = st_titles.loc[isin(st_titles.index, iv.loc[cell_desc, "nct_id"])]
    desc_titles = text(desc_only["title"], desc_only["official_title"])
    other_title = desc_only.index[_matches(desc_titles, other).to_numpy()]
    other_desc |= cell_desc & pd.Series(isin(iv["nct_id"], other_title), index=iv.index)
    by_desc = cell_desc & ~spoilt & ~other_desc
    ok_iv = by_name | by_other | by_desc
    field = np.select([by_name.to_numpy(), by_other.to_numpy(), by_desc.to_numpy()],
                      ["intervention", "other_names", "description"], "")
    iv = iv.assign(_field=field)
    first_ok = iv.loc[ok_iv].sort_values("_field", key=lambda f: f.map(
        {"intervention": 0, "other_names": 1, "description": 2}), kind="stable").drop_duplicates("nct_id")
    first_ok = first_ok.set_index("nct_id")
    # Another product counts against the title where the label names it, or where the
    # description names the cells and the description or the title another product.
    is_other = (other_label | other_desc) & ~ok_iv
    is_derived = (cell_label | cell_desc) & derived_hit & ~ok_iv & ~is_other
    derived_only = iv.loc[is_derived].drop_duplicates("nct_id").set_index("nct_id")["name"]
    other_only = iv.loc[is_other].drop_duplicates("nct_id").set_index("nct_id")["name"]

    st = st_titles
    all_iv = tables.interventions
    only_sampling = pd.unique(all_iv.loc[~isin(all_iv["nct_id"], iv["nct_id"]), "nct_id"])
    sampled = isin(st.index, only_sampling)
    decided = isin(st.index, first_ok.index)
    has_other = isin(st.index, other_only.index)
    carrier = (iv["type"].isin(list(_CARRIER_TYPES)) | iv["type"].isna() | _matches(iv["name"].fillna(""),
               _CELL_WORDS)) & ~_matches(iv["name"].fillna(""), _COMPARATOR)
    no_carrier = isin(st.index, iv["nct_id"]) & ~isin(st.index, iv.loc[carrier, "nct_id"])
    undecided = pd.Series(~sampled & ~decided & ~has_other & ~no_carrier, index=st.index)
    title = pd.Series("", index=st.index, dtype="string")
    if undecided.any():
        m = undecided.to_numpy()
        title[m] = text(st.loc[m, "title"], st.loc[m, "official_title"]).to_numpy()
    title_cell = _matches(title, title_cells, undecided)
    title_derived = _matches(title, derived, title_cell)

    out = pd.DataFrame(index=st.index)
    out["confirmed"] = False
    out["reason"] = words["reason.no_intervention"]
    out["field"] = ""
    out["term"] = ""
    out.loc[sampled, "reason"] = words["reason.sampling"]
    by_title = title_cell & ~title_derived
    derived_title = title_cell & title_derived
    out.loc[derived_title, "reason"] = words["reason.derived_title"] + ": " + st.loc[
        derived_title, "title"].fillna("")
    out.loc[by_title, "confirmed"] = True
    out.loc[by_title, "field"] = "title"
    out.loc[by_title, "term"] = st.loc[by_title, "title"].fillna("")
    out.loc[by_title, "reason"] = "title: " + st.loc[by_title, "title"].fillna("")
    dids = derived_only.index.difference(first_ok.index)
    dids = dids[~out.loc[dids, "confirmed"].to_numpy()] if len(dids) else dids
    out.loc[dids, "reason"] = words["reason.derived"] + ": " + derived_only.loc[dids]
    oids = other_only.index.difference(first_ok.index)
    out.loc[oids, "reason"] = words["reason.other_product"] + ": " + other_only.loc[oids]
    ids = first_ok.index
    out.loc[ids, "confirmed"] = True
    out.loc[ids, "field"] = first_ok["_field"]
    out.loc[ids, "term"] = first_ok["name"]
    prefix = first_ok["_field"].map({"intervention": "intervention: ",
                                     "other_names": "intervention (other name): ",
                                     "description": "intervention (description): "})
    out.loc[ids, "reason"] = prefix + first_ok["name"]
    return out.reset_index().astype(
        {"nct_id": "string", "reason": "string", "field": "string", "term": "string"})


# -- conditions -----------------------------------------------------------------------------


def condition_key(text: Any) -> str:
    """A condition text compared loosely: case, accents, punctuation and spacing ignored.

    "Crohn's Disease" and "CROHN DISEASE" -> "crohn s disease" / "crohn disease";
    "Dermatitis, Atopic" -> "dermatitis atopic".
    """
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold()).split())


@cache
def condition_mesh_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The learned condition-text -> MeSH table and the MeSH ancestors table (see
    :mod:`trialmap.studyset.learn`)."""
    data = resources.files("trialmap") / "data"
    with (data / "condition_mesh.csv").open("rb") as fh:
        cm = pd.read_csv(fh, dtype={"condition": "string", "mesh_id": "string", "term": "string"})
    with (data / "mesh_ancestors.csv").open("rb") as fh:
        anc = pd.read_csv(fh, dtype="string")
    return cm, anc


def learned_mesh(conditions: pd.DataFrame) -> pd.DataFrame:
    """MeSH rows (``nct_id``, ``source``, ``term``, ``mesh_id``) for condition rows, from the
    learned table: ``source`` is "condition_mesh" for a condition's own terms and
    "condition_mesh_ancestor" for their ancestors."""
    cols = ["nct_id", "source", "term", "mesh_id"]
    if conditions.empty:
        return pd.DataFrame(columns=cols).astype("string")
    cm, anc = condition_mesh_table()
    keys = conditions.assign(condition=_on_unique(conditions["term"], condition_key, "").astype("string"))
    direct = keys[["nct_id", "condition"]].merge(cm[["condition", "mesh_id", "term"]], on="condition")
    up = direct[["nct_id", "mesh_id"]].merge(anc, on="mesh_id")
    up = up.rename(columns={"mesh_id": "_from"}).rename(columns={"ancestor_id": "mesh_id",
                                                                   "ancestor_term": "term"})
    out = pd.concat([direct.assign(source="condition_mesh")[cols],
                     up.assign(source="condition_mesh_ancestor")[cols]], ignore_index=True)
    return out.drop_duplicates(["nct_id", "source", "mesh_id"]).astype("string")


def _evidence(tables: Tables, definition: Definition, ids: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every piece of category evidence: (``nct_id``, ``category``, ``field``, ``term``), and the
    text rows (title and conditions) of every study (of ``ids`` only, when given)."""
    cond = tables.conditions
    st = tables.studies.drop_duplicates("nct_id")
    if ids is not None:
        cond = cond[isin(cond["nct_id"], ids)]
        st = st[isin(st["nct_id"], ids)]
    titles = pd.concat([
        st[["nct_id", "title"]].rename(columns={"title": "term"}),
        st[["nct_id", "official_title"]].rename(columns={"official_title": "term"}),
    ], ignore_index=True).dropna(subset=["term"]).assign(source="title")
    free = cond.loc[cond["source"].isin(["condition", "keyword"]), ["nct_id", "source", "term"]]
    texts = pd.concat([titles[["nct_id", "source", "term"]], free], ignore_index=True)
    texts = texts[texts["term"].notna()].reset_index(drop=True)
    texts["term"] = _blanked(texts["term"].astype("string"), _NEGATED)
    mesh = cond.loc[cond["source"].isin(["mesh", "mesh_ancestor"]), ["nct_id", "source", "term", "mesh_id"]]
    has_mesh = cond.loc[cond["source"] == "mesh", "nct_id"]
    no_mesh = cond[(cond["source"] == "condition") & ~isin(cond["nct_id"], has_mesh)]
    mesh = pd.concat([mesh, learned_mesh(no_mesh)], ignore_index=True)
    mesh["mesh_id"] = _on_unique(mesh["mesh_id"], normalize_mesh_id, None).astype("string")

    rows = []
    codes, uniques = _distinct(texts["term"])  # no <NA>: dropped above
    for cat in definition.categories:
        pat = _any(cat.keywords)
        if pat is not None:
            t = texts.take(np.flatnonzero(found(uniques, pat)[codes]))
            rows.append(pd.DataFrame({"nct_id": t["nct_id"].to_numpy(), "category": cat.key,
                                      "field": t["source"].to_numpy(), "term": t["term"].to_numpy()}))
        if cat.mesh:
            m = mesh[isin(mesh["mesh_id"], cat.mesh)]
            rows.append(pd.DataFrame({"nct_id": m["nct_id"].to_numpy(), "category": cat.key,
                                      "field": m["source"].to_numpy(),
                                      "term": (m["mesh_id"] + " " + m["term"].fillna("")).to_numpy()}))
    cols = ["nct_id", "category", "field", "term"]
    ev = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    return ev.astype("string").drop_duplicates().reset_index(drop=True), texts


def _named(texts: pd.DataFrame, patterns: tuple[str, ...]) -> pd.Series:
    """Per study: the first text of the title or conditions a pattern finds ("" for none)."""
    prim = texts[texts["source"].isin(["title", "condition"])]
    hit = _found(prim["term"], _any(patterns))
    hit = hit[hit != ""]
    return pd.Series(hit.to_numpy(), index=prim.loc[hit.index, "nct_id"].to_numpy()).groupby(level=0).first()


def classify(tables: Tables, definition: Definition, match: str = "default", ids: Any = None) -> pd.DataFrame:
    """Condition categories of every study, one row per (study, category), with the evidence.

    ``match`` says what evidence counts:

    ``"default"``
        All fields, with the precedence described in this module's docstring.
    ``"mesh"``
        MeSH only (terms, ancestors, and MeSH learned from conditions), no precedence.
    ``"keyword"``
        Text only (title, conditions, keywords), no precedence.
    ``"both"``
        Any evidence from any field; ``not_if`` and ``outside`` are not applied.

    A definition without categories puts every study in one row
    (``any_condition``). ``ids`` (NCT ids) limits the work to those studies:
    :func:`~trialmap.studyset.select.select` classifies only the studies that
    passed the intervention and study-type steps.

    Returns
    -------
    DataFrame
        ``nct_id``, ``category``, ``group``, ``matched_by`` (the field of the
        strongest evidence: title, condition, mesh, condition_mesh,
        mesh_ancestor, condition_mesh_ancestor, keyword), ``match`` (its term:
        the text, or the MeSH id and term), ``evidence`` (every piece, "field:
        term" joined by " | "), ``counts`` (whether the category counts for the
        study) and ``note`` (why not, when it does not).
    """
    if match not in MATCH_MODES:
        msg = f"unknown match mode {match!r}: use one of {', '.join(MATCH_MODES)}"
        raise ValueError(msg)
    cols = ["nct_id", "category", "group", "matched_by", "match", "evidence", "counts", "note"]
    strings = {c: "string" for c in cols if c != "counts"}
    if definition.any_condition:
        all_ids = tables.studies["nct_id"].drop_duplicates()
        if ids is not None:
            all_ids = all_ids[isin(all_ids, ids)]
        out = pd.DataFrame({"nct_id": all_ids.to_numpy(), "category": "any_condition", "group": "",
                            "matched_by": "", "match": "", "evidence": "", "counts": True, "note": ""},
                           columns=cols)
        return out.astype(strings)
    active = {c.key: c for c in definition.active_categories()}
    ev, texts = _evidence(tables, definition, ids)
    ev = ev[ev["category"].isin(list(active))]
    if match == "mesh":
        ev = ev[~ev["field"].isin(["title", "condition", "keyword"])]
    elif match == "keyword":
        ev = ev[ev["field"].isin(["title", "condition", "keyword"])]
    if ev.empty:
        return pd.DataFrame(columns=cols).astype({**strings, "counts": bool})
    order = {f: i for i, f in enumerate(FIELD_ORDER)}
    ev = ev.assign(_rank=ev["field"].map(order)).sort_values(["nct_id", "category", "_rank", "term"])
    groups = ev.groupby(["nct_id", "category"], sort=False).ngroup().to_numpy()
    first, joined = join_runs(groups, ev["field"] + ": " + ev["term"], " | ")
    best = ev.iloc[first]
    out = pd.DataFrame({"nct_id": best["nct_id"].to_numpy(), "category": best["category"].to_numpy(),
                        "matched_by": best["field"].to_numpy(), "match": best["term"].to_numpy(),
                        "evidence": joined.to_numpy()})
    out["group"] = out["category"].map({k: c.group for k, c in active.items()})
    out["counts"] = True
    out["note"] = ""
    out["named"] = np.logical_or.reduceat(ev["field"].isin(TEXT_FIELDS).to_numpy(), first)

    if match == "default":
        words = definition.texts()
        # 1. not_if: the category is a comorbidity or complication of the disease studied;
        # the complication named is then a disease outside scope for the study's other evidence.
        aside = []
        for key, cat in active.items():
            if not cat.not_if:
                continue
            hit = _named(texts, cat.not_if)
            m = (out["category"] == key) & out["nct_id"].isin(hit.index)
            out.loc[m, "counts"] = False
            out.loc[m, "note"] = (f"{words['reason.comorbidity']} " + out.loc[m, "nct_id"].map(hit)
                                  + f" ({key} set aside)")
            aside.append(hit[hit.index.isin(out.loc[m, "nct_id"])])
        # 2./3. Only the title and conditions decide alone; MeSH evidence counts while they
        # name no disease outside scope; the keyword list never decides alone.
        out.loc[out["counts"] & ~out["named"] & (out["matched_by"] == "keyword"), "counts"] = False
        out.loc[~out["counts"] & (out["note"] == ""), "note"] = words["reason.keyword_only"]
        outside = definition.outside + tuple(
            p for c in definition.inactive_categories() for p in c.keywords)
        hit = _named(texts, outside) if outside else pd.Series(dtype="string")
        if aside:
            hit = pd.concat([hit, *aside]).groupby(level=0).first()
        if len(hit):
            m = out["counts"] & ~out["named"] & out["nct_id"].isin(hit.index)
            out.loc[m, "counts"] = False
            out.loc[m, "note"] = (f"{words['reason.outside']} " + out.loc[m, "nct_id"].map(hit)
                                  + " (" + out.loc[m, "category"] + ": " + out.loc[m, "matched_by"] + " "
                                  + out.loc[m, "match"] + ")")
    # 4. A fallback category only counts when its group has no specific category that does.
    fallback = {k for k, c in active.items() if c.fallback}
    if fallback:
        specific = out[out["counts"] & ~out["category"].isin(fallback)]
        covered = set(specific["nct_id"] + "\0" + specific["group"])
        key = out["nct_id"] + "\0" + out["group"]
        m = out["category"].isin(fallback) & key.isin(covered)
        out = out[~m]
    out = out.drop(columns="named")[cols].astype(strings)
    return out.sort_values(["nct_id", "category"]).reset_index(drop=True)
