"""Rules added after the code review: BR-CO-25 and the Peppol national rules of Norway and Denmark."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from lxml import etree

from tests.rules.helpers import (
    CEN_DIR,
    CN,
    CUS,
    L1,
    LMT,
    PARSER,
    REFERENCE,
    SUP,
    fired,
    insert,
    load,
    remove,
    set_attr,
    set_text,
)
from ublexport.errors import Violation
from ublexport.rules import BY_ID, check

# --- BR-CO-25: a positive amount due needs a due date or payment terms --------------------------------------------


def _without_due_date_and_terms(root: etree._Element) -> etree._Element:
    remove(root, "cbc:DueDate")
    remove(root, "cac:PaymentTerms")
    return root


@pytest.mark.parametrize("profile", ["peppol", "en16931", "nlcius"])
def test_BR_CO_25_fires_without_due_date_and_terms(base: etree._Element, profile: str) -> None:
    _without_due_date_and_terms(base)
    found = [v for v in check(base, profile) if v.rule == "BR-CO-25"]
    assert len(found) == 1
    assert found[0].flag == "warning"  # the official artefacts dropped it; our input model still requires it
    assert found[0].location == "/Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount"
    assert found[0].message.startswith("In case the Amount due for payment (BT-115) is positive")


def test_BR_CO_25_due_date_alone_is_enough(base: etree._Element) -> None:
    remove(base, "cac:PaymentTerms")
    assert "BR-CO-25" not in fired(base)
    remove(base, "cbc:DueDate")
    assert "BR-CO-25" in fired(base)


def test_BR_CO_25_terms_alone_are_enough(base: etree._Element) -> None:
    remove(base, "cbc:DueDate")
    assert "BR-CO-25" not in fired(base)
    remove(base, "cac:PaymentTerms/cbc:Note")  # cac:PaymentTerms without a note is no payment terms (BT-20)
    assert "BR-CO-25" in fired(base)


@pytest.mark.parametrize("payable", ["0", "0.00", "-1656.25"])
def test_BR_CO_25_not_when_nothing_is_due(base: etree._Element, payable: str) -> None:
    _without_due_date_and_terms(base)
    set_text(base, f"{LMT}/cbc:PayableAmount", payable)
    assert "BR-CO-25" not in fired(base)
    set_text(base, f"{LMT}/cbc:PayableAmount", "0.01")
    assert "BR-CO-25" in fired(base)


def test_BR_CO_25_not_on_credit_notes(base: etree._Element) -> None:
    # The official context is the Invoice's PayableAmount only; CEN's own credit note example has a positive amount,
    # no due date and no terms, and passes the official artefacts.
    root = load(CN)
    remove(root, "cac:PaymentTerms")
    assert "BR-CO-25" not in fired(root)
    official = etree.parse(str(CEN_DIR / "ubl-tc434-creditnote1.xml")).getroot()
    assert "BR-CO-25" not in fired(official, "en16931")
    assert "BR-CO-25" in fired(_without_due_date_and_terms(base))  # the same gap in an invoice


def test_BR_CO_25_is_registered_as_en16931() -> None:
    assert BY_ID["BR-CO-25"].family == "en16931"
    assert BY_ID["BR-CO-25"].flag == "warning"


# --- the official examples: every verdict of the reference README, per file ------------------------------------------


def _readme_verdicts() -> list[tuple[str, str, str]]:
    """(file name, CEN 'nF/nW', Peppol 'nF/nW') for each row of the reference README's tables."""
    text = (REFERENCE / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"\| `([^`]+)` \| \w+ \| \w+: XSD 0 err; CEN (\d+F/\d+W); Peppol (\d+F/\d+W) \|", text)
    assert len(rows) == 30
    return rows


def _counts(violations: list[Violation]) -> str:
    return f"{sum(v.flag == 'fatal' for v in violations)}F/{sum(v.flag == 'warning' for v in violations)}W"


# What the November 2026 release (3.1.0) changes that we apply ahead of its date (README, "Peppol releases"): the
# README's counts are 3.0.21's, so its new rules are not counted and the Dutch identifier rules count as warnings.
MADE_FATAL_BY_3_1 = {"PEPPOL-COMMON-R054", "PEPPOL-COMMON-R055", "PEPPOL-COMMON-R056-1", "PEPPOL-COMMON-R056-2",
                     "PEPPOL-COMMON-R057"}
NEW_IN_3_1 = {"PEPPOL-COMMON-R058", "PEPPOL-COMMON-R059", "PEPPOL-COMMON-R062",
              *(f"PEPPOL-EN16931-R{n}" for n in range(140, 277))}


