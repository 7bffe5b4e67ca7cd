"""The version hash computed while the JSON is parsed (record.json_digest) is the stored rule (content_digest).

A document's version is this hash: were the two to differ on any document, every document imported again after the
upgrade would be a new version, and the automatic export would send each one again."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings

from benchmarks.corpus import documents as corpus
from tests.core.strategies import documents
from ublexport.loader import load_document
from ublexport.model import Document
from ublexport.record import Record, content_digest, json_digest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _same(document: Document) -> None:
    dumped = document.model_dump_json()
    assert json_digest(dumped) == content_digest(json.loads(dumped))
    record = Record.of(document)
    assert record.digest == content_digest(document.model_dump(mode="json"))
    # the text the store looks a company up by: what the content holds, as before
    assert record.company == json.dumps(json.loads(dumped)["company"], sort_keys=True)


def test_the_samples_and_a_varied_corpus_hash_alike() -> None:
    samples = [load_document(p) for p in sorted(SAMPLES.glob("*.json")) if p.name != "company.json"]
    assert len(samples) >= 10
    for document in [*samples, *corpus(200)]:
        _same(document)


@settings(max_examples=60, deadline=None)
@given(documents())
def test_generated_documents_hash_alike(data: dict[str, object]) -> None:
    _same(Document.model_validate(data))


def test_what_is_left_out_is_the_same() -> None:
    """Null, [] and {} members are pruned at every depth, also an object left empty by pruning; elements of a list
    are kept as they are; status never counts."""
    content = {"status": "sent", "a": None, "b": [], "c": {}, "d": {"e": None, "f": {"g": []}},
               "h": [{}, None, {"i": None, "j": 1}], "k": "0", "l": 0, "m": False, "n": ""}
    text = json.dumps(content)
    assert json_digest(text) == content_digest(content)
    assert json_digest(text) == content_digest({"h": [{}, None, {"j": 1}], "k": "0", "l": 0, "m": False, "n": ""})
    assert json_digest(text) != content_digest({"h": [None, {"j": 1}], "k": "0", "l": 0, "m": False, "n": ""})
