"""Everything we render passes the business rules; the official examples pass `ublexport validate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from lxml import etree

from tests.core.docs import invoice
from tests.core.strategies import NL_COMPANY, NL_CUSTOMER, documents
from ublexport.cli import main
from ublexport.loader import document_paths, load_document
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "fixtures" / "ubl-examples"  # official examples, see its README
PEPPOL_EXAMPLES = sorted((REFERENCE / "peppol-3.0.21").glob("*.xml")) + sorted(
    (REFERENCE / "peppol-3.0.19-national").rglob("*.xml"))
CEN_EXAMPLES = sorted((REFERENCE / "cen-1.3.16").glob("*.*"))


@pytest.mark.parametrize("path", [p for p in document_paths([ROOT / "samples"]) if "quote" not in p.name],
                         ids=lambda p: p.name)
def test_every_sample_has_no_fatal(path: Path) -> None:
    prepared = prepare(load_document(path))
    assert prepared.report.fatal == []


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_have_no_fatal(data: dict[str, object]) -> None:
    doc = Document.model_validate(data)
    prepared = prepare(doc, pdf=PdfMode.none)  # prepare raises InvalidDocumentError on any fatal
    assert prepared.report.valid


def test_nlcius_profile_for_dutch_b2b() -> None:
    doc = Document.model_validate(invoice(company=NL_COMPANY, customer=NL_CUSTOMER))
    prepared = prepare(doc, profile="nlcius", pdf=PdfMode.none)
    root = etree.fromstring(prepared.xml)
    assert "nlcius" in (root.findtext("{*}CustomizationID") or "")
    assert prepared.report.profile == "nlcius" and prepared.report.valid


def test_dutch_credit_note_needs_the_credited_invoice() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="NL-R-001"):
        Document.model_validate(invoice(kind="credit_note", company=NL_COMPANY, customer=NL_CUSTOMER))


@pytest.mark.parametrize("path", PEPPOL_EXAMPLES, ids=lambda p: p.name)
def test_official_peppol_examples_pass_validate(path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["fatal"] == 0


@pytest.mark.parametrize("path", CEN_EXAMPLES, ids=lambda p: p.name)
def test_official_cen_examples_pass_validate_as_en16931(path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--profile", "en16931", "--json", str(path)])
    assert result.exit_code == 0, result.output


def test_validate_reports_every_violation_with_rule_ids(tmp_path: Path) -> None:
    tree = etree.parse(str(REFERENCE / "peppol-3.0.21" / "base-example.xml"))
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    tree.find("cbc:CustomizationID", ns).text = "urn:example:wrong"  # type: ignore[union-attr]
    tree.find(".//cbc:PayableAmount", ns).text = "1.00"  # type: ignore[union-attr]
    broken = tmp_path / "broken.xml"
    tree.write(str(broken))
    result = CliRunner().invoke(main, ["validate", "--profile", "peppol", "--json", str(broken)])
    assert result.exit_code == 3
    rules = {v["rule"] for v in json.loads(result.output)[0]["violations"]}
    assert {"PEPPOL-EN16931-R004", "BR-CO-16"} <= rules


def test_validate_refuses_non_xml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<Invoice><unclosed></Invoice>")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2 and "not well-formed" in result.output


def test_validate_does_not_resolve_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
                   '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&x;</Invoice>')
    result = CliRunner().invoke(main, ["validate", "--json", str(xxe)])
    assert "TOPSECRET" not in result.output and result.exit_code == 2  # refused as input: a DOCTYPE is never read
