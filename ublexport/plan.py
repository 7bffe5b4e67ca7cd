"""What an export will do, decided before anything is sent: which documents go and which are refused, and why.

`plan` is cheap (load, filter, policy) so it can be printed first. It keeps the first `keep` documents loaded and
the others as one packed buffer (see CompactItems), so a year of documents needs no more memory than a month.
`prepare_item` renders and validates one item just before it is sent (`ublexport.export.run`), on the event loop or
in a worker process (`prepare_in_worker`); `plan(..., prepare_now=True)` does it for every item at once.
"""

from __future__ import annotations

import array
import bisect
import datetime as dt
import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ublexport.errors import InputError, InvalidDocumentError, NotExportableError, Violation
from ublexport.loader import load_document, read_documents
from ublexport.model import Document, Status
from ublexport.pipeline import PdfMode, Prepared, prepare
from ublexport.policy import exportable
from ublexport.record import Record, document_key

WITHHELD = (Status.draft, Status.cancelled)  # given with the number of a going document: a conflict

# PlanItem.refusal: why a document was refused, which decides the exit code
POLICY, INVALID, INPUT = "policy", "invalid", "input"
DUPLICATE = "duplicate"  # the same document, same content, given earlier in the same export: goes once


@dataclass(frozen=True)
class Filters:
    kinds: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    since: dt.date | None = None
    until: dt.date | None = None
    numbers: frozenset[str] = frozenset()

    def matches(self, document: Document) -> bool:
        if self.kinds and document.kind.value not in self.kinds:
            return False
        if self.statuses and document.status.value not in self.statuses:
            return False
        if self.since and document.issue_date < self.since:
            return False
        if self.until and document.issue_date > self.until:
            return False
        return not (self.numbers and document.number not in self.numbers)


_SEP = "\x1f"  # unit separator: cannot occur in a kind, status or date; the number comes last and may hold anything


@dataclass(frozen=True, slots=True)
class Summary:
    """What the plan shows of a document; kept when the document itself is dropped to bound memory."""

    kind: str
    number: str
    status: str
    issue_date: dt.date

    @classmethod
    def of(cls, document: Document) -> Summary:
        return cls(document.kind.value, document.number, document.status.value, document.issue_date)

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.number}"  # as Document.label

    def pack(self) -> str:
        """One string instead of four objects: a year-end batch keeps tens of thousands of these."""
        return _SEP.join((self.kind, self.status, self.issue_date.isoformat(), self.number))

    @classmethod
    def unpack(cls, packed: str) -> Summary:
        kind, status, issue_date, number = packed.split(_SEP, 3)
        return cls(kind, number, status, dt.date.fromisoformat(issue_date))


@dataclass(slots=True)
class PlanItem:
    source: str
    document: Document | None  # None when unreadable, or dropped after planning (reloaded from `source` by run)
    state: str  # "go" | "refused"
    reason: str
    refusal: str | None = None  # POLICY | INVALID | INPUT when refused
    violations: Sequence[Violation] = ()
    prepared: Prepared | None = None
    packed: str | None = None  # Summary.pack() of the document, None when it could not be read
    order: int = 0  # position in the plan: results are reported in this order
    # whose document it is (a plan over several companies' folders says so); interned: one string per company,
    # not per document, in a year-end batch
    company: str = ""

    def __post_init__(self) -> None:
        if self.packed is None and self.document is not None:
            self.packed = Summary.of(self.document).pack()
        if not self.company and self.document is not None:
            self.company = sys.intern(self.document.company.name)

    @property
    def summary(self) -> Summary | None:
        return Summary.unpack(self.packed) if self.packed is not None else None

    @property
    def label(self) -> str:
        summary = self.summary
        return summary.label if summary else Path(self.source).name

    def as_dict(self) -> dict[str, object]:
        doc = self.summary
        return {"file": self.source, "document": self.label, "kind": doc.kind if doc else None,
                "number": doc.number if doc else None, "status": doc.status if doc else None,
                "issue_date": doc.issue_date.isoformat() if doc else None, "decision": self.state,
                "reason": self.reason, "refusal": self.refusal,
                "violations": [v.as_dict() for v in self.violations]}


