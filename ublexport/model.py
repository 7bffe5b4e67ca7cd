"""The input model: what a company's document looks like before it becomes UBL.

Frozen and closed (extra="forbid") so that a typo in a field name is an error, not silence. Money and quantities
are Decimal; a binary float is refused because pydantic would otherwise turn 0.1 into Decimal('0.1000000000000000055')
or silently accept a rounding error. Field names follow the Tribe CRM / Yuki mapping where one exists.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, DecimalException
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)
from stdnum.eu import vat as eu_vat

from ublexport import identifiers
from ublexport.errors import InputError

if TYPE_CHECKING:
    from ublexport.totals import Totals

# --- scalar types -------------------------------------------------------------------------------------------


MAX_INTEGER_DIGITS = 15
"""Digits before the point of any number: 999 999 999 999 999.99 is beyond any invoice, and with 10 decimals a
product of two numbers stays exact in the arithmetic (totals.py); unbounded, 1e999999 crashed it."""
MAX_DECIMALS = 10
_LIMIT = 10**MAX_INTEGER_DIGITS

# Plain digits only: an exponent ("1e999999") or a thousands separator is a typo or an attack, not an amount.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

_READING_STORED: ContextVar[bool] = ContextVar("ublexport_reading_stored", default=False)
"""True while a document the store already holds is validated again (see `stored_document`)."""


def _input_rules() -> bool:
    """Whether the rules for new input apply: not to a document read back from the store. Those rules grew over
    time (plain-digit numbers, due dates, VAT in euro...); a document stored and queued under an earlier version
    must still be delivered, not fail in the worker on a rule it was never checked against."""
    return not _READING_STORED.get()


def stored_document(content: dict[str, Any] | str) -> Document:
    """A document from the store (its JSON content, as Record and DocumentVersion keep it), validated for its
    structure and types, without the input rules added since it was stored (its UBL passed every check then)."""
    with as_stored():
        if isinstance(content, str):
            return Document.model_validate_json(content)
        return Document.model_validate(content)


@contextmanager
def as_stored() -> Iterator[None]:
    """While a document the store already holds is validated or rendered again: the rules added for new input
    since it was stored do not apply (input_rules). `outbox.forward` renders a stored document for a new inbox or a
    catch-up inside it."""
    token = _READING_STORED.set(True)
    try:
        yield
    finally:
        _READING_STORED.reset(token)


def input_rules() -> bool:
    """Whether the rules for new input apply now (see _input_rules): for view.build's rules of that kind."""
    return _input_rules()


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(
            f"{value!r} is a binary float; write amounts and quantities as strings such as \"12.50\" "
            "so that no cent is lost"
        )
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    if not _input_rules():
        return value
    # The bounds are checked here, on the text, in the one Python call a number costs anyway.
    if isinstance(value, str):
        value = value.strip()
        if not _PLAIN_NUMBER.fullmatch(value):
            raise ValueError(f"{value[:40]!r} is not a plain number; write digits with an optional decimal point, "
                             "such as \"1200.50\" (no exponent, no thousands separator)")
        integer, _, fraction = value.lstrip("+-").partition(".")
        too_large, decimals = len(integer.lstrip("0")) > MAX_INTEGER_DIGITS, len(fraction)
    elif isinstance(value, int):
        too_large, decimals = not -_LIMIT < value < _LIMIT, 0
    elif isinstance(value, Decimal) and value.is_finite():  # from Python callers
        exponent = value.as_tuple().exponent
        too_large = bool(value) and value.adjusted() >= MAX_INTEGER_DIGITS
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    else:
        return value  # pydantic refuses or checks the rest (NaN, Infinity, other types)
    if too_large:
        raise ValueError(f"{str(value)[:40]} is too large: at most {MAX_INTEGER_DIGITS} digits before the point")
    if decimals > MAX_DECIMALS:
        raise ValueError(f"{str(value)[:40]} has more than {MAX_DECIMALS} decimals; round it")
    return value


def _two_decimals(value: Decimal) -> Decimal:
    try:
        exact = value == value.quantize(Decimal("0.01"))
    except DecimalException:  # bounded above, so never expected; still a field error, not a traceback
        exact = False
    if not exact:
        raise ValueError(f"{value} has more than 2 decimals; amounts are in cents (BR-DEC)")
    return value


Number = Annotated[
    Decimal,
    Field(allow_inf_nan=False),  # checked inside pydantic-core: NaN and Infinity are refused without a Python call
    BeforeValidator(_refuse_float),
    # plain digits ("0.0000001", never str()'s "1E-7"): a stored document is validated again when read back
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
"""A quantity, unit price or rate: up to 15 digits before the point and 10 after, never a float."""

Amount = Annotated[Number, AfterValidator(_two_decimals)]
"""A money amount: at most two decimals, never a float."""


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# ... and DEL and the C1 controls: XML 1.0 carries them, but no invoice means one, a terminal obeys some (U+009B
# starts an escape sequence), and compose refuses them in a header, so a document holding one would fail only when
# sent. U+0085 (NEL) is one of them but breaks lines: free text may hold it as a line break, a one-line field
# refuses it as one. Not applied to stored documents (_input_rules).
_ANY_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _no_control(value: str) -> str:
    """XML 1.0 cannot carry most control characters, and e-mail headers must never carry CR or LF.
    (One regex search: every text field of every document passes here, a Python loop per character showed up.)"""
    bad = _ANY_CONTROL.search(value)
    if bad is None:
        return value
    code = ord(bad.group())
    if 0x7F <= code <= 0x9F:  # DEL or C1: refused in new input; a stored document may still hold one
        if _input_rules():
            raise ValueError(f"contains the control character U+{code:04X} (DEL or a C1 control: invisible, and "
                             "never allowed in an e-mail header); remove it")
        bad = _CONTROL.search(value)
        if bad is None:
            return value
    raise ValueError(f"contains the control character U+{ord(bad.group()):04X}, which XML cannot carry; remove it")


# min_length before the Python check: a constraint after a Python validator cannot run inside pydantic-core and
# becomes one more Python call per field
Text = Annotated[str, Field(min_length=1), AfterValidator(_no_control)]
"""Free text: may hold line breaks (notes, descriptions), never other control characters."""


_SEPARATORS = re.compile("[\x85\u2028\u2029]")  # NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: e-mail clients break lines


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # embeddings, overrides and isolates: they reorder what is shown
LINE_MAX = 500
"""The longest one-line text (a name, a reference): no company's name is longer, and the name goes into the
e-mail's Subject; 200,000 characters made a header of 248 kB, past what mail servers take (Postfix: 100 kB)."""


def _single_line(value: str) -> str:
    """Control characters and line breaks in one call: names and numbers are most of a document's fields."""
    if "\n" in value or "\r" in value or "\t" in value or _SEPARATORS.search(value):
        raise ValueError("must be a single line (no line breaks or tabs; U+0085, U+2028 and U+2029 break lines "
                         "too)")
    value = _no_control(value).strip()
    if len(value) > LINE_MAX and _input_rules():
        raise ValueError(f"is {len(value)} characters long; a name or reference has at most {LINE_MAX}")
    if not value.isprintable() and _input_rules():
        # (only a text with an unprintable character is looked at again: the common case costs one C call)
        if not any(c.isprintable() and not c.isspace() for c in value):
            raise ValueError("has no visible character (only zero-width or other invisible characters): the name "
                             "or number would print as nothing; write it out")
        bidi = _BIDI.search(value)
        if bidi is not None:  # U+202E shows "fdp.exe" as "exe.pdf": in a Subject, a name can be made to read as another
            raise ValueError(f"contains U+{ord(bidi.group()):04X}, a bidirectional control that changes the order in "
                             "which the text is shown; remove it")
    return value


def _plain_number(value: str) -> str:
    """A document's number as the accountant's system matches it: no invisible characters (a zero-width space, a
    direction mark) and no look-alike of the hyphen. "2026-0001", "2026-0001" + U+200B and "2026" U+2011 "0001"
    print alike, were three documents, and went as three invoices 2026-0001 past the conflict check."""
    if value.isascii() or not _input_rules():
        return value
    for char in value:
        kind = unicodedata.category(char)
        if kind == "Cf" or (kind == "Zs" and char != " ") or (kind == "Pd" and char != "-"):
            name = unicodedata.name(char, "an invisible character")
            raise ValueError(f"contains U+{ord(char):04X} ({name.lower()}), which prints like nothing or like "
                             "another character; write the number with plain characters (a hyphen is -)")
    return value


Line1 = Annotated[str, Field(min_length=1), AfterValidator(_single_line)]
"""A one-line text: names, numbers, references. Never a line break, so it is safe in a header or file name."""

DocumentNumber = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_single_line),
                           AfterValidator(_plain_number)]
