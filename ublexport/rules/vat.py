"""EN 16931 rules per VAT category: BR-S-*, BR-Z-*, BR-E-*, BR-AE-*, BR-IC-* (K), BR-G-*, BR-O-*, BR-B-*,
BR-AF-* (IGIC, L) and BR-AG-* (IPSI, M).

The categories share one shape, so the checks are built by small factories, one registered check per rule id:

- ``-01`` the VAT breakdown has (exactly / at least) one group of the category used on lines, allowances, charges;
- ``-02 .. -04`` the seller (and for some categories the buyer) identifiers required when the category is used
  on a line, a document level allowance, a document level charge;
- ``-05 .. -07`` the rate on a line, an allowance, a charge;
- ``-08`` the taxable amount of the breakdown group; ``-09`` its tax amount; ``-10`` the exemption reason.

The Spanish regional taxes (L: Canary Islands IGIC, M: Ceuta and Melilla IPSI) follow the standard rate's shape
(S): a breakdown group per rate, tax = taxable x rate, no exemption reason; only their rate may also be zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from ublexport.rules._doc import (
    HUNDRED,
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_ITEM,
    T_LINES,
    T_PERCENT,
    T_TAX_CATEGORY,
    ZERO,
    Doc,
    Element,
    LineRow,
    cac,
    category_id,
    cbc,
    child,
    children,
    dec,
    is_charge,
    num,
    path_find,
    round2,
    scheme_is_vat,
    string,
    uses_category,
)
from ublexport.rules.registry import rule

NAMES = {
    "S": "Standard rated",
    "Z": "Zero rated",
    "E": "Exempt from VAT",
    "AE": "Reverse charge",
    "K": "Intra-community supply",
    "G": "Export outside the EU",
    "O": "Not subject to VAT",
    "L": "IGIC",
    "M": "IPSI",
}
PREFIX = {"S": "S", "Z": "Z", "E": "E", "AE": "AE", "K": "IC", "G": "G", "O": "O", "L": "AF", "M": "AG"}


# --- helpers ------------------------------------------------------------------------------------------------------


def _vat_cats(cats: list[Element], code: str) -> list[Element]:
    return [c for c in cats if category_id(c) == code and scheme_is_vat(c)]


def _by_code(doc: Doc, key: str, cats: list[Element]) -> dict[str, list[Element]]:
    """The categories grouped by normalize-space(cbc:ID), each group in document order (memoised per check).

    Each category family asks for its own code, so this turns ~10 scans per family into one dict look-up.
    """
    found: dict[str, list[Element]] | None = doc.memo.get(key)
    if found is None:
        found = {}
        for cat in cats:
            code = category_id(cat)
            group = found.get(code)
            if group is None:
                found[code] = [cat]
            else:
                group.append(cat)
        doc.memo[key] = found
    return found


def _classified(doc: Doc, code: str) -> list[Element]:
    """//cac:ClassifiedTaxCategory[normalize-space(cbc:ID) = code]."""
    return _by_code(doc, "classified_by_code", doc.classified_categories()).get(code, _NONE)


def _tax_categories(doc: Doc, code: str) -> list[Element]:
    """//cac:TaxCategory[normalize-space(cbc:ID) = code]."""
    return _by_code(doc, "tax_categories_by_code", doc.tax_categories()).get(code, _NONE)


_NONE: list[Element] = []
_NONE_RATES: list[Decimal | None] = []


def _line_categories(doc: Doc, code: str, vat_only: bool = True) -> list[Element]:
    """//cac:ClassifiedTaxCategory[normalize-space(cbc:ID) = code][VAT]; memoised per check (three rules of each
    category ask), shared list."""
    cats = _classified(doc, code)
    if not vat_only:
        return cats
    key = ("vat_line_categories", code)
    found: list[Element] | None = doc.memo.get(key)
    if found is None:
        found = doc.memo[key] = [c for c in cats if scheme_is_vat(c)]
    return found


