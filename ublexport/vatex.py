"""The words for an exemption given only by its VATEX code, in the document's language.

An invoice must say in words why no VAT is charged (Art. 226(11) VAT Directive; art. 5 §1 KB nr. 1; art. 35a Wet
OB), and a margin scheme invoice must say which one in the Directive's own words (Art. 226(14)). A code alone
(VATEX-EU-F) reached the accountant's PDF as "VATEX-EU-F" and the UBL with no TaxExemptionReason. The CEF VATEX codes
of the EU are built from the Directive's article they cite (VATEX-EU-132-1I is Article 132(1)(i)), so the reference
is written out from the code; national codes (VATEX-FR-*) get no words of ours.
"""

from __future__ import annotations

import re

# Art. 226(14) VAT Directive, in its Dutch, French and English versions: the codes CEF gives the margin schemes (F,
# I, J). VATEX-EU-D (second-hand means of transport, the transitional arrangements) has no such words: a code.
MARGIN_SCHEMES: dict[str, dict[str, str]] = {
    "VATEX-EU-F": {"nl": "Bijzondere regeling — gebruikte goederen", "fr": "Régime particulier — biens d'occasion",
                   "en": "Margin scheme — Second-hand goods"},
    "VATEX-EU-I": {"nl": "Bijzondere regeling — kunstvoorwerpen", "fr": "Régime particulier — objets d'art",
                   "en": "Margin scheme — Works of art"},
    "VATEX-EU-J": {"nl": "Bijzondere regeling — voorwerpen voor verzamelingen en antiquiteiten",
                   "fr": "Régime particulier — objets de collection et d'antiquité",
                   "en": "Margin scheme — Collector's items and antiques"},
}

_ARTICLE = re.compile(r"VATEX-EU-(\d+)(?:-(\d+))?(?:-?([A-Z]+))?")


def words(code: str, language: str) -> str | None:
    """The mention for CODE in LANGUAGE (nl, fr, en), or None for a code that is not the EU's."""
    code = code.upper()
    if code in MARGIN_SCHEMES:
        return MARGIN_SCHEMES[code].get(language, MARGIN_SCHEMES[code]["en"])
    found = _ARTICLE.fullmatch(code)
    if found is None:
        return None
    article, paragraph, point = found[1], found[2], (found[3] or "").lower()
    if language == "nl":
        where = "".join((f"artikel {article}", f", lid {paragraph}" if paragraph else "",
                         f", onder {point})," if point else ""))
        return f"Vrijgesteld op grond van {where} van Richtlijn 2006/112/EG"
    if language == "fr":
        where = "".join((f"l'article {article}", f", paragraphe {paragraph}" if paragraph else "",
                         f", point {point})," if point else ""))
        return f"Exonération en vertu de {where} de la directive 2006/112/CE"
    where = f"Article {article}" + (f"({paragraph})" if paragraph else "") + (f"({point})" if point else "")
    return f"Exempt based on {where} of Council Directive 2006/112/EC"
