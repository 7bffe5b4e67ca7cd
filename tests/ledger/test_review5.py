"""Fifth round: what earlier rounds noticed and left alone in the ledger, the rule and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, run_cli
from tests.ledger.test_review4_worker import office


def test_the_same_inboxes_set_again_are_not_logged_as_a_change(tmp_path: Path) -> None:
    env = office(tmp_path, "dossier@yukiworks.nl", on=False)
    again = json.loads(run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl", "--json").stdout)
    assert again["changed"] is False
    assert "(unchanged: already set so)" in run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl").stdout
    history = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["rule_history"]
    assert [h["change"] for h in history] == ["registered", "inboxes"]  # the first setting only
    moved = json.loads(run_cli(env, "company", "set-inbox", "1", "nieuw@yukiworks.nl", "--json").stdout)
    assert moved["changed"] is True
    history = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)["rule_history"]
    assert len(history) == 3


def test_documents_list_finds_a_document_by_its_number(tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, on=False)
    run_cli(env, "documents", "import", *(invoice_file(tmp_path, n) for n in ("S-1", "S-2", "S-3")))
    listed = json.loads(run_cli(env, "documents", "list", "--number", "S-2", "--number", "S-3", "--json").stdout)
    assert [d["number"] for d in listed] == ["S-2", "S-3"]
    assert json.loads(run_cli(env, "documents", "list", "--number", "S-9", "--json").stdout) == []


def test_a_documents_own_file_registers_its_company_so_the_walkthrough_imports_every_sample(tmp_path: Path) -> None:
    """README audit: the accountant's walk-through imported `samples`, whose Dutch invoice carries its company
    inline; De Vries had no company file to register, and the import failed with exit 2."""
    from tests.ledger.conftest import SAMPLES

    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path)}
    run_cli(env, "company", "add", str(SAMPLES / "company.json"))
    added = json.loads(run_cli(env, "company", "add", str(SAMPLES / "02-invoice-nl-nl.json"), "--json").stdout)
    assert (added["id"], added["name"], added["created"]) == (2, "De Vries Installatietechniek B.V.", True)
    again = json.loads(run_cli(env, "company", "add", str(SAMPLES / "01-invoice-be-be.json"), "--json").stdout)
    assert (again["id"], again["created"]) == (1, False)  # refers to company.json: that company, updated
    imported = json.loads(run_cli(env, "documents", "import", str(SAMPLES), "--json").stdout)
    assert len(imported) == 12 and all(i["document_id"] for i in imported)

    broken = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    broken["company"]["vat_number"] = "NL004495446B01"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    refused = run_cli(env, "company", "add", str(path), code=2)
    assert "its company is not valid" in refused.output and "company.vat_number" in refused.output


def test_config_show_says_where_each_setting_is_set(tmp_path: Path) -> None:
    """README audit: `config show` listed `sender`, which no variable or key is called (UBLEXPORT_FROM, `from`)."""
    env = {"UBLEXPORT_HOME": str(tmp_path), "COLUMNS": "200", "UBLEXPORT_FROM": "boek@dewaele.example"}
    shown = run_cli(env, "config", "show").stdout
    row = next(line for line in shown.splitlines() if "sender" in line)
    assert "boek@dewaele.example" in row and "UBLEXPORT_FROM" in row and "│ from " in row


# --- an accountant's office, round 5 ---------------------------------------------------------------------------------

def test_a_document_with_another_clients_numbers_under_its_own_name_is_neither_imported_nor_sent(
        tmp_path: Path) -> None:
    """Klant NL1's invoice with Klant NL2's VAT and KvK numbers pasted in was imported and sent into Klant NL2's
    Yuki administration (found by its numbers); `company add` refused the same file."""
    from tests.ledger.conftest import SAMPLES

    env = office(tmp_path, on=False)  # company 1: Atelier Dewaele
    nl = json.loads((SAMPLES / "02-invoice-nl-nl.json").read_text(encoding="utf-8"))
    run_cli(env, "company", "add", str(SAMPLES / "02-invoice-nl-nl.json"))  # company 2: De Vries
    run_cli(env, "company", "set-inbox", "2", "devries@yukiworks.nl")
    copied = {**nl, "company": {**nl["company"], "name": "Klant NL1 B.V."}}
    path = tmp_path / "copied.json"
    path.write_text(json.dumps(copied), encoding="utf-8")
    [refused] = json.loads(run_cli(env, "documents", "import", str(path), "--json", code=2).stdout)
    assert "its company 'Klant NL1 B.V.' has the numbers of company 2, registered as 'De Vries " \
        "Installatietechniek B.V.'" in refused["error"]
    sent = json.loads(run_cli(env, "export", str(path), "--to", "devries@yukiworks.nl", "--json", code=2).stdout)
    [result] = sent["results"]
    assert result["result"] == "refused" and "has the numbers of company 2" in result["reason"]
    assert json.loads(run_cli(env, "history", "--json").stdout) == []
    # a rename registered first: the new name, and the documents issued under the old one, are the company's
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(copied["company"]), encoding="utf-8")
    run_cli(env, "company", "add", str(renamed), "--rename")
    assert json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)[0]["version"] == 1
    run_cli(env, "documents", "import", str(SAMPLES / "02-invoice-nl-nl.json"))  # the old name, from the history


def test_resend_to_another_clients_inbox_needs_any_company(tmp_path: Path) -> None:
    from tests.ledger.conftest import SAMPLES
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path)  # company 1, rule on, dossier@yukiworks.nl
    run_cli(env, "company", "add", str(SAMPLES / "02-invoice-nl-nl.json"))
    run_cli(env, "company", "set-inbox", "2", "devries@yukiworks.nl")
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "worker", "--once", "--local-inbox")
    refused = run_cli(env, "resend", "1", "--to", "devries@yukiworks.nl", code=2)
    assert "devries@yukiworks.nl is the inbox of company 2 (De Vries Installatietechniek B.V.), not of company 1" \
        in refused.output and "--any-company" in refused.output
    assert len(json.loads(run_cli(env, "history", "--json").stdout)) == 1  # nothing queued
    forced = json.loads(run_cli(env, "resend", "1", "--to", "devries@yukiworks.nl", "--any-company",
                                "--json").stdout)
    assert [f["inbox"] for f in forced] == ["devries@yukiworks.nl"]


def test_an_expense_is_not_exported_by_hand_to_the_dossier_of_a_company_with_a_purchase_inbox(
        tmp_path: Path) -> None:
    """Exported by hand to the dossier inbox first, the expense was then sent by the rule to the purchase inbox:
    one administration booked it twice (only the other order was caught)."""
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dossier@yukiworks.nl; kantoor@boekhouder.nl", "--expenses", "aankoop@yukiworks.nl")
    expense = invoice_file(tmp_path, "E-1", "received", kind="expense")
    by_hand = json.loads(run_cli(env, "export", expense, "--to", "dossier@yukiworks.nl; kantoor@boekhouder.nl",
                                 "--json", code=2).stdout)
    assert [r["result"] for r in by_hand["results"]] == ["refused", "refused"]
    assert "the company's inbox(es) for its expenses: aankoop@yukiworks.nl; dossier@yukiworks.nl is registered for " \
        "its other documents" in by_hand["results"][0]["reason"]
    assert json.loads(run_cli(env, "history", "--json").stdout) == []
    invoice = invoice_file(tmp_path, "S-1")
    to_purchase = json.loads(run_cli(env, "export", invoice, "--to", "aankoop@yukiworks.nl", "--json",
                                     code=2).stdout)
    assert "the company's inbox(es) for its invoices: dossier@yukiworks.nl" in to_purchase["results"][0]["reason"]
    right = json.loads(run_cli(env, "export", expense, "--to", "aankoop@yukiworks.nl", "--json").stdout)
    assert [r["result"] for r in right["results"]] == ["sent"]
    anyway = json.loads(run_cli(env, "export", invoice_file(tmp_path, "E-2", "received", kind="expense"), "--to",
                                "dossier@yukiworks.nl", "--resend", "--json").stdout)
    assert [r["result"] for r in anyway["results"]] == ["sent"]  # on purpose
    other = json.loads(run_cli(env, "export", invoice_file(tmp_path, "E-3", "received", kind="expense"), "--to",
                               "elders@example.com", "--json").stdout)
    assert [r["result"] for r in other["results"]] == ["sent"]  # an address no rule knows: as before


def test_switching_the_rule_on_sends_to_the_dossier_what_went_by_hand_only_to_the_office_copy(
        tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dossier@yukiworks.nl; kantoor@boekhouder.nl", on=False)
    files = [invoice_file(tmp_path, n) for n in ("S-1", "S-2")]
    run_cli(env, "documents", "import", *files)
    run_cli(env, "export", *files, "--to", "kantoor@boekhouder.nl")
    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert sorted(f["document"] for f in on["caught_up"]) == ["invoice S-1", "invoice S-2"]
    assert all(f["inboxes"] == ["dossier@yukiworks.nl"] for f in on["caught_up"])  # not kantoor again
    again = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert again["caught_up"] == []


def test_correcting_a_mistyped_inbox_says_what_reached_only_the_mistyped_one(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Client 5 was switched on with a mistyped inbox, then corrected: 25 documents reached neither Yuki inbox,
    and neither command said so."""
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dosier@yukiworks.nl", extra=smtp_server.env())  # mistyped, rule on
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"), invoice_file(tmp_path, "S-2"))
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 2
    corrected = run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl")
    said = ("2 document(s) reached an inbox no longer set but not every inbox now set (what was sent stays sent); "
            "`ublexport company auto-export 1 on --since YYYY-MM-DD` sends those since that date to the inboxes now "
            "set that lack them")
    assert said in corrected.output
    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert sorted(f["document"] for f in on["caught_up"]) == ["invoice S-1", "invoice S-2"]
    assert all(f["inboxes"] == ["dossier@yukiworks.nl"] for f in on["caught_up"])
    run_cli(env, "worker", "--once")
    assert sorted(m.rcpt for m in smtp_server.received) == ["dosier@yukiworks.nl"] * 2 + ["dossier@yukiworks.nl"] * 2


