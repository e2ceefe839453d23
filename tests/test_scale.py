"""Registry-scale inputs: the synthetic snapshot generator, and results at scale = results in batches.

The generated snapshots are re-identified copies of the real records trialmap ships
(see trialmap/bench/scale.py); they are synthetic only in their NCT ids.
"""

from __future__ import annotations

import collections
import json

import pandas as pd
import pytest

from trialmap import aggregate, pipeline
from trialmap.bench import scale
from trialmap.snapshot import verify_snapshot, write_snapshot
from trialmap.sources import classic, read_snapshot, v2

from .conftest import BUNDLED_TARBALL

N = 2_500
PAGE = 500
TABLES = ("studies", "sites", "conditions", "interventions")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return scale.generate(N, tmp_path_factory.mktemp("scale"), page_size=PAGE)


def _pages(snap):
    return [snap.file(n) for n in snap.manifest["pages"]]


def _without_id(study):
    study = json.loads(json.dumps(study))
    del study["protocolSection"]["identificationModule"]["nctId"]
    return json.dumps(study, sort_keys=True)


def _concat(parts, name):
    return pd.concat([getattr(p, name) for p in parts], ignore_index=True)


def test_classic_records_reencoded_as_v2_read_as_the_classic_reader_reads_them(tmp_path):
    # The seed pool's classic records: the v2 reader on the re-encoding must give the
    # classic reader's tables, value for value (dates, enums, sites, MeSH, interventions).
    records = [classic_to_v2 for _, s in classic.iter_records(BUNDLED_TARBALL)
               for classic_to_v2 in [scale.classic_to_v2(s)]]
    page = tmp_path / "page-0001.json"
    page.write_text(json.dumps({"studies": records}))
    want, got = classic.read(BUNDLED_TARBALL), v2.read(page)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)


def test_generated_snapshot_is_fetcher_format_marked_synthetic_and_made_of_real_records(generated):
    m = generated.manifest
    assert m["format"] == "ctgov-v2-api-pages" and m["synthetic"] is True
    assert m["record_count"] == N and m["page_count"] == N // PAGE == len(m["pages"])
    how = m["synthetic_how"]
    pool, info = scale.seed_pool()
    assert how["seed_pool"]["studies"] == len(pool) == 1_833 and info["sites"] == 6_336
    verify_snapshot(generated.path)  # every page hashed in the manifest
    first = json.loads(generated.file(m["pages"][0]).read_bytes())
    last = json.loads(generated.file(m["pages"][-1]).read_bytes())
    assert first["totalCount"] == N and "nextPageToken" in first and "nextPageToken" not in last
    # Every copy is a real record with only its id changed, ids in the synthetic range.
    real = {_without_id(r) for r in pool}
    ids, uses, n_sites = [], collections.Counter(), 0
    for path in _pages(generated):
        for study in json.loads(path.read_bytes())["studies"]:
            ids.append(study["protocolSection"]["identificationModule"]["nctId"])
            n_sites += len(study["protocolSection"].get("contactsLocationsModule", {}).get("locations", []))
            text = _without_id(study)
            assert text in real
            uses[text] += 1
    assert len(set(ids)) == N and all(i.startswith("NCT9") and len(i) == 11 for i in ids)
    # each real record used N / pool times, +-1 (some records are identical apart from the id)
    assert max(uses.values()) <= 2 * (N // len(pool) + 1)
    assert how["sites"] == n_sites and how["mean_sites_per_study"] == round(n_sites / N, 3)
    assert 3.0 < how["mean_sites_per_study"] < 4.0


def test_generator_defaults_to_a_cache_outside_data_raw():
    assert "data/raw" not in str(scale.default_dir()) and scale.parse_size("10k") == 10_000


def test_reading_the_whole_snapshot_equals_reading_its_pages_one_by_one(generated):
    whole = read_snapshot(generated)
    parts = [v2.read(p) for p in _pages(generated)]
    assert len(whole.studies) == N
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(whole, name), _concat(parts, name), obj=name)


def test_a_page_read_twice_gives_each_study_once_in_its_first_place(generated):
    pages = _pages(generated)
    once = v2.read(pages)
    twice = v2.read([*pages, pages[1]])  # like two overlapping downloads: same versions, later wins
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(twice, name), getattr(once, name), obj=name)


def test_processing_the_whole_snapshot_equals_processing_its_pages_and_adding_up(generated, tmp_path,
                                                                                  definition):
    whole = pipeline.run(generated, definition)
    batches = []
    for k, page in enumerate(_pages(generated)):
        snap = write_snapshot(tmp_path, f"batch-{k}", [(page.name, page)],
                              {**generated.manifest, "pages": [page.name]})
        batches.append(pipeline.run(snap, definition))
    for attr in ("inclusion_log", "categories"):
        pd.testing.assert_frame_equal(
            getattr(whole, attr), pd.concat([getattr(b, attr) for b in batches], ignore_index=True), obj=attr
        )
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(whole.tables, name),
                                      _concat([b.tables for b in batches], name), obj=name)
    # Counts of disjoint sets of trials add up: trials, sites and shares per country and region.
    cols = ["n_trials", "n_sites", "trial_share"]
    added = pd.concat([b.country_counts for b in batches]).groupby("iso3")[cols].sum()
    pd.testing.assert_frame_equal(whole.country_counts.set_index("iso3")[cols].sort_index(),
                                  added.sort_index(), check_exact=False, rtol=1e-12)
    added = pd.concat([b.region_counts for b in batches]).groupby("region", sort=False)[cols].sum()
    pd.testing.assert_frame_equal(whole.region_counts.set_index("region")[cols], added,
                                  check_exact=False, rtol=1e-12)
    assert whole.country_counts["n_trials"].sum() > 0.1 * N  # the test is not about empty counts
    flow = sum(b.flow.set_index("step")["n_excluded"] for b in batches)
    pd.testing.assert_series_equal(whole.flow.set_index("step")["n_excluded"], flow)
    nl = sum(int(b.no_location["n_trials"].iloc[0]) for b in batches)
    assert int(whole.no_location["n_trials"].iloc[0]) == nl
    assert whole.no_location["country"].iloc[0] == aggregate.NO_LOCATION
