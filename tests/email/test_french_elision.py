"""French e-mail bodies elide "de" before a vowel and before a silent h (d'Hôtel Amigo), not before an aspirated h
(de Hollande Transport): Brussels and Walloon companies read these e-mails, and their suppliers are often hotels."""

from __future__ import annotations

import pytest

from tests.core.docs import invoice
from ublexport.compose import subject_and_body
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare


def _french_expense_body(supplier: str) -> str:
    data = invoice(kind="expense", status="received", number="F-77")
    data["company"]["language"] = "fr"
    data["supplier"] = data.pop("customer") | {"organisation_name": supplier}
    return subject_and_body(prepare(Document.model_validate(data), pdf=PdfMode.none))[1]


@pytest.mark.parametrize(("supplier", "said"), [
    ("Hôtel Amigo SA", "une facture d'achat d'Hôtel Amigo SA à"),
    ("Huissier Dupont SRL", "une facture d'achat d'Huissier Dupont SRL à"),
    ("Atelier Leroy SRL", "une facture d'achat d'Atelier Leroy SRL à"),
    ("Hollande Transport SA", "une facture d'achat de Hollande Transport SA à"),
    ("Hall 5 Events SRL", "une facture d'achat de Hall 5 Events SRL à"),
    ("Groothandel Verbeke NV", "une facture d'achat de Groothandel Verbeke NV à"),
])
def test_de_is_elided_before_a_vowel_or_a_silent_h_only(supplier: str, said: str) -> None:
    assert said in _french_expense_body(supplier)
