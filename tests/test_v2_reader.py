"""The API v2 reader on the real website JSON exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from trialmap.bench import scale
from trialmap.errors import SourceFormatError
from trialmap.sources import v2

from . import reference_readers as reference
from .conftest import BUNDLED_TARBALL, ROOT

EXPORTS = ROOT / "tests" / "data" / "ctgov"


def test_export_of_50_studies_reads_every_site_and_keeps_registry_coordinates():
    t = v2.read(EXPORTS / "ctg-studies-50.json")
    assert len(t.studies) == 50 and len(t.sites) == 2083
    registry = t.sites["geo_source"] == "registry"
    assert registry.sum() == 1989  # locations with a geoPoint, counted in the shared README
    assert t.sites.loc[registry, ["lat", "lon"]].notna().all().all()
    assert t.sites.loc[~registry, ["lat", "lon"]].isna().all().all()
    assert t.sites["country"].nunique() == 54
    assert t.studies["removed_countries"].dropna().tolist() == ["Swaziland"]


def test_a_site_as_the_registry_wrote_it():
    raw = json.loads((EXPORTS / "ctg-studies-10.json").read_text())
    first = raw[0]["protocolSection"]
    loc = first["contactsLocationsModule"]["locations"][0]
    t = v2.read(EXPORTS / "ctg-studies-10.json")
    site = t.sites[t.sites["nct_id"] == first["identificationModule"]["nctId"]].iloc[0]
    assert (site["facility"], site["city"], site["country"]) == (
        loc["facility"], loc["city"], loc["country"]
    )
    assert (site["lat"], site["lon"]) == (loc["geoPoint"]["lat"], loc["geoPoint"]["lon"])


def test_overlapping_exports_read_each_study_once():
    # The 10-study export is a subset of the 50-study one, downloaded separately.
    both = v2.read([EXPORTS / "ctg-studies-50.json", EXPORTS / "ctg-studies-10.json"])
    assert len(both.studies) == 50 and both.studies["nct_id"].is_unique
    assert len(both.sites) == 2083


def test_api_page_envelope_is_accepted(tmp_path):
    studies = json.loads((EXPORTS / "ctg-studies-10.json").read_text())
    page = tmp_path / "page-0001.json"
    page.write_text(json.dumps({"studies": studies, "totalCount": 10}))
    assert len(v2.read(page).studies) == 10


def test_not_a_v2_file_is_a_format_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"foo": 1}')  # synthetic
    with pytest.raises(SourceFormatError, match="neither an API v2 page"):
        v2.read(bad)
    bad.write_text('{"studies": [')  # synthetic truncated body
    with pytest.raises(SourceFormatError, match="not valid JSON"):
        v2.read(bad)


# ---------------------------------------------------------------- same answers as the old reader

TABLES = ("studies", "sites", "conditions", "interventions")


def assert_same_tables(got, want):
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)


@pytest.mark.parametrize("name", ["ctg-studies-10.json", "ctg-studies-50.json"])
def test_typed_reader_gives_the_old_readers_tables_on_the_real_exports(name):
    path = EXPORTS / name
    assert v2.decode_studies(path.read_bytes()) is not None  # the fast path, not the fallback
    assert_same_tables(v2.read(path), reference.v2_studies(reference.v2_file(path)))


def test_typed_reader_gives_the_old_readers_tables_on_the_archive_reencoded_as_v2(tmp_path):
    records = [scale.classic_to_v2(s) for s in reference.classic_records(BUNDLED_TARBALL)]
    page = tmp_path / "page-0001.json"
    page.write_text(json.dumps({"studies": records}))
    assert_same_tables(v2.read(page), reference.v2_studies(records))


def test_a_value_the_typed_decoder_refuses_is_read_the_old_way(tmp_path):
    # Real records, one value altered to a JSON type the registry does not write (synthetic):
    # the typed decoder refuses the file and the generic reader keeps the old tolerances.
    studies = json.loads((EXPORTS / "ctg-studies-10.json").read_text())
    studies[3]["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "30"
    studies[4]["protocolSection"]["contactsLocationsModule"]["locations"][0]["zip"] = 12345
    page = tmp_path / "page-0001.json"
    page.write_text(json.dumps({"studies": studies}, indent=1))
    assert v2.decode_studies(page.read_bytes()) is None
    got = v2.read(page)
    assert_same_tables(got, reference.v2_studies(studies))
    assert got.studies["enrollment"].iloc[3] == 30 and "12345" in set(got.sites["zip"].dropna())


def test_pages_read_in_threads_equal_pages_read_one_at_a_time(tmp_path, monkeypatch):
    studies = json.loads((EXPORTS / "ctg-studies-50.json").read_text())
    pages = []
    for k in range(5):
        pages.append(tmp_path / f"page-{k:04d}.json")
        pages[-1].write_text(json.dumps({"studies": studies[k * 10:(k + 1) * 10]}))
    monkeypatch.setenv("TRIALMAP_THREADS", "1")
    one = v2.read(pages)
    monkeypatch.setenv("TRIALMAP_THREADS", "2")
    two = v2.read(pages)
    assert_same_tables(two, one)
    assert_same_tables(one, reference.v2_studies(studies))
    # One contiguous Arrow chunk per text column, not one per page: pyarrow's take on a
    # chunked column copies all of it first (a whole column per study-set batch at scale).
    for tables in (one, two):
        for name in ("studies", "sites", "conditions", "interventions"):
            frame = getattr(tables, name)
            chunks = {c: frame[c].array._pa_array.num_chunks for c in frame.columns
                      if isinstance(frame[c].dtype, pd.StringDtype)}
            assert set(chunks.values()) == {1}, (name, chunks)


def test_a_study_without_an_id_is_a_format_error_on_both_paths(tmp_path):
    studies = json.loads((EXPORTS / "ctg-studies-10.json").read_text())
    del studies[2]["protocolSection"]["identificationModule"]["nctId"]  # synthetic fault
    page = tmp_path / "page-0001.json"
    page.write_text(json.dumps({"studies": studies}))
    with pytest.raises(SourceFormatError, match=r"no protocolSection\.identificationModule\.nctId"):
        v2.read(page)
    studies[0]["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = True  # -> generic path
    page.write_text(json.dumps({"studies": studies}))
    with pytest.raises(SourceFormatError, match=r"no protocolSection\.identificationModule\.nctId"):
        v2.read(page)
