"""Fourth black-box round (a Peppol / Belgian-Dutch VAT expert): a supplier's UBL that books or pays otherwise than
the expense records, a Dutch credit note's payment reference with nowhere to go, and payment reference messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.core.test_review2_received import EXPENSE, edited, expense, passed_on, refused, supplier_sent
from ublexport.cli import main
from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.pipeline import PdfMode, prepare

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

# --- a received UBL must book and pay as the expense records ---------------------------------------------------


def test_a_received_ubl_that_splits_the_vat_otherwise_is_refused_though_the_amount_due_is_the_same() -> None:
    """612.02 either way, but the accountant would deduct 84.00 VAT instead of the 106.22 the bookkeeper recorded."""
    split = supplier_sent(lines=[
        {"name": "Inox", "quantity": "1", "unit_price": "400.00", "vat_category": "S", "vat_rate": "21"},
        {"name": "Transport", "quantity": "1", "unit_price": "128.02", "vat_category": "E", "vat_rate": "0",
         "exemption_reason": "Vrijgesteld"}])
    assert b'<cbc:PayableAmount currencyID="EUR">612.02<' in split
    problems = refused(expense(), split)
    assert problems == ["VAT breakdown (cac:TaxSubtotal, BG-23): E: taxable 128.02, VAT 0.00; S 21 %: taxable "
                        "400.00, VAT 84.00 in the UBL, S 21 %: taxable 505.80, VAT 106.22 in the lines"]


def test_a_stated_vat_total_is_compared_exactly() -> None:
    xml = supplier_sent()
    assert passed_on(expense(stated_totals={"vat": "106.22"}), xml) == xml
    problems = refused(expense(stated_totals={"vat": "106.22"}),
                       edited(xml, (b">106.22<", b">106.21<"), (b">612.02<", b">612.01<")))
    assert "VAT total (cbc:TaxAmount, BT-110): '106.21' in the UBL, '106.22' in stated_totals.vat" in problems


def test_a_received_ubl_paying_another_account_is_refused_with_a_warning_about_fraud() -> None:
    """The supplier's known account is BE43068999999501; a UBL asking payment to another one is the classic
    invoice fraud, and would be paid from the accountant's booking."""
    ours = supplier_sent()
    assert b"<cbc:ID>BE43068999999501</cbc:ID>" in ours and passed_on(expense(), ours) == ours
    other = edited(ours, (b"<cbc:ID>BE43068999999501</cbc:ID>", b"<cbc:ID>BE71096123456769</cbc:ID>"))
    problems = refused(expense(), other)
    assert len(problems) == 1 and problems[0].startswith(
        "payee account (cac:PayeeFinancialAccount, BT-84): BE71096123456769 in the UBL, 'BE43068999999501' in "
        "supplier.iban; if the supplier says its account changed, confirm that with the supplier"), problems
    # the expense's own payment.iban is what it pays, when given
    assert passed_on(expense(payment={"iban": "BE71 0961 2345 6769"}), other) == other


def test_a_received_ubl_with_another_payment_reference_or_due_date_is_refused() -> None:
    xml = supplier_sent(payment={"reference": "+++000/0088/12347+++"})
    assert passed_on(expense(), xml) == xml  # the sample expense gives this reference
    assert passed_on(expense(payment={"reference": "***000/0088/12347***"}), xml) == xml  # the same communication
    assert passed_on(expense(payment=None), xml) == xml  # none recorded: nothing to compare
    problems = refused(expense(payment={"reference": "+++000/0088/12448+++"}), xml)
    assert problems == ["payment reference (cbc:PaymentID, BT-83): +++000/0088/12347+++ in the UBL, "
                        "'+++000/0088/12448+++' in payment.reference"]
    problems = refused(expense(due_date="2027-12-03"), xml)
    assert problems == ["due date (BT-9): '2026-12-03' in the UBL, '2027-12-03' in due_date"]
    assert EXPENSE["due_date"] == "2026-12-03"


# --- a Dutch credit note's payment reference ---------------------------------------------------------------------


