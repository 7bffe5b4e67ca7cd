"""May this document leave? Pure decisions with a reason, so every refusal can name the document and why.

NumNum's rule, which ublexport follows: invoices, credit notes and proforma invoices only once sent to the
customer (status sent or paid); expenses always (they were received, not sent); quotes, drafts and cancelled
documents never. Validity is checked separately (ublexport.pipeline): an invalid document never leaves either.
"""

from __future__ import annotations

from dataclasses import dataclass

from ublexport.model import Document, DocumentKind, Status

SENT = frozenset({Status.sent, Status.paid})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def exportable(document: Document) -> Decision:
    kind, status = document.kind, document.status
    if kind == DocumentKind.quote:
        return Decision(False, "a quote is never exported; only invoices, credit notes, proformas and expenses")
    if status == Status.cancelled:
        return Decision(False, f"the {kind.value.replace('_', ' ')} is cancelled")
    if kind == DocumentKind.expense:
        return Decision(True, "expenses are always exported")
    if status == Status.draft:
        return Decision(False, "still a draft: only documents sent to the customer are exported")
    if status in SENT:
        return Decision(True, f"{status.value}")
    return Decision(False, f"status {status.value} is not exportable")


EXPENSES_SKIPPED = ("the accountant set that this company's expenses are not forwarded (they reach Yuki another "
                    "way, e.g. through Peppol)")
"""Why an expense is not sent (store.catalog.skips_expenses): by the rule, nor by hand to one of the company's
inboxes."""


def earlier_version_note(received: int, version: int, details_only: bool, label: str, *, inbox: str = "this inbox",
                         on_purpose: str = "give --resend to send this version on purpose") -> str:
    """Why a later version of a document is not sent to an inbox that received an earlier one (ledger.EarlierVersion):
    Yuki files a document by its number. INBOX: which (the rule names them); ON_PURPOSE: how to send it anyway, as
    the command at hand does it."""
    if details_only:
        return (f"{inbox} already received version {received} of this document; version {version} differs from "
                "it only in the company's details (address, phone, e-mail, account, legal mention) or its PDF, so "
                f"the accountant has the invoice as issued: not sent again ({on_purpose})")
    return (f"{inbox} already received version {received} of {label}, and version {version} changes the "
            f"document itself: Yuki would book {label} a second time, or set the copy aside as a duplicate, so it is "
            "not sent again. A sent invoice is corrected with a credit note (the edit stays in the ledger); tell "
            f"the accountant, or {on_purpose}")