"""A document's number (or an invoice it refers to): one line of plain characters, at most 100."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """pydantic would take 0, "86400" (Unix seconds) or a datetime string as a date: a typo becomes 1970-01-01."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(f"{str(value)[:40]!r} is not a date; write it as YYYY-MM-DD, e.g. \"2026-11-02\"")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
"""A calendar date, written YYYY-MM-DD."""

VatNumber = Annotated[str, AfterValidator(identifiers.vat_number)]
EnterpriseNumber = Annotated[str, AfterValidator(identifiers.enterprise_number)]
KvkNumber = Annotated[str, AfterValidator(identifiers.kvk_number)]
OinNumber = Annotated[str, AfterValidator(identifiers.oin_number)]
Iban = Annotated[str, AfterValidator(identifiers.iban)]
Bic = Annotated[str, AfterValidator(identifiers.bic)]
PaymentReference = Annotated[Line1, AfterValidator(identifiers.structured_reference)]
def _email(value: str) -> str:
    return identifiers.email_address(value) if _input_rules() else value


Email = Annotated[Line1, AfterValidator(_email)]
def _iso4217(value: str) -> str:
    if value == "EUR":  # nearly every document: no need to load the rules' code lists
        return value
    from ublexport.rules.codes import ISO4217  # the code list BR-CL-03/04 check the rendered document against

    if value not in ISO4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (EUR, USD, GBP, ...)")
    if value in _NOT_MONEY and _input_rules():
        raise ValueError(f"{value!r} is an ISO 4217 code for {_NOT_MONEY[value]}, not a currency an invoice is paid "
                         "in; write the currency of the invoice (EUR, USD, GBP, ...)")
    return value


# The ISO 4217 codes that are no currency anyone pays an invoice in: precious metals, bond market and accounting units,
# testing, "no currency". (XAF, XOF, XPF and XCD are real currencies and stay.)
_NOT_MONEY = {"XAU": "gold", "XAG": "silver", "XPT": "platinum", "XPD": "palladium", "XXX": "no currency",
              "XTS": "testing", "XDR": "the IMF's special drawing rights", "XSU": "the SUCRE accounting unit",
              "XUA": "the ADB unit of account", "XBA": "a bond market unit", "XBB": "a bond market unit",
              "XBC": "a bond market unit", "XBD": "a bond market unit"}


def _iso3166(value: str) -> str:
    """ISO 3166-1 alpha-2 (BR-CL-14), said at input: the usual slips are EL for Greece (its VAT prefix) and UK."""
    if value in ("BE", "NL"):  # nearly every address: no need to load the rules' code lists
        return value
    from ublexport.rules.codes import ISO3166  # the code list BR-CL-14 checks the rendered document against

    if value in ISO3166 or not _input_rules():  # a stored document was checked when it was stored
        return value
    hint = {"EL": "Greece is GR (EL is only its VAT prefix)", "UK": "the United Kingdom is GB"}.get(value, "")
    raise ValueError(f"{value!r} is not an ISO 3166-1 country code" + (f"; {hint}" if hint else " (BE, NL, DE, ...)"))


def _rec20(value: str) -> str:
    """A UN/ECE Recommendation 20 unit (BR-CL-23), said at input rather than as an XPath after rendering."""
    if value == "C62":
        return value
    from ublexport.rules.codes import REC20

    if value in REC20 or not _input_rules():
        return value
    raise ValueError(f"{value!r} is not a UN/ECE Recommendation 20 unit code; e.g. C62 (piece), HUR (hour), "
                     "DAY (day), KGM (kilogram), MTR (metre), LTR (litre), MTK (square metre)")


def _price(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"{value}: a price is never negative (BR-27); a returned item or a deduction is a line with "
                         "a negative quantity, a discount an allowance")
    # "-0.00" is no negative price, but written as given the official validators (Saxon) read it as below zero (BR-27)
    return value if value else value.copy_abs()


# Codes are upper case; "be" or "eur" typed by hand means BE and EUR: upper-cased inside pydantic-core (no Python
# call), after its pattern, which therefore takes either case. Nothing stored holds a lower-case code: it was refused.
_UPPER = StringConstraints(to_upper=True)
CountryCode = Annotated[str, _UPPER, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. BE, NL"),
                        AfterValidator(_iso3166)]
CurrencyCode = Annotated[str, _UPPER, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. EUR"),
                         AfterValidator(_iso4217)]


class Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# --- parties ------------------------------------------------------------------------------------------------


class Address(Closed):
    street: Line1 | None = None
    additional_street: Line1 | None = None
    city: Line1
    postal_code: Line1 | None = None
    region: Line1 | None = None
    country: CountryCode


class Language(StrEnum):
    nl = "nl"
    fr = "fr"
    en = "en"


class Company(Closed):
    """The exporting business: the seller of its sales documents, the buyer of its expenses."""

    name: Line1
    vat_number: VatNumber | None = None
    enterprise_number: EnterpriseNumber | None = Field(None, description="Belgian KBO/BCE number")
    kvk_number: KvkNumber | None = Field(None, description="Dutch Chamber of Commerce number")
    address: Address
    iban: Iban | None = None
    bic: Bic | None = None
    email: Email | None = None
    phone: Line1 | None = None
    language: Language = Language.nl
    legal_info: Line1 | None = Field(
        None, description="BT-33, the seller's additional legal information: the legal form and register a Belgian "
        "invoice must state, e.g. 'BV, RPR Gent, afdeling Gent'")

    @model_validator(mode="after")
    def _identified(self) -> Company:
        if not (self.vat_number or self.enterprise_number or self.kvk_number):
            raise ValueError("a company needs a VAT number, a Belgian enterprise number or a KvK number")
        if self.address.country == "NL" and not self.kvk_number:
            raise ValueError("a Dutch company needs its KvK number (kvk_number), required by NL-R-003")
        return self


class Party(Closed):
    """A customer or supplier: an organisation, or a private person (first name, infix, last name)."""

    relation_code: Line1 | None = Field(None, description="debtor/creditor number; Yuki's relation code")
    organisation_name: Line1 | None = None
    first_name: Line1 | None = None
    infix: Line1 | None = Field(None, description="tussenvoegsel, e.g. 'van der'")
    last_name: Line1 | None = None
    email: Email | None = Field(None, description="a private person's electronic address (scheme EM)")
    phone: Line1 | None = None
    mobile: Line1 | None = None
    website: Line1 | None = None
    vat_number: VatNumber | None = None
    enterprise_number: EnterpriseNumber | None = None
    kvk_number: KvkNumber | None = None
    oin: OinNumber | None = Field(None, description="a Dutch public body's OIN: its Peppol address (scheme 0190)")
    tax_registration: Line1 | None = Field(
        None, description="a supplier's tax registration number where it has no EU VAT number (BT-32): a US EIN, "
                          "a UK UTR; it lets a service bought outside the EU be entered as reverse charge (AE)")
    invoice_address: Address
    postal_address: Address | None = None
    iban: Iban | None = Field(None, description="a supplier's account, for expenses")
    bic: Bic | None = None

    @model_validator(mode="after")
    def _named(self) -> Party:
        if not self.organisation_name and not self.last_name:
            raise ValueError("a party needs an organisation_name, or a last_name for a person")
        return self

    @property
    def is_person(self) -> bool:
        return not self.organisation_name

    @property
    def full_name(self) -> str:
        """Yuki's 'Naam': first name, infix and last name, or the organisation name."""
        if self.organisation_name:
            return self.organisation_name
        return " ".join(p for p in (self.first_name, self.infix, self.last_name) if p)


