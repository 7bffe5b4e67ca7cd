"""Bad input is refused with a message naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.core.docs import CUSTOMER, invoice
from ublexport.errors import InputError
from ublexport.loader import load_document


def write(tmp_path: Path, data: dict[str, Any], name: str = "doc.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def refused(tmp_path: Path, data: dict[str, Any]) -> str:
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_document(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    return message


def test_valid_invoice_loads(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, invoice()))
    assert doc.number == "T-1" and doc.lines[0].unit_price == 10


def test_unknown_field(tmp_path: Path) -> None:
    message = refused(tmp_path, invoice(totl="12.00"))
    assert "totl: unknown field" in message


def test_unknown_field_in_a_line(tmp_path: Path) -> None:
    data = invoice()
    data["lines"][0]["vat"] = "21"
    assert "lines[0].vat: unknown field" in refused(tmp_path, data)


def test_float_amount_refused(tmp_path: Path) -> None:
    data = invoice()
    data["lines"][0]["unit_price"] = 10.1
    message = refused(tmp_path, data)
    assert "lines[0].unit_price" in message and "float" in message


def test_integer_and_string_amounts_accepted(tmp_path: Path) -> None:
    data = invoice()
    data["lines"][0]["unit_price"] = 10
    data["lines"][0]["quantity"] = "1.5"
    doc = load_document(write(tmp_path, data))
    assert str(doc.lines[0].quantity) == "1.5"


def test_wrong_vat_check_digit(tmp_path: Path) -> None:
    data = invoice()
    data["customer"]["vat_number"] = "BE0765432147"
    message = refused(tmp_path, data)
    assert "customer.vat_number" in message and "check digit" in message


def test_wrong_enterprise_number_check_digit(tmp_path: Path) -> None:
    data = invoice()
    data["company"]["enterprise_number"] = "0812.345.604"
    assert "company.enterprise_number" in refused(tmp_path, data)


def test_wrong_kvk_number(tmp_path: Path) -> None:
    data = invoice()
    data["customer"]["kvk_number"] = "1234567"
    message = refused(tmp_path, data)
    assert "customer.kvk_number" in message and "8 digits" in message


def test_wrong_iban_check_digit(tmp_path: Path) -> None:
    data = invoice()
    data["company"]["iban"] = "BE71096123456768"
    assert "company.iban" in refused(tmp_path, data)


def test_wrong_structured_reference(tmp_path: Path) -> None:
    data = invoice(payment={"reference": "+++202/6000/00193+++"})
    assert "payment.reference" in refused(tmp_path, data)


def test_line_without_vat_category(tmp_path: Path) -> None:
    data = invoice()
    del data["lines"][0]["vat_category"]
    assert "lines[0].vat_category" in refused(tmp_path, data)


def test_exempt_without_reason(tmp_path: Path) -> None:
    data = invoice()
    data["lines"][0].update(vat_category="E", vat_rate="0")
    message = refused(tmp_path, data)
    assert "lines[0]" in message and "BR-E-10" in message


def test_credit_note_without_credited_invoice(tmp_path: Path) -> None:
    message = refused(tmp_path, invoice(kind="credit_note"))
    assert "credited_invoice" in message


def test_expense_needs_supplier(tmp_path: Path) -> None:
    assert "supplier" in refused(tmp_path, invoice(kind="expense", status="received"))


def test_control_character_refused(tmp_path: Path) -> None:
    data = invoice(note="bad \x0b char")
    message = refused(tmp_path, data)
    assert "note" in message and "U+000B" in message


def test_line_break_refused_in_one_line_fields(tmp_path: Path) -> None:
    message = refused(tmp_path, invoice(number="A\nSubject: spoofed"))
    assert "number" in message and "single line" in message


def test_person_full_name_with_infix() -> None:
    from ublexport.model import Party

    person = Party.model_validate({"first_name": "Jan", "infix": "van der", "last_name": "Berg",
                                   "invoice_address": CUSTOMER["invoice_address"]})
    assert person.full_name == "Jan van der Berg" and person.is_person


def test_company_reference_is_resolved(samples: Path) -> None:
    doc = load_document(samples / "01-invoice-be-be.json")
    assert doc.company.name == "Atelier Dewaele BV"


def test_missing_company_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"company: file nope\.json not found"):
        load_document(write(tmp_path, invoice(company="nope.json")))


def test_stated_total_that_disagrees(tmp_path: Path) -> None:
    from ublexport.totals import compute

    doc = load_document(write(tmp_path, invoice(stated_totals={"payable": "24.19"})))
    with pytest.raises(InputError, match=r"stated_totals.payable: 24.19 stated, 24.20 computed"):
        compute(doc)


def test_a_changed_company_file_is_read_again(tmp_path: Path) -> None:
    """The company file is read once for all documents that refer to it, but never served stale."""
    import json

    from ublexport.loader import load_document

    samples = Path(__file__).resolve().parents[2] / "samples"
    (tmp_path / "company.json").write_bytes((samples / "company.json").read_bytes())
    (tmp_path / "inv.json").write_bytes((samples / "01-invoice-be-be.json").read_bytes())
    first = load_document(tmp_path / "inv.json").company.name
    company = json.loads((tmp_path / "company.json").read_text())
    company["name"] = "Renamed BV"
    (tmp_path / "company.json").write_text(json.dumps(company))
    assert load_document(tmp_path / "inv.json").company.name == "Renamed BV" != first


def test_control_characters_are_refused_in_text_fields() -> None:
    from ublexport.model import _no_control

    for bad in ("a\x00b", "x\x1f", "\ud800", "\ufffe", "\x0b"):
        with pytest.raises(ValueError, match="control character U\\+"):
            _no_control(bad)
    assert _no_control("tab\tnew\nline\rok é €") == "tab\tnew\nline\rok é €"
