"""Hypothesis strategies for valid documents: kinds, roots, VAT mixes, allowances, currencies, party types."""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from benchmarks.corpus import local
from tests.core.docs import COMPANY, CUSTOMER

NL_COMPANY: dict[str, Any] = {
    "name": "De Vries B.V.", "vat_number": "NL004495445B01", "kvk_number": "12345678",
    "address": {"street": "Stationsweg 40", "city": "Utrecht", "postal_code": "3511 ED", "country": "NL"},
    "iban": "NL91ABNA0417164300", "language": "nl",
}
CH_CUSTOMER: dict[str, Any] = {
    "organisation_name": "Bäckerei Müller AG", "vat_number": "CHE116281710MWST",
    "invoice_address": {"street": "Marktgasse 3", "city": "Basel", "postal_code": "4051", "country": "CH"},
}
PERSON: dict[str, Any] = {
    "first_name": "Jan", "infix": "van der", "last_name": "Berg", "email": "jan@mail.example",
    "invoice_address": {"street": "Lindelaan 9", "city": "Breda", "postal_code": "4811 AA", "country": "NL"},
}
NL_CUSTOMER: dict[str, Any] = {
    "organisation_name": "Janssen Bouw B.V.", "vat_number": "NL123456782B01", "kvk_number": "87654321",
    "iban": "NL91ABNA0417164300",
    "invoice_address": {"street": "Industrieweg 7", "city": "Amersfoort", "postal_code": "3812 AB", "country": "NL"},
}

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
prices = st.one_of(cents, st.integers(min_value=1, max_value=99_999).map(lambda c: Decimal(c).scaleb(-4)))
quantities = st.one_of(st.integers(1, 50).map(Decimal), st.integers(1, 9999).map(lambda q: Decimal(q).scaleb(-3)))

# VAT mixes that a Belgian or Dutch seller really issues (O stands alone, BR-O-11).
VAT_MIXES = [
    [("S", "21")], [("S", "21"), ("S", "6")], [("S", "21"), ("S", "12"), ("S", "6")], [("S", "9"), ("S", "21")],
    [("Z", "0")], [("S", "21"), ("Z", "0")], [("E", "0")], [("S", "21"), ("E", "0")], [("AE", "0")],
    [("K", "0")], [("G", "0")], [("O", None)],
]


def vat_fields(category: str, rate: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"vat_category": category}
    if rate is not None:
        fields["vat_rate"] = rate
    if category == "E":
        fields["exemption_reason"] = "Vrijgesteld art. 44 WBTW"
    return fields


@st.composite
def documents(draw: st.DrawFn, text: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    kind = draw(st.sampled_from(["invoice", "credit_note", "proforma", "expense"]))
    mix = draw(st.sampled_from(VAT_MIXES))
    categories = {c for c, _ in mix}
    dutch = draw(st.booleans())
    company = copy.deepcopy(NL_COMPANY if dutch else COMPANY)
    if kind != "expense":  # the seller's own country's rates
        mix = local(mix, "NL" if dutch else "BE")
    needs_vat_buyer = bool(categories & {"AE", "K"})
    choices = ["be", "nl"] if needs_vat_buyer or kind == "expense" else ["be", "nl", "person"]
    # an intra-community supply (K) goes to another country than the seller's
    party_choice = ("be" if dutch else "nl") if "K" in categories else draw(st.sampled_from(choices))
    if "G" in categories and kind != "expense":
        party_choice = "ch"  # an export (G) leaves the EU
    party = copy.deepcopy({"be": CUSTOMER, "nl": NL_CUSTOMER, "person": PERSON, "ch": CH_CUSTOMER}[party_choice])
    n_lines = draw(st.integers(1, 8))
    lines = []
    first_rate_net = Decimal(0)  # what the lines at mix[0] add up to, so a document discount never exceeds it
    for i in range(n_lines):
        category, rate = mix[i % len(mix)]
        quantity, price = draw(quantities), draw(prices)
        net = (quantity * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        line: dict[str, Any] = {"name": f"Item {i}", "quantity": str(quantity),
                                "unit_price": str(price), **vat_fields(category, rate)}
        if draw(st.integers(0, 4)) == 0:
            # a discount never makes a line negative (a negative document is refused at input)
            charge = draw(st.booleans()) or net < Decimal("0.50")
            net += Decimal("0.50") if charge else Decimal("-0.50")
            line["allowances_charges"] = [{"charge": charge, "amount": "0.50", "reason": "Adjust"}]
        if (category, rate) == mix[0]:
            first_rate_net += net
        if text is not None:
            line["description"] = draw(text)
        lines.append(line)
    data: dict[str, Any] = {
        "kind": kind, "status": "received" if kind == "expense" else draw(st.sampled_from(["sent", "paid"])),
        "number": f"H-{draw(st.integers(1, 99999))}", "issue_date": "2026-11-02", "due_date": "2026-12-02",
        "company": company, "lines": lines,
    }
    if draw(st.booleans()):
        category, rate = mix[0]
        charge = draw(st.booleans()) or first_rate_net < Decimal("1.00")
        data["allowances_charges"] = [{"charge": charge, "amount": "1.00", "reason": "Document",
                                       **vat_fields(category, rate)}]
    if draw(st.integers(0, 5)) == 0:
        data["currency"] = "USD"
        data["tax_currency"] = "EUR"
        data["tax_exchange_rate"] = "0.9213"
    if kind == "expense":
        data["supplier"] = party
    else:
        data["customer"] = party
    if kind == "credit_note":
        data["credited_invoice"] = {"number": "H-1", "issue_date": "2026-10-01"}
    if draw(st.integers(0, 3)) == 0:  # a month's subscription or rent; some lines for part of it
        data["period"] = {"start": "2026-10-01", "end": "2026-10-31"}
        for line in lines[::2]:
            line["period"] = draw(st.sampled_from([{"start": "2026-10-01", "end": "2026-10-31"},
                                                   {"start": "2026-10-15"}, {"end": "2026-10-20"}]))
    if kind != "proforma" and draw(st.integers(0, 3)) == 0:  # advance invoices settled, or several credited
        data["preceding_invoices"] = [{"number": f"V-{n}", "issue_date": f"2026-09-0{n}"} if n % 2 else
                                      {"number": f"V-{n}"} for n in range(1, draw(st.integers(1, 3)) + 1)]
    if text is not None:
        data["note"] = draw(text)
    return data
