"""Fifth round: what earlier rounds noticed and left alone, and a fifth black-box round (a Peppol / VAT expert)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ublexport.identifiers import vat_number
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def invoice(**changes: Any) -> Document:
    """The Belgian sample invoice with its company inlined and CHANGES applied."""
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values.update(changes)
    return Document.model_validate(values)


def test_a_greek_vat_number_is_written_with_el_as_vies_knows_it() -> None:
    """GR is Greece's country code, EL its VAT prefix: a customer typed as GR094259216 was sent as such, and the
    accountant's books (matching relations by the VIES number) did not find it. The document keeps what was typed
    (code review: rewriting it in the model changed the version of every stored document with a Greek customer,
    which the rule would then have sent again)."""
    from ublexport.record import Record

    assert vat_number("GR094259216") == "GR094259216" and vat_number("el 094 259 216") == "EL094259216"
    greek = {"organisation_name": "Athina Trading AE", "vat_number": "GR094259216",
             "invoice_address": {"street": "Odos Ermou 1", "city": "Athina", "postal_code": "10563", "country": "GR"}}
    document = invoice(customer=greek, allowances_charges=[],
                       lines=[{"name": "Machine", "quantity": "1", "unit_price": "1000.00", "vat_category": "K",
                               "vat_rate": "0"}])
    assert document.customer is not None and document.customer.vat_number == "GR094259216"
    assert Record.of(document).content["customer"]["vat_number"] == "GR094259216"  # the version as before
    xml = prepare(document, pdf=PdfMode.none).xml
    assert b'<cbc:EndpointID schemeID="9933">EL094259216</cbc:EndpointID>' in xml
    assert b"<cbc:CompanyID>EL094259216</cbc:CompanyID>" in xml and b"GR094259216" not in xml
    assert b"<cbc:IdentificationCode>GR</cbc:IdentificationCode>" in xml  # the country stays GR


# --- fifth black-box round (a Peppol / VAT expert) -----------------------------------------------------------------

ONE_LINE = [{"name": "Werk", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "21"}]


def refusal(**changes: Any) -> str:
    """The message a document with CHANGES is refused with."""
    with pytest.raises(ValidationError) as info:
        invoice(**changes)
    return str(info.value)


def expense(**changes: Any) -> Document:
    values = json.loads((SAMPLES / "08-expense.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values.pop("pdf")
    values.update(changes)
    return Document.model_validate(values)


def test_a_rounding_of_a_unit_or_more_is_refused_naming_the_rounding() -> None:
    """-200.00 was refused as "prepaid_amount: 0.00 is more than the invoice's total 121.00", and -121.00 or +1000.00
    went: a hidden discount or surcharge the accountant books on the rounding account."""
    for amount in ("-200.00", "-121.00", "1000.00", "1.00"):
        said = refusal(lines=ONE_LINE, allowances_charges=[], rounding_amount=amount)
        assert f"rounding_amount: {amount} is no rounding" in said and "prepaid_amount: 0.00" not in said
    assert invoice(lines=ONE_LINE, allowances_charges=[], rounding_amount="-0.99").totals.payable == Decimal("120.01")
    said = refusal(lines=ONE_LINE, allowances_charges=[], prepaid_amount="121.00", rounding_amount="-0.02")
    assert "rounding_amount: -0.02 with prepaid_amount 121.00 leaves -0.02 due of the invoice's total 121.00" in said
    assert "is more than" not in said
    assert "prepaid_amount: 130.00 is more than the invoice's total 121.00" in refusal(
        lines=ONE_LINE, allowances_charges=[], prepaid_amount="130.00")
    # a supplier's invoice is recorded as it came
    assert expense(rounding_amount="2.00").rounding_amount == Decimal("2.00")


def test_a_delivery_address_alone_states_no_delivery_date() -> None:
    """BT-72 is the tax point: the issue date was written as the delivery date of any invoice with a delivery
    address; only an intra-Community supply (BR-IC-11) takes it, as the README says."""
    address = {"street": "Werfstraat 1", "city": "Gent", "postal_code": "9000", "country": "BE"}
    xml = prepare(invoice(delivery={"address": address}), pdf=PdfMode.none).xml
    assert b"<cac:Delivery>" in xml and b"ActualDeliveryDate" not in xml and b"Werfstraat 1" in xml
    dated = prepare(invoice(delivery={"address": address, "date": "2026-10-30"}), pdf=PdfMode.none).xml
    assert b"<cbc:ActualDeliveryDate>2026-10-30</cbc:ActualDeliveryDate>" in dated
    ic = json.loads((SAMPLES / "03-invoice-be-nl-intracommunity.json").read_text(encoding="utf-8"))
    ic["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    ic.pop("delivery", None)
    xml = prepare(Document.model_validate(ic), pdf=PdfMode.none).xml
    assert f"<cbc:ActualDeliveryDate>{ic['issue_date']}</cbc:ActualDeliveryDate>".encode() in xml


def test_a_vat_rate_the_sellers_country_does_not_have_is_refused() -> None:
    line = {**ONE_LINE[0], "vat_rate": "5.5"}
    assert "lines[0].vat_rate: 5.5 % is not a Belgian VAT rate (category S: 6, 12, 21 %)" in refusal(
        lines=[line], allowances_charges=[])
    charge = {"charge": True, "amount": "5.00", "reason": "Vracht", "vat_category": "S", "vat_rate": "20"}
    assert "allowances_charges[0].vat_rate: 20 % is not a Belgian VAT rate" in refusal(
        lines=ONE_LINE, allowances_charges=[charge])
    for rate in ("6", "12", "21", "21.00"):
        invoice(lines=[{**ONE_LINE[0], "vat_rate": rate}], allowances_charges=[])
    # a private customer in France, under the OSS scheme: French VAT
    person = {"first_name": "Marie", "last_name": "Dupont",
              "invoice_address": {"street": "Rue de la Paix 1", "city": "Paris", "postal_code": "75002",
                                  "country": "FR"}}
    assert invoice(customer=person, lines=[{**ONE_LINE[0], "vat_rate": "20"}], allowances_charges=[])
    # a supplier's invoice is at its own country's rates
    assert expense(lines=[{**ONE_LINE[0], "vat_rate": "19"}]).lines[0].vat_rate == Decimal("19")


def test_a_dutch_seller_has_nine_percent_now_and_had_six_before_2019() -> None:
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    six = [{**ONE_LINE[0], "vat_rate": "6"}]
    with pytest.raises(ValidationError, match=r"6 % is not a Dutch VAT rate \(category S: 9, 21 %\)"):
        Document.model_validate({**nl, "lines": six, "allowances_charges": []})
    old = Document.model_validate({**nl, "lines": six, "allowances_charges": [], "issue_date": "2018-06-01",
                                   "due_date": "2018-07-01"})
    assert old.lines[0].vat_rate == Decimal("6")


def test_a_belgian_suppliers_bill_in_dollars_is_recorded_as_it_came() -> None:
    bill = expense(currency="USD")
    assert bill.tax_currency is None
    assert b"<cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>" in prepare(bill, pdf=PdfMode.none).xml
    with pytest.raises(ValidationError, match="a Belgian seller must also state the VAT in euro"):
        invoice(currency="USD")  # our own invoice still states it


@pytest.mark.parametrize(("field", "value", "says"), [
    ("country", "EL", "'EL' is not an ISO 3166-1 country code; Greece is GR (EL is only its VAT prefix)"),
    ("country", "UK", "'UK' is not an ISO 3166-1 country code; the United Kingdom is GB"),
    ("country", "QQ", "'QQ' is not an ISO 3166-1 country code (BE, NL, DE, ...)"),
])
def test_a_country_code_that_is_not_iso_is_refused_at_input_naming_the_field(field: str, value: str,
                                                                             says: str) -> None:
    customer = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))["customer"]
    customer["invoice_address"][field] = value
    said = refusal(customer=customer)
    assert "customer.invoice_address.country" in said and says in said


def test_a_unit_code_that_is_not_rec_20_is_refused_at_input() -> None:
    said = refusal(lines=[{**ONE_LINE[0], "unit_code": "UUR"}], allowances_charges=[])
    assert "lines.0.unit_code" in said and "'UUR' is not a UN/ECE Recommendation 20 unit code; e.g. C62" in said
    assert invoice(lines=[{**ONE_LINE[0], "unit_code": "HUR"}], allowances_charges=[]).lines[0].unit_code == "HUR"


def test_a_supplier_without_any_number_is_asked_for_its_relation_code() -> None:
    us = {"organisation_name": "Acme Inc.", "iban": "BE43068999999501",
          "invoice_address": {"street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}
    lines = [{"name": "Software licence", "quantity": "1", "unit_price": "99.00", "vat_category": "O"}]
    with pytest.raises(ValidationError, match=r"supplier: give its vat_number, enterprise_number or kvk_number, or "
                                              r"else its relation_code .*\(BR-CO-26\)"):
        expense(supplier=us, currency="USD", lines=lines, payment=None)
    named = expense(supplier={**us, "relation_code": "C9001"}, currency="USD", lines=lines, payment=None)
    assert b"<cbc:ID>C9001</cbc:ID>" in prepare(named, pdf=PdfMode.none).xml


def test_clearer_messages_for_a_negative_price_a_missing_customer_and_a_vat_number_without_prefix() -> None:
    said = refusal(lines=[{**ONE_LINE[0], "unit_price": "-5"}], allowances_charges=[])
    assert "-5: a price is never negative (BR-27); a returned item or a deduction is a line with a negative " \
        "quantity" in said
    assert "an invoice needs its customer (customer)" in refusal(customer=None)
    customer = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))["customer"]
    assert "VAT number '0765432146' lacks its country prefix: write BE0765432146" in refusal(
        customer={**customer, "vat_number": "0765432146"})


@pytest.mark.parametrize("code", ["XXX", "XAU", "XTS", "XDR"])
def test_a_currency_code_that_is_no_money_is_refused(code: str) -> None:
    said = refusal(currency=code, tax_currency="EUR", tax_exchange_rate="1.1")
    assert f"'{code}' is an ISO 4217 code for" in said and "not a currency an invoice is paid in" in said


def test_the_cfa_franc_is_a_currency() -> None:
    assert invoice(currency="XOF", tax_currency="EUR", tax_exchange_rate="0.0015").currency == "XOF"


# --- README audit ----------------------------------------------------------------------------------------------------


def test_the_printed_schema_accepts_every_sample_and_the_readme_example() -> None:
    """`ublexport schema` printed the models' schema: `"company": "company.json"` and `"pdf": {"file": ...}`, as the
    README and every sample write them, did not validate against it."""
    import jsonschema
    from click.testing import CliRunner

    from ublexport.cli import main

    printed = CliRunner().invoke(main, ["schema"])
    assert printed.exit_code == 0
    schema = json.loads(printed.output)
    checker = jsonschema.Draft202012Validator(schema)
    for path in sorted(SAMPLES.glob("[0-9]*.json")):
        errors = [e.message for e in checker.iter_errors(json.loads(path.read_text(encoding="utf-8")))]
        assert errors == [], (path.name, errors)
    sample = json.loads((SAMPLES / "08-expense.json").read_text(encoding="utf-8"))
    assert not checker.is_valid({**sample, "pdf": {"file": "x.pdf", "size": 3}})
    assert not checker.is_valid({**sample, "company": 3})
    line = sample["lines"][0]
    assert not checker.is_valid({**sample, "lines": [{**line, "unit_price": 38.4}]})  # a float, as the model says
    assert checker.is_valid({**sample, "lines": [{**line, "quantity": 12}]})  # an integer is fine
    company = json.loads(CliRunner().invoke(main, ["schema", "--company"]).output)
    assert jsonschema.Draft202012Validator(company).is_valid(
        json.loads((SAMPLES / "company.json").read_text(encoding="utf-8")))


def test_nlcius_is_for_a_dutch_suppliers_invoice_and_gives_no_warning_of_its_own() -> None:
    """README audit: `--profile nlcius` put the NLCIUS CustomizationID on Belgian invoices without a word, and the
    README's own NLCIUS example warned about its output (BR-NL-30, the account name)."""
    from click.testing import CliRunner

    from ublexport.cli import main

    belgian = prepare(invoice(), profile="nlcius", pdf=PdfMode.none)
    assert belgian.report.profile == "peppol"
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>" in belgian.xml
    said = CliRunner().invoke(main, ["render", str(SAMPLES / "01-invoice-be-be.json"), "--profile", "nlcius"])
    assert said.exit_code == 0 and "goes as Peppol BIS 3.0, not nlcius: NLCIUS is for a Dutch supplier's" in said.output
    dutch = CliRunner().invoke(main, ["render", str(SAMPLES / "02-invoice-nl-nl.json"), "--profile", "nlcius"])
    warnings = [line for line in dutch.output.splitlines() if line.startswith("warning")]
    assert dutch.exit_code == 0 and all(line.endswith("Yuki reads it here)") for line in warnings), warnings
    assert "urn:fdc:nen.nl:nlcius:v1.0</cbc:CustomizationID>" in dutch.output
    account = dutch.output[dutch.output.index("<cac:PayeeFinancialAccount>"):]
    account = account[:account.index("</cac:PayeeFinancialAccount>")]
    assert "<cbc:ID>NL" in account and "<cbc:Name>" not in account


