"""The official example documents pass, the nine required broken copies are caught, the API behaves."""

from __future__ import annotations

import timeit
from pathlib import Path

import pytest
from lxml import etree

from tests.rules.helpers import CEN_DIR, NORWAY, PARSER, PEPPOL_DIR, fired, load, one, remove, set_attr, set_text
from ublexport.errors import Violation
from ublexport.rules import BY_ID, PROFILES, check, rules_for

PEPPOL_FILES = [*sorted(PEPPOL_DIR.glob("*.xml")), NORWAY]
CEN_FILES = sorted(p for p in CEN_DIR.iterdir() if p.suffix.lower() == ".xml")


def _fatal(path: Path, profile: str) -> list[Violation]:
    root = etree.parse(str(path), PARSER).getroot()
    return [v for v in check(root, profile) if v.flag == "fatal"]


@pytest.mark.parametrize("path", PEPPOL_FILES, ids=lambda p: p.name)
def test_peppol_examples_pass(path: Path) -> None:
    assert _fatal(path, "peppol") == []


@pytest.mark.parametrize("path", CEN_FILES, ids=lambda p: p.name)
def test_cen_examples_pass_en16931(path: Path) -> None:
    assert _fatal(path, "en16931") == []


def test_reference_folders_are_there() -> None:
    assert len(PEPPOL_FILES) == 11
    assert len(CEN_FILES) == 19


# --- the nine required broken copies of base-example.xml ------------------------------------------------------------


def test_BR_CO_16_wrong_payable_total(base: etree._Element) -> None:
    set_text(base, "cac:LegalMonetaryTotal/cbc:PayableAmount", "1600.00")
    assert "BR-CO-16" in fired(base)


def test_BR_CO_14_BR_CO_15_wrong_vat_total(base: etree._Element) -> None:
    set_text(base, "cac:TaxTotal/cbc:TaxAmount", "300.00")
    got = fired(base)
    assert "BR-CO-14" in got and "BR-CO-15" in got


def test_BR_07_missing_buyer_name(base: etree._Element) -> None:
    remove(base, "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName")
    assert "BR-07" in fired(base)