def _nl_credit_note(**changes: Any) -> Document:
    invoice = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    credited = {"number": invoice["number"], "issue_date": invoice["issue_date"]}
    values = {**invoice, "kind": "credit_note", "status": "sent", "number": "NL-2026-CN1", "issue_date": "2026-11-20",
              "due_date": None, "credited_invoice": credited, **changes}
    return Document.model_validate(values)


def test_a_dutch_credit_note_with_a_reference_but_no_refund_account_is_refused_not_stripped() -> None:
    """NL-R-008 allows no means code 1 between Dutch parties, so the reference had nowhere to go and vanished."""
    with pytest.raises(InputError) as caught:
        prepare(_nl_credit_note(payment={"reference": "CN1"}), pdf=PdfMode.none)
    assert "between Dutch parties a credit note states a payment reference only with a means of payment" in str(
        caught.value) and "payment.iban" in str(caught.value)
    refund = prepare(_nl_credit_note(payment={"reference": "CN1", "iban": "NL91ABNA0417164300"}), pdf=PdfMode.none)
    assert b"<cbc:PaymentID>CN1</cbc:PaymentID>" in refund.xml
    terms = prepare(_nl_credit_note(payment={"terms": "Verrekend met de volgende factuur"}), pdf=PdfMode.none)
    assert b"PaymentMeans" not in terms.xml and b"Verrekend met de volgende factuur" in terms.xml
    # the means codes the message suggests go (49 and 59, direct debit, are refused at input)
    agreed = prepare(_nl_credit_note(payment={"reference": "CN1", "means_code": "57"}), pdf=PdfMode.none)
    assert b"<cbc:PaymentMeansCode>57</cbc:PaymentMeansCode><cbc:PaymentID>CN1</cbc:PaymentID>" in agreed.xml
    assert "payment.means_code 57 (standing agreement) or 48 (bank card)" in str(caught.value)


def test_a_dutch_credit_note_stored_before_that_rule_still_renders() -> None:
    """A new inbox or a catch-up renders a stored document again (outbox.forward, inside model.as_stored): it goes
    as it was checked when it was stored."""
    from ublexport.model import as_stored

    stored = _nl_credit_note(payment={"terms": "x"}).model_copy(
        update={"payment": _nl_credit_note(payment={"terms": "x"}).payment.model_copy(  # type: ignore[union-attr]
            update={"reference": "CN1"})})
    with pytest.raises(InputError):
        prepare(stored, pdf=PdfMode.none)
    with as_stored():
        assert b"PaymentMeans" not in prepare(stored, pdf=PdfMode.none).xml


def test_render_notes_a_transfer_code_only_when_the_user_wrote_one(tmp_path: Path) -> None:
    """The default means code 30 is no choice of the user's: the note named an option nobody gave."""
    values = json.loads((SAMPLES / "06-credit-note.json").read_text(encoding="utf-8"))
    values["company"] = str(SAMPLES / "company.json")
    env = {"UBLEXPORT_HOME": str(tmp_path / "home")}
    for payment, noted in (({"terms": "Verrekend"}, False), ({"means_code": "58"}, True)):
        path = tmp_path / "cn.json"
        path.write_text(json.dumps({**values, "payment": payment}), encoding="utf-8")
        result = CliRunner().invoke(main, ["render", str(path), "-o", str(tmp_path / "cn.xml")], env=env)
        assert result.exit_code == 0, result.output
        assert ("a credit note transfers nothing" in result.stderr) is noted, result.stderr


# --- payment references ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["+++123/4567/89002+++", "***123/4567/89002***", "123/4567/89002",
                                     " +++123/4567/89002+++ "])
def test_a_structured_communication_is_always_written_the_one_way_the_readme_says(written: str) -> None:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values["payment"] = {"reference": written}
    assert Document.model_validate(values).payment.reference == "+++123/4567/89002+++"  # type: ignore[union-attr]
    values["payment"] = {"reference": "123456789002"}  # twelve bare digits: a Dutch betalingskenmerk, free text
    assert Document.model_validate(values).payment.reference == "123456789002"  # type: ignore[union-attr]


