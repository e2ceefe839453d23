"""The fetcher against the real API's refusals and errors and against misbehaving servers (issue 13).

The local server (tests/ctgov_server.py) serves the REAL records of
ctg-studies-50.json. The faults are made up by nature (no recording of a
bot-protection 403, an endless body or a trickling server exists): a 403 with
an "Access denied" page, a chunked body of the page's real records repeated for
ever, the real page sent one byte at a time. Limits are injected small (a 2 s
deadline, a 2 MB byte limit) so each fault ends in seconds; `python -m
trialmap.bench hostile --cases api` shows the real defaults (90 s, 256 MiB)
ending the same servers within two minutes.
"""

from __future__ import annotations

import itertools
import json
import ssl
import time
import tomllib

import pytest

import trialmap
from trialmap.client import DEADLINE, MAX_BYTES, PROJECT_URL, USER_AGENT, Client, fetch_full, make_session
from trialmap.errors import ApiRefusedError, ApiResponseError, ApiUnavailableError, ResponseTooLargeError
from trialmap.query import load_query, parse_query
from trialmap.refresh import build_parser, main

from .conftest import BUNDLED_ID, RAW, ROOT
from .ctgov_server import FakeCtgov, Fault, fast_client, nct, real_studies, study_field_paths

STUDIES = real_studies()
IDS = [nct(s) for s in STUDIES]
TS = "2023-06-29T00:00:00"


@pytest.fixture
def api():
    with FakeCtgov(STUDIES, TS) as server:
        yield server


client = fast_client  # no pause between requests, short timeouts (tests/ctgov_server.py)


@pytest.fixture(scope="module")
def query():
    return load_query()


# -- 403 is a refusal ----------------------------------------------------------------------------


def test_a_persistent_403_is_one_retry_then_a_refusal_that_says_what_to_do(api, query):
    api.always["version"] = api.always["studies"] = Fault("refuse")
    t0 = time.monotonic()
    with Client(api.url) as c, pytest.raises(ApiRefusedError) as err:  # the real defaults
        fetch_full(c, query)
    took = time.monotonic() - t0
    assert took < 10  # it was six attempts and about 32 s
    assert [r.path for r in api.log] == ["/api/v2/version"] * 2  # one retry, nothing after
    text = str(err.value)
    assert "refused this client: HTTP 403 to GET /version, again after one retry;" in text
    assert "bot protection" in text
    assert "trialmap import" in text and "bulk download" in text
    assert "busy" not in text and "try again later" not in text
    assert "\n" not in text


def test_at_most_one_403_retry_per_client(api, query):
    api.add_fault(Fault("refuse"), endpoint="version")  # the first answer only
    api.always["studies"] = Fault("refuse")
    with client(api.url) as c, pytest.raises(ApiRefusedError, match="HTTP 403 to page 1 of GET /studies;"):
        fetch_full(c, query)
    assert [r.path.rsplit("/", 1)[1] for r in api.log] == ["version", "version", "studies"]


def test_the_retry_after_a_403_goes_over_tls_1_2_and_succeeds_when_only_tls_1_3_is_refused(query):
    # A block keyed on the TLS fingerprint: 403 to TLS 1.3 clients, normal answers to TLS 1.2.
    with FakeCtgov(STUDIES, TS, tls=True) as api:
        api.always["version"] = api.always["studies"] = Fault("refuse-tls13")
        session = make_session()
        session.verify = api.cafile  # the throw-away certificate (the environment may name a CA bundle)
        session.trust_env = False
        with client(api.url, session=session) as c:
            run = fetch_full(c, query, page_size=20)
            assert c.tls12
        assert api.tls_versions == ["TLSv1.3"] + ["TLSv1.2"] * 4  # /version twice, 3 pages
    assert sorted(run.full.nct_ids) == sorted(IDS)
    adapter = session.get_adapter(api.url)
    ctx = adapter.poolmanager.connection_pool_kw["ssl_context"]
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2


def test_a_refusal_over_tls_1_2_too_names_both_attempts(query):
    with FakeCtgov(STUDIES, TS, tls=True) as api:
        api.always["version"] = Fault("refuse")
        session = make_session()
        session.verify = api.cafile  # the throw-away certificate (the environment may name a CA bundle)
        session.trust_env = False
        with client(api.url, session=session) as c, pytest.raises(
            ApiRefusedError, match=r"again after one retry over TLS 1\.2 at most"
        ):
            c.version()
        assert api.tls_versions == ["TLSv1.3", "TLSv1.2"]


def test_429_retry_after_is_still_honoured_and_is_not_counted_against_the_deadline(api, query):
    api.add_fault(Fault("status", 429, {"Retry-After": "2"}))
    with client(api.url, deadline=1.0) as c:
        paged = c.fetch(query, page_size=50)
    reqs = api.requests_to("studies")
    assert len(reqs) == 2 and len(paged.nct_ids) == 50
    assert reqs[1].at - reqs[0].at >= 1.95


