"""Draw the hold-out sample that judges the v3 rule (records the rule was never tuned on).

The first labelled set (make_sample.py) was used to find the rule's errors; this one is
drawn afterwards, stratified by the v3 rule's decision, excluding every record of the
first set, and labelled by a reader who saw only ``holdout_blind_*.txt``. Seed 20261202.

    python tests/data/studyset_labels/make_holdout.py   # from the repository root
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_sample import ARCHIVE, CSV, HERE, archive_text, describe, draw

SEED = 20261202
ARCHIVE_STRATA = {"included": 60, "in_scope": 60, "intervention_confirmed": 25, "study_type": 5}
CSV_STRATA = {"included": 25, "in_scope": 20, "intervention_confirmed": 5}


def decisions(snapshot):
    from trialmap import pipeline

    log = pipeline.run(snapshot).inclusion_log
    step = log["step"].where(~log["step"].isin(["with_site", "with_mapped_country"]), "included")
    return dict(zip(log["nct_id"], step, strict=True))


def seen() -> set[str]:
    out = set()
    for name in ("sample_archive.csv", "sample_website_csv.csv"):
        with open(HERE / name, encoding="utf-8") as fh:
            out |= {r["nct_id"] for r in csv.DictReader(fh)}
    return out


def main() -> None:
    from trialmap.snapshot import open_snapshot
    from trialmap.sources import import_download

    rng = random.Random(SEED)
    old = seen()
    adec = decisions(open_snapshot(ARCHIVE.parent, ARCHIVE.parents[1]))
    arch = draw(adec, ARCHIVE_STRATA, rng, exclude=old)
    with tempfile.TemporaryDirectory() as tmp:
        snap = import_download(CSV, Path(tmp) / "raw", "holdout-csv", "2022-01-21")
        cdec = decisions(snap)
    csv_rows = draw(cdec, CSV_STRATA, rng, exclude=old | {r["nct_id"] for r in arch})
    for name, rows in (("holdout_archive.csv", arch), ("holdout_website_csv.csv", csv_rows)):
        with open(HERE / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["nct_id", "stratum", "stratum_size"])
            w.writeheader()
            w.writerows(sorted(rows, key=lambda r: r["nct_id"]))
    recs = archive_text([r["nct_id"] for r in arch])
    order = [r["nct_id"] for r in arch]
    rng.shuffle(order)
    with open(HERE / "holdout_blind_archive.txt", "w", encoding="utf-8") as fh:
        for i in order:
            fh.write(f"=== {i}\n{describe(recs[i])}\n\n")
    with open(CSV, encoding="utf-8") as fh:
        by_id = {r["NCT Number"]: r for r in csv.DictReader(fh)}
    order = [r["nct_id"] for r in csv_rows]
    rng.shuffle(order)
    keep = ["Title", "Study Type", "Conditions", "Interventions", "Phases", "Outcome Measures"]
    with open(HERE / "holdout_blind_website_csv.txt", "w", encoding="utf-8") as fh:
        for i in order:
            r = by_id[i]
            fh.write(f"=== {i}\n" + "\n".join(f"{k}: {r[k]}" for k in keep) + "\n\n")


if __name__ == "__main__":
    main()
