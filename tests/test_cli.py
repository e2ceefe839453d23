"""The main command end to end, and its error paths (one line, non-zero exit, nothing half-written)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from trialmap.__main__ import main as trialmap_main
from trialmap.refresh import main

from .conftest import BUNDLED_ID, RAW, ROOT


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    shutil.copytree(RAW / BUNDLED_ID, d / "raw" / BUNDLED_ID)
    for p in (d / "raw" / BUNDLED_ID, *(d / "raw" / BUNDLED_ID).iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return d


@pytest.fixture(scope="module")
def run(data_dir):
    """One real run of ``python -m trialmap.refresh`` in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "trialmap.refresh", "--data-dir", str(data_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    return proc, data_dir / "processed" / BUNDLED_ID


def test_main_command_writes_tables_figures_and_provenance(run):
    proc, out = run
    assert proc.returncode == 0, proc.stderr
    assert "local snapshot" in proc.stderr and "not fetched" in proc.stdout
    for name in ("studies", "sites", "country_counts"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.parquet").is_file()
    for name in ("flow", "inclusion_log", "categories", "region_counts", "unknown_countries"):
        assert (out / f"{name}.csv").is_file()
    assert (out / "figures" / "figure1.pdf").stat().st_size > 10_000
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'data-iso3="USA"' in report
    assert "report.html" in json.loads((out / "provenance.json").read_text())["outputs"]
    assert (out / "figures" / "figure1.png").stat().st_size > 10_000
    cc = pd.read_csv(out / "country_counts.csv", keep_default_na=False, na_values=[""])
    assert list(cc.columns) == ["iso3", "country", "n_trials", "n_sites", "trial_share"]
    assert cc.equals(pd.read_parquet(out / "country_counts.parquet").astype(cc.dtypes.to_dict()))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["snapshot"]["id"] == BUNDLED_ID and prov["fetched"] is False
    assert prov["snapshot"]["files"][0]["sha256"].startswith("024e6c0e")
    assert prov["definition"]["version"] == "3" and "distinct trials" in prov["counting_rule"]
    # The default writes Figure 1 only (PDF + 300 dpi PNG + sidecar); --figures all writes the suite.
    assert {k for k in prov["outputs"] if k.startswith("figures/")} == {
        "figures/figure1.pdf", "figures/figure1.png", "figures/figure1.json"
    }
    flow = pd.read_csv(out / "flow.csv").set_index("step")["n_remaining"]
    assert prov["flow"]["with_mapped_country"] == flow["with_mapped_country"] == len(
        pd.read_csv(out / "studies.csv")
    )
    assert f"with mapped country {flow['with_mapped_country']}" in proc.stdout
    assert not list(out.parent.glob(".tmp-*"))


def test_figures_all_writes_the_figure_suite_and_methods(data_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(data_dir / "raw", data / "raw")
    assert main(["--data-dir", str(data), "-q"]) == 0
    assert main(["--data-dir", str(data), "--figures", "all", "-q"]) == 0
    assert main(["--data-dir", str(data), "-q"]) == 0
    # The figure options are part of the folder's identity: a plain run after
    # --figures all never deletes what it wrote (and vice versa).
    plain = data / "processed" / BUNDLED_ID
    written = sorted(p.name for p in (plain / "figures").iterdir())
    assert written == ["figure1.json", "figure1.pdf", "figure1.png"]
    out = data / "processed" / f"{BUNDLED_ID}_figures-all"
    prov = json.loads((out / "provenance.json").read_text())
    # PDF + 300 dpi PNG + sidecar for every figure of the suite, at 183 mm.
    # (--journal adds SVG, TIFF and 600 dpi at both widths: see test_figures_suite.)
    names = ("figure1", "sitemap", "sitemap-europe", "sitemap-east-asia", "flow",
             "regions", "timeline", "change")
    for stem in names:
        for suffix in (".pdf", ".png", ".json"):
            assert f"figures/{stem}{suffix}" in prov["outputs"], stem + suffix
    figures = {k for k in prov["outputs"] if k.startswith("figures/")}
    assert not {k for k in figures if k.endswith((".svg", ".tif"))}
    assert "figures/change_trials.csv" in prov["outputs"]
    methods = (out / "methods.md").read_text()
    assert "registry data date 2022-01-21" in methods and "comprises 300 trials" in methods


def test_unknown_figure_name_is_one_line_before_any_work(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--figures", "figure1,figure2", "-q"]) == 1
    err = _one_line_error(capsys)
    assert "unknown figure 'figure2'" in err and "sitemap" in err


def test_bad_option_exits_2_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trialmap: error: "), err
    return err[0]


def test_missing_snapshot_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "--snapshot", "nope", "-q"]) == 1
    assert "snapshot 'nope' not found" in _one_line_error(capsys)
    assert not (tmp_path / "processed").exists()

def test_an_empty_data_dir_runs_the_bundled_snapshot(tmp_path, capsys):
    # A pip-installed trialmap used outside the checkout has the bundled real snapshot.
    empty = tmp_path / "empty"
    assert main(["--data-dir", str(empty), "--offline"]) == 0
    captured = capsys.readouterr()
    assert f"processing local snapshot {BUNDLED_ID}" in captured.err
    assert (empty / "processed" / BUNDLED_ID / "figures" / "figure1.pdf").is_file()
    assert not (empty / "raw").exists()  # nothing copied: the bundled files are read in place


def test_corrupted_snapshot_fails_and_leaves_earlier_outputs_untouched(run, tmp_path, capsys):
    _, out = run
    data = tmp_path / "data"
    shutil.copytree(out.parents[1], data)
    snap = data / "raw" / BUNDLED_ID / "full_studies.tar.gz"
    snap.chmod(0o644)
    blob = bytearray(snap.read_bytes())
    blob[1000] ^= 0xFF
    snap.write_bytes(bytes(blob))
    before = {p.name: p.stat().st_mtime_ns for p in (data / "processed" / BUNDLED_ID).iterdir()}
    assert main(["--data-dir", str(data), "-q"]) == 1
    assert "full_studies.tar.gz has sha256" in _one_line_error(capsys)
    after = {p.name: p.stat().st_mtime_ns for p in (data / "processed" / BUNDLED_ID).iterdir()}
    assert before == after
    assert sorted(p.name for p in (data / "processed").iterdir()) == [BUNDLED_ID]


def test_bad_definition_file_is_one_line(data_dir, tmp_path, capsys):
    bad = tmp_path / "def.toml"
    bad.write_text("[definition\nname = 'x'\n")  # synthetic malformed file
    assert main(["--data-dir", str(data_dir), "--definition", str(bad), "-q"]) == 1
    assert "not valid TOML" in _one_line_error(capsys)


def test_unwritable_output_folder_is_one_line(data_dir, tmp_path, capsys):
    blocked = tmp_path / "data"
    shutil.copytree(data_dir / "raw", blocked / "raw")
    (blocked / "processed").write_text("a file where the output folder should be")
    assert main(["--data-dir", str(blocked), "-q"]) == 1
    assert "cannot create the output folder" in _one_line_error(capsys)


def test_trialmap_command_lists_and_verifies_snapshots(data_dir, capsys):
    assert trialmap_main(["--data-dir", str(data_dir), "snapshots"]) == 0
    assert BUNDLED_ID in capsys.readouterr().out
    assert trialmap_main(["--data-dir", str(data_dir), "verify", BUNDLED_ID]) == 0
    assert "OK" in capsys.readouterr().out
    assert trialmap_main(["--data-dir", str(data_dir), "verify", "missing"]) == 1
    assert "not found" in _one_line_error(capsys)


def test_as_of_after_the_registry_data_date_is_one_line_naming_both_dates(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--offline", "--as-of", "2023-01-01", "-q"]) == 1
    err = _one_line_error(capsys)
    assert "as_of=2023-01-01 (--as-of) is after the registry data date" in err and "2022-01-21" in err


def test_an_as_of_date_that_leaves_no_trial_says_so_in_one_line(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--offline", "--as-of", "2001-01-01"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and "no trial is left to map" in err[0] and "as of 2001-01-01" in err[0]


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--page-size", "0", "0 is out of range: give 1 to 1000"),
    ("--page-size", "-5", "-5 is out of range: give 1 to 1000"),
    ("--max-studies", "-1", "-1 is out of range: give 1 or more"),
    ("--as-of", "2999-01-01", "2999-01-01 is in the future"),
])
def test_bad_numbers_and_dates_are_refused_by_the_parser(option, value, says, capsys):
    with pytest.raises(SystemExit) as exc:
        main([option, value])
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_no_machine_paths_in_any_output_by_default(data_dir, tmp_path):
    ov = tmp_path / "private-folder" / "overrides.csv"
    ov.parent.mkdir()
    ov.write_text("city,state,country,lat,lon\nHyderabad,Andhra Pradesh,India,17.385,78.4867\n")
    assert main(["--data-dir", str(data_dir), "--offline", "--overrides", str(ov), "-q"]) == 0
    (out,) = (data_dir / "processed").glob(f"{BUNDLED_ID}_custom-*")
    for f in out.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert b"private-folder" not in blob and str(data_dir).encode() not in blob, f
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["geocoding"]["overrides"]["file"] == "overrides.csv"


LEAVE = """
import atexit, sys, threading, time
from trialmap.sigint import leave
atexit.register(lambda: open(sys.argv[1], "w").write("atexit ran"))
def work():
    time.sleep(0.3)
    open(sys.argv[1] + ".thread", "w").write("done")
if sys.argv[2] == "thread":  # a worker still busy: the normal exit waits for it
    threading.Thread(target=work).start()
print("the summary", end="")
leave(3)
"""


@pytest.mark.parametrize("with_thread", [False, True])
def test_leaving_without_teardown_keeps_exit_code_output_and_atexit(tmp_path, with_thread):
    """The CLIs end with sigint.leave (no interpreter teardown, 0.3 s): the exit status, the
    buffered output and the atexit functions are kept, and a running thread is waited for."""
    marker = tmp_path / "marker"
    proc = subprocess.run([sys.executable, "-c", LEAVE, str(marker), "thread" if with_thread else "-"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "the summary"
    assert marker.read_text() == "atexit ran"
    assert (tmp_path / "marker.thread").exists() == with_thread


def test_the_program_collects_cyclic_garbage_in_large_runs_only():
    """Small runs end soon and do without the cyclic collector; a registry-scale run keeps it;
    a caller's own process (a notebook, these tests) is left as it was."""
    import gc

    from trialmap.refresh import _collector

    was = gc.isenabled()
    try:
        _collector(True, small=True)
        assert not gc.isenabled()
        _collector(True, small=False)
        assert gc.isenabled()
        gc.disable()
        _collector(False, small=False)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