def _subtotal_categories(doc: Doc, code: str) -> list[Element]:
    """cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory[VAT][normalize-space(cbc:ID) = code] from the root."""
    cats = _by_code(doc, "subtotal_categories_by_code", doc.subtotal_categories).get(code, _NONE)
    return [c for c in cats if scheme_is_vat(c)]


def _seller_ok(doc: Doc, code: str) -> bool:
    """The identifiers rules -02 .. -04 require for the category."""
    if code == "AE":
        return (doc.seller_any_tax_id or doc.taxrep_vat_id) and (doc.buyer_vat_id or doc.buyer_legal_id)
    if code == "K":
        return (doc.seller_vat_id or doc.taxrep_vat_id) and doc.buyer_vat_id
    if code == "G":
        return doc.seller_vat_id or doc.taxrep_vat_id
    if code == "O":
        return not (doc.seller_vat_id or doc.taxrep_vat_id or doc.buyer_vat_id)
    return doc.seller_any_tax_id or doc.taxrep_vat_id


def _rates(doc: Doc, categories: list[Element]) -> list[Decimal | None]:
    """xs:decimal(cbc:Percent) of each of the categories, in order."""
    rates = doc.rates
    if len(categories) == 1:
        return rates.get(categories[0], _NONE_RATES)
    return [v for c in categories for v in rates.get(c, _NONE_RATES)]


class _AcVat:
    """What the -08 rules read of an allowance or charge: its category codes and rates, its (xs:boolean)
    ChargeIndicator and its amounts."""

    __slots__ = ("amounts", "codes", "indicator", "rates")

    def __init__(self, doc: Doc, ac: Element) -> None:
        cats = children(ac, T_TAX_CATEGORY)
        self.codes = [category_id(c) for c in cats]
        self.rates = _rates(doc, cats)
        self.indicator = is_charge(ac)
        self.amounts = children(ac, cbc.Amount)


def _ac_vat(doc: Doc, ac: Element) -> _AcVat:
    memo: dict[Element, _AcVat] = doc.memo.setdefault("ac_vat", {})
    found = memo.get(ac)
    if found is None:
        found = memo[ac] = _AcVat(doc, ac)
    return found


def _category_sum(doc: Doc, code: str, lines: list[LineRow]) -> Decimal | None:
    """Σ line net amounts + Σ document charges - Σ document allowances, all of the category (exact)."""
    total = ZERO
    for row in lines:
        if code in row.first_codes:
            value = row.net_total
            if value is None:
                return None
            total += value
    return _add_doc_acs(doc, total, code, None)


def _category_sum_at_rate(doc: Doc, code: str, rate: Decimal, lines: list[LineRow]) -> Decimal | None:
    total = ZERO
    for row in lines:
        if code in row.codes and rate in row.rates:
            value = row.net_total
            if value is None:
                return None
            total += value
    return _add_doc_acs(doc, total, code, rate)


def _add_doc_acs(doc: Doc, total: Decimal, code: str, rate: Decimal | None) -> Decimal | None:
    """total + Σ document charges - Σ document allowances of the category (and rate, if given)."""
    for ac in doc.doc_allowance_charges:
        acv = _ac_vat(doc, ac)
        indicator = acv.indicator
        if indicator is None or code not in acv.codes or (rate is not None and rate not in acv.rates):
            continue
        for amount in acv.amounts:
            value = dec(amount)
            if value is None:
                return None
            total += value if indicator else -value
    return total


Check = Callable[[Doc], Iterator[Element]]


def _register(rule_id: str, message: str, check: Check, code: str) -> None:
    """Every rule of a category family needs a (classified) tax category with that code, else it cannot fire."""
    rule(rule_id, "fatal", message, when=uses_category(code))(check)


def _used_on_ac_at_rate(doc: Doc, code: str, rate: Decimal) -> bool:
    """Some //cac:AllowanceCharge has code and rate on its categories."""
    return any(code in (acv := _ac_vat(doc, ac)).codes and rate in acv.rates for ac in doc.all(T_ALLOWANCE_CHARGE))


