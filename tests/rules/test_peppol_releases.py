"""What the Peppol releases after 3.0.21 change, as ublexport applies them (README, "Peppol releases").

- 2026-08-18: OpenPeppol re-published 3.0.21 with the electronic address scheme 0158 added.
- 3.0.22 hotfix (mandatory from 2026-12-14): PEPPOL-EN16931-P0112 lets a corrected invoice (384) go between two Slovak
  organisations as between two German ones; 326 and 389 only between German ones.
- November 2026 release, 3.1.0 (mandatory from 2027-02-22), its stricter identifier rules applied ahead: a Belgian
  enterprise number starts with 0 or 1 (R043), the Dutch identifier formats are fatal (R054-R057), Belgian and
  Luxembourg VAT numbers and the Luxembourg matricule are checked (warnings R062, R058, R059). Its R040 (a GLN of
  thirteen digits) waits for that date: the official 3.0.21 examples carry a 19-digit GLN.
"""

from __future__ import annotations

import pytest
from lxml import etree

from tests.rules.helpers import fired, load, prepared_samples, set_attr, set_text
from ublexport.rules import BY_ID, check

SUP = "cac:AccountingSupplierParty/cac:Party"
CUS = "cac:AccountingCustomerParty/cac:Party"
SUPPLIER_VAT = f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID"


def _countries(root: etree._Element, supplier: str, customer: str) -> None:
    set_text(root, f"{SUP}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", supplier)
    set_text(root, f"{CUS}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", customer)


@pytest.mark.parametrize(
    ("code", "supplier", "customer", "fires"),
    [
        ("380", "BE", "NL", False),
        ("326", "DE", "DE", False),
        ("326", "SK", "SK", True),
        ("326", "BE", "BE", True),
        ("384", "DE", "DE", False),
        ("384", "SK", "SK", False),  # new in 3.0.22
        ("384", "SK", "DE", True),
        ("384", "BE", "BE", True),
        ("389", "SK", "SK", True),
    ],
)
def test_p0112_as_the_3_0_22_hotfix_has_it(code: str, supplier: str, customer: str, fires: bool) -> None:
    root = load()
    set_text(root, "cbc:InvoiceTypeCode", code)
    _countries(root, supplier, customer)
    assert ("PEPPOL-EN16931-P0112" in fired(root)) is fires


def test_389_stays_outside_profile_01_even_between_german_organisations() -> None:
    root = load()
    set_text(root, "cbc:InvoiceTypeCode", "389")
    _countries(root, "DE", "DE")
    got = fired(root)
    assert "PEPPOL-EN16931-P0112" not in got
    assert "PEPPOL-EN16931-P0100" in got


def test_electronic_address_scheme_0158_is_accepted() -> None:
    root = load()
    set_attr(root, f"{SUP}/cbc:EndpointID", "schemeID", "0158")
    set_text(root, f"{SUP}/cbc:EndpointID", "12345")
    assert "PEPPOL-EN16931-CL008" not in fired(root)
    set_attr(root, f"{SUP}/cbc:EndpointID", "schemeID", "0159")
    assert "PEPPOL-EN16931-CL008" in fired(root)


@pytest.mark.parametrize(
    ("number", "fires"),
    [
        ("0403019261", False),
        ("1403019282", False),  # numbers starting with 1 are being given out
        ("2403019206", True),  # a valid mod 97, but no enterprise number starts with 2
        ("0403019262", True),
        ("403019261", True),
    ],
)
def test_a_belgian_enterprise_number_starts_with_0_or_1(number: str, fires: bool) -> None:
    root = load()
    set_attr(root, f"{CUS}/cbc:EndpointID", "schemeID", "0208")
    set_text(root, f"{CUS}/cbc:EndpointID", number)
    assert ("PEPPOL-COMMON-R043" in fired(root)) is fires


@pytest.mark.parametrize(
    ("vat", "fires"),
    [
        ("BE0403019261", False),
        ("BE 0403019261", True),  # normalize-space keeps the inner space: not the format
        ("BE0403019262", True),
        ("BE2403019206", True),
        ("BE403019261", True),
        ("be0403019262", False),  # the context asks for "BE" as written
        ("SE4598375937", False),
    ],
)
def test_r062_checks_a_belgian_vat_number(vat: str, fires: bool) -> None:
    root = load()
    set_text(root, SUPPLIER_VAT, vat)
    assert ("PEPPOL-COMMON-R062" in fired(root)) is fires


@pytest.mark.parametrize(
    ("vat", "fires"),
    [("LU15027442", False), ("LU15027443", True), ("lu15027443", True), ("LU1502744", True)],
)
def test_r058_checks_a_luxembourg_vat_number_in_any_case(vat: str, fires: bool) -> None:
    root = load()
    set_text(root, SUPPLIER_VAT, vat)
    assert ("PEPPOL-COMMON-R058" in fired(root)) is fires