def test_two_files_of_one_import_with_one_number_and_other_content_are_not_both_taken(tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path)
    folder = tmp_path / "m3"
    folder.mkdir()
    first = json.loads(Path(invoice_file(tmp_path, "DUP-1")).read_text())
    (folder / "a.json").write_text(json.dumps(first))
    (folder / "b.json").write_text(json.dumps({**first, "note": "andere prijs"}))
    (folder / "c.json").write_text(json.dumps(first))  # a copy of a.json: the same document, imported once
    rows = json.loads(run_cli(env, "documents", "import", str(folder), "--json", code=2).stdout)
    assert [r.get("version") for r in rows] == [1, None, 1]
    assert "DUP-1 is also in" in rows[1]["error"] and "a.json, imported above, with other content" in rows[1]["error"]
    assert len(json.loads(run_cli(env, "history", "--json").stdout)) == 1


def test_output_into_a_pipe_closed_early_is_no_error(tmp_path: Path) -> None:
    """`... | head -1` printed "error: Broken pipe; check the path you gave"."""
    import os
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "ublexport", "config", "show", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "UBLEXPORT_HOME": str(tmp_path)})
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr == "", stderr


def test_corrected_numbers_update_the_registered_company_instead_of_registering_a_namesake(tmp_path: Path) -> None:
    """A client's corrected VAT and enterprise number under the same name registered a new company beside the
    first, without a word: its documents then went to no inbox."""
    from tests.ledger.conftest import SAMPLES

    env = office(tmp_path, "dossier@yukiworks.nl", on=False)
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    fixed = {**company, "vat_number": "BE0765432146", "enterprise_number": "0765.432.146"}
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(fixed), encoding="utf-8")
    refused = run_cli(env, "company", "add", str(path), code=2)
    assert "company 1 is registered as 'Atelier Dewaele BV' with other numbers" in refused.output
    assert "give --correcting 1" in refused.output and "give --new" in refused.output
    corrected = json.loads(run_cli(env, "company", "add", str(path), "--correcting", "1", "--json").stdout)
    assert (corrected["id"], corrected["vat_number"], corrected["created"]) == (1, "BE0765432146", False)
    assert corrected["inboxes"]  # its rule and inboxes kept
    shown = json.loads(run_cli(env, "company", "show", "1", "--json").stdout)
    assert shown["rule_history"][-1]["change"] == "identity"
    other = tmp_path / "namesake.json"
    other.write_text(json.dumps({**company, "vat_number": "BE0444000276", "enterprise_number": "0444000276"}))
    assert json.loads(run_cli(env, "company", "add", str(other), "--new", "--json").stdout)["id"] == 2
    wrong = run_cli(env, "company", "add", str(other), "--correcting", "1", code=2)
    assert "its numbers are those of company 2" in wrong.output


