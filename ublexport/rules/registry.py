"""A tiny registry: ``@rule("BR-01", "fatal", "message", family)`` registers a check.

A check takes the indexed document and yields the elements that break the rule (one violation each). The
message is the official assertion text without its ``[ID]-`` prefix.

Speed: calling ~300 checks costs more than most of them do, so a rule may declare when it cannot fire and the
runner then skips it without calling it:

- ``needs``: element tags (Clark notation); the rule can only fire if at least one of them occurs in the document
  (e.g. BR-17 needs a cac:PayeeParty). The runner looks them up in the tag index it builds anyway.
- ``when``: a predicate on the document, e.g. "a VAT category K is used" for the BR-IC-* family or "the supplier
  is Dutch" for NL-R-*. Predicates are shared between the rules of a family and memoised per check; consecutive
  rules with the same predicate form one block, and the runner asks it once for the block.

  A predicate may also be a family's cheap verdict on the whole document: "no amount has more than two decimals"
  for BR-DEC-*, "every allowance and charge has an amount / a reason" for the dozen rules that report one without,
  "every identifier passes its checksum" for PEPPOL-COMMON-*. It must then only be false where none of its rules
  can fire: the rules still do their own checks whenever it is true.

A guard must never change the outcome, only avoid work: every rule has a test that makes it fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ublexport.rules._doc import Doc, Element

Check = Callable[[Doc], Iterable[Element]]
Guard = Callable[[Doc], bool]

FAMILIES = ("en16931", "peppol", "nl", "nlcius")


@dataclass(frozen=True)
class Rule:
    id: str
    flag: str
    message: str
    family: str
    check: Check
    needs: tuple[str, ...] = ()
    when: Guard | None = None


RULES: dict[str, list[Rule]] = {family: [] for family in FAMILIES}
BY_ID: dict[str, Rule] = {}


def register(
    rule_id: str,
    flag: str,
    message: str,
    family: str,
    check: Check,
    needs: tuple[str, ...] = (),
    when: Guard | None = None,
) -> Rule:
    if flag not in ("fatal", "warning"):
        raise ValueError(f"{rule_id}: flag must be fatal or warning, not {flag!r}")
    if rule_id in BY_ID:
        raise ValueError(f"rule {rule_id} registered twice")
    entry = Rule(rule_id, flag, message, family, check, tuple(needs), when)
    RULES[family].append(entry)
    BY_ID[rule_id] = entry
    return entry


def rule(
    rule_id: str,
    flag: str,
    message: str,
    family: str = "en16931",
    needs: tuple[str, ...] = (),
    when: Guard | None = None,
) -> Callable[[Check], Check]:
    """Register the decorated function as the check for ``rule_id`` (``needs``/``when``: see the module doc)."""

    def decorate(check: Check) -> Check:
        register(rule_id, flag, message, family, check, needs, when)
        return check

    return decorate
