"""Found by black-box tests as a Belgian bookkeeper and a Dutch accountant: messages that name the right field,
exit codes that say what happened, and forms of input a bookkeeper writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.core.test_review_model import SAMPLES, data, expense, line, refused
from ublexport.cli import main
from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"UBLEXPORT_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def test_a_structured_communication_written_with_stars_is_the_same_one() -> None:
    """***202/6000/00192*** is printed on some Belgian transfer forms: the same communication as +++...+++."""
    doc = Document.model_validate(data(payment={"reference": "***202/6000/00192***"}))
    assert doc.payment is not None and doc.payment.reference == "+++202/6000/00192+++"
    assert "structured reference '***202/6000/00193***' has a wrong check digit" in refused(
        data(payment={"reference": "***202/6000/00193***"}))


def test_an_expense_without_the_suppliers_iban_names_supplier_iban() -> None:
    values = expense(payment={"reference": "+++202/6000/00192+++"})
    values["supplier"].pop("iban")
    with pytest.raises(InputError) as info:
        prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert "supplier.iban (the supplier's account)" in str(info.value) and "company.iban" not in str(info.value)


def test_different_exemption_reasons_are_named_by_line_in_plain_text() -> None:
    message = refused(data(lines=[line(category="E", rate="0", exemption_reason="Art 44 §2 4°"),
                                  line(category="E", rate="0", exemption_reason="Art 44 §2 1°", name="Boek")]))
    assert "line 'Item': 'Art 44 §2 4°'; line 'Boek': 'Art 44 §2 1°'" in message and "None" not in message


def test_validate_gives_exit_2_for_a_file_that_is_no_xml_and_3_for_an_invalid_ubl(env: dict[str, str],
                                                                                  tmp_path: Path) -> None:
    json_file = SAMPLES / "01-invoice-be-be.json"
    result = invoke(env, "validate", str(json_file))
    assert result.exit_code == 2
    # a document file given by mistake is said to be one, with the command that checks it, not "Start tag expected"
    assert f"{json_file} is JSON, not UBL" in result.output and f"ublexport render {json_file}" in result.output
    assert "Start tag expected" not in result.output
    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello", encoding="utf-8")
    assert "not well-formed XML" in invoke(env, "validate", str(garbage)).output  # anything else: the parser's words
    broken = tmp_path / "broken.xml"
    base = (Path(__file__).resolve().parents[1] / "fixtures" / "ubl-examples" / "peppol-3.0.21" / "base-example.xml")
    broken.write_bytes(base.read_bytes().replace(b"<cbc:IssueDate>", b"<cbc:IssueDate>x", 1))
    assert invoke(env, "validate", str(broken), str(json_file)).exit_code == 3  # the worst wins
    assert invoke(env, "validate", str(base)).exit_code == 0


def test_a_received_ubl_that_is_no_xml_is_named_by_its_field_and_file(tmp_path: Path) -> None:
    values: dict[str, Any] = json.loads((SAMPLES / "08-expense.json").read_text(encoding="utf-8"))
    values = copy.deepcopy(values)
    (tmp_path / "supplier.pdf").write_bytes(b"%PDF-1.4 not a UBL")
    for name in ("company.json",):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    values["received_ubl"] = {"file": "supplier.pdf"}
    values.pop("pdf", None)
    path = tmp_path / "expense.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    from ublexport.loader import load_document

    with pytest.raises(InputError) as info:
        prepare(load_document(path), pdf=PdfMode.none)
    assert "received_ubl (supplier.pdf) is not a UBL document" in str(info.value)


def test_render_notes_that_a_cancelled_document_will_not_be_exported(env: dict[str, str], tmp_path: Path) -> None:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["status"], values["company"] = "cancelled", str(SAMPLES / "company.json")
    path = tmp_path / "cancelled.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    result = invoke(env, "render", str(path), "-o", str(tmp_path / "out.xml"))
    assert result.exit_code == 0
    assert "is cancelled: this is a preview, it will not be exported" in result.stderr


def test_contradictory_company_options_are_refused_and_change_nothing(env: dict[str, str]) -> None:
    assert invoke(env, "company", "add", str(SAMPLES / "company.json")).exit_code == 0
    both = invoke(env, "company", "set-inbox", "1", "a@yukiworks.nl", "--expenses", "b@x.nl", "--no-expenses")
    assert both.exit_code == 2 and "contradict" in both.stderr
    bad = invoke(env, "company", "set-inbox", "1", "not an address")
    assert bad.exit_code == 2 and "nothing was changed" in bad.stderr and "--to" not in bad.stderr
    assert invoke(env, "company", "set-inbox", "1", "a@yukiworks.nl").exit_code == 0
    off = invoke(env, "company", "auto-export", "1", "off", "--since", "2026-01-01")
    assert off.exit_code == 2 and "--since" in off.stderr
    shown = json.loads(invoke(env, "company", "list", "--json").stdout)
    assert shown[0]["inboxes"] == [{"address": "a@yukiworks.nl", "display_name": None}]
    assert shown[0]["expenses_inboxes"] is None and shown[0]["auto_export"] is False


def test_a_credit_note_asks_no_payment_unless_its_payment_block_says_so() -> None:
    """Not the seller's account as payee nor "Te betalen" in the e-mail: the customer is credited. A refund the
    payment block describes is carried as given."""
    from ublexport.compose import subject_and_body
    from ublexport.loader import load_document

    credit = load_document(SAMPLES / "06-credit-note.json")
    prepared = prepare(credit, pdf=PdfMode.none)
    assert b"PaymentMeans" not in prepared.xml and b"BE71096123456769" not in prepared.xml
    _, body = subject_and_body(prepared)
    assert "Te crediteren: EUR 78,65" in body and "Te betalen" not in body
    refund = credit.model_copy(update={"payment": credit.model_validate(
        {**credit.model_dump(mode="json"), "payment": {"iban": "NL91ABNA0417164300", "means_code": "30"}}).payment})
    assert b"<cbc:ID>NL91ABNA0417164300</cbc:ID>" in prepare(refund, pdf=PdfMode.none).xml


@pytest.mark.parametrize(("sample", "why"), [("07-proforma.json", "a proforma (type 325) is no Peppol document"),
                                             ("09-invoice-private-person.json", "no number Peppol can address")])
def test_render_says_when_a_document_goes_as_plain_en16931(env: dict[str, str], tmp_path: Path, sample: str,
                                                           why: str) -> None:
    result = invoke(env, "render", str(SAMPLES / sample), "--profile", "nlcius", "-o", str(tmp_path / "x.xml"))
    assert result.exit_code == 0 and "goes as plain EN 16931, not nlcius" in result.stderr and why in result.stderr
    plain = invoke(env, "render", str(SAMPLES / "01-invoice-be-be.json"), "-o", str(tmp_path / "y.xml"))
    assert "plain EN 16931" not in plain.stderr


def _credit(**changes: Any) -> Document:
    from ublexport.loader import load_document

    credit = load_document(SAMPLES / "06-credit-note.json")
    return Document.model_validate({**credit.model_dump(mode="json"), **changes})


def test_a_credit_note_payment_block_never_offers_the_sellers_account() -> None:
    """Black-box round 2: a reference or a means code alone put the seller's IBAN back as payee; a refund account
    was named after the seller. A reference or a due date goes with means code 1 (no account), terms alone as
    PaymentTerms, a refund to the customer's account under the customer's name."""
    with_reference = prepare(_credit(payment={"reference": "+++202/6000/00192+++"}, due_date="2026-12-02"),
                             pdf=PdfMode.none).xml
    assert b"BE71096123456769" not in with_reference and b"<cbc:PaymentMeansCode>1</cbc:PaymentMeansCode>" in \
        with_reference and b"<cbc:PaymentDueDate>2026-12-02</cbc:PaymentDueDate>" in with_reference
    terms = prepare(_credit(payment={"terms": "Verrekend met factuur 2026-0002"}), pdf=PdfMode.none).xml
    assert b"PaymentMeans" not in terms and b"<cbc:Note>Verrekend met factuur 2026-0002</cbc:Note>" in terms
    refund = prepare(_credit(payment={"iban": "NL91ABNA0417164300"}), pdf=PdfMode.none).xml
    assert b"<cbc:Name>Bakkerij Peeters NV</cbc:Name>" in refund and b"Atelier Dewaele" not in refund.split(
        b"PayeeFinancialAccount")[1]
    # invoicing systems write means code 30 on every document: without an account it is code 1, not a refusal
    written = prepare(_credit(payment={"means_code": "30", "reference": "+++202/6000/00192+++"}), pdf=PdfMode.none)
    assert b"<cbc:PaymentMeansCode>1</cbc:PaymentMeansCode>" in written.xml and b"BE71096123456769" not in written.xml


def _to(country: str, vat: str | None, category: str, delivery: str | None = None) -> dict[str, Any]:
    customer = {"organisation_name": "Klant", "vat_number": vat, "invoice_address": {"city": "X", "country": country}}
    values = data(customer=customer, lines=[line(category=category, rate="0")])
    if delivery:
        values["delivery"] = {"date": "2026-11-02", "address": {"city": "Y", "country": delivery}}
    return values


def test_k_and_g_follow_where_the_goods_go() -> None:
    """K leaves the seller's country for another member state, G leaves the EU (black-box round 2)."""
    assert "they go to BE" in refused(_to("BE", "NL004495445B01", "K"))  # a Dutch VAT number, goods stay here
    assert "they go to CH" in refused(_to("FR", "FR40303265045", "K", delivery="CH"))  # that is an export
    assert "an export (G) leaves the EU" in refused(_to("FR", "FR40303265045", "G"))
    Document.model_validate(_to("FR", "FR40303265045", "K"))
    Document.model_validate(_to("CH", "CHE116281710MWST", "G"))
    Document.model_validate(_to("GB", "XI123456782", "K"))  # Northern Ireland: the EU for goods


