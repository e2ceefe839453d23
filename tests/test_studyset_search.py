"""The RE2 prefilter gives exactly Python's answers: every shipped pattern, real texts and hard cases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from trialmap.studyset import list_definitions, load_definition
from trialmap.studyset.search import candidates, relaxed, search_all


def _patterns() -> list[tuple[str, str]]:
    """(where, pattern) for every pattern of every shipped definition, as the rule compiles them."""
    out = []
    for d in list_definitions():
        definition = load_definition(d.name)
        iv = definition.intervention
        for field in ("patterns", "description_patterns", "title_patterns", "products", "not_cells",
                      "other_products", "derived_products", "not_treatments"):
            out += [(f"{d.name}:{field}", p) for p in getattr(iv, field)]
        out += [(f"{d.name}:outside", p) for p in definition.outside]
        for c in definition.categories:
            out += [(f"{d.name}:{c.key}", p) for p in c.keywords + c.not_if]
    return out


PATTERNS = _patterns()

# Made-up texts (no real record has them) where RE2's ASCII \b, \s, \w and case rules
# differ from Python's: a no-break space, letters with accents next to a boundary, a
# trailing newline before "$", dotless/dotted i, the Kelvin sign.
HARD = [
    "Crohn\u00a0disease", "crohn\u2009disease", "Sjögren syndrome", "Behçet's disease", "ébMSC", "MSCé",
    "graft-versus-host\u00a0disease", "GVHD\n", "İnflammatory bowel disease", "\u212aidney",
    "lupus\u00a0nephritis", "Mesenchymal\u00a0stromal cells", "hMSC\u2028exosomes", "UC-MSCs", "ALLO-ASC",
    "MSC2156119J", "x" * 5000 + " MSC",
]


@pytest.fixture(scope="module")
def texts(tables) -> list[str]:
    """Every distinct title, condition, keyword, intervention name and description of the bundled archive."""
    st, cond, iv = tables.studies, tables.conditions, tables.interventions
    cols = [st["title"], st["official_title"], cond["term"], iv["name"], iv["other_names"], iv["description"]]
    real = pd.unique(pd.concat(cols, ignore_index=True).dropna().astype(str))
    return [*real.tolist(), *HARD]


@pytest.mark.parametrize(("where", "pattern"), PATTERNS,
                         ids=[f"{w}:{i}" for i, (w, _) in enumerate(PATTERNS)])
def test_same_answers_as_python_re(texts, where, pattern):
    compiled = re.compile(pattern, re.IGNORECASE)
    expected = [compiled.search(t) for t in texts]
    got = search_all(texts, compiled)
    assert [m and (m.start(), m.group(0)) for m in got] == [m and (m.start(), m.group(0)) for m in expected]


def test_the_prefilter_does_the_narrowing(texts):
    """On real texts RE2 keeps few candidates (the point of it), not every text."""
    patterns = load_definition().intervention.patterns
    compiled = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    kept = candidates(texts, compiled)
    hits = sum(compiled.search(t) is not None for t in texts)
    assert hits <= len(kept) < len(texts) / 2


def test_case_folding_agrees_on_every_cased_code_point():
    """Ignoring case, every code point Python's re holds equal to a letter is a candidate."""
    import sys

    cased = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF
             and (chr(c).lower() != chr(c) or chr(c).upper() != chr(c))]
    assert len(cased) > 2000
    for letter in "abcdefghijklmnopqrstuvwxyz0123456789":
        for p in (letter, f"[{letter}-{letter}]"):
            compiled = re.compile(p, re.IGNORECASE)
            python = {i for i, c in enumerate(cased) if compiled.match(c)}
            kept = set(candidates(cased, compiled, python_bytes=0).tolist())  # RE2 decides
            assert python <= kept, (p, [cased[i] for i in python - kept])


def test_few_non_ascii_texts_are_left_to_python():
    """RE2 narrows the ASCII texts either way; a few non-ASCII ones are all kept (Python
    decides them) or, with the limit at 0, narrowed by RE2's Unicode pattern: same answers."""
    compiled = re.compile(r"\bcrohn\s+disease|sj[oö]gren", re.IGNORECASE)
    texts = ["Crohn disease", "ulcerative colitis", "asthma", *HARD]
    ascii_ = [i for i, t in enumerate(texts) if t.isascii()]
    few, narrowed = candidates(texts, compiled), candidates(texts, compiled, python_bytes=0)
    assert set(few) - set(ascii_) == {i for i, t in enumerate(texts) if not t.isascii()}
    assert set(narrowed) < set(few)
    assert set(few) & set(ascii_) == set(narrowed) & set(ascii_) == {0}
    expected = [bool(compiled.search(t)) for t in texts]
    assert [i in set(narrowed) for i in range(len(texts)) if expected[i]] == [True] * sum(expected)


def test_relaxed_drops_assertions_and_widens_classes():
    assert relaxed(r"(?<![A-Za-z])MSC(?![a-z])") == "MSC"
    assert relaxed(r"\bGVHD\b$") == "GVHD"
    assert relaxed(r"crohn\s") == r"crohn[\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}]"
    assert relaxed(r"[\w-]+") == r"[\pL\pN_-]+"
    assert relaxed(r"[^\s]") == r"[^\s]"  # RE2's ASCII class excludes no more than Python's
    assert relaxed(r"\bcrohn\s\w", ascii_only=True) == r"crohn[\s\x{0b}\x{1c}-\x{1f}][\w]"
    assert relaxed(r"a(?=(b|[)]))c") == "ac"  # the lookahead's own groups and classes go with it


def test_what_re2_cannot_compile_is_searched_by_python():
    # A backreference: RE2 refuses it; every text is then a candidate and re decides.
    compiled = re.compile(r"(\w)\1", re.IGNORECASE)
    texts = ["aa", "ab", "Abba"]
    assert candidates(texts, compiled).tolist() == [0, 1, 2]
    assert [bool(m) for m in search_all(texts, compiled)] == [True, False, True]


def test_no_texts():
    assert candidates([], re.compile("x")).tolist() == []
    assert np.asarray(search_all([], re.compile("x"))).size == 0