# --- lines and amounts --------------------------------------------------------------------------------------


class VatCategory(StrEnum):
    """UNCL5305 as restricted by EN 16931."""

    S = "S"  # standard rate
    Z = "Z"  # zero rated goods
    E = "E"  # exempt
    AE = "AE"  # reverse charge
    K = "K"  # intra-community supply
    G = "G"  # export outside the EU
    O = "O"  # noqa: E741  # outside the scope of VAT
    L = "L"  # Canary Islands IGIC
    M = "M"  # Ceuta and Melilla IPSI


ZERO_CATEGORIES = frozenset({VatCategory.Z, VatCategory.E, VatCategory.AE, VatCategory.K, VatCategory.G,
                             VatCategory.O})
EXEMPTION_NEEDED = frozenset({VatCategory.E, VatCategory.AE, VatCategory.K, VatCategory.G, VatCategory.O})
TAX_REGISTRATION_SERVES = frozenset({VatCategory.S, VatCategory.Z, VatCategory.E, VatCategory.AE})
"""The categories whose rule (BR-S/Z/E/AE-02) takes the seller's tax registration (BT-32) for its VAT number; an
intra-Community supply and an export need the VAT number itself (BR-IC-02, BR-G-02)."""

DEFAULT_EXEMPTION = {
    VatCategory.AE: ("VATEX-EU-AE", "Reverse charge"),
    VatCategory.K: ("VATEX-EU-IC", "Intra-Community supply"),
    VatCategory.G: ("VATEX-EU-G", "Export outside the EU"),
    VatCategory.O: ("VATEX-EU-O", "Not subject to VAT"),
}
"""The VATEX code and text we fill in when the user gives none; exempt (E) has no safe default."""

# The VAT rates (category S) a Belgian or Dutch company charges, each with the first and last issue date it applies
# to (None: open). To be updated when the law changes: a rate missing here refuses an invoice.
STANDARD_RATES: dict[str, dict[Decimal, tuple[dt.date | None, dt.date | None]]] = {
    "BE": {Decimal(6): (None, None), Decimal(12): (None, None), Decimal(21): (None, None)},
    "NL": {Decimal(6): (None, dt.date(2018, 12, 31)), Decimal(9): (dt.date(2019, 1, 1), None),
           Decimal(19): (None, dt.date(2012, 9, 30)), Decimal(21): (dt.date(2012, 10, 1), None)},
}
COUNTRY_ADJECTIVE = {"BE": "Belgian", "NL": "Dutch"}

# A rounding of the amount due (BT-114) stays below one unit of the currency, or below its smallest coin where that
# is larger: Hungary pays cash in multiples of 5 forint.
ONE = Decimal(1)
ROUNDING_UNITS: dict[str, Decimal] = {"HUF": Decimal(5)}

# The legal mention for a zero-rated group in the document's (its company's) language and the seller's country's
# wording, where the user gave no text of their own: a Belgian or Dutch invoice must state it in the language it is
# written in, and the UBL is the invoice the accountant books. Belgium wants the exemption's legal basis (art. 5 §1
# KB nr. 1: art. 39bis WBTW for an intra-Community supply, art. 39 for an export) and "verlegging van heffing" /
# "autoliquidation"; the Netherlands "btw verlegd" (art. 35a lid 1 m Wet OB) and "intracommunautaire levering".
# Text the user wrote is kept as given.
EXEMPTIONS: dict[tuple[str, str], dict[VatCategory, str]] = {
    ("BE", "nl"): {VatCategory.AE: "Verlegging van heffing",
                   VatCategory.K: "Vrijgestelde intracommunautaire levering (art. 39bis, eerste lid, 1° WBTW)",
                   VatCategory.G: "Vrijgestelde uitvoer (art. 39, § 1 WBTW)",
                   VatCategory.O: "Niet onderworpen aan btw"},
    ("BE", "fr"): {VatCategory.AE: "Autoliquidation",
                   VatCategory.K: "Livraison intracommunautaire exemptée (art. 39bis, alinéa 1er, 1° du Code TVA)",
                   VatCategory.G: "Exportation exemptée (art. 39, § 1er du Code TVA)",
                   VatCategory.O: "Non soumis à la TVA"},
    ("BE", "en"): {VatCategory.AE: "Reverse charge",
                   VatCategory.K: "Exempt intra-Community supply (art. 39bis, first paragraph, 1° Belgian VAT Code)",
                   VatCategory.G: "Exempt export (art. 39, § 1 Belgian VAT Code)", VatCategory.O: "Not subject to VAT"},
    ("NL", "nl"): {VatCategory.AE: "Btw verlegd", VatCategory.K: "Intracommunautaire levering",
                   VatCategory.G: "Uitvoer buiten de EU (0% btw)", VatCategory.O: "Niet onderworpen aan btw"},
    ("NL", "fr"): {VatCategory.AE: "Autoliquidation", VatCategory.K: "Livraison intracommunautaire",
                   VatCategory.G: "Exportation hors de l'UE", VatCategory.O: "Non soumis à la TVA"},
}


# Another country's seller (a supplier abroad, on an expense): our default in the reader's (the company's) language
# and country's words, without a Belgian or Dutch article of law, which would be wrong on a German or American
# invoice. A Belgian bookkeeper reads "verlegging van heffing" where a Dutch one reads "btw verlegd".
NEUTRAL_EXEMPTIONS: dict[tuple[str, str], dict[VatCategory, str]] = {
    ("BE", "nl"): {VatCategory.AE: "Verlegging van heffing", VatCategory.K: "Vrijgestelde intracommunautaire levering",
                   VatCategory.G: "Vrijgestelde uitvoer", VatCategory.O: "Niet onderworpen aan btw"},
    ("BE", "fr"): {VatCategory.AE: "Autoliquidation", VatCategory.K: "Livraison intracommunautaire exemptée",
                   VatCategory.G: "Exportation exemptée", VatCategory.O: "Non soumis à la TVA"},
    ("NL", "nl"): EXEMPTIONS[("NL", "nl")],
    ("NL", "fr"): EXEMPTIONS[("NL", "fr")],
}


def exemption_text(category: VatCategory, text: str | None, language: str, country: str, reader: str,
                   code: str | None = None) -> str | None:
    """TEXT, or our default text for CATEGORY in LANGUAGE as the seller's COUNTRY words it, when TEXT is that
    default (see EXEMPTIONS; another country's seller gets NEUTRAL_EXEMPTIONS as the READER's country words it;
    English keeps the English default). A Dutch company's expense from an American supplier said "Not subject to VAT"
    in a Dutch document. No TEXT but an EU exemption CODE: the words that code stands for (vatex.words)."""
    if text is None and code is not None:
        from ublexport import vatex

        return vatex.words(code, language)
    default = DEFAULT_EXEMPTION.get(category)
    if default is not None and text == default[1]:
        words = EXEMPTIONS.get((country, language)) or NEUTRAL_EXEMPTIONS.get((reader, language), {})
        return words.get(category, text)
    return text


