"""`ublexport render`, `validate` and `schema`: the document side, no e-mail involved."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ublexport.cli.common import (
    EXIT_INPUT,
    EXIT_INVALID,
    Command,
    counting,
    handle_errors,
    json_option,
    print_json,
    print_table,
)

PROFILE = click.option("--profile", type=click.Choice(["peppol", "nlcius"]), default="peppol", show_default=True,
                       help="Rule set: Peppol BIS Billing 3.0, or NLCIUS (SI-UBL 2.0) for Dutch B2B.")


@click.command(cls=Command)
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the XML here (default, and '-': standard output).")
@click.option("--pdf", "pdf_mode", type=click.Choice(["embed", "none"]), default="embed", show_default=True,
              help="Embed the document's PDF (generated when it has none) or leave it out.")
@PROFILE
@handle_errors
def render(document: Path, output: Path | None, pdf_mode: str, profile: str) -> None:
    """Render DOCUMENT (JSON) to UBL 2.1 and validate it; an invalid document is never written.

    A quote is refused (a quote never becomes an e-invoice); a draft renders as a preview."""
    from ublexport.loader import load_document
    from ublexport.model import Status
    from ublexport.pipeline import PdfMode, prepare
    from ublexport.view import WARNED_ON_PURPOSE

    doc = load_document(document)
    prepared = prepare(doc, profile=profile, pdf=PdfMode(pdf_mode), source=str(document))
    if output and str(output) != "-":
        output.write_bytes(prepared.xml)
        click.echo(f"{document}: {doc.label} -> {output} ({len(prepared.xml)} bytes, valid)", err=True)
    else:
        sys.stdout.buffer.write(prepared.xml)
    for warning in prepared.report.violations:
        if doc.received_ubl is not None:  # the supplier wrote it; it is passed on as received, not ours to explain
            click.echo(f"warning: {warning} (in the supplier's UBL, passed on unchanged)", err=True)
            continue
        why = WARNED_ON_PURPOSE.get(warning.rule)
        click.echo(f"warning: {warning}" + (f" (on purpose: {why})" if why else ""), err=True)
    for note in _identity_notes(doc):
        click.echo(f"note: {doc.label}: {note}", err=True)
    if prepared.report.profile == "peppol" and profile == "nlcius":  # view.profile_for
        click.echo(f"note: {doc.label} goes as Peppol BIS 3.0, not nlcius: NLCIUS is for a Dutch supplier's "
                   "invoice", err=True)
    elif prepared.report.profile != profile:  # view.profile_for: Peppol (and NLCIUS) cannot carry this document
        why = ("a proforma (type 325) is no Peppol document" if doc.kind.value == "proforma"
               else "its counterparty has no number Peppol can address (a private person, or a company "
                    "without an enterprise, KvK or VAT number of a Peppol scheme)")
        click.echo(f"note: {doc.label} goes as plain EN 16931, not {profile}: {why}", err=True)
    if doc.status in (Status.draft, Status.cancelled):
        click.echo(f"note: {doc.label} is {'a draft' if doc.status == Status.draft else 'cancelled'}: this is a "
                   "preview, it will not be exported", err=True)


def _identity_notes(document: Any) -> list[str]:
    """What goes but deserves a look. A Belgian VAT number is BE + the enterprise number, except for a member of a
    VAT unit (btw-eenheid), which is why a difference is accepted; but it is more often a typo, which puts another
    company's number in the Peppol address. A credit note's transfer without an account is not stated."""
    notes = []
    field = "supplier" if document.kind.value == "expense" else "customer"
    for where, party in (("company", document.company), (field, document.counterparty)):
        vat, enterprise = party.vat_number, party.enterprise_number
        if vat and enterprise and vat.startswith("BE") and vat[2:] != enterprise:
            notes.append(f"{where}.vat_number {vat} and {where}.enterprise_number {enterprise} are different "
                         "companies' numbers unless this is a member of a VAT unit (btw-eenheid); check both")
    pay = document.payment
    if (document.kind.value == "credit_note" and pay and not pay.iban and pay.means_code in ("30", "58")
            and "means_code" in pay.model_fields_set):  # the default 30 is no choice the user made
        notes.append(f"payment.means_code {pay.means_code}: a credit note transfers nothing without the customer's "
                     "account (payment.iban), so no transfer is stated (means code 1, or no PaymentMeans)")
    return notes


@click.command(cls=Command)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", type=click.Choice(["auto", "peppol", "en16931", "nlcius"]), default="auto",
              show_default=True, help="Rule set; auto reads the document's CustomizationID.")
@json_option
@handle_errors
def validate(files: tuple[Path, ...], profile: str, as_json: bool) -> None:
    """Check UBL FILES against the official UBL 2.1 XSD and the EN 16931 / Peppol BIS 3.0 rules.

    Exits 0 when every file is valid (warnings allowed), 3 when a UBL document is not, 2 when a file is no XML
    at all (a JSON document given by mistake)."""
    from ublexport.errors import InputError, Violation
    from ublexport.loader import MAX_FILE_BYTES as MAX_UBL_BYTES
    from ublexport.loader import read_regular
    from ublexport.validate import Report, check_bytes

    reports = []
    unreadable = set()
    with counting("validating", len(files), disable=as_json or len(files) < 2) as step:
        for path in files:
            try:  # a regular file of a sensible size: not /dev/zero, not a FIFO
                data = read_regular(path, MAX_UBL_BYTES, "validate")
            except InputError as exc:
                reports.append(Report(str(path), None, profile, [Violation("XML", "fatal", str(exc))]))
                unreadable.add(str(path))
                step()
                continue
            try:
                reports.append(check_bytes(data, str(path), None if profile == "auto" else profile))
            except InputError as exc:
                text = str(exc)
                if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
                    text = (f"{path} is JSON, not UBL: a document file is ublexport's input; `ublexport render "
                            f"{path}` renders it and checks the UBL it makes, and `ublexport export FOLDER "
                            "--dry-run` says whether it would go")
                reports.append(Report(str(path), None, profile, [Violation("XML", "fatal", text)]))
                unreadable.add(str(path))
            step()
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        rows = []
        for r in reports:
            state = "valid" if r.valid else "INVALID"
            rows.append((r.source, r.root or "-", r.profile, state, len(r.fatal), len(r.violations) - len(r.fatal)))
        print_table("Validation", ["file", "root", "profile", "result", "fatal", "warnings"], rows)
        for r in reports:
            for v in r.violations:
                click.echo(f"{r.source}: {v.flag}: {v}")
    if any(not r.valid and r.source not in unreadable for r in reports):
        sys.exit(EXIT_INVALID)
    if unreadable:
        sys.exit(EXIT_INPUT)


@click.command(cls=Command)
@click.option("--company", "which", flag_value="company", help="The schema of a company file instead.")
def schema(which: str | None) -> None:
    """Print the JSON Schema of a document file (or of a company file)."""
    from ublexport.loader import file_schema

    click.echo(json.dumps(file_schema(company=which == "company"), indent=2, ensure_ascii=False))
