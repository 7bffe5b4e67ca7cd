"""EN 16931 arithmetic, all in Decimal: the only place where ublexport adds, multiplies or rounds money.

Each line's net amount is rounded to 2 decimals first (BT-131), then summed (BR-CO-10); VAT is computed per
(category, rate) on the rounded taxable amount (BR-CO-17), never per line; document totals follow BR-CO-11 to
BR-CO-16. Templates only print what this module returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal

from ublexport.errors import InputError
from ublexport.model import (
    DEFAULT_EXEMPTION,
    Document,
    DocumentAllowanceCharge,
    DocumentKind,
    Line,
    VatCategory,
    VatMixin,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
EXACT = Context(prec=80)
"""Wide enough that a product of two input numbers (at most 15 + 10 digits each, model.py) is exact, so it is
rounded once, to cents, and never first to the default 28 digits; quantize in it never overflows either."""


def q2(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (commercial rounding, as the Peppol validators expect)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=EXACT)


@dataclass(frozen=True)
class LineTotals:
    line: Line
    gross: Decimal  # quantity x price, rounded
    allowances: Decimal
    charges: Decimal
    net: Decimal  # BT-131


@dataclass(frozen=True)
class VatGroup:
    """One VAT breakdown (BG-23): one per (category, rate)."""

    category: VatCategory
    rate: Decimal | None
    taxable: Decimal  # BT-116
    tax: Decimal  # BT-117
    exemption_reason: str | None
    exemption_reason_code: str | None
    lines_taxable: Decimal = ZERO  # the lines' part of BT-116, before document allowances and charges


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineTotals, ...]
    line_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    charge_total: Decimal  # BT-108
    tax_exclusive: Decimal  # BT-109
    vat_total: Decimal  # BT-110
    vat_total_tax_currency: Decimal | None  # BT-111
    tax_inclusive: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    payable: Decimal  # BT-115
    vat_groups: tuple[VatGroup, ...]


def line_totals(line: Line) -> LineTotals:
    gross = q2(EXACT.multiply(line.quantity, line.unit_price))
    adjustments = line.allowances_charges
    if adjustments:
        allowances = sum((a.amount for a in adjustments if not a.charge), ZERO)
        charges = sum((a.amount for a in adjustments if a.charge), ZERO)
    else:  # most lines: the two sums of nothing, without their generators
        allowances = charges = ZERO
    return LineTotals(line, gross, allowances, charges, q2(gross - allowances + charges))


def _signed(ac: DocumentAllowanceCharge) -> Decimal:
    return ac.amount if ac.charge else -ac.amount


def _field(item: VatMixin) -> str:
    if isinstance(item, Line):
        return f"line {item.name!r}"
    if isinstance(item, DocumentAllowanceCharge):
        return f"{'charge' if item.charge else 'allowance'} {item.reason or item.amount!s}"
    return "item"


def _reason_text(reason: tuple[str | None, str | None]) -> str:
    text, code = reason
    return " ".join(part for part in (code, repr(text) if text else None) if part)


def _exemption(items: Iterable[VatMixin], category: VatCategory, where: str) -> tuple[str | None, str | None]:
    """The exemption reason of a VAT group: all its lines must agree (BR-CO-?), defaults per category."""
    given = [(i, (i.exemption_reason, i.exemption_reason_code)) for i in items
             if i.exemption_reason or i.exemption_reason_code]
    reasons = {reason for _, reason in given}
    if len(reasons) > 1:
        raise InputError(f"{where}: the items of VAT category {category} form one VAT breakdown, which has one "
                         "exemption reason, but they give different ones: "
                         + "; ".join(f"{_field(i)}: {_reason_text(r)}" for i, r in given)
                         + "; give them the same reason")
    if reasons:
        text, code = reasons.pop()
        if text is None and code is not None:
            default = DEFAULT_EXEMPTION.get(category)
            text = default[1] if default and default[0] == code else None
        return text, code
    default = DEFAULT_EXEMPTION.get(category)
    return (default[1], default[0]) if default else (None, None)


def compute(document: Document) -> Totals:
    """All totals of a document. Raises InputError when stated totals disagree with the computed ones."""
    totals: Totals | None = document._totals  # computed when the document was validated; it is frozen
    if totals is None:
        totals = summarise(document)
    _check_stated(document, totals)
    return totals


def summarise(document: Document) -> Totals:
    """All totals of a document, without checking its stated totals (the model calls this while validating)."""
    lines = tuple(line_totals(line) for line in document.lines)
    adjustments = document.allowances_charges
    line_total = sum((lt.net for lt in lines), ZERO)
    allowance_total = sum((a.amount for a in adjustments if not a.charge), ZERO)
    charge_total = sum((a.amount for a in adjustments if a.charge), ZERO)
    tax_exclusive = line_total - allowance_total + charge_total

    # One pass groups lines, then document allowances/charges, by (category, rate) in order of first appearance;
    # vat_key (which normalises the rate) is read once per item. Each group sums its lines from ZERO, then its
    # allowances/charges from ZERO, and adds the two: the same additions in the same order as one sum per group.
    members: dict[tuple[VatCategory, Decimal | None], list[VatMixin]] = {}
    line_sums: dict[tuple[VatCategory, Decimal | None], Decimal] = {}
    adjustment_sums: dict[tuple[VatCategory, Decimal | None], Decimal] = {}
    for lt in lines:
        key = lt.line.vat_key
        if key in members:
            members[key].append(lt.line)
            line_sums[key] += lt.net
        else:
            members[key] = [lt.line]
            line_sums[key] = ZERO + lt.net
    for a in adjustments:
        key = a.vat_key
        if key in members:
            members[key].append(a)
        else:
            members[key] = [a]
        adjustment_sums[key] = adjustment_sums.get(key, ZERO) + _signed(a)
    groups = []
    for key, items in members.items():
        category, rate = key
        lines_taxable = line_sums.get(key, ZERO)
        taxable = lines_taxable + adjustment_sums.get(key, ZERO)
        tax = q2(EXACT.divide(EXACT.multiply(taxable, rate), 100)) if rate else ZERO
        text, code = _exemption(items, category, document.label)
        groups.append(VatGroup(category, rate, taxable, tax, text, code, lines_taxable))
    if document.kind == DocumentKind.expense:
        groups = _as_the_supplier_rounded(document, groups, [len(items) for items in members.values()])

    vat_total = sum((g.tax for g in groups), ZERO)
    tax_inclusive = tax_exclusive + vat_total
    payable = tax_inclusive - document.prepaid_amount + document.rounding_amount
    vat_tax_currency = (
        q2(EXACT.multiply(vat_total, document.tax_exchange_rate)) if document.tax_exchange_rate is not None else None
    )
    return Totals(
        lines=lines,
        line_total=line_total,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_exclusive=tax_exclusive,
        vat_total=vat_total,
        vat_total_tax_currency=vat_tax_currency,
        tax_inclusive=tax_inclusive,
        prepaid=document.prepaid_amount,
        rounding=document.rounding_amount,
        payable=payable,
        vat_groups=tuple(groups),
    )


def _as_the_supplier_rounded(document: Document, groups: list[VatGroup], items: list[int]) -> list[VatGroup]:
    """An expense's VAT as the supplier's invoice states it, where it differs from EN 16931's (the taxable amount
    times the rate, rounded once) only as rounding each line does: at most a cent per line (ITEMS: the lines and
    document allowances or charges of each group), and below one unit, which BR-CO-17 tolerates. A till receipt of
    three items at 0.99 states VAT 0.63 where the breakdown gives 0.62; the buyer deducts the VAT its invoice
    states, and the accountant books that, so the UBL carries it. Per rate from stated_totals.vat_breakdown; the
    total stated_totals.vat alone only at one rate, since a total over several rates cannot be split."""
    stated = document.stated_totals
    if stated is None:
        return groups
    by_key = {v.vat_key: v.vat for v in stated.vat_breakdown or ()}
    if not by_key and stated.vat is not None and len(groups) == 1:
        by_key = {(groups[0].category, groups[0].rate): stated.vat}
    out = []
    for group, count in zip(groups, items, strict=True):
        said = by_key.get((group.category, group.rate))
        if (said is not None and group.rate and said != group.tax and (said < 0) == (group.tax < 0)
                and abs(said - group.tax) <= min(CENT * count, Decimal("0.99"))):
            group = replace(group, tax=said)
        out.append(group)
    return out


def _check_stated(document: Document, totals: Totals) -> None:
    stated = document.stated_totals
    if stated is None:
        return
    computed = {
        "line_total": totals.line_total,
        "tax_exclusive": totals.tax_exclusive,
        "vat": totals.vat_total,
        "tax_inclusive": totals.tax_inclusive,
        "payable": totals.payable,
    }
    wrong = [
        f"stated_totals.{name}: {getattr(stated, name)} stated, {value} computed"
        for name, value in computed.items()
        if getattr(stated, name) is not None and getattr(stated, name) != value
    ]
    groups = {(g.category, g.rate): g.tax for g in totals.vat_groups}
    for i, said in enumerate(stated.vat_breakdown or ()):
        category, rate = said.vat_key
        at = f"{category} at {rate} %" if rate is not None else str(category)
        if said.vat_key not in groups:
            wrong.append(f"stated_totals.vat_breakdown[{i}]: no line or charge is at {at}")
        elif groups[said.vat_key] != said.vat:
            wrong.append(f"stated_totals.vat_breakdown[{i}]: VAT {said.vat} stated at {at}, "
                         f"{groups[said.vat_key]} computed")
    if wrong:
        raise InputError(
            f"{document.label}: the stated totals disagree with the lines (EN 16931 rounds each line to cents, "
            "then sums; VAT per rate); fix the lines or the stated totals",
            problems=wrong,
        )
