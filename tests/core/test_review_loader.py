"""Reading document files: one unreadable entry never aborts an export, duplicate keys and a missing company file
are named, and the model's refusals reach `render` as exit code 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.core.docs import invoice
from ublexport.cli import main
from ublexport.errors import InputError
from ublexport.loader import load_document, read_documents, read_json

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def test_a_folder_named_like_a_json_file_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "sub.json"
    folder.mkdir()
    with pytest.raises(InputError, match=r"sub\.json: cannot read this file"):
        read_json(folder)


def test_a_fifo_a_device_a_missing_and_an_oversized_file_are_each_named(tmp_path: Path) -> None:
    """One stat decides (ublexport.loader._size): a pipe or a device would be read for ever, a file larger than
    any document is not read at all."""
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"pipe\.json: cannot read this file \(not a regular file"):
        read_json(fifo)
    with pytest.raises(InputError, match=r"/dev/zero: cannot read this file \(not a regular file"):
        read_json(Path("/dev/zero"))
    with pytest.raises(InputError, match=r"gone\.json: file not found"):
        read_json(tmp_path / "gone.json")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(40_000_001)  # sparse: no disk used
    with pytest.raises(InputError, match=r"huge\.json: larger than 40 MB: not a document"):
        read_json(huge)


def test_the_other_documents_of_the_folder_are_still_read(tmp_path: Path) -> None:
    (tmp_path / "sub.json").mkdir()
    (tmp_path / "doc.json").write_text(json.dumps(invoice(due_date="2026-12-02")))
    found = dict(read_documents([tmp_path]))
    assert isinstance(found[tmp_path / "sub.json"], InputError)
    assert found[tmp_path / "doc.json"]["number"] == "T-1"


def test_export_reports_the_unreadable_entry_and_sends_the_rest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("01-invoice-be-be.json", "company.json"):
        shutil.copy(SAMPLES / name, docs / name)
    (docs / "sub.json").mkdir()
    result = CliRunner().invoke(main, ["export", str(docs), "--to", "a@x.test", "--json"])
    assert result.exit_code == 2, result.output
    statuses = sorted((r["result"], r["refusal"]) for r in json.loads(result.stdout)["results"])
    assert statuses == sorted([("sent", None), ("refused", "input")], key=str)


def test_duplicate_keys_are_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    text = json.dumps(invoice(due_date="2026-12-02"))
    path.write_text(text.replace('"number": "T-1"', '"number": "T-1", "number": "T-2"'))
    with pytest.raises(InputError) as info:
        load_document(path)
    assert str(path) in str(info.value) and "'number' appears twice" in str(info.value)


def test_duplicate_keys_in_a_nested_object_too(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text('{"kind": "invoice", "lines": [{"name": "a", "name": "b"}]}')
    with pytest.raises(InputError, match="'name' appears twice"):
        read_json(path)


def test_a_missing_company_file_names_the_document_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(invoice(due_date="2026-12-02", company="nope.json")))
    with pytest.raises(InputError) as info:
        load_document(path)
    assert str(info.value) == f"{path}: company: file nope.json not found"


def test_an_unreadable_company_file_names_the_document_too(tmp_path: Path) -> None:
    (tmp_path / "company.json").write_text("{not json")
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(invoice(due_date="2026-12-02", company="company.json")))
    with pytest.raises(InputError) as info:
        load_document(path)
    assert str(info.value).startswith(f"{path}: company: file company.json: not valid JSON")


def test_render_refuses_a_negative_credit_note_with_exit_code_2(tmp_path: Path) -> None:
    data = json.loads((SAMPLES / "06-credit-note.json").read_text())
    data["lines"][0]["quantity"] = "-1"
    shutil.copy(SAMPLES / "company.json", tmp_path / "company.json")
    path = tmp_path / "credit.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["render", str(path), "--pdf", "none"])
    assert result.exit_code == 2 and "credit note's amounts are positive" in result.stderr
    assert result.stdout == ""


def test_render_refuses_an_exponent_amount_with_exit_code_2(tmp_path: Path) -> None:
    data = invoice(due_date="2026-12-02")
    data["lines"][0]["unit_price"] = "1e999999"
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["render", str(path)])
    assert result.exit_code == 2 and "lines[0].unit_price" in result.stderr and "Traceback" not in result.output


def _sample_with_accents(tmp_path: Path) -> str:
    """The Belgian sample with accented letters in the customer's name, its company file beside it."""
    shutil.copy(SAMPLES / "company.json", tmp_path / "company.json")
    data = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    data["customer"]["organisation_name"] = "Brasserie Ëlla & Café Noël"
    return json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_file_with_a_byte_order_mark_is_read_as_what_it_says(tmp_path: Path, encoding: str) -> None:
    """Notepad and PowerShell's `-Encoding utf8` write a UTF-8 BOM, Windows PowerShell 5.1's `Out-File` UTF-16 with
    its BOM: read as such (RFC 8259 lets a reader ignore the mark), the accents intact in the UBL."""
    path = tmp_path / "doc.json"
    path.write_bytes(_sample_with_accents(tmp_path).encode(encoding))
    assert path.read_bytes()[:2] in (b"\xef\xbb", b"\xff\xfe")  # the mark is there
    assert load_document(path).customer is not None
    assert load_document(path).customer.organisation_name == "Brasserie Ëlla & Café Noël"  # type: ignore[union-attr]
    result = CliRunner().invoke(main, ["render", str(path), "--pdf", "none"])
    assert result.exit_code == 0, result.stderr
    assert "Brasserie Ëlla &amp; Café Noël" in result.stdout


