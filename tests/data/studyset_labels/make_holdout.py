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
from make_sample import ARCHIVE, CSV, HERE, draw, write_sample

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
    write_sample(arch, csv_rows, rng, sample="holdout", blind="holdout_blind")


if __name__ == "__main__":
    main()