def _used_at_rate(doc: Doc, line_tag: str, code: str, rate: Decimal) -> bool:
    """Some //line_tag has code on its first item and rate on one of its items' categories."""
    row_of = doc.row_of
    for line in doc.all(line_tag):
        row = row_of[line]
        if code in row.first_codes and rate in row.rates:
            return True
    return False


# --- -01: the VAT breakdown ---------------------------------------------------------------------------------------


def _rule_01(code: str) -> None:
    name = NAMES[code]
    rid = f"BR-{PREFIX[code]}-01"
    if code in ("S", "L", "M"):
        message = (
            f"An Invoice that contains an Invoice line (BG-25), a Document level allowance (BG-20) or a Document "
            f'level charge (BG-21) where the VAT category code (BT-151, BT-95 or BT-102) is "{name}" shall contain '
            f'in the VAT breakdown (BG-23) at least one VAT category code (BT-118) equal with "{name}".'
        )

        def check(doc: Doc) -> Iterator[Element]:
            vat_only = code != "S"
            used = any(
                (parent := c.getparent()) is not None
                and parent.tag == T_ALLOWANCE_CHARGE
                and (not vat_only or scheme_is_vat(c))
                for c in _tax_categories(doc, code)
            ) or bool(_line_categories(doc, code, vat_only=vat_only))
            breakdown_cats = _by_code(doc, "subtotal_categories_by_code", doc.subtotal_categories).get(code, _NONE)
            if code == "S":
                in_breakdown = bool(breakdown_cats)
                exact = in_breakdown
            else:
                if code == "L":
                    in_breakdown = any(string(child(c, T_ID)) == code for c in doc.subtotal_categories)
                else:
                    in_breakdown = any(
                        string(child(c, T_ID)) == code and scheme_is_vat(c) for c in doc.subtotal_categories
                    )
                exact = any(scheme_is_vat(c) for c in breakdown_cats)
            if (used and not in_breakdown) or (not used and exact):
                yield doc.root

    else:
        message = (
            f"An Invoice that contains an Invoice line (BG-25), a Document level allowance (BG-20) or a Document "
            f'level charge (BG-21) where the VAT category code (BT-151, BT-95 or BT-102) is "{name}" shall contain '
            f'exactly one VAT breakdown (BG-23) with the VAT category code (BT-118) equal to "{name}".'
        )

        def check(doc: Doc) -> Iterator[Element]:
            used = any(scheme_is_vat(c) for c in _tax_categories(doc, code)) or bool(_line_categories(doc, code))
            if used and len(_subtotal_categories(doc, code)) != 1:
                yield doc.root

    _register(rid, message, check, code)


# --- -02 .. -04: identifiers ----------------------------------------------------------------------------------------

_IDS_TEXT = {
    "AE": "the Seller VAT Identifier (BT-31), the Seller tax registration identifier (BT-32) and/or the Seller tax "
    "representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48) and/or the Buyer legal "
    "registration identifier (BT-47)",
    "K": "the Seller VAT Identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer "
    "VAT identifier (BT-48)",
    "G": "the Seller VAT Identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
}
_IDS_DEFAULT = (
    "the Seller VAT Identifier (BT-31), the Seller tax registration identifier (BT-32) and/or the Seller tax "
    "representative VAT identifier (BT-63)"
)
_O_IDS = (
    "shall not contain the Seller VAT identifier (BT-31), the Seller tax representative VAT identifier (BT-63) or "
    "the Buyer VAT identifier (BT-48)"
)


def _ids_clause(code: str) -> str:
    if code == "O":
        return _O_IDS
    return "shall contain " + _IDS_TEXT.get(code, _IDS_DEFAULT)


def _rule_02(code: str) -> None:
    message = (
        f"An Invoice that contains an Invoice line (BG-25) where the Invoiced item VAT category code (BT-151) is "
        f'"{NAMES[code]}" {_ids_clause(code)}.'
    )

    def check(doc: Doc) -> Iterator[Element]:
        if code == "S":
            triggered = bool(_line_categories(doc, code, vat_only=False))
            ok = bool(_line_categories(doc, code)) and _seller_ok(doc, code)
        else:
            triggered = bool(_line_categories(doc, code))
            ok = _seller_ok(doc, code)
        if triggered and not ok:
            yield doc.root

    _register(f"BR-{PREFIX[code]}-02", message, check, code)


