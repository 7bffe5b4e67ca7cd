"""The benchmark corpus (benchmarks/corpus.py) stays valid input as the model grows stricter: a benchmark that
dies on its own data measures nothing (a credit note crediting a later invoice stopped one)."""

from __future__ import annotations

from benchmarks.corpus import documents
from ublexport.pipeline import PdfMode, prepare


def test_the_benchmark_corpus_loads_and_every_document_passes_the_gate() -> None:
    docs = list(documents(300))
    kinds = {d.kind.value for d in docs}
    assert kinds == {"invoice", "credit_note", "proforma", "expense"} and {len(d.lines) for d in docs} == {10}
    for document in docs:
        assert prepare(document, pdf=PdfMode.none).report.valid, document.label


def test_the_bare_jinja2_baseline_renders_the_same_xml_as_ublexport() -> None:
    """The stage table compares our render with a bare Jinja2 render of the same data: only honest while both
    give the same XML (after C14N), which the benchmark also reports for its first 100 documents."""
    from benchmarks import baseline
    from ublexport.render import render_view
    from ublexport.view import build, profile_for

    for document in documents(300):
        view = build(document, profile=profile_for(document))
        ours, bare = render_view(view), baseline.bare_render(baseline.view_dict(view))
        assert baseline.canonical(ours) == baseline.canonical(bare), document.label