# --- code review of the checks above ---------------------------------------------------------------------------------


def test_a_rate_in_force_when_the_goods_were_delivered_or_the_credited_invoice_was_issued_is_right() -> None:
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    six = [{**ONE_LINE[0], "vat_rate": "6"}]
    late = Document.model_validate({**nl, "lines": six, "allowances_charges": [], "issue_date": "2019-01-05",
                                    "due_date": "2019-02-05", "delivery": {"date": "2018-12-20"}})
    assert late.lines[0].vat_rate == Decimal("6")
    credit = {**nl, "kind": "credit_note", "lines": six, "allowances_charges": [], "issue_date": "2019-02-01",
              "due_date": None, "payment": None,
              "credited_invoice": {"number": "NL-2018-9", "issue_date": "2018-11-20"}}
    assert Document.model_validate(credit).lines[0].vat_rate == Decimal("6")
    old = {**credit, "lines": [{**ONE_LINE[0], "vat_rate": "19"}],
           "credited_invoice": {"number": "NL-2012-3", "issue_date": "2012-06-01"}}
    assert Document.model_validate(old).lines[0].vat_rate == Decimal("19")
    with pytest.raises(ValidationError, match="19 % is not a Dutch VAT rate"):
        Document.model_validate({**nl, "lines": [{**ONE_LINE[0], "vat_rate": "19"}], "allowances_charges": []})