class VatMixin(Closed):
    vat_category: VatCategory
    vat_rate: Number | None = Field(None, ge=0, le=100, description="percent; omitted for category O")
    exemption_reason: Line1 | None = None
    exemption_reason_code: Annotated[str, Field(pattern=r"^VATEX-[A-Z0-9-]+$")] | None = None

    @model_validator(mode="after")
    def _rate_fits_category(self) -> VatMixin:
        cat, rate = self.vat_category, self.vat_rate
        if cat == VatCategory.O and rate is not None:
            raise ValueError("category O (outside the scope of VAT) takes no vat_rate (BR-O-05)")
        if cat != VatCategory.O and rate is None:
            raise ValueError(f"category {cat} needs a vat_rate (BR-{cat}-05)")
        if cat in ZERO_CATEGORIES and rate is not None and rate != 0:
            raise ValueError(f"category {cat} must have vat_rate 0 (BR-{cat}-05)")
        if cat == VatCategory.S and rate is not None and rate <= 0:
            raise ValueError("category S needs a rate above 0 (BR-S-05); use Z for zero-rated goods")
        if cat == VatCategory.E and not (self.exemption_reason or self.exemption_reason_code):
            raise ValueError("category E needs an exemption reason (BR-E-10)")
        if cat not in EXEMPTION_NEEDED and cat != VatCategory.E and (
            self.exemption_reason or self.exemption_reason_code
        ):
            raise ValueError(f"category {cat} takes no exemption reason (BR-{cat}-10)")
        if self.exemption_reason_code is not None:
            from ublexport.rules.codes import VATEX_CATEGORY

            belongs, rule_id = VATEX_CATEGORY.get(self.exemption_reason_code, (cat.value, ""))
            if belongs != cat.value:
                raise ValueError(f"exemption_reason_code {self.exemption_reason_code} is the code of category "
                                 f"{belongs}, not {cat} ({rule_id}): give the line category {belongs}, or the code "
                                 f"of its own exemption")
            own = DEFAULT_EXEMPTION.get(cat)  # AE, K, G and O have one code each; the others are exemptions (E)
            if own is not None and self.exemption_reason_code != own[0]:
                raise ValueError(f"exemption_reason_code {self.exemption_reason_code} is an exemption (category E); "
                                 f"category {cat} ({own[1].lower()}) has the code {own[0]}: give that, or leave "
                                 "the code out (it is filled in)")
        return self

    @property
    def vat_key(self) -> tuple[VatCategory, Decimal | None]:
        return vat_key(self.vat_category, self.vat_rate)


class LineAllowanceCharge(Closed):
    """A discount (allowance) or surcharge (charge) on one line, in money of the document."""

    charge: bool = False
    amount: Amount = Field(ge=0)
    reason: Line1 | None = None
    reason_code: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,3}$")] | None = None

    @model_validator(mode="after")
    def _has_reason(self) -> LineAllowanceCharge:
        if not (self.reason or self.reason_code):
            raise ValueError("an allowance or charge needs a reason or reason_code (BR-41/42, BR-43/44)")
        if self.reason_code is not None and _input_rules():
            self._code_of_its_list(self.reason_code)
        return self

    def _code_of_its_list(self, code: str) -> None:
        """A discount's code is UNCL 5189's, a surcharge's UNCL 7161's (BR-CL-19/20): the wrong list's code made a
        document the rules refuse after rendering, at an XPath instead of this field."""
        from ublexport.rules.codes import UNCL5189, UNCL7161

        if self.charge and code not in UNCL7161:
            other = " is a discount's (UNCL 5189)" if code in UNCL5189 else " is no UNCL 7161 code"
            raise ValueError(f"reason_code: {code}{other}; a surcharge (charge) takes a UNCL 7161 code such as FC "
                             "(freight), ABL (packaging) or SAA (shipping and handling), or leave the code out and "
                             "give the reason in words (BR-CL-20)")
        if not self.charge and code not in UNCL5189:
            other = " is a surcharge's (UNCL 7161)" if code in UNCL7161 else " is no UNCL 5189 code"
            raise ValueError(f"reason_code: {code}{other}; a discount (allowance) takes a UNCL 5189 code such as 95 "
                             "(discount), 100 (special rebate) or 104 (standard), or leave the code out and give the "
                             "reason in words (BR-CL-19)")


class DocumentAllowanceCharge(LineAllowanceCharge, VatMixin):
    """A discount or surcharge on the whole document; it carries its own VAT category (BR-32, BR-37)."""


class Period(Closed):
    """The period an invoice or one of its lines covers (BG-14, BG-26): the month of a subscription, a quarter's
    rent, the weeks of a service contract. For a continuous supply it is the date the law asks the invoice to state,
    and the accountant books the amount over those months (accruals) rather than on the issue date."""

    start: IsoDate | None = None
    end: IsoDate | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Period:
        if self.start is None and self.end is None:
            raise ValueError("a period needs its start, its end or both (BR-CO-19, BR-CO-20)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start}) (BR-29, BR-30)")
        return self


class Line(VatMixin):
    name: Line1
    description: Text | None = None
    quantity: Number
    unit_code: Annotated[str, _UPPER, Field(pattern=r"^[A-Za-z0-9]{1,3}$"), AfterValidator(_rec20)] = Field(
        "C62", description="UN/ECE rec 20")
    unit_price: Annotated[Number, AfterValidator(_price)] = Field(
        description="net price per unit, before line allowances (BR-27)")
    allowances_charges: list[LineAllowanceCharge] = Field(default_factory=list)
    seller_item_id: Line1 | None = None
    period: Period | None = Field(None, description="the period this line covers (BG-26), within the document's")

    @model_validator(mode="after")
    def _bounded_amount(self) -> Line:
        """Each factor is bounded; their product must be too, or the line amount is not an amount."""
        if not _input_rules():
            return self
        gross = self.quantity * self.unit_price  # magnitude only: the exact product is taken in totals.py
        if gross and gross.adjusted() >= MAX_INTEGER_DIGITS:
            raise ValueError(f"quantity x unit_price is {gross:.3E}: a line amount has at most {MAX_INTEGER_DIGITS} "
                             "digits before the point")
        return self


# --- references and attachments ----------------------------------------------------------------------------


class FileContent(Closed):
    """Binary content given inline (base64) or, in JSON files, as a path beside the file (resolved on load)."""

    filename: Line1 = Field(max_length=100)
    content_base64: str

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("content_base64 is not valid base64") from None
        return value

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in {".", ".."}:
            raise ValueError("a file name, not a path")
        return value

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64)


class InvoiceReference(Closed):
    """An earlier invoice a document refers to (BG-3): the invoice a credit note credits, the advance invoices a
    final invoice settles, the invoice a corrective invoice corrects. The accountant's system books it against that
    invoice only when the number is the one on it."""

    number: DocumentNumber
    issue_date: IsoDate | None = None


CreditedInvoice = InvoiceReference  # the credit note's field keeps the name it has always had


PAYMENT_MEANS = {
    "1": "instrument not defined", "10": "in cash", "20": "cheque", "30": "credit transfer",
    "31": "debit transfer", "42": "payment to bank account", "48": "bank card", "54": "credit card",
    "55": "debit card", "57": "standing agreement", "58": "SEPA credit transfer", "68": "online payment service",
    "97": "clearing between partners",
}
"""The UNCL4461 codes a document can carry: the UBL we write has a payee account, a payment reference and
terms. Direct debit (49, 59) needs a mandate reference and the debited account (PEPPOL-EN16931-R061), which the
input has no field for, so it could never render; codes outside this list are refused at input for the same
reason."""


def supported_means(value: str) -> str:
    """The payment means code, refused (ValueError) when ublexport cannot carry it; asked by Document for what
    may leave, so that a draft with another code is still "a draft", not bad input."""
    if value not in PAYMENT_MEANS:
        why = (" is direct debit, which needs a mandate reference (PEPPOL-EN16931-R061) that ublexport cannot carry;"
               if value in ("49", "59") else " is not a payment means ublexport can carry;")
        supported = ", ".join(f"{code} ({name})" for code, name in PAYMENT_MEANS.items())
        raise ValueError(f"code {value}{why} use one of {supported}")
    return value