def test_BR_CL_18_vat_category_x(base: etree._Element) -> None:
    set_text(base, "cac:InvoiceLine[1]/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "X")
    assert "BR-CL-18" in fired(base)


def test_BR_E_10_exempt_without_reason() -> None:
    root = load("vat-category-E.xml")
    assert "BR-E-10" not in fired(root)
    remove(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode")
    assert "BR-E-10" in fired(root)


def test_BR_E_10_on_base_example_changed_to_exempt(base: etree._Element) -> None:
    for path in ("//cac:ClassifiedTaxCategory", "//cac:TaxCategory"):
        set_text(base, f"{path}/cbc:ID", "E")
        set_text(base, f"{path}/cbc:Percent", "0")
    set_text(base, "cac:TaxTotal//cbc:TaxAmount", "0.00")
    set_text(base, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "1325.00")
    set_text(base, "cac:LegalMonetaryTotal/cbc:PayableAmount", "1325.00")
    got = fired(base)
    assert "BR-E-10" in got
    assert got == {"BR-E-10"}


def test_PEPPOL_EN16931_R004_wrong_customization(base: etree._Element) -> None:
    set_text(base, "cbc:CustomizationID", "urn:cen.eu:en16931:2017")
    assert "PEPPOL-EN16931-R004" in fired(base)
    assert "PEPPOL-EN16931-R004" not in fired(base, "en16931")


def test_PEPPOL_EN16931_R120_wrong_line_amount(base: etree._Element) -> None:
    set_text(base, "cac:InvoiceLine[1]/cbc:LineExtensionAmount", "2799.90")
    got = fired(base)
    assert "PEPPOL-EN16931-R120" in got


def test_PEPPOL_EN16931_R120_tolerates_two_cents(base: etree._Element) -> None:
    line = one(base, "cac:InvoiceLine[1]")
    set_text(line, "cac:Price/cbc:PriceAmount", "400.003")  # 7 * 400.003 = 2800.021 -> off by 0.021
    assert "PEPPOL-EN16931-R120" in fired(base)
    set_text(line, "cac:Price/cbc:PriceAmount", "400.0025")  # off by 0.0175: within u:slack 0.02
    assert "PEPPOL-EN16931-R120" not in fired(base)


def test_PEPPOL_EN16931_R020_missing_seller_endpoint(base: etree._Element) -> None:
    remove(base, "cac:AccountingSupplierParty/cac:Party/cbc:EndpointID")
    assert "PEPPOL-EN16931-R020" in fired(base)


def test_BR_62_endpoint_without_scheme(base: etree._Element) -> None:
    set_attr(base, "cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", "schemeID", None)
    assert "BR-62" in fired(base)


# --- API ----------------------------------------------------------------------------------------------------------


def test_violation_shape(base: etree._Element) -> None:
    set_text(base, "cac:InvoiceLine[2]/cbc:LineExtensionAmount", "-1400")
    found = [v for v in check(base) if v.rule == "PEPPOL-EN16931-R120"]
    assert len(found) == 1
    v = found[0]
    assert v.flag == "fatal"
    assert v.location == "/Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount"
    assert v.line == one(base, "cac:InvoiceLine[2]/cbc:LineExtensionAmount").sourceline
    assert v.message.startswith("Invoice line net amount MUST equal")


def test_every_violation_is_reported(base: etree._Element) -> None:
    set_attr(base, "//cbc:EndpointID", "schemeID", None)
    rules = [v.rule for v in check(base)]
    assert rules.count("BR-62") == 1 and rules.count("BR-63") == 1


def test_profiles() -> None:
    assert PROFILES == ("peppol", "en16931", "nlcius")
    ids = {p: {r.id for r in rules_for(p)} for p in PROFILES}
    assert ids["en16931"] < ids["peppol"] and ids["en16931"] < ids["nlcius"]
    assert not any(i.startswith(("PEPPOL", "NL-R", "BR-NL")) for i in ids["en16931"])
    assert "NL-R-001" in ids["peppol"] and "BR-NL-1" in ids["nlcius"]
    with pytest.raises(ValueError):
        rules_for("xrechnung")


def test_flags_are_valid() -> None:
    assert {r.flag for r in BY_ID.values()} == {"fatal", "warning"}
    assert BY_ID["BR-51"].flag == "warning"
    assert BY_ID["PEPPOL-COMMON-R044"].flag == "warning"


def test_proforma_type_code_only_fails_peppol(base: etree._Element) -> None:
    set_text(base, "cbc:InvoiceTypeCode", "325")
    assert "PEPPOL-EN16931-P0100" in fired(base)
    assert [v for v in check(base, "en16931") if v.flag == "fatal"] == []


def test_accepts_an_element_tree(base: etree._Element) -> None:
    assert check(base.getroottree()) == []


@pytest.mark.parametrize(
    "xml",
    [
        "<Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'/>",
        "<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>",
        "<CreditNote xmlns='urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2'><x/>text<!-- c --></CreditNote>",
    ],
)
def test_odd_input_is_reported_not_raised(xml: str) -> None:
    root = etree.fromstring(xml)
    for profile in PROFILES:
        result = check(root, profile)
        assert result and all(v.flag in ("fatal", "warning") for v in result)


def test_garbage_values_do_not_raise(base: etree._Element) -> None:
    for el in base.iter(etree.Element):
        if len(el) == 0:
            el.text = "x.1.2e"
    for profile in PROFILES:
        assert check(base, profile)


def test_speed_base_example(base: etree._Element) -> None:
    check(base)
    per_check = timeit.timeit(lambda: check(base), number=20) / 20
    assert per_check < 0.05  # generous bound for slow CI machines; typically a few ms
