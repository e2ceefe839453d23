"""Edge cases found in review: nothing dropped silently, nothing overwritten, clear errors.

Where a fault has no real example (a duplicated CSV row, a misspelt country, a renamed
snapshot folder), the input is a real file altered in one place, as each test says.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest

from trialmap import aggregate, countries, pipeline
from trialmap.__main__ import main as trialmap_main
from trialmap.errors import SnapshotIntegrityError, SourceFormatError
from trialmap.figures.suite import SuiteContext
from trialmap.figures.worldmap import caption
from trialmap.snapshot import list_snapshots, verify_snapshot
from trialmap.sources import website_csv

from .conftest import BUNDLED_ID, RAW, ROOT

CLASSIC_CSV = ROOT / "tests" / "data" / "ctgov" / "website-search-results-mesenchymal.csv"


def test_counting_removed_countries_loses_no_in_scope_trial(bundled_snapshot, definition):
    # Real case: NCT04073472 is in scope, lists no site, and has removed countries.
    rule = aggregate.CountingRule(removed_countries=True)
    r = pipeline.run(bundled_snapshot, definition, rule=rule)
    in_scope = r.flow.set_index("step").at["in_scope", "n_remaining"]
    placed = r.country_counts["trial_share"].sum()
    assert placed + r.no_location["n_trials"].iloc[0] == pytest.approx(in_scope)
    assert "NCT04073472" in set(r.tables.studies.loc[r.tables.studies["removed_countries"].notna(), "nct_id"])


def _csv_rows():
    with open(CLASSIC_CSV, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write(rows, path):
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def test_a_country_the_table_does_not_know_is_reported_not_dropped(tmp_path):
    rows = _csv_rows()
    col = rows[0].index("Locations")
    i = next(k for k, r in enumerate(rows[1:], 1) if r[col].endswith(", Spain"))
    rows[i][col] = rows[i][col].replace(", Spain", ", Espana")  # a misspelling the table lacks
    _write(rows, tmp_path / "x.csv")
    t = website_csv.read(tmp_path / "x.csv")
    unknown = countries.unknown_countries(t.sites["country"])
    assert "Espana" in set(unknown["country"])


def test_an_identical_repeated_row_is_read_once_and_a_conflicting_one_is_an_error(tmp_path):
    rows = _csv_rows()
    _write([*rows, rows[1]], tmp_path / "dup.csv")
    t = website_csv.read(tmp_path / "dup.csv")
    assert t.studies["nct_id"].is_unique and len(t.studies) == len(rows) - 1
    changed = list(rows[1])
    changed[2] = changed[2] + " (edited)"
    _write([*rows, changed], tmp_path / "conflict.csv")
    with pytest.raises(SourceFormatError, match="appears twice with different content"):
        website_csv.read(tmp_path / "conflict.csv")


def test_a_renamed_snapshot_folder_fails_verification_and_a_damaged_one_is_skipped(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / BUNDLED_ID, raw / "renamed")
    with pytest.raises(SnapshotIntegrityError, match="named after its id"):
        verify_snapshot(raw / "renamed")
    shutil.rmtree(raw / "renamed")
    shutil.copytree(RAW / BUNDLED_ID, raw / BUNDLED_ID)
    (raw / "broken").mkdir()
    (raw / "broken" / "manifest.json").write_text("{")  # synthetic damage
    assert [m["snapshot_id"] for m in list_snapshots(raw)] == [BUNDLED_ID]


def test_trialmap_refresh_accepts_data_dir_before_the_subcommand(tmp_path):
    shutil.copytree(RAW / BUNDLED_ID, tmp_path / "raw" / BUNDLED_ID)
    assert trialmap_main(["--data-dir", str(tmp_path), "refresh", "--offline", "-q"]) == 0
    out = tmp_path / "processed" / BUNDLED_ID
    assert (out / "figures" / "figure1.pdf").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask  # not private to the writer
    assert json.loads((out / "provenance.json").read_text())["snapshot"]["id"] == BUNDLED_ID


def test_caption_and_europe_call_out_follow_the_counting_rule(bundled_snapshot, definition):
    r = pipeline.run(bundled_snapshot, definition, rule=aggregate.CountingRule("sites"))
    ctx = SuiteContext(r, {"source_line": "x"})
    europe = r.region_counts.set_index("region").at["Europe", "n_sites"]
    text = caption(r.country_counts, n_trials=len(r.included), data_date=r.data_date,
                   regions={"Europe": europe}, value="n_sites", unit="sites")
    assert text.startswith("Number of sites per country") and f"Europe, {europe} sites" in text
    usa = r.country_counts.set_index("iso3").at["USA", "n_sites"]
    assert f"United States ({usa})" in text
    assert ctx.rule.column == "n_sites"


def test_newest_means_newest_registry_snapshot_not_a_later_manual_import(tmp_path, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / BUNDLED_ID, raw / BUNDLED_ID)
    # A real download about another therapy (hypertension in India), imported after the bundle.
    other = ROOT / "tests" / "data" / "ctgov" / "ctg-studies-172.csv"
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(other), "--id", "zz-hypertension"]) == 0
    from trialmap.snapshot import open_snapshot

    assert open_snapshot(None, raw).id == BUNDLED_ID
    assert open_snapshot("zz-hypertension", raw).manifest["manual_download"] is True
