"""Schema + business rules on one UBL document: the gate every document passes before it may leave."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ublexport import xsd
from ublexport.errors import InvalidDocumentError, Violation

PEPPOL_MARK = "urn:fdc:peppol.eu:2017:poacc:billing:3.0"
NLCIUS_MARK = "urn:fdc:nen.nl:nlcius"


@dataclass
class Report:
    source: str
    root: str | None
    profile: str
    violations: list[Violation] = field(default_factory=list)

    @property
    def fatal(self) -> list[Violation]:
        return [v for v in self.violations if v.flag == "fatal"]

    @property
    def valid(self) -> bool:
        return not self.fatal

    def as_dict(self) -> dict[str, object]:
        return {"file": self.source, "root": self.root, "profile": self.profile, "valid": self.valid,
                "fatal": len(self.fatal), "warnings": len(self.violations) - len(self.fatal),
                "violations": [v.as_dict() for v in self.violations]}

    def raise_if_invalid(self) -> None:
        if not self.valid:
            raise InvalidDocumentError(self.source, self.violations)


def profile_of(tree: etree._ElementTree) -> str:
    """The rule set a document claims through its CustomizationID: Peppol, NLCIUS, else plain EN 16931."""
    root = tree.getroot()
    customization = root.findtext("{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
                                  "CustomizationID") or ""
    if NLCIUS_MARK in customization:
        return "nlcius"
    if PEPPOL_MARK in customization:
        return "peppol"
    return "en16931"


def check_tree(tree: etree._ElementTree, source: str, profile: str | None = None) -> Report:
    """XSD first; the business rules only run on a schema-valid tree (they assume its structure)."""
    from ublexport import rules

    violations = xsd.validate(tree)
    chosen = profile or profile_of(tree)
    report = Report(source, xsd.root_name(tree), chosen, violations)
    if not violations:
        report.violations.extend(rules.check(tree.getroot(), chosen))
    return report


def check_bytes(data: bytes, source: str, profile: str | None = None) -> Report:
    return check_tree(xsd.parse(data, source), source, profile)
