"""An exemption given only by its VATEX code is written out in words in the UBL and on the PDF: the law wants the
reason in words (Art. 226(11) VAT Directive), and a margin scheme in the Directive's own words (Art. 226(14))."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.core.docs import document
from tests.core.test_review2_pdf import _printed
from ublexport.pipeline import PdfMode, prepare
from ublexport.vatex import words

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


@pytest.mark.parametrize(("code", "language", "expected"), [
    ("VATEX-EU-F", "nl", "Bijzondere regeling — gebruikte goederen"),
    ("VATEX-EU-F", "fr", "Régime particulier — biens d'occasion"),
    ("VATEX-EU-J", "en", "Margin scheme — Collector's items and antiques"),
    ("VATEX-EU-132-1I", "nl", "Vrijgesteld op grond van artikel 132, lid 1, onder i), van Richtlijn 2006/112/EG"),
    ("VATEX-EU-132-1I", "fr", "Exonération en vertu de l'article 132, paragraphe 1, point i), de la directive "
                              "2006/112/CE"),
    ("VATEX-EU-79-C", "en", "Exempt based on Article 79(c) of Council Directive 2006/112/EC"),
    ("VATEX-EU-135-1", "nl", "Vrijgesteld op grond van artikel 135, lid 1 van Richtlijn 2006/112/EG"),
    ("vatex-eu-151-1aa", "en", "Exempt based on Article 151(1)(aa) of Council Directive 2006/112/EC"),
])
def test_a_code_is_written_out_as_the_article_it_cites(code: str, language: str, expected: str) -> None:
    assert words(code, language) == expected


def test_a_national_code_or_one_that_is_no_margin_scheme_gets_no_words_of_ours() -> None:
    assert words("VATEX-FR-FRANCHISE", "nl") is None
    assert words("VATEX-EU-D", "nl") is None  # second-hand means of transport: CEF names no margin scheme for it


def test_a_second_hand_sale_given_by_its_code_says_the_margin_scheme_in_the_ubl_and_on_the_pdf() -> None:
    """(Bookkeeper review, nineteenth session) E with only VATEX-EU-F had no TaxExemptionReason and the PDF printed
    "VATEX-EU-F": the mention art. 58 §4 WBTW and Art. 226(14) ask for was missing."""
    line = {"name": "Gebruikte bestelwagen", "quantity": "1", "unit_price": "4500.00", "vat_category": "E",
            "vat_rate": "0", "exemption_reason_code": "VATEX-EU-F"}
    doc = document(lines=[line])
    xml = etree.fromstring(prepare(doc, pdf=PdfMode.none).xml)
    subtotal = xml.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=NS)
    assert subtotal is not None
    assert subtotal.findtext("cbc:TaxExemptionReasonCode", namespaces=NS) == "VATEX-EU-F"
    assert subtotal.findtext("cbc:TaxExemptionReason", namespaces=NS) == "Bijzondere regeling — gebruikte goederen"
    assert "Bijzondere regeling — gebruikte goederen (VATEX-EU-F)" in "\n".join(_printed(doc))


def test_text_the_user_gave_is_kept_as_given() -> None:
    line = {"name": "Les", "quantity": "1", "unit_price": "50.00", "vat_category": "E", "vat_rate": "0",
            "exemption_reason_code": "VATEX-EU-132-1I", "exemption_reason": "Vrijgesteld art. 44 § 2, 4° WBTW"}
    xml = etree.fromstring(prepare(document(lines=[line]), pdf=PdfMode.none).xml)
    assert xml.findtext("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason",
                        namespaces=NS) == "Vrijgesteld art. 44 § 2, 4° WBTW"