def test_a_supply_abroad_may_carry_another_states_rate() -> None:
    """Only domestic supplies are held to the seller's rates: goods delivered to France under OSS, or French VAT
    on a supply taxed in France to a French business."""
    address = {"street": "Rue de la Paix 1", "city": "Paris", "postal_code": "75002", "country": "FR"}
    delivered = invoice(lines=[{**ONE_LINE[0], "vat_rate": "20"}], allowances_charges=[],
                        customer={"first_name": "Jan", "last_name": "Peeters", "invoice_address": {
                            "street": "Kerkstraat 1", "city": "Gent", "postal_code": "9000", "country": "BE"}},
                        delivery={"address": address})
    assert delivered.lines[0].vat_rate == Decimal("20")
    french = invoice(lines=[{**ONE_LINE[0], "vat_rate": "20"}], allowances_charges=[],
                     customer={"organisation_name": "Salon SA", "vat_number": "FR40303265045",
                               "invoice_address": address})
    assert french.lines[0].vat_rate == Decimal("20")


def test_a_forint_invoice_rounds_to_its_smallest_coin() -> None:
    huf = {"currency": "HUF", "tax_currency": "EUR", "tax_exchange_rate": "0.0025", "lines": ONE_LINE,
           "allowances_charges": []}
    assert invoice(**huf, rounding_amount="-2.00").rounding_amount == Decimal("-2.00")
    assert "rounding_amount: -5.00 is no rounding: the rounding of the amount due (BT-114) is less than 5 HUF" in \
        refusal(**huf, rounding_amount="-5.00")


