"""The API v2 client against a real local HTTP server serving real v2 records, with faults injected.

The server (tests/ctgov_server.py) serves the 50 real study records of the
website JSON export ctg-studies-50.json in the API's page envelope. Faults
(HTTP errors, dropped connections, slow answers, broken bodies, counts or tokens
that do not add up) are synthetic by nature: no real recording of them exists.
Backoff and rate intervals are injected tiny so the matrix runs in seconds.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from trialmap.client import USER_AGENT, Client, fetch_full
from trialmap.errors import ApiResponseError, ApiUnavailableError, QueryError, TooManyStudiesError
from trialmap.query import STUDIES_PARAMETERS, load_query, parse_query

from .conftest import closed_port_url
from .ctgov_server import FakeCtgov, Fault, fast_client, load_spec, nct, real_studies, spec_parameters

STUDIES = real_studies()
IDS = [nct(s) for s in STUDIES]
DATA_TS = "2023-06-29T00:00:00"  # the records' versionHolder is 2023-06-29


@pytest.fixture
def api():
    with FakeCtgov(STUDIES, DATA_TS) as server:
        yield server
        # Whatever a test did, every request used only parameters the specification defines.
        assert server.undefined_parameters() == set()


client = fast_client  # no pause between requests, short timeouts (tests/ctgov_server.py)


@pytest.fixture(scope="module")
def query():
    return load_query()


def _ids(paged):
    return [i for p in paged.pages for i in p.nct_ids]


# -- the query ---------------------------------------------------------------------------------


def test_query_parameters_are_the_specifications():
    assert spec_parameters("/studies") == STUDIES_PARAMETERS
    assert "filter.phase" not in STUDIES_PARAMETERS


def test_every_field_asked_for_is_a_field_of_the_specifications_study_schema(query):
    schemas = load_spec()["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    for path in query.fields:
        node = schemas["Study"]
        for part in path.split("."):
            node = resolve(node)
            if node.get("type") == "array":
                node = resolve(node["items"])
            assert part in node.get("properties", {}), f"{path}: no {part!r}"
            node = node["properties"][part]


def test_query_file_rejects_parameters_the_api_does_not_define(tmp_path):
    raw = {"query": {"name": "x", "params": {"query.term": "mesenchymal", "filter.phase": "PHASE2"}}}
    with pytest.raises(QueryError, match=r"filter\.phase is not a GET /studies parameter"):
        parse_query(raw)
    raw["query"]["params"] = {"pageToken": "abc"}
    with pytest.raises(QueryError, match="set by trialmap itself"):
        parse_query(raw)
    bad = tmp_path / "q.toml"
    bad.write_text("[query\n")
    with pytest.raises(QueryError, match="not valid TOML"):
        load_query(bad)


def test_incremental_window_goes_through_filter_advanced(query):
    p = query.since("2023-06-28").request_params()
    assert p["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2023-06-28,MAX]"
    assert set(p) <= STUDIES_PARAMETERS


# -- paging ------------------------------------------------------------------------------------


def test_paging_across_several_pages_repeats_the_first_pages_parameters(api, query):
    with client(api.url) as c:
        run = fetch_full(c, query, page_size=12)
    paged = run.full
    assert [len(p.nct_ids) for p in paged.pages] == [12, 12, 12, 12, 2]
    assert _ids(paged) == IDS and paged.total_count == 50
    assert run.version == {"apiVersion": "2.0.5", "dataTimestamp": DATA_TS}
    assert run.requests == len(paged.pages) + 1  # GET /version + one request per page
    reqs = api.requests_to("studies")
    first = dict(reqs[0].params)
    assert first["countTotal"] == "true" and "pageToken" not in first
    for r in reqs[1:]:
        later = dict(r.params)
        assert "countTotal" not in later and later["pageToken"]
        assert {k: v for k, v in later.items() if k != "pageToken"} == {
            k: v for k, v in first.items() if k != "countTotal"
        }
    assert all(r.headers["User-Agent"] == USER_AGENT for r in api.log)
    assert "trialmap/" in USER_AGENT
    # URL-encoded by the HTTP library: the server decoded the exact Essie expression back.
    assert first["query.term"] == query.params["query.term"]


def test_an_empty_last_page_is_accepted(query):
    with FakeCtgov(STUDIES, DATA_TS, empty_last_page=True) as api, client(api.url) as c:
        paged = c.fetch(query, page_size=25)
    assert [len(p.nct_ids) for p in paged.pages] == [25, 25, 0]
    assert len(paged.nct_ids) == 50 and paged.pages[-1].next_page_token is None


def test_server_page_size_cap_is_respected_by_following_tokens(query):
    # pageSize larger than the server allows is coerced down: more pages than asked for.
    with FakeCtgov(STUDIES, DATA_TS, max_page_size=20) as api, client(api.url) as c:
        paged = c.fetch(query, page_size=1000)
    assert [len(p.nct_ids) for p in paged.pages] == [20, 20, 10]


def test_size_guard_refuses_a_huge_result_with_advice(api, query):
    with client(api.url) as c, pytest.raises(TooManyStudiesError, match=r"narrow it in .*--max-studies"):
        c.fetch(query, page_size=10, max_studies=49)
    assert len(api.requests_to("studies")) == 1  # counted on the first page, then stopped


def test_rate_limit_spaces_requests(api, query):
    with client(api.url, min_interval=0.2) as c:
        c.fetch(query, page_size=20)
    times = [r.at for r in api.requests_to("studies")]
    assert len(times) == 3
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.18


# -- the fault matrix --------------------------------------------------------------------------


def test_429_with_retry_after_waits_as_told(api, query):
    api.add_fault(Fault("status", 429, {"Retry-After": "1"}))
    with client(api.url) as c:
        paged = c.fetch(query, page_size=50)
    reqs = api.requests_to("studies")
    assert len(reqs) == 2 and len(paged.nct_ids) == 50
    assert reqs[1].at - reqs[0].at >= 0.95  # honoured Retry-After: 1, not the 0.01 s backoff


def test_429_without_retry_after_backs_off_exponentially(api, query):
    api.add_fault(Fault("status", 429), times=3)
    with client(api.url, backoff_factor=0.1) as c:
        paged = c.fetch(query, page_size=50)
    t = [r.at for r in api.requests_to("studies")]
    assert len(t) == 4 and len(paged.nct_ids) == 50
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_then_success(api, query, status):
    api.add_fault(Fault("status", status), times=2)
    with client(api.url) as c:
        paged = c.fetch(query, page_size=20)
    assert _ids(paged) == IDS
    assert len(api.requests_to("studies")) == 3 + 2


def test_connection_dropped_mid_body_restarts_paging_from_page_1(api, query):
    # Pages 1 and 2 are fine, the body of page 3 is cut off half-way (Content-Length not met).
    api.faults["studies"].extend([None, None, Fault("drop")])
    with client(api.url) as c:
        paged = c.fetch(query, page_size=20)
        assert c.restarts == 1
    assert _ids(paged) == IDS
    tokens = [dict(r.params).get("pageToken") for r in api.requests_to("studies")]
    assert len(tokens) == 3 + 3
    assert tokens[0] is None and tokens[3] is None  # page tokens are not reused: back to page 1


def test_read_timeout_is_retried(api, query):
    api.add_fault(Fault("delay", delay=1.5))
    with client(api.url, timeout=(1.0, 0.5)) as c:
        paged = c.fetch(query, page_size=50)
    assert _ids(paged) == IDS and len(api.requests_to("studies")) == 2


@pytest.mark.parametrize("kind", ["truncate", "html"])
def test_invalid_json_body_restarts_then_succeeds(api, query, kind):
    api.faults["studies"].extend([None, Fault(kind)])
    with client(api.url) as c:
        paged = c.fetch(query, page_size=20)
        assert c.restarts == 1
    assert _ids(paged) == IDS


def test_invalid_json_that_persists_fails_cleanly(api, query):
    api.always["studies"] = Fault("truncate")
    with client(api.url) as c, pytest.raises(ApiResponseError, match="page 1 of GET /studies is not valid"):
        c.fetch(query, page_size=20)
    assert len(api.requests_to("studies")) == 3  # first try + 2 restarts


def test_total_count_mismatch_is_an_error(api, query):
    api.always["studies"] = Fault("total", extra=1)
    with client(api.url) as c, pytest.raises(ApiResponseError, match=r"received 50 .* totalCount 51"):
        c.fetch(query, page_size=20)


def test_repeated_page_token_is_an_error_not_a_loop(api, query):
    api.always["studies"] = Fault("repeat")
    with client(api.url) as c, pytest.raises(ApiResponseError, match=r"page token .* twice"):
        c.fetch(query, page_size=20)
    assert len(api.requests_to("studies")) == 2 * 3  # page 2 hands back its own token; 3 attempts


def test_a_server_that_never_recovers_fails_with_one_clear_error(api, query):
    api.always["studies"] = Fault("status", 503)
    t0 = time.monotonic()
    with client(api.url) as c, pytest.raises(ApiUnavailableError, match=r"HTTP 503 .*6 attempts.*try again"):
        c.fetch(query, page_size=20)
    assert len(api.requests_to("studies")) == 6  # 1 + 5 status retries: bounded
    assert time.monotonic() - t0 < 5


def test_a_rejected_request_is_not_retried(api, query):
    bad = parse_query({"query": {"name": "x", "params": {"filter.advanced": "AREA[Phase]PHASE2"}}})
    with client(api.url) as c, pytest.raises(ApiResponseError, match="HTTP 400"):
        c.fetch(bad)
    assert len(api.requests_to("studies")) == 1


def test_unreachable_api_fails_fast():
    t0 = time.monotonic()
    with Client(closed_port_url(), min_interval=0.0) as c, pytest.raises(
        ApiUnavailableError, match=r"cannot reach .*connection refused"
    ):
        c.version()
    assert time.monotonic() - t0 < 3  # one connection retry after 1 s, not minutes


def test_a_version_answer_that_is_not_the_api_is_named(api):
    api.add_fault(Fault("html"), endpoint="version")
    with client(api.url) as c, pytest.raises(ApiResponseError, match="is --api-url an API v2 base URL"):
        c.version()


def test_unknown_parameters_are_refused_by_the_local_server(api):
    # The server enforces the specification, so the fixture's final assertion is not vacuous.
    with client(api.url) as c, pytest.raises(ApiResponseError, match=r"`filter\.phase` is unknown parameter"):
        c.get("studies", {"filter.phase": "PHASE2"})
    assert api.undefined_parameters() == {("studies", "filter.phase")}
    api.log.clear()


def test_pages_are_kept_exactly_as_received(api, query):
    with client(api.url) as c:
        paged = c.fetch(query, page_size=20)
    assert [p.body for p in paged.pages] == [body for path, body in api.sent if path.endswith("/studies")]
    first = json.loads(paged.pages[0].body)
    assert first["totalCount"] == 50 and len(first["studies"]) == 20
