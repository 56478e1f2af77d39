"""Every number about a result in the prose is computed, every claim holds: the committed chapters, scanned."""

from __future__ import annotations

import nbformat
import pytest

from labbook import chapters, prose
from labutils.summary import SUMMARY_KEY

CHAPTERS = chapters.chapter_sources()
IDS = [c.stem[:2] for c in CHAPTERS]
PAGES = [chapters.BOOK_DIR / "intro.md", chapters.BOOK_DIR / "instructor.md"]
MIN_CLAIMS = 3  # every chapter reads its results in words, and each such sentence is checked


def _committed(source):
    return nbformat.read(source.with_suffix(".ipynb"), as_version=4)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("the DCGAN reaches 84.9 against a floor of 1.71", ["84.9", "1.71"]),
        ("it covers 7 of 8 modes with 42% of its samples", ["7 of 8", "42%"]),
        ("training took 470 s, 2.5x longer", ["470 s", "2.5x"]),
        ("## 3.6 A study\nAs section 3.10 and sections 3.6 and 3.7 show (6.7), 3.6/3.7", []),
        ("with $\\beta_1 = 0.5$ and `lr = 2e-4` (Radford et al., 2016)", []),
        ("the distance {glue:text}`dcgan_fd:.1f` [link](https://x.org/1.5)", []),
    ],
)
def test_the_scan_finds_results_and_skips_settings_maths_code_and_references(text, numbers):
    assert [t.number for t in prose.typed_numbers(text, "test")] == numbers


def test_glue_references_are_parsed_with_and_without_a_document():
    text = "{glue:text}`fd:.1f` and {glue}`n` and {glue:text}`03_mnist_dcgan.ipynb::dcgan_fd:.1f`"
    assert prose.glue_references(text) == [
        (None, "fd"),
        (None, "n"),
        ("03_mnist_dcgan.ipynb", "dcgan_fd"),
    ]


@pytest.mark.parametrize("source", CHAPTERS + PAGES, ids=IDS + [p.stem for p in PAGES])
def test_no_result_number_is_typed_into_the_prose(source):
    phrases = prose.allowed().get(source.stem, [])
    if source.suffix == ".md":
        cells = [(0, source.read_text())]
    else:
        cells = prose.markdown_cells(_committed(source))
    typed = [
        t
        for i, text in cells
        for t in prose.unexplained(prose.typed_numbers(text, f"cell {i}"), phrases)
    ]
    assert not typed, (
        f"{source.name}: result numbers typed into the prose (glue them with lu.glue and "
        "{glue:text}`name:.2f`, write settings in maths or code, or add the phrase to "
        f"{prose.ALLOWED_FILE.name} if it is not a result):\n  " + "\n  ".join(map(str, typed))
    )


def test_the_allow_list_has_no_stale_phrase():
    texts = {c.stem: c.read_text() for c in CHAPTERS + PAGES}
    stale = [
        (document, phrase)
        for document, phrases in prose.allowed().items()
        for phrase in phrases
        if phrase not in " ".join(texts.get(document, "").replace("#", " ").split())
    ]
    assert not stale, f"allowed phrases that no longer appear in their document: {stale}"


@pytest.mark.parametrize("source", CHAPTERS, ids=IDS)
def test_every_number_glued_into_the_prose_is_computed_by_the_chapter(source):
    notebook = _committed(source)
    referenced = {
        name
        for _, text in prose.markdown_cells(notebook)
        for _, name in prose.glue_references(text)
    }
    missing = referenced - prose.glued_names(notebook)
    assert not missing, f"{source.name}: the prose shows {sorted(missing)}, which no cell glues"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_pages_glue_only_names_the_chapters_compute(page):
    glued = {c.stem + ".ipynb": prose.glued_names(_committed(c)) for c in CHAPTERS}
    wrong = [  # a page names the chapter's notebook: {glue:text}`03_mnist_dcgan.ipynb::dcgan_fd:.1f`
        (document, name)
        for document, name in prose.glue_references(page.read_text())
        if document not in glued or name not in glued[document]
    ]
    assert not wrong, f"{page.name} glues names no chapter computes: {wrong}"


@pytest.mark.parametrize("source", CHAPTERS, ids=IDS)
def test_every_claim_of_the_committed_outputs_holds(source):
    """The full-profile summary lists the chapter's claims; each holds, and each metric is in its range."""
    summaries = [
        o.metadata[SUMMARY_KEY]
        for c in _committed(source).cells
        for o in c.get("outputs", [])
        if SUMMARY_KEY in o.get("metadata", {})
    ]
    assert len(summaries) == 1, (
        f"{source.name}: expected one results summary, found {len(summaries)}"
    )
    summary = summaries[0]
    assert summary["profile"] == "full"
    claims = summary.get("claims", [])
    assert len(claims) >= MIN_CLAIMS, (
        f"{source.name}: {len(claims)} claims; every sentence that reads a result needs lu.claim"
    )
    failing = [c["claim"] for c in claims if not c["holds"]]
    assert not failing, f"{source.name}: claims the committed outputs contradict: {failing}"
    out = [(r["name"], r["value"], r["expected"]) for r in summary["metrics"] if not r["ok"]]
    assert not out, f"{source.name}: metrics outside their expected ranges: {out}"