class Payment(Closed):
    """How to pay: UNCL4461 code (30 credit transfer, 58 SEPA credit transfer, ...; see PAYMENT_MEANS)."""

    means_code: Annotated[str, Field(pattern=r"^[0-9]{1,2}$")] = "30"  # see supported_means
    iban: Iban | None = Field(None, description="defaults to the seller's IBAN")
    bic: Bic | None = None
    reference: PaymentReference | None = Field(None, description="e.g. +++010/8068/17183+++")
    terms: Text | None = None


class Delivery(Closed):
    date: IsoDate | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Delivery:
        """An empty delivery (a template's "delivery": {}) rendered an empty cac:Delivery, which Peppol refuses
        (PEPPOL-EN16931-R008) after rendering instead of here."""
        if self.date is None and self.address is None and _input_rules():
            raise ValueError("give its date, its address or both, or leave delivery out")
        return self


class DocumentKind(StrEnum):
    invoice = "invoice"
    credit_note = "credit_note"
    proforma = "proforma"
    expense = "expense"
    quote = "quote"


class Status(StrEnum):
    draft = "draft"
    sent = "sent"
    paid = "paid"
    cancelled = "cancelled"
    received = "received"
    booked = "booked"


SALES_STATUSES = frozenset({Status.draft, Status.sent, Status.paid, Status.cancelled})
EXPENSE_STATUSES = frozenset({Status.received, Status.booked, Status.paid, Status.cancelled})


def vat_key(category: VatCategory, rate: Decimal | None) -> tuple[VatCategory, Decimal | None]:
    """What a VAT breakdown (BG-23) is grouped by: the category and the rate as a number (6, 6.0 and 6.00 are one)."""
    return (category, rate.normalize() if rate is not None else None)


class StatedVat(Closed):
    """The VAT a document states at one category and rate (a till receipt's "6 %: 0,44")."""

    vat_category: VatCategory
    vat_rate: Number | None = Field(None, ge=0, le=100, description="percent; omitted for category O")
    vat: Amount

    @property
    def vat_key(self) -> tuple[VatCategory, Decimal | None]:
        return vat_key(self.vat_category, self.vat_rate)


class StatedTotals(Closed):
    """Totals as printed on the user's own copy; checked, never used (ublexport computes totals), except for a
    supplier's VAT, which an expense carries as its invoice states it where it differs only as per-line rounding
    does (totals._as_the_supplier_rounded)."""

    line_total: Amount | None = None
    tax_exclusive: Amount | None = None
    vat: Amount | None = None
    vat_breakdown: list[StatedVat] | None = Field(
        None, description="the VAT stated per category and rate (each at most once), as a receipt over several "
                          "rates prints it")
    tax_inclusive: Amount | None = None
    payable: Amount | None = None

    @model_validator(mode="after")
    def _each_rate_once(self) -> StatedTotals:
        keys = [v.vat_key for v in self.vat_breakdown or ()]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:
            raise ValueError(f"vat_breakdown names {twice[0]} at {twice[1]} % twice; state each rate once")
        return self


