"""The short cuts of the rule runner and of the indexed document answer as the rules themselves would.

A family guard (``when``), a fast path for documents without comments, a value read once into a row or cached
across checks may only save work. These tests pin the corners where one could also change an answer; every rule
also has a firing test in test_rule_catalogue.py / test_vat_categories.py, which runs through the same short cuts.
"""

from __future__ import annotations

import pytest
from lxml import etree

from tests.rules.helpers import SUP, fired, insert, load, one, set_text
from ublexport.rules import _doc, check

LINE_CATEGORY = "cac:InvoiceLine[1]/cac:Item/cac:ClassifiedTaxCategory"


def test_a_guard_that_fails_leaves_the_decision_to_its_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PEPPOL-COMMON guard runs every identifier check at once; one that raises must neither take the check
    down nor silence the other rules: the rule it belongs to reports that it could not be evaluated, as before.
    (No real input makes a check raise any more, since the partita IVA's digits are ASCII ones: a fault injected.)"""
    from ublexport.rules import peppol

    def broken(value: str) -> bool:
        raise ValueError(f"cannot check {value!r}")

    monkeypatch.setitem(peppol._TESTS, "0211", broken)
    peppol._identifier_ok.cache_clear()
    root = load()
    identifier = one(root, f"{SUP}/cac:PartyIdentification/cbc:ID")
    identifier.set("schemeID", "0211")
    identifier.text = "IT07643520568"
    try:
        common = [v for v in check(root) if v.rule.startswith("PEPPOL-COMMON")]
    finally:
        peppol._identifier_ok.cache_clear()
    assert [v.rule for v in common] == ["PEPPOL-COMMON-R047"]
    assert "could not be evaluated" in common[0].message


def test_empty_elements_without_and_with_comments() -> None:
    """R008 has a fast path for documents of elements only; a comment anywhere switches to the general walk."""
    plain = load()
    set_text(plain, "cbc:AccountingCost", " \n ")
    assert [v.location for v in check(plain) if v.rule == "PEPPOL-EN16931-R008"] == ["/Invoice/cbc:AccountingCost"]

    commented = load()
    set_text(commented, "cbc:AccountingCost", " \n ")
    commented.insert(0, etree.Comment("a comment"))
    one(commented, "cbc:BuyerReference").append(etree.Comment("only a comment in here"))
    one(commented, "cbc:BuyerReference").text = None
    found = [v.location for v in check(commented) if v.rule == "PEPPOL-EN16931-R008"]
    assert found == ["/Invoice/cbc:AccountingCost", "/Invoice/cbc:BuyerReference"]


def test_decimals_guard_looks_into_amounts_with_children() -> None:
    """The BR-DEC guard reads each amount's first text; an amount with children has more text than that."""
    root = load()
    payable = one(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")
    payable.text = "1656.2"
    etree.SubElement(payable, "x").tail = "55"  # string(): 1656.255
    assert "BR-DEC-18" in fired(root)


def test_rate_written_with_an_exponent_is_a_rate() -> None:
    """The rates are read once as xs:decimal; a rate that is only an xs:double (an exponent) is read again, so a
    standard rate of 2.5E1 is above zero (BR-S-05 quiet) while one that is no number is not (BR-S-05 fires)."""
    root = load()
    set_text(root, f"{LINE_CATEGORY}/cbc:Percent", "2.5E1")
    assert "BR-S-05" not in fired(root)
    set_text(root, f"{LINE_CATEGORY}/cbc:Percent", "abc")
    assert "BR-S-05" in fired(root)


def test_allowance_guards_see_line_level_allowances() -> None:
    """The allowance/charge guards look at every allowance and charge, not only those of the document level."""
    root = load()
    insert(
        root,
        "cac:InvoiceLine[1]",
        "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
        '<cbc:Amount currencyID="EUR">1</cbc:Amount></cac:AllowanceCharge>',
        before="cac:Item",
    )
    assert {"BR-42", "BR-CO-23"} <= fired(root)


def test_plain_decimals_are_cached_with_their_exponent_and_within_bounds() -> None:
    """_doc caches Decimal(text) across checks: the cached value is Decimal(text) itself (1.50 stays 1.50), and the
    cache starts afresh rather than grow without bound."""
    assert str(_doc._plain("1.50")) == "1.50"
    assert _doc._plain("1e2") is None and _doc._plain(" 1") is None and _doc._plain("\u00b2") is None
    for i in range(_doc._PLAIN_LIMIT + 10):
        _doc._plain(str(i))
    assert len(_doc._PLAIN) <= _doc._PLAIN_LIMIT


def test_a_no_break_space_is_content_not_emptiness() -> None:
    """normalize-space() strips space, tab, CR and LF only: an element holding a no-break space is not empty for
    the official Schematron, so it must not be refused here either (str.isspace() would call it blank)."""
    for comments in (False, True):
        root = load()
        set_text(root, "cbc:AccountingCost", "\u00a0")
        set_text(root, "cbc:BuyerReference", " \t\r\n")
        if comments:
            root.insert(0, etree.Comment("a comment"))
        found = [v.location for v in check(root) if v.rule == "PEPPOL-EN16931-R008"]
        assert found == ["/Invoice/cbc:BuyerReference"], comments


def test_groupings_made_by_one_rule_are_offered_to_the_others() -> None:
    """``by_parent_tag_made`` and ``child_map_made`` answer None until a rule has made the grouping, then the very
    grouping ``under`` and ``child_map`` keep (one per check, shared)."""
    root = load()
    _doc.clear_caches(active=True)
    try:
        doc = _doc.Doc(root)
        party, endpoint = _doc.cac.Party, _doc.cbc.EndpointID
        assert doc.by_parent_tag_made(party) is None
        assert doc.child_map_made(endpoint) is None
        customer = doc.under(party, _doc.cac.AccountingCustomerParty)
        grouped = doc.by_parent_tag_made(party)
        assert grouped is not None and grouped is doc.by_parent_tag(party)
        assert sum(map(len, grouped.values())) == len(doc.all(party)) == 2
        assert customer == [one(root, "cac:AccountingCustomerParty/cac:Party")]
        made = doc.child_map(endpoint)
        assert doc.child_map_made(endpoint) is made
        assert made[customer[0]] == [one(root, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID")]
    finally:
        _doc.clear_caches()
