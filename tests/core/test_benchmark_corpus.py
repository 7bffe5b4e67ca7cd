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
