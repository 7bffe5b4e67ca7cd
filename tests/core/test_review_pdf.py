"""The PDF copy (pdf.py) is the image the accountant books from in Yuki: it must add up, show every VAT rate with
its exemption text, and carry what Belgian and Dutch law require (both VAT numbers, the IBAN, the credited invoice).

No PDF text extractor is installed, so _rows reads what fpdf2 writes: each piece of text is `BT x y Td (text) Tj ET`
in a Flate-compressed page stream. Rows are pieces on the same baseline, left to right."""

from __future__ import annotations

import itertools
import re
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.core.docs import invoice
from ublexport.loader import load_document
from ublexport.model import Document
from ublexport.pdf import make_pdf
from ublexport.totals import compute

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TEXT = re.compile(r"BT ([\d.]+) ([\d.]+) Td \(((?:\\.|[^\\)])*)\) Tj ET")


def _rows(data: bytes) -> list[list[str]]:
    rows: list[list[str]] = []
    for stream in _STREAM.finditer(data):
        try:
            content = zlib.decompress(stream.group(1)).decode("latin-1")
        except zlib.error:  # not a page (fpdf2 writes page contents compressed)
            continue
        page: dict[float, list[tuple[float, str]]] = {}
        for x, y, text in _TEXT.findall(content):
            text = re.sub(r"\\(.)", lambda m: "\r" if m.group(1) == "r" else m.group(1), text)
            page.setdefault(round(float(y), 1), []).append((float(x), text))
        rows += [[text for _, text in sorted(page[y])] for y in sorted(page, reverse=True)]
    return rows


def _pdf_rows(document: Document) -> list[list[str]]:
    return _rows(make_pdf(document, compute(document)))


def _sample(name: str) -> list[list[str]]:
    return _pdf_rows(load_document(SAMPLES / name))


def _nl(text: str) -> Decimal:
    """A number as the Dutch PDF writes it (1.234,56: ublexport.localize), read back."""
    return Decimal(text.replace(".", "").replace(",", "."))


def _amount(text: str) -> Decimal:
    return _nl(text.removesuffix(" EUR"))


def _texts(rows: list[list[str]]) -> list[str]:
    return [text for row in rows for text in row]


def _check_sums(rows: list[list[str]]) -> None:
    """Printed lines (after their own allowances and charges) + document allowances/charges = total excl. VAT,
    and on down to the amount due, using only numbers read back from the PDF."""
    head = next(i for i, row in enumerate(rows) if row[0] == "Omschrijving")
    end = next(i for i, row in enumerate(rows) if row[0] == "Totaal excl. btw")
    lines, adjustments, line = Decimal(0), Decimal(0), None
    for row in rows[head + 1:end]:
        if row[0] == "Omschrijving":  # the columns' heading, again on a new page
            continue
        if len(row) == 5:  # name, quantity (and unit), price, VAT rate, net amount
            if line is not None:
                assert line[0] + line[1] == line[2], line
            line = [_nl(row[1].split()[0]) * _nl(row[2]), Decimal(0), _nl(row[4])]
            lines += _nl(row[4])
        elif len(row) == 2 and row[0].startswith(("Korting:", "Toeslag:")):
            if line is not None and not row[1].endswith("EUR"):  # a line's own allowance or charge
                line[1] += _nl(row[1])
            else:  # a document-level allowance or charge, in the totals
                adjustments += _amount(row[1])
    assert line is not None and line[0] + line[1] == line[2], line
    by_label = {row[0]: _amount(row[-1]) for row in rows[end:] if len(row) == 2}
    if "Totaal lijnen" in by_label:
        assert by_label["Totaal lijnen"] == lines
    assert lines + adjustments == _amount(rows[end][1])
    vat_head = next(i for i, row in enumerate(rows) if row[0] == "Btw-tarief")
    vat_rows = [row for row in rows[vat_head + 1:] if len(row) == 3]
    assert sum(_amount(row[1]) for row in vat_rows) == _amount(rows[end][1])
    assert sum(_amount(row[2]) for row in vat_rows) == by_label["Totaal btw"]
    assert by_label["Totaal excl. btw"] + by_label["Totaal btw"] == by_label["Totaal incl. btw"]
    assert (by_label["Totaal incl. btw"] + by_label.get("Reeds betaald", Decimal(0))
            + by_label.get("Afronding", Decimal(0))) == by_label.get("Te betalen", by_label.get("Te crediteren"))


