"""Every figure of the suite at 89 and 183 mm, checked as a figure editor would: on the drawn
artists (display space: no text over text, nothing off the page, no legend over land with
data, no label over a country too small to hold it, every label placed) and on the written
PDF read back (width, smallest type, overlapping and off-page text)."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest

from trialmap.figures.export import journal_rc, min_font_size
from trialmap.figures.layout import layout_problems
from trialmap.figures.pdfcheck import check_pdf
from trialmap.figures.suite import DEFAULT_FIGURES, SuiteContext

WIDTH_MM = {"double": 183.0, "single": 89.0}
CASES = [(f.name, w) for f in DEFAULT_FIGURES for w in f.widths]


@pytest.fixture(scope="module")
def ctx(result):
    return SuiteContext(result, {})  # one context: derived tables (sensitivity...) computed once


@pytest.mark.parametrize(("name", "width"), CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_figure_passes_the_layout_and_pdf_checks(ctx, name, width, tmp_path):
    spec = next(f for f in DEFAULT_FIGURES if f.name == name)
    with mpl.rc_context(journal_rc(width)):
        ax = spec.draw(ctx, width)
    fig = ax.figure
    try:
        assert layout_problems(fig) == []
        skipped = {a.get_gid(): a.trialmap_skipped for a in fig.axes if getattr(a, "trialmap_skipped", None)}
        assert skipped == {}, "labels without a free spot"
        assert min_font_size(fig) >= 6.0
        # provenance off the image: one short source line (>= 6 pt), no settings or switches
        src = [t for t in fig.findobj(plt.Text) if t.get_gid() == "source-line"]
        assert len(src) == 1 and src[0].get_fontsize() >= 6.0
        text = " ".join(src[0].get_text().split())
        assert "snapshot ctgov-classic-2022-01-21" in text and "registry data date 2022-01-21" in text
        assert "=" not in text and "Counting" not in text
        assert src[0].get_text().count("\n") <= (0 if width == "double" else 1)
        # titles go in captions, never inside the figure
        assert ctx.run.definition.title not in " ".join(t.get_text() for t in fig.findobj(plt.Text))
        fig.savefig(tmp_path / "f.pdf")
    finally:
        plt.close(fig)
    report = check_pdf(tmp_path / "f.pdf")
    assert report.width_mm == WIDTH_MM[width]
    assert report.min_size >= 6.0
    assert report.overlaps == [] and report.off_page == []
    assert report.texts, "labels must be text in the PDF (no outlined halos)"


def test_every_figure_comes_at_both_widths():
    assert all(f.widths == ("double", "single") for f in DEFAULT_FIGURES)
    names = [f.name for f in DEFAULT_FIGURES]
    for new in ("figure1-then-now", "figure1-per-capita", "categories-by-country", "sensitivity", "flow"):
        assert new in names


def test_the_pdf_check_sees_overlapping_and_off_page_text(tmp_path):
    fig = plt.figure(figsize=(89 / 25.4, 30 / 25.4))
    fig.text(0.1, 0.5, "Overlapping label", fontsize=6)
    fig.text(0.15, 0.52, "another label", fontsize=6)
    fig.text(0.95, 0.1, "runs off the page", fontsize=5)
    try:
        assert any("Overlapping label" in a for pair in layout_problems(fig) for a in pair.split(" / "))
        fig.savefig(tmp_path / "bad.pdf")
    finally:
        plt.close(fig)
    report = check_pdf(tmp_path / "bad.pdf")
    assert report.width_mm == 89.0 and report.min_size == 5.0
    assert [(a.text, b.text) for a, b in report.overlaps] == [("Overlapping label", "another label")]
    assert [t.text for t in report.off_page] == ["runs off the page"]


def test_flow_exclusion_reasons_are_rules_not_record_quotes(result):
    from trialmap.figures.flow import exclusion_reasons

    reasons = exclusion_reasons(result.inclusion_log)
    texts = [text for items in reasons.values() for text, _ in items]
    # v3 reasons quote the record ("...name Erectile (other_autoimmune: mesh_ancestor D0000..."):
    # the flow box says which rule applied, never a record's term or a MeSH id.
    assert not [t for t in texts if "(" in t and ":" in t], texts
    assert not [t for t in texts if "D000" in t or "_" in t], texts
    scope = dict(reasons["in_scope"])
    assert scope["MeSH names a category, but the title or conditions name a disease outside scope"] >= 1


def test_every_sensitivity_variant_has_a_symbol_of_its_own(ctx):
    from matplotlib.colors import to_hex

    spec = next(f for f in DEFAULT_FIGURES if f.name == "sensitivity")
    with mpl.rc_context(journal_rc("double")):
        ax = spec.draw(ctx, "double")
    pairs = []
    for c in ax.collections:
        if (c.get_gid() or "").startswith("variant-") and c.get_gid() != "variant-default":
            path = c.get_paths()[0]
            pairs.append((to_hex(c.get_facecolor()[0]), to_hex(c.get_edgecolor()[0]),
                          path.vertices.round(3).tobytes()))
    assert len(pairs) >= 8 and len(set(pairs)) == len(pairs)


def test_sensitivity_legend_names_categories_as_the_definition_does(ctx):
    """Variants are named by their category's label (COVID-19, IgA nephropathy), each entry
    starting with a capital, never a switch's snake-case name."""
    spec = next(f for f in DEFAULT_FIGURES if f.name == "sensitivity")
    with mpl.rc_context(journal_rc("double")):
        ax = spec.draw(ctx, "double")
    try:
        legends = [leg for leg in [*ax.figure.legends, ax.get_legend()] if leg]
        entries = [t.get_text() for leg in legends for t in leg.get_texts()]
    finally:
        plt.close(ax.figure)
    assert "COVID-19 left out (definition: counted)" in entries
    assert "IgA nephropathy left out (definition: counted)" in entries
    assert "The definition as written" in entries
    assert all(e[:1].isupper() for e in entries) and not [e for e in entries if "_" in e or "covid19" in e]


