"""What `config check` reports: one Finding per step asked (of the SMTP server, of the ledger), in one vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OK, WARNING, FAILED, INFO = "ok", "warning", "FAILED", "info"


@dataclass(frozen=True)
class Finding:
    check: str
    result: str  # OK, WARNING, FAILED or INFO
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "result": self.result.lower(), "detail": self.detail}


def failed(findings: Sequence[Finding]) -> bool:
    return any(f.result == FAILED for f in findings)
