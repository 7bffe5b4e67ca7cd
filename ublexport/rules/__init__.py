"""Business rules for UBL 2.1 invoices and credit notes, re-implemented from the official Schematron.

``check(root, profile)`` returns every violated rule as a :class:`~ublexport.errors.Violation`:

- ``en16931``: CEN/TC 434 EN 16931 rules (BR-*, BR-CO-*, BR-DEC-*, per VAT category, BR-CL-*).
- ``peppol``: EN 16931 + Peppol BIS Billing 3.0.21 (PEPPOL-EN16931-*, PEPPOL-COMMON-*; and 3.1.0's mandatory
  cardinalities PEPPOL-EN16931-R140 .. R276) + the national rules NO-R-*, DK-R-*, IT-R-*, SE-R-*, GR-R-*/GR-S-*, IS-R-*
  and NL-R-* (Norwegian, Danish, Italian, Swedish, Greek, Icelandic and Dutch suppliers).
- ``nlcius``: EN 16931 + NLCIUS / SI-UBL 2.0 (BR-NL-*).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ublexport.errors import Violation
from ublexport.rules import (  # noqa: F401  (register the rules)
    cardinality,
    codelists,
    core,
    national,
    national_more,
    nl,
    nlcius,
    peppol,
    restrictions,
    syntax,
    totals,
    vat,
)
from ublexport.rules._doc import CREDITNOTE, INVOICE, Doc, clear_caches, location
from ublexport.rules.registry import BY_ID, RULES, Rule

PROFILES = ("peppol", "en16931", "nlcius")

_FAMILIES = {
    "en16931": ("en16931",),
    "peppol": ("en16931", "peppol", "nl"),
    "nlcius": ("en16931", "nlcius"),
}

__all__ = ["BY_ID", "PROFILES", "Rule", "check", "rules_for"]


def rules_for(profile: str) -> list[Rule]:
    """The rules a profile applies, in evaluation order."""
    try:
        families = _FAMILIES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}") from None
    return [r for family in families for r in RULES[family]]


def check(root: Any, profile: str = "peppol") -> list[Violation]:
    """Check a parsed Invoice or CreditNote against the rules of ``profile``; never raises on a parsed tree."""
    plan = _plan(profile)
    if hasattr(root, "getroot"):
        root = root.getroot()
    if not isinstance(root, etree._Element) or root.tag not in (INVOICE, CREDITNOTE):
        tag = getattr(root, "tag", type(root).__name__)
        return [
            Violation(
                "UBL-ROOT",
                "fatal",
                f"The document element must be a UBL 2.1 Invoice or CreditNote, not {tag}",
                "/",
                getattr(root, "sourceline", None),
            )
        ]
    clear_caches(active=True)
    try:
        return _run(Doc(root), plan)
    finally:
        clear_caches()


# One step of a check: (needs, check, rule), the rule's fields unpacked once per profile rather than read from the
# frozen dataclass ~300 times a check. Consecutive rules with the same guard (``when``) form one block, whose guard
# is asked once: the seventy-odd rules of the VAT category families share one guard per category, and in a typical
# document all but one or two of those blocks are skipped with a single call each.
_Step = tuple[tuple[str, ...], Any, Rule]
_Block = tuple[Any, list[_Step]]
_PLANS: dict[str, tuple[int, list[_Block]]] = {}


def _plan(profile: str) -> list[_Block]:
    """The steps of ``rules_for(profile)`` in blocks, memoised (and rebuilt should a rule be registered later)."""
    known = _PLANS.get(profile)
    if known is None or known[0] != len(BY_ID):
        blocks: list[_Block] = []
        for r in rules_for(profile):
            if not blocks or blocks[-1][0] is not r.when:
                blocks.append((r.when, []))
            blocks[-1][1].append((r.needs, r.check, r))
        known = _PLANS[profile] = (len(BY_ID), blocks)
    return known[1]


def _run(doc: Doc, plan: list[_Block]) -> list[Violation]:
    root = doc.root
    out: list[Violation] = []
    present = doc.index  # tag -> elements: ``tag in present`` is doc.has(tag), without the call
    for when, steps in plan:
        if when is not None:
            try:
                if not when(doc):
                    continue
            except Exception:  # a guard that cannot decide leaves it to its rules, each on its own
                pass
        for needs, rule_check, entry in steps:
            if needs:
                for tag in needs:
                    if tag in present:
                        break
                else:
                    continue  # none of the elements the rule looks at is present: it cannot fire
            try:
                for el in rule_check(doc):
                    out.append(Violation(entry.id, entry.flag, entry.message, location(el), el.sourceline))
            except Exception as exc:  # a rule must never take the whole check down
                out.append(
                    Violation(
                        entry.id,
                        entry.flag,
                        f"{entry.message} (could not be evaluated: {exc!r})",
                        location(root),
                        root.sourceline,
                    )
                )
    return out
