"""How much do the per-country counts depend on the study-set choices?

:func:`sensitivity` re-runs the study set and the country counts under
variants of one definition: the condition evidence (the default precedence:
title and conditions, then MeSH; MeSH only; text only; any evidence) and each
judgement-call switch flipped. It calls the pipeline's own ``select`` and ``count``
stages (:mod:`trialmap.pipeline`) once per variant, on tables located by ``locate``;
no I/O.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from trialmap import aggregate, pipeline, studyset
from trialmap.tables import Tables

EVIDENCE_VARIANTS = {
    "default": "title and conditions first, then MeSH unless a disease outside scope is named",
    "mesh": "MeSH only (terms, ancestors, learned from conditions)",
    "keyword": "text only (title, conditions, keywords)",
    "both": "any evidence, no precedence",
}


def variants(definition: studyset.Definition) -> dict[str, tuple[studyset.Definition, str, str]]:
    """Variant name -> (definition, classify match mode, description).

    The evidence variants of :data:`EVIDENCE_VARIANTS`, then one variant per
    switch of the definition, flipped from its value in the file.
    """
    out = {
        f"evidence={k}" if k != "default" else "default": (definition, k, v)
        for k, v in EVIDENCE_VARIANTS.items()
    }
    for name, value in definition.switches.items():
        flipped = replace(definition, switches={**definition.switches, name: not value})
        state = "on" if not value else "off"
        desc = f"switch {name} {state} (file: {'on' if value else 'off'})"
        out[f"{name}={state}"] = (flipped, "default", desc)
    return out


def sensitivity(
    tables: Tables,
    definition: studyset.Definition,
    rule: aggregate.CountingRule | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-country counts under every variant of the definition.

    Parameters
    ----------
    tables
        Canonical tables from :func:`trialmap.pipeline.locate` (sites carry ``iso3``).
    definition
        The definition the variants start from.
    rule
        Counting rule (default: trials per country).

    Returns
    -------
    counts
        Wide table: ``iso3``, ``country``, then one column per variant with
        the rule's count (0 where the country has none), sorted by the
        default column. Every country with a count in any variant is listed.
    summary
        One row per variant: ``variant``, ``description``, ``n_trials``
        (included), ``n_countries``, ``n_changed`` (countries whose count
        differs from the default), ``max_abs_change`` and the country with it
        (``max_change_iso3``).
    """
    rule = rule or aggregate.CountingRule()
    col = rule.column
    per_variant, rows, names = {}, [], {}
    evidence: dict[bool, pd.DataFrame] = {}  # the intervention rule only depends on one switch
    for name, (defn, match, desc) in variants(definition).items():
        key = bool(defn.switches.get("derived_products", False))
        if key not in evidence:
            evidence[key] = studyset.intervention_evidence(tables, defn)
        log, _, _ = pipeline.select(tables, defn, match=match, evidence=evidence[key])
        cc = pipeline.count(tables, log, rule).country_counts
        per_variant[name] = cc.set_index("iso3")[col]
        rows.append((name, desc, int(log["included"].sum()), len(cc)))
        names.update(zip(cc["iso3"], cc["country"], strict=True))
    wide = pd.DataFrame(per_variant).fillna(0)
    if col != "trial_share":
        wide = wide.astype("int64")
    wide = wide.sort_values(["default", *wide.columns[1:]], ascending=False)
    wide.index.name = "iso3"
    wide.insert(0, "country", [names.get(i, i) for i in wide.index])
    diff = wide.drop(columns="country").sub(wide["default"], axis=0)
    summary = pd.DataFrame(rows, columns=["variant", "description", "n_trials", "n_countries"])
    summary["n_changed"] = [int((diff[v] != 0).sum()) for v in summary["variant"]]
    summary["max_abs_change"] = [float(diff[v].abs().max()) for v in summary["variant"]]
    summary["max_change_iso3"] = [
        str(diff[v].abs().idxmax()) if diff[v].abs().max() > 0 else "" for v in summary["variant"]
    ]
    return wide.reset_index(), summary
