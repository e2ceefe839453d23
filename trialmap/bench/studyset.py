"""Study-set accuracy against the labelled set, and CSV-vs-JSON agreement.

``python -m trialmap.bench studyset [--definition NAME_OR_FILE] [--list]``

The labelled set (``tests/data/studyset_labels/``, see its README) is a
stratified sample of real records read blind to the rule's decision: 220
records of the bundled January 2022 archive and 75 rows of the classic website
CSV of the same date, drawn from the strata of the v2 rule's decision (included,
excluded at the scope, intervention and study-type steps). A record's truth is
"in the study set" = MSC treatment and interventional and in scope.

Per source, precision and recall are estimated with each sampled record
weighted by its stratum's size over the records sampled from it (so recall
counts the in-scope trials a rule misses among the thousands it excludes);
the 95% intervals are Wilson intervals on the Kish effective sample size of
the weighted records. The same labels score the rule before issue 11 (the v2
decisions kept in ``decisions_v2.csv``) and the current one.

Agreement: every trial is in both the classic website CSV and the bundled JSON
archive (same registry date, January 2022); the share of trials the two
sources put on the same side of the study set, and each disagreement with its
cause. ``--list`` prints every labelled record the current rule gets wrong.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import pandas as pd

from trialmap import countries, studyset
from trialmap.snapshot import open_snapshot
from trialmap.sources import import_download, read_snapshot

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests" / "data" / "studyset_labels"
BUNDLED = ("ctgov-classic-2022-01-21", ROOT / "data" / "raw")
CSV = ROOT / "tests" / "data" / "ctgov" / "website-search-results-mesenchymal.csv"
SOURCES = {"archive": "bundled JSON archive", "website_csv": "classic website CSV"}
IN_SET = ("included", "with_site", "with_mapped_country")  # left after the scope step, or included


def wilson(p: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed on (effective) ``n`` trials."""
    if n <= 0:
        return (float("nan"), float("nan"))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def weighted_rate(hit: pd.Series, weight: pd.Series) -> tuple[float, float, float, float]:
    """Weighted share of ``hit`` with its Wilson interval on the Kish effective n.

    Returns (estimate, low, high, effective n)."""
    w = pd.Series(weight, dtype=float).to_numpy()
    h = pd.Series(hit, dtype=float).to_numpy()
    if w.sum() == 0:
        return (float("nan"),) * 4
    p = float((w * h).sum() / w.sum())
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    lo, hi = wilson(p, n_eff)
    return p, lo, hi, n_eff


def labelled(source: str, holdout: bool = False) -> pd.DataFrame:
    """Labels joined with their strata and weights: ``nct_id``, ``truth``, ``stratum``, ``weight``, ...

    ``holdout``: the second labelled set, drawn after the v3 rule was settled (strata
    from v3, none of the first set's records), which the rule was never tuned on.
    """
    name = "archive" if source == "archive" else "website_csv"
    prefix = "holdout_" if holdout else ""
    lab = pd.read_csv(LABELS / f"{prefix}labels_{name}.csv", dtype=str)
    smp = pd.read_csv(LABELS / f"{'holdout' if holdout else 'sample'}_{name}.csv",
                      dtype={"nct_id": str, "stratum": str})
    df = lab.merge(smp, on="nct_id", validate="one_to_one")
    df["truth"] = (df["msc_treatment"] == "yes") & (df["interventional"] == "yes") & (df["in_scope"] == "yes")
    n = df.groupby("stratum")["nct_id"].transform("size")
    df["weight"] = df["stratum_size"].astype(float) / n
    return df


def score(df: pd.DataFrame, predicted: pd.Series) -> dict[str, float]:
    """Precision and recall of ``predicted`` (aligned with ``df``) against ``df.truth``, weighted."""
    pred = predicted.to_numpy(dtype=bool)
    truth = df["truth"].to_numpy(dtype=bool)
    w = df["weight"].to_numpy(dtype=float)
    p = weighted_rate(truth[pred], w[pred])
    r = weighted_rate(pred[truth], w[truth])
    return {"precision": p[0], "p_low": p[1], "p_high": p[2], "p_n": p[3], "n_pred": int(pred.sum()),
            "recall": r[0], "r_low": r[1], "r_high": r[2], "r_n": r[3], "n_true": int(truth.sum())}