def test_sample_invoice_shows_both_vat_rates_the_discounts_and_adds_up() -> None:
    rows = _sample("01-invoice-be-be.json")

    assert ["Vervangstuk thermostaat", "2", "48,50", "21%", "87,30"] in rows  # pieces: no unit
    assert ["Herstelling oven", "3 u", "65,00", "21%", "195,00"] in rows  # hours (HUR): 3 u, not 3
    assert ["Korting: Klantenkorting 10%", "-9,70"] in rows  # the line's own discount
    assert ["Korting: Getrouwheidskorting (Btw 21%)", "-10,00 EUR"] in rows  # the document discount
    assert ["Totaal lijnen", "307,25 EUR"] in rows
    assert ["Totaal excl. btw", "297,25 EUR"] in rows
    assert ["21%", "272,30 EUR", "57,18 EUR"] in rows  # one VAT row per rate
    assert ["6%", "24,95 EUR", "1,50 EUR"] in rows
    assert ["Te betalen", "355,93 EUR"] in rows
    _check_sums(rows)


def test_sample_invoice_names_both_parties_the_due_date_and_how_to_pay() -> None:
    texts = _texts(_sample("01-invoice-be-be.json"))

    for expected in ("Atelier Dewaele BV", "Veldstraat 12", "9000 Gent", "Btw-nr. BE0812345603",
                     "Ondernemingsnr. 0812.345.603", "Bakkerij Peeters NV", "Kerkstraat 5", "2000 Antwerpen",
                     "Btw-nr. BE0765432146", "Ondernemingsnr. 0765.432.146", "Vervaldatum: 02-12-2026",
                     "IBAN: BE71096123456769   BIC: GKCCBEBB", "Mededeling: +++202/6000/00192+++",
                     "Betalingsvoorwaarden: Betaling binnen 30 dagen", "Bedankt voor uw vertrouwen."):
        assert expected in texts, expected


def test_dutch_invoice_shows_the_kvk_numbers() -> None:
    texts = _texts(_sample("02-invoice-nl-nl.json"))

    assert {"KvK-nr. 12345678", "KvK-nr. 87654321", "Btw-nr. NL004495445B01", "Btw-nr. NL123456782B01",
            "IBAN: NL91ABNA0417164300"} <= set(texts)


def test_reverse_charge_and_intra_community_invoices_carry_the_legal_mention() -> None:
    reverse = _sample("04-invoice-reverse-charge.json")
    assert ["0% AE", "880,00 EUR", "0,00 EUR"] in reverse
    assert ["Verlegging van heffing - art. 20 KB nr. 1 - medecontractant"] in reverse  # the text given, as given
    _check_sums(reverse)

    intra = _sample("03-invoice-be-nl-intracommunity.json")
    assert ["0% K", "5.000,00 EUR", "0,00 EUR"] in intra
    # our default, in the document's language, as a Belgian seller must word it: exempt, and why (round 5)
    assert "Vrijgestelde intracommunautaire levering (art. 39bis, eerste lid, 1° WBTW) (VATEX-EU-IC)" in \
        " ".join(_texts(intra))
    assert "Leverdatum: 04-11-2026" in _texts(intra)


def test_credit_note_names_the_invoice_it_credits() -> None:
    rows = _sample("06-credit-note.json")

    assert ["Creditnota voor factuur: 2026-0001 van 02-11-2026"] in rows
    _check_sums(rows)
    # credited to the customer: not "to pay", and the seller's account is not offered as the one to pay into
    assert ["Te crediteren", "78,65 EUR"] in rows and not any(r[0] == "Te betalen" for r in rows)
    assert not any("IBAN" in cell for row in rows for cell in row)


def test_charges_prepaid_and_rounding_are_shown_and_add_up() -> None:
    line: dict[str, Any] = {"name": "Werk", "quantity": "3", "unit_price": "19.99", "vat_category": "S",
                            "vat_rate": "21", "allowances_charges": [
                                {"amount": "2.00", "reason": "Korting"},
                                {"charge": True, "amount": "1.50", "reason": "Spoedtoeslag"}]}
    document = Document.model_validate(invoice(
        due_date="2026-12-02",
        lines=[line, {"name": "Boek", "quantity": "1", "unit_price": "12.00", "vat_category": "S", "vat_rate": "6"}],
        allowances_charges=[{"charge": True, "amount": "7.50", "reason": "Verzending", "vat_category": "S",
                             "vat_rate": "21"}],
        prepaid_amount="20.00", rounding_amount="0.01",
    ))
    rows = _pdf_rows(document)

    assert ["Toeslag: Spoedtoeslag", "1,50"] in rows
    assert ["Toeslag: Verzending (Btw 21%)", "7,50 EUR"] in rows
    assert ["Reeds betaald", "-20,00 EUR"] in rows
    assert ["Afronding", "0,01 EUR"] in rows
    assert ["Te betalen", f"{str(compute(document).payable).replace('.', ',')} EUR"] in rows
    _check_sums(rows)


