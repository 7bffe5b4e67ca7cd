"""What people read (the e-mail and the PDF) writes numbers and dates in the company's language, the same way in
both; the UBL keeps plain decimals and ISO dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.core.docs import invoice
from tests.core.test_review_pdf import _pdf_rows, _texts
from ublexport import localize
from ublexport.compose import subject_and_body
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("1234567.5", "nl", "1.234.567,5"),
    ("1234567.5", "fr", "1 234 567,5"),
    ("1234567.5", "en", "1,234,567.5"),
    ("-1234.00", "nl", "-1.234,00"),
    ("-999.99", "nl", "-999,99"),
    ("0.4567", "fr", "0,4567"),
    ("12", "nl", "12"),
    ("100000", "nl", "100.000"),
])
def test_a_decimal_is_grouped_and_pointed_for_its_language(text: str, language: str, expected: str) -> None:
    assert localize.decimal(text, language) == expected


def test_an_amount_puts_its_currency_where_the_language_does() -> None:
    assert localize.amount(Decimal("-1234.5"), "EUR", "nl") == "EUR -1.234,50"
    assert localize.amount(Decimal("1234.5"), "EUR", "fr") == "1 234,50 EUR"
    assert localize.amount(Decimal("1234.5"), "USD", "en") == "USD 1,234.50"


def test_dates() -> None:
    day = dt.date(2026, 11, 2)
    assert [localize.date(day, lang) for lang in ("nl", "fr", "en")] == ["02-11-2026", "02/11/2026", "2026-11-02"]


def _big(language: str) -> Document:
    data = invoice(lines=[{"name": "Dak", "quantity": "1.5", "unit_price": "1000.00", "vat_category": "S",
                           "vat_rate": "21"}])
    data["company"]["language"] = language
    return Document.model_validate(data)


@pytest.mark.parametrize(("language", "line", "payable", "due"), [
    ("nl", ["1,5", "1.000,00", "21%", "1.500,00"], "1.815,00 EUR", "02-12-2026"),
    ("fr", ["1,5", "1 000,00", "21\u00a0%", "1 500,00"], "1 815,00 EUR", "02/12/2026"),
    ("en", ["1.5", "1,000.00", "21%", "1,500.00"], "1,815.00 EUR", "2026-12-02"),
])
def test_the_pdf_writes_numbers_and_dates_as_its_language_does(language: str, line: list[str], payable: str,
                                                                due: str) -> None:
    rows = _pdf_rows(_big(language))
    assert ["Dak", *line] in rows
    assert any(row[-1] == payable for row in rows)
    assert any(text.endswith(due) for text in _texts(rows))


def test_the_email_and_the_pdf_say_the_same_amount_the_same_way() -> None:
    document = _big("nl")
    _, body = subject_and_body(prepare(document, pdf=PdfMode.none))
    assert "EUR 1.815,00" in body
    assert any(row[-1] == "1.815,00 EUR" for row in _pdf_rows(document))


def test_the_ubl_keeps_plain_decimals_and_iso_dates() -> None:
    xml = prepare(_big("nl"), pdf=PdfMode.none).xml
    assert b">1815.00</cbc:PayableAmount>" in xml and b"<cbc:DueDate>2026-12-02</cbc:DueDate>" in xml
