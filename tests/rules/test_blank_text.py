"""The safe parser drops the indentation between elements (ublexport.xsd, remove_blank_text): the schema and every
rule must answer exactly as on the tree that keeps it, which is the tree the official Schematron reads."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.conftest import REFERENCE, SAMPLES
from ublexport import rules, xsd
from ublexport.loader import load_document
from ublexport.render import render
from ublexport.validate import check_bytes
from ublexport.view import profile_for

BASE = REFERENCE / "peppol-3.0.21" / "base-example.xml"
KEEPING = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_blank_text=False)


def _answers(violations: list) -> list[tuple[str, str, str, int | None]]:  # type: ignore[type-arg]
    return [(v.rule, v.flag, v.location, v.line) for v in violations]


def _kept(xml: bytes, profile: str) -> list[tuple[str, str, str, int | None]]:
    tree = etree.fromstring(xml, KEEPING).getroottree()
    return _answers(xsd.validate(tree) or rules.check(tree.getroot(), profile))


def _documents() -> list[tuple[str, bytes]]:
    found = [(str(p.relative_to(REFERENCE)), p.read_bytes()) for p in sorted(REFERENCE.rglob("*.xml"))]
    for path in sorted(SAMPLES.glob("[0-9]*.json")):
        document = load_document(path)
        if document.kind.value != "quote":
            found.append((path.name, render(document, profile=profile_for(document, "peppol"))))
    return found


@pytest.mark.parametrize("profile", ["peppol", "en16931", "nlcius"])
def test_every_reference_example_and_sample_gets_the_same_answers(profile: str) -> None:
    documents = _documents()
    assert len(documents) > 30
    for name, xml in documents:
        assert _answers(check_bytes(xml, name, profile).violations) == _kept(xml, profile), name


def test_a_leaf_of_whitespace_only_is_still_an_empty_element_on_its_line() -> None:
    """libxml2 keeps the whitespace-only content of an element without children: PEPPOL-EN16931-R008 (no empty
    elements) must still see it, and say on which line."""
    xml = BASE.read_bytes()
    start = xml.index(b"<cbc:BuyerReference>") + len(b"<cbc:BuyerReference>")
    blank = xml[:start] + b" \n\t " + xml[xml.index(b"</cbc:BuyerReference>"):]
    report = check_bytes(blank, "blank.xml", "peppol")
    empty = [v for v in report.violations if v.rule == "PEPPOL-EN16931-R008"]
    assert [(v.location, v.line) for v in empty] == [("/Invoice/cbc:BuyerReference", blank[:start].count(b"\n") + 1)]
    assert _answers(report.violations) == _kept(blank, "peppol")


def test_the_safe_parser_keeps_no_indentation_between_elements() -> None:
    """What makes it cheaper (about half the nodes of a rendered document are indentation)."""
    root = xsd.parse(BASE.read_bytes()).getroot()
    assert all(el.tail is None for el in root.iter()) and root.text is None