def test_a_company_file_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    company = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    (tmp_path / "company.json").write_bytes(json.dumps(company, ensure_ascii=False).encode("utf-8-sig"))
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(invoice(due_date="2026-12-02", company="company.json")), encoding="utf-8")
    assert load_document(path).company.name == company["name"]


def test_a_windows_1252_file_is_refused_naming_the_byte_and_the_remedy(tmp_path: Path) -> None:
    """Guessing a legacy encoding would put wrong letters in a name that goes to the accountant: refused, with the
    byte, where it is, and what to do; exit code 2 and nothing rendered."""
    path = tmp_path / "doc.json"
    text = _sample_with_accents(tmp_path)
    path.write_bytes(text.encode("cp1252"))
    at = text.encode("cp1252").index("Ë".encode("cp1252"))
    with pytest.raises(InputError) as info:
        read_json(path)
    assert str(info.value) == (f"{path}: not UTF-8 text (byte 0xCB at position {at} cannot be read as utf-8: an "
                               "accented letter such as é or ë saved as Windows-1252 or Latin-1?); save the file as "
                               "UTF-8")
    result = CliRunner().invoke(main, ["render", str(path), "--pdf", "none"])
    assert result.exit_code == 2 and "save the file as UTF-8" in result.stderr
    assert result.stdout == ""


def test_a_pdf_or_other_binary_file_given_for_a_json_document_says_so(tmp_path: Path) -> None:
    """A scan saved (or renamed) as the document's .json: named for what it is, not for a letter in Windows-1252."""
    pdf = tmp_path / "invoice.json"
    pdf.write_bytes((SAMPLES / "files" / "INV-88123.pdf").read_bytes())
    with pytest.raises(InputError) as info:
        read_json(pdf)
    assert str(info.value) == (f"{pdf}: not a JSON document: a PDF file; give the document's .json file (its PDF goes "
                               'in it as "pdf": {"file": "..."})')
    other = tmp_path / "other.json"
    other.write_bytes(b"\x00\x01\x02\xfe\xff" * 50)
    with pytest.raises(InputError, match=r"other\.json: not a JSON document: binary content"):
        read_json(other)
    photo = tmp_path / "photo.json"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    with pytest.raises(InputError, match=r"photo\.json: not a JSON document: a JPG file"):
        read_json(photo)


