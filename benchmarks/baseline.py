"""Honest baselines measured in the same run: a bare Jinja2 render and a bare lxml parse + XSD validation.

The bare render prints the same UBL from plain dicts with one template compiled once (benchmarks/baseline.xml.j2).
Its input is the view turned into dicts *before* timing, so it measures what Jinja2 itself costs for this shape; the
difference to ublexport's render is what totals, the view and our template machinery add.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from lxml import etree

HERE = Path(__file__).resolve().parent
_PLAIN_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def template() -> jinja2.Template:
    """Compiled once per process, like any sane template user would."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), autoescape=True,
                             keep_trailing_newline=True, auto_reload=False)
    return env.get_template("baseline.xml.j2")


def view_dict(view: Any) -> dict[str, Any]:
    """The view as nested plain dicts: the baseline's input, prepared outside the timed region."""
    return dataclasses.asdict(view)


def bare_render(data: dict[str, Any]) -> bytes:
    return template().render(d=data).encode("utf-8")


def bare_parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PLAIN_PARSER)


def canonical(data: bytes) -> bytes:
    """C14N without whitespace-only text: two renders are 'the same XML shape' when these bytes are equal."""
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


@cache
def schemas() -> dict[str, etree.XMLSchema]:
    """The official Invoice and CreditNote XSDs keyed by root tag, compiled once (the same files ublexport uses)."""
    from ublexport import xsd

    files = {"Invoice": "UBL-Invoice-2.1.xsd", "CreditNote": "UBL-CreditNote-2.1.xsd"}
    return {f"{{{xsd.NS[root]}}}{root}": etree.XMLSchema(etree.parse(str(xsd.schema_dir() / "maindoc" / name)))
            for root, name in files.items()}


def bare_xsd_bytes(data: bytes) -> bool:
    """lxml parse + XSD validation, nothing else: the floor for 'is this schema-valid UBL?'."""
    root = bare_parse(data)
    return bool(schemas()[str(root.tag)].validate(root))


def bare_xsd_tree(root: etree._Element) -> bool:
    """XSD validation of a tree already in memory: what re-parsing our own bytes costs on top."""
    return bool(schemas()[str(root.tag)].validate(root))