def test_a_wrong_check_digit_says_where_to_copy_the_value_from() -> None:
    from ublexport import identifiers

    with pytest.raises(ValueError, match="copy it again from the invoice or transfer form it belongs to"):
        identifiers.structured_reference("+++123/4567/89012+++")
    with pytest.raises(ValueError, match=r"creditor reference 'RF18 5390 0754 7035' \(ISO 11649\) has a wrong "
                                         "check digit; copy it again from the invoice or transfer form"):
        identifiers.structured_reference("RF18 5390 0754 7035")
    for written in ("RF18 5390 0754 7034", "RF18539007547034", "RF712348231"):  # kept as given: the version stays
        assert identifiers.structured_reference(written) == written
    for free in ("RF-2026-0001", "Rf18 5390", "REF 2026/12"):  # not one: free text, as before
        assert identifiers.structured_reference(free) == free
    with pytest.raises(ValueError, match="copy it again from the account holder's bank details"):
        identifiers.iban("BE71096123456760")
    with pytest.raises(ValueError, match="copy it again from the official register"):
        identifiers.vat_number("BE0765432147")


# --- DEL and C1 controls -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "code"), [
    ("customer.organisation_name", "Klant\u007fY", "U+007F"), ("number", "2026-\u009b0001", "U+009B"),
    ("customer.invoice_address.street", "Kerkstraat\u0080 1", "U+0080"), ("note", "Dank u\u007f", "U+007F")])
def test_del_and_c1_controls_are_refused_at_load_naming_the_field(field: str, value: str, code: str) -> None:
    """They passed validation, then every delivery failed at send time ("the Subject header would contain...")."""
    from tests.core.test_review_model import refused as refusal

    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    target = values
    *path, last = field.split(".")
    for part in path:
        target = target[part]
    target[last] = value
    text = refusal(values)
    assert f"{field}: contains the control character {code} (DEL or a C1 control" in text, text


def test_a_stored_document_with_a_del_is_still_read_back() -> None:
    """The rule is for new input: a document stored under an earlier version must still be delivered."""
    from ublexport.model import stored_document

    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values["customer"]["invoice_address"]["street"] = "Kerkstraat\u007f 1"
    assert stored_document(values).customer.invoice_address.street == "Kerkstraat\u007f 1"  # type: ignore[union-attr]


# --- Dutch public bodies (OIN) and British customers (9932) --------------------------------------------------------


def _nl_invoice(customer: dict[str, Any], **changes: Any) -> Document:
    values = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    return Document.model_validate({**values, "customer": customer, **changes})


def test_a_dutch_public_body_is_addressed_by_its_oin() -> None:
    """Only a KvK or VAT number could be given, so a gemeente got the 9944 VAT address it does not receive on."""
    gemeente = {"organisation_name": "Gemeente Amersfoort", "vat_number": "NL123456782B01",
                "oin": "00000001001234567000",
                "invoice_address": {"street": "Stadhuisplein 1", "city": "Amersfoort", "postal_code": "3811 LM",
                                    "country": "NL"}}
    for profile in ("peppol", "nlcius"):
        xml = prepare(_nl_invoice(gemeente), profile=profile, pdf=PdfMode.none).xml
        assert b'<cbc:EndpointID schemeID="0190">00000001001234567000</cbc:EndpointID>' in xml
        assert b'<cbc:CompanyID schemeID="0190">00000001001234567000</cbc:CompanyID>' in xml
    with pytest.raises(Exception, match=r"customer\.oin\n  Value error, OIN '1234' must be exactly 20 digits"):
        _nl_invoice({**gemeente, "oin": "1234"})