def _rule_03_04(code: str, charge: bool) -> None:
    what = (
        "Document level charge (BG-21) where the Document level charge VAT category code (BT-102)"
        if charge
        else ("Document level allowance (BG-20) where the Document level allowance VAT category code (BT-95)")
    )
    message = f'An Invoice that contains a {what} is "{NAMES[code]}" {_ids_clause(code)}.'

    def check(doc: Doc) -> Iterator[Element]:
        cats = _vat_cats(doc.ac_categories(charge, doc_level_only=code == "O"), code)
        if cats and not _seller_ok(doc, code):
            yield doc.root

    _register(f"BR-{PREFIX[code]}-{'04' if charge else '03'}", message, check, code)


# --- -05 .. -07: rates --------------------------------------------------------------------------------------------


def _rate_ok(doc: Doc, code: str, category: Element) -> bool:
    """The -05 .. -07 rate test of a category with this code: no cbc:Percent for O; for S some rate above zero,
    for L and M some rate of zero or more; for the others exactly one rate, of zero.

    The rates compare as xs:double (num), which is the xs:decimal already read into doc.rates wherever that is a
    number; only a rate that is not (an exponent, or no number at all) is read again, by _rate_ok_by_num.
    """
    rates = doc.rates.get(category)
    if code == "O":
        return rates is None
    if rates is None:  # no cbc:Percent
        return False
    if code == "S" or code == "L" or code == "M":
        undecided = False
        for v in rates:
            if v is None:
                undecided = True
            elif v > ZERO or (v == ZERO and code != "S"):
                return True
        return undecided and _rate_ok_by_num(doc, code, category)
    return len(rates) == 1 and rates[0] == ZERO


def _rate_ok_by_num(doc: Doc, code: str, category: Element) -> bool:
    """_rate_ok for S, L and M, each rate read as xs:double."""
    for p in doc.child_map(T_PERCENT).get(category, _NONE):
        v = num(p)
        if v is not None and (v > 0 if code == "S" else v >= 0):
            return True
    return False


RATED = ("S", "L", "M")
"""The categories with a rate of their own, taxed per rate (the others are zero rated or take no rate)."""


def _rate_text(code: str, bt: str) -> str:
    if code == "O":
        return ""
    if code == "S":
        return "shall be greater than zero."
    if code in RATED:
        return "shall be 0 (zero) or greater than zero."
    return "shall be 0 (zero)."


def _rule_05(code: str) -> None:
    name = NAMES[code]
    if code == "O":
        message = (
            f'An Invoice line (BG-25) where the VAT category code (BT-151) is "{name}" shall not contain an Invoiced '
            f"item VAT rate (BT-152)."
        )
    else:
        item = "invoiced" if code in ("L", "M") else "Invoiced"  # as the official texts spell it
        message = (
            f'In an Invoice line (BG-25) where the Invoiced item VAT category code (BT-151) is "{name}" the {item} '
            f"item VAT rate (BT-152) {_rate_text(code, 'BT-152')}"
        )

    def check(doc: Doc) -> Iterator[Element]:
        for cat in _line_categories(doc, code):
            item = cat.getparent()
            line = item.getparent() if item is not None else None
            if item is None or item.tag != T_ITEM or line is None or line.tag not in T_LINES:
                continue
            if not _rate_ok(doc, code, cat):
                yield cat

    _register(f"BR-{PREFIX[code]}-05", message, check, code)