def test_a_rescanned_receipt_is_not_sent_again_as_a_new_version(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """An expense imported again with a rescanned PDF (other bytes, the same invoice) was sent again to the purchase
    inbox under the same subject: booked twice."""
    import base64

    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dossier@yukiworks.nl", "--expenses", "aankoop@yukiworks.nl", extra=smtp_server.env())
    path = Path(invoice_file(tmp_path, "E-1", "received", kind="expense"))
    scan = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    content = json.loads(path.read_text())
    content["pdf"] = {"filename": "E-1.pdf", "content_base64": base64.b64encode(scan).decode()}
    path.write_text(json.dumps(content))
    run_cli(env, "documents", "import", str(path))
    run_cli(env, "worker", "--once")
    content["pdf"]["content_base64"] = base64.b64encode(scan + b"% rescanned\n").decode()
    path.write_text(json.dumps(content))
    [again] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
    assert again["version"] == 2 and again["queued"] == []
    assert "or its PDF, so the accountant has the invoice as issued" in again["reason"]
    run_cli(env, "worker", "--once")
    assert len(smtp_server.received) == 1


def test_an_invoice_cancelled_after_it_reached_yuki_says_so(tmp_path: Path, smtp_server: SmtpServer) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, extra=smtp_server.env())
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"))
    run_cli(env, "worker", "--once")
    [cancelled] = json.loads(run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1", "cancelled"),
                                     "--json").stdout)
    assert cancelled["queued"] == []
    assert cancelled["reason"].endswith("; it reached dossier@yukiworks.nl before: tell the accountant if it no "
                                        "longer stands"), cancelled["reason"]


