"""The UBL-CR-* rules give exactly the official CEN 1.3.16 results on the official examples, and nothing on ours.

The reference folder's README records what the official CEN 1.3.16 XSLT said of each example: no warning at all,
except one UBL-CR-679 on the Norwegian example. A wrong entry in the 679-rule table shows up here first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from benchmarks.corpus import documents
from tests.rules.helpers import CEN_DIR, NORWAY, PARSER, PEPPOL_DIR
from ublexport.render import render
from ublexport.rules import BY_ID, check
from ublexport.view import profile_for

EXAMPLES = [*sorted(PEPPOL_DIR.glob("*.xml")), *sorted(p for p in CEN_DIR.iterdir() if p.suffix.lower() == ".xml")]


def _restrictions(root: etree._Element, profile: str) -> list[tuple[str, str]]:
    return [(v.rule, v.flag) for v in check(root, profile) if v.rule.startswith("UBL-CR-")]


def test_the_whole_table_is_registered() -> None:
    ids = sorted(i for i in BY_ID if i.startswith("UBL-CR-"))
    assert len(ids) == 679
    assert {BY_ID[i].family for i in ids} == {"en16931"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_official_examples_have_no_restriction_warning(path: Path) -> None:
    profile = "peppol" if path.parent == PEPPOL_DIR else "en16931"
    assert _restrictions(etree.parse(str(path), PARSER).getroot(), profile) == []


def test_norwegian_example_has_exactly_the_official_warning() -> None:
    found = _restrictions(etree.parse(str(NORWAY), PARSER).getroot(), "peppol")
    assert found == [("UBL-CR-679", "warning")]


def test_our_rendered_documents_have_no_restriction_warning() -> None:
    for document in documents(60):
        profile = profile_for(document)
        xml = render(document, profile=profile)
        assert _restrictions(etree.fromstring(xml), profile) == [], document.label


EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


@pytest.mark.parametrize(("name", "rule", "mutate"), [
    ("base-example.xml", "UBL-CR-001", lambda r: r.insert(0, etree.Element(f"{{{EXT}}}UBLExtensions"))),
    ("base-example.xml", "UBL-CR-005", lambda r: r.insert(3, etree.Element(f"{{{CBC}}}UUID"))),
    ("base-creditnote-correction.xml", "UBL-CR-006", lambda r: r.insert(3, etree.Element(f"{{{CBC}}}IssueTime"))),
])
def test_a_restriction_fires_where_the_element_is_added(name: str, rule: str, mutate: object) -> None:
    root = etree.parse(str(PEPPOL_DIR / name), PARSER).getroot()
    assert _restrictions(root, "peppol") == []
    mutate(root)  # type: ignore[operator]
    assert (rule, "warning") in _restrictions(root, "peppol")
