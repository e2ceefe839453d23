"""Journal export: every format in one call, exact sizes, fonts embedded, provenance read back
from the written files with independent readers (pypdf, Pillow, ElementTree, json)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import pytest
from PIL import Image
from pypdf import PdfReader

from trialmap.figures import export_figure, journal_figure, regions_bar
from trialmap.figures.export import PROVENANCE_KEY, file_name

MM_PER_PT = 25.4 / 72


@pytest.fixture(scope="module")
def provenance(result):
    return result.provenance(["--data-dir", "data"])


@pytest.fixture(scope="module")
def exported(result, provenance, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    ax = regions_bar(result.region_counts, source_line=result.source_line(), width="single")
    try:
        e = export_figure(ax.figure, out / "regions", provenance, title="Trials per region",
                          source_line="Data: ClinicalTrials.gov", caption="Legend text.",
                          data=result.region_counts)
    finally:
        plt.close(ax.figure)
    return out, e


def test_one_call_writes_every_format_and_resolution(exported):
    out, e = exported
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["regions.pdf", "regions.svg", "regions.png", "regions_600dpi.png",
                            "regions.tif", "regions_600dpi.tif", "regions.json"])
    assert [(f.format, f.dpi) for f in e.files] == [
        ("pdf", None), ("svg", None), ("png", 300), ("tiff", 300), ("png", 600), ("tiff", 600)]


def _record(blob, provenance):
    rec = json.loads(blob)
    assert rec["figure"] == {"name": "regions", "title": "Trials per region", "width_mm": 89.0,
                             "height_mm": rec["figure"]["height_mm"]}
    rest = {k: v for k, v in rec.items() if k != "figure"}
    assert rest == json.loads(json.dumps(provenance, default=str))
    return rec


def test_pdf_is_89_mm_wide_fonts_truetype_and_provenance_in_info(exported, provenance, definition):
    out, _ = exported
    reader = PdfReader(out / "regions.pdf")
    box = reader.pages[0].mediabox
    assert float(box.width) * MM_PER_PT == pytest.approx(89.0, abs=0.01)
    info = reader.metadata
    assert info["/Title"] == "Trials per region"
    assert info["/Subject"] == "Data: ClinicalTrials.gov"
    rec = _record(info[f"/{PROVENANCE_KEY}"], provenance)
    assert rec["snapshot"]["id"] == "ctgov-classic-2022-01-21"
    assert rec["snapshot"]["registry_data_date"] == "2022-01-21"
    assert "distinct trials" in rec["counting_rule"] and rec["definition"]["version"] == definition.version
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts
    for font in fonts.values():
        font = font.get_object()
        assert font["/Subtype"] != "/Type3"
        # Type 42 in PDF: a Type0 font over a CIDFontType2 (TrueType) with the font program embedded.
        for desc in font.get("/DescendantFonts", [font]):
            desc = desc.get_object()
            assert desc["/Subtype"] in ("/CIDFontType2", "/TrueType")
            assert "/FontFile2" in desc["/FontDescriptor"].get_object()
    assert b"/Type3" not in (out / "regions.pdf").read_bytes()


@pytest.mark.parametrize("dpi", [300, 600])
def test_png_and_tiff_have_size_resolution_and_provenance(exported, provenance, dpi):
    out, _ = exported
    px = round(89.0 / 25.4 * dpi)
    with Image.open(out / file_name("regions", "png", dpi)) as im:
        assert abs(im.width - px) <= 1
        assert im.info["dpi"] == pytest.approx((dpi, dpi), abs=0.5)
        _record(im.info[PROVENANCE_KEY], provenance)
        assert im.info["Title"] == "Trials per region"
        png_size = im.size
    with Image.open(out / file_name("regions", "tiff", dpi)) as im:
        assert im.size == png_size and im.mode == "RGB"  # no alpha channel
        assert im.info["compression"] == "tiff_lzw"
        assert tuple(float(x) for x in im.info["dpi"]) == pytest.approx((dpi, dpi))
        _record(im.tag_v2[270], provenance)  # ImageDescription
        assert im.tag_v2[269] == "Trials per region"  # DocumentName
        assert im.tag_v2[305].startswith("trialmap ")  # Software


def test_svg_is_89_mm_text_as_outlines_and_provenance_in_dublin_core(exported, provenance):
    out, _ = exported
    root = ET.parse(out / "regions.svg").getroot()
    assert float(root.get("width").removesuffix("pt")) * MM_PER_PT == pytest.approx(89.0, abs=0.01)
    ns = {"svg": "http://www.w3.org/2000/svg", "dc": "http://purl.org/dc/elements/1.1/"}
    _record(root.find(".//dc:description", ns).text, provenance)
    assert root.find(".//dc:source", ns).text == "Data: ClinicalTrials.gov"
    # Outlines: no <text> that would depend on the viewer's fonts.
    assert root.find(".//svg:text", ns) is None


def test_sidecar_lists_each_file_with_its_hash_and_the_numbers_shown(exported, result, provenance):
    out, e = exported
    side = json.loads((out / "regions.json").read_text())
    assert e.sidecar == out / "regions.json"
    assert side["figure"]["caption"] == "Legend text."
    assert side["figure"]["min_font_pt"] >= 5.0
    assert side["snapshot"] == json.loads(json.dumps(provenance["snapshot"]))
    for f in side["files"]:
        data = (out / f["file"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    rows = {r["region"]: r["n_trials"] for r in side["data"]["records"]}
    assert rows == result.region_counts.set_index("region")["n_trials"].to_dict()
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_editable_svg_keeps_text_and_bad_format_writes_nothing(tmp_path, provenance):
    fig, ax = journal_figure("single", 40)
    ax.set_title("Editable")
    try:
        export_figure(fig, tmp_path / "a", provenance, formats=("svg",), svg_fonttype="none")
        root = ET.parse(tmp_path / "a.svg").getroot()
        texts = [t for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert texts and "Editable" in "".join("".join(t.itertext()) for t in texts)
        with pytest.raises(ValueError, match="unknown figure format"):
            export_figure(fig, tmp_path / "b", provenance, formats=("pdf", "bmp"))
    finally:
        plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.svg"]


# -- rasters rendered by a forked copy of the process -------------------------------------------


def _regions_export(result, provenance, out, **kw):
    ax = regions_bar(result.region_counts, source_line=result.source_line(), width="single")
    try:
        return export_figure(ax.figure, out / "regions", provenance, formats=("pdf", "png"), dpis=(300,),
                             **kw)
    finally:
        plt.close(ax.figure)


def test_a_forked_rendering_gives_the_same_png_byte_for_byte(result, provenance, tmp_path, monkeypatch):
    from trialmap import forked as fork

    monkeypatch.setattr(fork, "available", lambda: True)  # whatever threads earlier tests left
    forked = _regions_export(result, provenance, tmp_path / "forked")
    monkeypatch.setattr(fork, "available", lambda: False)
    here = _regions_export(result, provenance, tmp_path / "here")
    assert [(f.format, f.sha256, f.pixels) for f in forked.files if f.format == "png"] == [
        (f.format, f.sha256, f.pixels) for f in here.files if f.format == "png"]
    names = sorted(p.name for p in (tmp_path / "forked").iterdir())
    assert names == ["regions.json", "regions.pdf", "regions.png"]


def test_a_failure_in_the_forked_rendering_is_raised_here_and_leaves_nothing(result, provenance, tmp_path,
                                                                            monkeypatch):
    import errno
    import os

    from matplotlib.figure import Figure

    real = Figure.savefig

    def full(self, fname, *a, **kw):  # made up: the disk fills while the PNG is rendered
        if kw.get("format") == "png":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, fname, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", full)
    monkeypatch.setattr("trialmap.forked.available", lambda: True)
    out = tmp_path / "out"
    with pytest.raises(OSError) as err:
        _regions_export(result, provenance, out)
    assert err.value.errno == errno.ENOSPC
    assert [p.name for p in out.iterdir()] == ["regions.pdf"]  # no temporary left
