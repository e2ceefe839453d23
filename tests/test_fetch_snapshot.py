"""Fetched pages become immutable snapshots; incremental refresh; the fetching CLI.

All against the local API server of tests/ctgov_server.py serving REAL v2
records. Registry states used (nothing invented):

- "June 29": the 50 records of ctg-studies-50.json (versionHolder 2023-06-29);
- "June 28": the 10 records of ctg-studies-10.json, the same registry's export a
  day earlier (versionHolder 2023-06-28). All 10 are also in the 50 in their
  June 29 version; there the registry changed derived data (the MeSH browse
  leaves, a date's type from ESTIMATED to ACTUAL, the versionHolder) without
  changing lastUpdatePostDate: a real example of what an update-date window
  cannot see;
- "cut-off D": the records of the 50 whose lastUpdatePostDate is before D, i.e.
  a real subset as the registry held it before those updates were posted.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from trialmap import pipeline
from trialmap.client import Client, fetch_changes, fetch_full
from trialmap.errors import ApiUnavailableError, SnapshotIntegrityError
from trialmap.query import load_query
from trialmap.refresh import build_parser, fetch_step, main
from trialmap.snapshot import (
    FORMAT_INCREMENTAL,
    FORMAT_PAGES,
    list_snapshots,
    open_snapshot,
    sha256_file,
    verify_snapshot,
    write_fetched,
)
from trialmap.sources import read_snapshot, v2

from .conftest import BUNDLED_ID, RAW, closed_port_url
from .ctgov_server import FakeCtgov, Fault, last_update, nct, project, real_studies

JUNE29 = real_studies("ctg-studies-50.json")
JUNE28 = real_studies("ctg-studies-10.json")
TS29, TS28 = "2023-06-29T00:00:00", "2023-06-28T00:00:00"


def fast(url: str) -> Client:
    return Client(url, min_interval=0.0, backoff_factor=0.01, timeout=(1.0, 2.0))


@pytest.fixture(scope="module")
def query():
    return load_query()


def sorted_tables(t):
    keys = {"studies": ["nct_id"], "sites": ["nct_id", "site_no"],
            "conditions": ["nct_id", "source", "term"], "interventions": ["nct_id", "name", "type"]}
    return {
        name: getattr(t, name).sort_values(k, kind="stable").reset_index(drop=True)
        for name, k in keys.items()
    }


def assert_same_tables(a, b, ignore=()):
    ta, tb = sorted_tables(a), sorted_tables(b)
    for name in ta:
        cols = [c for c in ta[name].columns if (name, c) not in ignore]
        pd.testing.assert_frame_equal(ta[name][cols], tb[name][cols], obj=name)


def full_snapshot(raw, studies, ts, query, page_size=20):
    with FakeCtgov(studies, ts) as api, fast(api.url) as c:
        run = fetch_full(c, query, page_size=page_size)
    return write_fetched(raw, run)


# -- snapshot contents -------------------------------------------------------------------------


def test_fetched_snapshot_stores_pages_exactly_with_a_complete_manifest(tmp_path, query):
    with FakeCtgov(JUNE29, TS29) as api, fast(api.url) as c:
        run = fetch_full(c, query, page_size=20)
        sent = [body for path, body in api.sent if path.endswith("/studies")]
    snap = write_fetched(tmp_path, run)
    m = snap.manifest
    assert snap.id.startswith("ctgov-v2-2023-06-29-") and m["format"] == FORMAT_PAGES
    assert [snap.file(n).read_bytes() for n in m["pages"]] == sent
    assert m["source"]["endpoint"] == f"{api.url}/studies"
    assert (m["source"]["api_version"], m["source"]["data_timestamp"]) == ("2.0.5", TS29)
    assert m["registry_data_date"] == "2023-06-29"
    assert m["query"]["params"]["query.term"] == query.params["query.term"]
    assert m["query"]["params"]["fields"].split(",") == list(query.fields)
    assert m["page_count"] == 3 and m["record_count"] == m["total_count"] == 50
    assert m["fetch"]["started_utc"] <= m["fetch"]["finished_utc"]
    assert m["fetch"]["requests"] == 4
    assert [p["params"].get("pageToken") is None for p in m["paging"]["pages"]] == [True, False, False]
    for e in m["files"]:
        assert e["sha256"] == sha256_file(snap.file(e["name"]))
    assert verify_snapshot(snap.path).id == snap.id
    assert sorted(read_snapshot(snap).studies["nct_id"]) == sorted(nct(s) for s in JUNE29)


def test_a_failed_fetch_leaves_no_snapshot_and_no_temporary_folder(tmp_path, query):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / BUNDLED_ID, raw / BUNDLED_ID)
    args = build_parser().parse_args(["--data-dir", str(tmp_path), "-q", "--page-size", "20"])
    with FakeCtgov(JUNE29, TS29) as api:
        api.faults["studies"].extend([None])
        api.always["studies"] = Fault("status", 503)  # page 2 onwards: never recovers
        snap, info = fetch_step(args, raw, client=fast(api.url))
        assert snap is None and info["fallback"] and "HTTP 503" in info["error"]
        args = build_parser().parse_args(["--data-dir", str(tmp_path), "-q", "--require-fresh",
                                          "--page-size", "20"])
        with pytest.raises(ApiUnavailableError):
            fetch_step(args, raw, client=fast(api.url))
    assert sorted(p.name for p in raw.iterdir()) == [BUNDLED_ID]


def test_a_tampered_page_is_caught(tmp_path, query):
    snap = full_snapshot(tmp_path, JUNE29, TS29, query)
    page = snap.file(snap.manifest["pages"][1])
    page.chmod(0o644)
    page.write_bytes(page.read_bytes().replace(b"RECRUITING", b"COMPLETED\x20\x20", 1))
    with pytest.raises(SnapshotIntegrityError, match=r"page-0002\.json has sha256"):
        open_snapshot(snap.id, tmp_path)


# -- fields= is enough for every stage ---------------------------------------------------------


def test_fields_limited_records_give_the_same_tables_and_results_as_full_records(tmp_path, query, definition):
    full = tmp_path / "full.json"
    full.write_text(json.dumps({"studies": JUNE29}))
    limited = tmp_path / "limited.json"
    limited.write_text(json.dumps({"studies": [project(s, list(query.fields)) for s in JUNE29]}))
    assert limited.stat().st_size < full.stat().st_size / 3
    t_full, t_lim = v2.read(full), v2.read(limited)
    assert_same_tables(t_full, t_lim)
    # ... and every later stage (study set, geocoding, counts) on a processed snapshot.
    snaps = {}
    for name, path in (("full", full), ("limited", limited)):
        snaps[name] = pipeline.run(
            _export_snapshot(tmp_path / name, path), definition
        )
    a, b = snaps["full"], snaps["limited"]
    for attr in ("inclusion_log", "categories", "country_counts", "region_counts", "geo_audit"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr), obj=attr)


def _export_snapshot(raw, path):
    from trialmap.snapshot import write_snapshot

    return write_snapshot(raw, "s", [("page-0001.json", path)],
                          {"format": FORMAT_PAGES, "registry_data_date": "2023-06-29"})


# -- incremental refresh -----------------------------------------------------------------------


def test_incremental_refresh_equals_a_full_fetch_of_the_same_state(tmp_path, query):
    # Older state: the real records whose last update was posted before D (as the
    # registry held them on D); newer state: all 50. Only the studies posted on or
    # after D are asked for.
    d = "2023-06-15"
    older = [s for s in JUNE29 if last_update(s) < d]
    newer_ids = {nct(s) for s in JUNE29}
    changed = newer_ids - {nct(s) for s in older}
    assert (len(older), len(changed)) == (25, 25)
    base = full_snapshot(tmp_path, older, f"{d}T00:00:00", query)
    with FakeCtgov(JUNE29, TS29) as api, fast(api.url) as c:
        run = fetch_changes(c, query, d, set(read_snapshot(base).studies["nct_id"]), page_size=20)
        windows = [dict(r.params).get("filter.advanced") for r in api.requests_to("studies")]
    assert f"AREA[LastUpdatePostDate]RANGE[{d},MAX]" in windows
    assert run.changed.nct_ids == changed and run.filled == []
    inc = write_fetched(tmp_path, run, base=base)
    m = inc.manifest
    assert m["format"] == FORMAT_INCREMENTAL and m["incremental"]["since"] == d
    assert m["incremental"]["base"]["snapshot_id"] == base.id
    assert m["incremental"]["base"]["manifest_sha256"] == sha256_file(base.path / "manifest.json")
    for f in m["incremental"]["base"]["files"]:  # the base's pages, byte for byte, verifiably
        assert sha256_file(inc.file(f["name"])) == sha256_file(base.file(f["base_name"])) == f["sha256"]
    full = full_snapshot(tmp_path, JUNE29, TS29, query)
    assert_same_tables(read_snapshot(open_snapshot(inc.id, tmp_path)), read_snapshot(full))
    assert [s["snapshot_id"] for s in list_snapshots(tmp_path)][-2:] in ([inc.id, full.id], [full.id, inc.id])


def test_incremental_refresh_between_two_real_registry_days(tmp_path, query):
    base = full_snapshot(tmp_path, JUNE28, TS28, query)
    with FakeCtgov(JUNE29, TS29) as api, fast(api.url) as c:
        run = fetch_changes(c, query, "2023-06-28", set(read_snapshot(base).studies["nct_id"]), page_size=20)
    # Posted on or after June 28: one new study and two of the ten.
    assert sorted(run.changed.nct_ids) == ["NCT05923112", "NCT05923281", "NCT05925803"]
    # The other 39 studies of the June 29 set are neither in the base nor updated: fetched by id.
    assert run.filled[0].nct_ids == {nct(s) for s in JUNE29} - {nct(s) for s in JUNE28} - {"NCT05925803"}
    assert len(run.filled[0].nct_ids) == 39
    inc = read_snapshot(write_fetched(tmp_path, run, base=base))
    full = read_snapshot(full_snapshot(tmp_path, JUNE29, TS29, query))
    # Identical tables, except the per-record registry version of the 8 base records the
    # window does not re-fetch: the registry re-derived them on June 29 (versionHolder,
    # MeSH browse leaves, date types) without posting an update. Nothing the pipeline
    # uses beyond that column changed, as the comparison of every other column shows.
    assert_same_tables(inc, full, ignore={("studies", "registry_data_date")})
    dates = inc.studies.set_index("nct_id")["registry_data_date"].astype(str)
    old = {nct(s) for s in JUNE28} - run.changed.nct_ids
    assert len(old) == 8 and (dates[sorted(old)] == "2023-06-28").all()
    assert (dates.drop(sorted(old)) == "2023-06-29").all()


def test_a_study_that_left_the_query_is_dropped_by_an_incremental_refresh(tmp_path, query):
    base = full_snapshot(tmp_path, JUNE29, TS29, query)
    # The registry state "without the first ten records" is a real subset of the 50.
    with FakeCtgov(JUNE29[10:], TS29) as api, fast(api.url) as c:
        run = fetch_changes(c, query, "2023-06-29", set(read_snapshot(base).studies["nct_id"]))
    inc = read_snapshot(write_fetched(tmp_path, run, base=base))
    assert set(inc.studies["nct_id"]) == {nct(s) for s in JUNE29[10:]}


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    shutil.copytree(RAW / BUNDLED_ID, d / "raw" / BUNDLED_ID)
    return d


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_fetches_processes_and_refreshes_incrementally(data_dir, capsys):
    with FakeCtgov(JUNE28, TS28) as api:
        assert main(["--data-dir", str(data_dir), "--api-url", api.url, "--min-interval", "0"]) == 0
        out = capsys.readouterr()
        assert "fetched 10 studies" in out.err and "fetched now: 2 requests" in out.out
        first = list_snapshots(data_dir / "raw")[-1]
        assert first["format"] == FORMAT_PAGES and first["record_count"] == 10
        prov = json.loads((data_dir / "processed" / first["snapshot_id"] / "provenance.json").read_text())
        assert prov["fetched"] is True and prov["fetch"]["api_url"] == api.url
        assert prov["snapshot"]["registry_data_date"] == "2023-06-28"

        api.set_state(JUNE29, TS29)
        api.log.clear()
        assert main(["--data-dir", str(data_dir), "--api-url", api.url, "--min-interval", "0",
                     "--incremental", "-q"]) == 0
        assert capsys.readouterr().err == ""
        assert api.undefined_parameters() == set()
    second = list_snapshots(data_dir / "raw")[-1]
    assert second["format"] == FORMAT_INCREMENTAL and second["record_count"] == 50
    assert second["incremental"]["base"]["snapshot_id"] == first["snapshot_id"]
    prov = json.loads((data_dir / "processed" / second["snapshot_id"] / "provenance.json").read_text())
    assert prov["fetch"]["incremental"] is True and prov["fetch"]["base_snapshot"] == first["snapshot_id"]


def test_cli_reads_the_api_url_from_the_environment_and_offline_never_fetches(tmp_path, monkeypatch):
    with FakeCtgov(JUNE28, TS28) as api:
        monkeypatch.setenv("TRIALMAP_API_URL", api.url)
        assert main(["--data-dir", str(tmp_path), "--min-interval", "0", "-q"]) == 0
        assert [r.path for r in api.log] == ["/api/v2/version", "/api/v2/studies"]
        fetched = list_snapshots(tmp_path / "raw")
        assert main(["--data-dir", str(tmp_path), "--offline", "-q"]) == 0
        assert len(api.log) == 2  # --offline: not one more request
    assert list_snapshots(tmp_path / "raw") == fetched


def test_cli_falls_back_to_the_newest_local_snapshot_when_the_api_is_unreachable(data_dir, capsys):
    url = closed_port_url()
    assert main(["--data-dir", str(data_dir), "--api-url", url]) == 0
    out = capsys.readouterr()
    line = _one_line(out.err)
    assert line.startswith(f"trialmap: cannot reach the ClinicalTrials.gov API at {url}")
    assert line.endswith(f"processing the local snapshot {BUNDLED_ID} instead")
    assert "not fetched: the API could not be reached" in out.out
    assert sorted(p.name for p in (data_dir / "raw").iterdir()) == [BUNDLED_ID]
    prov = json.loads((data_dir / "processed" / BUNDLED_ID / "provenance.json").read_text())
    assert prov["fetched"] is False
    assert prov["fetch"]["fallback"] is True and prov["fetch"]["fallback_snapshot"] == BUNDLED_ID
    assert "connection refused" in prov["fetch"]["error"]


def test_the_figure_source_line_says_when_a_fallback_snapshot_was_used(result):
    import dataclasses

    info = {"fallback": True, "attempted_utc": "2026-01-05T10:00:00+00:00"}
    fallback = dataclasses.replace(result, fetch=info)
    assert "API unreachable" in fallback.source_line()
    assert "unreachable" not in result.source_line()


def test_cli_require_fresh_makes_an_unreachable_api_an_error(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--api-url", closed_port_url(), "--require-fresh", "-q"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("trialmap: error: cannot reach the ClinicalTrials.gov API")
    assert not (data_dir / "processed").exists()
    assert sorted(p.name for p in (data_dir / "raw").iterdir()) == [BUNDLED_ID]


def test_cli_with_no_api_and_no_local_snapshot_falls_back_to_the_bundled_one(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "--api-url", closed_port_url()]) == 0
    line = _one_line(capsys.readouterr().err)
    assert "cannot reach the ClinicalTrials.gov API" in line and f"local snapshot {BUNDLED_ID}" in line


def test_cli_protocol_errors_are_one_line_errors_not_fallbacks(data_dir, capsys):
    with FakeCtgov(JUNE29, TS29) as api:
        api.always["studies"] = Fault("total", extra=5)
        rc = main(["--data-dir", str(data_dir), "--api-url", api.url, "--min-interval", "0", "-q"])
    assert rc == 1
    assert "totalCount 55" in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in (data_dir / "raw").iterdir()) == [BUNDLED_ID]
