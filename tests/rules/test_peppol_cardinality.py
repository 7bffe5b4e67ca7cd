"""PEPPOL-EN16931-R140 .. -R276, Peppol BIS 3.1.0's inferred mandatory cardinalities (ublexport/rules/cardinality.py).

Each rule fires on a copy of an official example whose context lacks the child, or has it twice, and not on the
example; none fires on any official example or on anything we render; and on randomly broken documents the module
reports exactly what a plain XPath reading of the Schematron pattern reports (its short cut skips the walk wherever
it can show that nothing fails, and that is what the comparison puts to the test).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.rules.helpers import (
    CN,
    CUS,
    L1,
    NORWAY,
    NS,
    PARSER,
    PEPPOL_DIR,
    REFERENCE,
    SUP,
    Mutation,
    add,
    disagreements,
    fired,
    insert,
    load,
    one,
    prepared_samples,
    remove,
    rendered_corpus,
    seq,
)
from ublexport.errors import Violation
from ublexport.rules import BY_ID, _doc, check, rules_for
from ublexport.rules import cardinality as cardinality_module
from ublexport.rules.cardinality import PATTERN
from ublexport.rules.peppol import FAMILY

IDS = [f"PEPPOL-EN16931-R{n}" for n in range(140, 277)]
# the Schematron's prefixes, for the XPath reading of its contexts
SCH = {**NS, "ubl-invoice": NS["inv"], "ubl-creditnote": NS["cn"]}
INVOICE = "base-example.xml"


def ours(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.rule in PATTERN]


def base_of(rule_id: str) -> str:
    return CN if PATTERN[rule_id][0].startswith("ubl-creditnote:") else INVOICE


# --- the rule table ----------------------------------------------------------------------------------------------


def test_every_rule_of_the_pattern_is_registered() -> None:
    assert sorted(PATTERN) == IDS  # R140 .. R276, none left out
    contexts = [context for context, _child, _message in PATTERN.values()]
    assert sum(c.startswith("ubl-creditnote:CreditNote") for c in contexts) == 69  # R140 .. R208
    assert sum(c.startswith("ubl-invoice:Invoice") for c in contexts) == 68  # R209 .. R276
    for rule_id in IDS:
        entry = BY_ID[rule_id]
        assert (entry.flag, entry.family) == ("fatal", FAMILY), rule_id
        assert entry.message == PATTERN[rule_id][2]
    assert {r.id for r in rules_for("peppol")} >= set(IDS)
    assert not {r.id for r in rules_for("en16931")} & set(IDS)
    assert not {r.id for r in rules_for("nlcius")} & set(IDS)


def test_messages_are_the_assertion_texts() -> None:
    assert BY_ID["PEPPOL-EN16931-R140"].message == (
        "ubl-creditnote:CreditNote MUST contain exactly one cac:AccountingCustomerParty."
    )
    assert BY_ID["PEPPOL-EN16931-R187"].message == (
        "ubl-creditnote:CreditNote/cac:PayeeParty/cac:PartyLegalEntity MUST contain exactly one cbc:CompanyID."
    )
    assert BY_ID["PEPPOL-EN16931-R244"].message == (
        "ubl-invoice:Invoice/cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cac:TaxScheme MUST contain exactly "
        "one cbc:ID."
    )
    assert BY_ID["PEPPOL-EN16931-R276"].message == "ubl-invoice:Invoice MUST contain exactly one cbc:ProfileID."


def test_no_node_can_be_the_context_of_two_rules() -> None:
    """Within a pattern a node is the context of its first matching rule only: that cannot matter here, as no
    context is a suffix of another (a node matching both would need the document element's name further down)."""
    paths = {tuple(context.split("/")) for context, _child, _message in PATTERN.values()}
    for path in paths:
        assert path[0] in ("ubl-invoice:Invoice", "ubl-creditnote:CreditNote")
        assert not {"ubl-invoice:Invoice", "ubl-creditnote:CreditNote"} & set(path[1:])
        for other in paths - {path}:
            assert path[-len(other) :] != other, (path, other)


def test_the_rules_form_one_block_with_one_guard() -> None:
    """In a clean document the runner asks one guard for all 137 rules and calls none of them."""
    rules = rules_for("peppol")
    at = [i for i, r in enumerate(rules) if r.id in PATTERN]
    assert at == list(range(at[0], at[0] + len(IDS)))
    assert len({rules[i].when for i in at}) == 1


# --- one broken variant per rule, of documents that have every context -------------------------------------------

LINE = "<cac:AddressLine><cbc:Line>Third floor</cbc:Line></cac:AddressLine>"
COUNTRY = "cac:Country"


def _everything(name: str) -> Mutation:
    """The contexts the official example lacks, added with the children they want (in the UBL order)."""
    return seq(
        add(f"{SUP}/cac:PostalAddress", LINE, before=COUNTRY),
        add(f"{CUS}/cac:PostalAddress", LINE, before=COUNTRY),
        add("cac:Delivery/cac:DeliveryLocation/cac:Address", LINE, before=COUNTRY),
        *(
            []
            if name == CN
            else [
                add(
                    ".",
                    "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>INV-0</cbc:ID>"
                    "</cac:InvoiceDocumentReference></cac:BillingReference>",
                    before="cac:AccountingSupplierParty",
                ),
            ]
        ),
        add(
            ".",
            "<cac:AdditionalDocumentReference><cbc:ID>EXT-1</cbc:ID><cac:Attachment><cac:ExternalReference>"
            "<cbc:URI>https://example.com/timesheet.pdf</cbc:URI></cac:ExternalReference></cac:Attachment>"
            "</cac:AdditionalDocumentReference>",
            before="cac:AccountingSupplierParty",
        ),
        add(
            ".",
            "<cac:PayeeParty><cac:PartyName><cbc:Name>Factoring Ltd</cbc:Name></cac:PartyName>"
            "<cac:PartyLegalEntity><cbc:CompanyID>556677889</cbc:CompanyID></cac:PartyLegalEntity></cac:PayeeParty>",
            before="cac:Delivery",
        ),
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>Tax agent</cbc:Name></cac:PartyName>"
            f"<cac:PostalAddress><cbc:StreetName>Agent street 1</cbc:StreetName>{LINE}<cac:Country>"
            "<cbc:IdentificationCode>SE</cbc:IdentificationCode></cac:Country></cac:PostalAddress><cac:PartyTaxScheme>"
            "<cbc:CompanyID>SE556677889901</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
            "</cac:PartyTaxScheme></cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
        add(
            "cac:PaymentMeans",
            "<cac:PaymentMandate><cbc:ID>MANDATE-7</cbc:ID><cac:PayerFinancialAccount>"
            "<cbc:ID>DE75512108001245126199</cbc:ID></cac:PayerFinancialAccount></cac:PaymentMandate>",
        ),
        add(
            L1,
            "<cac:DocumentReference><cbc:ID>OBJ-1</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode>"
            "</cac:DocumentReference>",
            before="(cac:AllowanceCharge|cac:Item)[1]",
        ),
        add(
            f"{L1}/cac:Item",
            "<cac:AdditionalItemProperty><cbc:Name>Colour</cbc:Name><cbc:Value>Black</cbc:Value>"
            "</cac:AdditionalItemProperty>",
        ),
    )


def everything(name: str) -> etree._Element:
    """A copy of the official example with every context of its kind of document."""
    root = load(name)
    _everything(name)(root)
    return root


@pytest.mark.parametrize("name", [INVOICE, CN])
def test_the_examples_with_every_context_pass(name: str) -> None:
    root = everything(name)
    for rule_id, (context, _child, _message) in PATTERN.items():
        if base_of(rule_id) == name:
            assert root.xpath(f"/{context}", namespaces=SCH), f"{rule_id}: no context {context}"
    assert ours(check(root, "peppol")) == []


@dataclass(frozen=True)
class Case:
    rule: str
    how: str  # "missing" or "doubled"

    def __str__(self) -> str:
        return f"{self.rule}-{self.how}"


CASES = [Case(rule_id, how) for rule_id in IDS for how in ("missing", "doubled")]


def broken(case: Case) -> tuple[etree._Element, etree._Element]:
    """The document with every context, and the element of the rule's first context changed."""
    root = everything(base_of(case.rule))
    context, child, _message = PATTERN[case.rule]
    element = root.xpath(f"/{context}", namespaces=SCH)[0]
    children = element.xpath(child, namespaces=SCH)
    assert len(children) == 1
    if case.how == "missing":
        element.remove(children[0])
    else:
        children[0].addnext(copy.deepcopy(children[0]))
    return root, element


def test_every_rule_has_a_case() -> None:
    assert sorted({c.rule for c in CASES}) == IDS


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_fires_on_broken_variant(case: Case) -> None:
    good = everything(base_of(case.rule))
    assert case.rule not in fired(good)
    root, element = broken(case)
    got = [v for v in check(root, "peppol") if v.rule == case.rule]
    assert [(v.flag, v.message, v.location, v.line) for v in got] == [
        ("fatal", PATTERN[case.rule][2], _doc.location(element), element.sourceline)
    ]
    assert case.rule not in fired(root, "en16931")


@pytest.mark.parametrize("name", [INVOICE, CN])
def test_the_official_examples_fire_none_of_the_rules(name: str) -> None:
    assert ours(check(load(name), "peppol")) == []


# --- the semantics -----------------------------------------------------------------------------------------------


def _locations(root: etree._Element, rule_id: str) -> list[str]:
    return [v.location for v in check(root, "peppol") if v.rule == rule_id]


def test_each_context_element_is_checked_each_time(base: etree._Element) -> None:
    remove(base, "cac:InvoiceLine[2]/cbc:InvoicedQuantity")
    assert _locations(base, "PEPPOL-EN16931-R250") == ["/Invoice/cac:InvoiceLine[2]"]
    remove(base, "cac:InvoiceLine[1]/cbc:InvoicedQuantity")
    assert _locations(base, "PEPPOL-EN16931-R250") == ["/Invoice/cac:InvoiceLine[1]", "/Invoice/cac:InvoiceLine[2]"]


def test_the_asserts_of_a_rule_are_independent(base: etree._Element) -> None:
    remove(base, "cac:InvoiceLine[1]/cac:Price")
    one(base, "cac:InvoiceLine[1]/cbc:InvoicedQuantity").addnext(
        copy.deepcopy(one(base, "cac:InvoiceLine[1]/cbc:InvoicedQuantity"))
    )
    got = {v.rule: v.location for v in ours(check(base, "peppol"))}
    assert got == {
        "PEPPOL-EN16931-R249": "/Invoice/cac:InvoiceLine[1]",
        "PEPPOL-EN16931-R250": "/Invoice/cac:InvoiceLine[1]",
    }


def test_only_elements_at_the_context_path_are_checked(base: etree._Element) -> None:
    # a line's allowance has no tax category, nor one in a price (cac:AllowanceCharge below the root only)
    insert(
        base,
        L1,
        "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
        "<cbc:AllowanceChargeReason>Discount</cbc:AllowanceChargeReason>"
        '<cbc:Amount currencyID="EUR">1.00</cbc:Amount></cac:AllowanceCharge>',
        before="cac:Item",
    )
    insert(
        base,
        f"{L1}/cac:Price",
        "<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
        '<cbc:Amount currencyID="EUR">1.00</cbc:Amount><cac:TaxCategory><cbc:ID>S</cbc:ID></cac:TaxCategory>'
        "</cac:AllowanceCharge>",
    )
    # a payee's legal entity needs no registration name (cac:Party/cac:PartyLegalEntity only)
    insert(
        base,
        ".",
        "<cac:PayeeParty><cac:PartyName><cbc:Name>Payee</cbc:Name></cac:PartyName>"
        "<cac:PartyLegalEntity><cbc:CompanyID>1234</cbc:CompanyID></cac:PartyLegalEntity></cac:PayeeParty>",
        before="cac:Delivery",
    )
    # an item's name besides a property's name; a contact's name in a party
    insert(
        base,
        f"{L1}/cac:Item",
        "<cac:AdditionalItemProperty><cbc:Name>Size</cbc:Name><cbc:Value>L</cbc:Value></cac:AdditionalItemProperty>",
    )
    assert ours(check(base, "peppol")) == []
    remove(base, "cac:PayeeParty/cac:PartyLegalEntity/cbc:CompanyID")
    assert _locations(base, "PEPPOL-EN16931-R255") == ["/Invoice/cac:PayeeParty/cac:PartyLegalEntity"]
    assert [v.rule for v in ours(check(base, "peppol"))] == ["PEPPOL-EN16931-R255"]


def test_a_credit_note_is_not_checked_by_the_invoice_rules() -> None:
    root = load(CN)
    insert(root, ".", "<cac:InvoiceLine><cbc:ID>9</cbc:ID></cac:InvoiceLine>")  # no context of either pattern
    assert ours(check(root, "peppol")) == []


EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"


@pytest.mark.parametrize("name", [INVOICE, CN])
def test_an_invoice_element_anywhere_starts_the_invoice_contexts(name: str) -> None:
    """The contexts have no leading '/': as in the compiled XSLT, an ubl-invoice:Invoice element below the document
    element (here in an extension) is checked like the document element."""
    root = load(name)
    extensions = etree.SubElement(root, f"{{{EXT}}}UBLExtensions")
    content = etree.SubElement(etree.SubElement(extensions, f"{{{EXT}}}UBLExtension"), f"{{{EXT}}}ExtensionContent")
    root.insert(0, extensions)
    embedded = etree.SubElement(content, f"{{{NS['inv']}}}Invoice")
    etree.SubElement(embedded, f"{{{NS['cbc']}}}ID").text = "EMBEDDED-1"
    where = "/" + root.xpath("local-name()") + "/ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/Invoice"
    got = {(v.rule, v.location) for v in ours(check(root, "peppol"))}
    assert got == {
        (rule_id, where)
        for rule_id in (
            "PEPPOL-EN16931-R209",
            "PEPPOL-EN16931-R273",
            "PEPPOL-EN16931-R274",
            "PEPPOL-EN16931-R275",
            "PEPPOL-EN16931-R276",
        )
    }


# --- the module agrees with a plain XPath reading of the pattern --------------------------------------------------


def reference(root: etree._Element) -> set[tuple[str, str]]:
    """(rule id, location) of every failing assert: each rule context read as the XSLT match pattern it is
    (//context), each test as the XPath it is."""
    out = set()
    for rule_id, (context, child, _message) in PATTERN.items():
        for node in root.xpath(f"//{context}", namespaces=SCH):
            if not node.xpath(f"count({child}) = 1", namespaces=SCH):
                out.add((rule_id, _doc.location(node)))
    return out


def found(root: etree._Element) -> set[tuple[str, str]]:
    return {(v.rule, v.location) for v in ours(check(root, "peppol"))}


WATCHED = {
    step.split(":")[1] for context, child, _message in PATTERN.values() for step in (*context.split("/"), child)
} - {"Invoice", "CreditNote"}


def _mutate(root: etree._Element, rng: random.Random) -> None:
    """A few random edits of the kinds the rules look for: elements removed or doubled, emptied, put where they do
    not belong or behind their siblings, a whole document put inside another."""
    whole = copy.deepcopy(root) if rng.random() < 0.05 else None
    for _ in range(rng.randint(1, 3)):
        elements = [el for el in root.iter(etree.Element) if el is not root]
        watched = [el for el in elements if etree.QName(el).localname in WATCHED]
        el = rng.choice(watched if watched and rng.random() < 0.85 else elements)
        parent = el.getparent()
        kind = rng.random()
        if kind < 0.35:
            el.addnext(copy.deepcopy(el))
        elif kind < 0.7:
            parent.remove(el)  # type: ignore[union-attr]
        elif kind < 0.8:
            for c in list(el):
                el.remove(c)
        elif kind < 0.85:
            rng.choice(elements).append(copy.deepcopy(el))
        elif kind < 0.93:
            el.addprevious(etree.Element(el.tag))  # an empty twin
        else:
            parent.append(el)  # type: ignore[union-attr]  # moved behind its siblings
    if whole is not None:
        rng.choice([el for el in root.iter(etree.Element)]).append(whole)


def _corpus(count: int) -> list[tuple[str, etree._Element]]:
    """Documents we render that go out under the Peppol profile (the others have no Peppol process, no endpoint)."""
    from benchmarks.corpus import documents
    from ublexport.render import render
    from ublexport.view import profile_for

    return [
        (d.number, etree.fromstring(render(d, pdf=None)))
        for d in documents(count, seed=97)
        if profile_for(d, "peppol") == "peppol"
    ]


FUZZ_DOCS = [INVOICE, CN, "Allowance-example.xml", "vat-category-E.xml", "base-negative-inv-correction.xml"]


@pytest.mark.parametrize("name", FUZZ_DOCS)
def test_agrees_with_the_schematron_on_broken_documents(name: str) -> None:
    rng = random.Random(f"cardinality-{name}")
    bases = [load(name), everything(name) if name in (INVOICE, CN) else load(name)]
    for base in bases:
        assert found(base) == reference(base) == set()
    differing, fired_rules = disagreements(bases, 200, rng, _mutate, found, reference)
    assert not differing, differing[:3]
    assert len(fired_rules) > 25  # the edits reach a fair share of the rules


def test_agrees_with_the_schematron_on_broken_rendered_documents() -> None:
    rng = random.Random("cardinality-rendered")
    for number, base in _corpus(12):
        assert found(base) == reference(base) == set(), number
        for _ in range(15):
            root = copy.deepcopy(base)
            _mutate(root, rng)
            assert found(root) == reference(root), number


# --- nothing fires on the official examples or on what we render -------------------------------------------------

PEPPOL_FILES = [*sorted(PEPPOL_DIR.glob("*.xml")), NORWAY]
EXAMPLES = sorted(p for p in REFERENCE.rglob("*") if p.suffix.lower() == ".xml" and p.stat().st_size < 1_000_000)


@pytest.mark.parametrize("path", PEPPOL_FILES, ids=lambda p: p.name)
def test_official_peppol_examples_pass(path: Path) -> None:
    root = etree.parse(str(path), PARSER).getroot()
    assert ours(check(root, "peppol")) == []
    assert found(root) == reference(root) == set()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REFERENCE)))
