"""trialmap: where do clinical trials of a therapy take place.

ClinicalTrials.gov snapshots -> canonical tables -> study set -> geocoded sites
-> counts per country and region -> publication-ready figures. In a notebook::

    import trialmap as tm
    run = tm.run()          # the newest local snapshot, else the bundled one
    run                     # snapshot, definition, flow, top five countries
    run.figure1()
    run.export("figure1")

The names below are imported on first use, so ``import trialmap`` loads no
pandas, geopandas or matplotlib.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> module that defines it
_EXPORTS = {
    "run": "trialmap.pipeline",
    "Run": "trialmap.pipeline",
    "fetch": "trialmap.pipeline",
    "open_snapshot": "trialmap.pipeline",
    "list_snapshots": "trialmap.pipeline",
    "load_definition": "trialmap.pipeline",
    "list_definitions": "trialmap.pipeline",
    "data_dir": "trialmap.paths",
    "Snapshot": "trialmap.snapshot",
    "Definition": "trialmap.studyset",
    "CountingRule": "trialmap.aggregate",
    "TrialmapError": "trialmap.errors",
    "figure1": "trialmap.figures",
    "sitemap": "trialmap.figures",
    "regions_bar": "trialmap.figures",
    "timeline": "trialmap.figures",
    "change_map": "trialmap.figures",
    "flow_diagram": "trialmap.figures.flow",
    "export_figure": "trialmap.figures",
    "write_figures": "trialmap.figures.suite",
}

__all__ = ["__version__", *_EXPORTS]


def _version() -> str:
    # importlib.metadata costs ~40 ms (it parses e-mail headers): read it on first use only.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trialmap")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    msg = f"module 'trialmap' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)
