"""A tiny registry: ``@rule("BR-01", "fatal", "message", family)`` registers a check.

A check takes the indexed document and yields the elements that break the rule (one violation each). The
message is the official assertion text without its ``[ID]-`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ublexport.rules._doc import Doc, Element

Check = Callable[[Doc], Iterable[Element]]

FAMILIES = ("en16931", "peppol", "nl", "nlcius")


@dataclass(frozen=True)
class Rule:
    id: str
    flag: str
    message: str
    family: str
    check: Check


RULES: dict[str, list[Rule]] = {family: [] for family in FAMILIES}
BY_ID: dict[str, Rule] = {}


def register(rule_id: str, flag: str, message: str, family: str, check: Check) -> Rule:
    if flag not in ("fatal", "warning"):
        raise ValueError(f"{rule_id}: flag must be fatal or warning, not {flag!r}")
    if rule_id in BY_ID:
        raise ValueError(f"rule {rule_id} registered twice")
    entry = Rule(rule_id, flag, message, family, check)
    RULES[family].append(entry)
    BY_ID[rule_id] = entry
    return entry


def rule(rule_id: str, flag: str, message: str, family: str = "en16931") -> Callable[[Check], Check]:
    """Register the decorated function as the check for ``rule_id``."""

    def decorate(check: Check) -> Check:
        register(rule_id, flag, message, family, check)
        return check

    return decorate