@pytest.mark.parametrize(
    ("matricule", "ok"),
    [
        ("20152212349", True),
        ("20152212348", False),
        ("20151912349", False),  # legal form 19: below 20
        ("20152412348", True),  # form 24 takes the older check digit as well
        ("20152412349", True),
        ("2015221234", False),
    ],
)
def test_r059_checks_a_luxembourg_matricule(matricule: str, ok: bool) -> None:
    root = load()
    set_attr(root, f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0240")
    set_text(root, f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", matricule)
    assert ("PEPPOL-COMMON-R059" not in fired(root)) is ok


def test_the_first_matching_rule_decides_which_applies() -> None:
    """A VAT number given with the scheme of an enterprise number (0208, earlier in the pattern) is checked as one:
    R043, not R062; with a scheme later in the pattern than R062 that 3.0.21 did not know (0240, a Luxembourg
    matricule) it is checked as a Belgian VAT number only."""
    root = load()
    set_text(root, SUPPLIER_VAT, "BE0403019262")
    set_attr(root, SUPPLIER_VAT, "schemeID", "0208")
    got = fired(root)
    assert "PEPPOL-COMMON-R043" in got and "PEPPOL-COMMON-R062" not in got
    set_attr(root, SUPPLIER_VAT, "schemeID", "0240")
    got = fired(root)
    assert "PEPPOL-COMMON-R062" in got and "PEPPOL-COMMON-R059" not in got


@pytest.mark.parametrize(
    ("scheme", "rule_id"),
    [("0007", "PEPPOL-COMMON-R049"), ("0151", "PEPPOL-COMMON-R050"), ("0096", "PEPPOL-COMMON-R052"),
     ("0198", "PEPPOL-COMMON-R053"), ("0106", "PEPPOL-COMMON-R054"), ("0217", "PEPPOL-COMMON-R057")],
)
def test_a_belgian_vat_number_with_a_later_scheme_is_checked_as_both_releases_check_it(scheme: str,
                                                                                       rule_id: str) -> None:
    """3.1.0 puts R062 before these schemes' rules, so that a BE number given with one of their schemeIDs is only
    checked as a Belgian VAT number; 3.0.21 checks it as the scheme says, and refuses it. Both apply until 3.0.21 is
    out of use: what either refuses is refused."""
    root = load()
    set_text(root, SUPPLIER_VAT, "BE0403019261")  # a good Belgian VAT number: R062 passes
    set_attr(root, SUPPLIER_VAT, "schemeID", scheme)
    got = fired(root)
    assert rule_id in got and "PEPPOL-COMMON-R062" not in got
    set_text(root, SUPPLIER_VAT, "BE0403019262")
    got = fired(root)
    assert rule_id in got and "PEPPOL-COMMON-R062" in got


def test_a_luxembourg_vat_number_with_a_matricule_scheme_gets_r058_only() -> None:
    """0240 has no rule in 3.0.21, and in 3.1.0 R058 comes first: R059 never looks at it."""
    root = load()
    set_text(root, SUPPLIER_VAT, "LU15027443")
    set_attr(root, SUPPLIER_VAT, "schemeID", "0240")
    got = fired(root)
    assert "PEPPOL-COMMON-R058" in got and "PEPPOL-COMMON-R059" not in got


@pytest.mark.parametrize(
    ("scheme", "value", "rule_id"),
    [("0096", "١٢٣٤٥٦٧٨٩٠", "PEPPOL-COMMON-R052"), ("0096", "123456789²", "PEPPOL-COMMON-R052"),
     ("0184", "١٢٣٤٥٦٧٨", "PEPPOL-COMMON-R042"), ("0198", "DK١٢٣٤٥٦٧٨", "PEPPOL-COMMON-R053")],
)
def test_only_the_ascii_digits_are_digits(scheme: str, value: str, rule_id: str) -> None:
    """The Schematron counts digits with translate(., '1234567890', ''): an Arabic-Indic digit or a superscript two,
    which Python's str.isdigit() takes, is no digit there."""
    root = load()
    set_attr(root, f"{CUS}/cbc:EndpointID", "schemeID", scheme)
    set_text(root, f"{CUS}/cbc:EndpointID", value)
    assert rule_id in fired(root)


def test_the_dutch_identifier_rules_are_fatal_now() -> None:
    for rule_id in ("PEPPOL-COMMON-R054", "PEPPOL-COMMON-R055", "PEPPOL-COMMON-R056-1", "PEPPOL-COMMON-R056-2",
                    "PEPPOL-COMMON-R057"):
        assert BY_ID[rule_id].flag == "fatal", rule_id
    root = load()
    set_text(root, SUPPLIER_VAT, "NL12345678B01")
    assert [v.flag for v in check(root) if v.rule == "PEPPOL-COMMON-R056-2"] == ["fatal"]


def test_r040_still_takes_the_examples_19_digit_gln_until_3_1_is_in_force() -> None:
    root = load()
    assert "PEPPOL-COMMON-R040" not in fired(root)
    set_text(root, f"{SUP}/cbc:EndpointID", "9482348239847239875")  # wrong check digit
    assert "PEPPOL-COMMON-R040" in fired(root)


def test_what_we_render_passes_the_new_checks() -> None:
    new = {"PEPPOL-COMMON-R043", "PEPPOL-COMMON-R058", "PEPPOL-COMMON-R059", "PEPPOL-COMMON-R062", "PEPPOL-COMMON-R054",
           "PEPPOL-COMMON-R055", "PEPPOL-COMMON-R056-1", "PEPPOL-COMMON-R056-2", "PEPPOL-COMMON-R057"}
    checked = 0
    for name, root, _profile in prepared_samples():
        assert not {v.rule for v in check(root)} & new, name
        checked += 1
    assert checked >= 8


def test_a_partita_iva_has_ascii_digits_only() -> None:
    """u:checkPIVA casts the number as xs:integer, whose digits are 0-9 only (str.isdigit takes Arabic-Indic ones)."""
    from ublexport.rules.peppol import partita_iva_ok

    assert partita_iva_ok("IT07643520567")
    assert not partita_iva_ok("IT" + "07643520567".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
