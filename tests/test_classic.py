"""The classic-API reader on the real bundled records."""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd
import pytest

from trialmap.errors import SourceFormatError
from trialmap.sources import classic
from trialmap.sources.common import parse_dates

from .conftest import BUNDLED_TARBALL

DATE_FIELDS = {
    "start_date": ("StartDateStruct", "StartDate"),
    "first_posted": ("StudyFirstPostDateStruct", "StudyFirstPostDate"),
    "last_update": ("LastUpdatePostDateStruct", "LastUpdatePostDate"),
}


def test_one_row_per_record_and_per_site(tables, raw_records):
    assert len(tables.studies) == len(raw_records) == 1783
    assert tables.studies["nct_id"].is_unique
    n_sites = 0
    for r in raw_records.values():
        module = r["ProtocolSection"].get("ContactsLocationsModule", {})
        n_sites += len(module.get("LocationList", {}).get("Location", []))
    assert len(tables.sites) == n_sites == 4253


def test_every_date_in_the_archive_parses_with_its_precision(tables, raw_records):
    studies = tables.studies.set_index("nct_id")
    checked = 0
    for nct, rec in raw_records.items():
        status = rec["ProtocolSection"]["StatusModule"]
        for col, (struct, key) in DATE_FIELDS.items():
            text = status.get(struct, {}).get(key)
            got, prec = studies.at[nct, col], studies.at[nct, f"{col}_precision"]
            if text is None:
                assert pd.isna(got) and pd.isna(prec)
                continue
            if re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4}", text):
                assert prec == "day"
                assert got == pd.Timestamp(datetime.strptime(text, "%B %d, %Y"))
            else:
                assert re.fullmatch(r"[A-Z][a-z]+ \d{4}", text), text
                assert prec == "month"
                assert got == pd.Timestamp(datetime.strptime(text, "%B %Y"))
            checked += 1
    assert checked > 5000


def test_unparseable_dates_are_marked_not_dropped():
    # Synthetic: no real record has a malformed date.
    dates, prec = parse_dates(pd.Series(["September 9, 2015", "2019-03", "sometime soon", None]))
    assert list(prec.astype(object).where(prec.notna(), None)) == ["day", "month", "unparsed", None]
    assert dates.iloc[1] == pd.Timestamp("2019-03-01") and pd.isna(dates.iloc[2])


def test_enums_are_the_api_v2_spellings(tables):
    s = tables.studies
    assert set(s["overall_status"]) >= {"COMPLETED", "UNKNOWN", "ACTIVE_NOT_RECRUITING", "WITHDRAWN"}
    assert set(s["study_type"]) == {"INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"}
    phases = set("|".join(s["phases"].dropna()).split("|"))
    assert phases == {"EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"}


def test_a_record_checked_by_hand(tables):
    # NCT02677350 (GALENE): allogeneic bone-marrow MSCs for fistulizing Crohn's
    # disease, one site at the University of Miami; read off the raw JSON.
    s = tables.studies.set_index("nct_id").loc["NCT02677350"]
    assert s["start_date_precision"] in {"day", "month"}
    assert s["enrollment"] == 0 and s["enrollment_type"] == "ACTUAL"
    (site,) = tables.sites[tables.sites["nct_id"] == "NCT02677350"].itertuples()
    assert (site.city, site.state, site.country) == ("Miami", "Florida", "United States")
    iv = tables.interventions[tables.interventions["nct_id"] == "NCT02677350"]
    assert iv["name"].str.contains("Mesenchymal Stem Cells").all()
    assert iv["other_names"].tolist() == ["allo-hMSCs"]
    mesh = tables.conditions[(tables.conditions["nct_id"] == "NCT02677350")]
    assert ("mesh", "D000003424", "Crohn Disease") in set(
        zip(mesh["source"], mesh["mesh_id"], mesh["term"], strict=True)
    )
    assert "D000015212" in set(mesh.loc[mesh["source"] == "mesh_ancestor", "mesh_id"])


def test_not_a_tarball_is_a_format_error(tmp_path):
    bad = tmp_path / "full_studies.tar.gz"
    bad.write_bytes(b"this is not gzip")  # synthetic fault
    with pytest.raises(SourceFormatError, match=r"not a readable tar\.gz"):
        classic.read(bad)


def test_typed_reader_gives_the_old_readers_tables_on_every_bundled_record(tables):
    # tests/reference_readers.py keeps the reader as it was before the typed decoder.
    from . import reference_readers as reference

    want = reference.classic_tarball(BUNDLED_TARBALL)
    for name in ("studies", "sites", "conditions", "interventions"):
        pd.testing.assert_frame_equal(getattr(tables, name), getattr(want, name), obj=name)
        pd.testing.assert_frame_equal(getattr(classic.read_generic(BUNDLED_TARBALL), name),
                                      getattr(want, name), obj=f"generic {name}")


def test_an_archive_the_typed_decoder_refuses_is_read_record_by_record(tmp_path):
    # The bundled records, one value turned into a JSON number (synthetic): same tables as the old reader.
    import io
    import json
    import tarfile

    from . import reference_readers as reference

    records = reference.classic_records(BUNDLED_TARBALL)[:40]
    records[5]["ProtocolSection"]["DesignModule"]["EnrollmentInfo"]["EnrollmentCount"] = 30
    out = tmp_path / "full_studies.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for r in records:
            data = json.dumps(r, indent=2).encode()
            info = tarfile.TarInfo(f"json/{r['ProtocolSection']['IdentificationModule']['NCTId']}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    got = classic.read(out)
    assert got.studies["enrollment"].iloc[5] == 30
    want = reference.classic_tarball(out)
    for name in ("studies", "sites", "conditions", "interventions"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
