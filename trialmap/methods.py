"""A Methods paragraph for a manuscript, generated from one run's own numbers.

:func:`methods_markdown` turns a snapshot manifest and a run's provenance record
(and, optionally, the exported figures) into Markdown: the source, the query
sent, the registry data date and fetch date, the study-set definition and
counting rule, the selection flow counts, the software versions, and a legend
for each figure. The main command writes it as ``methods.md`` beside the tables.
Nothing here is typed by hand: change the run and the text changes with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# How each step of the selection flow reads in prose; other steps are named as they are.
FLOW_PROSE = {
    "unique_records": "{n} had a unique NCT number",
    # "msc_confirmed" is the earlier name of "intervention_confirmed": both read the same.
    "intervention_confirmed": "{n} tested the intervention the definition names (not only a derived product)",
    "msc_confirmed": "{n} tested the intervention the definition names (not only a derived product)",
    "posted_by_as_of": "{n} were first posted on or before the as-of date",
    "study_type": "{n} were interventional",
    "in_scope": "{n} studied a condition in one of the definition's categories",
    "with_site": "{n} listed at least one site",
    "with_mapped_country": "{n} had a site in a country that could be mapped",
}
# Manifest keys a fetcher may use for the time of download, most specific first.
FETCH_KEYS = ("fetched_utc", "fetch_utc", "fetched_at", "fetch_time")


def _n(x: Any) -> str:
    try:
        return f"{int(x):,}"
    except (TypeError, ValueError):
        return str(x)


def _sentence(text: Any) -> str:
    text = str(text)
    return text[:1].upper() + text[1:]


def _records(n: Any) -> str:
    return f"{_n(n)} record" + ("" if str(n) == "1" else "s")


def _query_text(manifest: Mapping[str, Any]) -> str:
    source = manifest.get("source") or {}
    query = manifest.get("query") or {}
    api = str(source.get("api") or "") if isinstance(source, Mapping) else ""
    if isinstance(query, Mapping) and isinstance(query.get("expressions"), Mapping):
        terms = ", ".join(f'"{k}" ({_records(v)})' for k, v in query["expressions"].items())
        text = f"with the search expressions {terms}"
        if query.get("description"):
            text += f" ({query['description']})"
    elif isinstance(query, Mapping) and query:
        text = "with the query " + ", ".join(f"`{k}={v}`" for k, v in query.items())
    elif query:
        text = f"with the query `{query}`"
    else:
        text = "with an unrecorded query"
    if api:
        # "classic API (retired June 2024): GET https://..." -> the request as code
        head, sep, request = api.partition(": ")
        api = f"{head} (`{request}`)" if sep and request.split(" ")[0] in {"GET", "POST"} else api
        text = f"through the {api} {text}"
    return text


def _fetch_text(manifest: Mapping[str, Any]) -> str:
    for key in FETCH_KEYS:
        if manifest.get(key):
            return f"fetched by trialmap on {manifest[key]}"
    source = manifest.get("source") or {}
    origin = source.get("obtained_from") if isinstance(source, Mapping) else None
    created = manifest.get("created_utc")
    if origin:
        text = f"not fetched by trialmap but obtained from {origin}"
        return text + (f", stored as a snapshot on {str(created)[:10]}" if created else "")
    return f"stored as a snapshot on {str(created)[:10]}" if created else "of unrecorded fetch date"


def _flow_text(flow: Mapping[str, Any], prose: Mapping[str, str] | None = None) -> str:
    prose = {**FLOW_PROSE, **(prose or {})}
    steps = list(flow.items())
    if not steps:
        return "No selection flow was recorded."
    text = f"Of {_n(steps[0][1])} records read"
    phrases = [
        prose.get(step, "{n} remained after the step `" + step + "`").format(n=_n(n))
        for step, n in steps[1:]
    ]
    return text + (", " + "; ".join(phrases) if phrases else "") + "."


def methods_markdown(
    manifest: Mapping[str, Any],
    provenance: Mapping[str, Any],
    figures: Iterable[Any] = (),
) -> str:
    """Markdown for a manuscript's Methods, with every number taken from the run.

    Parameters
    ----------
    manifest
        The snapshot's manifest (``Snapshot.manifest``): source, query, dates.
    provenance
        The run's provenance record (as written to ``provenance.json``):
        snapshot, definition, counting rule, flow counts, versions.
    figures
        The exports of the figures (:class:`trialmap.figures.export.Export`);
        each figure's legend is listed once under "Figure legends" (the 89 mm
        version shares the 183 mm version's legend).

    Returns
    -------
    str
        Markdown text ending with a newline.
    """
    snap = provenance.get("snapshot", {})
    d = provenance.get("definition", {})
    flow = provenance.get("flow", {})
    env = provenance.get("environment", {})
    dates = manifest.get("registry_data_dates") or {}
    date = snap.get("registry_data_date") or manifest.get("registry_data_date", "unknown")
    date_detail = ""
    if len(dates) > 1:
        date_detail = " (records dated " + ", ".join(f"{k}: {_n(v)}" for k, v in dates.items()) + ")"
    registry = (manifest.get("source") or {}).get("registry", "ClinicalTrials.gov")
    files = snap.get("files") or manifest.get("files") or []
    file_text = ", ".join(f"`{f['name']}` (SHA-256 {str(f['sha256'])[:12]}…)" for f in files)
    n_records = manifest.get("record_count", next(iter(flow.values()), "?"))
    switches = d.get("switches") or {}
    switch_text = (
        " Judgement calls named in the definition: "
        + ", ".join(f"{k} {'included' if v else 'excluded'}" for k, v in switches.items()) + "."
        if switches else ""
    )
    final = list(flow.values())[-1] if flow else "?"
    versions = ", ".join(
        f"{k} {v}" for k, v in (("Python", env.get("python")), ("pandas", env.get("pandas"))) if v
    )
    command = " ".join(provenance.get("command_line") or [])

    lines = [
        "# Methods: trial data, study selection and counting",
        "",
        f"*Generated by trialmap {provenance.get('trialmap_version', '?')} on "
        f"{str(provenance.get('created_utc', ''))[:10]} from snapshot `{snap.get('id', '?')}`. Every number "
        "below comes from this run; edit the wording, not the numbers.*",
        "",
        f"**Data source.** Trial records came from {registry} (U.S. National Library of Medicine), "
        f"registry data date {date}{date_detail}. They were retrieved {_query_text(manifest)}, and were "
        f"{_fetch_text(manifest)}. The snapshot `{snap.get('id', '?')}` holds {_n(n_records)} records in "
        f"{file_text or 'its files'}; it is kept unchanged and every file is checked against its SHA-256 "
        "before use.",
        "",
        f"**Study selection.** Records were selected with the study-set definition \"{d.get('name', '?')}\" "
        f"version {d.get('version', '?')}. {_flow_text(flow, d.get('step_prose'))} The study set therefore "
        f"comprises {_n(final)} "
        f"trials.{switch_text} The inclusion log (`inclusion_log.csv`) gives the step at which every record "
        "left and why.",
        "",
        f"**Counting.** {_sentence(provenance.get('counting_rule', 'unknown'))}"
        + ("; a multinational trial therefore counts once in each of its countries"
           if str(provenance.get("counting_rule", "")).startswith("trials per country") else "")
        + ". Sites per country count trial-site pairs. A region "
        "total counts distinct trials with a site anywhere in the region (UN M49 continents; EU27), so it is "
        "not the sum of its countries. Registry country names were mapped to ISO 3166-1 alpha-3 codes with "
        "an explicit table; names that could not be mapped are listed in `unknown_countries.csv`"
        + (f" ({len(provenance['unknown_countries'])} names)." if provenance.get("unknown_countries") else
           " (none in this run).")
        + " World maps use the equal-area Equal Earth projection (EPSG:8857), the Europe inset and "
        "regional site maps Lambert azimuthal equal-area projections (Europe: EPSG:3035), with "
        f"{provenance.get('boundaries', 'Natural Earth boundaries')}.",
        "",
        f"**Software.** trialmap {provenance.get('trialmap_version', '?')}"
        + (f" ({versions})" if versions else "")
        + (f", command `{command}`" if command else "")
        + ". Each figure prints a one-line source (registry, registry data date, snapshot id); its legend "
        "below, its file metadata and its JSON sidecar carry the full record (definition and switches, "
        "counting rule, software), and `provenance.json` lists the SHA-256 of every output.",
        "",
    ]
    legends = [
        e for e in figures
        if not str(e.record.get("figure", {}).get("name", "")).endswith("_single")
    ]
    if legends:
        lines += ["## Figure legends", ""]
        for e in legends:
            fig = e.record["figure"]
            lines += [f"**{fig['name']}** ({fig.get('title', '')}). {fig.get('caption', '')}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