class CompactItems:
    """Going documents beyond the plan's `keep`, packed into one growing buffer: no Python object per document.

    A year-end plan of 20,000 documents would otherwise keep 20,000 small objects, allocated between the
    temporaries of loading each document, and that scatter alone made the resident memory grow by a kilobyte
    per document. An item becomes a PlanItem again only while it is being exported."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array.array("Q")
        self.withdrawn: set[int] = set()  # orders taken back after planning (Plan.withdraw): no longer going

    def append(self, item: PlanItem) -> None:
        # NUL cannot occur in a path, a reason of ours or a packed summary (the model refuses control characters)
        entry = "\0".join((str(item.order), item.source, item.reason, item.packed or ""))
        self._data += entry.encode("utf-8", "surrogateescape")
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def __iter__(self) -> Iterator[PlanItem]:
        """The items still going, in plan order."""
        return (item for n in range(len(self._ends)) if (item := self[n]).order not in self.withdrawn)

    @property
    def going(self) -> int:
        return len(self._ends) - len(self.withdrawn)

    def __getitem__(self, n: int) -> PlanItem:
        """The n-th item (plan order): for finding one by its order with bisect."""
        start = self._ends[n - 1] if n else 0
        order, source, reason, packed = bytes(self._data[start:self._ends[n]]).decode(
            "utf-8", "surrogateescape").split("\0", 3)
        return PlanItem(source, None, "go", reason, packed=packed or None, order=int(order))


@dataclass
class Plan:
    kept: list[PlanItem]  # refusals, and the first `keep` going documents, in file order
    filtered_out: int = 0
    pdf: PdfMode = PdfMode.embed
    profile: str = "peppol"
    compact: CompactItems = field(default_factory=CompactItems)  # the other going documents
    companies: set[str] = field(default_factory=set)  # the names of the companies whose documents were read

    @property
    def items(self) -> list[PlanItem]:
        """Every selected document (and unreadable file) in file order; builds the compact ones anew."""
        return sorted([*self.kept, *self.compact], key=lambda i: i.order)

    def iter_going(self) -> Iterator[PlanItem]:
        """The going documents in file order, one at a time (the compact ones built as they come)."""
        compact = iter(self.compact)
        pending = next(compact, None)
        for item in self.kept:
            while pending is not None and pending.order < item.order:
                yield pending
                pending = next(compact, None)
            if item.state == "go":
                yield item
        while pending is not None:
            yield pending
            pending = next(compact, None)

    @property
    def going(self) -> list[PlanItem]:
        return list(self.iter_going())

    @property
    def refused(self) -> list[PlanItem]:
        return [i for i in self.kept if i.state == "refused"]

    @property
    def going_count(self) -> int:
        return sum(i.state == "go" for i in self.kept) + self.compact.going

    def withdraw(self, order: int, reason: str, refusal: str) -> None:
        """Refuse an item that was going when it was planned (a conflict found later in the plan)."""
        at = bisect.bisect_left(self.kept, order, key=lambda i: i.order)
        if at < len(self.kept) and self.kept[at].order == order:
            item = self.kept[at]
        else:
            item = self.compact[bisect.bisect_left(self.compact, order, key=lambda i: i.order)]
            self.compact.withdrawn.add(order)
            self.kept.insert(at, item)
        item.state, item.reason, item.refusal, item.document = "refused", reason, refusal, None

    def total_steps(self, inboxes: int) -> int:
        """Results `run` will produce at most: one per going document and inbox, one per refusal."""
        return self.going_count * inboxes + len(self.refused)

    def as_dict(self) -> dict[str, object]:
        return {"going": self.going_count, "refused": len(self.refused), "filtered_out": self.filtered_out,
                "pdf": self.pdf.value, "profile": self.profile, "documents": [i.as_dict() for i in self.items]}


def prepare_item(item: PlanItem, profile: str, pdf: PdfMode, *, ship: bool = False) -> None:
    """Render and validate one document; on failure the item becomes a refusal with the evidence. With `ship`,
    also compose what its e-mails share and what the ledger records (Prepared.ship), before it crosses to the
    sending process."""
    try:
        document = item.document or _reload(item)
        prepared = prepare(document, profile=profile, pdf=pdf, source=item.source)
        item.prepared = prepared.ship() if ship else prepared
    except InvalidDocumentError as exc:
        item.state, item.refusal, item.violations = "refused", INVALID, exc.violations
        fatal = [v for v in exc.violations if v.flag == "fatal"]
        item.reason = f"not a valid document ({len(fatal)} fatal): " + "; ".join(str(v) for v in fatal[:3])
    except InputError as exc:
        item.state, item.refusal, item.reason = "refused", INPUT, str(exc)
    except NotExportableError as exc:
        item.state, item.refusal, item.reason = "refused", POLICY, str(exc)


@dataclass(frozen=True)
class Preparation:
    """What preparing one item produced, as it crosses back from a worker process."""

    prepared: Prepared | None
    state: str
    refusal: str | None
    reason: str
    violations: Sequence[Violation]

    def apply(self, item: PlanItem) -> None:
        item.prepared = self.prepared
        if self.state != item.state:  # refused: take the evidence; else keep the plan's own strings, not the
            item.state, item.refusal = self.state, self.refusal  # unpickled copies (a batch keeps every item)
            item.reason, item.violations = self.reason, self.violations


def prepare_in_worker(source: str, packed: str | None, profile: str, pdf: PdfMode) -> Preparation:
    """Runs in a worker process: read the document again from its file (cheaper than pickling it over), render,
    validate; the same checks and refusals as `_prepare` on the event loop."""
    item = PlanItem(source, None, "go", "", packed=packed)
    prepare_item(item, profile, pdf, ship=True)
    return Preparation(item.prepared, item.state, item.refusal, item.reason, item.violations)


def prepare_many_in_worker(jobs: Sequence[tuple[str, str | None]], profile: str,
                           pdf: PdfMode) -> list[Preparation]:
    """`prepare_in_worker` for a chunk of (source, packed summary): one task, one result to send back."""
    return [prepare_in_worker(source, packed, profile, pdf) for source, packed in jobs]


def _reload(item: PlanItem) -> Document:
    """A document the plan dropped, read again just before it is rendered. The file may have changed since the
    plan was shown: what goes must still be the same document and still be exportable."""
    document = load_document(Path(item.source))
    planned = item.summary
    if planned is not None and document.label != planned.label:
        raise InputError(f"{item.source}: now holds {document.label}, not {planned.label} as when the export "
                         "was planned; run the export again")
    decision = exportable(document)
    if not decision:
        raise NotExportableError(document.label, f"changed since the export was planned: {decision.reason}")
    return document


KEEP_DOCUMENTS = 256


def same_document(document: Document) -> int:
    """Which documents of one export are the same one: its company and its key (kind and number; for an expense
    also the supplier), as the ledger keeps them apart (two companies may both have an invoice 2026-0001)."""
    company = document.company
    who = company.vat_number or company.enterprise_number or company.kvk_number or company.name
    return hash((who, document_key(document)))


def _fingerprint(document: Document) -> int:
    """The document's whole content (company, status and embedded files included) as 8 bytes."""
    digest = hashlib.blake2b(document.model_dump_json().encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _Copies:
    """Finds a document given twice in one export (the same file twice, or a copy of it): it would otherwise be
    sent twice in one run.

    Fingerprinting every document's whole content cost 0.1 ms each, a second of a 10,000-document plan spent
    before anything is sent. Two copies share their key (kind and number; for an expense also the supplier), so
    only a document whose key came before is fingerprinted, and so is the first document of that key (read back
    from the plan, or from its file when the plan dropped it). Two ints per document, not the document: the
    plan's memory stays flat."""

    def __init__(self, result: Plan) -> None:
        self.result = result
        self.first: dict[int, int] = {}  # hash of a going document's key -> its order (-1 once fingerprinted)
        self.prints: dict[int, int] = {}  # fingerprint -> order, for the documents of keys seen more than once
        self.orders: dict[int, list[int]] = {}  # key -> the orders of its documents, for keys seen more than once
        self.versions: dict[int, set[str]] = {}  # key -> the versions (ledger digests) of its documents, likewise

    def original(self, document: Document, order: int) -> int | None:
        """The order of an earlier going document with the same content, else None (and this one is remembered)."""
        key = same_document(document)
        first = self.first.get(key)
        if first is None:
            self.first[key] = order
            return None
        if first >= 0:  # the second of this key: the first one is fingerprinted now
            self.first[key] = -1
            self.orders[key], self.versions[key] = [first], set()
            earlier = self._document(first)
            if earlier is not None:
                self.versions[key].add(Record.of(earlier).digest)
                self.prints.setdefault(_fingerprint(earlier), first)
        self.orders[key].append(order)
        self.versions[key].add(Record.of(document).digest)
        found = self.prints.setdefault(_fingerprint(document), order)
        return None if found == order else found

    def orders_of(self, key: int) -> list[int]:
        """The orders of the going documents (and their copies) of this key hash."""
        if key in self.orders:
            return self.orders[key]
        first = self.first.get(key, -1)
        return [first] if first >= 0 else []

    def conflicts(self) -> Iterator[list[int]]:
        """The orders of the documents of each key given as two versions in this export (not merely with another
        status: sent and paid are one version)."""
        return (self.orders[key] for key, versions in self.versions.items() if len(versions) > 1)

    def item(self, order: int) -> PlanItem:
        """The plan's item of that order (kept or compact, each list in plan order)."""
        for items in (self.result.kept, self.result.compact):
            at = bisect.bisect_left(items, order, key=lambda i: i.order)
            if at < len(items) and items[at].order == order:
                return items[at]
        raise LookupError(f"no plan item {order}")

    def _document(self, order: int) -> Document | None:
        item = self.item(order)
        if item.document is not None:
            return item.document
        try:
            return load_document(Path(item.source))
        except InputError:  # changed or gone since: it is reported when its turn comes
            return None


def plan(paths: Sequence[Path], filters: Filters | None = None, *, pdf: PdfMode = PdfMode.embed,
         profile: str = "peppol", prepare_now: bool = False, keep: int = KEEP_DOCUMENTS,
         progress: Callable[[], object] | None = None) -> Plan:
    """Load every document under `paths`, keep those the filters select, decide with the export policy.

    Only the first `keep` going documents stay loaded (about 25 kB each); the others keep a summary and are read
    again when their turn comes, so exporting a year of 20,000 invoices needs no more memory than 2,000.
    `progress` is called once per file read (a year of documents takes seconds to read before anything is shown)."""
    filters = filters or Filters()
    result = Plan([], 0, pdf, profile)
    loaded = order = 0
    copies = _Copies(result)
    duplicates: list[tuple[PlanItem, int]] = []
    withheld: dict[int, tuple[str, str]] = {}  # key hash of a draft or cancelled document -> (file, status)

    def add(item: PlanItem) -> None:
        nonlocal order, loaded
        item.order, order = order, order + 1
        if item.company:
            result.companies.add(item.company)
        if item.state == "go" and (loaded >= keep and not prepare_now):
            result.compact.append(item)  # read again when its turn comes
            return
        if item.state == "go":
            loaded += 1
        elif item.packed is not None:
            item.document = None  # a refusal is reported from its summary
        result.kept.append(item)

    for path in paths:
        if not path.exists():
            add(PlanItem(str(path), None, "refused", "no such file or folder", INPUT))
            continue
        for file, data in read_documents([path]):  # one at a time: a folder may hold a year of documents
            if progress is not None:
                progress()
            try:
                if isinstance(data, InputError):
                    raise data
                document = load_document(file, data)
            except InputError as exc:
                add(PlanItem(str(file), None, "refused", str(exc), INPUT))
                continue
            if not filters.matches(document):
                result.filtered_out += 1
                continue
            decision = exportable(document)
            if not decision:
                add(PlanItem(str(file), document, "refused", decision.reason, POLICY))
                if document.status in WITHHELD:  # the same number may also be given as sent (see below)
                    withheld.setdefault(same_document(document), (Path(file).name, document.status.value))
                continue
            first = copies.original(document, order)
            if first is None:
                add(PlanItem(str(file), document, "go", decision.reason))
            else:
                item = PlanItem(str(file), document, "refused", "", DUPLICATE)
                add(item)
                duplicates.append((item, first))
    for item, first in duplicates:  # name the first copy of each, read back from the plan
        item.reason = f"the same document, same content, as {copies.item(first).source}: sent once, from there"
    for orders in copies.conflicts():  # one number, two contents: one of them is wrong, and neither goes
        items = [copies.item(o) for o in orders]
        files = ", ".join(Path(i.source).name for i in items)
        reason = (f"{items[0].label} is given {len(items)} times in this export with different content ({files}): "
                  "one invoice number, one invoice; export only the right file")
        for o in orders:
            result.withdraw(o, reason, INPUT)
    for key, (name, status) in withheld.items():  # sent in one file, cancelled (or a draft) in another
        orders = copies.orders_of(key)
        if orders:
            label = copies.item(orders[0]).label
            reason = (f"{label} is also given as {status} in this export ({name}): one of them is wrong, and a "
                      f"{status} invoice is not sent; export only the right file")
            for o in orders:
                result.withdraw(o, reason, INPUT)
    if prepare_now:
        for item in result.going:
            prepare_item(item, profile, pdf)
    return result
