"""UBL-SR-* and UBL-DT-* (ublexport/rules/syntax.py, CEN/TC 434 validation 1.3.16).

Each rule fires on a broken copy of an official example and not on the example itself; none fires on any official
example or on anything we render; and on randomly broken documents the module reports exactly what a plain XPath
reading of the Schematron reports (its shared pass skips the work wherever it can prove that nothing fails, and that
proof is what the comparison puts to the test).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.rules.helpers import (
    CEN_DIR,
    CN,
    CUS,
    L1,
    NORWAY,
    NS,
    PARSER,
    PEPPOL_DIR,
    SUP,
    VAT,
    disagreements,
    fired,
    insert,
    load,
    one,
    prepared_samples,
    remove,
    rendered_corpus,
    set_attr,
)
from tests.rules.helpers import set_text as set_text_of
from ublexport.errors import Violation
from ublexport.rules import BY_ID, check, rules_for
from ublexport.rules._doc import location

Mutation = Callable[[etree._Element], None]

SYNTAX_IDS = sorted(r.id for r in BY_ID.values() if r.check.__module__ == "ublexport.rules.syntax")


def _ours(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.rule.startswith(("UBL-SR-", "UBL-DT-"))]


# --- one broken variant per rule -----------------------------------------------------------------------------------


def add(parent: str, snippet: str, before: str | None = None) -> Mutation:
    def run(r: etree._Element) -> None:
        insert(r, parent, snippet, before=before)

    return run


def drop(path: str) -> Mutation:
    return lambda r: remove(r, path)


def attr(path: str, name: str, value: str) -> Mutation:
    return lambda r: set_attr(r, path, name, value)


def text(path: str, value: str) -> Mutation:
    return lambda r: set_text_of(r, path, value)


def twice(path: str) -> Mutation:
    """Repeat the (first) element at path right after itself."""

    def run(r: etree._Element) -> None:
        el = one(r, path)
        el.addnext(copy.deepcopy(el))

    return run


def seq(*mutations: Mutation) -> Mutation:
    def run(r: etree._Element) -> None:
        for m in mutations:
            m(r)

    return run


def at_root(snippet: str, before: str = SUP + "/..") -> Mutation:
    return add(".", snippet, before=before)


def payee(inner: str) -> Mutation:
    return at_root(f"<cac:PayeeParty>{inner}</cac:PayeeParty>", before="cac:Delivery")


PAYEE_NAME = "<cac:PartyName><cbc:Name>Payee Ltd</cbc:Name></cac:PartyName>"
ADR_OBJECT = (
    "<cac:AdditionalDocumentReference><cbc:ID>{}</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode>"
    "</cac:AdditionalDocumentReference>"
)
MEANS = "<cac:PaymentMeans><cbc:PaymentMeansCode{}>{}</cbc:PaymentMeansCode>{}</cac:PaymentMeans>"


def attachment(attributes: str) -> Mutation:
    return at_root(
        "<cac:AdditionalDocumentReference><cbc:ID>A1</cbc:ID><cac:Attachment>"
        f"<cbc:EmbeddedDocumentBinaryObject {attributes}>aGVsbG8=</cbc:EmbeddedDocumentBinaryObject>"
        "</cac:Attachment></cac:AdditionalDocumentReference>"
    )


@dataclass(frozen=True)
class Case:
    rule: str
    mutate: Mutation
    doc: str = "base-example.xml"


def references(tag: str) -> Mutation:
    return at_root(f"<cac:{tag}><cbc:ID>1</cbc:ID></cac:{tag}><cac:{tag}><cbc:ID>2</cbc:ID></cac:{tag}>")


CASES = [
    Case("UBL-SR-01", references("ContractDocumentReference")),
    Case("UBL-SR-02", references("ReceiptDocumentReference")),
    Case("UBL-SR-03", references("DespatchDocumentReference")),
    Case("UBL-SR-04", at_root(ADR_OBJECT.format("O1") + ADR_OBJECT.format("O2"))),
    Case("UBL-SR-05", twice("cac:PaymentTerms/cbc:Note")),
    Case("UBL-SR-06", twice("cac:BillingReference/cac:InvoiceDocumentReference"), CN),
    Case("UBL-SR-07", drop("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"), CN),
    Case("UBL-SR-08", at_root("<cac:InvoicePeriod><cbc:StartDate>2017-11-01</cbc:StartDate></cac:InvoicePeriod>" * 2)),
    Case("UBL-SR-09", twice(f"{SUP}/cac:PartyLegalEntity/cbc:RegistrationName")),
    Case("UBL-SR-10", twice(f"{SUP}/cac:PartyName")),
    Case("UBL-SR-11", twice(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID")),
    Case("UBL-SR-12", twice(f"{SUP}/cac:PartyTaxScheme")),
    Case(
        "UBL-SR-13",
        add(
            SUP,
            "<cac:PartyTaxScheme><cbc:CompanyID>1</cbc:CompanyID><cac:TaxScheme><cbc:ID>FC</cbc:ID></cac:TaxScheme>"
            "</cac:PartyTaxScheme><cac:PartyTaxScheme><cbc:CompanyID>2</cbc:CompanyID><cac:TaxScheme><cbc:ID>LOC"
            "</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>",
            before="cac:PartyLegalEntity",
        ),
    ),
    Case(
        "UBL-SR-14",
        add(f"{SUP}/cac:PartyLegalEntity", "<cbc:CompanyLegalForm>Ltd</cbc:CompanyLegalForm>" * 2),
    ),
    Case("UBL-SR-15", twice(f"{CUS}/cac:PartyLegalEntity/cbc:RegistrationName")),
    Case("UBL-SR-16", twice(f"{CUS}/cac:PartyIdentification")),
    Case("UBL-SR-17", twice(f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID")),
    Case("UBL-SR-18", twice(f"{CUS}/cac:PartyTaxScheme")),
    Case("UBL-SR-19", payee(PAYEE_NAME * 2)),
    Case(
        "UBL-SR-20",
        payee("<cac:PartyIdentification><cbc:ID>P1</cbc:ID></cac:PartyIdentification>" * 2 + PAYEE_NAME),
    ),
    Case(
        "UBL-SR-21",
        payee(PAYEE_NAME + "<cac:PartyLegalEntity><cbc:CompanyID>1</cbc:CompanyID><cbc:CompanyID>2</cbc:CompanyID>"
              "</cac:PartyLegalEntity>"),
    ),
    Case(
        "UBL-SR-22",
        at_root(
            "<cac:TaxRepresentativeParty>" + "<cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>" * 2 +
            f"<cac:PartyTaxScheme><cbc:CompanyID>SE1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>"
            "</cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case(
        "UBL-SR-23",
        at_root(
            "<cac:TaxRepresentativeParty><cac:Party><cac:PartyTaxScheme><cbc:CompanyID>SE1</cbc:CompanyID>"
            f"<cbc:CompanyID>SE2</cbc:CompanyID>{VAT}</cac:PartyTaxScheme></cac:Party></cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case("UBL-SR-24", twice("cac:Delivery")),
    Case("UBL-SR-25", twice("cac:Delivery/cac:DeliveryParty/cac:PartyName")),
    Case("UBL-SR-26", twice("cac:PaymentMeans/cbc:PaymentID")),
    Case("UBL-SR-27", twice("cac:PaymentMeans/cbc:PaymentMeansCode")),
    Case(
        "UBL-SR-28",
        add("cac:PaymentMeans", "<cac:PaymentMandate><cbc:ID>M1</cbc:ID><cbc:ID>M2</cbc:ID></cac:PaymentMandate>"),
    ),
    Case(
        "UBL-SR-29",
        seq(attr(f"{SUP}/cac:PartyIdentification/cbc:ID", "schemeID", "SEPA"),
            attr(f"{CUS}/cac:PartyIdentification/cbc:ID", "schemeID", "sepa")),
    ),
    Case(
        "UBL-SR-30",
        add(
            ".",
            "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator><cbc:AllowanceChargeReason>A"
            "</cbc:AllowanceChargeReason><cbc:AllowanceChargeReason>B</cbc:AllowanceChargeReason>"
            '<cbc:Amount currencyID="EUR">1</cbc:Amount></cac:AllowanceCharge>',
            before="cac:TaxTotal",
        ),
    ),
    Case("UBL-SR-31", twice("cac:AllowanceCharge/cbc:AllowanceChargeReason")),
    Case(
        "UBL-SR-32",
        add(
            "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory",
            "<cbc:TaxExemptionReason>A</cbc:TaxExemptionReason><cbc:TaxExemptionReason>B</cbc:TaxExemptionReason>",
            before="cac:TaxScheme",
        ),
    ),
    Case(
        "UBL-SR-33",
        at_root(
            "<cac:AdditionalDocumentReference><cbc:ID>A1</cbc:ID><cbc:DocumentDescription>x"
            "</cbc:DocumentDescription><cbc:DocumentDescription>y</cbc:DocumentDescription>"
            "</cac:AdditionalDocumentReference>"
        ),
    ),
    Case("UBL-SR-34", add(L1, "<cbc:Note>a</cbc:Note><cbc:Note>b</cbc:Note>", before="cbc:InvoicedQuantity")),
    Case("UBL-SR-35", twice(f"{L1}/cac:OrderLineReference/cbc:LineID")),
    Case(
        "UBL-SR-36",
        add(
            L1,
            "<cac:InvoicePeriod><cbc:StartDate>2017-11-01</cbc:StartDate></cac:InvoicePeriod>" * 2,
            before="cac:OrderLineReference",
        ),
    ),
    Case(
        "UBL-SR-37",
        add(
            f"{L1}/cac:Price",
            "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
            '<cbc:Amount currencyID="EUR">1</cbc:Amount></cac:AllowanceCharge>' * 2,
        ),
    ),
    Case("UBL-SR-39", at_root("<cac:ProjectReference><cbc:ID>P</cbc:ID></cac:ProjectReference>" * 2)),
    Case("UBL-SR-40", twice(f"{CUS}/cac:PartyName")),
    Case("UBL-SR-42", seq(twice(f"{SUP}/cac:PartyTaxScheme"), twice(f"{SUP}/cac:PartyTaxScheme"))),
    Case(
        "UBL-SR-43",
        at_root(
            '<cac:AdditionalDocumentReference><cbc:ID schemeID="AAA">A1</cbc:ID></cac:AdditionalDocumentReference>'
        ),
    ),
    Case("UBL-SR-44", add(".", MEANS.format("", "30", "<cbc:PaymentID>Other</cbc:PaymentID>"), "cac:PaymentTerms")),
    Case(
        "UBL-SR-45",
        seq(
            add("cac:PaymentMeans", "<cbc:PaymentDueDate>2017-12-01</cbc:PaymentDueDate>", "cbc:PaymentMeansCode"),
            twice("cac:PaymentMeans"),
        ),
    ),
    Case("UBL-SR-46", twice("cac:PaymentMeans")),
    Case("UBL-SR-47", add(".", MEANS.format("", "58", ""), before="cac:PaymentTerms")),
    Case("UBL-SR-48", drop(f"{L1}/cac:Item/cac:ClassifiedTaxCategory")),
    Case(
        "UBL-SR-49",
        at_root(
            "<cac:InvoicePeriod><cbc:DescriptionCode>3</cbc:DescriptionCode><cbc:DescriptionCode>35"
            "</cbc:DescriptionCode></cac:InvoicePeriod>"
        ),
    ),
    Case("UBL-SR-50", twice(f"{L1}/cac:Item/cbc:Description")),
    Case(
        "UBL-SR-51",
        add(
            f"{SUP}/cac:PostalAddress",
            "<cac:AddressLine><cbc:Line>a</cbc:Line></cac:AddressLine>" * 2,
            before="cac:Country",
        ),
    ),
    Case(
        "UBL-SR-52",
        add(
            L1,
            "<cac:DocumentReference><cbc:ID>1</cbc:ID></cac:DocumentReference>" * 2,
            before="cac:Item",
        ),
    ),
    Case("UBL-SR-53", drop(f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID")),
    Case("UBL-DT-01", text("cac:LegalMonetaryTotal/cbc:PayableAmount", "1656.250")),
    Case("UBL-DT-06", attachment('filename="a.pdf"')),
    Case("UBL-DT-07", attachment('mimeCode="application/pdf"')),
    Case("UBL-DT-08", attr("cbc:ID", "schemeName", "x")),
    Case("UBL-DT-09", attr(f"{SUP}/cbc:EndpointID", "schemeAgencyName", "x")),
    Case("UBL-DT-10", attr(f"{SUP}/cbc:EndpointID", "schemeDataURI", "x")),
    Case("UBL-DT-11", attr(f"{SUP}/cbc:EndpointID", "schemeURI", "x")),
    Case("UBL-DT-12", attr("cbc:IssueDate", "format", "x")),
    Case("UBL-DT-13", attr(f"{L1}/cbc:InvoicedQuantity", "unitCodeListIdentifier", "x")),
    Case("UBL-DT-14", attr(f"{L1}/cbc:InvoicedQuantity", "unitCodeListAgencyIdentifier", "x")),
    Case("UBL-DT-15", attr(f"{L1}/cbc:InvoicedQuantity", "unitCodeListAgencyName", "x")),
    Case("UBL-DT-16", attr("cbc:InvoiceTypeCode", "listAgencyName", "x")),
    Case("UBL-DT-17", attr("cbc:InvoiceTypeCode", "listName", "x")),
    Case("UBL-DT-18", attr("cbc:InvoiceTypeCode", "name", "x")),
    Case("UBL-DT-19", attr(f"{L1}/cac:Item/cbc:Name", "languageID", "en")),
    Case("UBL-DT-20", attr("cbc:InvoiceTypeCode", "listURI", "x")),
    Case("UBL-DT-21", attr("cbc:InvoiceTypeCode", "listSchemeURI", "x")),
    Case("UBL-DT-22", attr(f"{L1}/cac:Item/cbc:Name", "languageLocaleID", "x")),
    Case("UBL-DT-23", attachment('mimeCode="application/pdf" filename="a.pdf" uri="x"')),
    Case("UBL-DT-24", attr("cac:LegalMonetaryTotal/cbc:PayableAmount", "currencyCodeListVersionID", "2001")),
    Case("UBL-DT-25", attachment('mimeCode="application/pdf" filename="a.pdf" characterSetCode="UTF-8"')),
    Case("UBL-DT-26", attachment('mimeCode="application/pdf" filename="a.pdf" encodingCode="Base64"')),
    Case("UBL-DT-27", attr(f"{SUP}/cbc:EndpointID", "schemeAgencyID", "x")),
    Case("UBL-DT-28", attr("cbc:InvoiceTypeCode", "listAgencyID", "6")),
]


def test_every_rule_has_a_case() -> None:
    assert sorted(c.rule for c in CASES) == SYNTAX_IDS
    assert len(SYNTAX_IDS) == 75  # UBL-SR-01 .. -53 but -38 and -41 (no assertion), UBL-DT-01, -06 .. -28


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_rule_fires_on_broken_variant(case: Case) -> None:
    good = load(case.doc)
    assert case.rule not in fired(good, "en16931"), f"{case.rule} fires on the good document"
    broken = load(case.doc)
    case.mutate(broken)
    assert case.rule in fired(broken, "en16931")
    assert case.rule in fired(broken, "peppol") and case.rule in fired(broken, "nlcius")


def test_flags_and_messages() -> None:
    for rule_id in SYNTAX_IDS:
        entry = BY_ID[rule_id]
        warning = rule_id.startswith("UBL-DT-") and rule_id not in ("UBL-DT-01", "UBL-DT-06", "UBL-DT-07")
        assert entry.flag == ("warning" if warning else "fatal"), rule_id
        assert entry.family == "en16931"
    assert BY_ID["UBL-SR-01"].message == "Contract identifier shall occur maximum once."
    assert BY_ID["UBL-SR-27"].message == "Payment means text shall occur maximum once"
    assert BY_ID["UBL-DT-01"].message == "Amounts shall be decimal up to two fraction digits"
    assert BY_ID["UBL-DT-18"].message == "Name attribute should not be present"
    assert {r.id for r in rules_for("en16931")} >= set(SYNTAX_IDS)


# --- details of single rules ---------------------------------------------------------------------------------------


def test_violation_locations(base: etree._Element) -> None:
    insert(base, "(cac:InvoiceLine)[2]", "<cbc:Note>a</cbc:Note><cbc:Note>b</cbc:Note>", before="cbc:InvoicedQuantity")
    set_attr(base, "cbc:ID", "schemeName", "x")
    found = {v.rule: v for v in check(base, "en16931")}
    assert found["UBL-SR-34"].location == "/Invoice/cac:InvoiceLine[2]"
    assert found["UBL-SR-34"].flag == "fatal"
    assert found["UBL-DT-08"].location == "/Invoice" and found["UBL-DT-08"].flag == "warning"
    assert [v.rule for v in check(base, "en16931")].count("UBL-SR-34") == 1


def test_creditnote_lines_are_contexts_too() -> None:
    root = load(CN)
    insert(root, "cac:CreditNoteLine[2]", "<cbc:Note>a</cbc:Note><cbc:Note>b</cbc:Note>", before="cbc:CreditedQuantity")
    got = [v for v in check(root, "en16931") if v.rule == "UBL-SR-34"]
    assert [v.location for v in got] == ["/CreditNote/cac:CreditNoteLine[2]"]
    root = load(CN)
    remove(root, "cac:CreditNoteLine[1]/cac:Item/cac:ClassifiedTaxCategory")
    assert "UBL-SR-48" in fired(root, "en16931")


def test_invoiced_object_in_a_credit_note_may_be_50() -> None:
    ref = "<cac:AdditionalDocumentReference><cbc:ID>A1</cbc:ID><cbc:DocumentTypeCode>50</cbc:DocumentTypeCode>"
    ref += "</cac:AdditionalDocumentReference>"
    credit = load(CN)
    insert(credit, ".", ref, before=SUP + "/..")
    assert "UBL-SR-43" not in fired(credit, "en16931")
    invoice = load()
    insert(invoice, ".", ref, before=SUP + "/..")
    assert "UBL-SR-43" in fired(invoice, "en16931")
    set_text_of(invoice, "cac:AdditionalDocumentReference/cbc:DocumentTypeCode", "130")
    assert "UBL-SR-43" not in fired(invoice, "en16931")


def test_payee_must_differ_from_the_seller(base: etree._Element) -> None:
    payee("<cac:PartyName><cbc:Name>SupplierOfficialName Ltd</cbc:Name></cac:PartyName>")(base)
    assert {"UBL-SR-19", "UBL-SR-20", "UBL-SR-21"} <= fired(base, "en16931")
    set_text_of(base, "cac:PayeeParty/cac:PartyName/cbc:Name", "Factoring Ltd")
    assert not {"UBL-SR-19", "UBL-SR-20", "UBL-SR-21"} & fired(base, "en16931")
    identifiers = '<cac:PartyIdentification><cbc:ID schemeID="SEPA">X</cbc:ID></cac:PartyIdentification>'
    identifiers += "<cac:PartyIdentification><cbc:ID>Y</cbc:ID></cac:PartyIdentification>"
    insert(base, "cac:PayeeParty", identifiers, before="cac:PartyName")
    assert "UBL-SR-20" not in fired(base, "en16931")  # a SEPA creditor identifier besides one other


def test_one_vat_and_one_other_tax_registration_pass(base: etree._Element) -> None:
    insert(base, SUP, "<cac:PartyTaxScheme><cbc:CompanyID>FC1</cbc:CompanyID><cac:TaxScheme><cbc:ID>FC</cbc:ID>"
           "</cac:TaxScheme></cac:PartyTaxScheme>", before="cac:PartyLegalEntity")
    assert not {"UBL-SR-12", "UBL-SR-13", "UBL-SR-42"} & fired(base, "en16931")
    set_text_of(base, f"{SUP}/cac:PartyTaxScheme[2]/cac:TaxScheme/cbc:ID", "vat")  # upper-case(): two VAT ids
    assert "UBL-SR-12" in fired(base, "en16931")


def test_amount_decimals(base: etree._Element) -> None:
    set_text_of(base, f"{L1}/cac:Price/cbc:PriceAmount", "400.0001")  # a price is no amount of UBL-DT-01
    assert "UBL-DT-01" not in fired(base, "en16931")
    insert(base, f"{L1}/cac:Price", "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
           '<cbc:Amount currencyID="EUR">1.001</cbc:Amount><cbc:BaseAmount currencyID="EUR">401.001</cbc:BaseAmount>'
           "</cac:AllowanceCharge>")
    assert "UBL-DT-01" not in fired(base, "en16931")  # nor those of a price's allowance
    set_text_of(base, "cac:TaxTotal/cbc:TaxAmount", " 331.25\n")  # the whitespace counts: three characters
    got = [v for v in check(base, "en16931") if v.rule == "UBL-DT-01"]
    assert [v.location for v in got] == ["/Invoice/cac:TaxTotal/cbc:TaxAmount"]


def test_payment_means_codes_may_repeat_when_equal(base: etree._Element) -> None:
    insert(base, ".", MEANS.format("", "30", "<cbc:PaymentID>Snippet1</cbc:PaymentID>"), before="cac:PaymentTerms")
    assert not {"UBL-SR-44", "UBL-SR-46", "UBL-SR-47"} & fired(base, "en16931")


def test_name_attribute_only_on_payment_means_codes(base: etree._Element) -> None:
    twice("cac:PaymentMeans")(base)
    assert "UBL-DT-18" not in fired(base, "en16931")
    set_attr(base, "cac:PaymentMeans[2]/cbc:PaymentMeansCode", "name", None)
    set_attr(base, f"{L1}/cbc:InvoicedQuantity", "name", "x")
    assert "UBL-DT-18" in fired(base, "en16931")


def test_namespaced_attributes_are_not_the_rules_attributes(base: etree._Element) -> None:
    one(base, "cbc:ID").set("{urn:example}schemeName", "x")
    assert "UBL-DT-08" not in fired(base, "en16931")


# --- nothing fires on the official examples or on what we render ---------------------------------------------------

CEN_FILES = sorted(p for p in CEN_DIR.iterdir() if p.suffix.lower() == ".xml")
OFFICIAL = [*sorted(PEPPOL_DIR.glob("*.xml")), NORWAY, *CEN_FILES]


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.name)
def test_official_examples_pass(path: Path) -> None:
    root = etree.parse(str(path), PARSER).getroot()
    assert _ours(check(root, "en16931")) == []
    assert _ours(check(root, "peppol")) == []


def test_samples_pass() -> None:
    checked = 0
    for name, root, profile in prepared_samples():
        assert _ours(check(root, profile)) == [], name
        checked += 1
    assert checked >= 8


def test_generated_corpus_passes() -> None:
    for number, root, profile in rendered_corpus(50):
        assert _ours(check(root, profile)) == [], number


# --- the shared pass agrees with a plain reading of the Schematron -------------------------------------------------

UPPER = "translate({}, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
ROOT_CTX = "/*"
LINES = "//cac:InvoiceLine | //cac:CreditNoteLine"
AMOUNTS = (
    "//*[substring(local-name(), string-length(local-name()) - 5) = 'Amount' and "
    "not(substring(local-name(), string-length(local-name()) - 10) = 'PriceAmount') and "
    "not(ancestor::cac:Price/cac:AllowanceCharge)]"
)
BINARIES = "//*[substring(local-name(), string-length(local-name()) - 11) = 'BinaryObject']"
PAYEE_DIFFERS = (
    "((cac:PartyName/cbc:Name) != (../cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName))"
)


def _party(role: str, path: str) -> str:
    return f"count(cac:Accounting{role}Party/cac:Party/{path}) <= 1"


# rule id -> (context, test), in XPath 1.0; "allowances" and "charges" are the cac:AllowanceCharge contexts
REFERENCE: dict[str, tuple[str, str]] = {
    "UBL-SR-01": (ROOT_CTX, "count(cac:ContractDocumentReference/cbc:ID) <= 1"),
    "UBL-SR-02": (ROOT_CTX, "count(cac:ReceiptDocumentReference/cbc:ID) <= 1"),
    "UBL-SR-03": (ROOT_CTX, "count(cac:DespatchDocumentReference/cbc:ID) <= 1"),
    "UBL-SR-04": (ROOT_CTX, "count(cac:AdditionalDocumentReference[cbc:DocumentTypeCode='130']/cbc:ID) <= 1"),
    "UBL-SR-05": (ROOT_CTX, "count(cac:PaymentTerms/cbc:Note) <= 1"),
    "UBL-SR-06": ("//cac:BillingReference", "count(cac:InvoiceDocumentReference) <= 1"),
    "UBL-SR-07": ("//cac:BillingReference", "boolean(cac:InvoiceDocumentReference/cbc:ID)"),
    "UBL-SR-08": (ROOT_CTX, "count(cac:InvoicePeriod) <= 1"),
    "UBL-SR-09": (ROOT_CTX, _party("Supplier", "cac:PartyLegalEntity/cbc:RegistrationName")),
    "UBL-SR-10": (ROOT_CTX, _party("Supplier", "cac:PartyName/cbc:Name")),
    "UBL-SR-11": (ROOT_CTX, _party("Supplier", "cac:PartyLegalEntity/cbc:CompanyID")),
    "UBL-SR-12": (
        ROOT_CTX,
        _party("Supplier", f"cac:PartyTaxScheme[cac:TaxScheme[{UPPER.format('cbc:ID')} = 'VAT']]/cbc:CompanyID"),
    ),
    "UBL-SR-13": (
        ROOT_CTX,
        _party("Supplier", f"cac:PartyTaxScheme[cac:TaxScheme[{UPPER.format('cbc:ID')} != 'VAT']]/cbc:CompanyID"),
    ),
    "UBL-SR-14": (ROOT_CTX, _party("Supplier", "cac:PartyLegalEntity/cbc:CompanyLegalForm")),
    "UBL-SR-15": (ROOT_CTX, _party("Customer", "cac:PartyLegalEntity/cbc:RegistrationName")),
    "UBL-SR-16": (ROOT_CTX, _party("Customer", "cac:PartyIdentification/cbc:ID")),
    "UBL-SR-17": (ROOT_CTX, _party("Customer", "cac:PartyLegalEntity/cbc:CompanyID")),
    "UBL-SR-18": (
        ROOT_CTX,
        _party("Customer", f"cac:PartyTaxScheme[cac:TaxScheme[{UPPER.format('cbc:ID')} = 'VAT']]/cbc:CompanyID"),
    ),
    "UBL-SR-19": ("//cac:PayeeParty", f"count(cac:PartyName/cbc:Name) <= 1 and {PAYEE_DIFFERS}"),
    "UBL-SR-20": (
        "//cac:PayeeParty",
        f"count(cac:PartyIdentification/cbc:ID[{UPPER.format('@schemeID')} != 'SEPA']) <= 1 and {PAYEE_DIFFERS}",
    ),
    "UBL-SR-21": ("//cac:PayeeParty", f"count(cac:PartyLegalEntity/cbc:CompanyID) <= 1 and {PAYEE_DIFFERS}"),
    "UBL-SR-22": ("//cac:TaxRepresentativeParty", "count(cac:PartyName/cbc:Name) <= 1"),
    "UBL-SR-23": ("//cac:TaxRepresentativeParty", "count(cac:Party/cac:PartyTaxScheme/cbc:CompanyID) <= 1"),
    "UBL-SR-24": (ROOT_CTX, "count(cac:Delivery) <= 1"),
    "UBL-SR-25": ("//cac:Delivery", "count(cac:DeliveryParty/cac:PartyName/cbc:Name) <= 1"),
    "UBL-SR-26": ("//cac:PaymentMeans", "count(cbc:PaymentID) <= 1"),
    "UBL-SR-27": ("//cac:PaymentMeans", "count(cbc:PaymentMeansCode) <= 1"),
    "UBL-SR-28": ("//cac:PaymentMeans", "count(cac:PaymentMandate/cbc:ID) <= 1"),
    "UBL-SR-29": (ROOT_CTX, f"count(//cac:PartyIdentification/cbc:ID[{UPPER.format('@schemeID')} = 'SEPA']) <= 1"),
    "UBL-SR-30": ("allowances", "count(cbc:AllowanceChargeReason) <= 1"),
    "UBL-SR-31": ("charges", "count(cbc:AllowanceChargeReason) <= 1"),
    "UBL-SR-32": ("//cac:TaxSubtotal", "count(cac:TaxCategory/cbc:TaxExemptionReason) <= 1"),
    "UBL-SR-33": ("//cac:AdditionalDocumentReference", "count(cbc:DocumentDescription) <= 1"),
    "UBL-SR-34": (LINES, "count(cbc:Note) <= 1"),
    "UBL-SR-35": (LINES, "count(cac:OrderLineReference/cbc:LineID) <= 1"),
    "UBL-SR-36": (LINES, "count(cac:InvoicePeriod) <= 1"),
    "UBL-SR-37": (LINES, "count(cac:Price/cac:AllowanceCharge/cbc:Amount) <= 1"),
    "UBL-SR-39": (ROOT_CTX, "count(cac:ProjectReference/cbc:ID) <= 1"),
    "UBL-SR-40": (ROOT_CTX, _party("Customer", "cac:PartyName/cbc:Name")),
    "UBL-SR-42": ("//cac:AccountingSupplierParty/cac:Party", "count(cac:PartyTaxScheme) <= 2"),
    "UBL-SR-43": (
        "//cac:AdditionalDocumentReference",
        "(cbc:DocumentTypeCode='130') or ((local-name(/*) = 'CreditNote') and (cbc:DocumentTypeCode='50')) or "
        "(not(cbc:ID/@schemeID) and not(cbc:DocumentTypeCode))",
    ),
    "UBL-SR-44": (ROOT_CTX, "count(//cbc:PaymentID[not(preceding::cbc:PaymentID/. = .)]) <= 1"),
    "UBL-SR-45": (ROOT_CTX, "count(cac:PaymentMeans/cbc:PaymentDueDate) <= 1"),
    "UBL-SR-46": (ROOT_CTX, "count(cac:PaymentMeans/cbc:PaymentMeansCode/@name) <= 1"),
    "UBL-SR-47": (ROOT_CTX, "count(//cbc:PaymentMeansCode[not(preceding::cbc:PaymentMeansCode/. = .)]) <= 1"),
    "UBL-SR-48": (LINES, "count(cac:Item/cac:ClassifiedTaxCategory) = 1"),
    "UBL-SR-49": (ROOT_CTX, "count(cac:InvoicePeriod/cbc:DescriptionCode) <= 1"),
    "UBL-SR-50": (LINES, "count(cac:Item/cbc:Description) <= 1"),
    "UBL-SR-51": ("//cac:PostalAddress | //cac:Address", "not(cac:AddressLine) or count(cac:AddressLine) = 1"),
    "UBL-SR-52": (LINES, "count(cac:DocumentReference) <= 1"),
    "UBL-SR-53": ("//cac:PartyTaxScheme", "boolean(cac:TaxScheme/cbc:ID) and boolean(cbc:CompanyID)"),
    "UBL-DT-01": (AMOUNTS, "string-length(substring-after(.,'.')) <= 2"),
    "UBL-DT-06": (BINARIES, "boolean(@mimeCode)"),
    "UBL-DT-07": (BINARIES, "boolean(@filename)"),
    "UBL-DT-18": (ROOT_CTX, "count(//@name) - count(//cbc:PaymentMeansCode/@name) <= 0"),
}
for _rule_id, _name in (
    ("UBL-DT-08", "schemeName"),
    ("UBL-DT-09", "schemeAgencyName"),
    ("UBL-DT-10", "schemeDataURI"),
    ("UBL-DT-11", "schemeURI"),
    ("UBL-DT-12", "format"),
    ("UBL-DT-13", "unitCodeListIdentifier"),
    ("UBL-DT-14", "unitCodeListAgencyIdentifier"),
    ("UBL-DT-15", "unitCodeListAgencyName"),
    ("UBL-DT-16", "listAgencyName"),
    ("UBL-DT-17", "listName"),
    ("UBL-DT-19", "languageID"),
    ("UBL-DT-20", "listURI"),
    ("UBL-DT-21", "listSchemeURI"),
    ("UBL-DT-22", "languageLocaleID"),
    ("UBL-DT-23", "uri"),
    ("UBL-DT-24", "currencyCodeListVersionID"),
    ("UBL-DT-25", "characterSetCode"),
    ("UBL-DT-26", "encodingCode"),
    ("UBL-DT-27", "schemeAgencyID"),
    ("UBL-DT-28", "listAgencyID"),
):
    REFERENCE[_rule_id] = (ROOT_CTX, f"not(//@{_name})")


def _indicator(ac: etree._Element) -> list[str]:
    return ["".join(i.itertext()).strip(" \t\r\n") for i in ac.findall(f"{{{NS['cbc']}}}ChargeIndicator")]


def reference(root: etree._Element) -> set[tuple[str, str]]:
    """(rule id, location) of every failing assert, the Schematron read with lxml's XPath 1.0."""
    out = set()
    acs = root.xpath("//cac:AllowanceCharge", namespaces=NS)
    allowances = [ac for ac in acs if {"false", "0"} & set(_indicator(ac))]
    charges = [ac for ac in acs if ac not in allowances and {"true", "1"} & set(_indicator(ac))]
    for rule_id, (context, test) in REFERENCE.items():
        if context == "allowances":
            nodes = allowances
        elif context == "charges":
            nodes = charges
        else:
            nodes = root.xpath(context, namespaces=NS)
        for node in nodes:
            if not node.xpath(f"boolean({test})", namespaces=NS):
                out.add((rule_id, location(node)))
    return out


