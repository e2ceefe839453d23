"""Rebuild the condition-text -> MeSH table from real records that carry both.

Not imported at run time: it only rebuilds ``trialmap/data/condition_mesh.csv``
and ``trialmap/data/mesh_ancestors.csv``, which :mod:`trialmap.studyset.rule`
reads when a source has no MeSH terms (website CSV downloads carry only the
free-text conditions)::

    python -m trialmap.studyset.learn            # from the repository root

How a condition text is tied to MeSH terms, in every record that has both
(the bundled classic archive and the two API v2 website exports in
``tests/data/ctgov``):

* a MeSH term whose normalized text equals a condition's is that condition's;
* in a record with exactly one condition, every MeSH term is that condition's
  (the registry derives the terms from the conditions), if the term shares a
  word with the condition or the tie is seen in at least two records;
* in a record with several conditions, a term goes to the conditions that
  contain every word of it ("Crohn's Perianal Fistula" gets "Fistula").

Over all records, a condition text keeps the terms tied to it in at least half
of the records where it appears. A MeSH id's ancestors are those listed in
every record that has the id as its only MeSH term (or, when there is none,
in every record that has it). Every MeSH term text is also a condition text
for its own id. Texts are compared normalized (:func:`condition_key`).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from trialmap.studyset.definition import normalize_mesh_id
from trialmap.studyset.rule import condition_key

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "trialmap" / "data"
SOURCES = (
    ROOT / "data" / "raw" / "ctgov-classic-2022-01-21",
    ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json",
    ROOT / "tests" / "data" / "ctgov" / "ctg-studies-10.json",
)


def _conditions(path: Path) -> pd.DataFrame:
    from trialmap.snapshot import open_snapshot
    from trialmap.sources import read_snapshot, v2

    tables = read_snapshot(open_snapshot(path.name, path.parent)) if path.is_dir() else v2.read(path)
    return tables.conditions


def learn(conditions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables from canonical ``conditions`` rows of many records.

    Returns
    -------
    condition_mesh : DataFrame
        ``condition`` (normalized text), ``mesh_id``, ``term``, ``n_records``
        (records the tie was seen in), ``n_condition`` (records with the text).
    mesh_ancestors : DataFrame
        ``mesh_id``, ``ancestor_id``, ``ancestor_term``.
    """
    c = conditions.copy()
    c["mesh_id"] = [normalize_mesh_id(m) for m in c["mesh_id"]]
    names: dict[str, str] = {}
    for mid, term in zip(c["mesh_id"], c["term"], strict=True):
        if mid and isinstance(term, str):
            names.setdefault(mid, term)
    seen: Counter[str] = Counter()
    tied: Counter[tuple[str, str]] = Counter()
    only_term_anc: defaultdict[str, list[set[str]]] = defaultdict(list)
    any_anc: defaultdict[str, list[set[str]]] = defaultdict(list)
    for _, rec in c.groupby("nct_id", sort=False):
        conds = {condition_key(t) for t in rec.loc[rec["source"] == "condition", "term"].dropna()}
        conds.discard("")
        is_mesh = rec["source"] == "mesh"
        terms = dict(zip(rec.loc[is_mesh, "mesh_id"], rec.loc[is_mesh, "term"], strict=True))
        ancestors = set(rec.loc[rec["source"] == "mesh_ancestor", "mesh_id"].dropna())
        for mid in terms:
            (only_term_anc if len(terms) == 1 else any_anc)[mid].append(ancestors)
        if not conds or not terms:
            continue
        seen.update(conds)
        for cond in conds:
            words = set(cond.split())
            for mid, term in terms.items():
                key = condition_key(term)
                if key == cond or len(conds) == 1 or (key and set(key.split()) <= words):
                    tied[(cond, mid)] += 1
    def keep(cond: str, mid: str, n: int) -> bool:
        # A tie seen once must share a word with the condition ("Evidence of Liver
        # Transplantation", the only condition of a type 1 diabetes trial, is not
        # "Diabetes Mellitus, Type 1"); a tie seen in two records or more stands.
        shared = set(condition_key(names.get(mid, "")).split()) & set(cond.split())
        return n * 2 >= seen[cond] and (n >= 2 or bool(shared))

    rows = [(cond, mid, names.get(mid, ""), n, seen[cond]) for (cond, mid), n in tied.items()
            if keep(cond, mid, n)]
    own = {(condition_key(t), m) for m, t in names.items() if m}
    have = {(r[0], r[1]) for r in rows}
    rows += [(k, m, names[m], 0, 0) for k, m in sorted(own - have) if k]
    cm = pd.DataFrame(rows, columns=["condition", "mesh_id", "term", "n_records", "n_condition"])
    cm = cm.sort_values(["condition", "mesh_id"]).reset_index(drop=True)
    anc_rows = []
    for mid in sorted(set(only_term_anc) | set(any_anc)):
        sets = only_term_anc.get(mid) or any_anc[mid]
        common = set.intersection(*sets) if sets else set()
        anc_rows += [(mid, a, names.get(a, "")) for a in sorted(common)]
    anc = pd.DataFrame(anc_rows, columns=["mesh_id", "ancestor_id", "ancestor_term"])
    return cm, anc


def main(argv: list[str] | None = None) -> int:
    frames = [_conditions(p) for p in SOURCES]
    cm, anc = learn(pd.concat(frames, ignore_index=True))
    cm.to_csv(OUT / "condition_mesh.csv", index=False)
    anc.to_csv(OUT / "mesh_ancestors.csv", index=False)
    sys.stdout.write(f"condition_mesh.csv: {len(cm):,} rows ({cm['condition'].nunique():,} condition texts); "
                     f"mesh_ancestors.csv: {len(anc):,} rows ({anc['mesh_id'].nunique():,} MeSH ids)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
