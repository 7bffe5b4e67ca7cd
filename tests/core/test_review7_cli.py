"""Seventh round (the eighteenth session's README and CLI review): what a new user met."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from ublexport.cli import main
from ublexport.store.engine import SQLITE_BUSY_SECONDS

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def invoke(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"UBLEXPORT_HOME": str(tmp_path / "home"), "COLUMNS": "250",
                                                       "UBLEXPORT_SMTP_HOST": "", "UBLEXPORT_FROM": "", **env})
    return result.exit_code, result.stdout, result.stderr


def test_config_show_names_the_sender_a_server_would_refuse(tmp_path: Path) -> None:
    """With UBLEXPORT_SMTP_HOST set and no UBLEXPORT_FROM, `config show` listed no problem while export and the
    worker refused the sender ublexport@localhost (exit 2): the one place to look said all was well."""
    code, out, err = invoke(tmp_path, "config", "show", "--json", UBLEXPORT_SMTP_HOST="smtp.example.com")
    problems = json.loads(out)["problems"]
    assert code == 0 and len(problems) == 1 and problems[0].startswith("from: with an SMTP server")
    assert "`export` also takes --from" in problems[0]  # the worker has no --from
    code, out, err = invoke(tmp_path, "config", "show", UBLEXPORT_SMTP_HOST="smtp.example.com")
    assert code == 0 and "problem: from: with an SMTP server" in err
    code, out, _ = invoke(tmp_path, "config", "show", "--json", UBLEXPORT_SMTP_HOST="smtp.example.com",
                          UBLEXPORT_FROM="Dewaele <export@dewaele.be>")
    assert json.loads(out)["problems"] == []


def test_a_folder_without_documents_is_said_not_passed_over(tmp_path: Path) -> None:
    """`export samples/files` (PDFs only) printed two empty tables and "nothing to do", and `documents import`
    of a folder without documents an empty table: which folder, and what counts as a document, went unsaid."""
    code, _, err = invoke(tmp_path, "export", str(SAMPLES / "files"), "--to", "a@yukiworks.nl")
    assert code == 0 and f"no documents in {SAMPLES / 'files'}: a folder is searched" in err
    code, _, err = invoke(tmp_path, "documents", "import", str(SAMPLES / "files"))
    assert code == 0 and f"no documents in {SAMPLES / 'files'}" in err
    code, _, err = invoke(tmp_path, "export", str(SAMPLES), "--to", "a@yukiworks.nl", "--dry-run",
                          str(tmp_path / "out"))
    assert code == 0 and "no documents in" not in err


def test_a_ubl_given_where_the_json_belongs_is_named_as_xml(tmp_path: Path) -> None:
    """A supplier's UBL given to render, export or import got Python's "Expecting value: line 1 column 1"."""
    ubl = tmp_path / "supplier.xml"
    ubl.write_text('\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<Invoice/>\n', encoding="utf-8")
    code, _, err = invoke(tmp_path, "render", str(ubl))
    assert code == 2 and "not a JSON document: XML (a UBL e-invoice?)" in err and "received_ubl" in err
    assert "Expecting value" not in err


def test_resend_says_the_command_that_sends_it_without_a_server(tmp_path: Path) -> None:
    """`resend` said "run `ublexport worker --once`", which without a server exits 2 (it needs --local-inbox)."""
    env = {"UBLEXPORT_DB": f"sqlite:///{tmp_path / 'l.db'}"}
    invoke(tmp_path, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "a@yukiworks.nl", **env)
    code, _, err = invoke(tmp_path, "resend", "1", **env)
    assert code == 0 and "run `ublexport worker --once --local-inbox` to send it now" in err
    code, _, _ = invoke(tmp_path, "worker", "--once", "--local-inbox", **env)
    assert code == 0
    code, _, err = invoke(tmp_path, "resend", "1", **env, UBLEXPORT_SMTP_HOST="smtp.example.com",
                          UBLEXPORT_FROM="export@dewaele.be")
    assert code == 0 and "run `ublexport worker --once` to send it now" in err
    # (Code review, nineteenth session) a server named in the --config file counts too, as the worker reads it
    config = tmp_path / "elsewhere.toml"
    config.write_text('smtp_host = "smtp.example.com"\nfrom = "export@dewaele.be"\n', encoding="utf-8")
    assert invoke(tmp_path, "worker", "--once", "--local-inbox", **env)[0] == 0
    code, _, err = invoke(tmp_path, "resend", "1", "--config", str(config), **env)
    assert code == 0 and "run `ublexport worker --once` to send it now" in err


def test_a_dutch_company_writes_dutch_not_flemish() -> None:
    """De Vries (Utrecht) got Belgian words on its PDF and e-mail: Mededeling, Maatstaf van heffing, In bijlage,
    Aankoopfactuur, Blad. A Dutch bookkeeper writes betalingskenmerk, grondslag, bijgaand, inkoopfactuur, pagina;
    a Belgian company keeps its own words."""
    import dataclasses

    from tests.core.test_review_pdf import _sample, _texts
    from tests.email.conftest import prepared
    from ublexport.compose import subject_and_body

    dutch = " ".join(_texts(_sample("02-invoice-nl-nl.json")))
    assert "Betalingskenmerk: NL-2026-118" in dutch and "Grondslag" in dutch
    assert "Mededeling" not in dutch and "Maatstaf van heffing" not in dutch
    belgian = " ".join(_texts(_sample("01-invoice-be-be.json")))
    assert "Mededeling: +++202/6000/00192+++" in belgian and "Maatstaf van heffing" in belgian

    _, body = subject_and_body(prepared("02-invoice-nl-nl.json"))
    assert body.startswith("Bijgaand vindt u het volgende document van De Vries Installatietechniek B.V.")
    expense = prepared("08-expense.json")  # Atelier Dewaele (Gent), then the same company moved to Utrecht
    subject, body = subject_and_body(expense)
    assert subject.startswith("Aankoopfactuur INV-88123") and body.startswith("In bijlage vindt u een aankoopfactuur")
    company = expense.document.company
    moved = company.model_copy(update={"address": company.address.model_copy(update={"country": "NL"})})
    subject, body = subject_and_body(dataclasses.replace(
        expense, document=expense.document.model_copy(update={"company": moved})))
    assert subject.startswith("Inkoopfactuur INV-88123") and body.startswith("Bijgaand vindt u een inkoopfactuur")


def test_a_warning_in_a_suppliers_ubl_is_not_explained_as_our_own_choice(tmp_path: Path) -> None:
    """(Yuki review) `render` of an expense passed on as the supplier's UBL, which names the supplier's code for
    us (UBL-CR-202), said "on purpose: the relation code is the debtor number Yuki books the invoice on": neither
    ours nor true of an expense. It says the supplier wrote it."""
    import base64
    import copy

    from tests.core.test_review2_received import OUR_PARTY, expense, supplier_sent

    ubl = supplier_sent(customer={**copy.deepcopy(OUR_PARTY), "relation_code": "K-DEW"})
    data = expense()
    data["received_ubl"] = {"filename": "supplier.xml", "content_base64": base64.b64encode(ubl).decode()}
    path = tmp_path / "expense.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = invoke(tmp_path, "render", str(path))
    assert code == 0 and "UBL-CR-202" in err and "(in the supplier's UBL, passed on unchanged)" in err
    assert "debtor number" not in err


def test_an_id_that_is_no_number_is_said_so_and_help_shows_no_int64_range(tmp_path: Path) -> None:
    """`resend abc` said "is not a valid integer range" and every --help showed [1<=x<=9223372036854775807]."""
    for given in ("abc", "0", "99999999999999999999", "١٢"):  # Arabic-Indic digits are no ledger id either
        code, _, err = invoke(tmp_path, "resend", given)
        assert code == 2 and f"{given!r} is not an id: ids are whole numbers from 1" in err
    _, out, _ = invoke(tmp_path, "history", "--help")
    assert "--company ID" in out and "9223372036854775807" not in out


def test_the_pdf_writes_a_belgian_enterprise_number_as_the_register_does() -> None:
    from tests.core.test_review_pdf import _sample, _texts

    texts = _texts(_sample("01-invoice-be-be.json"))
    assert "Ondernemingsnr. 0765.432.146" in texts and "Ondernemingsnr. 0812.345.603" in texts


def test_french_sets_a_space_before_its_colon_and_percent_sign() -> None:
    """(README review) French labels read "Date:" and rates "21%"; French writes "Date : " and "21 %" (with a
    no-break space, so that the colon never starts a line). Dutch and English keep "Datum:" and "21%"."""
    from tests.core.test_review_pdf import _pdf_rows, _texts
    from tests.email.conftest import prepared
    from tests.email.test_compose import _in_language
    from ublexport.compose import subject_and_body
    from ublexport.model import Language
    from ublexport.totals import compute

    french = _in_language(prepared("01-invoice-be-be.json"), Language.fr)  # type: ignore[arg-type]
    _, body = subject_and_body(french)
    assert "\nDate\u00a0:    02/11/2026\n" in body and "\nÀ payer\u00a0: 355,93 EUR\n" in body
    texts = _texts(_pdf_rows(french.document))
    assert "Date\u00a0: 02/11/2026" in texts and "21\u00a0%" in texts
    assert compute(french.document).payable  # (the same document, only its language changed)
    _, dutch = subject_and_body(prepared("01-invoice-be-be.json"))
    assert "\nDatum:      02-11-2026\n" in dutch and "\nTe betalen: EUR 355,93\n" in dutch


# --- the security review of the eighteenth session ------------------------------------------------------------


def test_a_nul_or_a_symlink_loop_in_a_files_path_refuses_that_document_only(tmp_path: Path) -> None:
    """A NUL byte in pdf.file, received_ubl.file or company, or a loop of symbolic links there, ended the whole
    export with a traceback (ValueError: embedded null byte; RuntimeError: Symlink loop), exit 1, nothing sent."""
    folder = tmp_path / "mix"
    folder.mkdir()
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    base = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    base["company"] = str(SAMPLES / "company.json")
    bad = {"1-loop.json": {**base, "number": "L-1", "pdf": {"file": "a"}},
           "2-nul.json": {**base, "number": "L-2", "received_ubl": {"file": "x\u0000.xml"}},
           "3-company.json": {**base, "number": "L-3", "company": "c\u0000.json"}}
    for name, data in bad.items():
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    (folder / "4-good.json").write_text(json.dumps({**base, "number": "L-4"}), encoding="utf-8")
    code, out, err = invoke(tmp_path, "export", str(folder), "--to", "a@yukiworks.nl", "--dry-run",
                            str(tmp_path / "out"), "--json")
    assert code == 2 and "Traceback" not in err
    results = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(out)["results"]}
    assert results["4-good.json"]["result"] == "written"
    assert "pdf.file: the path 'a' is not a file's path: it cannot be followed" in results["1-loop.json"]["reason"]
    assert "received_ubl.file: the path 'x\\x00.xml' is not a file's path: it holds a NUL character" in \
        results["2-nul.json"]["reason"]
    assert "company: the path 'c\\x00.json' is not a file's path" in results["3-company.json"]["reason"]


def test_a_device_or_a_pipe_is_refused_where_a_file_is_read(tmp_path: Path) -> None:
    """`validate /dev/zero` grew to 4.8 GB in four seconds and a FIFO blocked for ever; so did a FIFO given as
    UBLEXPORT_SMTP_CAFILE (past SIGTERM) and /dev/zero as UBLEXPORT_DKIM_KEY_FILE."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for given in ("/dev/zero", str(fifo)):
        code, out, _ = invoke(tmp_path, "validate", given)
        assert code == 2 and f"{given} cannot be read (not a regular file: a device or a pipe)" in out
    document = str(SAMPLES / "01-invoice-be-be.json")
    server = {"UBLEXPORT_SMTP_HOST": "127.0.0.1", "UBLEXPORT_SMTP_PORT": "9", "UBLEXPORT_FROM": "a@dewaele.be"}
    code, _, err = invoke(tmp_path, "export", document, "--to", "a@yukiworks.nl", **server,
                          UBLEXPORT_SMTP_CAFILE=str(fifo))
    assert code == 2 and f"UBLEXPORT_SMTP_CAFILE: {fifo} cannot be read (not a regular file" in err
    code, _, err = invoke(tmp_path, "export", document, "--to", "a@yukiworks.nl", **server,
                          UBLEXPORT_DKIM_SELECTOR="s1", UBLEXPORT_DKIM_KEY_FILE="/dev/zero")
    assert code == 2 and "UBLEXPORT_DKIM_KEY_FILE: /dev/zero cannot be read (not a regular file" in err
    code, _, err = invoke(tmp_path, "config", "show", UBLEXPORT_CONFIG=str(fifo))
    assert code == 2 and "configuration file: " in err and "not a regular file" in err
    garbage = tmp_path / "ca.pem"
    garbage.write_bytes(b"no certificate here")
    code, _, err = invoke(tmp_path, "export", document, "--to", "a@yukiworks.nl", **server,
                          UBLEXPORT_SMTP_CAFILE=str(garbage))
    assert code == 2 and f"UBLEXPORT_SMTP_CAFILE: {garbage} holds no PEM certificate" in err


