"""The API v2 reader on the real website JSON exports."""

from __future__ import annotations

import json

import pytest

from trialmap.errors import SourceFormatError
from trialmap.sources import v2

from .conftest import ROOT

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
