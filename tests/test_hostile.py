"""Shifted CSV rows, long fields, damaged manifests, a full disk, careless input, Ctrl-C (issue 13).

Real data throughout: site rows of the real v2 export ctg-studies-50.json, the
real website CSV ctg-studies-172.csv, the real bundled snapshot. What is made
up is only the fault itself, and each test says which: an unquoted comma added
to one real row, a real Locations cell repeated past the csv module's limit, a
manifest edited the way a careless hand or a broken disk would, an OSError
ENOSPC raised where the disk would fill (no filesystem is filled), a SIGINT.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from trialmap.__main__ import main as trialmap_main
from trialmap.csvfile import FIELD_LIMIT, read_rows
from trialmap.errors import (
    OverridesError,
    SnapshotError,
    SnapshotIntegrityError,
    SourceFormatError,
)
from trialmap.gazetteer import read_overrides
from trialmap.snapshot import (
    list_snapshots,
    open_snapshot,
    remove_stale_temporaries,
    verify_snapshot,
    write_snapshot,
)
from trialmap.sources import import_download, read_snapshot

from .conftest import BUNDLED_ID, RAW, ROOT

DATA = ROOT / "tests" / "data" / "ctgov"
V2_CSV = DATA / "ctg-studies-172.csv"
SHIFTED = "Nea Kifissia, Athens,,Greece"  # the row: an unquoted comma in the city


def real_sites(n: int = 30) -> list[dict[str, str]]:
    studies = json.loads((DATA / "ctg-studies-50.json").read_text("utf-8"))
    rows = []
    for s in studies:
        for loc in s["protocolSection"].get("contactsLocationsModule", {}).get("locations", []):
            if loc.get("city") and loc.get("country"):
                rows.append({k: str(loc.get(k) or "") for k in ("city", "state", "country")})
    return rows[:n]


def write_rows(path: Path, rows: list[dict[str, str]], insert: dict[int, str] | None = None) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    lines = buf.getvalue().splitlines()
    for r in rows:
        b = io.StringIO()
        csv.DictWriter(b, fieldnames=list(rows[0]), lineterminator="\n").writerow(r)
        lines.append(b.getvalue().rstrip("\n"))
    for at, text in sorted((insert or {}).items(), reverse=True):
        lines.insert(at, text)  # index into lines: 1 puts it right after the header
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trialmap: error: "), err
    return err[0]


# -- CSV rows with more fields than the header -------------------------------------------------


@pytest.mark.parametrize("where", [1, 4])  # the first data row (pandas would shift it) and a later one
def test_geocode_refuses_a_row_with_an_extra_field_naming_file_and_line(tmp_path, capsys, where):
    src = tmp_path / "sites.csv"
    write_rows(src, real_sites(), {where: SHIFTED})  # made up: one unquoted comma
    out = tmp_path / "out.csv"
    assert trialmap_main(["geocode", str(src), str(out)]) == 1
    line = one_error(capsys)
    assert f"geocode input {src}, line {where + 1}: 4 fields, but the header has 3" in line
    assert "not in double quotes" in line
    assert not out.exists()


def test_geocode_with_200_shifted_rows_is_still_one_line(tmp_path, capsys):
    rows = real_sites(200)
    src = tmp_path / "sites.csv"
    write_rows(src, rows, {i: SHIFTED for i in range(2, 402, 2)})
    assert trialmap_main(["geocode", str(src), str(tmp_path / "out.csv")]) == 1
    assert "line 3: 4 fields" in one_error(capsys)


def test_a_row_with_fewer_fields_is_refused_too(tmp_path):
    src = tmp_path / "sites.csv"
    write_rows(src, real_sites(5), {3: "Athens,Greece"})  # made up: a missing separator
    with pytest.raises(SourceFormatError, match=r"line 4: 2 fields, but the header has 3 \(a missing field"):
        read_rows(src, "geocode input", SourceFormatError)


def test_quoted_commas_and_multi_line_fields_are_read_and_lines_counted_right(tmp_path, capsys):
    src = tmp_path / "sites.csv"
    rows = real_sites(6)
    rows[1] = {**rows[1], "city": "Nea Kifissia, Athens"}  # quoted: fine
    rows[2] = {**rows[2], "state": "two\nlines"}
    write_rows(src, rows)
    _, got, lines = read_rows(src, "geocode input", SourceFormatError)
    assert got[1][0] == "Nea Kifissia, Athens" and got[2][1] == "two\nlines"
    assert lines == [2, 3, 4, 6, 7, 8]
    out = tmp_path / "out.csv"
    assert trialmap_main(["geocode", str(src), str(out)]) == 0
    placed = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert placed["city"].tolist() == [r["city"] for r in rows]  # nothing shifted
    assert placed.loc[0, "geo_source"] == "gazetteer"


def test_overrides_refuse_a_row_with_an_extra_field_and_never_shift(tmp_path):
    ov = tmp_path / "ov.csv"
    ov.write_text("city,state,country,lat,lon\n" + SHIFTED + ",38.07,23.81\nParis,,France,48.857,2.352\n",
                  encoding="utf-8")  # made up: the unquoted comma
    with pytest.raises(OverridesError, match=rf"overrides file {ov}, line 2: 6 fields, but the header has 5"):
        read_overrides(ov)
    ov.write_text('city,state,country,lat,lon\n"Nea Kifissia, Athens",,Greece,38.07,23.81\n'
                  "Paris,,France,48.857,2.352\n", encoding="utf-8")
    got = read_overrides(ov)
    assert got["city"].tolist() == ["Nea Kifissia, Athens", "Paris"]
    assert got["iso3"].tolist() == ["GRC", "FRA"]


def test_override_messages_name_the_real_line_after_a_multi_line_field(tmp_path):
    ov = tmp_path / "ov.csv"
    ov.write_text('city,state,country,lat,lon,note\nZerifin,,Israel,31.96,34.84,"two\nlines"\n'
                  "Hyogo,,Atlantis,34.69,135.18,\n", encoding="utf-8")
    with pytest.raises(OverridesError, match="line 4: unknown country 'Atlantis'"):
        read_overrides(ov)


def test_website_csv_with_an_extra_field_is_refused_on_import(tmp_path):
    with V2_CSV.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    table[3].append("stray")  # made up: one more field in the third study's row
    bad = tmp_path / "ctg-studies.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(table)
    with pytest.raises(SourceFormatError, match=r"line \d+: 31 fields, but the header has 30"):
        import_download(bad, tmp_path / "raw", downloaded="2026-04-03")
    assert not (tmp_path / "raw").exists() or list((tmp_path / "raw").iterdir()) == []


# -- long fields ---------------------------------------------------------------------------------


def _long_locations_csv(tmp_path: Path, length: int) -> tuple[Path, str]:
    # The real first study with sites, its real Locations cell repeated past `length` characters.
    with V2_CSV.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    loc = table[0].index("Locations")
    row = next(r for r in table[1:] if r[loc])
    row[loc] = "|".join([row[loc]] * (length // len(row[loc]) + 1))
    path = tmp_path / "long.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([table[0], row])
    return path, row[table[0].index("NCT Number")]


def test_a_field_over_131072_characters_imports_and_reads(tmp_path, capsys):
    path, nct = _long_locations_csv(tmp_path, 140_000)
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(path), "--downloaded", "2026-04-03",
                          "--id", "long"]) == 0
    assert "long: 1 studies" in capsys.readouterr().out
    tables = read_snapshot(open_snapshot("long", tmp_path / "raw"))
    assert tables.studies["nct_id"].tolist() == [nct] and len(tables.sites) > 1000
    assert csv.field_size_limit() == 131072  # the process-wide limit is restored


def test_a_field_over_the_limit_is_one_line_naming_file_and_line(tmp_path):
    path, _ = _long_locations_csv(tmp_path, 5_000)
    with pytest.raises(SourceFormatError, match=rf"{path}, line 2: a field is longer than 4,096 characters"):
        read_rows(path, "website CSV", SourceFormatError, field_limit=4096)
    assert FIELD_LIMIT == 16 * 2**20


# -- import checks -------------------------------------------------------------------------------


def test_a_header_only_csv_is_refused(tmp_path, capsys):
    header = V2_CSV.read_text(encoding="utf-8-sig").splitlines()[0]
    path = tmp_path / "ctg-studies.csv"
    path.write_text(header + "\n", encoding="utf-8")  # the real header, no study
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(path)]) == 1
    assert "holds no study" in one_error(capsys)
    assert not (tmp_path / "raw").exists()


def test_a_download_date_in_the_future_is_refused(tmp_path, capsys):
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(V2_CSV), "--downloaded",
                          "2999-01-01"]) == 2
    assert "the download date 2999-01-01 is in the future" in one_error(capsys)
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(V2_CSV), "--downloaded",
                          "2026-13-01"]) == 2
    assert "not a date in YYYY-MM-DD form" in one_error(capsys)
    assert not (tmp_path / "raw").exists()


# -- manifests -----------------------------------------------------------------------------------


def _with_damaged_copy(tmp_path: Path, damage) -> Path:
    """The real bundled snapshot plus a second copy, 'zz-damaged', whose manifest is edited
    (made-up damage) and which would otherwise be the newest."""
    raw = tmp_path / "raw"
    shutil.copytree(RAW / BUNDLED_ID, raw / BUNDLED_ID)
    bad = raw / "zz-damaged"
    shutil.copytree(RAW / BUNDLED_ID, bad)
    for p in (bad, *bad.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    m = json.loads((bad / "manifest.json").read_text())
    m.update(snapshot_id="zz-damaged", registry_data_date="2030-01-01")
    m = damage(m, bad)
    (bad / "manifest.json").write_text(json.dumps(m))
    return raw


def _drop_key(key):
    def damage(m, _):
        return {**m, "files": [{k: v for k, v in m["files"][0].items() if k != key}]}
    return damage


def _entry(**kw):
    def damage(m, _):
        return {**m, "files": [{**m["files"][0], **kw}]}
    return damage


def _outside_name(m, folder):
    (folder / m["files"][0]["name"]).rename(folder.parent / "outside.tar.gz")
    return {**m, "files": [{**m["files"][0], "name": "../outside.tar.gz"}]}


def _symlink_out(m, folder):
    name = m["files"][0]["name"]
    outside = folder.parent.parent / "elsewhere.tar.gz"
    (folder / name).rename(outside)
    (folder / name).symlink_to(outside)
    return m


DAMAGE = {
    "null": (lambda m, _: None, "the manifest is null, not a JSON object"),
    "a list": (lambda m, _: [m], "the manifest is list, not a JSON object"),
    "files: []": (lambda m, _: {**m, "files": []}, "'files' is empty"),
    "files: 5": (lambda m, _: {**m, "files": 5}, "'files' is int, not a list"),
    "no files": (lambda m, _: {k: v for k, v in m.items() if k != "files"}, "no 'files' field"),
    "entry without sha256": (_drop_key("sha256"), r"files\[0\] has no 'sha256'"),
    "entry without bytes": (_drop_key("bytes"), r"files\[0\] has no 'bytes'"),
    "bytes as text": (_entry(bytes="6279849"), r"files\[0\]\.bytes is '6279849'"),
    "short sha256": (_entry(sha256="024e6c0e"), "not 64 lowercase hex digits"),
    "entry null": (lambda m, _: {**m, "files": [None]}, r"files\[0\] is null"),
    "absolute name": (_entry(name="/etc/hostname"), "'/etc/hostname' is an absolute name"),
    "../ name": (_outside_name, r"'\.\./outside\.tar\.gz' is a name that leads out of the folder"),
    "name in a folder": (_entry(name="sub/full_studies.tar.gz"), "a name with a folder in it"),
    "format a number": (lambda m, _: {**m, "format": 7}, "'format' is int, not a string"),
    "synthetic as text": (lambda m, _: {**m, "synthetic": "no"}, "'synthetic' is str, not bool"),
    "pages not listed": (lambda m, _: {**m, "pages": ["/etc/passwd"]}, "pages names '/etc/passwd'"),
    "symlink leaving the folder": (_symlink_out, r"symbolic link to .*elsewhere\.tar\.gz, outside"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_manifest_makes_only_that_snapshot_unusable(tmp_path, capsys, caplog, case):
    damage, expected = DAMAGE[case]
    raw = _with_damaged_copy(tmp_path, damage)
    # The listing and the default choice go on without it, saying why in one line.
    assert [m["snapshot_id"] for m in list_snapshots(raw)] == [BUNDLED_ID]
    (warning,) = [r.getMessage() for r in caplog.records if "zz-damaged" in r.getMessage()]
    assert "\n" not in warning and re.search(expected, warning), warning
    assert open_snapshot(None, raw).id == BUNDLED_ID
    # Asked for by name: one line, exit 1.
    with pytest.raises(SnapshotIntegrityError, match=expected):
        open_snapshot("zz-damaged", raw)
    assert trialmap_main(["--data-dir", str(tmp_path), "verify", "zz-damaged"]) == 1
    assert re.search(expected, one_error(capsys))
    assert trialmap_main(["--data-dir", str(tmp_path), "snapshots"]) == 0
    assert BUNDLED_ID in capsys.readouterr().out


def test_the_default_run_goes_on_beside_a_null_manifest(tmp_path, capsys, caplog):
    _with_damaged_copy(tmp_path, lambda m, _: None)
    from trialmap.refresh import main

    assert main(["--data-dir", str(tmp_path), "--offline", "-q"]) == 0
    assert capsys.readouterr().err == ""
    (warning,) = [r.getMessage() for r in caplog.records if "zz-damaged" in r.getMessage()]
    assert warning.startswith("skipping") and "null" in warning
    assert (tmp_path / "processed" / BUNDLED_ID / "provenance.json").is_file()


def test_a_snapshot_reads_only_files_its_manifest_lists(bundled_snapshot):
    with pytest.raises(SnapshotIntegrityError, match="not a file its manifest lists"):
        bundled_snapshot.file("../../README.md")


def test_an_unlisted_file_is_named_and_never_deleted(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / BUNDLED_ID, raw / BUNDLED_ID)
    snap = raw / BUNDLED_ID
    snap.chmod(0o755)
    (snap / "full_studies.tar.gz.bak").write_bytes(b"a copy")  # made up: a stray file
    with pytest.raises(SnapshotIntegrityError) as err:
        verify_snapshot(snap)
    text = str(err.value)
    assert "full_studies.tar.gz.bak is not in the manifest" in text
    assert "trialmap never deletes raw data" in text and "remove them" not in text
    assert (snap / "full_studies.tar.gz.bak").is_file()


# -- disk full, atomic writes, stale temporaries -------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_geocode_on_a_full_disk_leaves_out_as_it_was(tmp_path, capsys, monkeypatch):
    src = tmp_path / "sites.csv"
    write_rows(src, real_sites(10))
    out = tmp_path / "out.csv"
    out.write_text("an earlier result\n")
    real_fsync = os.fsync

    def full(fd):  # made up: the disk fills while OUT's temporary file is being flushed
        real_fsync(fd)
        _enospc()

    monkeypatch.setattr(os, "fsync", full)
    assert trialmap_main(["geocode", str(src), str(out)]) == 1
    line = one_error(capsys)
    assert f"cannot write {out} (No space left on device); it was not changed" in line
    assert out.read_text() == "an earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "sites.csv"]  # no temporary left


def test_geocode_output_replaces_atomically_and_follows_the_umask(tmp_path, capsys):
    src = tmp_path / "sites.csv"
    write_rows(src, real_sites(10))
    out = tmp_path / "out.csv"
    out.write_text("old")
    old = os.umask(0o027)
    try:
        assert trialmap_main(["geocode", str(src), str(out)]) == 0
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o640
    assert len(pd.read_csv(out)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "sites.csv"]


def test_import_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "copyfile", _enospc)  # made up: the copy fills the disk
    assert trialmap_main(["--data-dir", str(tmp_path), "import", str(V2_CSV), "--downloaded",
                          "2026-04-03"]) == 1
    line = one_error(capsys)
    assert f"cannot write snapshot {tmp_path / 'raw'}" in line and "No space left on device" in line
    assert list((tmp_path / "raw").iterdir()) == []


def test_a_fetched_snapshot_on_a_full_disk_is_a_snapshot_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_bytes", _enospc)  # made up
    with pytest.raises(SnapshotError, match="No space left on device"):
        write_snapshot(tmp_path, "s", [("page-0001.json", b'{"studies": []}')], {"format": "x"})
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_folders_of_killed_runs_are_removed_by_the_next_write(tmp_path, caplog):
    stale = tmp_path / ".tmp-ctgov-v2-2023-06-29-dead"
    stale.mkdir()
    (stale / "page-0001.json").write_bytes(b"{}")
    (stale / "page-0001.json").chmod(0o444)
    stale.chmod(0o555)
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    fresh = tmp_path / ".tmp-another-run-now"
    fresh.mkdir()
    write_snapshot(tmp_path, "s", [("page-0001.json", b'{"studies": []}')], {"format": "x"})
    assert not stale.exists() and fresh.is_dir()  # a live run's folder is left alone
    assert any("removed" in r.getMessage() and stale.name in r.getMessage() for r in caplog.records)
    assert remove_stale_temporaries(tmp_path) == []


# -- Ctrl-C --------------------------------------------------------------------------------------


def test_a_ctrl_c_swallowed_by_a_finalizer_is_raised_again():
    # Made up: a finalizer in which the SIGINT is handled. Without trialmap.sigint Python
    # prints "Exception ignored in ..." and carries on (issue 13: one Ctrl-C in 13 lost).
    from trialmap.sigint import interrupts

    class Finalizer:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)
            for _ in range(1000):  # Python code: the handler runs here, inside __del__
                pass

    reached = []
    with interrupts() as state, pytest.raises(KeyboardInterrupt):
        Finalizer()  # collected at once
        for _ in range(200):  # the interrupt comes back within a millisecond or so
            time.sleep(0.005)
        reached.append("end")
    assert state.received == 2 and reached == []  # the signal, then its re-raise
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # pytest's, restored


def _cli(*argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def command_seconds(tmp_path_factory) -> float:
    """How long the main command takes on this machine now (a fixed delay went stale: at 1.6 s
    the command had ended before a Ctrl-C sent at 2.5 s)."""
    data = tmp_path_factory.mktemp("timed")
    shutil.copytree(RAW / BUNDLED_ID, data / "raw" / BUNDLED_ID)
    t0 = time.perf_counter()
    p = _cli("-m", "trialmap.refresh", "--data-dir", str(data), "--offline", "-q")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return time.perf_counter() - t0


# While refresh's libraries load (a third of the way); while processing (seven tenths). (The
# interpreter's own start and `import trialmap`, the first ~0.25 s, are before any trialmap
# code can act: see trialmap.sigint.)
@pytest.mark.parametrize("at", [0.3, 0.7])
def test_ctrl_c_exits_130_without_a_traceback(tmp_path, at, command_seconds):
    shutil.copytree(RAW / BUNDLED_ID, tmp_path / "raw" / BUNDLED_ID)
    p = _cli("-m", "trialmap.refresh", "--data-dir", str(tmp_path), "--offline", "-q")
    time.sleep(at * command_seconds)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    # 130 from main(), or killed by the signal itself (-2; a shell shows 130) while loading.
    assert p.returncode in (130, -signal.SIGINT), (p.returncode, err)
    assert "Traceback" not in err and "Exception ignored" not in err
    assert len(err.strip().splitlines()) <= 1
    if p.returncode == 130:
        assert err.startswith("trialmap: interrupted")
    assert not (tmp_path / "processed").exists() or [
        q.name for q in (tmp_path / "processed").iterdir() if q.name.startswith(".tmp-")] == []


def test_a_ctrl_c_python_wrapped_is_still_a_ctrl_c():
    """Python 3.11 turns a KeyboardInterrupt raised while a class is created (inside
    ``import matplotlib``, the main command's write step) into a RuntimeError; it is
    still reported as an interrupt (the test above met it once, the signal landing in that import)."""
    from trialmap.sigint import caused_by_ctrl_c

    def set_name_raises():
        class Descriptor:
            def __set_name__(self, owner, name):
                raise KeyboardInterrupt

        class Owner:  # creating it is the point
            d = Descriptor()

    try:
        set_name_raises()
    except BaseException as exc:  # RuntimeError on 3.11, KeyboardInterrupt on 3.12+
        assert caused_by_ctrl_c(exc)
    else:
        pytest.fail("creating the class did not raise")
    assert not caused_by_ctrl_c(RuntimeError("unrelated"))
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise ValueError("while stopping") from ki
    except ValueError as exc:
        assert caused_by_ctrl_c(exc)