def test_a_database_password_is_never_printed_in_part(tmp_path: Path) -> None:
    """postgresql://bob:DB@S3cr3t@host/db was masked at its last @ while libpq split at the first and printed
    "failed to resolve host 'S3cr3t@127.0.0.1'"; libpq's keyword form (host=... password=...) was printed whole,
    by `config show` and in the error."""
    from ublexport.settings import mask_url

    code, out, err = invoke(tmp_path, "history", "--json", UBLEXPORT_DB="postgresql://bob:DB@S3cr3t@127.0.0.1/test")
    assert code == 2 and "S3cr3t" not in out + err and "its password holds an '@'; write it as %40" in err
    keywords = "host=127.0.0.1 password=DBS3cr3t dbname=test"
    code, out, err = invoke(tmp_path, "config", "show", "--json", UBLEXPORT_DB=keywords)
    assert json.loads(out)["db_url"] == "host=127.0.0.1 password=*** dbname=test"
    code, out, err = invoke(tmp_path, "history", UBLEXPORT_DB=keywords)
    assert code == 2 and "DBS3cr3t" not in out + err
    assert mask_url("host=h password='a b c' user=u") == "host=h password=*** user=u"


def test_small_input_oddities_are_named_plainly(tmp_path: Path) -> None:
    """A 9-byte "%PDF-1.4" went as the expense's image; a broken JPEG was "cannot identify image file
    <_io.BytesIO object at 0x7f...>"; a lone surrogate "unable to parse raw data as a unicode string"; timeout =
    inf was taken (every wait for ever)."""
    import base64

    base = json.loads((SAMPLES / "08-expense.json").read_text(encoding="utf-8"))
    base["company"] = str(SAMPLES / "company.json")

    def render(data: dict[str, object]) -> str:
        path = tmp_path / "doc.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        code, _, err = invoke(tmp_path, "render", str(path))
        assert code == 2, err
        return err

    cut = {"filename": "scan.pdf", "content_base64": base64.b64encode(b"%PDF-1.4\n").decode()}
    assert "is cut short: a PDF ends with %%EOF and this one does not" in render({**base, "pdf": cut})
    jpeg = {"filename": "scan.jpg", "content_base64": base64.b64encode(b"\xff\xd8\xff" + b"\0" * 64).decode()}
    err = render({**base, "pdf": jpeg})
    assert "is a JPG that cannot be read" in err and "BytesIO" not in err
    path = tmp_path / "doc.json"
    plain = {k: v for k, v in base.items() if k != "pdf"}
    path.write_text(json.dumps(plain).replace("Groothandel Verbeke NV", "Groothandel \\ud800 NV", 1),
                    encoding="utf-8")
    code, _, err = invoke(tmp_path, "render", str(path))
    assert code == 2 and "is half of a character, not a character; retype the text" in err
    code, _, err = invoke(tmp_path, "config", "show", UBLEXPORT_TIMEOUT="inf")
    assert code == 2 and "must be a number of seconds above 0 and below a day" in err