def _rule_06_07(code: str, charge: bool) -> None:
    name = NAMES[code]
    level = "charge" if charge else "allowance"
    group, bt_code, bt_rate = ("BG-21", "BT-102", "BT-103") if charge else ("BG-20", "BT-95", "BT-96")
    if code == "O":
        message = (
            f"A Document level {level} ({group}) where{' the' if charge else ''} VAT category code ({bt_code}) is "
            f'"{name}" shall not contain a Document level {level} VAT rate ({bt_rate}).'
        )
    else:
        message = (
            f"In a Document level {level} ({group}) where the Document level {level} VAT category code ({bt_code}) "
            f'is "{name}" the Document level {level} VAT rate ({bt_rate}) {_rate_text(code, bt_rate)}'
        )

    def check(doc: Doc) -> Iterator[Element]:
        for cat in _vat_cats(doc.ac_categories(charge), code):
            if not _rate_ok(doc, code, cat):
                yield cat

    _register(f"BR-{PREFIX[code]}-{'07' if charge else '06'}", message, check, code)


# --- -08 .. -10: the VAT breakdown group --------------------------------------------------------------------------


def _rule_08(code: str) -> None:
    name = NAMES[code]
    rated = code in RATED
    if rated:
        message = (
            f'For each different value of VAT category rate (BT-119) where the VAT category code (BT-118) is "{name}", '
            f"the VAT category taxable amount (BT-116) in a VAT breakdown (BG-23) shall equal the sum of Invoice line "
            f"net amounts (BT-131) plus the sum of document level charge amounts (BT-99) minus the sum of document "
            f'level allowance amounts (BT-92) where the VAT category code (BT-151, BT-102, BT-95) is "{name}" and the '
            f"VAT rate (BT-152, BT-103, BT-96) equals the VAT category rate (BT-119)."
        )
    else:
        message = (
            f'In a VAT breakdown (BG-23) where the VAT category code (BT-118) is "{name}" the VAT category taxable '
            f"amount (BT-116) shall equal the sum of Invoice line net amounts (BT-131) minus the sum of Document level "
            f"allowance amounts (BT-92) plus the sum of Document level charge amounts (BT-99) where the VAT category "
            f'codes (BT-151, BT-95, BT-102) are "{name}".'
        )

    def check(doc: Doc) -> Iterator[Element]:
        invoice_lines, credit_lines = doc.root_line_rows
        has_invoice_lines = doc.has(cac.InvoiceLine)
        has_credit_lines = doc.has(cac.CreditNoteLine)
        for cat in _subtotal_categories(doc, code):
            subtotal = cat.getparent()
            taxable_el = child(subtotal, cbc.TaxableAmount)
            taxable = dec(taxable_el)
            ok = False
            if rated:
                rates = doc.rates.get(cat)
                if not rates:
                    ok = True
                else:
                    rate = rates[0]
                    if rate is not None and taxable is not None:
                        # The rate is used on a line of that kind or on an allowance/charge: asked only when the
                        # answer matters (usually the invoice lines are and already give the sum).
                        for line_tag, lines in ((cac.InvoiceLine, invoice_lines), (cac.CreditNoteLine, credit_lines)):
                            if ok or not (
                                _used_at_rate(doc, line_tag, code, rate) or _used_on_ac_at_rate(doc, code, rate)
                            ):
                                continue
                            expected = _category_sum_at_rate(doc, code, rate, lines)
                            ok = expected is not None and taxable - 1 < expected < taxable + 1
            elif taxable is not None:
                for present, lines in ((has_invoice_lines, invoice_lines), (has_credit_lines, credit_lines)):
                    if present and not ok:
                        expected = _category_sum(doc, code, lines)
                        ok = expected is not None and taxable == expected
            if not ok:
                yield taxable_el if taxable_el is not None else cat

    _register(f"BR-{PREFIX[code]}-08", message, check, code)