def test_a_document_whose_company_refers_to_another_document_is_no_company() -> None:
    """Code review: a reference cycle between two document files ended in "nested too deeply"."""
    import tempfile

    from ublexport.errors import InputError
    from ublexport.loader import load_company

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "a.json").write_text('{"kind": "invoice", "company": "b.json"}', encoding="utf-8")
        (folder / "b.json").write_text('{"kind": "invoice", "company": "a.json"}', encoding="utf-8")
        with pytest.raises(InputError, match=r"b\.json: not a valid company"):
            load_company(folder / "a.json")


def test_a_buyer_with_a_vat_number_of_the_sellers_country_is_a_domestic_supply_wherever_the_goods_go() -> None:
    """Verification round: a customer with a Belgian VAT number and a French delivery address took any rate."""
    address = {"street": "Rue de la Paix 1", "city": "Paris", "postal_code": "75002", "country": "FR"}
    customer = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))["customer"]
    assert "20.123 % is not a Belgian VAT rate" in refusal(
        lines=[{**ONE_LINE[0], "vat_rate": "20.123"}], allowances_charges=[], delivery={"address": address})
    assert "20 % is not a Belgian VAT rate" in refusal(
        lines=[{**ONE_LINE[0], "vat_rate": "20"}], allowances_charges=[],
        customer={**customer, "invoice_address": address})


