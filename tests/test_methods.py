"""methods.md text: numbers come from the run; a fetched snapshot states its query and fetch date."""

from __future__ import annotations

from trialmap.methods import methods_markdown


def test_bundled_snapshot_says_where_it_came_from(result):
    text = methods_markdown(result.snapshot.manifest, result.provenance([]))
    assert "not fetched by trialmap but obtained from github.com/jesnyder/meta_map" in text
    assert "through the classic API (retired June 2024) (`GET https://clinicaltrials.gov/api/query/" in text
    assert '"msc-derived exosome" (1 record)' in text  # singular
    assert "## Figure legends" not in text  # no figures passed
    flow = result.flow.set_index("step")["n_remaining"]
    # The definition's own sentences (studyset.step_prose), with this run's numbers.
    assert f"{flow['in_scope']} studied an inflammatory or autoimmune condition of the definition" in text
    assert f"{flow['intervention_confirmed']:,} tested mesenchymal stem/stromal cells" in text


def test_fetched_snapshot_states_query_and_fetch_date_and_unknown_steps(result):
    # Synthetic manifest: the shape a live API v2 fetch records (no such real snapshot is bundled).
    manifest = {
        "source": {"registry": "ClinicalTrials.gov", "api": "API v2: GET https://clinicaltrials.gov/api/v2/studies"},
        "query": {"query.term": "mesenchymal", "filter.overallStatus": "RECRUITING"},
        "registry_data_date": "2025-03-04",
        "fetched_utc": "2025-03-05T10:00:00+00:00",
        "record_count": 1500,
    }
    prov = result.provenance(["--as-of", "2024-01-01"])
    prov["flow"] = {"records_read": 1500, "as_of": 1400, "with_mapped_country": 300}
    text = methods_markdown(manifest, prov)
    assert "fetched by trialmap on 2025-03-05T10:00:00+00:00" in text
    assert "`query.term=mesenchymal`, `filter.overallStatus=RECRUITING`" in text
    assert "(`GET https://clinicaltrials.gov/api/v2/studies`)" in text
    assert "1,400 remained after the step `as_of`" in text
    assert "comprises 300 trials" in text
    assert "command `python -m trialmap.refresh --as-of 2024-01-01`" in text