def _rule_09(code: str) -> None:
    name = NAMES[code]
    rated = code in RATED
    if rated:
        message = (
            f"The VAT category tax amount (BT-117) in a VAT breakdown (BG-23) where VAT category code (BT-118) is "
            f'"{name}" shall equal the VAT category taxable amount (BT-116) multiplied by the VAT category rate '
            f"(BT-119)."
        )
    else:
        message = (
            f"The VAT category tax amount (BT-117) in a VAT breakdown (BG-23) where the VAT category code (BT-118) is "
            f'"{name}" shall be 0 (zero).'
        )

    def check(doc: Doc) -> Iterator[Element]:
        for cat in _subtotal_categories(doc, code):
            subtotal = cat.getparent()
            tax_el = child(subtotal, cbc.TaxAmount)
            tax = dec(tax_el)
            if rated:
                rates = doc.rates.get(cat)
                taxable, rate = dec(child(subtotal, cbc.TaxableAmount)), (rates[0] if rates else None)
                ok = False
                if tax is not None and taxable is not None and rate is not None:
                    expected = round2(abs(taxable) * (rate / HUNDRED))
                    ok = abs(tax) - 1 < expected < abs(tax) + 1
            else:
                ok = tax is not None and tax == 0
            if not ok:
                yield tax_el if tax_el is not None else cat

    _register(f"BR-{PREFIX[code]}-09", message, check, code)


def _rule_10(code: str) -> None:
    name = NAMES[code]
    forbidden = code in ("S", "Z", "L", "M")
    if forbidden:
        message = (
            f'A VAT breakdown (BG-23) with VAT Category code (BT-118) "{"Standard rate" if code == "S" else name}" '
            f"shall not have a VAT exemption reason code (BT-121) or VAT exemption reason text (BT-120)."
        )
    elif code == "E":
        message = (
            f'A VAT breakdown (BG-23) with VAT Category code (BT-118) "{name}" shall have a VAT exemption reason code '
            f"(BT-121) or a VAT exemption reason text (BT-120)."
        )
    else:
        message = (
            f'A VAT breakdown (BG-23) with VAT Category code (BT-118) "{name}" shall have a VAT exemption reason code '
            f'(BT-121), meaning "{name}" or the VAT exemption reason text (BT-120) "{name}" (or the equivalent '
            f"standard text in another language)."
        )

    def check(doc: Doc) -> Iterator[Element]:
        for cat in _subtotal_categories(doc, code):
            has_reason = child(cat, cbc.TaxExemptionReason) is not None or (
                child(cat, cbc.TaxExemptionReasonCode) is not None
            )
            if has_reason == forbidden:
                yield cat

    _register(f"BR-{PREFIX[code]}-10", message, check, code)


for _code in ("S", "Z", "E", "AE", "K", "G", "O", "L", "M"):
    _rule_01(_code)
    _rule_02(_code)
    _rule_03_04(_code, charge=False)
    _rule_03_04(_code, charge=True)
    _rule_05(_code)
    _rule_06_07(_code, charge=False)
    _rule_06_07(_code, charge=True)
    _rule_08(_code)
    _rule_09(_code)
    _rule_10(_code)


# --- category specific ----------------------------------------------------------------------------------------------


@rule(
    "BR-IC-11",
    "fatal",
    'In an Invoice with a VAT breakdown (BG-23) where the VAT category code (BT-118) is "Intra-community supply" '
    "the Actual delivery date (BT-72) or the Invoicing period (BG-14) shall not be blank.",
    when=uses_category("K"),
)
def br_ic_11(doc: Doc) -> Iterator[Element]:
    if not _subtotal_categories(doc, "K"):
        return
    delivery_date = None
    delivery = doc.top(cac.Delivery)
    if delivery is not None:
        delivery_date = child(delivery, cbc.ActualDeliveryDate)
    period_children = any(len(p) for p in doc.tops(cac.InvoicePeriod))
    if not (len(string(delivery_date)) > 1 or period_children):
        yield doc.root


@rule(
    "BR-IC-12",
    "fatal",
    'In an Invoice with a VAT breakdown (BG-23) where the VAT category code (BT-118) is "Intra-community supply" '
    "the Deliver to country code (BT-80) shall not be blank.",
    when=uses_category("K"),
)
def br_ic_12(doc: Doc) -> Iterator[Element]:
    if not _subtotal_categories(doc, "K"):
        return
    code = path_find(doc.root, cac.Delivery, cac.DeliveryLocation, cac.Address, cac.Country, cbc.IdentificationCode)
    if len(string(code)) <= 1:
        yield doc.root


