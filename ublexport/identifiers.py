"""Company numbers, VAT numbers, IBANs and payment references, checked with python-stdnum.

Each function returns the canonical (compact) form or raises ValueError with a message a bookkeeper can act on;
pydantic turns that into an error naming the field. The checks are memoised: a company's own numbers and IBAN
come back in every one of its documents, and a year-end export reads thousands of them.
"""

from __future__ import annotations

import re
from functools import lru_cache

import email_validator
from stdnum import bic as std_bic
from stdnum import iban as std_iban
from stdnum import iso11649, vatin
from stdnum.be import ogm_vcs
from stdnum.be import vat as be_vat
from stdnum.exceptions import InvalidChecksum, ValidationError


def _explain(exc: ValidationError, what: str, example: str, source: str = "the official register") -> ValueError:
    """``source``: where a number with a wrong check digit can be copied again from (a typo is the usual cause)."""
    if isinstance(exc, InvalidChecksum):
        return ValueError(f"{what} has a wrong check digit; copy it again from {source}")
    return ValueError(f"{what} is not valid ({exc}); expected something like {example}")


@lru_cache(maxsize=4096)
def vat_number(value: str) -> str:
    """Any EU VAT number with its country prefix (BE0123456749, NL123456789B01), check digits verified; kept with
    the prefix as typed (a Greek GR stays GR here: the document's content, and so its version, is what was given;
    the UBL writes it as VIES knows it, see `vat_as_written`)."""
    try:
        compact = str(vatin.validate(value)).upper()
    except ValidationError as exc:
        compact_digits = re.sub(r"[\s.\-/]", "", value)
        for country in ("BE", "NL"):  # the number as written on letterheads, without its country prefix
            if compact_digits[:1].isdigit() and vatin.is_valid(country + compact_digits):
                raise ValueError(f"VAT number {value!r} lacks its country prefix: write "
                                 f"{vatin.compact(country + compact_digits).upper()}") from None
        raise _explain(exc, f"VAT number {value!r}", "BE0403019261 or NL004495445B01") from None
    return compact


def vat_as_written(vat: str) -> str:
    """VAT as the UBL and the PDF write it: a Greek number with EL, its VAT prefix, as VIES and the tax authorities
    know it (GR is Greece's country code): the accountant's books match a relation by the number VIES gives."""
    return "EL" + vat[2:] if vat.startswith("GR") else vat


@lru_cache(maxsize=4096)
def enterprise_number(value: str) -> str:
    """Belgian enterprise number (KBO/BCE), ten digits with the mod-97 check, e.g. 0403.019.261."""
    try:
        return str(be_vat.validate(value))
    except ValidationError as exc:
        raise _explain(exc, f"enterprise number {value!r}", "0403.019.261") from None


# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits, which no register issues
_KVK = re.compile(r"^[0-9]{8}$")


_OIN = re.compile(r"^[0-9]{20}$")


def oin_number(value: str) -> str:
    """Dutch OIN (Organisatie-identificatienummer) of a public body: twenty digits, the Peppol address (scheme
    0190) Dutch government bodies receive invoices on. Logius publishes no check digit: the format is all we check."""
    compact = re.sub(r"[\s.]", "", value)
    if not _OIN.match(compact):
        raise ValueError(f"OIN {value!r} must be exactly 20 digits, e.g. 00000001003214345000")
    return compact


def kvk_number(value: str) -> str:
    """Dutch KvK number: eight digits. The KvK publishes no check digit, so the format is all we can check."""
    compact = re.sub(r"[\s.]", "", value)
    if not _KVK.match(compact):
        raise ValueError(f"KvK number {value!r} must be exactly 8 digits, e.g. 12345678")
    return compact


@lru_cache(maxsize=4096)
def iban(value: str) -> str:
    try:
        return str(std_iban.validate(value))
    except ValidationError as exc:
        raise _explain(exc, f"IBAN {value!r}", "BE71096123456769", "the account holder's bank details") from None


@lru_cache(maxsize=4096)
def bic(value: str) -> str:
    try:
        return str(std_bic.validate(value))
    except ValidationError as exc:
        raise _explain(exc, f"BIC {value!r}", "GKCCBEBB") from None


_OGM = re.compile(r"[0-9]{3}/[0-9]{4}/[0-9]{5}")
_RF = re.compile(r"RF[0-9]{2}[0-9A-Z ]+")  # an ISO 11649 creditor reference, as printed or compact


def structured_reference(value: str) -> str:
    """A Belgian structured communication (+++123/4567/89012+++) is checked (mod 97) and kept in its printed
    form; an ISO 11649 creditor reference (RF18 5390 0754 7034) is checked (mod 97) and kept as given; any other
    free payment reference is kept as given. Twelve bare digits are not taken for one: a Dutch
    betalingskenmerk or a customer number looks the same, and rewriting what was given would change the stored
    document's version (and send it again)."""
    text = value.strip()
    if text.startswith(("+++", "***")) or _OGM.fullmatch(text):
        try:
            # ***123/4567/89002*** is the same communication as printed on some transfer forms; stdnum reads +++
            digits = str(ogm_vcs.validate(text.replace("*", "+")))
        except ValidationError as exc:
            raise _explain(exc, f"structured reference {value!r}", "+++010/8068/17183+++",
                           "the invoice or transfer form it belongs to") from None
        return f"+++{ogm_vcs.format(digits)}+++"
    if _RF.fullmatch(text):  # the European structured reference: a typo in it sends the payment back or astray
        try:
            iso11649.validate(text)
        except ValidationError as exc:
            raise _explain(exc, f"creditor reference {value!r} (ISO 11649)", "RF18 5390 0754 7034",
                           "the invoice or transfer form it belongs to") from None
    return text


@lru_cache(maxsize=4096)
def email_address(value: str) -> str:
    """An e-mail address becomes a private person's Peppol address (scheme EM): check its syntax (no DNS look-up,
    the same check as the recipients'); memoised, as email_validator is not free. Kept as written: normalising it
    would change the stored document's version, and every document of the company would be sent again."""
    try:
        email_validator.validate_email(value, check_deliverability=False, test_environment=True)
        return value
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"e-mail address {value!r} is not valid ({exc}); expected something like "
                         "name@example.be") from None


def enterprise_number_from_vat(vat: str) -> str | None:
    """A Belgian VAT number is the enterprise number with a BE prefix."""
    return vat[2:] if vat.startswith("BE") else None
