"""Address lists as people type them; one bad item refuses the list; no control character passes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ublexport.errors import InputError
from ublexport.recipients import Recipient, parse_recipients, split_items


def addresses(text: str) -> list[str]:
    return [r.address for r in parse_recipients(text)]


def test_separators_spaces_empty_items_and_repeats() -> None:
    assert addresses(" a@x.test ;; b@y.test,  ,A@X.TEST ; ") == ["a@x.test", "b@y.test"]


def test_display_names_plain_and_quoted_with_separators_inside() -> None:
    got = parse_recipients('Yuki <acme@yukiworks.nl>; "Dewaele, Boekhouding; NV" <bh@dewaele.example>, '
                           '"Say \\"hi\\"" <hi@x.test>')
    assert got == [Recipient("acme@yukiworks.nl", "Yuki"), Recipient("bh@dewaele.example", "Dewaele, Boekhouding; NV"),
                   Recipient("hi@x.test", 'Say "hi"')]
    assert got[0].header() == "Yuki <acme@yukiworks.nl>"
    assert got[1].header() == '"Dewaele, Boekhouding; NV" <bh@dewaele.example>'


def test_idn_domain_kept_unicode_with_an_ascii_envelope_form() -> None:
    [r] = parse_recipients("Jürgen <info@bücher.example>")
    assert r.address == "info@bücher.example"
    assert r.ascii_address == "info@xn--bcher-kva.example"
    assert r.header() == "Jürgen <info@xn--bcher-kva.example>"


def test_every_bad_item_is_named() -> None:
    with pytest.raises(InputError) as caught:
        parse_recipients("good@x.test; no-at-sign; x@@y.test; Name <>; a@x.test\r\nBcc: evil@z.test")
    text = str(caught.value)
    assert len(caught.value.problems) == 4
    for bad in ("no-at-sign", "x@@y.test", "Name <>", "U+000D"):
        assert bad in text


def test_empty_list_is_refused() -> None:
    with pytest.raises(InputError, match="no recipient"):
        parse_recipients(" ; , ")


def test_non_ascii_local_part_is_refused_since_it_needs_smtputf8() -> None:
    with pytest.raises(InputError):
        parse_recipients("jürgen@x.test")


CONTROL = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\t"])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@given(before=TEXT, control=CONTROL, after=TEXT)
def test_control_characters_anywhere_are_refused(before: str, control: str, after: str) -> None:
    with pytest.raises(InputError):
        parse_recipients(f"a@x.test; {before}{control}{after}")


LOCAL = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,5})?", fullmatch=True)
LABEL = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True) | st.sampled_from(["bücher", "müller", "café", "日本"])
NAME = st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")), max_size=20).filter(
    lambda s: s.strip() == s)


@st.composite
def address_items(draw: st.DrawFn) -> tuple[str, str, str | None]:
    """(as typed, expected address, expected display name)."""
    local = draw(LOCAL)
    domain = f"{draw(LABEL)}.{draw(st.sampled_from(['test', 'example', 'nl', 'be']))}"
    addr = f"{local}@{domain}"
    name = draw(st.none() | NAME)
    if not name:
        return addr, addr, None
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{quoted} <{addr}>", addr, name


@given(items=st.lists(address_items(), min_size=1, max_size=5),
       seps=st.lists(st.sampled_from([",", ";", " ; ", ",,", " , ;", ";;"]), min_size=6, max_size=6))
def test_lists_with_quoted_names_idn_and_stray_separators_parse_as_documented(
        items: list[tuple[str, str, str | None]], seps: list[str]) -> None:
    text = seps[0] + "".join(item + sep for (item, _, _), sep in zip(items, seps[1:], strict=False))
    got = parse_recipients(text)
    expected: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for _, addr, name in items:
        if addr.casefold() not in seen:  # first occurrence wins
            seen.add(addr.casefold())
            expected.append((addr, name))
    import unicodedata

    assert [(unicodedata.normalize("NFC", r.address), r.display_name) for r in got] == [
        (unicodedata.normalize("NFC", a), n) for a, n in expected]


@given(st.text(max_size=60))
def test_split_never_loses_characters_outside_separators(text: str) -> None:
    parts = split_items(text)
    assert sum(len(p) for p in parts) + len(parts) - 1 == len(text)