def test_a_british_customer_is_addressed_by_its_vat_number_in_scheme_9932() -> None:
    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values["customer"] = {"organisation_name": "Thames Tools Ltd", "vat_number": "GB980780684",
                          "invoice_address": {"street": "1 High Street", "city": "London", "postal_code": "EC1A 1BB",
                                              "country": "GB"}}
    values["lines"] = [{"name": "Machine", "quantity": "1", "unit_price": "1000.00", "vat_category": "G",
                        "vat_rate": "0"}]
    values["allowances_charges"] = []
    prepared = prepare(Document.model_validate(values), pdf=PdfMode.none)
    assert prepared.report.profile == "peppol"
    assert b'<cbc:EndpointID schemeID="9932">GB980780684</cbc:EndpointID>' in prepared.xml


# --- code review of the comparisons above --------------------------------------------------------------------------


def test_a_second_payment_means_naming_the_known_account_does_not_let_another_account_pass() -> None:
    ours = supplier_sent()
    means = ours[ours.index(b"<cac:PaymentMeans>"):ours.index(b"</cac:PaymentMeans>") + len(b"</cac:PaymentMeans>")]
    fraud = means.replace(b"BE43068999999501", b"BE71096123456769")
    both = ours.replace(means, fraud + means)  # the fraudster's account first, the known one second
    problems = refused(expense(), both)
    assert len(problems) == 1 and problems[0].startswith("payee account (cac:PayeeFinancialAccount, BT-84): "
                                                         "BE43068999999501, BE71096123456769 in the UBL"), problems


def test_a_supplier_credit_note_naming_our_refund_account_is_not_taken_for_fraud() -> None:
    """In a credit note the payee is the buyer (the refund): our account, not the supplier's known one."""
    from tests.core.test_review2_received import RETURN

    refund = supplier_sent(kind="credit_note", number="CN-9", issue_date="2026-11-05", due_date=None,
                           credited_invoice={"number": "INV-88123", "issue_date": "2026-11-03"}, lines=[RETURN],
                           payment={"iban": "BE71096123456769"})
    assert b"<cbc:ID>BE71096123456769</cbc:ID>" in refund
    data = expense(number="CN-9", issue_date="2026-11-05", due_date=None, lines=[{**RETURN, "quantity": "-1"}])
    assert passed_on(data, refund) == refund


def test_a_structured_communication_without_plus_signs_is_the_same_reference() -> None:
    xml = supplier_sent(payment={"reference": "+++000/0088/12347+++"})
    plain = edited(xml, (b"<cbc:PaymentID>+++000/0088/12347+++<", b"<cbc:PaymentID>000/0088/12347<"))
    assert passed_on(expense(), plain) == plain  # the expense gives +++000/0088/12347+++


# --- the verification round -----------------------------------------------------------------------------------------


def test_a_structured_communication_written_as_twelve_digits_in_the_ubl_is_the_same_reference() -> None:
    """Many Belgian UBLs carry the communication as its twelve digits: a genuine supplier UBL was refused."""
    xml = supplier_sent(payment={"reference": "+++000/0088/12347+++"})
    digits = edited(xml, (b"<cbc:PaymentID>+++000/0088/12347+++<", b"<cbc:PaymentID>000008812347<"))
    assert passed_on(expense(), digits) == digits
    other = edited(xml, (b"<cbc:PaymentID>+++000/0088/12347+++<", b"<cbc:PaymentID>000008812448<"))
    assert refused(expense(), other)[0].startswith("payment reference (cbc:PaymentID, BT-83): 000008812448")


def test_an_export_to_northern_ireland_is_refused_without_calling_it_a_member_state() -> None:
    from tests.core.test_review_model import refused as refusal

    values = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    values["customer"] = {"organisation_name": "Belfast Tools", "vat_number": "XI980780684",
                          "invoice_address": {"city": "Belfast", "country": "GB"}}
    values["lines"] = [{"name": "Machine", "quantity": "1", "unit_price": "10.00", "vat_category": "G",
                        "vat_rate": "0"}]
    values["allowances_charges"] = []
    text = refusal(values)
    assert "the goods go to Northern Ireland (an XI VAT number), which counts as the EU for goods" in text, text
    assert "a member state;" not in text