def test_correcting_a_mistyped_dossier_beside_the_office_copy_says_the_dossier_lacks_them(
        tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Verification round: with "dosier; kantoor", the office copy had every document, so set-inbox said nothing
    about the corrected dossier inbox that never received them (the README's own set-up)."""
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dosier@yukiworks.nl; kantoor@boekhouder.nl", extra=smtp_server.env())
    run_cli(env, "documents", "import", invoice_file(tmp_path, "S-1"), invoice_file(tmp_path, "S-2"))
    run_cli(env, "worker", "--once")
    moved = json.loads(run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl; kantoor@boekhouder.nl",
                               "--json").stdout)
    assert moved["retargeted"]["only_at_removed_inboxes"] == 2
    on = json.loads(run_cli(env, "company", "auto-export", "1", "on", "--since", "2026-01-01", "--json").stdout)
    assert all(f["inboxes"] == ["dossier@yukiworks.nl"] for f in on["caught_up"]) and len(on["caught_up"]) == 2
    again = json.loads(run_cli(env, "company", "set-inbox", "1", "dossier@yukiworks.nl; kantoor@boekhouder.nl",
                               "--json").stdout)
    assert again["retargeted"]["only_at_removed_inboxes"] == 0  # queued for the dossier now: nothing to say


def test_the_local_inbox_also_holds_back_a_version_changed_only_in_the_company_details(tmp_path: Path) -> None:
    """Verification round: without an SMTP server, the same invoice with only the company's phone changed went into
    the local inbox a second time, though "run it twice: the second run sends nothing"."""
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, on=False)
    path = Path(invoice_file(tmp_path, "S-1"))
    run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl")
    content = json.loads(path.read_text())
    path.write_text(json.dumps({**content, "company": {**content["company"], "phone": "+32 9 999 99 99"}}))
    again = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json").stdout)
    assert [r["result"] for r in again["results"]] == ["already-exported"]
    assert len(json.loads(run_cli(env, "inbox", "list", "--json").stdout)) == 1


def test_the_same_inboxes_in_another_order_are_no_change_and_an_empty_list_says_so(tmp_path: Path) -> None:
    env = office(tmp_path, "dossier@yukiworks.nl; kantoor@boekhouder.nl", on=False)
    swapped = json.loads(run_cli(env, "company", "set-inbox", "1", "kantoor@boekhouder.nl; dossier@yukiworks.nl",
                                 "--json").stdout)
    assert swapped["changed"] is False
    said = run_cli(env, "documents", "list", "--number", "nope").stdout
    assert said.strip() == "No documents match these filters (`ublexport documents import FILES`)."