@pytest.mark.parametrize("width", ["double", "single"])
def test_figure1_inset_labels_planned_by_a_forked_copy_are_the_ones_the_placer_draws(result, width,
                                                                                    monkeypatch):
    from trialmap import forked
    from trialmap.figures import layout
    from trialmap.figures.suite import draw

    copies = []
    start = forked.start

    def labels(available: bool) -> list:
        monkeypatch.setattr(forked, "available", lambda: available)
        fig = draw(result, "figure1", width).figure
        try:
            return [(ax.get_gid(), t.get_gid(), t.get_text(), tuple(t.get_position()), t.get_zorder(),
                     t.get_color(), t.get_fontsize(), getattr(t, "arrowprops", None))
                    for ax in fig.axes for t in ax.texts]
        finally:
            plt.close(fig)

    monkeypatch.setattr(forked, "start", lambda work: copies.append(work) or start(work))
    beside = labels(True)
    assert len(copies) == 1  # the inset's labels came back from a copy
    # The reference: the placer draws each label itself, in this process, nothing replayed.
    monkeypatch.setattr(layout.LabelPlacer, "_annotate",
                        lambda self, **kw: self.annotations.append(kw) or self.ax.annotate(**kw))
    monkeypatch.setattr(layout, "draw_plan", lambda ax, plan: None)
    drawn = labels(False)
    inset = [t for t in drawn if t[0] == "europe-inset" and (t[1] or "").startswith("label-")]
    assert len(inset) >= 10 and beside == drawn


def test_per_capita_map_names_the_large_countries_below_the_top_rates(ctx):
    """The twelve highest rates are labelled wherever the label goes; the United States and
    Canada (dark, large, below the top twelve) get theirs inside; no rate prints as 0.0."""
    spec = next(f for f in DEFAULT_FIGURES if f.name == "figure1-per-capita")
    with mpl.rc_context(journal_rc("double")):
        ax = spec.draw(ctx, "double")
    try:
        texts = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("label-")}
        inside = {t.get_gid() for t in ax.texts if getattr(t, "arrow_patch", None) is None}
    finally:
        plt.close(ax.figure)
    assert texts["label-USA"].startswith("USA 2.") and texts["label-CAN"].startswith("CAN 2.")
    assert {"label-USA", "label-CAN", "label-CHN"} <= inside
    assert len(texts) > 12 + 3 and not [t for t in texts.values() if t.endswith(" 0.0")]


def test_map_labels_keep_clear_of_the_page_edge(result):
    """A label keeps 1 pt clear of the page's edge (SWE 11 sat on the per-capita map's top edge,
    which is the page's, at 183 mm, and read as cut off)."""
    from trialmap.figures.layout import renderer
    from trialmap.figures.suite import draw

    fig = draw(result, "figure1-per-capita", "double").figure
    try:
        r, page = renderer(fig), fig.bbox
        margin = 0.95 * fig.dpi / 72  # 1 pt, less rounding
        labels = [t for ax in fig.axes for t in ax.texts if (t.get_gid() or "").startswith("label-")]
        assert len(labels) >= 12
        for t in labels:
            b = t.get_window_extent(r)
            assert (b.x0 >= page.x0 + margin and b.y0 >= page.y0 + margin and b.x1 <= page.x1 - margin
                    and b.y1 <= page.y1 - margin), t.get_text()
    finally:
        plt.close(fig)


@pytest.mark.parametrize("width", ["double", "single"])
def test_sensitivity_draws_every_change_and_nothing_behind_the_diamond(ctx, width):
    """A variant's marker is drawn where it changes a country's count, and only there, above the
    diamond: thirteen markers equal to the default had sat behind it (the United Kingdom's row)."""
    spec = next(f for f in DEFAULT_FIGURES if f.name == "sensitivity")
    with mpl.rc_context(journal_rc(width)):
        ax = spec.draw(ctx, width)
    try:
        colls = {c.get_gid(): c for c in ax.collections if (c.get_gid() or "").startswith("variant-")}
        default = colls.pop("variant-default")
        rows = [t.get_text() for t in ax.get_yticklabels()]  # bottom to top, as drawn
        wide = ctx.sensitivity[0].set_index("country").loc[rows]
        assert [x for x, _ in default.get_offsets()] == wide["default"].tolist()
        drawn = 0
        for gid, c in colls.items():
            v = wide[gid.removeprefix("variant-")]
            got = {(round(float(y)), float(x)) for x, y in c.get_offsets()}
            want = {(i, float(x)) for i, (x, d) in enumerate(zip(v, wide["default"], strict=True)) if x != d}
            assert got == want, gid
            assert c.get_zorder() > default.get_zorder(), gid
            drawn += len(got)
        assert drawn >= 20
    finally:
        plt.close(ax.figure)
