"""Study-set definitions: the TOML format, its checks, and the shipped definitions.

A definition says which records form the study set, in four parts:

``[definition]``
    ``name``, ``version``, ``title`` (what the set is, in words: every text the
    study-set layer generates uses it), ``description``, ``study_types`` and
    ``scope`` (the conditions in scope, in words, e.g. "inflammatory or
    autoimmune disease"; "any condition" when there are no categories).
``[intervention]``
    The intervention rule: ``name`` (short, for texts: "MSC"), ``label`` (long:
    "mesenchymal stem/stromal cells"), ``patterns`` and ``products`` (what names
    the intervention in an intervention's name, other names or the title),
    ``description_patterns`` (stricter, for intervention descriptions),
    ``title_patterns`` (what in a title confirms a study with no qualifying
    intervention; default ``patterns`` and ``products``),
    ``not_cells`` (phrases blanked before matching), ``other_products`` (products
    that contain such cells but are something else), ``derived_products``
    (cell-free derivatives; switch ``derived_products``) and ``not_treatments``
    (sample collection). The v2 section name ``[msc]`` (with ``cell_patterns``)
    is still read.
``[conditions]`` and ``[categories.*]``
    Condition categories with free group names (``group``), each with MeSH
    descriptor ids, keyword patterns and ``not_if`` patterns, plus the
    definition-wide ``outside`` patterns; see :mod:`trialmap.studyset.rule` for
    how the evidence is weighed. A definition without categories takes any
    condition.
``[switches]``
    Named judgement calls a category (or ``derived_products``) depends on.

Three definitions ship with trialmap (:func:`list_definitions`); any other
file is loaded by path.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from trialmap.errors import DefinitionError

DEFAULT = "msc-inflammatory-autoimmune"
_MESH_RE = re.compile(r"^D\d{6}(?:\d{3})?$")
_STUDY_TYPES = {"INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

_ALLOWED = {
    "definition": {"name", "version", "description", "title", "scope", "study_types"},
    "intervention": {
        "name", "label", "patterns", "description_patterns", "title_patterns", "products", "not_cells",
        "other_products", "derived_products", "not_treatments", "study_types",
    },
    "conditions": {"outside", "groups"},
    "category": {"label", "group", "mesh", "keywords", "not_if", "switch", "fallback"},
}
# v2 spelling of the intervention section and its keys.
_V2_KEYS = {"cell_patterns": "patterns"}


def normalize_mesh_id(mesh_id: Any) -> str | None:
    """MeSH descriptor ids in 9-digit form: D006086 -> D000006086 (classic API style)."""
    if mesh_id is None:
        return None
    try:
        if mesh_id != mesh_id:  # NaN / <NA>
            return None
    except TypeError:  # pd.NA compares ambiguously
        return None
    mesh_id = str(mesh_id).strip()
    if re.fullmatch(r"D\d{6}", mesh_id):
        return "D000" + mesh_id[1:]
    return mesh_id


@dataclass(frozen=True)
class Category:
    """One condition category of a definition."""

    key: str
    label: str
    group: str
    mesh: tuple[str, ...]
    keywords: tuple[str, ...]
    switch: str | None = None
    fallback: bool = False
    #: Title or condition texts that make this category's match a comorbidity or a
    #: complication (a diabetic foot ulcer trial in type 1 diabetics is not a type 1
    #: diabetes trial): when one is named, the category does not count.
    not_if: tuple[str, ...] = ()


@dataclass(frozen=True)
class Intervention:
    """The intervention rule of a definition."""

    name: str
    label: str
    patterns: tuple[str, ...]
    description_patterns: tuple[str, ...]
    title_patterns: tuple[str, ...]
    products: tuple[str, ...]
    not_cells: tuple[str, ...]
    other_products: tuple[str, ...]
    derived_products: tuple[str, ...]
    not_treatments: tuple[str, ...]


@dataclass(frozen=True, repr=False)
class Definition:
    """A parsed, checked study-set definition."""

    name: str
    version: str
    description: str
    intervention: Intervention
    study_types: tuple[str, ...]
    switches: dict[str, bool]
    categories: tuple[Category, ...]
    source: str = field(default="default")
    #: What the set is, in words, for every generated text (flow labels, figure
    #: captions, methods): e.g. "MSC trials in inflammatory and autoimmune disease".
    title: str = ""
    #: The conditions in scope, in words ("inflammatory or autoimmune disease").
    scope: str = ""
    #: Diseases outside scope: when the title or a condition names one (and no
    #: category), MeSH or keyword-field evidence alone does not bring a study in.
    outside: tuple[str, ...] = ()
    #: Group key -> label, in order of first use.
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def any_condition(self) -> bool:
        """True when the definition has no categories: every condition is in scope."""
        return not self.categories

    def active_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.switch is None or self.switches[c.switch])

    def inactive_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.switch is not None and not self.switches[c.switch])

    def __repr__(self) -> str:
        active = self.active_categories()
        switches = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in self.switches.items())
        cats = (f"{len(active)} of {len(self.categories)} categories active" if self.categories
                else "any condition")
        return (f"<Definition {self.label}: {self.title!r}; intervention {self.intervention.name}; "
                f"{cats}; switches {switches or 'none'}; from {self.source}>")

    # -- generated texts ---------------------------------------------------------------
    def texts(self) -> dict[str, str]:
        """Every phrase the study-set layer writes, built from the definition.

        Keys: ``step.<step>`` (flow-diagram labels), ``prose.<step>`` (methods
        sentences with ``{n}``), ``reason.<kind>`` (inclusion-log reasons).
        """
        iv = self.intervention
        scope = self.scope or "any condition"
        # "inflammatory or autoimmune disease" -> "inflammatory or autoimmune" (category ...)
        groups = re.sub(r"\s+(?:diseases?|conditions?)$", "", scope) if self.categories else "any"
        types = " or ".join(_TYPE_WORDS.get(t, t.lower()) for t in self.study_types)
        return {
            "step.records_read": "Records read from the snapshot",
            "step.unique_records": "Unique records",
            "step.posted_by_as_of": "First posted on or before the as-of date",
            "step.intervention_confirmed": f"{iv.name} intervention confirmed",
            "step.study_type": f"{types.capitalize()} studies",
            "step.in_scope": f"In scope: {scope}",
            "step.with_site": "With at least one site listed",
            "step.with_mapped_country": "With a site in a mapped country\n(trials on the map)",
            "prose.unique_records": "{n} had a unique NCT number",
            "prose.intervention_confirmed": f"{{n}} tested {iv.label} ({iv.name}, not a cell-free "
                                            "derivative)",
            "prose.study_type": f"{{n}} were {types}",
            "prose.in_scope": (f"{{n}} studied {_article(groups)} {groups} condition of the definition"
                               if self.categories else "{n} remained (any condition is in scope)"),
            "prose.with_site": "{n} listed at least one site",
            "prose.with_mapped_country": "{n} had a site in a country that could be mapped",
            "reason.no_intervention": f"no {iv.name} intervention or title",
            "reason.sampling": "interventions are sample collection only, not a treatment",
            "reason.derived": f"cell-free derivative of {iv.name} only",
            "reason.derived_title": f"cell-free derivative of {iv.name} only (title)",
            "reason.other_product": f"another cell product, not {iv.name}",
            "reason.no_category": f"no {groups} category matched",
            "reason.comorbidity": "category set aside: the title or conditions name",
            "reason.outside": "MeSH evidence only, while the title or conditions name",
            "reason.keyword_only": "only the keyword list names a category (not the title or conditions)",
        }


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


_TYPE_WORDS = {"INTERVENTIONAL": "interventional", "OBSERVATIONAL": "observational",
               "EXPANDED_ACCESS": "expanded-access"}


class DefinitionInfo(NamedTuple):
    """A shipped definition, as :func:`list_definitions` lists it."""

    name: str
    version: str
    title: str
    path: str


def _definitions_dir():
    return resources.files("trialmap") / "data" / "definitions"


def list_definitions() -> list[DefinitionInfo]:
    """The definitions shipped with trialmap, default first: name, version, title, path.

    Any of the names can be given to :func:`load_definition` (or ``--definition NAME``).
    """
    out = []
    for entry in sorted(_definitions_dir().iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        d = parse_definition(entry.read_text(encoding="utf-8"), entry.name[:-5])
        out.append(DefinitionInfo(d.name, d.version, d.title, str(entry)))
    return sorted(out, key=lambda i: (i.name != DEFAULT, i.name))


def definition_text(name: str = DEFAULT) -> str:
    """The text of a shipped definition (copy it to edit the rule)."""
    entry = _definitions_dir() / f"{name}.toml"
    if not _NAME_RE.match(name) or not entry.is_file():
        names = ", ".join(i.name for i in list_definitions())
        msg = f"no shipped definition named {name!r}; shipped: {names} (or give a TOML file's path)"
        raise DefinitionError(msg)
    return entry.read_text(encoding="utf-8")


def default_definition_text() -> str:
    """The bundled default definition file, as text (copy it to edit the rule)."""
    return definition_text(DEFAULT)


def load_definition(name_or_path: str | Path | None = None) -> Definition:
    """Load and check a study-set definition.

    Parameters
    ----------
    name_or_path : str or Path or None
        ``None``: the default (``msc-inflammatory-autoimmune``); a shipped
        definition's name (see :func:`list_definitions`); or the path of a TOML
        file laid out like the shipped ones.

    Returns
    -------
    Definition

    Raises
    ------
    DefinitionError
        For a name that is neither shipped nor a file, a file that is
        unreadable or not TOML, an unknown or missing key, a value of the wrong
        type, a bad regular expression, an invalid MeSH id or an unknown switch;
        the message names the file and line and what to change.
    """
    if name_or_path is None:
        return parse_definition(default_definition_text(), "default")
    p = Path(name_or_path)
    text_name = str(name_or_path)
    if not p.exists() and _NAME_RE.match(text_name) and (_definitions_dir() / f"{text_name}.toml").is_file():
        where = "default" if text_name == DEFAULT else text_name
        return parse_definition(definition_text(text_name), where)
    if p.is_dir():
        msg = f"definition file {p} is a folder; give a TOML file (`trialmap definition > mine.toml`)"
        raise DefinitionError(msg)
    if not p.is_file():
        names = ", ".join(i.name for i in list_definitions())
        msg = (f"definition {text_name!r} is neither a shipped definition ({names}) nor an existing file; "
               f"write one with `trialmap definition > {p.name}`")
        if p.suffix == ".toml" or p.parent != Path("."):
            msg = (f"definition file {p} does not exist; write one with `trialmap definition > {p.name}` "
                   f"or name a shipped definition ({names})")
        raise DefinitionError(msg)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"definition file {p} cannot be read as UTF-8 text ({exc})"
        raise DefinitionError(msg) from exc
    return parse_definition(text, str(p))


def _line_of(text: str, needle: str, section: str | None = None) -> int:
    """1-based line of ``needle`` in ``text`` (searching from the header of ``section``).

    A line assigning ``needle`` as a key (``needle =``) wins, so that a word
    in a comment is not taken for the key; otherwise the first line holding
    the text. 0 when not found.
    """
    lines = text.splitlines()
    first = 0
    if section is not None:
        header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
        first = next((i for i, line in enumerate(lines) if header.match(line)), 0)
    key_re = re.compile(rf"^\s*[\"']?{re.escape(needle)}[\"']?\s*=")
    for test in (key_re.match, lambda line: needle in line):
        for i in range(first, len(lines)):
            if test(lines[i]):
                return i + 1
    return first + 1 if first else 0


def parse_definition(text: str, where: str = "<string>") -> Definition:
    """Parse definition TOML text; see :func:`load_definition`."""

    def fail(problem: str, needle: str | None = None, section: str | None = None) -> NoReturn:
        line = _line_of(text, needle, section) if needle else 0
        at = f"{where}:{line}" if line else where
        msg = f"{at}: {problem}"
        raise DefinitionError(msg)

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        at = f"{where}:{m.group(1)}" if m else where
        msg = f"{at}: not valid TOML ({exc}); fix the syntax on that line"
        raise DefinitionError(msg) from exc

    known = {"definition", "intervention", "msc", "conditions", "switches", "categories"}
    unknown = set(raw) - known
    if unknown:
        key = sorted(unknown)[0]
        fail(
            f"unknown section [{key}]; expected [definition], [intervention], [conditions], [switches], "
            "[categories.*]",
            f"[{key}",
        )
    if "msc" in raw and "intervention" in raw:
        fail("both [msc] (the v2 name) and [intervention]; keep [intervention]", "[msc]")
    iv_section = "msc" if "msc" in raw else "intervention"
    for section in ("definition", iv_section):
        if section not in raw:
            fail(f"missing section [{section}]")
    for section in ("definition", iv_section, "conditions", "categories"):
        if section in raw and not isinstance(raw[section], dict):
            fail(f"{section} must be a table ([{section}])", section)
    raw_iv = {_V2_KEYS.get(k, k): v for k, v in raw[iv_section].items()}
    for section, values, allowed in (
        ("definition", raw["definition"], _ALLOWED["definition"]),
        (iv_section, raw_iv, _ALLOWED["intervention"]),
        ("conditions", raw.get("conditions", {}), _ALLOWED["conditions"]),
    ):
        extra = set(values) - allowed
        if extra:
            key = sorted(extra)[0]
            names = ", ".join(sorted(allowed))
            fail(f"unknown key {key!r} in [{section}] (allowed: {names})", key, section)
    meta = raw["definition"]
    for key in ("name", "version"):
        if key not in meta:
            fail(f"[definition] needs {key!r}", "[definition]")
        if not isinstance(meta[key], str | int | float):
            fail(f"[definition] {key} must be a string", key, "definition")
    for key in ("title", "description", "scope"):
        if key in meta and not isinstance(meta[key], str):
            fail(f"[definition] {key} must be a string", key, "definition")
    switches = raw.get("switches", {})
    if not isinstance(switches, dict):
        fail("switches must be a table ([switches])", "switches")
    for k, v in switches.items():
        if not isinstance(v, bool):
            fail(f"switch {k!r} must be true or false, not {v!r}", k, "switches")

    def patterns(values: Any, key: str, section: str | None) -> tuple[str, ...]:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            fail(f"{key!r} must be a list of strings", key, section)
        for v in values:
            try:
                re.compile(v)
            except re.error as exc:
                fail(f"bad regular expression {v!r} in {key!r} ({exc})", v, section)
        return tuple(values)

    study_types = meta.get("study_types", raw_iv.get("study_types", ["INTERVENTIONAL"]))
    if not isinstance(study_types, list) or not study_types or not set(study_types) <= _STUDY_TYPES:
        fail(f"study_types must be a list drawn from {sorted(_STUDY_TYPES)}", "study_types")

    for key in ("name", "label"):
        if key in raw_iv and not isinstance(raw_iv[key], str):
            fail(f"[{iv_section}] {key} must be a string", key, iv_section)
    iv_patterns = patterns(raw_iv.get("patterns", []), "patterns" if iv_section != "msc" else "cell_patterns",
                           iv_section)
    iv_products = patterns(raw_iv.get("products", []), "products", iv_section)
    intervention = Intervention(
        name=str(raw_iv.get("name", "MSC" if iv_section == "msc" else "intervention")),
        label=str(raw_iv.get("label", "mesenchymal stem/stromal cells" if iv_section == "msc"
                             else raw_iv.get("name", "the intervention"))),
        patterns=iv_patterns,
        description_patterns=patterns(raw_iv.get("description_patterns", list(iv_patterns)),
                                      "description_patterns", iv_section),
        title_patterns=patterns(raw_iv.get("title_patterns", list(iv_patterns + iv_products)),
                                "title_patterns", iv_section),
        products=iv_products,
        not_cells=patterns(raw_iv.get("not_cells", []), "not_cells", iv_section),
        other_products=patterns(raw_iv.get("other_products", []), "other_products", iv_section),
        derived_products=patterns(raw_iv.get("derived_products", []), "derived_products", iv_section),
        not_treatments=patterns(raw_iv.get("not_treatments", []), "not_treatments", iv_section),
    )
    if not (intervention.patterns or intervention.products):
        fail(f"[{iv_section}] has neither patterns nor products, so no intervention can match",
             f"[{iv_section}]")

    conditions = raw.get("conditions", {})
    outside = patterns(conditions.get("outside", []), "outside", "conditions")
    group_labels = conditions.get("groups", {})
    if not isinstance(group_labels, dict) or not all(isinstance(v, str) for v in group_labels.values()):
        fail("[conditions] groups must be a table of group = \"label\"", "groups", "conditions")

    raw_cats = raw.get("categories", {})
    if not all(isinstance(c, dict) for c in raw_cats.values()):
        bad = next(k for k, c in raw_cats.items() if not isinstance(c, dict))
        fail(f"categories.{bad} must be a table ([categories.{bad}])", bad, "categories")
    categories = []
    for key, cat in raw_cats.items():
        sec = f"categories.{key}"
        extra = set(cat) - _ALLOWED["category"]
        if extra:
            bad = sorted(extra)[0]
            names = ", ".join(sorted(_ALLOWED["category"]))
            fail(f"unknown key {bad!r} in [{sec}] (allowed: {names})", bad, sec)
        group = cat.get("group")
        if not isinstance(group, str) or not re.fullmatch(r"[A-Za-z][\w-]*", group):
            fail(f"[{sec}] group must be a name (letters, digits, _ or -), not {group!r}", "group", sec)
        if group_labels and group not in group_labels:
            fail(f"[{sec}] group {group!r} is not in [conditions] groups ({', '.join(group_labels)})",
                 "group", sec)
        mesh = cat.get("mesh", [])
        if not isinstance(mesh, list):
            fail(f"[{sec}] mesh must be a list of MeSH descriptor ids", "mesh", sec)
        for m in mesh:
            if not isinstance(m, str) or not _MESH_RE.match(m):
                fail(
                    f"invalid MeSH descriptor id {m!r} in [{sec}]; expected D followed by 6 or 9 "
                    "digits, e.g. D000006086",
                    str(m), sec,
                )
        keywords = patterns(cat.get("keywords", []), "keywords", sec)
        if not mesh and not keywords:
            fail(f"[{sec}] has neither mesh ids nor keywords, so it can match nothing", f"[{sec}]")
        sw = cat.get("switch")
        if sw is not None and sw not in switches:
            fail(f"[{sec}] names switch {sw!r}, not in [switches]", "switch", sec)
        if not isinstance(cat.get("fallback", False), bool):
            fail(f"[{sec}] fallback must be true or false", "fallback", sec)
        if "label" in cat and not isinstance(cat["label"], str):
            fail(f"[{sec}] label must be a string", "label", sec)
        categories.append(
            Category(
                key=key,
                label=str(cat.get("label", key)),
                group=group,
                mesh=tuple(normalize_mesh_id(m) for m in mesh),
                keywords=keywords,
                switch=sw,
                fallback=bool(cat.get("fallback", False)),
                not_if=patterns(cat.get("not_if", []), "not_if", sec),
            )
        )
    groups = dict(group_labels)
    for c in categories:
        groups.setdefault(c.group, c.group)
    if "derived_products" not in switches:
        switches = {**switches, "derived_products": False}
    default_scope = " or ".join(groups.values()) + " disease" if categories else "any condition"
    return Definition(
        name=str(meta["name"]),
        version=str(meta["version"]),
        description=str(meta.get("description", "")),
        title=str(meta.get("title") or meta.get("description") or meta["name"]),
        scope=str(meta.get("scope") or default_scope),
        intervention=intervention,
        study_types=tuple(study_types),
        switches=dict(switches),
        categories=tuple(categories),
        outside=outside,
        groups=groups,
        source=where,
    )


def with_switches(definition: Definition, overrides: dict[str, bool]) -> Definition:
    """A copy of the definition with some judgement-call switches flipped.

    Parameters
    ----------
    definition : Definition
    overrides : dict of str to bool
        Switch name -> value.

    Returns
    -------
    Definition

    Raises
    ------
    DefinitionError
        For a switch the definition does not declare.
    """
    unknown = sorted(set(overrides) - set(definition.switches))
    if unknown:
        msg = (
            f"unknown switch {unknown[0]!r}; the definition {definition.label} has: "
            f"{', '.join(sorted(definition.switches))}"
        )
        raise DefinitionError(msg)
    return replace(definition, switches={**definition.switches, **overrides})