def ours(root: etree._Element) -> set[tuple[str, str]]:
    return {(v.rule, v.location) for v in _ours(check(root, "en16931"))}


def test_reference_covers_every_rule() -> None:
    assert sorted(REFERENCE) == SYNTAX_IDS


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_agrees_with_the_schematron_on_each_broken_variant(case: Case) -> None:
    root = load(case.doc)
    case.mutate(root)
    assert ours(root) == reference(root)


# The elements the rules look at, which the random edits below pick more often than others.
WATCHED = {
    "ID", "Name", "CompanyID", "RegistrationName", "PartyName", "PartyLegalEntity", "PartyTaxScheme", "TaxScheme",
    "PartyIdentification", "Note", "InvoicePeriod", "Delivery", "DeliveryParty", "PaymentMeans", "PaymentMeansCode",
    "PaymentID", "PaymentTerms", "AllowanceCharge", "AllowanceChargeReason", "ChargeIndicator", "Amount", "Price",
    "Item", "Description", "ClassifiedTaxCategory", "OrderLineReference", "LineID", "AdditionalDocumentReference",
    "DocumentTypeCode", "TaxCategory", "TaxSubtotal", "Party", "AccountingSupplierParty", "AccountingCustomerParty",
    "PostalAddress", "PayableAmount", "TaxAmount", "InvoiceDocumentReference", "BillingReference",
}


