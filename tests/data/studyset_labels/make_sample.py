"""Draw the labelled-set sample for the study-set accuracy check (run once; kept for the record).

Strata come from the decision of definition msc-inflammatory-autoimmune v2 (the
rule before issue 11), so that excluded records at each step are represented;
the labeller saw only ``blind_*.txt`` (records in a shuffled order, no stratum,
no decision). Seed 20261201.

    python tests/data/studyset_labels/make_sample.py   # from the repository root

It reproduces the sample only with the code of commit 5e8e22c (the v2 rule and
its step name ``msc_confirmed``); the v2 decisions themselves are kept in
``decisions_v2.csv``.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
ARCHIVE = ROOT / "data/raw/ctgov-classic-2022-01-21/full_studies.tar.gz"
CSV = ROOT / "tests/data/ctgov/website-search-results-mesenchymal.csv"
SEED = 20261201
# records per stratum: (step the record left at, or "included") -> n
ARCHIVE_STRATA = {"included": 80, "in_scope": 85, "msc_confirmed": 45, "study_type": 10}
CSV_STRATA = {"included": 35, "in_scope": 30, "msc_confirmed": 10}


def decisions(snapshot):
    from trialmap import pipeline, studyset

    # v2's decisions (the definition as it was then, kept in this folder as studyset_v2.toml)
    run = pipeline.run(snapshot, studyset.load_definition(HERE / "studyset_v2.toml"))
    log = run.inclusion_log
    # in-scope trials without a site are "included" for the study-set question
    step = log["step"].where(~log["step"].isin(["with_site", "with_mapped_country"]), "included")
    return dict(zip(log["nct_id"], step, strict=True))


def draw(dec, strata, rng, exclude=()):
    rows = []
    for stratum, n in strata.items():
        ids = sorted(i for i, s in dec.items() if s == stratum and i not in exclude)
        for i in rng.sample(ids, min(n, len(ids))):
            rows.append({"nct_id": i, "stratum": stratum, "stratum_size": len(ids)})
    return rows


def archive_text(nct_ids):
    wanted = set(nct_ids)
    out = {}
    with tarfile.open(ARCHIVE) as tar:
        for m in tar:
            nid = Path(m.name).stem
            if nid in wanted:
                out[nid] = json.load(tar.extractfile(m))
    return out


def describe(rec):
    p, d = rec["ProtocolSection"], rec.get("DerivedSection", {})
    ident, design = p.get("IdentificationModule", {}), p.get("DesignModule", {})
    cond = p.get("ConditionsModule", {})
    desc = p.get("DescriptionModule", {})
    ivs = p.get("ArmsInterventionsModule", {}).get("InterventionList", {}).get("Intervention", [])
    mesh = d.get("ConditionBrowseModule", {}).get("ConditionMeshList", {}).get("ConditionMesh", [])
    lines = [
        f"Title: {ident.get('BriefTitle', '')}",
        f"Official title: {ident.get('OfficialTitle', '')}",
        f"Study type: {design.get('StudyType', '')}",
        f"Conditions: {' | '.join(cond.get('ConditionList', {}).get('Condition', []))}",
        f"Keywords: {' | '.join(cond.get('KeywordList', {}).get('Keyword', []))}",
        f"Condition MeSH terms: {' | '.join(m.get('ConditionMeshTerm', '') for m in mesh)}",
    ]
    for iv in ivs:
        other = "; ".join(iv.get("InterventionOtherNameList", {}).get("InterventionOtherName", []))
        lines.append(
            f"Intervention: [{iv.get('InterventionType', '')}] {iv.get('InterventionName', '')}"
            + (f" (other names: {other})" if other else "")
            + f" -- {(iv.get('InterventionDescription') or '')[:400]}"
        )
    lines.append(f"Brief summary: {(desc.get('BriefSummary') or '')[:1200]}")
    return "\n".join(lines)


def write_sample(arch, csv_rows, rng, *, sample: str, blind: str) -> None:
    """Write ``<sample>_{archive,website_csv}.csv`` (strata) and ``<blind>_*.txt`` (the records'
    text in a shuffled order, no stratum, no decision: all the labeller sees)."""
    for name, rows in ((f"{sample}_archive.csv", arch), (f"{sample}_website_csv.csv", csv_rows)):
        with open(HERE / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["nct_id", "stratum", "stratum_size"])
            w.writeheader()
            w.writerows(sorted(rows, key=lambda r: r["nct_id"]))
    recs = archive_text([r["nct_id"] for r in arch])
    order = [r["nct_id"] for r in arch]
    rng.shuffle(order)
    with open(HERE / f"{blind}_archive.txt", "w", encoding="utf-8") as fh:
        for i in order:
            fh.write(f"=== {i}\n{describe(recs[i])}\n\n")
    with open(CSV, encoding="utf-8") as fh:
        by_id = {r["NCT Number"]: r for r in csv.DictReader(fh)}
    order = [r["nct_id"] for r in csv_rows]
    rng.shuffle(order)
    keep = ["Title", "Study Type", "Conditions", "Interventions", "Phases", "Outcome Measures"]
    with open(HERE / f"{blind}_website_csv.txt", "w", encoding="utf-8") as fh:
        for i in order:
            r = by_id[i]
            fh.write(f"=== {i}\n" + "\n".join(f"{k}: {r[k]}" for k in keep) + "\n\n")


def main() -> None:
    from trialmap.snapshot import open_snapshot
    from trialmap.sources import import_download

    rng = random.Random(SEED)
    dec = decisions(open_snapshot(ARCHIVE.parent, ARCHIVE.parents[1]))
    arch = draw(dec, ARCHIVE_STRATA, rng)
    with tempfile.TemporaryDirectory() as tmp:
        snap = import_download(CSV, Path(tmp) / "raw", "labels-csv", "2022-01-21")
        cdec = decisions(snap)
    csv_rows = draw(cdec, CSV_STRATA, rng, exclude={r["nct_id"] for r in arch})
    write_sample(arch, csv_rows, rng, sample="sample", blind="blind")
    shutil.rmtree(HERE / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