def test_user_agent_names_trialmap_and_its_project_url_not_the_http_library(api):
    with client(api.url) as c:
        c.version()
    assert f"trialmap/{trialmap.__version__} (+{PROJECT_URL})" == USER_AGENT
    assert api.log[0].headers["User-Agent"] == USER_AGENT
    assert "python" not in USER_AGENT.lower() and "requests" not in USER_AGENT.lower()
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert PROJECT_URL in urls.values()


def test_cli_falls_back_on_a_refusal_and_require_fresh_makes_it_an_error(tmp_path, capsys):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(RAW / BUNDLED_ID, d / "raw" / BUNDLED_ID)
    with FakeCtgov(STUDIES, TS) as api:
        api.always["version"] = api.always["studies"] = Fault("refuse")
        argv = ["--data-dir", str(d), "--api-url", api.url, "--min-interval", "0"]
        assert main([*argv, "--require-fresh", "-q"]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("trialmap: error: the ClinicalTrials.gov API at") and "HTTP 403" in line
        assert not (d / "processed").exists()
        assert main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    line = next(ln for ln in err if "HTTP 403" in ln)
    assert line.endswith(f"processing the local snapshot {BUNDLED_ID} instead")
    prov = json.loads((d / "processed" / BUNDLED_ID / "provenance.json").read_text())
    assert prov["fetch"]["fallback"] is True and "refused this client" in prov["fetch"]["error"]
    assert sorted(p.name for p in (d / "raw").iterdir()) == [BUNDLED_ID]


# -- bounded responses ---------------------------------------------------------------------------


def test_defaults_are_generous_and_documented():
    assert MAX_BYTES == 256 * 2**20 and DEADLINE == 90.0
    c = Client()
    assert (c.max_bytes, c.deadline) == (MAX_BYTES, DEADLINE)
    c.close()
    for bad in ({"deadline": 0}, {"max_bytes": 0}, {"max_bytes": -1}):
        with pytest.raises(ValueError, match=next(iter(bad)) + "="):
            Client(**bad)


def test_an_endless_body_stops_at_the_byte_limit(api, query):
    api.always["studies"] = Fault("endless")
    t0 = time.monotonic()
    with client(api.url, max_bytes=2_000_000, deadline=30) as c, pytest.raises(
        ResponseTooLargeError, match=r"page 1 of GET /studies .* sent more than the limit of 2,000,000 bytes"
    ):
        c.fetch(query, page_size=50)
    assert time.monotonic() - t0 < 5
    assert len(api.requests_to("studies")) == 1  # no retry and no restart: it would end the same way
    assert c.bytes == 0  # nothing kept


def test_an_announced_body_over_the_limit_is_not_read(api, query):
    with client(api.url, max_bytes=10_000) as c, pytest.raises(ResponseTooLargeError, match="announced"):
        c.fetch(query, page_size=50)


def test_a_trickling_body_ends_at_the_deadline_although_no_read_times_out(api, query):
    # One byte every 0.2 s: each read gets data well within the 1 s read timeout.
    api.always["studies"] = Fault("trickle", delay=0.2)
    t0 = time.monotonic()
    with client(api.url, deadline=2.0) as c, pytest.raises(
        ApiUnavailableError, match=r"did not finish sending page 1 .* deadline of 2 s \(\d+ bytes received\)"
    ):
        c.fetch(query, page_size=50)
    took = time.monotonic() - t0
    assert 1.9 < took < 4
    assert len(api.requests_to("studies")) == 1


def test_with_an_injected_plain_session_the_deadline_is_checked_after_every_read(api, query):
    import requests

    api.always["studies"] = Fault("trickle", delay=0.2)
    t0 = time.monotonic()
    with client(api.url, session=requests.Session(), deadline=1.5) as c, pytest.raises(
        ApiUnavailableError, match=r"deadline of 1\.5 s"
    ):
        c.fetch(query, page_size=50)
    assert time.monotonic() - t0 < 3.5


def test_the_deadline_also_covers_waiting_for_the_headers(api, query):
    # The server says nothing for 5 s; the read timeout (10 s) would wait, the deadline does not.
    api.add_fault(Fault("delay", delay=5))
    t0 = time.monotonic()
    with client(api.url, deadline=1.0, timeout=(1.0, 10.0)) as c, pytest.raises(
        ApiUnavailableError, match="deadline of 1 s"
    ):
        c.fetch(query, page_size=50)
    assert time.monotonic() - t0 < 2.5
    assert len(api.requests_to("studies")) == 1  # a passed deadline is not retried


def test_a_normal_fetch_is_not_affected_by_the_watchdog(api, query):
    with client(api.url, deadline=5.0) as c:
        paged = c.fetch(query, page_size=7)
    assert [i for p in paged.pages for i in p.nct_ids] == IDS


def test_cli_on_an_endless_server_is_one_line_and_no_snapshot(tmp_path, capsys, monkeypatch):
    # The CLI builds its own Client: make the defaults small for this test.
    import trialmap.client as fetch

    monkeypatch.setattr(fetch, "MAX_BYTES", 1_000_000)
    with FakeCtgov(STUDIES, TS) as api:
        api.always["studies"] = Fault("endless")
        rc = main(["--data-dir", str(tmp_path), "--api-url", api.url, "--min-interval", "0", "-q"])
    assert rc == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "more than the limit of 1,000,000 bytes" in line
    assert not (tmp_path / "raw").exists() or list((tmp_path / "raw").iterdir()) == []


# -- the local server speaks the real API's errors ----------------------------------------------


def test_an_unknown_field_is_http_400_with_the_real_text(api, query):
    bad = parse_query({"query": {"name": "x", "params": {"query.term": "mesenchymal"},
                                 "fields": {"paths": ["protocolSection.identificationModule.nctId",
                                                      "protocolSection.noSuchModule"]}}})
    with client(api.url) as c, pytest.raises(ApiResponseError) as err:
        c.fetch(bad)
    assert "HTTP 400 (Parameter 'fields' contains invalid field name: 'protocolSection.noSuchModule')" in str(
        err.value)
    assert len(api.requests_to("studies")) == 1  # a 400 is not retried


def test_every_field_the_query_asks_for_is_a_spec_study_path_and_the_server_checks_them(query):
    paths = study_field_paths()
    assert set(query.fields) <= paths
    assert "protocolSection.identificationModule.nctIdAliases" in paths
    assert "protocolSection.contactsLocationsModule.locations.geoPoint.lat" in paths  # into a list
    assert "protocolSection.contactsLocationsModule.locations.noSuch" not in paths


def test_an_unknown_parameter_is_http_400_with_the_real_text(api):
    with client(api.url) as c, pytest.raises(ApiResponseError, match=r"HTTP 400 \(`filter\.phase` is unknown "
                                                                      r"parameter\)"):
        c.get("studies", {"format": "json", "filter.phase": "PHASE2"})


def test_filter_ids_also_matches_nct_id_aliases(raw_records, query):
    # A real alias: the classic record NCT00028158 lists NCT00036699 as an NCTIdAlias. Its
    # values, re-encoded in the v2 model (as the scale generator does), carry it as
    # nctIdAliases; no v2 export in tests/data has an alias.
    from trialmap.bench.scale import classic_to_v2

    classic = raw_records["NCT00028158"]
    alias = classic["ProtocolSection"]["IdentificationModule"]["NCTIdAliasList"]["NCTIdAlias"]
    assert alias == ["NCT00036699"]
    study = classic_to_v2(classic)
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = alias
    with FakeCtgov([*STUDIES[:5], study], TS) as api, client(api.url) as c:
        by_alias = c.fetch(query.for_ids(["NCT00036699"]))
        by_id = c.fetch(query.for_ids(["NCT00028158"]))
        neither = c.fetch(query.for_ids(["NCT00000000"]))
    assert by_alias.nct_ids == by_id.nct_ids == {"NCT00028158"}
    assert neither.nct_ids == frozenset()


# -- argument checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "name"), [({"page_size": 0}, "page_size=0"),
                                          ({"page_size": -5}, "page_size=-5"),
                                          ({"page_size": 1001}, "page_size=1001"),
                                          ({"max_studies": 0}, "max_studies=0"),
                                          ({"max_studies": -1}, "max_studies=-1")])
