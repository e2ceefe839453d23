"""Benchmark the fetcher against the local API test server (run from the repository root).

``python -m trialmap.bench fetch [--export FILE] [--page-size N]`` starts the
test suite's local API v2 server (tests/ctgov_server.py, needs the test extras)
serving the REAL records of a website JSON export, and prints:

1. a full fetch with the declared ``fields=`` versus the same fetch without
   ``fields=`` (full records): requests, pages, bytes received, ratio;
2. an incremental refresh where the smallest real share of studies changed
   (the studies whose last update was posted on the newest update date: the
   base state is the real subset updated before it): requests and bytes
   against the full fetch;
3. for context, the same byte ratio for the records with at most 3 sites, and
   the median number of sites per record in the bundled MSC snapshot (MSC
   trials have few sites; the 50-record export is dominated by multinational
   trials with 42 sites on average, and sites are most of a limited record).

Targets (issue 3): requests <= pages + 2; bytes with fields <= 15% of full
records; incremental requests growing with the changed studies.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


def _server():
    root = Path.cwd()
    if not (root / "tests" / "ctgov_server.py").is_file():
        msg = "run from the repository root (needs tests/ctgov_server.py and the test extras)"
        msg_0 = f"trialmap.bench fetch: {msg}"
        raise SystemExit(msg_0)
    sys.path.insert(0, str(root))
    from tests import ctgov_server

    return ctgov_server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trialmap.bench fetch", description=__doc__.split("\n\n")[0])
    p.add_argument("--export", type=Path, default=Path("tests/data/ctgov/ctg-studies-50.json"))
    p.add_argument("--page-size", type=int, default=10,
                   help="studies per page (default 10, so 50 studies make several pages)")
    args = p.parse_args(argv)

    srv = _server()
    from trialmap.client import Client, fetch_changes, fetch_full
    from trialmap.query import Query, load_query

    studies = json.loads(args.export.read_text(encoding="utf-8"))
    n = len(studies)
    ts = max(s["derivedSection"]["miscInfoModule"]["versionHolder"] for s in studies) + "T00:00:00"
    q = load_query()
    no_fields = Query(q.name, q.version, q.description, q.params, (), q.page_size, q.max_studies, q.source)
    size = args.page_size

    def full(query: Query, data: list) -> tuple:
        with srv.FakeCtgov(data, ts) as api, Client(api.url, min_interval=0.0) as c:
            t0 = time.perf_counter()
            run = fetch_full(c, query, page_size=size)
            return run, time.perf_counter() - t0

    print(f"{n} real studies from {args.export}, page size {size}")  # noqa: T201
    with_f, t_with = full(q, studies)
    without, t_without = full(no_fields, studies)
    pages = len(with_f.full.pages)
    print(  # noqa: T201
        f"full fetch, fields=      {with_f.requests:4d} requests ({pages} pages + /version; target <= "
        f"{pages + 2}), {with_f.bytes:>10,} bytes, {t_with:.2f} s\n"
        f"full fetch, no fields=   {without.requests:4d} requests, {without.bytes:>10,} bytes, "
        f"{t_without:.2f} s\n"
        f"bytes with fields / without: {with_f.bytes / without.bytes:.1%} (target <= 15%)"
    )

    # Incremental: the newest update date's studies changed, the rest is the base.
    def upd(s: dict) -> str:
        return s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]

    newest = max(upd(s) for s in studies)
    base_state = [s for s in studies if upd(s) < newest]
    changed = n - len(base_state)
    with srv.FakeCtgov(studies, ts) as api, Client(api.url, min_interval=0.0) as c:
        have = {s["protocolSection"]["identificationModule"]["nctId"] for s in base_state}
        inc = fetch_changes(c, q, newest, have, page_size=size)
    print(  # noqa: T201
        f"incremental, {changed} of {n} changed ({changed / n:.0%}; the smallest real change here): "
        f"{inc.requests} requests (/version + {len(inc.membership.pages)} id page(s) + "
        f"{len(inc.changed.pages)} changed page(s) + {sum(len(f.pages) for f in inc.filled)} by id), "
        f"{inc.bytes:,} bytes = {inc.bytes / with_f.bytes:.1%} of the full fetch's bytes, "
        f"{inc.requests / with_f.requests:.2f}x its requests"
    )
    ids_bytes = sum(len(p.body) for p in inc.membership.pages)
    print(  # noqa: T201
        f"  the id listing costs {ids_bytes / n:.0f} bytes per study and ceil(N/1000) requests: "
        f"for N = 1,500 studies and 1% changed: 1 + {math.ceil(1500 / 1000)} + 1 = "
        f"{1 + math.ceil(1500 / 1000) + 1} requests versus {1 + math.ceil(1500 / 1000)} for a full fetch"
    )

    few = [s for s in studies if len(s["protocolSection"].get("contactsLocationsModule", {})
                                      .get("locations", [])) <= 3]
    if few:
        lim = sum(len(json.dumps(srv.project(s, list(q.fields)), separators=(",", ":"))) for s in few)
        allb = sum(len(json.dumps(s, separators=(",", ":"))) for s in few)
        print(  # noqa: T201
            f"records with <= 3 sites ({len(few)} of {n}): fields= bytes {lim / allb:.1%} of full records"
        )
    try:
        from trialmap.snapshot import open_snapshot
        from trialmap.sources import read_snapshot

        t = read_snapshot(open_snapshot(None, Path("data/raw")))
        per = t.sites.groupby("nct_id").size().reindex(t.studies["nct_id"], fill_value=0)
        print(  # noqa: T201
            f"bundled MSC snapshot: median {per.median():.0f} site(s) per record, "
            f"{(per <= 3).mean():.0%} of records have <= 3 sites"
        )
    except Exception as exc:
        print(f"(bundled snapshot not read: {exc})")  # noqa: T201
    return 0