class Document(Closed):
    kind: DocumentKind
    status: Status
    number: DocumentNumber
    issue_date: IsoDate
    due_date: IsoDate | None = None
    currency: CurrencyCode = "EUR"
    tax_currency: CurrencyCode | None = Field(None, description="VAT also stated in this currency (BT-6)")
    tax_exchange_rate: Number | None = Field(None, gt=0, description="1 document currency = rate tax currency")
    buyer_reference: Line1 | None = None
    order_reference: Line1 | None = None
    note: Text | None = None
    company: Company
    customer: Party | None = Field(None, description="for invoices, credit notes, proformas and quotes")
    supplier: Party | None = Field(None, description="for expenses: who sent us the purchase invoice")
    credit_note: Literal[True] | None = Field(
        None, description="an expense that is its supplier's credit note, entered with positive amounts as the "
                          "supplier prints them: it goes as a UBL CreditNote (381); a negative expense still goes "
                          "as an invoice with negative amounts")

    @field_validator("credit_note", mode="before")
    @classmethod
    def _false_is_not_given(cls, value: Any) -> Any:
        """false is the same as leaving it out, and hashes so (record.content_digest drops only null)."""
        return None if value is False else value
    lines: list[Line] = Field(min_length=1)
    allowances_charges: list[DocumentAllowanceCharge] = Field(default_factory=list)
    payment: Payment | None = None
    delivery: Delivery | None = None
    period: Period | None = Field(None, description="the period the document covers (BG-14): a month's "
                                                    "subscription, a quarter's rent")
    prepaid_amount: Amount = Field(Decimal("0.00"), ge=0, description="already paid (BT-113)")
    rounding_amount: Amount = Field(Decimal("0.00"), description="payable rounding (BT-114)")
    credited_invoice: CreditedInvoice | None = None
    preceding_invoices: list[InvoiceReference] = Field(
        default_factory=list, max_length=100,
        description="earlier invoices (BG-3): the advance invoices an invoice settles, the invoice it corrects, "
                    "or the invoices a credit note credits besides credited_invoice")
    pdf: FileContent | None = None
    received_ubl: FileContent | None = Field(None, description="an expense's UBL as the supplier sent it")
    stated_totals: StatedTotals | None = None
    _totals: Any = PrivateAttr(default=None)  # Totals, computed once while validating (totals.compute reuses it)

    @model_validator(mode="after")
    def _consistent(self) -> Document:
        kind = self.kind
        if kind == DocumentKind.expense:
            if self.supplier is None or self.customer is not None:
                raise ValueError("an expense names its supplier (supplier), not a customer")
            if self.status not in EXPENSE_STATUSES:
                raise ValueError(f"an expense's status is received, booked, paid or cancelled, not {self.status}")
        else:
            if self.customer is None or self.supplier is not None:
                missing = "names its customer (customer), not a supplier" if self.supplier is not None else \
                    "needs its customer (customer)"
                raise ValueError(f"{_article(kind.value)} {kind.value.replace('_', ' ')} {missing}")
            if self.status not in SALES_STATUSES:
                raise ValueError(f"{_article(kind.value)} {kind.value.replace('_', ' ')}'s status is draft, sent, "
                                 f"paid or cancelled, not {self.status}")
        if self.credit_note and kind != DocumentKind.expense:
            raise ValueError(f"credit_note: only an expense is marked a credit note (the supplier's); a credit note "
                             f"of your own is kind credit_note, not {_article(kind.value)} "
                             f"{kind.value.replace('_', ' ')}")
        if self.credit_note:
            pass  # a supplier's credit note names the invoice it credits when the supplier did: recorded as it came
        elif kind == DocumentKind.credit_note:
            if self.credited_invoice is None and self.company.address.country in ("BE", "NL"):
                raise ValueError(
                    "a credit note must name the invoice it credits (credited_invoice: number and issue_date); "
                    "Belgian and Dutch law require it (NL-R-001)"
                )
        elif self.credited_invoice is not None:
            raise ValueError(f"credited_invoice: only a credit note credits an invoice; this is {_article(kind.value)} "
                             f"{kind.value.replace('_', ' ')} (leave credited_invoice out, or make it a credit note)")
        if self.preceding_invoices:
            self._preceding()
        if self.period is not None:
            self._lines_within_period(self.period)
        if self.received_ubl is not None and kind != DocumentKind.expense:
            raise ValueError("only an expense can carry the UBL as received")
        if (self.tax_currency is None) != (self.tax_exchange_rate is None):
            raise ValueError("tax_currency and tax_exchange_rate go together (BR-53)")
        if self.tax_currency is not None and self.tax_currency == self.currency:
            raise ValueError(f"tax_currency: {self.tax_currency} is the document currency itself; leave tax_currency "
                             "and tax_exchange_rate out (PEPPOL-EN16931-R005)")
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError(f"due_date: {self.due_date} is before the issue_date {self.issue_date}")
        credited = self.credited_invoice.issue_date if self.credited_invoice is not None else None
        if credited is not None and credited > self.issue_date:
            raise ValueError(f"credited_invoice.issue_date {credited} is after this credit "
                             f"note's issue_date {self.issue_date}: a credit note credits an earlier invoice")
        # What may leave is held to the rules of a correct booking; a draft, a cancelled document or a quote never
        # leaves (the policy says why), and a stored document was checked when it was stored.
        leaves = (_input_rules() and kind != DocumentKind.quote
                  and self.status not in (Status.draft, Status.cancelled))
        self._vat_parties(leaves=leaves)
        supplier = self.supplier
        if leaves and supplier is not None and not (supplier.vat_number or supplier.enterprise_number
                                                    or supplier.kvk_number or supplier.oin or supplier.relation_code):
            raise ValueError("supplier: give its vat_number, enterprise_number or kvk_number, or else its "
                             "relation_code (its creditor number in the books): the accountant's system must tell "
                             "which supplier it is (BR-CO-26)")
        if leaves:
            self._currencies()
            if self.payment is not None:
                try:
                    supported_means(self.payment.means_code)
                except ValueError as exc:
                    raise ValueError(f"payment.means_code: {exc}") from None
        self._amounts(check=leaves)
        return self

    def _preceding(self) -> None:
        """An invoice (or a supplier's, an expense) may name the earlier invoices it settles or corrects, and a credit
        note that credits several invoices the ones after its credited_invoice; a proforma or quote settles nothing."""
        if self.kind not in (DocumentKind.invoice, DocumentKind.expense, DocumentKind.credit_note):
            raise ValueError(f"preceding_invoices: only an invoice, an expense or a credit note refers to earlier "
                             f"invoices, not {_article(self.kind.value)} {self.kind.value.replace('_', ' ')}")
        credited = self.credited_invoice
        seen = {credited.number.casefold()} if credited is not None else set()
        for i, ref in enumerate(self.preceding_invoices):
            key = ref.number.casefold()
            if key == self.number.casefold():
                raise ValueError(f"preceding_invoices[{i}].number: {ref.number} is this document's own number")
            if key in seen:
                raise ValueError(f"preceding_invoices[{i}].number: {ref.number} is given twice")
            seen.add(key)
            if ref.issue_date is not None and ref.issue_date > self.issue_date:
                raise ValueError(f"preceding_invoices[{i}].issue_date: {ref.issue_date} is after this document's "
                                 f"issue_date {self.issue_date}: it refers to an earlier invoice")

    def _advance_paid_twice(self) -> None:
        """A final invoice that names its advance invoices and takes them off as a prepaid amount declares their VAT
        a second time: each advance invoice already made its VAT chargeable (art. 17 §1 and 22bis WBTW; art. 13 lid 2
        Wet OB), and BT-113 takes off money, not VAT. Yuki books the full VAT of the final invoice on top."""
        numbers = ", ".join(ref.number for ref in self.preceding_invoices)
        raise ValueError(f"prepaid_amount: {self.prepaid_amount} with preceding_invoices ({numbers}) and no line "
                         "deducting them: the VAT of an advance invoice was charged on it, so this invoice would "
                         "charge it a second time; deduct each advance invoice as a line with a negative quantity at "
                         "its VAT rate instead. prepaid_amount is for a payment received without an invoice of its "
                         "own; an earlier invoice only corrected here goes in the note")

    def _lines_within_period(self, period: Period) -> None:
        """A line's period lies within the document's (PEPPOL-EN16931-R110/R111): an invoice for November does not
        bill December on one of its lines."""
        for i, line in enumerate(self.lines):
            if line.period is None:
                continue
            for name in ("start", "end"):
                day = getattr(line.period, name)
                if day is None:
                    continue
                if (period.start is not None and day < period.start) or (period.end is not None and day > period.end):
                    span = f"{period.start or '...'} to {period.end or '...'}"
                    raise ValueError(f"lines[{i}].period.{name}: {day} is outside the document's period ({span}): a "
                                     "line's period lies within it (PEPPOL-EN16931-R110/R111)")

    def _currencies(self) -> None:
        """Belgian and Dutch VAT law (Art. 230 VAT Directive) want the VAT amount in euro: a seller there who
        invoices in another currency states the VAT in EUR too (BT-6, BT-111), and in no other currency."""
        expense = self.kind == DocumentKind.expense
        seller = (self.supplier.invoice_address if expense and self.supplier else self.company.address).country
        if seller not in ("BE", "NL"):
            return
        who = f"a {'Belgian' if seller == 'BE' else 'Dutch'} {'supplier' if expense else 'seller'}"
        if self.tax_currency is not None and self.tax_currency != "EUR":
            remedy = ("this document is in euro already: leave tax_currency and tax_exchange_rate out"
                      if self.currency == "EUR" else
                      "write \"tax_currency\": \"EUR\" with the euro rate in tax_exchange_rate")
            raise ValueError(f"tax_currency {self.tax_currency}: {who} accounts for VAT in euro (Art. 230 VAT "
                             f"Directive); {remedy}")
        if self.currency != "EUR" and self.tax_currency is None and not expense:
            # (a supplier's invoice that omits it is its mistake, and is still the bill the accountant must book)
            raise ValueError(f"currency {self.currency}: {who} must also state the VAT in euro (Art. 230 VAT "
                             f"Directive); add \"tax_currency\": \"EUR\" and \"tax_exchange_rate\" (euro per 1 "
                             f"{self.currency})")

    def _amounts(self, *, check: bool) -> None:
        """The totals, computed once (render and the PDF reuse them); with CHECK, refuse before anything renders
        amounts that would make a valid-looking but wrong booking."""
        from ublexport import totals  # totals.py imports this module

        try:
            computed = totals.summarise(self)
        except (DecimalException, InputError) as exc:
            if not check:  # a draft, a quote, a stored document: the totals are computed when they are needed
                return
            if isinstance(exc, InputError):
                raise ValueError(str(exc)) from None
            # the inputs are bounded; a last guard, so that no traceback reaches a user
            raise ValueError("the amounts are too large to compute; check quantities and prices") from None
        self._totals = computed
        if not check:
            return
        kind = self.kind
        sales = kind in (DocumentKind.invoice, DocumentKind.proforma, DocumentKind.credit_note)
        if sales:
            self._standard_rates()  # first: a rate that is a typo (20 % in Belgium) is named as one
            self._line_discounts(computed.lines)
        # A discount at a rate no line has takes off VAT that was never charged (a negative VAT breakdown). A cost
        # charged with a supply (shipping, packing, insurance, travel) is part of its taxable amount and follows its
        # VAT (Art. 78 VAT Directive; art. 26 WBTW, art. 8 Wet OB): on a sales document a charge at a rate no line
        # has is refused too. A supplier's invoice (an expense) is recorded as it came, its charges as it taxed them.
        lines = {line.vat_key for line in self.lines}
        taxed = lines | {ac.vat_key for ac in self.allowances_charges if ac.charge}
        for i, ac in enumerate(self.allowances_charges):
            if ac.charge and sales and ac.vat_key not in lines:
                raise ValueError(f"allowances_charges[{i}]: a charge at VAT {_vat_label(ac.vat_key)}, but no line has "
                                 "that category and rate; a cost charged with a supply (shipping, packing, "
                                 "travel) follows the VAT of what it comes with (Art. 78 VAT Directive): give it the "
                                 "category and rate of those lines (one charge per rate, split in proportion, when "
                                 "they have several); a separate service is a line of its own")
            if not ac.charge and ac.vat_key not in taxed:
                raise ValueError(f"allowances_charges[{i}]: a discount at VAT {_vat_label(ac.vat_key)}, but no line "
                                 "has that category and rate; give it the category and rate of the lines it "
                                 "discounts")
        for group in computed.vat_groups:
            if group.taxable < 0 <= group.lines_taxable:
                raise ValueError(f"allowances_charges: the discounts at VAT {_vat_label((group.category, group.rate))}"
                                 f" take off more than the lines at that rate ({group.lines_taxable}); a discount "
                                 "cannot exceed what it discounts")
        total = computed.tax_exclusive
        if self.is_credit and total < 0:
            raise ValueError(f"lines: this credit note totals {total} before VAT; a credit note's amounts are "
                             "positive: it credits by being a credit note; write quantity 1, not -1")
        if kind in (DocumentKind.invoice, DocumentKind.proforma) and total < 0:
            remedy = ("make it a credit note (kind credit_note) with positive amounts" if kind == DocumentKind.invoice
                      else "a proforma announces an invoice; credit with a credit note instead")
            raise ValueError(f"lines: this {kind.value} totals {total} before VAT; {remedy}")
        unit = ROUNDING_UNITS.get(self.currency, ONE)
        if sales and abs(self.rounding_amount) >= unit:  # a supplier's invoice is recorded as it came
            raise ValueError(f"rounding_amount: {self.rounding_amount} is no rounding: the rounding of the amount due "
                             f"(BT-114) is less than {unit} {self.currency} either way, and the accountant books it "
                             "on the rounding account; a discount or surcharge is an allowance or charge "
                             "(allowances_charges), a payment received before is prepaid_amount")
        if sales and computed.payable < 0:
            name = kind.value.replace("_", " ")
            if self.prepaid_amount > computed.tax_inclusive:
                raise ValueError(f"prepaid_amount: {self.prepaid_amount} is more than the {name}'s total "
                                 f"{computed.tax_inclusive}, which leaves {computed.payable} due; an amount due cannot "
                                 "be negative: refund the overpayment with a credit note")
            raise ValueError(f"rounding_amount: {self.rounding_amount} with prepaid_amount {self.prepaid_amount} "
                             f"leaves {computed.payable} due of the {name}'s total {computed.tax_inclusive}; an amount "
                             "due cannot be negative: leave the rounding out when nothing is left to pay")
        if (kind == DocumentKind.invoice and self.preceding_invoices and self.prepaid_amount > 0
                and not any(line.net < 0 for line in computed.lines)):
            self._advance_paid_twice()
        # Expenses are excepted: a supplier's negative invoice is booked as the supplier sent it (Peppol allows it),
        # and a supplier's invoice is recorded as it came, with or without a due date.
        if (kind in (DocumentKind.invoice, DocumentKind.proforma) and computed.payable > 0
                and self.due_date is None and not (self.payment and self.payment.terms)):
            raise ValueError(f"due_date: {computed.payable} is due, so the {kind.value} needs a due date (due_date) "
                             "or payment terms (payment.terms) (BR-CO-25)")

    @staticmethod
    def _line_discounts(lines: Sequence[Any]) -> None:
        """A line's discounts (BG-27) take off part of what the line charges: never more (the line would credit
        the customer inside an invoice, silently), and never on a return or correction line (a negative quantity
        or price), where a discount adds to what is refunded instead of reducing it. LINES: totals.LineTotals."""
        for i, lt in enumerate(lines):
            if not lt.allowances:
                continue
            if lt.gross < 0:
                raise ValueError(f"lines[{i}].allowances_charges: a discount on a line of {lt.gross} (a return or "
                                 f"correction) would refund {lt.allowances} more instead of less; give the net unit "
                                 "price after the discount instead (unit_price)")
            if lt.allowances > lt.gross + lt.charges:
                raise ValueError(f"lines[{i}].allowances_charges: discounts of {lt.allowances} on a line of "
                                 f"{lt.gross + lt.charges}: a line's discount cannot exceed the line; a credit is "
                                 "a line with a negative quantity, or a credit note")

    def _standard_rates(self) -> None:
        """A Belgian or Dutch seller charges VAT (S) on a domestic supply at its country's rates: 5.5 % or 20.123 % is
        a typo the accountant's books have no VAT code for. Only domestic supplies (the seller's country, by its VAT
        prefix, is the customer's VAT prefix, or without one its address's and the delivery's): abroad a seller may
        owe another state's VAT (OSS, a supply taxed where it takes place). A rate is right if it was in force on
        the issue date, the delivery date, the start or end of the period invoiced, or (a credit note repeats the
        invoice's rate) the date of an invoice it credits."""
        company, customer = self.company, self.customer
        country = company.vat_number[:2] if company.vat_number else company.address.country
        rates = STANDARD_RATES.get(country)
        if rates is None or customer is None:
            return
        if customer.vat_number:  # a buyer with a VAT number of the seller's country is taxed at home (Art. 138)
            domestic = customer.vat_number[:2] == country
        else:
            delivered = self.delivery.address if self.delivery is not None else None
            domestic = customer.invoice_address.country == country and (delivered is None
                                                                        or delivered.country == country)
        if not domestic:
            return
        dates = {self.issue_date}
        if self.delivery is not None and self.delivery.date is not None:
            dates.add(self.delivery.date)
        if self.period is not None:  # a continuous supply: the rate in force during the period it covers
            dates.update(day for day in (self.period.start, self.period.end) if day is not None)
        credited = [self.credited_invoice] if self.credited_invoice is not None else []
        if self.kind == DocumentKind.credit_note:  # every invoice it credits: the rates of their dates
            credited += self.preceding_invoices
        dates.update(ref.issue_date for ref in credited if ref.issue_date is not None)
        allowed = {rate for rate, (first, last) in rates.items() for day in dates
                   if (first is None or day >= first) and (last is None or day <= last)}
        items = [(f"lines[{i}]", line) for i, line in enumerate(self.lines)] + [
            (f"allowances_charges[{i}]", ac) for i, ac in enumerate(self.allowances_charges)]
        for where, item in items:
            if item.vat_category == VatCategory.S and item.vat_rate is not None and item.vat_rate not in allowed:
                said = ", ".join(str(rate) for rate in sorted(allowed))
                raise ValueError(f"{where}.vat_rate: {item.vat_rate} % is not a {COUNTRY_ADJECTIVE[country]} VAT rate "
                                 f"(category S: {said} %); a zero rate is category Z, E, AE, K, G or O")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Document:
        """A copy whose totals are computed afresh when they are asked for: the ones cached while this document
        was validated describe this document, not a copy with other lines."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._totals = None
        return copy

    @property
    def totals(self) -> Totals:
        """The EN 16931 totals, computed while the document was validated."""
        from ublexport import totals

        return totals.compute(self)

    def _vat_parties(self, *, leaves: bool) -> None:
        """Refuse early what the per-category VAT rules (BR-x-02, BR-O-11) would refuse after rendering."""
        categories = {item.vat_category for item in (*self.lines, *self.allowances_charges)}
        seller_vat, buyer = self.company.vat_number, self.customer
        seller_registered: str | None = None  # BT-32, which BR-S/Z/E/AE-02 take instead of a VAT number
        if self.kind == DocumentKind.expense:
            seller_vat, buyer = (self.supplier.vat_number if self.supplier else None), None
            seller_registered = self.supplier.tax_registration if self.supplier else None
        elif self.customer is not None and self.customer.tax_registration is not None:
            raise ValueError("customer.tax_registration: only the seller's tax registration goes on an invoice "
                             "(BT-32): give it for a supplier, on an expense")
        buyer_vat = self.company.vat_number if buyer is None else buyer.vat_number
        buyer_legal = (self.company.enterprise_number or self.company.kvk_number) if buyer is None else (
            buyer.enterprise_number or buyer.kvk_number or buyer.oin)
        if VatCategory.O in categories and len(categories) > 1:
            raise ValueError("category O (not subject to VAT) cannot be mixed with other VAT categories (BR-O-11); "
                             "costs paid in the customer's name and for their account (court fees, tourist tax) "
                             "next to taxed lines are exempt instead: category E, vat_rate 0, exemption_reason_code "
                             "VATEX-EU-79-C with its text (Art. 79(c) VAT Directive; art. 28, 3° WBTW)")
        rule = {VatCategory.S: "BR-S-02", VatCategory.Z: "BR-Z-02", VatCategory.E: "BR-E-02",
                VatCategory.AE: "BR-AE-02", VatCategory.K: "BR-IC-02", VatCategory.G: "BR-G-02"}
        for category in sorted(categories & rule.keys()):
            if not seller_vat and not (seller_registered and category in TAX_REGISTRATION_SERVES):
                also = (" or, for a supplier without one, its tax_registration" if category in TAX_REGISTRATION_SERVES
                        and self.kind == DocumentKind.expense else "")
                raise ValueError(f"VAT category {category} needs the seller's VAT number{also} ({rule[category]})")
        if VatCategory.AE in categories and not (buyer_vat or buyer_legal):
            raise ValueError("reverse charge (AE) needs the buyer's VAT or company number (BR-AE-02)")
        if VatCategory.AE in categories and leaves and self.customer is not None and not buyer_vat:
            # EN 16931 takes a company number instead; the law does not: the customer owes the VAT, and the invoice
            # names its VAT number (Art. 226(4) VAT Directive, art. 5 § 1 KB nr. 1, art. 35a lid 1 d Wet OB)
            raise ValueError("customer.vat_number: reverse charge (AE) makes the customer owe the VAT, so the invoice "
                             "must name its VAT number (Art. 226(4) VAT Directive); give it, or charge VAT (S)")
        if VatCategory.K in categories and not buyer_vat:
            raise ValueError("an intra-community supply (K) needs the buyer's VAT number (BR-IC-02)")
        if VatCategory.K in categories and seller_vat and buyer_vat and leaves:
            # Art. 138(1)(b) VAT Directive (art. 39bis WBTW, art. 9(2)(b) Wet OB), since the 2020 quick fixes: the
            # buyer is identified for VAT in another member state and gave that number; goods delivered abroad to
            # a buyer with a VAT number of the seller's own country are taxed there (S), and outside the EU is G.
            seller_country, buyer_country = _vat_country(seller_vat), _vat_country(buyer_vat)
            field = "customer.vat_number" if self.customer is not None else "company.vat_number"
            if buyer_country == seller_country:
                raise ValueError(
                    f"{field}: an intra-community supply (K) needs the buyer's VAT number of another EU member "
                    f"state, but {buyer_vat} is from {seller_country}, as the seller's is; use category S, or the "
                    "buyer's VAT number in the member state the goods go to")
            if buyer_country not in EU_VAT_COUNTRIES:
                raise ValueError(
                    f"{field}: an intra-community supply (K) goes to a buyer identified for VAT in an EU member "
                    f"state, and {buyer_vat} is not an EU VAT number; a supply outside the EU is an export (G)")
        if leaves and self.kind != DocumentKind.expense:
            self._destination(categories, _vat_country(buyer_vat) if buyer_vat else None)

    def _destination(self, categories: set[VatCategory], buyer_vat_country: str | None) -> None:
        """Where our goods go decides K and G: K leaves the seller's country for another member state, G leaves the
        EU (Art. 138 and 146 VAT Directive). The destination is the delivery address, else the buyer's address.
        Northern Ireland (a GB address, an XI VAT number) counts as the EU for goods. IGIC and IPSI (L, M) are
        charged by suppliers in the Canary Islands, Ceuta and Melilla, not by the company on its own invoices."""
        seller = self.company.address.country
        customer = self.customer
        address = self.delivery.address if self.delivery and self.delivery.address else (
            customer.invoice_address if customer else None)
        if address is None:
            return
        where = "delivery.address.country" if self.delivery and self.delivery.address else (
            "customer.invoice_address.country")
        destination = address.country
        in_eu = (destination in EU_VAT_COUNTRIES and not _outside_vat_area(address)) or (
            destination == "GB" and buyer_vat_country == "XI")
        if VatCategory.K in categories and destination in EU_VAT_COUNTRIES and _outside_vat_area(address):
            raise ValueError(f"{where}: {destination} {address.postal_code} is outside the EU VAT area (the Canary "
                             "Islands, Ceuta, Melilla, Åland, ...): goods sent there are an export (G), not an "
                             "intra-community supply (K)")
        if VatCategory.K in categories and (destination == seller or not in_eu):
            raise ValueError(f"{where}: an intra-community supply (K) is goods leaving {seller} for another EU "
                             f"member state, but they go to {destination}; give the delivery address in that "
                             "member state (delivery.address), or use S at home or G for an export outside the EU")
        if VatCategory.G in categories and in_eu:
            northern_ireland = destination == "GB" and buyer_vat_country == "XI"
            place = ("Northern Ireland (an XI VAT number), which counts as the EU for goods" if northern_ireland
                     else f"{destination}, a member state")
            raise ValueError(f"{where}: an export (G) leaves the EU, but the goods go to {place}; use K for another "
                             "member state, S at home")
        if seller != "ES" and categories & {VatCategory.L, VatCategory.M}:
            raise ValueError("vat_category: L and M (the Spanish regional IGIC and IPSI) are charged by suppliers in "
                             "the Canary Islands, Ceuta and Melilla, on their invoices (an expense), not by "
                             f"a company in {seller}")

    @property
    def counterparty(self) -> Party:
        party = self.supplier if self.kind == DocumentKind.expense else self.customer
        assert party is not None  # guaranteed by _consistent
        return party

    @property
    def is_credit(self) -> bool:
        """A credit note: our own (kind credit_note) or a supplier's (an expense marked credit_note). It goes as a
        UBL CreditNote with positive amounts, asks no payment of its buyer, and says "to be credited"."""
        return self.kind == DocumentKind.credit_note or bool(self.credit_note)

    @property
    def label(self) -> str:
        """How messages name this document: 'invoice 2026-001'."""
        return f"{self.kind.value.replace('_', ' ')} {self.number}"


EU_VAT_COUNTRIES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES)
"""The member states (and Northern Ireland for goods, XI) whose VAT numbers an intra-community supply goes to, as
python-stdnum lists them."""


# Territories of member states outside the EU VAT area (Art. 6 VAT Directive), by postal code: goods sent there are
# exported (G), not supplied within the EU (K). The Canary Islands, Ceuta and Melilla (ES), Åland (FI), Büsingen and
# Heligoland (DE), Livigno and Campione d'Italia (IT), Mount Athos (GR).
_OUTSIDE_VAT_AREA = {"ES": ("35", "38", "51", "52"), "FI": ("22",), "DE": ("78266", "27498"),
                     "IT": ("23041", "22060", "22061"), "GR": ("63086", "63087")}


def _outside_vat_area(address: Address) -> bool:
    prefixes = _OUTSIDE_VAT_AREA.get(address.country)
    postal = (address.postal_code or "").replace(" ", "").upper().removeprefix("AX-")
    return bool(prefixes and postal and postal.startswith(prefixes))


def _vat_country(vat: str) -> str:
    """ISO country of a VAT number: Greece's VAT prefix is EL."""
    return "GR" if vat[:2] == "EL" else vat[:2]


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _vat_label(key: tuple[VatCategory, Decimal | None]) -> str:
    category, rate = key
    return f"{category.value} {format(rate, 'f')} %" if rate is not None else category.value