def test_igic_on_a_belgian_sellers_own_invoice_and_a_negative_prepaid_amount_are_refused() -> None:
    assert "charged by suppliers in the Canary Islands" in refused(data(lines=[line(category="L", rate="7")]))
    assert "prepaid_amount" in refused(data(prepaid_amount="-10.00"))


def test_the_canary_islands_are_outside_the_eu_vat_area_for_k_and_g() -> None:
    """Code review: goods to Las Palmas are an export (G), not an intra-community supply, though the address is ES."""
    canary = _to("ES", "ESB35123454", "G")
    canary["customer"]["invoice_address"]["postal_code"] = "35001"
    Document.model_validate(canary)
    k = _to("ES", "ESB35123454", "K")
    k["customer"]["invoice_address"]["postal_code"] = "35001"
    assert "ES 35001 is outside the EU VAT area" in refused(k) and "an export (G)" in refused(k)
    madrid = _to("ES", "ESB35123454", "K")
    madrid["customer"]["invoice_address"]["postal_code"] = "28001"
    Document.model_validate(madrid)


def test_render_notes_a_belgian_vat_number_that_is_not_the_enterprise_number(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    """Accepted (a VAT unit's member has both), but usually a typo that names another company: render says so."""
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = str(SAMPLES / "company.json")
    values["customer"]["enterprise_number"] = "0202.239.951"
    path = tmp_path / "mismatch.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    result = invoke(env, "render", str(path), "-o", str(tmp_path / "x.xml"))
    assert result.exit_code == 0
    assert "customer.vat_number BE0765432146 and customer.enterprise_number 0202239951" in result.stderr
    plain = invoke(env, "render", str(SAMPLES / "01-invoice-be-be.json"), "-o", str(tmp_path / "y.xml"))
    assert "VAT unit" not in plain.stderr


def test_render_notes_a_credit_note_transfer_without_an_account(env: dict[str, str], tmp_path: Path) -> None:
    values = json.loads((SAMPLES / "06-credit-note.json").read_text(encoding="utf-8"))
    values["company"], values["payment"] = str(SAMPLES / "company.json"), {"means_code": "30"}
    path = tmp_path / "cn.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    result = invoke(env, "render", str(path), "-o", str(tmp_path / "cn.xml"))
    assert result.exit_code == 0 and "payment.means_code 30: a credit note transfers nothing" in result.stderr
