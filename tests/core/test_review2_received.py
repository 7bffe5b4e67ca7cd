"""Second review, a received UBL compared with its expense (received.py): a supplier's credit note, a supplier who
rounds VAT per line, and parties named in schemes that cannot be compared (GLN) or in an older form (9 digits)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.core.docs import COMPANY
from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
EXPENSE: dict[str, Any] = json.loads((SAMPLES / "08-expense.json").read_text())
SUPPLIER: dict[str, Any] = EXPENSE["supplier"]
OUR_PARTY = {"organisation_name": COMPANY["name"], "vat_number": COMPANY["vat_number"],
             "enterprise_number": COMPANY["enterprise_number"], "invoice_address": COMPANY["address"]}
SUPPLIER_COMPANY = {"name": SUPPLIER["organisation_name"], "vat_number": SUPPLIER["vat_number"],
                    "enterprise_number": SUPPLIER["enterprise_number"], "address": SUPPLIER["invoice_address"],
                    "iban": SUPPLIER["iban"], "email": SUPPLIER["email"], "language": "nl"}
RETURN = {"name": "Retour", "quantity": "1", "unit_price": "45.00", "vat_category": "S", "vat_rate": "21"}
BOLTS = [{"name": f"Bout {i}", "quantity": "1", "unit_price": "0.10", "vat_category": "S", "vat_rate": "21"}
         for i in range(10)]


def expense(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXPENSE)
    data["company"] = copy.deepcopy(COMPANY)
    data.pop("pdf")
    data.update(changes)
    return data


def supplier_sent(pdf: PdfMode = PdfMode.none, **changes: Any) -> bytes:
    """The UBL the supplier sends: rendered by us from the supplier's side (the supplier as our company)."""
    data: dict[str, Any] = {"kind": "invoice", "status": "sent", "number": "INV-88123", "issue_date": "2026-11-03",
                            "due_date": "2026-12-03", "company": copy.deepcopy(SUPPLIER_COMPANY),
                            "customer": copy.deepcopy(OUR_PARTY), "lines": copy.deepcopy(EXPENSE["lines"]),
                            **changes}
    return prepare(Document.model_validate(data), pdf=pdf).xml


def passed_on(data: dict[str, Any], xml: bytes) -> bytes:
    data["received_ubl"] = {"filename": "supplier.xml", "content_base64": base64.b64encode(xml).decode()}
    return prepare(Document.model_validate(data)).xml


def refused(data: dict[str, Any], xml: bytes) -> list[str]:
    with pytest.raises(InputError) as caught:
        passed_on(data, xml)
    return caught.value.problems


def edited(xml: bytes, *replacements: tuple[bytes, bytes]) -> bytes:
    for old, new in replacements:
        assert old in xml, old
        xml = xml.replace(old, new)
    return xml


# --- a supplier's credit note ----------------------------------------------------------------------------------


def credit_note_ubl() -> bytes:
    xml = supplier_sent(kind="credit_note", number="CN-777", issue_date="2026-11-05", due_date=None,
                        credited_invoice={"number": "INV-88123", "issue_date": "2026-11-03"}, lines=[RETURN])
    assert etree.QName(etree.fromstring(xml)).localname == "CreditNote"
    assert b'<cbc:PayableAmount currencyID="EUR">54.45<' in xml
    return xml


def test_a_supplier_credit_note_entered_as_a_negative_expense_is_passed_on() -> None:
    xml = credit_note_ubl()
    data = expense(number="CN-777", issue_date="2026-11-05", due_date=None, payment=None,
                   lines=[{**RETURN, "quantity": "-1"}])
    assert passed_on(data, xml) == xml


def test_a_supplier_credit_note_entered_as_a_positive_expense_is_refused() -> None:
    """Booked with positive amounts, it would be booked as a purchase instead of a credit."""
    data = expense(number="CN-777", issue_date="2026-11-05", lines=[RETURN])
    problems = refused(data, credit_note_ubl())
    assert len(problems) == 2 and problems[1] == (
        "VAT breakdown (cac:TaxSubtotal, BG-23): S 21 %: taxable -45.00, VAT -9.45 in the UBL (a credit note: its "
        "amounts count negative), S 21 %: taxable 45.00, VAT 9.45 in the lines"), problems
    assert problems[0].startswith("amount due (cbc:PayableAmount, BT-115): '54.45' in the UBL, "
                                                         "'54.45' in the total of the lines (negated: the UBL is a "
                                                         "credit note"), problems
    # even when the amounts are within the rounding tolerance
    small = supplier_sent(kind="credit_note", number="CN-1", issue_date="2026-11-05", due_date=None,
                          credited_invoice={"number": "INV-88123", "issue_date": "2026-11-03"},
                          lines=[{**RETURN, "unit_price": "0.30"}])
    data = expense(number="CN-1", issue_date="2026-11-05", lines=[{**RETURN, "unit_price": "0.30"}])
    assert refused(data, small)[0].startswith("amount due")


