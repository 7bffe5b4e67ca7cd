"""What fuzzing the input against the official Schematron found (nineteenth session): input the model took that
made a document the official validators refuse, or that our checks refused only after rendering, without naming
the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.docs import document, invoice
from tests.core.test_review_model import refused
from tests.rules.official import official
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare


def test_a_negative_zero_is_written_as_zero() -> None:
    """(Fuzzing against the official Schematron, nineteenth session) A unit price "-0.00" passed our BR-27 and went
    out as <cbc:PriceAmount>-0.00</cbc:PriceAmount>, which Saxon-based validators refuse (BR-27)."""
    lines = [{"name": "Gratis staal", "quantity": "-0", "unit_price": "-0.00", "vat_category": "S", "vat_rate": "21"},
             {"name": "Work", "quantity": "1", "unit_price": "10.00", "vat_category": "S", "vat_rate": "21"}]
    xml = prepare(document(lines=lines), pdf=PdfMode.none).xml
    assert b">-0" not in xml
    assert b"<cbc:PriceAmount currencyID=\"EUR\">0.00</cbc:PriceAmount>" in xml
    assert not [f for f in official(xml) if f[1] == "fatal"]


def test_an_empty_delivery_is_refused_at_its_field() -> None:
    """`"delivery": {}` (from a template) passed the model and was refused after rendering by
    PEPPOL-EN16931-R008 at /Invoice/cac:Delivery."""
    assert refused(invoice(delivery={})) == "delivery: give its date, its address or both, or leave delivery out"
    assert document(delivery={"date": "2026-11-01"}).delivery is not None


@pytest.mark.parametrize(("charge", "code", "said"), [
    (True, "95", "reason_code: 95 is a discount's (UNCL 5189); a surcharge (charge) takes a UNCL 7161 code"),
    (False, "FC", "reason_code: FC is a surcharge's (UNCL 7161); a discount (allowance) takes a UNCL 5189 code"),
    (False, "ZZ9", "reason_code: ZZ9 is no UNCL 5189 code"),
])
def test_a_reason_code_of_the_wrong_list_is_refused_at_its_field(charge: bool, code: str, said: str) -> None:
    """A charge coded 95 (an allowance's code) was refused after rendering by BR-CL-20 at an XPath."""
    adjustment = {"charge": charge, "amount": "5.00", "reason_code": code, "vat_category": "S", "vat_rate": "21"}
    message = refused(invoice(allowances_charges=[adjustment]))
    assert message.startswith("allowances_charges[0]: " + said)
    right = {**adjustment, "reason_code": "FC" if charge else "95"}
    assert prepare(document(allowances_charges=[right]), pdf=PdfMode.none).report.valid


def test_a_dutch_suppliers_credit_note_must_name_the_invoice_it_credits() -> None:
    """An NL supplier's credit note (an expense marked credit_note) without credited_invoice passed the model and
    could never go: NL-R-001 refused it after rendering, at /CreditNote/cbc:CreditNoteTypeCode. An invoice named in
    preceding_invoices is a BillingReference too, which NL-R-001 takes (the review of this session's diff)."""
    from tests.core.strategies import NL_CUSTOMER
    from tests.core.test_review_model import expense
    from ublexport.errors import InputError

    supplier = {**NL_CUSTOMER, "iban": "NL91ABNA0417164300"}
    values = expense(supplier=supplier, credit_note=True)
    with pytest.raises(InputError, match="credited_invoice: a Dutch supplier's credit note names the invoice it "
                                         r"credits \(NL-R-001\)"):
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    for given in ({"credited_invoice": {"number": "INK-88", "issue_date": "2026-10-01"}},
                  {"preceding_invoices": [{"number": "INK-88"}]}):
        prepared = prepare(Document.model_validate({**values, **given}), pdf=PdfMode.none)
        assert not [f for f in official(prepared.xml) if f[1] == "fatal" and f[0] != "NL-R-007"]


def _supplier(country: str, vat: str | None, **address: str) -> dict[str, Any]:
    supplier: dict[str, Any] = {"organisation_name": "Supplier", "relation_code": "L77",
                                "invoice_address": {"city": "City", "country": country, **address}}
    if vat is not None:
        supplier["vat_number"] = vat
    return supplier


@pytest.mark.parametrize("country", ["GR", "IS", "EL-abroad"])
def test_a_greek_or_icelandic_suppliers_expense_goes_as_en16931(country: str) -> None:
    """A Greek supplier's expense went as Peppol BIS, which the official rules refuse with nine fatals (GR-R-001:
    an invoice number of six segments with the supplier's TIN; GR-R-004: the MARK number; GR-R-009): what only
    the supplier's own e-invoice has. As EN 16931 it passes, and Yuki reads it the same."""
    from tests.core.test_review_model import expense

    # EL-abroad: a Greek VAT number with an address in Cyprus is Greek to the rules ($supplierCountry)
    vat = "IS123456" if country == "IS" else "EL094259216"
    supplier = _supplier("CY" if country == "EL-abroad" else country, vat, street="Odos 1", postal_code="10431")
    values = expense(supplier=supplier, lines=[{"name": "Software", "quantity": "1", "unit_price": "100.00",
                                                "vat_category": "S", "vat_rate": "24"}], payment=None)
    prepared = prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert prepared.report.profile == "en16931"
    assert not [f for f in official(prepared.xml, peppol=False) if f[1] == "fatal"]


def test_an_italian_supplier_gives_street_and_postal_code() -> None:
    """IT-R-002/004 refused an Italian supplier's expense without a postal code after rendering."""
    from tests.core.test_review_model import expense
    from ublexport.errors import InputError

    line = {"name": "Caffè", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "22"}
    values = expense(supplier=_supplier("IT", "IT00743110157", street="Via Roma 1"), lines=[line], payment=None)
    with pytest.raises(InputError, match=r"supplier.invoice_address: an Italian supplier's invoice gives its street "
                                         r"and postal_code \(IT-R-002, IT-R-004\); add its postal_code"):
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    values["supplier"]["invoice_address"]["postal_code"] = "20121"
    prepared = prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert not [f for f in official(prepared.xml) if f[1] == "fatal"]


def test_a_swedish_supplier_charges_swedish_rates() -> None:
    """SE-R-006 refused a Swedish supplier's expense at 21 % (a typo for 25) after rendering."""
    from tests.core.test_review_model import expense
    from ublexport.errors import InputError

    line = {"name": "Licens", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "21"}
    supplier = _supplier("SE", "SE556703748501", street="Gatan 1", postal_code="11122")
    values = expense(supplier=supplier, lines=[line], payment=None)
    with pytest.raises(InputError, match=r"lines\[0\]: a Swedish supplier charges 25, 12 or 6 % VAT \(SE-R-006\), "
                                         r"not 21 %"):
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    values["lines"][0]["vat_rate"] = "25"
    prepared = prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert not [f for f in official(prepared.xml) if f[1] == "fatal"]


def test_a_service_bought_outside_the_eu_is_reverse_charged_on_the_suppliers_tax_registration() -> None:
    """(Bookkeeper review, nineteenth session) A US SaaS supplier has no EU VAT number, so AE was refused (BR-AE-02)
    and the expense went as O, *Niet onderworpen aan btw*, inviting a booking without the self-assessment the buyer
    owes (art. 21 § 2 and 51 § 2, 1° WBTW). BR-AE-02 takes the seller's tax registration (BT-32) too."""
    from lxml import etree

    from tests.core.test_review2_pdf import _printed
    from tests.core.test_review_model import expense

    supplier = _supplier("US", None, street="1 Main St", postal_code="78701")
    line = {"name": "Cloud hosting", "quantity": "1", "unit_price": "49.00", "vat_category": "AE", "vat_rate": "0"}
    values = expense(supplier=supplier, lines=[line], currency="USD", payment=None)
    message = refused(values)
    assert "VAT category AE needs the seller's VAT number or, for a supplier without one, its tax_registration" in (
        message)
    values["supplier"]["tax_registration"] = "12-3456789"
    document = Document.model_validate(values)
    prepared = prepare(document, pdf=PdfMode.none)
    assert not [f for f in official(prepared.xml, peppol=prepared.report.profile == "peppol") if f[1] == "fatal"]
    root = etree.fromstring(prepared.xml)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    scheme = root.find("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", namespaces=ns)
    assert scheme is not None
    assert scheme.findtext("cbc:CompanyID", namespaces=ns) == "12-3456789"
    assert scheme.findtext("cac:TaxScheme/cbc:ID", namespaces=ns) == "TAX"
    assert root.findtext(".//cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason",
                         namespaces=ns) == "Verlegging van heffing"
    assert "Fiscaal nr. 12-3456789" in "\n".join(_printed(document))


def test_a_customer_has_no_tax_registration_of_ours_to_give() -> None:
    customer = {"organisation_name": "Acme", "vat_number": "BE0765432146", "tax_registration": "X",
                "invoice_address": {"city": "Gent", "country": "BE"}}
    assert "customer.tax_registration: only the seller's tax registration" in refused(invoice(customer=customer))


def test_the_national_checks_ask_what_the_rules_ask_and_spare_stored_documents() -> None:
    """(Review of this session's diff) The Swedish check took any Swedish address where SE-R-006 wants an SE VAT
    number too, applied to documents stored before it, and an Italian supplier's tax registration (BT-32) went
    unchecked until IT-R-001 refused it after rendering."""
    from tests.core.test_review_model import expense
    from ublexport.errors import InputError, InvalidDocumentError
    from ublexport.model import as_stored

    line = {"name": "Licens", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "21"}
    swedish_address = {**_supplier("SE", None, street="Gatan 1", postal_code="11122"),
                       "tax_registration": "Godkänd för F-skatt"}  # no SE VAT number: SE-R-006 does not apply
    from ublexport.view import _national_supplier

    _national_supplier(Document.model_validate(expense(supplier=swedish_address, lines=[line], payment=None)))
    swedish = _supplier("SE", "SE556703748501", street="Gatan 1", postal_code="11122")
    stored = expense(supplier=swedish, lines=[line], payment=None)
    with as_stored(), pytest.raises(InvalidDocumentError, match="SE-R-006"):  # the rule says it, not the input check
        prepare(Document.model_validate(stored), pdf=PdfMode.none)
    italian = {**_supplier("IT", "IT00743110157", street="Via Roma 1", postal_code="20121"),
               "tax_registration": "RSSMRA"}
    values = expense(supplier=italian, lines=[{**line, "vat_rate": "22"}], payment=None)
    with pytest.raises(InputError, match=r"supplier.tax_registration: an Italian supplier's tax registration .* "
                                         r"\(IT-R-001\)"):
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    values["supplier"]["tax_registration"] = "RSSMRA80A01F205X"
    prepared = prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert not [f for f in official(prepared.xml) if f[1] == "fatal"]