def _mutate(root: etree._Element, rng: random.Random) -> None:
    """A few random edits of the kinds the rules look for: repeated or removed elements, attributes, decimals."""
    for _ in range(rng.randint(1, 4)):
        elements = [el for el in root.iter(etree.Element) if el is not root]
        watched = [el for el in elements if etree.QName(el).localname in WATCHED]
        el = rng.choice(watched if watched and rng.random() < 0.7 else elements)
        parent = el.getparent()
        kind = rng.random()
        if kind < 0.45 and parent is not None:
            el.addnext(copy.deepcopy(el))
        elif kind < 0.6 and parent is not None:
            parent.remove(el)
        elif kind < 0.75:
            el.set(rng.choice(["schemeName", "name", "listName", "uri", "format", "schemeID", "foo"]), "x")
        elif kind < 0.85 and len(el) == 0:
            el.text = rng.choice(["1.005", "10.00", "SEPA", "VAT", "vat", "130", "50", "false", "true"])
        elif kind < 0.92 and len(el) == 0:
            el.set("schemeID", rng.choice(["SEPA", "sepa", "0088"]))
        else:
            twin = copy.deepcopy(rng.choice(elements))
            if len(el):
                el.append(twin)
            else:
                el.addnext(twin)


FUZZ_DOCS = ["base-example.xml", CN, "Allowance-example.xml", "vat-category-E.xml", "sales-order-example.xml"]


@pytest.mark.parametrize("name", FUZZ_DOCS)
def test_agrees_with_the_schematron_on_broken_documents(name: str) -> None:
    rng = random.Random(f"syntax-{name}")
    base = load(name)
    assert ours(base) == reference(base) == set()
    differing, fired_rules = disagreements([base], 150, rng, _mutate, ours, reference)
    assert not differing, differing[:3]
    assert len(fired_rules) > 12  # the edits reach a fair share of the rules


def test_agrees_with_the_schematron_on_the_cen_examples() -> None:
    rng = random.Random("syntax-cen")
    for path in (p for p in CEN_FILES if p.stat().st_size < 200_000):
        base = etree.parse(str(path), PARSER).getroot()
        for _ in range(20):
            root = copy.deepcopy(base)
            _mutate(root, rng)
            assert ours(root) == reference(root), path.name