def test_official_examples_pass_under_the_profile_we_give_them(path: Path) -> None:
    from ublexport.validate import check_bytes

    report = check_bytes(path.read_bytes(), path.name)
    assert ours(report.violations) == []


def test_samples_pass() -> None:
    checked = 0
    for name, root, profile in prepared_samples():
        assert ours(check(root, profile)) == [], name
        checked += 1
    assert checked >= 8


def test_generated_corpus_passes() -> None:
    for number, root, profile in rendered_corpus(60):
        assert ours(check(root, profile)) == [], number


# --- the short cut -----------------------------------------------------------------------------------------------


def _short_cut(root: etree._Element) -> bool:
    _doc.clear_caches(active=True)
    try:
        return cardinality_module._clean(_doc.Doc(root))
    finally:
        _doc.clear_caches()


@pytest.mark.parametrize("path", PEPPOL_FILES, ids=lambda p: p.name)
def test_the_short_cut_clears_the_official_examples(path: Path) -> None:
    """Speed: a clean document is cleared without walking its contexts (as every rule still is tested above)."""
    assert _short_cut(etree.parse(str(path), PARSER).getroot())


def test_the_short_cut_clears_what_we_render() -> None:
    for number, root in _corpus(40):
        assert _short_cut(root), number


def test_the_short_cut_leaves_a_broken_document_to_the_walk(base: etree._Element) -> None:
    assert _short_cut(base)
    twin = one(base, "cac:InvoiceLine[2]/cac:Item/cac:ClassifiedTaxCategory/cac:TaxScheme")
    twin.addnext(copy.deepcopy(twin))
    assert not _short_cut(base)
    assert _locations(base, "PEPPOL-EN16931-R243") == ["/Invoice/cac:InvoiceLine[2]/cac:Item/cac:ClassifiedTaxCategory"]