def test_fetch_full_refuses_sizes_out_of_range_naming_the_argument(api, query, kw, name):
    with client(api.url) as c, pytest.raises(ValueError, match=name):
        fetch_full(c, query, **kw)
    assert api.log == []  # checked before any request


@pytest.mark.parametrize("argv", [["--page-size", "0"], ["--page-size", "-5"], ["--page-size", "1001"],
                                  ["--page-size", "ten"], ["--max-studies", "0"], ["--max-studies", "-1"]])
def test_the_parser_checks_page_size_and_max_studies(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}: {argv[1]} is out of range: give 1" in err or (
        f"argument {argv[0]}: {argv[1]!r} is not a whole number" in err)


def test_the_parser_accepts_the_limits():
    a = build_parser().parse_args(["--page-size", "1", "--max-studies", "1"])
    b = build_parser().parse_args(["--page-size", "1000"])
    assert (a.page_size, a.max_studies, b.page_size) == (1, 1, 1000)


def test_pages_stay_byte_identical_with_the_streamed_reader(api, query):
    with client(api.url) as c:
        paged = c.fetch(query, page_size=20)
    sent = [body for path, body in api.sent if path.endswith("/studies")]
    assert [p.body for p in paged.pages] == sent
    assert all(isinstance(p.body, bytes) for p in paged.pages)
    assert list(itertools.chain.from_iterable(p.nct_ids for p in paged.pages)) == IDS