def _as_in_3_0_21(found: list[Violation]) -> list[Violation]:
    return [dataclasses.replace(v, flag="warning") if v.rule in MADE_FATAL_BY_3_1 else v for v in found
            if v.rule not in NEW_IN_3_1]


@pytest.mark.parametrize(("name", "cen", "peppol"), _readme_verdicts(), ids=lambda v: str(v))
def test_verdicts_match_the_reference_readme(name: str, cen: str, peppol: str) -> None:
    """The official validators' counts: CEN 1.3.16 (our en16931 family) and the Peppol 3.0.21 Schematron (our
    peppol family, national rules included), both run on each official example."""
    (path,) = (p for p in REFERENCE.rglob("*") if p.name == name)
    found = _as_in_3_0_21(check(etree.parse(str(path), PARSER).getroot(), "peppol"))
    assert _counts([v for v in found if BY_ID[v.rule].family == "en16931"]) == cen
    assert _counts([v for v in found if BY_ID[v.rule].family != "en16931"]) == peppol


# --- Norway -----------------------------------------------------------------------------------------------------

TAX_FORETAKSREGISTERET = (
    "<cac:PartyTaxScheme><cbc:CompanyID>Foretaksregisteret</cbc:CompanyID>"
    "<cac:TaxScheme><cbc:ID>TAX</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>"
)
NO_VAT = "NO974760673MVA"  # a valid organisation number (mod 11)