def test_an_invoice_refused_for_the_purchase_inbox_names_every_inbox_for_invoices(tmp_path: Path) -> None:
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dossier@yukiworks.nl; kantoor@boekhouder.nl", "--expenses", "aankoop@yukiworks.nl")
    refused = json.loads(run_cli(env, "export", invoice_file(tmp_path, "S-1"), "--to", "aankoop@yukiworks.nl",
                                 "--json", code=2).stdout)
    assert "the company's inbox(es) for its invoices: dossier@yukiworks.nl, kantoor@boekhouder.nl;" in \
        refused["results"][0]["reason"]


def test_a_document_whose_numbers_are_two_companies_is_refused_alone_and_the_export_goes_on(tmp_path: Path) -> None:
    """Security round: one file with company 1's VAT number and company 2's enterprise number stopped the whole
    export (exit 2, nothing sent) instead of being refused on its own."""
    from tests.ledger.conftest import SAMPLES
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, "dossier@yukiworks.nl", on=False)
    other = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    other.update(name="Tweede BV", vat_number="BE0403019261", enterprise_number="0403019261")
    (tmp_path / "other.json").write_text(json.dumps(other))
    run_cli(env, "company", "add", str(tmp_path / "other.json"))
    good = invoice_file(tmp_path, "S-1")
    mixed = json.loads(Path(good).read_text())
    mixed["number"] = "MIX-1"
    mixed["company"] = {**mixed["company"], "name": "Mixed NV", "enterprise_number": "0403019261"}
    (tmp_path / "mixed.json").write_text(json.dumps(mixed))
    result = json.loads(run_cli(env, "export", good, str(tmp_path / "mixed.json"), "--to", "dossier@yukiworks.nl",
                                "--json", code=2).stdout)
    statuses = {r["document"]: (r["result"], r["reason"]) for r in result["results"]}
    assert statuses["invoice S-1"][0] == "sent"
    assert statuses["invoice MIX-1"][0] == "refused" and "match several registered companies" in \
        statuses["invoice MIX-1"][1]


def test_a_greek_number_typed_gr_is_the_company_registered_with_el(tmp_path: Path) -> None:
    from tests.ledger.conftest import SAMPLES

    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}", "UBLEXPORT_HOME": str(tmp_path)}
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    greek = {**company, "name": "Alpha Hellas AE", "vat_number": "EL094259216", "enterprise_number": None,
             "address": {"street": "Odos 1", "city": "Athina", "postal_code": "10563", "country": "GR"}}
    (tmp_path / "el.json").write_text(json.dumps(greek))
    (tmp_path / "gr.json").write_text(json.dumps({**greek, "name": "Other Company AE", "vat_number": "GR094259216"}))
    run_cli(env, "company", "add", str(tmp_path / "el.json"))
    refused = run_cli(env, "company", "add", str(tmp_path / "gr.json"), code=2)
    assert "its numbers are those of company 1" in refused.output


def test_a_customers_greek_number_retyped_gr_for_el_is_not_sent_again(tmp_path: Path) -> None:
    """Verification round: the same invoice with the customer's EL number typed GR went again (the UBL is the same:
    it writes EL)."""
    from tests.ledger.test_review4_worker import invoice_file

    env = office(tmp_path, on=False)
    path = Path(invoice_file(tmp_path, "GR-1"))
    content = json.loads(path.read_text())
    greek = {"organisation_name": "Athina Trading AE", "vat_number": "EL094259216",
             "invoice_address": {"street": "Odos Ermou 1", "city": "Athina", "postal_code": "10563", "country": "GR"}}
    lines = [{"name": "Machine", "quantity": "1", "unit_price": "1000.00", "vat_category": "K", "vat_rate": "0"}]
    path.write_text(json.dumps({**content, "customer": greek, "lines": lines, "allowances_charges": []}))
    run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl")
    path.write_text(json.dumps({**content, "customer": {**greek, "vat_number": "GR094259216"}, "lines": lines,
                                "allowances_charges": []}))
    again = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json").stdout)
    assert [r["result"] for r in again["results"]] == ["already-exported"]
