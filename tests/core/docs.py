"""Small builders for documents in tests: a valid Belgian invoice as a dict, to tweak per test."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ublexport.model import Document

ROOT = Path(__file__).resolve().parents[2]
COMPANY: dict[str, Any] = json.loads((ROOT / "samples" / "company.json").read_text())

CUSTOMER: dict[str, Any] = {
    "relation_code": "D1",
    "organisation_name": "Bakkerij Peeters NV",
    "vat_number": "BE0765432146",
    "invoice_address": {"street": "Kerkstraat 5", "city": "Antwerpen", "postal_code": "2000", "country": "BE"},
}


def invoice(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "invoice",
        "status": "sent",
        "number": "T-1",
        "issue_date": "2026-11-02",
        "due_date": "2026-12-02",  # BR-CO-25: a positive amount due needs a due date or payment terms
        "company": copy.deepcopy(COMPANY),
        "customer": copy.deepcopy(CUSTOMER),
        "lines": [{"name": "Work", "quantity": "2", "unit_price": "10.00", "vat_category": "S", "vat_rate": "21"}],
    }
    data.update(changes)
    return data


def document(**changes: Any) -> Document:
    return Document.model_validate(invoice(**changes))
