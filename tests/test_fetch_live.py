"""Against the REAL clinicaltrials.gov API: opt-in only (``pytest -m live``), deselected by default.

These machines cannot reach the API; run this where they can, to confirm that the
real server accepts the declared query and ``fields=`` paths and that its pages
give the same tables as the local test server's reading of the protocol.
"""

from __future__ import annotations

import pytest

from trialmap.client import DEFAULT_API_URL, Client, fetch_full
from trialmap.query import load_query, parse_query

pytestmark = pytest.mark.live


def test_real_api_version_and_a_small_checked_fetch(tmp_path):
    from trialmap.snapshot import write_fetched
    from trialmap.sources import read_snapshot

    q = load_query()
    # A narrow real query (one known MSC product) so the live test stays small.
    small = parse_query({"query": {"name": "live-test", "params": {"query.intr": "remestemcel"},
                                   "fields": {"paths": list(q.fields)}}})
    with Client(DEFAULT_API_URL) as c:
        run = fetch_full(c, small, page_size=5)
    assert run.version["apiVersion"].startswith("2.") and len(run.registry_data_date) == 10
    assert run.full.total_count == len(run.full.nct_ids) > 0
    tables = read_snapshot(write_fetched(tmp_path, run))
    assert len(tables.studies) == run.full.total_count
    assert tables.studies["registry_data_date"].notna().all()
