"""The checked path parses the rendered bytes once: the XSD and the rules see that one tree, nothing re-serialises."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from tests.core.docs import document
from ublexport import xsd
from ublexport.pipeline import PdfMode, prepare


def test_prepare_parses_the_rendered_bytes_once_and_validates_that_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[tuple[bytes, Any]] = []
    validated: list[Any] = []
    raw_parses: list[object] = []
    serialised: list[object] = []
    real_parse, real_validate = xsd.parse, xsd.validate
    real_fromstring, real_tostring = etree.fromstring, etree.tostring

    def parse(data: bytes, source: str = "document") -> Any:
        tree = real_parse(data, source)
        parsed.append((data, tree))
        return tree

    def validate(tree: Any) -> Any:
        validated.append(tree)
        return real_validate(tree)

    def fromstring(*args: Any, **kwargs: Any) -> Any:
        raw_parses.append(args[0])
        return real_fromstring(*args, **kwargs)

    def tostring(*args: Any, **kwargs: Any) -> Any:
        serialised.append(args[0])
        return real_tostring(*args, **kwargs)

    monkeypatch.setattr(xsd, "parse", parse)
    monkeypatch.setattr(xsd, "validate", validate)
    monkeypatch.setattr(etree, "fromstring", fromstring)
    monkeypatch.setattr(etree, "tostring", tostring)
    prepared = prepare(document(), pdf=PdfMode.none)

    assert prepared.report.valid
    assert [data for data, _ in parsed] == [prepared.xml]
    assert raw_parses == [prepared.xml]  # the safe parser, once; no other parse of the document
    assert len(validated) == 1 and validated[0] is parsed[0][1]
    assert serialised == []
