"""trialmap.provenance: one short source line, the full record, no machine paths by default."""

from __future__ import annotations

import dataclasses
import getpass
import json
import platform
import socket

from trialmap import provenance

from .conftest import BUNDLED_ID


def test_source_line_is_one_short_line_with_source_date_and_snapshot(result):
    line = provenance.source_line(result)
    assert "\n" not in line and len(line) < 100
    assert line == f"Source: ClinicalTrials.gov, registry data date 2022-01-21, snapshot {BUNDLED_ID}"
    replay = dataclasses.replace(result, as_of="2018-06-14")
    assert provenance.source_line(replay).endswith("; as of 2018-06-14")
    fell_back = dataclasses.replace(result, fetch={"fallback": True})
    assert provenance.source_line(fell_back).endswith("(local snapshot: API unreachable)")


def test_description_carries_the_definition_switches_and_rule(result):
    text = provenance.description(result)
    for part in (result.definition.title, result.definition.label, "osteoarthritis off",
                 "distinct trials with at least one site"):
        assert part in text, part


def test_record_has_no_machine_paths_user_or_host_by_default(result, tmp_path):
    argv = ["--data-dir", str(tmp_path / "data"), f"--overrides={tmp_path / 'ov.csv'}"]
    rec = provenance.record(result, argv)
    text = json.dumps(rec, default=str)
    assert str(tmp_path) not in text and "/work/" not in text and '"path"' not in text
    assert rec["command_line"][-1] == "--overrides=ov.csv" and rec["command_line"][-2] == "data"
    for private in {getpass.getuser(), socket.gethostname(), platform.platform()} - {"root", ""}:
        assert private not in text, private
    full = provenance.record(result, argv, full_paths=True)
    assert full["snapshot"]["path"].endswith(BUNDLED_ID) and "platform" in full["environment"]


def test_credits_name_geonames_only_when_the_gazetteer_placed_sites():
    assert provenance.credits(["registry"]) == [provenance.CTGOV_CREDIT, provenance.NE_CREDIT]
    assert provenance.GEONAMES_CREDIT in provenance.credits(["gazetteer", "country"])