# --- legal mentions (a Belgian/Dutch invoicing compliance expert) ----------------------------------------------------


def test_the_default_exemption_text_is_worded_as_the_sellers_country_requires() -> None:
    """A Dutch seller's reverse charge said the Belgian "Verlegging van heffing" instead of "btw verlegd" (art. 35a
    lid 1 m Wet OB), and a Belgian exempt supply named no legal basis (art. 5 § 1 KB nr. 1)."""
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    reverse = Document.model_validate({**nl, "allowances_charges": [], "lines": [
        {"name": "Montage", "quantity": "1", "unit_price": "500.00", "vat_category": "AE", "vat_rate": "0"}]})
    assert b"<cbc:TaxExemptionReason>Btw verlegd</cbc:TaxExemptionReason>" in prepare(reverse, pdf=PdfMode.none).xml
    swiss = {"organisation_name": "Bäckerei Müller AG", "vat_number": "CHE116281710MWST",
             "invoice_address": {"street": "Marktgasse 3", "city": "Basel", "postal_code": "4051", "country": "CH"}}
    export = invoice(customer=swiss, allowances_charges=[], lines=[
        {"name": "Oven", "quantity": "1", "unit_price": "900.00", "vat_category": "G", "vat_rate": "0"}])
    assert "Vrijgestelde uitvoer (art. 39, § 1 WBTW)".encode() in prepare(export, pdf=PdfMode.none).xml
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    french = invoice(company={**company, "language": "fr"}, customer=swiss, allowances_charges=[], lines=[
        {"name": "Four", "quantity": "1", "unit_price": "900.00", "vat_category": "G", "vat_rate": "0"}])
    assert "Exportation exemptée (art. 39, § 1er du Code TVA)".encode() in prepare(french, pdf=PdfMode.none).xml


def test_reverse_charge_needs_the_customers_vat_number_not_only_its_company_number() -> None:
    customer = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))["customer"]
    without = {key: value for key, value in customer.items() if key != "vat_number"}
    said = refusal(customer=without, allowances_charges=[], lines=[
        {"name": "Werk", "quantity": "1", "unit_price": "100.00", "vat_category": "AE", "vat_rate": "0"}])
    assert "customer.vat_number: reverse charge (AE) makes the customer owe the VAT" in said


def test_a_belgian_credit_note_with_vat_says_the_customer_repays_what_it_deducted() -> None:
    """Art. 79 WBTW and art. 4 KB nr. 4: without the mention the seller may not take the VAT back."""
    from lxml import etree

    from tests.core.test_review_pdf import _pdf_rows

    credit = json.loads((SAMPLES / "06-credit-note.json").read_text(encoding="utf-8"))
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    french = Document.model_validate({**credit, "company": {**company, "language": "fr"}, "note": None})
    root = etree.fromstring(prepare(french, pdf=PdfMode.none).xml)
    said = "TVA à reverser à l'État dans la mesure où elle a été initialement déduite."
    assert root.findtext("{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}Note") == said
    printed = " ".join(text for row in _pdf_rows(french) for text in row)
    assert "TVA à reverser à l'État dans la mesure où elle a été initialement déduite." in printed
    dutch = Document.model_validate({**credit, "company": company})
    assert b"Btw terug te storten aan de Staat" in prepare(dutch, pdf=PdfMode.none).xml
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    nl_credit = Document.model_validate({**nl, "kind": "credit_note", "payment": None, "due_date": None,
                                         "credited_invoice": {"number": "NL-2026-100", "issue_date": "2026-10-01"}})
    assert b"terug te storten" not in prepare(nl_credit, pdf=PdfMode.none).xml  # a Dutch seller: not required


