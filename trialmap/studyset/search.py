"""One regular expression over many texts: RE2 narrows the texts down, Python's ``re`` decides.

Python's ``re`` tries every alternative of a long keyword pattern at every position
of every text; RE2 (pyarrow's ``match_substring_regex``) scans all texts at once in
C++ about 20x faster, but its syntax and its ``\\b``, ``\\s`` and ``\\w`` differ. So
RE2 runs a *relaxed* copy of the pattern that matches at least wherever the original
does (zero-width assertions dropped; on texts with non-ASCII characters, character
classes widened to Python's Unicode ones) and only the texts it keeps are searched with
the original pattern: the answers are Python's. A pattern RE2 cannot compile is searched with ``re`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

# Python's Unicode classes, written for RE2 (whose \s, \w and \d are ASCII-only), and the
# same restricted to ASCII (RE2's \s lacks \v and \x1c-\x1f): on an ASCII text RE2's own
# classes are Python's, and run ~30x faster than the Unicode ones (not_cells on descriptions).
_WIDE = {"s": r"\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}", "w": r"\pL\pN_", "d": r"\pN"}
_ASCII = {"s": r"\s\x{0b}\x{1c}-\x{1f}", "w": r"\w", "d": r"\d"}
_FLAGS = {re.IGNORECASE: "i", re.DOTALL: "s", re.MULTILINE: "m"}
# Ignoring case, Python's re holds I, i, İ and ı equal, RE2 only I and i: the only code
# points where they differ (tests/test_studyset_search.py checks every one), so RE2 sees
# both Turkish i's as "i".
_TURKISH_I = "[\u0130\u0131]"
# Up to this many bytes of non-ASCII texts, Python's re searches them all: RE2 compiling a
# long pattern with Unicode classes costs more (~9 ms for not_cells) than re on a few titles.
PYTHON_DECIDES_BYTES = 8192


def _class_end(p: str, i: int) -> int:
    """Index just past the character class opened at ``p[i] == "["``."""
    j = i + 1 + (p[i + 1:i + 2] == "^")
    j += p[j:j + 1] == "]"  # "[]...]" and "[^]...]": a literal "]" first
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1


def _group_end(p: str, i: int) -> int:
    """Index just past the group opened at ``p[i] == "("``."""
    depth = 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(p, i)
            continue
        depth += (c == "(") - (c == ")")
        i += 1
        if depth == 0:
            return i
    return i


def relaxed(pattern: str, ascii_only: bool = False) -> str:
    """An RE2 pattern matching every text ``pattern`` (Python syntax) matches, and maybe more.

    Lookarounds, ``\\b``, ``\\B``, ``\\A``, ``\\Z``, ``^`` and ``$`` are dropped (removing a
    zero-width assertion only widens a pattern); ``\\s``, ``\\w`` and ``\\d`` become Python's
    Unicode classes (inside ``[^...]`` RE2's ASCII ones already exclude no more than
    Python's), or with ``ascii_only``, for texts known to be ASCII, to Python's classes
    restricted to ASCII. Syntax RE2 does not know is left for it to refuse.
    """
    classes = _ASCII if ascii_only else _WIDE
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            if e in classes:
                out.append(f"[{classes[e]}]")
            elif e not in "bBAZ":
                out.append(pattern[i:i + 2])
            i += 2
        elif c == "[":
            j = _class_end(pattern, i)
            body = pattern[i:j]
            if not body.startswith("[^"):
                body = re.sub(r"\\(.)", lambda m: classes.get(m[1], m[0]), body)
            out.append(body)
            i = j
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = _group_end(pattern, i)
        else:
            if c not in "^$":
                out.append(c)
            i += 1
    return "".join(out)


def candidates(texts: Sequence[str] | pa.Array, pattern: re.Pattern[str],
               python_bytes: int = PYTHON_DECIDES_BYTES) -> np.ndarray:
    """Indices of the texts ``pattern`` may match (every text it does match is among them);
    the texts with non-ASCII characters are all kept when they hold ``python_bytes`` or fewer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(texts)
    if not n:
        return np.arange(0)
    flags = "".join(f for bit, f in _FLAGS.items() if pattern.flags & bit)
    if pattern.flags & re.VERBOSE or re.search(_TURKISH_I, pattern.pattern):
        return np.arange(n)
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    prefix = f"(?{flags})" * bool(flags)
    try:
        hit = pc.match_substring_regex(arr, prefix + relaxed(pattern.pattern, ascii_only=True))
        hit = hit.to_numpy(zero_copy_only=False).copy()
        wider = np.flatnonzero(~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False))
        other = arr.take(pa.array(wider)) if len(wider) else None
        if other is not None and pc.sum(pc.binary_length(other)).as_py() <= python_bytes:
            hit[wider] = True  # few texts with other characters: Python searches them all
        elif other is not None:  # the texts with other characters: Python's Unicode classes
            if pc.any(pc.match_substring_regex(other, _TURKISH_I)).as_py():
                other = pc.replace_substring_regex(other, _TURKISH_I, "i")
            hit[wider] = pc.match_substring_regex(other, prefix + relaxed(pattern.pattern)).to_numpy(
                zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.arange(n)
    return np.flatnonzero(hit)


def found(texts: Sequence[str] | pa.Array, pattern: re.Pattern[str]) -> np.ndarray:
    """Whether ``pattern.search`` finds something in each text (exactly Python's answer), as bools."""
    import pyarrow as pa

    idx = candidates(texts, pattern)
    out = np.zeros(len(texts), dtype=bool)
    if len(idx):
        some = (texts.take(idx).to_pylist() if isinstance(texts, pa.Array)
                else [texts[i] for i in idx.tolist()])
        search = pattern.search
        out[idx] = [search(t) is not None for t in some]
    return out


def search_all(texts: Sequence[str], pattern: re.Pattern[str]) -> list[re.Match[str] | None]:
    """``pattern.search(t)`` for every text (exactly Python's answer), RE2 skipping the rest."""
    found: list[re.Match[str] | None] = [None] * len(texts)
    search = pattern.search
    for i in candidates(texts, pattern).tolist():
        found[i] = search(texts[i])
    return found
