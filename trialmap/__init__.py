"""trialmap: where do clinical trials of a therapy take place?

ClinicalTrials.gov snapshots -> canonical tables -> study set -> geocoded sites
-> counts per country and region -> publication-ready figures.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trialmap")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