# --- rounding: a supplier who rounds VAT per line -----------------------------------------------------------------


def per_line_rounding_ubl() -> bytes:
    """Ten lines of 0.10 at 21 %: 0.02 VAT each (0.20), where EN 16931 rounds per rate (0.21); BR-CO-17 allows it."""
    xml = supplier_sent(number="INV-9", lines=BOLTS)
    return edited(xml, (b'TaxAmount currencyID="EUR">0.21<', b'TaxAmount currencyID="EUR">0.20<'),
                  (b'TaxInclusiveAmount currencyID="EUR">1.21<', b'TaxInclusiveAmount currencyID="EUR">1.20<'),
                  (b'PayableAmount currencyID="EUR">1.21<', b'PayableAmount currencyID="EUR">1.20<'))


def test_a_cent_of_vat_rounded_per_line_does_not_make_it_another_invoice() -> None:
    xml = per_line_rounding_ubl()
    assert passed_on(expense(number="INV-9", lines=BOLTS), xml) == xml


def test_a_stated_amount_due_is_compared_exactly_and_a_larger_difference_is_refused() -> None:
    xml = per_line_rounding_ubl()
    stated = expense(number="INV-9", lines=BOLTS, stated_totals={"payable": "1.21"})
    problems = refused(stated, xml)
    assert problems == ["amount due (cbc:PayableAmount, BT-115): '1.20' in the UBL, '1.21' in stated_totals.payable"]
    more = [*BOLTS, {"name": "Bout 10", "quantity": "1", "unit_price": "1.00", "vat_category": "S", "vat_rate": "21"}]
    problems = refused(expense(number="INV-9", lines=more), xml)  # 2.42 due: 1.22 more than the UBL's
    assert problems == ["amount due (cbc:PayableAmount, BT-115): '1.20' in the UBL, '2.42' in the total of the lines"]


# --- parties in other schemes ------------------------------------------------------------------------------------


def test_a_buyer_addressed_by_gln_only_is_not_refused() -> None:
    xml = supplier_sent()
    root = etree.fromstring(xml)
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert buyer is not None
    for element in (*buyer.findall("cac:PartyTaxScheme", NS),
                    *buyer.findall("cac:PartyLegalEntity/cbc:CompanyID", NS)):
        element.getparent().remove(element)  # type: ignore[union-attr]
    endpoint = buyer.find("cbc:EndpointID", NS)
    assert endpoint is not None
    endpoint.set("schemeID", "0088")
    endpoint.text = "5412345000013"
    gln = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert passed_on(expense(), gln) == gln
    # the seller is still compared
    other = {**SUPPLIER, "vat_number": "BE0403019261", "enterprise_number": "0403.019.261"}
    assert refused(expense(supplier=other), gln)[0].startswith("seller")


def test_a_seller_with_an_old_nine_digit_belgian_number_is_the_same_seller() -> None:
    """The VAT number as printed before 2005 (BE 444.000.276), and the endpoint in the VAT scheme (9925) in that
    form; Peppol wants the legal id (0208) in ten digits, so this UBL gives none."""
    xml = edited(supplier_sent(),
                 (b'<cbc:CompanyID schemeID="0208">0444000276</cbc:CompanyID>', b""),
                 (b'<cbc:EndpointID schemeID="0208">0444000276<', b'<cbc:EndpointID schemeID="9925">BE444000276<'),
                 (b"<cbc:CompanyID>BE0444000276</cbc:CompanyID>", b"<cbc:CompanyID>BE 444.000.276</cbc:CompanyID>"))
    assert b"0444000276" not in xml
    assert passed_on(expense(), xml) == xml
    # another nine-digit number is another seller
    other = xml.replace(b"444.000.276", b"403.019.261").replace(b">BE444000276<", b">BE403019261<")
    problems = refused(expense(), other)
    assert len(problems) == 1 and problems[0].startswith("seller"), problems
