"""A seeded, reproducible corpus of varied documents for the benchmarks.

Hypothesis' strategies (tests/core/strategies.py) explore; a benchmark must measure the same documents on every run,
so this generator uses one `random.Random(seed)` and the same vocabulary: kinds, VAT mixes, allowances and charges,
organisations and private persons, Belgian and Dutch sellers, a foreign tax currency now and then.
Documents are produced lazily (a generator) so that a 20,000-document run never holds them all.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ublexport.model import Document

BE_COMPANY: dict[str, Any] = {
    "name": "Atelier Dewaele BV", "vat_number": "BE0812345603", "enterprise_number": "0812.345.603",
    "address": {"street": "Veldstraat 12", "city": "Gent", "postal_code": "9000", "country": "BE"},
    "iban": "BE71096123456769", "bic": "GKCCBEBB", "email": "boekhouding@dewaele.example",
    "phone": "+32 9 123 45 67", "language": "nl",
}
NL_COMPANY: dict[str, Any] = {
    "name": "De Vries B.V.", "vat_number": "NL004495445B01", "kvk_number": "12345678",
    "address": {"street": "Stationsweg 40", "city": "Utrecht", "postal_code": "3511 ED", "country": "NL"},
    "iban": "NL91ABNA0417164300", "language": "nl",
}
BE_CUSTOMER: dict[str, Any] = {
    "relation_code": "D1", "organisation_name": "Bakkerij Peeters NV", "vat_number": "BE0765432146",
    "email": "facturen@peeters.example",
    "invoice_address": {"street": "Kerkstraat 5", "city": "Antwerpen", "postal_code": "2000", "country": "BE"},
}
NL_CUSTOMER: dict[str, Any] = {
    "organisation_name": "Janssen Bouw B.V.", "vat_number": "NL123456782B01", "kvk_number": "87654321",
    "invoice_address": {"street": "Industrieweg 7", "city": "Amersfoort", "postal_code": "3812 AB", "country": "NL"},
}
PERSON: dict[str, Any] = {
    "first_name": "Jan", "infix": "van der", "last_name": "Berg", "email": "jan@mail.example",
    "invoice_address": {"street": "Lindelaan 9", "city": "Breda", "postal_code": "4811 AA", "country": "NL"},
}
SUPPLIER_IBANS = {"BE": "BE62510007547061", "NL": "NL02ABNA0123456789"}
CH_CUSTOMER: dict[str, Any] = {  # an export (G) leaves the EU (the model refuses G to a member state)
    "organisation_name": "Bäckerei Müller AG", "vat_number": "CHE116281710MWST",
    "invoice_address": {"street": "Marktgasse 3", "city": "Basel", "postal_code": "4051", "country": "CH"},
}
PARTIES = {"be": BE_CUSTOMER, "nl": NL_CUSTOMER, "person": PERSON, "ch": CH_CUSTOMER}

# VAT mixes a Belgian or Dutch seller really issues; O stands alone (BR-O-11). Weighted towards the common case.
VAT_MIXES: list[list[tuple[str, str | None]]] = [
    [("S", "21")], [("S", "21")], [("S", "21"), ("S", "6")], [("S", "21"), ("S", "12"), ("S", "6")],
    [("S", "9"), ("S", "21")], [("Z", "0")], [("S", "21"), ("Z", "0")], [("E", "0")], [("S", "21"), ("E", "0")],
    [("AE", "0")], [("K", "0")], [("G", "0")], [("O", None)],
]
LOCAL_RATES = {"BE": {"9": "6"}, "NL": {"6": "9", "12": "9"}}  # the seller's country's rate for the same goods


def local(mix: list[tuple[str, str | None]], country: str) -> list[tuple[str, str | None]]:
    """MIX at the rates of the seller's COUNTRY (a Dutch seller has no 6 % or 12 %, a Belgian no 9 %), without
    drawing anything: the seeded corpus stays the same documents."""
    rates = LOCAL_RATES[country]
    seen: list[tuple[str, str | None]] = []
    for category, rate in mix:
        pair = (category, rates.get(rate, rate) if category == "S" and rate is not None else rate)
        if pair not in seen:
            seen.append(pair)
    return seen


KINDS = ["invoice"] * 6 + ["credit_note", "credit_note", "proforma", "expense"]
ITEMS = ["Herstelling oven", "Vervangstuk thermostaat", "Consultancy", "Onderhoudscontract", "Verzendkosten",
         "Licentie", "Opleiding & begeleiding", "Materiaal <klein>", "Werkuren", "Café-verbruik"]


def _vat_fields(category: str, rate: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"vat_category": category}
    if rate is not None:
        fields["vat_rate"] = rate
    if category == "E":
        fields["exemption_reason"] = "Vrijgesteld art. 44 WBTW"
    return fields


def _money(rng: random.Random, low: int, high: int) -> str:
    return str(Decimal(rng.randint(low, high)).scaleb(-2))


def _net(line: dict[str, Any]) -> Decimal:
    """A line's net amount, to keep discounts within what they discount (the model refuses more)."""
    net = (Decimal(line["quantity"]) * Decimal(line["unit_price"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
    for ac in line.get("allowances_charges", ()):
        net += Decimal(ac["amount"]) if ac["charge"] else -Decimal(ac["amount"])
    return net


def _line(rng: random.Random, i: int, category: str, rate: str | None) -> dict[str, Any]:
    quantity = str(rng.randint(1, 40)) if rng.random() < 0.7 else str(Decimal(rng.randint(1, 9999)).scaleb(-3))
    price = _money(rng, 100, 250_000) if rng.random() < 0.85 else str(Decimal(rng.randint(1, 99_999)).scaleb(-4))
    line: dict[str, Any] = {"name": ITEMS[i % len(ITEMS)], "quantity": quantity, "unit_price": price,
                            **_vat_fields(category, rate)}
    if rng.random() < 0.3:
        line["description"] = f"Referentie {rng.randint(1000, 9999)} - periode {rng.randint(1, 12)}/2026"
    if rng.random() < 0.25:
        adjustment: dict[str, Any] = {"charge": rng.random() < 0.3, "amount": "0.50", "reason": "Aanpassing"}
        if not adjustment["charge"] and rng.random() < 0.5:
            adjustment["reason_code"] = "95"  # UNCL5189 'discount'; charges take UNCL7161 codes, so none here
        if not adjustment["charge"] and _net(line) < Decimal("0.50"):  # a discount never makes a line negative
            adjustment = {"charge": True, "amount": "0.50", "reason": "Aanpassing"}
        line["allowances_charges"] = [adjustment]
    if rng.random() < 0.4:
        line["seller_item_id"] = f"SKU-{rng.randint(100, 999)}"
    if rng.random() < 0.2:
        line["unit_code"] = "HUR"
    return line


def document_data(rng: random.Random, serial: int, n_lines: int = 10) -> dict[str, Any]:
    """One document as the JSON a user would write, drawn from `rng`."""
    kind = rng.choice(KINDS)
    mix = rng.choice(VAT_MIXES)
    categories = {c for c, _ in mix}
    company = copy.deepcopy(NL_COMPANY if rng.random() < 0.35 else BE_COMPANY)
    if kind != "expense":  # a supplier's invoice is at its own country's rates
        mix = local(mix, company["address"]["country"])
    needs_vat_buyer = bool(categories & {"AE", "K"})
    # A private person's only Peppol address is an e-mail (scheme EM), which the Peppol rules refuse
    # (PEPPOL-EN16931-CL008, see README "Findings"); proformas are checked as plain EN 16931, where EM is valid.
    choices = ["be", "nl", "person"] if kind == "proforma" and not needs_vat_buyer else ["be", "nl"]
    party = copy.deepcopy(PARTIES[rng.choice(choices)])
    if kind == "expense":
        party["iban"] = SUPPLIER_IBANS[party["invoice_address"]["country"]]  # a supplier says where to pay (NL-R-007)
    data: dict[str, Any] = {
        "kind": kind,
        "status": "received" if kind == "expense" else rng.choice(["sent", "paid"]),
        "number": f"B-{serial:06d}",
        "issue_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "due_date": "2026-12-31",  # an amount due needs a due date or payment terms (BR-CO-25)
        "company": company,
        "lines": [_line(rng, i, *mix[i % len(mix)]) for i in range(n_lines)],
    }
    if rng.random() < 0.5:
        data["note"] = "Bedankt voor uw vertrouwen. Betaling binnen 30 dagen."
    if rng.random() < 0.5:
        data["buyer_reference"] = f"PO-{rng.randint(1000, 9999)}"
    if rng.random() < 0.35:
        category, rate = mix[0]
        data["allowances_charges"] = [{"charge": rng.random() < 0.3, "amount": _money(rng, 100, 2000),
                                       "reason": "Getrouwheidskorting", **_vat_fields(category, rate)}]
        covered = sum((_net(li) for li in data["lines"] if li["vat_category"] == category
                       and li.get("vat_rate") == rate), Decimal(0))
        if Decimal(data["allowances_charges"][0]["amount"]) > covered:  # never more than the lines it discounts
            data["allowances_charges"][0]["charge"] = True
    if rng.random() < 0.1:
        data.update(currency="USD", tax_currency="EUR", tax_exchange_rate="0.9213")
    if kind != "expense" and rng.random() < 0.5:
        data["payment"] = {"terms": "Betaling binnen 30 dagen"}
    if "G" in categories and kind != "expense":
        party = copy.deepcopy(PARTIES["ch"])
    if "K" in categories and party["invoice_address"]["country"] == company["address"]["country"]:
        # an intra-community supply goes to another country than the seller's
        party = copy.deepcopy(PARTIES["nl" if company["address"]["country"] == "BE" else "be"])
        if kind == "expense":
            party["iban"] = SUPPLIER_IBANS[party["invoice_address"]["country"]]
    data["supplier" if kind == "expense" else "customer"] = party
    if kind == "credit_note":
        data["credited_invoice"] = {"number": "B-000001", "issue_date": "2026-01-01"}  # before every issue date
    return data


def documents(count: int, *, seed: int = 20260, n_lines: int = 10) -> Iterator[Document]:
    """`count` validated documents, the same ones for the same seed, produced one at a time."""
    rng = random.Random(seed)
    for serial in range(1, count + 1):
        yield Document.model_validate(document_data(rng, serial, n_lines))


COMPANY_FILES = {BE_COMPANY["name"]: "company-be.json", NL_COMPANY["name"]: "company-nl.json"}


def write_files(directory: Path, count: int, *, seed: int = 20260, n_lines: int = 10) -> list[Path]:
    """The corpus as the JSON files a user exports (the company by reference, as in samples/); one at a time."""
    directory.mkdir(parents=True, exist_ok=True)
    for company in (BE_COMPANY, NL_COMPANY):
        (directory / COMPANY_FILES[company["name"]]).write_text(json.dumps(company), encoding="utf-8")
    rng = random.Random(seed)
    paths = []
    for serial in range(1, count + 1):
        data = document_data(rng, serial, n_lines)
        data["company"] = COMPANY_FILES[data["company"]["name"]]
        path = directory / f"doc-{serial:06d}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        paths.append(path)
    return paths
