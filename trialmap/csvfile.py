"""The CSV files users hand to trialmap, read strictly and written atomically.

Every CSV trialmap reads from a user (``trialmap geocode`` input, coordinate
overrides, website downloads for ``trialmap import``) goes through
:func:`read_rows`:

- UTF-8 (a byte-order mark is dropped), read with the standard :mod:`csv` module,
  which reports the line every record starts on;
- a row with more fields than the header (an unquoted comma, e.g. ``Nea
  Kifissia, Athens,,Greece`` under ``city,state,country``) or fewer is refused
  with one line naming the file and the line: columns are never shifted. (pandas'
  C parser would take an extra field in the first row as an index column and
  shift every value of that row silently; that is why pandas does not parse
  these files);
- fields up to :data:`FIELD_LIMIT` characters are read (the csv module's default
  limit is 131,072, less than the ``Locations`` cell of a trial with a few
  thousand sites); a longer field is one line naming the file and the line;
- blank lines are skipped, a repeated column name is refused.

:func:`write_atomically` writes a file next to its final place and renames it
over, so a killed or disk-full run never leaves a truncated file that looks valid.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from trialmap.errors import TrialmapError

if TYPE_CHECKING:
    import pandas as pd

#: Longest field accepted, in characters (16 MiB; the csv module's own default is 131,072).
FIELD_LIMIT = 16 * 2**20


@contextlib.contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_text(path: Path, what: str, error: type[TrialmapError]) -> str:
    """The file as UTF-8 text (BOM dropped), or ``error`` with one line."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        msg = f"{what} {path} does not exist"
        raise error(msg) from exc
    except OSError as exc:
        msg = f"cannot read {what} {path} ({exc.strerror or exc})"
        raise error(msg) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = f"{what} {path}, line {line}: not UTF-8 text ({exc.reason}); save it as UTF-8"
        raise error(msg) from exc


def read_rows(
    path: Path | str, what: str, error: type[TrialmapError], *, text: str | None = None,
    field_limit: int = FIELD_LIMIT,
) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and the line each row starts on, every row as long as the header.

    Parameters
    ----------
    path
        The CSV file (named in messages).
    what
        What the file is, for messages ("geocode input", "overrides file", ...).
    error
        The :class:`~trialmap.errors.TrialmapError` subclass to raise.
    text
        The file's text when already read (``path`` is then only named).
    field_limit
        Longest field accepted, in characters.

    Raises
    ------
    error
        Unreadable or not UTF-8; empty; a repeated column name; a row with more or
        fewer fields than the header; a field longer than ``field_limit``; malformed
        CSV. The message names the file and the line.
    """
    path = Path(path)
    if text is None:
        text = read_text(path, what, error)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    with _field_limit(field_limit):
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if "field limit" in str(exc):
                    msg = (
                        f"{what} {path}, line {start}: a field is longer than {field_limit:,} characters "
                        "(the limit trialmap reads); is the file really a CSV?"
                    )
                else:
                    msg = f"{what} {path}, line {start}: malformed CSV ({exc})"
                raise error(msg) from exc
            if not row or (len(row) == 1 and not row[0].strip() and header is not None):
                continue  # a blank line
            if header is None:
                header = row
                seen: set[str] = set()
                for name in (h.strip() for h in header):
                    if name in seen:
                        msg = f"{what} {path}, line {start}: column {name!r} appears twice in the header"
                        raise error(msg)
                    seen.add(name)
                continue
            if len(row) != len(header):
                more = len(row) > len(header)
                hint = (
                    "a field with a comma in it that is not in double quotes?"
                    if more else "a missing field or separator?"
                )
                msg = (
                    f"{what} {path}, line {start}: {len(row)} fields, but the header has "
                    f"{len(header)} ({hint}); fix that line: trialmap does not guess which "
                    "column is which"
                )
                raise error(msg)
            rows.append(row)
            lines.append(start)
    if header is None:
        msg = f"{what} {path} is empty: expected a header line and rows"
        raise error(msg)
    return header, rows, lines


def read_frame(path: Path | str, what: str, error: type[TrialmapError]) -> pd.DataFrame:
    """:func:`read_rows` as a DataFrame of strings (empty fields are ``""``).

    ``frame.attrs["lines"]`` holds the line each row starts on, for messages.
    """
    import pandas as pd

    header, rows, lines = read_rows(path, what, error)
    frame = pd.DataFrame(rows, columns=[h.strip() for h in header], dtype=str)
    frame.attrs["lines"] = lines
    return frame


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path | str, write: Callable[[IO[str]], None]) -> None:
    """Write a text file through ``write(handle)`` into a temporary file beside ``path``,
    then rename it over ``path``; the file's mode follows the umask.

    Raises
    ------
    OSError
        From creating, writing or renaming (disk full, no permission, no folder);
        the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
