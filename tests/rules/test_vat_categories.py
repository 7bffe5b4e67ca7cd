"""Per VAT category rules (BR-S/Z/E/AE/IC/G/O/AF/AG-*): one broken variant per rule id.

Each category starts from base-example.xml turned into a clean document of that category.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from lxml import etree

from tests.rules.helpers import LMT, ST, SUP, VAT, fired, insert, load, one, remove, set_text, xp

PREFIX = {"S": "S", "Z": "Z", "E": "E", "AE": "AE", "K": "IC", "G": "G", "O": "O", "L": "AF", "M": "AG"}
RATE = {"S": "25", "O": None, "L": "7", "M": "4"}  # every other category: 0
RATED = ("S", "L", "M")  # taxed at their rate, no exemption reason
TAX = {"L": ("92.75", "1417.75"), "M": ("53.00", "1378.00")}  # 1325.00 taxable: (tax, tax inclusive)


def rate(code: str) -> str | None:
    return RATE.get(code, "0")


def category_doc(code: str) -> etree._Element:
    """base-example.xml with every VAT category set to ``code`` and the amounts made consistent."""
    root = load()
    for el in xp(root, "//cac:ClassifiedTaxCategory | //cac:TaxCategory"):
        set_text(el, "cbc:ID", code)
        if rate(code) is None:
            remove(el, "cbc:Percent")
        else:
            set_text(el, "cbc:Percent", rate(code) or "")
    if code != "S":
        tax, inclusive = TAX.get(code, ("0.00", "1325.00"))
        set_text(root, "cac:TaxTotal//cbc:TaxAmount", tax)
        set_text(root, f"{LMT}/cbc:TaxInclusiveAmount", inclusive)
        set_text(root, f"{LMT}/cbc:PayableAmount", inclusive)
    if code not in (*RATED, "Z"):
        insert(
            root,
            f"{ST}/cac:TaxCategory",
            "<cbc:TaxExemptionReason>Reason</cbc:TaxExemptionReason>",
            before="cac:TaxScheme",
        )
    if code == "O":
        remove(root, "//cac:PartyTaxScheme")
    return root


def tax_category(code: str, percent: str | None) -> str:
    rate_xml = "" if percent is None else f"<cbc:Percent>{percent}</cbc:Percent>"
    return f"<cac:TaxCategory><cbc:ID>{code}</cbc:ID>{rate_xml}{VAT}</cac:TaxCategory>"


def doc_ac(root: etree._Element, charge: bool, code: str, percent: str | None) -> None:
    indicator = "true" if charge else "false"
    insert(
        root,
        ".",
        f"<cac:AllowanceCharge><cbc:ChargeIndicator>{indicator}</cbc:ChargeIndicator><cbc:AllowanceChargeReason>R"
        f'</cbc:AllowanceChargeReason><cbc:Amount currencyID="EUR">0</cbc:Amount>{tax_category(code, percent)}'
        "</cac:AllowanceCharge>",
        before="cac:TaxTotal",
    )


def break_identifiers(root: etree._Element, code: str) -> None:
    """Make the seller (and buyer) identifiers wrong for the category."""
    if code == "O":
        insert(
            root,
            SUP,
            f"<cac:PartyTaxScheme><cbc:CompanyID>GB1232434</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>",
            before="cac:PartyLegalEntity",
        )
    else:
        remove(root, f"{SUP}/cac:PartyTaxScheme")


def wrong_rate(code: str) -> str | None:
    return {"S": "0", "O": "0", "L": "-1", "M": "-0.5"}.get(code, "5")


Mutation = Callable[[etree._Element], None]


def mutations(code: str) -> dict[str, Mutation]:
    p = PREFIX[code]

    def m01(r: etree._Element) -> None:
        if code in RATED:
            set_text(r, f"{ST}/cac:TaxCategory/cbc:ID", "Z")
        else:
            subtotal = one(r, ST)
            subtotal.addnext(copy.deepcopy(subtotal))

    def m02(r: etree._Element) -> None:
        break_identifiers(r, code)

    def m03(r: etree._Element) -> None:
        doc_ac(r, False, code, rate(code))
        break_identifiers(r, code)

    def m04(r: etree._Element) -> None:
        doc_ac(r, True, code, rate(code))
        break_identifiers(r, code)

    def m05(r: etree._Element) -> None:
        category = one(r, "cac:InvoiceLine[1]/cac:Item/cac:ClassifiedTaxCategory")
        if code == "O":
            insert(category, ".", "<cbc:Percent>0</cbc:Percent>", before="cac:TaxScheme")
        else:
            set_text(category, "cbc:Percent", wrong_rate(code) or "")

    def m06(r: etree._Element) -> None:
        doc_ac(r, False, code, wrong_rate(code))

    def m07(r: etree._Element) -> None:
        doc_ac(r, True, code, wrong_rate(code))

    def m08(r: etree._Element) -> None:
        set_text(r, f"{ST}/cbc:TaxableAmount", "1330")

    def m09(r: etree._Element) -> None:
        set_text(r, f"{ST}/cbc:TaxAmount", "340" if code == "S" else "1")

    def m10(r: etree._Element) -> None:
        if code in (*RATED, "Z"):
            insert(
                r, f"{ST}/cac:TaxCategory", "<cbc:TaxExemptionReason>R</cbc:TaxExemptionReason>", before="cac:TaxScheme"
            )
        else:
            remove(r, f"{ST}/cac:TaxCategory/cbc:TaxExemptionReason")

    return {
        f"BR-{p}-01": m01,
        f"BR-{p}-02": m02,
        f"BR-{p}-03": m03,
        f"BR-{p}-04": m04,
        f"BR-{p}-05": m05,
        f"BR-{p}-06": m06,
        f"BR-{p}-07": m07,
        f"BR-{p}-08": m08,
        f"BR-{p}-09": m09,
        f"BR-{p}-10": m10,
    }


CASES: list[tuple[str, str, Mutation]] = [
    (rule_id, code, mutation) for code in PREFIX for rule_id, mutation in mutations(code).items()
]


def _extra_o(r: etree._Element, what: str) -> None:
    if what == "11":
        subtotal = one(r, ST)
        extra = copy.deepcopy(subtotal)
        subtotal.addnext(extra)
        set_text(extra, "cac:TaxCategory/cbc:ID", "S")
    elif what == "12":
        set_text(r, "cac:InvoiceLine[2]/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "S")
    elif what == "13":
        doc_ac(r, False, "S", "25")
    else:
        doc_ac(r, True, "S", "25")


CASES += [(f"BR-O-{n}", "O", lambda r, n=n: _extra_o(r, n)) for n in ("11", "12", "13", "14")]
CASES += [
    ("BR-IC-11", "K", lambda r: remove(r, "cac:Delivery/cbc:ActualDeliveryDate")),
    ("BR-IC-12", "K", lambda r: remove(r, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country")),
]


@pytest.mark.parametrize("code", list(PREFIX))
def test_category_documents_are_clean(code: str) -> None:
    root = category_doc(code)
    assert fired(root) == set()


@pytest.mark.parametrize(("rule_id", "code", "mutation"), CASES, ids=[c[0] for c in CASES])
def test_category_rule_fires(rule_id: str, code: str, mutation: Mutation) -> None:
    root = category_doc(code)
    mutation(root)
    assert rule_id in fired(root)


def _line_category(r: etree._Element, code: str) -> None:
    set_text(r, "cac:InvoiceLine[1]/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", code)


@pytest.mark.parametrize(
    ("rule_id", "mutation"),
    [
        ("BR-AF-01", lambda r: _line_category(r, "L")),
        ("BR-AF-02", lambda r: (_line_category(r, "L"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
        ("BR-AF-03", lambda r: (doc_ac(r, False, "L", "7"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
        ("BR-AF-04", lambda r: (doc_ac(r, True, "L", "7"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
        ("BR-AG-01", lambda r: _line_category(r, "M")),
        ("BR-AG-02", lambda r: (_line_category(r, "M"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
        ("BR-AG-03", lambda r: (doc_ac(r, False, "M", "4"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
        ("BR-AG-04", lambda r: (doc_ac(r, True, "M", "4"), remove(r, f"{SUP}/cac:PartyTaxScheme"))),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_igic_ipsi_document_rules(rule_id: str, mutation: Mutation) -> None:
    root = load()
    assert rule_id not in fired(root)
    mutation(root)
    assert rule_id in fired(root)


def test_BR_S_08_allows_a_difference_below_one() -> None:
    root = category_doc("S")
    set_text(root, f"{ST}/cbc:TaxableAmount", "1325.99")
    assert "BR-S-08" not in fired(root)
    set_text(root, f"{ST}/cbc:TaxableAmount", "1326.00")
    assert "BR-S-08" in fired(root)


def test_BR_CO_17_tolerance_and_rounding() -> None:
    root = category_doc("S")
    set_text(root, "cac:TaxTotal//cbc:TaxAmount", "330.26")  # 331.25 - 0.99: still accepted by the CEN rule
    set_text(root, f"{LMT}/cbc:TaxInclusiveAmount", "1655.26")
    set_text(root, f"{LMT}/cbc:PayableAmount", "1655.26")
    assert "BR-CO-17" not in fired(root)
    set_text(root, "cac:TaxTotal//cbc:TaxAmount", "330.25")
    set_text(root, f"{LMT}/cbc:TaxInclusiveAmount", "1655.25")
    set_text(root, f"{LMT}/cbc:PayableAmount", "1655.25")
    assert "BR-CO-17" in fired(root)


def test_credit_note_category_rules() -> None:
    root = load("base-creditnote-correction.xml")
    assert fired(root) == set()
    set_text(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount", "1400")
    assert "BR-S-08" in fired(root)