def norwegian(root: etree._Element) -> etree._Element:
    """A clean document of a Norwegian supplier."""
    set_text(root, f"{SUP}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "NO")
    set_text(root, f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", NO_VAT)
    insert(root, SUP, TAX_FORETAKSREGISTERET, before="cac:PartyLegalEntity")
    return root


def national(root: etree._Element) -> set[str]:
    return {r for r in fired(root) if r.startswith(("NO-R", "DK-R"))}


def test_clean_norwegian_document(base: etree._Element) -> None:
    assert national(norwegian(base)) == set()


@pytest.mark.parametrize("vat", ["NO974760674MVA", "NO974760673", "NO97476067MVA", "NO 974760673MVA", "NO000000000MVA"])
def test_NO_R_001_bad_norwegian_vat_number(base: etree._Element, vat: str) -> None:
    norwegian(base)
    set_text(base, f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID[.='{NO_VAT}']", vat)
    found = [v for v in check(base) if v.rule.startswith("NO-R")]
    assert [(v.rule, v.flag, v.location) for v in found] == [
        ("NO-R-001", "fatal", "/Invoice/cac:AccountingSupplierParty/cac:Party")
    ]


def test_NO_R_002_foretaksregisteret_is_a_warning(base: etree._Element) -> None:
    norwegian(base)
    remove(base, f"{SUP}/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='TAX']")
    found = [v for v in check(base) if v.rule.startswith("NO-R")]
    assert [(v.rule, v.flag) for v in found] == [("NO-R-002", "warning")]


def test_norwegian_is_decided_by_the_vat_prefix_first(base: etree._Element) -> None:
    # $supplierCountry: the VAT number's prefix wins over the postal address
    set_text(base, f"{SUP}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "NO")
    assert national(base) == set()  # GB VAT number: not Norwegian
    remove(base, f"{SUP}/cac:PartyTaxScheme")
    assert national(base) == {"NO-R-002"}  # no VAT number: the postal country decides


# --- Denmark ----------------------------------------------------------------------------------------------------


def danish(root: etree._Element) -> etree._Element:
    """A clean document between a Danish supplier and a Danish customer."""
    for party in (SUP, CUS):
        set_text(root, f"{party}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "DK")
        set_attr(root, f"{party}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0184")
        set_text(root, f"{party}/cac:PartyLegalEntity/cbc:CompanyID", "DK12345678")
    set_attr(root, f"{SUP}/cac:PartyIdentification/cbc:ID", "schemeID", "0184")
    set_text(root, f"{SUP}/cac:PartyIdentification/cbc:ID", "DK99887766")
    set_text(root, "cac:PaymentMeans/cbc:PaymentMeansCode", "31")
    return root


def test_clean_danish_documents(base: etree._Element) -> None:
    assert national(danish(base)) == set()
    assert national(danish(load(CN))) == set()


def _means(code: str, payment_id: str | None = None, account: str | None = None) -> Callable[[etree._Element], None]:
    def run(root: etree._Element) -> None:
        set_text(root, "cac:PaymentMeans/cbc:PaymentMeansCode", code)
        if payment_id is not None:
            set_text(root, "cac:PaymentMeans/cbc:PaymentID", payment_id)
        if account is not None:
            set_text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", account)

    return run


def _drop(path: str) -> Callable[[etree._Element], None]:
    return lambda root: remove(root, path)


def _no_scheme(path: str) -> Callable[[etree._Element], None]:
    return lambda root: set_attr(root, path, "schemeID", None)


def _add(parent: str, snippet: str, before: str | None = None) -> Callable[[etree._Element], None]:
    def run(root: etree._Element) -> None:
        insert(root, parent, snippet, before=before)

    return run


def _tax(reason: str) -> Callable[[etree._Element], None]:
    return _add(
        ".",
        "<cac:AllowanceCharge><cbc:ChargeIndicator>true</cbc:ChargeIndicator>"
        f"<cbc:AllowanceChargeReasonCode>ZZZ</cbc:AllowanceChargeReasonCode>"
        f"<cbc:AllowanceChargeReason>{reason}</cbc:AllowanceChargeReason>"
        '<cbc:Amount currencyID="EUR">0</cbc:Amount></cac:AllowanceCharge>',
        before="cac:TaxTotal",
    )


def _classification(version: str) -> Callable[[etree._Element], None]:
    return _add(
        f"{L1}/cac:Item",
        '<cac:CommodityClassification><cbc:ItemClassificationCode listID="TST" '
        f'listVersionID="{version}">43211503</cbc:ItemClassificationCode></cac:CommodityClassification>',
        before="cac:ClassifiedTaxCategory",
    )


DK_CASES = [
    ("DK-R-002", _drop(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID")),
    ("DK-R-014", _no_scheme(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID")),
    ("DK-R-013", _no_scheme(f"{CUS}/cac:PartyIdentification/cbc:ID")),
    ("DK-R-005", _means("30")),
    ("DK-R-006", _drop("cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch")),
    ("DK-R-007", _means("49")),
    ("DK-R-008", _means("50", "01#", "123456")),
    ("DK-R-009", _means("50", "04#123", "1234567")),
    ("DK-R-010", _means("93", "72#1234", "12345678")),
    ("DK-R-011", _means("93", "71#123", "12345678")),
    ("DK-R-017", _no_scheme(f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID")),
    ("DK-R-003", _classification("18.0")),
    ("DK-R-004", _tax("Afgift")),
]


@pytest.mark.parametrize(("rule_id", "mutate"), DK_CASES, ids=[c[0] for c in DK_CASES])
def test_danish_rule_fires_alone(base: etree._Element, rule_id: str, mutate: Callable[[etree._Element], None]) -> None:
    danish(base)
    mutate(base)
    assert national(base) == {rule_id}
    assert BY_ID[rule_id].flag == "fatal"  # DK-R-003 too, since Peppol 3.0.21


@pytest.mark.parametrize(
    "mutate",
    [
        _means("50", "15#1234567890123456", "12345678"),  # 7 or 8 digits since 3.0.21
        _means("93", "75#123456789012345", "12345678"),
        _means("93", "73#1", "12345678"),
        _classification("26.08.01"),
        _classification("19.0501"),
        _tax("0123"),
        _tax("A#1"),
    ],
)
def test_danish_variants_that_pass(base: etree._Element, mutate: Callable[[etree._Element], None]) -> None:
    danish(base)
    mutate(base)
    assert national(base) == set()
    _means("30")(base)
    assert national(base) == {"DK-R-005"}


def test_DK_R_016_negative_credit_note() -> None:
    root = danish(load(CN))
    set_text(root, f"{LMT}/cbc:PayableAmount", "-1.00")
    assert national(root) == {"DK-R-016"}


def test_danish_rules_need_a_danish_customer_except_the_supplier_ones(base: etree._Element) -> None:
    danish(base)
    set_text(base, f"{CUS}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "SE")
    for rule_id, mutate in DK_CASES:
        if rule_id != "DK-R-002":  # keep the legal ID, so that DK-R-014 can speak
            mutate(base)
    assert national(base) == {"DK-R-014"}  # DK-R-002, -014 and -016 ask for a Danish supplier only


def test_danish_is_the_postal_country_exactly_as_written(base: etree._Element) -> None:
    danish(base)
    remove(base, f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID")
    assert national(base) == {"DK-R-002"}
    set_text(base, f"{SUP}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "dk")
    assert national(base) == set()
