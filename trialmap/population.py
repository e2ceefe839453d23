"""Population per country, for rates: Natural Earth 5.1.1's estimate, vendored.

``trialmap/data/ne_population.csv`` holds ``POP_EST`` and ``POP_YEAR`` of the same
Natural Earth admin-0 file the boundaries come from (public domain), keyed by the
map's iso3. Most estimates are for 2019 (:data:`POP_YEAR`); a few are older, and each
row says its year. Rebuild with ``python -m trialmap.population_build`` (see
``trialmap/data/NATURAL_EARTH.md``).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DATA_FILE = "ne_population.csv"
POP_YEAR = 2019  # the year of most estimates (222 of 238 countries)
CREDIT = "Natural Earth 5.1.1 POP_EST (public domain)"


def load_population() -> pd.DataFrame:
    """``iso3``, ``name``, ``pop_est``, ``pop_year`` per country (238 rows).

    Returns
    -------
    DataFrame
        One row per iso3 of the vendored file.
    """
    import pandas as pd

    with resources.files("trialmap").joinpath("data", DATA_FILE).open("rb") as fh:
        df = pd.read_csv(fh, dtype={"iso3": "string", "name": "string"})
    return df.astype({"pop_est": "int64", "pop_year": "int64"})