def test_french_document_is_in_french_with_the_exemption_in_french() -> None:
    data = invoice(due_date="2026-12-02", lines=[{"name": "Pose", "quantity": "1", "unit_price": "100.00",
                                                  "vat_category": "AE", "vat_rate": "0"}])
    data["company"]["language"] = "fr"
    texts = _texts(_pdf_rows(Document.model_validate(data)))

    assert {"Total HTVA", "Taux de TVA", "Autoliquidation (VATEX-EU-AE)", "N° TVA BE0765432146",
            "À payer"} <= set(texts)


def test_long_names_and_many_lines_lose_nothing_over_several_pages() -> None:
    long_name = "Onderhoudscontract voor alle koelinstallaties in de vestigingen te Gent, Brugge en Kortrijk"
    lines = [{"name": f"{long_name} {i}", "quantity": "1", "unit_price": "10.00", "vat_category": "S",
              "vat_rate": "21"} for i in range(60)]
    document = Document.model_validate(invoice(due_date="2026-12-02", lines=lines, note="Eerste regel\nTweede"))
    data = make_pdf(document, compute(document))
    rows = _rows(data)
    descriptions = " ".join(row[0] for row in rows)

    assert data.count(b"/Type /Page\n") >= 2
    for i in range(60):  # a name too long for its column wraps onto the next rows, whole
        assert f"{long_name} {i}" in descriptions
    _check_sums(rows)
    assert {"Te betalen", "Eerste regel", "Tweede"} <= set(_texts(rows))
    assert make_pdf(document, compute(document)) == data  # deterministic: a retried e-mail is identical


_PIECE = re.compile(r"BT /F\d+ ([\d.]+) Tf ET|BT ([\d.]+) ([\d.]+) Td \(((?:\\.|[^\\)])*)\) Tj ET")


def _pieces(data: bytes) -> dict[float, list[tuple[float, float, str]]]:
    """The first page's text pieces per baseline: (x, font size, text), in points, left to right."""
    from fpdf import FPDF

    measure = FPDF()
    content = next(zlib.decompress(m.group(1)).decode("latin-1") for m in _STREAM.finditer(data)
                   if m.group(1)[:2] == b"x\x9c")
    size, rows = 10.0, {}
    for found in _PIECE.finditer(content):
        if found.group(1):
            size = float(found.group(1))
            continue
        text = re.sub(r"\\(.)", r"\1", found.group(4))
        measure.set_font("Helvetica", "", size)
        rows.setdefault(float(found.group(3)), []).append(
            (float(found.group(2)), float(found.group(2)) + measure.get_string_width(text) * measure.k, text))
    return {y: sorted(row) for y, row in rows.items()}


def test_a_long_quantity_and_amounts_in_the_billions_are_set_smaller_not_over_the_next_column() -> None:
    """Noticed in session 9: 10 billion overlapped the VAT column. A quantity with four decimals and its unit
    (an energy invoice) is as wide, and did so in the narrow quantity column."""
    line = {"name": "Stroom", "quantity": "1234.5678", "unit_code": "KWH", "unit_price": "8200000.00",
            "vat_category": "S", "vat_rate": "21"}
    document = Document.model_validate(invoice(lines=[line]))
    rows = _pieces(make_pdf(document, compute(document)))
    line_row = next(row for row in rows.values() if any(text == "1.234,5678 kWh" for _, _, text in row))
    assert [text for _, _, text in line_row] == ["Stroom", "1.234,5678 kWh", "8.200.000,00", "21%",
                                                 "10.123.455.960,00"]
    breakdown = next(row for row in rows.values() if any(text == "2.125.925.751,60 EUR" for _, _, text in row))
    for row in (line_row, breakdown):
        for (_, end, text), (start, _, after) in itertools.pairwise(row):
            assert end + 1 <= start, f"{text!r} runs into {after!r}"
