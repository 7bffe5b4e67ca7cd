"""What the store keeps of a document: the key that makes two imports the same document, its content as JSON, and
the hash that names its version.

A Record holds plain values only. A large export renders in worker processes and sends from another; the sending
process records each document in the ledger from its Record, so it never re-validates or re-dumps a model (that
cost as much per document as sending it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ublexport.model import Document, DocumentKind, stored_document


class RawJSON(str):
    """JSON text already serialized, for a JSON column: `json_dumps` passes it through instead of encoding a
    parsed copy again (the store's engines use json_dumps as their JSON serializer)."""


def json_dumps(value: Any) -> str:
    return value if isinstance(value, RawJSON) else json.dumps(value)


def _given(value: Any) -> Any:
    """VALUE without the fields that say nothing: None, and empty lists and objects (recursively)."""
    if isinstance(value, dict):
        kept = {k: _given(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_given(v) for v in value]
    return value


def content_digest(content: dict[str, Any]) -> str:
    """The version hash of a dumped document: everything but its status, and only what is given.

    A field left out and a field that is null (or an empty list) are the same content. A later release that adds an
    optional field to the model dumps it as null in every document; were it hashed, every stored document
    re-imported after the upgrade would be a new version, and the automatic export would send each one again.
    (Migration 6 recomputed the hashes stored before this rule.)"""
    return _digest(_given({k: v for k, v in content.items() if k != "status"}))


def _kept(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object as `_given` keeps it (its members are pruned already: the parser builds them first)."""
    return {k: v for k, v in pairs if v is not None and v != [] and v != {}}


def json_digest(content_json: str) -> str:
    """content_digest of a document dumped as CONTENT_JSON, pruned while it is parsed: one call per JSON object
    instead of a Python walk over every value, which was half of what a worker spent on a document's Record."""
    data: dict[str, Any] = json.loads(content_json, object_pairs_hook=_kept)
    data.pop("status", None)
    return _digest(data)


def _digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def document_key(document: Document) -> str:
    """What makes two imports the same document: kind and number, and for an expense also its supplier (two
    suppliers may both send an invoice numbered 1001)."""
    if document.kind == DocumentKind.expense:
        supplier = document.counterparty
        who = (supplier.vat_number or supplier.enterprise_number or supplier.kvk_number or supplier.oin
               or supplier.relation_code or supplier.full_name)
        return f"expense:{who}:{document.number}"
    return f"{document.kind.value}:{document.number}"


@dataclass(frozen=True, slots=True)
class Record:
    key: str  # document_key
    kind: str
    number: str
    issue_date: dt.date
    status: str
    content_json: str  # Document.model_dump_json(): the model as JSON, status included
    digest: str  # content_digest: the version
    company: str  # the company as JSON: the same text for every document of a company, looked up once per batch

    @classmethod
    def of(cls, document: Document) -> Record:
        content_json = document.model_dump_json()
        # the company as content_json has it (the same serialisers), without parsing all of it back (~15 % of this)
        company = json.dumps(document.company.model_dump(mode="json"), sort_keys=True)
        return cls(document_key(document), document.kind.value, document.number, document.issue_date,
                   document.status.value, content_json, json_digest(content_json), company)

    @property
    def content(self) -> dict[str, Any]:
        """The JSON the store's content columns hold (what Document.model_dump(mode="json") gives)."""
        data: dict[str, Any] = json.loads(self.content_json)
        return data

    def document(self) -> Document:
        """The model again, validated: for callers that need more than the store keeps."""
        return stored_document(self.content_json)
