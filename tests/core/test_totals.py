"""EN 16931 arithmetic: line rounding first, VAT per (category, rate), the BR-CO sum rules hold exactly."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings

from tests.core.docs import document
from tests.core.strategies import documents
from ublexport.model import Document
from ublexport.totals import compute, q2

D = Decimal


def test_six_lines_at_0_4567_round_per_line() -> None:
    lines = [{"name": f"x{i}", "quantity": "1", "unit_price": "0.4567", "vat_category": "S", "vat_rate": "21"}
             for i in range(6)]
    totals = compute(document(lines=lines))
    assert all(lt.net == D("0.46") for lt in totals.lines)
    assert totals.line_total == D("2.76")  # not round(6 x 0.4567) = 2.74
    assert totals.vat_total == D("0.58")  # 2.76 x 21% = 0.5796, per rate, not per line (6 x 0.10 = 0.60)
    assert totals.payable == D("3.34")


def test_vat_breakdown_per_category_and_rate() -> None:
    lines = [
        {"name": "a", "quantity": "1", "unit_price": "100", "vat_category": "S", "vat_rate": "21"},
        {"name": "b", "quantity": "1", "unit_price": "50", "vat_category": "S", "vat_rate": "6"},
        {"name": "c", "quantity": "1", "unit_price": "10", "vat_category": "S", "vat_rate": "21.00"},
    ]
    groups = {(g.category, g.rate): g for g in compute(document(lines=lines)).vat_groups}
    assert set(groups) == {("S", D("21")), ("S", D("6"))}
    assert groups[("S", D("21"))].taxable == D("110.00") and groups[("S", D("21"))].tax == D("23.10")
    assert groups[("S", D("6"))].tax == D("3.00")


def test_document_allowance_and_charge_reduce_the_right_group() -> None:
    doc = document(allowances_charges=[
        {"amount": "10.00", "reason": "Discount", "vat_category": "S", "vat_rate": "21"},
        {"charge": True, "amount": "5.00", "reason": "Freight", "vat_category": "S", "vat_rate": "21"},
    ])
    totals = compute(doc)
    assert totals.allowance_total == D("10.00") and totals.charge_total == D("5.00")
    assert totals.tax_exclusive == D("15.00")
    assert totals.vat_groups[0].taxable == D("15.00") and totals.vat_groups[0].tax == D("3.15")


def test_prepaid_and_rounding() -> None:
    totals = compute(document(prepaid_amount="5.00", rounding_amount="-0.02"))
    assert totals.tax_inclusive == D("24.20") and totals.payable == D("19.18")


def test_half_up_rounding() -> None:
    assert q2(D("0.125")) == D("0.13") and q2(D("-0.125")) == D("-0.13")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_sum_rules_hold_exactly(data: dict[str, object]) -> None:
    doc = Document.model_validate(data)
    t = compute(doc)
    assert t.line_total == sum((lt.net for lt in t.lines), D(0))  # BR-CO-10
    assert t.allowance_total == sum((a.amount for a in doc.allowances_charges if not a.charge), D(0))  # BR-CO-11
    assert t.charge_total == sum((a.amount for a in doc.allowances_charges if a.charge), D(0))  # BR-CO-12
    assert t.tax_exclusive == t.line_total - t.allowance_total + t.charge_total  # BR-CO-13
    assert t.vat_total == sum((g.tax for g in t.vat_groups), D(0))  # BR-CO-14
    assert t.tax_inclusive == t.tax_exclusive + t.vat_total  # BR-CO-15
    assert t.payable == t.tax_inclusive - t.prepaid + t.rounding  # BR-CO-16
    assert sum((g.taxable for g in t.vat_groups), D(0)) == t.tax_exclusive  # BR-CO-? breakdown covers all
    for value in (t.line_total, t.tax_exclusive, t.vat_total, t.tax_inclusive, t.payable):
        assert value == value.quantize(D("0.01"))  # BR-DEC: two decimals
