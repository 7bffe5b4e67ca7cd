"""The template and the renderer's guards: escaping stays on, the fast check for
characters XML cannot carry refuses exactly what the regex refuses, and the view's number formatting."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.docs import document
from ublexport import render as ub_render
from ublexport.errors import InputError
from ublexport.view import build, number, price

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "ubl"

def _body(name: str) -> str:
    """A template without its leading {#- ... -#} comment."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    assert text.startswith("{#-")
    return text.split("-#}\n", 1)[1]


def test_templates_escape_and_fail_loudly() -> None:
    env = ub_render.environment()
    assert env.finalize is ub_render.xml_escape  # every printed value goes through it
    source = _body("Document.xml.j2").replace(" ", "")
    assert "|safe" not in source and "{%autoescape" not in source and "{%-autoescape" not in source
    assert ub_render.template() is ub_render.template()  # compiled once per process


def test_escaping_cannot_be_bypassed_from_a_template() -> None:
    """Stricter than Jinja2's autoescape: Markup and |safe are escaped too, and non-strings are printed escaped."""
    from markupsafe import Markup

    env = ub_render.environment()
    assert env.from_string("{{ x|safe }}|{{ y }}|{{ z }}").render(x="<a>", y=Markup("<b>&"), z=3) == (
        "&lt;a&gt;|&lt;b&gt;&amp;|3")
    assert ub_render.xml_escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&#34;e&#39;f"


def test_every_printed_view_value_is_escaped() -> None:
    """Each string field of the view (and of its parties, lines, VAT groups, ...) comes out escaped."""
    attack = "<x a=\"1\">&amp;'</x>"
    escaped = "&lt;x a=&#34;1&#34;&gt;&amp;amp;&#39;&lt;/x&gt;"
    view = build(document(
        note="n", order_reference="o", due_date="2026-12-01",
        delivery={"date": "2026-11-03", "address": {"street": "s", "additional_street": "a", "city": "c",
                                                     "postal_code": "p", "region": "r", "country": "BE"}},
        payment={"terms": "t", "reference": "+++010/8068/17183+++", "iban": "BE71096123456769",
                 "bic": "GEBABEBB"},
        allowances_charges=[{"amount": "1.00", "reason": "x", "vat_category": "S", "vat_rate": "21"}],
        lines=[{"name": "Work", "quantity": "2", "unit_price": "10.00", "vat_category": "S", "vat_rate": "21",
                "description": "d", "seller_item_id": "i",
                "allowances_charges": [{"amount": "1.00", "reason": "y"}]}],
    ))
    out = ub_render.render_view(view).decode()
    count = 0

    def poison(obj: object) -> object:
        nonlocal count
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changes = {}
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                if f.name == "root":
                    continue
                if isinstance(value, str):
                    changes[f.name] = attack
                    count += 1
                elif isinstance(value, tuple):
                    changes[f.name] = tuple(poison(v) if not isinstance(v, str) else attack for v in value)
                elif value is not None:
                    changes[f.name] = poison(value)
            return dataclasses.replace(obj, **changes)
        return obj

    poisoned = ub_render.render_view(poison(view)).decode()  # type: ignore[arg-type]
    assert count > 60 and "<x" not in poisoned and "\"1\"" not in poisoned
    assert poisoned.count(escaped) >= count
    assert out.count("<") == out.count(">")


ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def test_fast_illegal_character_check_matches_the_regex() -> None:
    """_xml_bytes refuses a text exactly when _XML_ILLEGAL finds a character in it: every BMP character, and a
    sample above it, alone and amid other text."""
    assert ub_render._XML_ILLEGAL.pattern == ILLEGAL.pattern
    for code in [*range(0x10000), *range(0x10000, 0x110000, 997), 0x10FFFF, 0x1F9FE]:
        text = f"<a>é{chr(code)}x</a>"
        if ILLEGAL.search(text):
            with pytest.raises(InputError, match=f"U\\+{code:04X}, which XML cannot carry"):
                ub_render._xml_bytes(text)
        else:
            assert ub_render._xml_bytes(text) == text.encode("utf-8")


@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
def test_illegal_character_message_names_the_first_one(bad: str) -> None:
    view = build(document())
    text = "€ prefix that is long enough to be cut" + bad + "\x01"
    with pytest.raises(InputError) as info:
        ub_render.render_view(dataclasses.replace(view, note=text))
    assert f"U+{ord(bad):04X}" in str(info.value) and "U+0001" not in str(info.value)
    assert repr("be cut" + bad)[1:-1] in str(info.value)


@pytest.mark.parametrize(("value", "text"), [
    ("65", "65.00"), ("65.5", "65.50"), ("0.4567", "0.4567"), ("1E+1", "10.00"), ("0.10", "0.10"),
    ("0.1000", "0.10"), ("1.23450", "1.2345"), ("0", "0.00"), ("0.00", "0.00"), ("0.000", "0.00"),
    ("100.000", "100.00"), ("0.0001", "0.0001"), ("12345678.125", "12345678.125"),
])
def test_price_has_two_decimals_or_more_when_given(value: str, text: str) -> None:
    assert price(Decimal(value)) == text


@pytest.mark.parametrize(("value", "text"), [
    ("2", "2"), ("2.000", "2"), ("0.4567", "0.4567"), ("1E+2", "100"), ("-0", "0"), ("0.000", "0"), ("21.0", "21"),
])
def test_number_has_no_exponent_or_trailing_zeros(value: str, text: str) -> None:
    assert number(Decimal(value)) == text