def test_a_full_disk_under_stdout_is_said_without_a_traceback(tmp_path: Path) -> None:
    """(Integrator review, nineteenth session) `history --json > /dev/full` printed two tracebacks and "check the
    path you gave", the handler's JSON answer failing the same way as the output it answered for."""
    import subprocess
    import sys

    env = {**os.environ, "UBLEXPORT_HOME": str(tmp_path / "home")}
    subprocess.run([sys.executable, "-m", "ublexport", "export", str(SAMPLES / "01-invoice-be-be.json"), "--to",
                    "a@yukiworks.nl"], env=env, capture_output=True, check=True)
    for args in (["history", "--json"], ["history"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "ublexport", *args], env=env, stdout=full,
                                  stderr=subprocess.PIPE, text=True)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "No space left on device" in done.stderr and "check the path you gave" not in done.stderr


def test_the_reading_commands_read_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """(Integrator review, nineteenth session) Every transaction began IMMEDIATE, so `documents list` and `company
    list` waited 61 s behind another process's write, then failed "database is locked"."""
    import sqlite3
    import subprocess
    import sys

    env = {**os.environ, "UBLEXPORT_HOME": str(tmp_path / "home")}
    subprocess.run([sys.executable, "-m", "ublexport", "export", str(SAMPLES / "01-invoice-be-be.json"), "--to",
                    "a@yukiworks.nl"], env=env, capture_output=True, check=True)
    writer = sqlite3.connect(tmp_path / "home" / "ublexport.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long export's commit, held
    try:
        for args in (["documents", "list", "--json"], ["company", "list", "--json"], ["history", "--json"]):
            done = subprocess.run([sys.executable, "-m", "ublexport", *args], env=env, capture_output=True,
                                  text=True, timeout=SQLITE_BUSY_SECONDS / 2)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
