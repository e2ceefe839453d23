"""trialmap.pipeline and the top level: one stage order, the Run object, works from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import trialmap as tm
from trialmap import pipeline
from trialmap.errors import ArgumentError, SnapshotNotFoundError

from .conftest import BUNDLED_ID, RAW


def test_import_trialmap_loads_no_pandas_geopandas_or_matplotlib():
    code = (
        "import sys, trialmap as tm; tm.run; tm.open_snapshot; "
        "print(sorted(m for m in ('pandas', 'geopandas', 'matplotlib', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_api_is_on_the_top_level():
    for name in ("open_snapshot", "fetch", "run", "Run", "load_definition", "list_definitions",
                 "data_dir", "figure1", "export_figure", "write_figures"):
        assert callable(getattr(tm, name)), name
    assert set(tm.__all__) <= set(dir(tm))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = tm.nope


def test_run_equals_its_stages_called_one_by_one(result, bundled_snapshot, definition):
    tables = pipeline.read(bundled_snapshot)
    tables, _ = pipeline.locate(tables)
    log, _, flow = pipeline.select(tables, definition)
    counts = pipeline.count(tables, log, tm.CountingRule("trials"))
    assert counts.country_counts.equals(result.country_counts)
    assert counts.region_counts.equals(result.region_counts)
    assert flow.equals(result.flow)
    assert pipeline.STAGES == ("read", "locate", "select", "count")


def test_run_repr_is_short_and_says_what_a_reader_needs(result):
    text = repr(result)
    lines = text.splitlines()
    assert len(lines) <= 20 and len(text) < 1500
    for part in (BUNDLED_ID, "registry data date 2022-01-21", result.definition.label,
                 "trials per country", "1,783 records", "300", "China 74", "United States 73"):
        assert part in text, part
    html = result._repr_html_()
    assert html.startswith("<table>") and "China 74" in html and BUNDLED_ID in html


def test_run_accepts_names_and_says_which_argument_is_wrong(bundled_snapshot):
    with pytest.raises(ArgumentError, match=r"rule=.votes. \(--counting-rule\) is not a counting rule"):
        tm.run(bundled_snapshot, rule="votes")
    with pytest.raises(SnapshotNotFoundError, match="snapshot 'nope' not found"):
        tm.open_snapshot("nope", RAW.parent)


def test_the_timer_hook_sees_every_stage_in_order(bundled_snapshot):
    import contextlib

    seen = []

    def timer(stage):
        seen.append(stage)
        return contextlib.nullcontext()

    tm.run(bundled_snapshot, timer=timer)
    assert tuple(seen) == pipeline.STAGES


def test_a_notebook_and_the_cli_write_the_same_figures(result, tmp_path):
    from trialmap.refresh import main

    folder = result.write(tmp_path / "lib", figures="figure1,regions")
    assert main(["--data-dir", str(tmp_path / "cli"), "--offline", "--figures", "figure1,regions", "-q"]) == 0
    cli = tmp_path / "cli" / "processed" / folder.name
    names = sorted(p.name for p in (folder / "figures").iterdir())
    assert names == sorted(p.name for p in (cli / "figures").iterdir())
    assert "regions.pdf" in names and "figure1.pdf" in names


def test_export_writes_journal_files_with_provenance(result, tmp_path):
    e = result.export(tmp_path / "figure1", formats=("pdf", "png"), dpis=(300,))
    assert {f.path.name for f in e.files} == {"figure1.pdf", "figure1.png"}
    side = json.loads(e.sidecar.read_text())
    assert side["snapshot"]["id"] == BUNDLED_ID and side["figure"]["caption"]


def _clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRIALMAP_DATA"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["HOME"] = str(tmp_path / "home")
    return env


def test_tm_run_works_in_a_folder_without_data(tmp_path):
    # A notebook started anywhere: no ./data, so the per-user folder, empty, and the bundled snapshot.
    code = "import trialmap as tm; r = tm.run(); print(r.snapshot.id, len(r.included))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_clean_env(tmp_path),
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [BUNDLED_ID, "300"]


def test_main_command_offline_from_an_empty_folder_writes_figure1(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trialmap.refresh", "--offline", "-q"], cwd=tmp_path,
                         env=_clean_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "xdg" / "trialmap" / "processed" / BUNDLED_ID
    assert (folder / "figures" / "figure1.pdf").is_file() and (folder / "figures" / "figure1.png").is_file()


def test_library_errors_name_the_argument_and_the_cli_option(bundled_snapshot):
    with pytest.raises(ArgumentError, match=r"as_of=2030-01-01 \(--as-of\) is after the registry data date"):
        tm.run(bundled_snapshot, as_of="2030-01-01")
    with pytest.raises(ArgumentError, match=r"as_of='June 2018' \(--as-of\) is not a date"):
        tm.run(bundled_snapshot, as_of="June 2018")


def test_snapshot_and_definition_reprs_are_one_short_line(bundled_snapshot, definition):
    for obj in (bundled_snapshot, definition):
        text = repr(obj)
        assert "\n" not in text and len(text) < 400, text
    assert repr(bundled_snapshot) == (
        f"<Snapshot {BUNDLED_ID}: 1783 records, registry data date 2022-01-21, "
        "ctgov-classic-full-studies-tar>")
    assert definition.label in repr(definition)
