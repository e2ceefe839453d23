"""The API's bulk download (``/studies/download?format=json.zip``): import, reader, generator.

The zips here are written by the scale generator from the real records trialmap ships
(re-identified, marked synthetic) or, for the faults, by :mod:`zipfile` from the real
website export's records; the faults themselves are synthetic.
"""

from __future__ import annotations

import json
import logging
import zipfile

import pandas as pd
import pytest

from trialmap.bench import scale
from trialmap.errors import SourceFormatError
from trialmap.snapshot import verify_snapshot
from trialmap.sources import bulk_zip, import_download, read_snapshot

from . import reference_readers as reference
from .conftest import ROOT

TABLES = ("studies", "sites", "conditions", "interventions")
EXPORT = ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json"
N = 2_000


def assert_same(got, want):
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("bulk")


@pytest.fixture(scope="module")
def generated_zip(store):
    return scale.generate_zip(N, store)


def _zip_of(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _export_members():
    return [(f"{s['protocolSection']['identificationModule']['nctId']}.json", json.dumps(s, indent=2))
            for s in json.loads(EXPORT.read_text())]


def test_the_same_records_give_the_same_tables_as_a_zip_and_as_pages(generated_zip, store):
    pages = scale.generate(N, store, page_size=500)
    assert generated_zip.manifest["format"] == bulk_zip.FORMAT == "ctgov-v2-bulk-json-zip"
    assert generated_zip.manifest["synthetic"] is True
    assert_same(read_snapshot(generated_zip), read_snapshot(pages))


def test_generated_members_are_full_real_records_with_only_the_id_changed(generated_zip):
    full, _ = scale.full_seed_pool()
    real = {json.dumps(_without_id(r), sort_keys=True) for r in full}
    path = generated_zip.file(generated_zip.manifest["files"][0]["name"])
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every CRC checks
        names = zf.namelist()
        assert len(names) == N and names[0] == "NCT90000000.json"
        for name in names[:300]:
            study = json.loads(zf.read(name))
            assert study["protocolSection"]["identificationModule"]["nctId"] == name[:-5]
            assert json.dumps(_without_id(study), sort_keys=True) in real
    # full records: the website export's every module, e.g. eligibility criteria and outcomes
    assert {"eligibilityModule", "outcomesModule"} <= set(full[0]["protocolSection"])
    assert generated_zip.manifest["synthetic_how"]["seed_pool"]["mean_json_bytes"] > 10_000


def _without_id(study):
    study = json.loads(json.dumps(study))
    del study["protocolSection"]["identificationModule"]["nctId"]
    return study


def test_full_records_read_as_the_old_reader_reads_them(tmp_path):
    # The 50 real records as the website exported them, one member each (pretty-printed).
    path = _zip_of(tmp_path / "ctg-studies.json.zip", _export_members())
    report = bulk_zip.Report()
    got = bulk_zip.read(path, report)
    assert report.studies == 50 and not report.non_study and not report.damaged
    assert_same(got, reference.v2_studies(reference.v2_file(EXPORT)))


def test_import_keeps_the_zip_byte_for_byte_under_its_own_format(tmp_path):
    path = _zip_of(tmp_path / "ctg-studies.json.zip", _export_members())
    snap = import_download(path, tmp_path / "raw", downloaded="2026-08-01")
    assert snap.manifest["format"] == bulk_zip.FORMAT and snap.manifest["record_count"] == 50
    assert snap.file("ctg-studies.json.zip").read_bytes() == path.read_bytes()
    verify_snapshot(snap.path)
    assert len(read_snapshot(snap).studies) == 50


def test_non_study_members_are_listed_not_read(tmp_path, caplog):
    members = [
        *_export_members()[:5],
        ("README.txt", "not a study"),  # synthetic extra members
        ("notes/", ""),
        ("meta.json", json.dumps({"generated": "2026-08-01"})),
        ("list.json", json.dumps([1, 2])),
    ]
    path = _zip_of(tmp_path / "x.json.zip", members)
    report = bulk_zip.Report()
    with caplog.at_level(logging.WARNING):
        got = bulk_zip.read(path, report)
    assert len(got.studies) == 5 and report.studies == 5
    assert sorted(n for n, _ in report.non_study) == ["README.txt", "list.json", "meta.json", "notes/"]
    assert "4 member(s) that are not studies" in caplog.text


def test_damaged_members_fail_the_read_and_are_all_named(tmp_path):
    good = _export_members()[:6]
    path = _zip_of(tmp_path / "x.json.zip", [*good[:3], ("NCT00000001.json", '{"protocolSection": {'),
                                            *good[3:]])
    # flip bytes inside the deflated data of one member (synthetic corruption)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(good[4][0])
    raw = bytearray(path.read_bytes())
    at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    raw[at:at + 4] = bytes(b ^ 0xFF for b in raw[at:at + 4])
    path.write_bytes(bytes(raw))
    with pytest.raises(SourceFormatError, match="2 damaged member") as err:
        bulk_zip.read(path)
    assert "NCT00000001.json: not valid JSON" in str(err.value) and good[4][0] in str(err.value)


def test_a_truncated_download_is_a_format_error(tmp_path):
    path = _zip_of(tmp_path / "x.json.zip", _export_members()[:3])
    path.write_bytes(path.read_bytes()[:-100])  # synthetic: the end (central directory) missing
    with pytest.raises(SourceFormatError, match="not a readable zip"):
        bulk_zip.read(path)


def test_stored_members_and_a_refused_value_read_like_the_old_reader(tmp_path):
    studies = json.loads(EXPORT.read_text())[:8]
    studies[2]["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "12"  # synthetic type change
    path = _zip_of(tmp_path / "x.json.zip", [(f"s{k}.json", json.dumps(s)) for k, s in enumerate(studies)],
                   zipfile.ZIP_STORED)
    assert_same(bulk_zip.read(path), reference.v2_studies(studies))


def test_zip64_directory_is_read_back(tmp_path):
    import zlib

    studies = json.loads(EXPORT.read_text())[:3]

    def members():
        for s in studies:
            data = json.dumps(s).encode()
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            yield (f"{s['protocolSection']['identificationModule']['nctId']}.json",
                   comp.compress(data) + comp.flush(), zlib.crc32(data), len(data))

    path = tmp_path / "z.json.zip"
    scale.write_json_zip(path, members(), force_zip64=True)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None and len(zf.namelist()) == 3
    assert_same(bulk_zip.read(path), reference.v2_studies(studies))
