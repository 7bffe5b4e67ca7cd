"""Numbers and dates as the reader of the company's language writes them: 1.234,56 (nl), 1 234,56 (fr), 1,234.56
(en); 02-11-2026 (nl), 02/11/2026 (fr), 2026-11-02 (en).

The UBL carries plain decimals and ISO dates, for machines. What a person reads, the e-mail and the PDF, is written
the way a Belgian or Dutch bookkeeper writes it, and the same way in both: an e-mail saying 1.234,56 beside a PDF
saying 1234.56 looks like two different amounts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

# (thousands separator, decimal sign) per language
_SEPARATORS = {"nl": (".", ","), "fr": (" ", ","), "en": (",", ".")}
_DATES = {"nl": "%d-%m-%Y", "fr": "%d/%m/%Y"}


def decimal(text: str, language: str) -> str:
    """A plain decimal as the view writes it ('-1234.5', view.money/number/price), grouped by thousands and with the
    language's decimal sign; the digits themselves are never changed (no rounding happens here)."""
    thousands, point = _SEPARATORS.get(language, _SEPARATORS["en"])
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    groups = []
    while len(whole) > 3:
        whole, last = whole[:-3], whole[-3:]
        groups.append(last)
    grouped = thousands.join([whole, *reversed(groups)])
    return f"{sign}{grouped}{point if dot else ''}{fraction}"


def amount(value: Decimal, currency: str, language: str) -> str:
    """An amount with its currency, as a sentence writes it: EUR 1.234,56 (nl), 1 234,56 EUR (fr), EUR 1,234.56."""
    text = decimal(f"{value:.2f}", language)
    return f"{text} {currency}" if language == "fr" else f"{currency} {text}"


def date(value: dt.date, language: str) -> str:
    """A date as the language writes it; English keeps ISO 8601, unambiguous to every reader."""
    pattern = _DATES.get(language)
    return value.strftime(pattern) if pattern else value.isoformat()


def colon(language: str) -> str:
    """What follows a label: French sets a (no-break) space before its colon, "Date : 02/11/2026"; Dutch and English
    write "Datum: 02-11-2026"."""
    return "\u00a0: " if language == "fr" else ": "


def percent(text: str, language: str) -> str:
    """A rate as the language writes it: "21 %" in French (no-break space), "21%" in Dutch and English."""
    return f"{text}\u00a0%" if language == "fr" else f"{text}%"


NETHERLANDS = "nl-NL"
"""The wording key of a Dutch company writing Dutch: the words are Dutch Dutch, not Flemish (see wording)."""


def wording(company: Any) -> str:
    """Which words a company's e-mail and PDF use: its language, except that a company in the Netherlands writing
    Dutch gets the words a Dutch bookkeeper uses (betalingskenmerk, grondslag, inkoopfactuur, bijgaand) instead
    of the Belgian ones (mededeling, maatstaf van heffing, aankoopfactuur, in bijlage). Numbers and dates are the
    same in both (1.234,56; 02-11-2026), so `decimal`, `amount` and `date` take the language alone."""
    language = str(company.language.value if hasattr(company.language, "value") else company.language)
    return NETHERLANDS if language == "nl" and company.address.country == "NL" else language