def test_a_utf16_file_with_a_json_mistake_is_named_for_the_mistake_not_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes('{"kind": "invoice",}'.encode("utf-16"))
    with pytest.raises(InputError, match=r"doc\.json: not valid JSON \(Expecting property name"):
        read_json(path)


# --- messages that name the field and the file (review of the seventeenth session) -----------------------------------


def _render(tmp_path: Path, values: dict[str, object]) -> tuple[int, str]:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(tmp_path / "doc.xml")])
    return result.exit_code, result.output


def _sample() -> dict[str, object]:
    values: dict[str, object] = json.loads((SAMPLES / "01-invoice-be-be.json").read_text(encoding="utf-8"))
    values["company"] = json.loads((SAMPLES / "company.json").read_text(encoding="utf-8"))
    return values


def test_a_check_across_fields_is_named_by_its_field_not_as_the_document(tmp_path: Path) -> None:
    code, output = _render(tmp_path, {**_sample(), "due_date": "2026-10-01"})
    assert code == 2
    assert "  - due_date: 2026-10-01 is before the issue_date 2026-11-02" in output and "(document)" not in output


def test_stated_totals_that_disagree_name_the_file(tmp_path: Path) -> None:
    code, output = _render(tmp_path, {**_sample(), "stated_totals": {"payable": "1.00"}})
    assert code == 2
    assert f"{tmp_path / 'doc.json'}: invoice 2026-0001: the stated totals disagree with the lines" in output


def test_codes_typed_in_lower_case_are_read_in_upper_case(tmp_path: Path) -> None:
    values = _sample()
    customer = dict(values["customer"])  # type: ignore[call-overload]
    customer["invoice_address"] = {**customer["invoice_address"], "country": "be"}
    lines = [dict(line) for line in values["lines"]]  # type: ignore[attr-defined]
    lines[0]["unit_code"] = "hur"
    document = load_document(_write(tmp_path, {**values, "currency": "eur", "customer": customer, "lines": lines}))
    assert (document.currency, document.customer.invoice_address.country,  # type: ignore[union-attr]
            document.lines[0].unit_code) == ("EUR", "BE", "HUR")


def test_a_name_of_spaces_only_is_said_to_be_empty(tmp_path: Path) -> None:
    values = _sample()
    code, output = _render(tmp_path, {**values, "customer": {**values["customer"],  # type: ignore[dict-item]
                                                             "organisation_name": "   "}})
    assert code == 2
    assert "customer.organisation_name: is empty (or only spaces); fill it in" in output


def _write(tmp_path: Path, values: dict[str, object]) -> Path:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_a_folder_is_walked_as_rglob_would_walk_it(tmp_path: Path) -> None:
    """json_files replaced Path.rglob("*.json") (whose Path objects grew the export's peak memory with the batch):
    the same entries, hidden files, a folder named *.json, a pipe and symbolic links included, and a symbolic link
    to a folder listed but not followed."""
    import os

    from ublexport.loader import json_files

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text("{}")
    (tmp_path / "upper.JSON").write_text("{}")
    (tmp_path / ".hidden.json").write_text("{}")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "folder.json" / "inner.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    os.symlink(tmp_path / "a", tmp_path / "link")
    os.symlink(tmp_path / "a", tmp_path / "dirlink.json")
    os.symlink(tmp_path / "a" / "x.json", tmp_path / "filelink.json")
    os.mkfifo(tmp_path / "pipe.json")
    ours = sorted(json_files(tmp_path))
    assert ours == sorted(str(p) for p in tmp_path.rglob("*.json"))
    assert [os.path.relpath(p, tmp_path) for p in ours] == [
        ".hidden.json", "a/x.json", "dirlink.json", "filelink.json", "folder.json", "folder.json/inner.json",
        "pipe.json"]
