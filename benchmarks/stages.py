"""Section 1: the cost of every stage per document, next to bare Jinja2 / lxml / stdlib baselines, same run.

Every row times the same documents one call at a time (see timing.per_call). Inputs a row does not own are prepared
outside the timed region: the bare render gets plain dicts, the parsed-tree rows get trees, compose gets a
prepared document, so each row measures exactly what its name says.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from benchmarks import baseline
from benchmarks.timing import Stats, interleaved, once_ms, per_call
from ublexport import render as ub_render
from ublexport import xsd
from ublexport.model import Document
from ublexport.pipeline import PdfMode, Prepared, prepare
from ublexport.totals import compute, summarise
from ublexport.view import build, profile_for

SENDER = "ublexport-bench@example.com"
INBOX = "Yuki <acme.bench@yukiworks.example>"


@dataclass
class Row:
    """One line of the stage table. `stats` is None when the stage could not run (module not there yet)."""

    key: str
    label: str
    stats: Stats | None
    baseline: str | None = None  # key of the row (or sum of rows, "a+b") this one is compared with
    target_ms: float | None = None
    note: str = ""


@dataclass
class Section1:
    rows: list[Row] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def stats(self, key: str) -> Stats | None:
        for row in self.rows:
            if row.key == key:
                return row.stats
        return None

    def baseline_ms(self, spec: str) -> float | None:
        parts = [self.stats(k) for k in spec.split("+")]
        return None if any(p is None for p in parts) else sum(p.median for p in parts if p is not None)


class Compilations:
    """Counts XSD compilations and Jinja2 environments created while active: either is a per-process cost, so
    any count above zero during the timed loops is the 'compiled more than once' trap."""

    def __init__(self) -> None:
        self.schemas = 0
        self.environments = 0

    @contextlib.contextmanager
    def watch(self) -> Iterator[Compilations]:
        import jinja2
        from lxml import etree

        real_schema, real_init = etree.XMLSchema, jinja2.Environment.__init__

        def counting_schema(*args: Any, **kwargs: Any) -> Any:
            self.schemas += 1
            return real_schema(*args, **kwargs)

        def counting_init(env: Any, *args: Any, **kwargs: Any) -> None:
            self.environments += 1
            real_init(env, *args, **kwargs)

        etree.XMLSchema = counting_schema  # type: ignore[misc, assignment]
        jinja2.Environment.__init__ = counting_init  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            etree.XMLSchema = real_schema  # type: ignore[misc]
            jinja2.Environment.__init__ = real_init  # type: ignore[method-assign]


def _optional(module: str) -> tuple[Any, str]:
    """A module that may not have landed yet: (module, "") or (None, why)."""
    try:
        return importlib.import_module(module), ""
    except Exception as exc:  # ImportError, or a half-written package failing on import
        return None, f"not available yet ({type(exc).__name__}: {exc})"[:160]


def _first_use_costs() -> dict[str, float]:
    """What the per-process caches save: compiling both XSDs and building the template environment, cold."""
    xsd.schema.cache_clear()
    ub_render.template.cache_clear()
    ub_render.environment.cache_clear()
    costs = {"compile Invoice XSD": once_ms(lambda: xsd.schema("Invoice")),
             "compile CreditNote XSD": once_ms(lambda: xsd.schema("CreditNote")),
             "build template environment + compile the template": once_ms(
                 lambda: ub_render.template())}
    baseline.template.cache_clear()
    costs["compile the baseline template"] = once_ms(baseline.template)
    return {k: round(v, 1) for k, v in costs.items()}


def _bare_email(xml: bytes) -> bytes:
    """The stdlib floor for compose: headers, a short text body, the XML attached, flattened for SMTP."""
    import email.policy

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = SENDER, "acme.bench@yukiworks.example", "Invoice"
    msg["Message-ID"] = "<0123456789abcdef@example.com>"
    msg.set_content("Attached is one invoice as a UBL e-invoice.\n")
    msg.add_attachment(xml, maintype="application", subtype="xml", filename="invoice.xml")
    return msg.as_bytes()


def _forget_totals(document: Document) -> Document:
    """The document as if its totals had not been computed yet.

    Since 2026-12-06 (late) the model computes a document's totals while it is validated (it refuses negative
    credit notes and discounts larger than their lines), and render/prepare reuse them. The rows below were
    always timed from a validated Document; to keep them comparable with earlier runs, and honest, each timed
    render, view and prepare computes the totals again."""
    document.__pydantic_private__["_totals"] = None  # type: ignore[index]
    return document


def run(docs: list[Document], *, pdf_docs: int = 200, seed: int = 20260) -> Section1:
    """Time every stage over `docs`; rows whose module has not landed are reported as such."""
    out = Section1()
    out.facts["documents"] = len(docs)
    out.facts["lines per document"] = sorted({len(d.lines) for d in docs})
    out.facts["first-use costs (ms)"] = _first_use_costs()
    rules, rules_why = _optional("ublexport.rules")
    compose_mod, compose_why = _optional("ublexport.compose")

    # Inputs prepared outside every timed region.
    profiles = [profile_for(d) for d in docs]
    views = [build(d, profile=p) for d, p in zip(docs, profiles, strict=True)]
    dicts = [baseline.view_dict(v) for v in views]
    xmls = [ub_render.render_view(v) for v in views]
    trees = [xsd.parse(x) for x in xmls]
    out.facts["mean UBL size (bytes)"] = round(sum(map(len, xmls)) / len(xmls))
    mismatched = sum(baseline.canonical(x) != baseline.canonical(baseline.bare_render(d))
                     for x, d in zip(xmls[:100], dicts[:100], strict=True))
    out.facts["baseline XML == ublexport XML (C14N, first 100)"] = "yes" if not mismatched else f"{mismatched} differ"

    def xsd_bytes(x: bytes) -> None:
        assert not xsd.validate(xsd.parse(x))

    def render_xsd(i: int) -> None:
        assert not xsd.validate(xsd.parse(ub_render.render(_forget_totals(docs[i]), profile=profiles[i], pdf=None)))

    def full(i: int) -> Prepared:
        return prepare(_forget_totals(docs[i]), profile="peppol", pdf=PdfMode.none)

    indexes = list(range(len(docs)))
    baseline.schemas()
    # (key, label, function, items, baseline, target): timed together in interleaved rounds (timing.interleaved)
    cases: list[tuple[str, str, Callable[[Any], Any], Sequence[Any], str | None, float | None]] = [
        ("bare_jinja", "baseline: bare Jinja2 render (plain dicts, compiled once)", baseline.bare_render, dicts,
         None, None),
        ("bare_xsd", "baseline: bare lxml parse + XSD (bytes)", baseline.bare_xsd_bytes, xmls, None, None),
        ("bare_xsd_tree", "baseline: XSD on an already parsed tree", baseline.bare_xsd_tree,
         [t.getroot() for t in trees], None, None),
        ("totals", "  part: totals (totals.summarise)", summarise, docs, None, None),
        ("view", "  part: view.build (totals included)",
         lambda i: build(_forget_totals(docs[i]), profile=profiles[i]), indexes,
         None, None),
        ("template", "  part: templates only (render_view)", ub_render.render_view, views, "bare_jinja", None),
        ("parse", "  part: xsd.parse (safe parser)", xsd.parse, xmls, None, None),
        ("render", "render (no PDF: pdf=None)",
         lambda i: ub_render.render(_forget_totals(docs[i]), profile=profiles[i], pdf=None), indexes, "bare_jinja",
         None),
        ("xsd", "  part: XSD check of rendered bytes (parse + validate)", xsd_bytes, xmls, "bare_xsd", None),
        ("render_xsd", "render + XSD", render_xsd, indexes, "bare_jinja+bare_xsd", 0.5),
    ]
    if rules is not None:
        cases += [("rules", "  part: business rules on a parsed tree",
                   lambda i: rules.check(trees[i].getroot(), profiles[i]), indexes, None, None),
                  ("render_xsd_rules", "render + XSD + rules (pipeline.prepare, no PDF)", full, indexes,
                   "bare_jinja+bare_xsd", 1.0)]
    cases.append(("bare_email", "baseline: bare stdlib EmailMessage + flatten", _bare_email, xmls, None, None))
    if compose_mod is not None and rules is not None:
        # the first prepare of each document, before any row has seen them: every memo of the rules starts cold
        # (a plan per document shape, see ublexport.rules.restrictions), as in a fresh export process
        start = time.process_time()
        prepared = [full(i) for i in indexes]
        out.facts["prepare, first pass over every document (memos cold), mean ms"] = round(
            (time.process_time() - start) * 1000 / len(indexes), 3)
        recipient = compose_mod.parse_recipients(INBOX)[0]
        ids = [compose_mod.new_message_id(SENDER) for _ in indexes]

        def compose_flat(i: int) -> bytes:
            # a fresh Prepared each time: what a document's e-mails share (Prepared.letter) is part of the cost
            fresh = dataclasses.replace(prepared[i])
            msg = compose_mod.compose(fresh, recipient, sender=SENDER, message_id=ids[i])
            return bytes(compose_mod.message_bytes(msg))

        cases.append(("compose", "compose the e-mail + flatten to bytes", compose_flat, indexes, "bare_email", None))
        out.facts["mean e-mail size (bytes)"] = round(sum(len(compose_flat(i)) for i in indexes[:100]) / 100)
    watch = Compilations()
    with watch.watch():
        stats = interleaved({key: (fn, items) for key, _, fn, items, _, _ in cases})
    for key, label, _, _, base, target in cases:
        out.rows.append(Row(key, label, stats[key], baseline=base, target_ms=target))
    if rules is None or compose_mod is None:
        out.facts["not measured"] = rules_why or compose_why
    out.facts["XSD compilations during the timed loops"] = watch.schemas
    out.facts["Jinja2 environments built during the timed loops (baseline excluded)"] = watch.environments
    out.rows.append(_pdf_row(docs[:pdf_docs]))
    if rules is not None:
        out.facts["in an export worker process"] = in_worker(len(docs), seed)
    return out


def in_worker(count: int, seed: int) -> dict[str, Any]:
    """`prepare` and its two baselines timed again inside a worker process started as the export starts its own
    (export.worker_pool: with jemalloc when the system has it, see ublexport.allocator), where the export runs it.
    The allocator speeds the bare parse + XSD as well: the ratio shows what it changes relative to the issue's
    baselines, the median what it changes for an export."""
    from ublexport.export import worker_pool

    pool = worker_pool(1)
    try:
        return pool.submit(_time_in_this_process, count, seed).result()
    finally:
        pool.shutdown()


def _time_in_this_process(count: int, seed: int) -> dict[str, Any]:
    from benchmarks.corpus import documents
    from ublexport.allocator import in_use

    docs = list(documents(count, seed=seed))
    views = [build(d, profile=profile_for(d)) for d in docs]
    dicts = [baseline.view_dict(v) for v in views]
    xmls = [ub_render.render_view(v) for v in views]
    baseline.schemas()
    stats = interleaved({
        "bare_jinja": (baseline.bare_render, dicts),
        "bare_xsd": (baseline.bare_xsd_bytes, xmls),
        "prepare": (lambda d: prepare(_forget_totals(d), profile="peppol", pdf=PdfMode.none), docs),
    })
    bare = stats["bare_jinja"].median + stats["bare_xsd"].median
    return {"allocator": in_use(), "prepare median ms": round(stats["prepare"].median, 3),
            "bare_jinja+bare_xsd ms": round(bare, 3), "prepare vs bare_jinja+bare_xsd": round(
                stats["prepare"].median / bare, 2)}


def _pdf_row(docs: list[Document]) -> Row:
    """PDF generation is excluded from every row above (pdf=None); this is its own cost."""
    from ublexport.pdf import make_pdf

    totals = [compute(d) for d in docs]
    stats = per_call(lambda i: make_pdf(docs[i], totals[i]), list(range(len(docs))), warmup=5)
    return Row("pdf", "PDF generation (fpdf2), not in the rows above", stats,
               note=f"over the first {len(docs)} documents")

