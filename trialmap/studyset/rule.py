"""The rule: which studies test the definition's intervention, and which conditions they study.

:func:`intervention_evidence` decides per study whether it tests the
intervention (and why); :func:`classify` gives every study's condition
categories with their evidence. Both are pure functions of the canonical
tables and a :class:`~trialmap.studyset.definition.Definition`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from trialmap.studyset.definition import Definition, normalize_mesh_id
from trialmap.tables import Tables, isin

# Joins between the parts of one intervention label ("UC-MSCs and Conditioned Medium").
_LABEL_PARTS = re.compile(r"\s+(?:and|or|plus|versus|vs\.?)\s+|\s*[,;+&]\s*", re.IGNORECASE)
MATCH_MODES = ("default", "mesh", "keyword", "both")


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


def intervention_evidence(tables: Tables, definition: Definition) -> pd.DataFrame:
    """Decide per study whether it tests the definition's intervention, and say why.

    The rule, in order:

    1. Interventions whose name matches ``not_treatments`` (sample collection,
       biopsies) are not treatments and are ignored; a study with only such
       interventions is out whatever its title says.
    2. An intervention label (name and other names) is split into its parts
       at "and", "or", "plus", "vs", commas, "+" and "&"; the intervention
       qualifies when one part names it (``patterns`` or ``products``) and does
       not name a derived product (so "UC-MSCs and conditioned medium" is MSC,
       "MSC-derived exosomes" is not).
    3. Failing that, when only the description names it, neither the label
       nor the description may name a derived product.
    4. With no qualifying intervention, the title (brief or official) decides by the
       same name / derived-product test.

    Phrases matching ``not_cells`` ("epithelial-mesenchymal transition",
    "stromal vascular fraction") are blanked before any of this.

    Returns
    -------
    DataFrame
        ``nct_id``, ``confirmed`` (bool), ``reason`` (the intervention or title
        text that decided, or why not).
    """
    rule = definition.intervention
    words = definition.texts()
    cells = _any(rule.patterns + rule.products)
    desc_cells = _any(rule.description_patterns + rule.products)
    derived = _any(rule.derived_products)
    allow_derived = definition.switches.get("derived_products", False)
    not_cells = _any(rule.not_cells)
    sampling = _any(rule.not_treatments)

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
    def qualifying_part(text: str) -> bool:
        for part in _LABEL_PARTS.split(text):
            if not part.strip() or cells is None or cells.search(part) is None:
                continue
            if allow_derived or derived is None or derived.search(part) is None:
                return True
        return False

    part_ok = _on_unique(label, qualifying_part, False, bool)
    # Each test runs only where its answer can change the outcome (long descriptions are
    # the costliest texts): the description only where the label does not name the
    # intervention, the derived-product tests only where the description alone names it.
    cell_label = _matches(label, cells)
    desc = pd.Series("", index=iv.index, dtype="string")
    if (~cell_label).any():
        desc[~cell_label] = text(iv.loc[~cell_label, "description"]).to_numpy()
    cell_desc = _matches(desc, desc_cells, ~cell_label)
    by_desc = ~cell_label & cell_desc
    if allow_derived:
        derived_label = derived_desc = pd.Series(False, index=iv.index)
    else:
        derived_label, derived_desc = _matches(label, derived, by_desc), _matches(desc, derived, by_desc)
    ok_iv = part_ok | (by_desc & ~derived_label & ~derived_desc)
    first_ok = iv.loc[ok_iv].drop_duplicates("nct_id").set_index("nct_id")["name"]
    is_derived = (cell_label | cell_desc) & ~ok_iv
    derived_only = iv.loc[is_derived].drop_duplicates("nct_id").set_index("nct_id")

    st = tables.studies.set_index("nct_id")
    all_iv = tables.interventions
    only_sampling = pd.unique(all_iv.loc[~isin(all_iv["nct_id"], iv["nct_id"]), "nct_id"])
    # The title only decides for studies without a qualifying intervention.
    sampled = isin(st.index, only_sampling)
    undecided = pd.Series(~sampled & ~isin(st.index, first_ok.index), index=st.index)
    title = pd.Series("", index=st.index, dtype="string")
    if undecided.any():
        m = undecided.to_numpy()
        title[m] = text(st.loc[m, "title"], st.loc[m, "official_title"]).to_numpy()
    title_cell = _matches(title, cells, undecided)
    title_derived = _matches(title, derived, title_cell)

    out = pd.DataFrame(index=st.index)
    out["confirmed"] = False
    out["reason"] = words["reason.no_intervention"]
    out.loc[sampled, "reason"] = words["reason.sampling"]
    by_title = title_cell & (~title_derived | allow_derived)
    derived_title = title_cell & ~by_title
    out.loc[derived_title, "reason"] = words["reason.derived_title"] + ": " + st.loc[
        derived_title, "title"
    ].fillna("")
    out.loc[by_title, "confirmed"] = True
    out.loc[by_title, "reason"] = "title: " + st.loc[by_title, "title"].fillna("")
    dids = derived_only.index.difference(first_ok.index)
    dids = dids[~out.loc[dids, "confirmed"].to_numpy()] if len(dids) else dids
    out.loc[dids, "reason"] = words["reason.derived"] + ": " + derived_only.loc[dids, "name"]
    ids = first_ok.index
    out.loc[ids, "confirmed"] = True
    out.loc[ids, "reason"] = "intervention: " + first_ok
    return out.reset_index().astype({"nct_id": "string", "reason": "string"})


def classify(tables: Tables, definition: Definition, match: str = "default") -> pd.DataFrame:
    """Condition categories of every study, one row per (study, category), with the reason.

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
    if match not in MATCH_MODES:
        msg = f"unknown match mode {match!r}: use one of {', '.join(MATCH_MODES)}"
        raise ValueError(msg)
    cols = ["nct_id", "category", "group", "matched_by", "match", "counts", "note"]
    if definition.any_condition:
        ids = tables.studies["nct_id"].drop_duplicates()
        out = pd.DataFrame({"nct_id": ids.to_numpy(), "category": "any_condition", "group": "",
                            "matched_by": "", "match": "", "counts": True, "note": ""}, columns=cols)
        return out.astype({c: "string" for c in cols if c != "counts"})
    cond = tables.conditions
    mesh = cond[cond["source"].isin(["mesh", "mesh_ancestor"])].copy()
    mesh["mesh_id"] = _on_unique(mesh["mesh_id"], normalize_mesh_id, None)
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
    out = pd.DataFrame(rows, columns=cols[:5]).astype("string")
    out["counts"] = True
    out["note"] = pd.Series("", index=out.index, dtype="string")

    # A fallback category only counts when its group has no specific match.
    fallback = {c.key for c in definition.active_categories() if c.fallback}
    if fallback and not out.empty:
        specific = out[~out["category"].isin(fallback)][["nct_id", "group"]].drop_duplicates()
        key = out["nct_id"] + "\0" + out["group"]
        covered = set(specific["nct_id"] + "\0" + specific["group"])
        out = out[~(out["category"].isin(fallback) & key.isin(covered))]
    return out.sort_values(["nct_id", "category"]).reset_index(drop=True)