def tables_of(source: str, tmp: Path):
    if source == "archive":
        tables = read_snapshot(open_snapshot(*BUNDLED))
    else:
        tables = read_snapshot(import_download(CSV, tmp / "raw", "bench-csv", "2022-01-21"))
    return tables.replace(sites=tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"])))


def decide(tables, definition: studyset.Definition):
    """(inclusion log with ``in_set``, categories of every study, intervention evidence)."""
    ev = studyset.intervention_evidence(tables, definition)
    log, _ = studyset.select(tables, definition, evidence=ev)
    log["in_set"] = log["step"].isin(IN_SET)
    cats = studyset.classify(tables, definition)
    return log, cats, ev


def _cause(nct: str, a: pd.Series, c: pd.Series, cats_a: pd.DataFrame, ev_a: pd.DataFrame,
           studies_a: pd.DataFrame) -> str:
    """Why the JSON record (``a``) and the CSV row (``c``) of one trial are decided differently."""
    if a["step"] == "study_type" or c["step"] == "study_type":
        return "study type differs between the two sources"
    if "intervention_confirmed" in (a["step"], c["step"]):
        if a["in_set"] or a["step"] != "intervention_confirmed":
            e = ev_a.loc[nct]
            if e["field"] == "description":
                return "intervention named as such only in its description (the CSV has no descriptions)"
            if e["field"] == "other_names":
                return "intervention named as such only in its other names (not in the CSV)"
            if e["field"] == "title":
                brief = str(studies_a.at[nct, "title"])
                return ("only the official title names the intervention (the CSV has the brief title)"
                        if not str(e["term"]) or str(e["term"]) == brief else "title")
            return f"JSON: {e['reason']}"
        return (f"JSON leaves at the intervention step ({a['reason']}); "
                "the CSV's intervention names alone pass")
    # the scope step
    mine = cats_a[(cats_a["nct_id"] == nct)]
    if a["in_set"]:
        best = mine[mine["counts"]]
        fields = set(best["matched_by"])
        if fields & {"keyword"} and not fields & {"title", "condition", "mesh", "mesh_ancestor"}:
            return "category evidence from the keyword list only (not in the CSV)"
        if "title" in fields:
            return "only the official title names the category (the CSV has the brief title)"
        return ("registry MeSH terms the learned condition table does not give for the CSV's condition "
                f"texts ({'; '.join(best['match'].astype(str))[:80]})")
    aside = mine[~mine["counts"]]
    if not aside.empty:
        return f"JSON sets the category aside: {aside['note'].iloc[0][:100]}"
    return f"JSON: {a['reason']}"


def agreement(log_a, cats_a, ev_a, studies_a, log_c) -> tuple[float, int, pd.DataFrame]:
    a = log_a.set_index("nct_id")
    c = log_c.set_index("nct_id")
    both = a.index.intersection(c.index)
    a, c = a.loc[both], c.loc[both]
    differ = both[(a["in_set"] != c["in_set"]).to_numpy()]
    ev = ev_a.drop_duplicates("nct_id").set_index("nct_id")
    st = studies_a.drop_duplicates("nct_id").set_index("nct_id")
    rows = [(n, "JSON" if a.at[n, "in_set"] else "CSV", _cause(n, a.loc[n], c.loc[n], cats_a, ev, st))
            for n in differ]
    out = pd.DataFrame(rows, columns=["nct_id", "in_set_in", "cause"])
    return 1 - len(differ) / len(both), len(both), out


def _fmt(s: dict[str, float], key: str) -> str:
    k = key[0]
    return (f"{100 * s[key]:5.1f}% [{100 * s[f'{k}_low']:5.1f}, {100 * s[f'{k}_high']:5.1f}]"
            f" (n_eff {s[f'{k}_n']:.0f})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trialmap.bench studyset",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--definition", default=None,
                   help="definition name or file (default: the shipped default)")
    p.add_argument("--list", action="store_true",
                   help="list every labelled record the current rule gets wrong")
    args = p.parse_args(argv)
    definition = studyset.load_definition(args.definition)
    v2 = pd.read_csv(LABELS / "decisions_v2.csv", dtype=str)
    v2["in_set"] = v2["step"].isin([*IN_SET, "included"])
    results, logs, holdout = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in SOURCES:
            tables = tables_of(source, Path(tmp))
            log, cats, ev = decide(tables, definition)
            logs[source] = (log, cats, ev, tables.studies)
            df = labelled(source)
            before = v2[v2["source"] == source].set_index("nct_id")["in_set"].reindex(df["nct_id"])
            now = log.drop_duplicates("nct_id").set_index("nct_id")["in_set"].reindex(df["nct_id"])
            results[source] = (score(df, before.fillna(False)), score(df, now.fillna(False)))
            hd = labelled(source, holdout=True)
            now_h = log.drop_duplicates("nct_id").set_index("nct_id")["in_set"].reindex(hd["nct_id"])
            before_h = v2[v2["source"] == source].set_index("nct_id")["in_set"].reindex(hd["nct_id"])
            holdout[source] = (score(hd, before_h.fillna(False)), score(hd, now_h.fillna(False)), len(hd))
            if args.list:
                wrong = hd[hd["truth"].to_numpy() != now_h.to_numpy(dtype=bool)]
                for _, r in wrong.iterrows():
                    row = log.set_index("nct_id").loc[r["nct_id"]]
                    print(f"  hold-out {source:11s} {r['nct_id']} stratum {r['stratum']:22s} "  # noqa: T201
                          f"truth {r['truth']!s:5s} rule: {row['step']} ({row['reason'][:80]}) | "
                          f"label: {r['reason'][:80]}")
            if args.list:
                wrong = df[df["truth"].to_numpy() != now.to_numpy(dtype=bool)]
                for _, r in wrong.iterrows():
                    row = log.set_index("nct_id").loc[r["nct_id"]]
                    print(f"  {source:11s} {r['nct_id']} stratum {r['stratum']:22s} truth {r['truth']!s:5s} "  # noqa: T201
                          f"rule: {row['step']} ({row['reason'][:90]}) | label: {r['reason'][:90]}")
    print(f"definition {definition.label}; labelled set: archive 220 records, website CSV 75 rows")  # noqa: T201
    print(f"{'source':22s} {'rule':6s} {'precision [95% CI]':36s} {'recall [95% CI]':36s}")  # noqa: T201
    for source, (b, a) in results.items():
        for tag, s in (("v2", b), (f"v{definition.version}", a)):
            print(f"{SOURCES[source]:22s} {tag:6s} {_fmt(s, 'precision'):36s} {_fmt(s, 'recall'):36s}")  # noqa: T201
    print("\nhold-out set (drawn after the rule was settled; judges it):")  # noqa: T201
    for source, (b, a, n) in holdout.items():
        for tag, s in (("v2", b), (f"v{definition.version}", a)):
            print(f"{SOURCES[source] + f' ({n})':22s} {tag:6s} {_fmt(s, 'precision'):36s} "  # noqa: T201
                  f"{_fmt(s, 'recall'):36s}")
    la, ca, ea, sa = logs["archive"]
    lc = logs["website_csv"][0]
    share, n, diff = agreement(la, ca, ea, sa, lc)
    va = v2[v2["source"] == "archive"].set_index("nct_id")["in_set"]
    vc = v2[v2["source"] == "website_csv"].set_index("nct_id")["in_set"]
    common = va.index.intersection(vc.index)
    before = float((va.loc[common] == vc.loc[common]).mean())
    print(f"\nCSV vs JSON, {n:,} trials in both: same decision v2 {100 * before:.1f}% "  # noqa: T201
          f"({round((1 - before) * len(common))} differ), v{definition.version} {100 * share:.1f}% "
          f"({len(diff)} differ)")
    if not diff.empty:
        print("disagreements by cause:")  # noqa: T201
        for cause, grp in diff.groupby("cause", sort=False):
            ids = ", ".join(f"{r.nct_id} (in by {r.in_set_in})" for r in grp.itertuples())
            print(f"  {len(grp):3d}  {cause}: {ids}")  # noqa: T201
    return 0