def test_what_the_people_read_a_proforma_is_no_invoice_units_and_pages_are_named() -> None:
    """The compliance expert: a proforma read as a request for payment; 12 m² read as 12 pieces; pages 2-7 of a long
    invoice carried no number; the expense e-mail named our company as the document's author."""
    import copy

    from tests.core.test_review_pdf import _pdf_rows
    from ublexport.compose import compose, message_bytes
    from ublexport.pdf import make_pdf

    proforma = json.loads((SAMPLES / "07-proforma.json").read_text(encoding="utf-8"))
    proforma["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    shown = Document.model_validate(proforma)
    assert ["Dit is geen factuur: de factuur volgt."] in _pdf_rows(shown)
    mail = message_bytes(compose(prepare(shown, pdf=PdfMode.none), "a@x.test", sender="b@x.test",
                                 message_id="<1@x.test>")).decode("utf-8", "replace")
    assert "Dit is een pro-formafactuur: geen factuur, niet te boeken" in mail.replace("=\r\n", "")
    expense = json.loads((SAMPLES / "08-expense.json").read_text(encoding="utf-8"))
    expense["company"] = proforma["company"]
    expense.pop("pdf")
    assert ["Inox plaatmateriaal 2mm", "12 m²", "38,40", "21%", "460,80"] in _pdf_rows(Document.model_validate(expense))
    many = copy.deepcopy(proforma)
    many["lines"] = [{**many["lines"][0], "name": f"Regel {i}"} for i in range(120)]
    document = Document.model_validate(many)
    rows = _pdf_rows(document)
    pages = [row[0] for row in rows if "Blad" in row[0]]
    assert len(pages) >= 3 and pages[-1].endswith(f"Blad {len(pages)}/{len(pages)}")
    assert sum(1 for row in rows if row and row[0] == "Omschrijving") == len(pages)  # the columns on every page
    assert make_pdf(document, document.totals) == make_pdf(document, document.totals)


def test_a_polish_or_greek_name_is_printed_in_the_pdf_as_the_ubl_carries_it() -> None:
    """The compliance expert: the PDF printed "Dvo?ák ?ód? Spó?ka" (the core fonts know Windows-1252 only), so the
    visual copy named the customer otherwise than the UBL."""
    import io

    from pypdf import PdfReader

    from ublexport.pdf import make_pdf

    name = "Dvořák Łódź Spółka z o.o. Ελληνική"
    customer = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))["customer"]
    document = invoice(customer={**customer, "organisation_name": name},
                       lines=[{**ONE_LINE[0], "name": "Usługa serwisowa – Ωmega"}], allowances_charges=[])
    pdf = make_pdf(document, document.totals)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert name in text and "Usługa serwisowa – Ωmega" in text and "?" not in text
    assert b"/FontFile2" in pdf  # the embedded font
    plain = invoice()
    assert b"/FontFile2" not in make_pdf(plain, plain.totals)  # Windows-1252 only: the small core-font PDF


def test_a_lines_own_discount_stays_on_the_page_of_its_line() -> None:
    """Verification round: page 2 began with "Korting: Korting A012 -1.00" under the heading, its line on page 1."""
    from tests.core.test_review_pdf import _pdf_rows

    discount = {"amount": "1.00", "reason": "Korting"}
    lines = [{**ONE_LINE[0], "name": f"Regel {i:03d}", "allowances_charges": [discount, discount]}
             for i in range(80)]
    rows = _pdf_rows(invoice(lines=lines, allowances_charges=[]))
    headings = [i for i, row in enumerate(rows) if row and row[0] == "Omschrijving"]
    assert len(headings) > 1
    assert all(rows[i + 1][0].startswith("Regel ") for i in headings), [rows[i + 1] for i in headings]


def test_the_refund_mention_is_not_said_twice() -> None:
    from ublexport.view import REFUND_MENTIONS

    credit = json.loads((SAMPLES / "06-credit-note.json").read_text(encoding="utf-8"))
    credit["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    document = Document.model_validate({**credit, "note": "Creditering. " + REFUND_MENTIONS["nl"]})
    assert prepare(document, pdf=PdfMode.none).xml.count(b"Btw terug te storten") == 1


def test_an_nlcius_export_says_the_documents_of_other_suppliers_go_as_peppol(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ublexport.cli import main

    result = CliRunner().invoke(main, ["export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@x.test",
                                       "--profile", "nlcius"], env={"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Note: --profile nlcius is for a Dutch supplier's documents; the others go as Peppol BIS 3.0." in \
        result.output
