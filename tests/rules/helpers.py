"""Reference documents and small mutation helpers for the business rule tests."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from lxml import etree

REFERENCE = Path(__file__).parents[1] / "fixtures" / "ubl-examples"  # official examples, see its README
PEPPOL_DIR = REFERENCE / "peppol-3.0.21"
NORWAY = REFERENCE / "peppol-3.0.19-national" / "NO" / "Norwegian-example-1.xml"
CEN_DIR = REFERENCE / "cen-1.3.16"

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}

# Places in a document the rule tests mutate (XPath, relative to the document element), and a VAT scheme to insert.
SUP = "cac:AccountingSupplierParty/cac:Party"
CUS = "cac:AccountingCustomerParty/cac:Party"
L1 = "(cac:InvoiceLine|cac:CreditNoteLine)[1]"  # the first line of an invoice or a credit note
ST = "cac:TaxTotal/cac:TaxSubtotal"
LMT = "cac:LegalMonetaryTotal"
VAT = "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
CN = "base-creditnote-correction.xml"  # the official Peppol credit note example

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@cache
def _parsed(path: Path) -> etree._Element:
    return etree.parse(str(path), PARSER).getroot()


def load(name: str = "base-example.xml") -> etree._Element:
    """A fresh, mutable copy of a reference document (``name`` relative to peppol-3.0.21/, or a Path)."""
    path = name if isinstance(name, Path) else PEPPOL_DIR / name
    return copy.deepcopy(_parsed(path))


def xp(root: etree._Element, path: str) -> list[etree._Element]:
    return root.xpath(path, namespaces=NS)  # type: ignore[no-any-return]


def one(root: etree._Element, path: str) -> etree._Element:
    found = xp(root, path)
    assert found, f"{path} matches nothing"
    return found[0]


def set_text(root: etree._Element, path: str, value: str) -> None:
    for el in xp(root, path):
        el.text = value


def remove(root: etree._Element, path: str) -> None:
    found = xp(root, path)
    assert found, f"{path} matches nothing"
    for el in found:
        el.getparent().remove(el)


def set_attr(root: etree._Element, path: str, name: str, value: str | None) -> None:
    found = xp(root, path)
    assert found, f"{path} matches nothing"
    for el in found:
        if value is None:
            el.attrib.pop(name, None)
        else:
            el.set(name, value)


def insert(root: etree._Element, parent_path: str, snippet: str, before: str | None = None) -> etree._Element:
    """Insert a UBL snippet (one or more elements; prefixes cac/cbc available) into the first match of parent_path,
    before the first match of ``before`` (relative to the parent) or at the end."""
    wrapped = f'<w xmlns:cac="{NS["cac"]}" xmlns:cbc="{NS["cbc"]}">{snippet}</w>'
    new = list(etree.fromstring(wrapped))
    parent = one(root, parent_path)
    anchor = one(parent, before) if before is not None else None
    for el in new:
        if anchor is not None:
            anchor.addprevious(el)
        else:
            parent.append(el)
    return new[0]


def fired(root: etree._Element, profile: str = "peppol") -> set[str]:
    from ublexport.rules import check

    return {v.rule for v in check(root, profile)}


# --- mutations as values: a rule's failing case written as what to change -------------------------------------------

Mutation = Callable[[etree._Element], None]


def text(path: str, value: str) -> Mutation:
    return lambda r: set_text(r, path, value)


def drop(path: str) -> Mutation:
    return lambda r: remove(r, path)


def attr(path: str, name: str, value: str | None) -> Mutation:
    return lambda r: set_attr(r, path, name, value)


def add(parent: str, snippet: str, before: str | None = None) -> Mutation:
    return lambda r: insert(r, parent, snippet, before=before)


def seq(*mutations: Mutation) -> Mutation:
    def run(r: etree._Element) -> None:
        for m in mutations:
            m(r)

    return run


# --- what ublexport renders, for "nothing of ours fires on it" tests --------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def prepared_samples() -> Iterator[tuple[str, etree._Element, str]]:
    """(file name, parsed UBL, profile it goes with) of every sample that becomes an e-invoice we render (no quote,
    no supplier's UBL passed on), as `pipeline.prepare` makes it (its PDF embedded): it has passed the checks."""
    from ublexport.loader import document_paths, load_document
    from ublexport.pipeline import prepare

    for path in document_paths([SAMPLES]):
        document = load_document(path)
        if document.kind.value == "quote" or document.received_ubl is not None:
            continue
        prepared = prepare(document)
        yield path.name, etree.fromstring(prepared.xml), prepared.report.profile


def rendered_corpus(count: int) -> Iterator[tuple[str, etree._Element, str]]:
    """(number, parsed UBL, profile) of the first COUNT generated benchmark documents, rendered (not checked), every
    tenth-ish one with a PDF embedded."""
    from benchmarks.corpus import documents
    from ublexport.render import render
    from ublexport.view import profile_for

    for document in documents(count):
        pdf = b"%PDF-1.4 test\n%%EOF\n" if document.number.endswith("7") else None
        yield document.number, etree.fromstring(render(document, pdf=pdf)), profile_for(document, "peppol")


Findings = Callable[[etree._Element], set[tuple[str, str]]]


def disagreements(bases: list[etree._Element], count: int, rng: random.Random,
                  mutate: Callable[[etree._Element, random.Random], None], ours: Findings,
                  reference: Findings) -> tuple[list[tuple[bytes, list[tuple[str, str]]]], set[str]]:
    """COUNT mutants of BASES (taken in turn), each checked by OURS and by REFERENCE (a plain reading of the
    Schematron): the mutants on which they differ (the start of the XML and the findings only one side has), and
    every rule id the reference found, to show the mutations reach the rules."""
    differing: list[tuple[bytes, list[tuple[str, str]]]] = []
    fired_rules: set[str] = set()
    for i in range(count):
        root = copy.deepcopy(bases[i % len(bases)])
        mutate(root, rng)
        expected = reference(root)
        fired_rules |= {rule_id for rule_id, _location in expected}
        got = ours(root)
        if got != expected:
            differing.append((etree.tostring(root)[:300], sorted(got ^ expected)))
    return differing, fired_rules