def _o_breakdown(doc: Doc) -> bool:
    return bool(_subtotal_categories(doc, "O"))


@rule(
    "BR-O-11",
    "fatal",
    'An Invoice that contains a VAT breakdown group (BG-23) with a VAT category code (BT-118) "Not subject to VAT" '
    "shall not contain other VAT breakdown groups (BG-23).",
    when=uses_category("O"),
)
def br_o_11(doc: Doc) -> Iterator[Element]:
    if _o_breakdown(doc) and any(category_id(c) != "O" and scheme_is_vat(c) for c in doc.subtotal_categories):
        yield doc.root


@rule(
    "BR-O-12",
    "fatal",
    'An Invoice that contains a VAT breakdown group (BG-23) with a VAT category code (BT-118) "Not subject to VAT" '
    'shall not contain an Invoice line (BG-25) where the Invoiced item VAT category code (BT-151) is not "Not '
    'subject to VAT".',
    when=uses_category("O"),
)
def br_o_12(doc: Doc) -> Iterator[Element]:
    if _o_breakdown(doc) and any(category_id(c) != "O" and scheme_is_vat(c) for c in doc.classified_categories()):
        yield doc.root


@rule(
    "BR-O-13",
    "fatal",
    'An Invoice that contains a VAT breakdown group (BG-23) with a VAT category code (BT-118) "Not subject to VAT" '
    "shall not contain Document level allowances (BG-20) where Document level allowance VAT category code (BT-95) "
    'is not "Not subject to VAT".',
    when=uses_category("O"),
)
def br_o_13(doc: Doc) -> Iterator[Element]:
    if _o_breakdown(doc) and any(category_id(c) != "O" and scheme_is_vat(c) for c in doc.ac_categories(False)):
        yield doc.root


@rule(
    "BR-O-14",
    "fatal",
    'An Invoice that contains a VAT breakdown group (BG-23) with a VAT category code (BT-118) "Not subject to VAT" '
    "shall not contain Document level charges (BG-21) where Document level charge VAT category code (BT-102) is "
    'not "Not subject to VAT".',
    when=uses_category("O"),
)
def br_o_14(doc: Doc) -> Iterator[Element]:
    if _o_breakdown(doc) and any(category_id(c) != "O" and scheme_is_vat(c) for c in doc.ac_categories(True)):
        yield doc.root


def _b_used(doc: Doc) -> bool:
    return any(string(child(c, T_ID)) == "B" for c in doc.tax_categories()) or any(
        string(child(c, T_ID)) == "B" for c in doc.classified_categories()
    )


@rule(
    "BR-B-01",
    "fatal",
    "An Invoice where the VAT category code (BT-151, BT-95 or BT-102) is “Split payment” shall be a domestic Italian "
    "invoice.",
    when=uses_category("B"),
)
def br_b_01(doc: Doc) -> Iterator[Element]:
    if _b_used(doc) and any(string(c) != "IT" for c in doc.all(cbc.IdentificationCode)):
        yield doc.root


@rule(
    "BR-B-02",
    "fatal",
    "An Invoice that contains an Invoice line (BG-25), a Document level allowance (BG-20) or a Document level charge "
    '(BG-21) where the VAT category code (BT-151, BT-95, BT-118 or BT-102) is “Split payment" shall not contain an '
    "invoice line (BG-25), a Document level allowance (BG-20) or  a Document level charge (BG-21) where the VAT "
    "category code (BT-151, BT-95, BT-118 or BT-102) is “Standard rated”.",
    when=uses_category("B"),
)
def br_b_02(doc: Doc) -> Iterator[Element]:
    def used(code: str) -> bool:
        return (
            any(string(child(c, T_ID)) == code for c in doc.subtotal_categories)
            or any(
                string(child(c, T_ID)) == code for ac in doc.doc_allowance_charges for c in children(ac, T_TAX_CATEGORY)
            )
            or any(string(child(c, T_ID)) == code for c in doc.classified_categories())
        )

    if used("B") and used("S"):
        yield doc.root
