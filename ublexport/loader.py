"""Read documents from JSON files: one document per file, the company inline or by reference to a company file.

Errors name the file and the field (pydantic's location, e.g. `lines[2].vat_rate`), so a bookkeeper knows what to
fix. Paths inside a document (`"company": "company.json"`, `"pdf": {"file": "x.pdf"}`) are relative to it.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from ublexport.errors import InputError
from ublexport.model import Company, Document

_FILE_FIELDS = ("pdf", "received_ubl")


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def describe(error: ValidationError, schema: str = "ublexport schema") -> list[str]:
    """One line per problem: `lines[2].vat_rate: category S needs a vat_rate (BR-S-05)`; SCHEMA: the command
    that prints the schema of the file at hand."""
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field; check the spelling (see `{schema}`)"
        elif err["type"] == "string_unicode":  # a lone surrogate ("\ud800" in the JSON): no character at all
            message = ("holds an escape (\\uD800-\\uDFFF) that is half of a character, not a character; retype "
                       "the text")
        elif err["type"] == "string_too_short" and (err.get("ctx") or {}).get("min_length") == 1:
            message = "is empty (or only spaces); fill it in, or leave the field out where it is optional"
        if not loc and _NAMES_A_FIELD.match(message):  # a check across fields that names the one to fix first
            problems.append(message)
        else:
            problems.append(f"{_field_path(loc)}: {message}")
    return problems


# `lines[0].allowances_charges: ...`, `due_date: ...`: a document-wide message that begins with the field it is about
_NAMES_A_FIELD = re.compile(r"[a-z_]+(?:\[[0-9]+\])?(?:\.[a-z_]+(?:\[[0-9]+\])?)*: ")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json keeps the last of two equal keys without a word: a document saying "number" twice is ambiguous."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


MAX_FILE_BYTES = 20_000_000  # an attached PDF or received UBL: mail servers refuse messages much larger


def _size(path: Path) -> int:
    """The size of a file about to be read, from one stat (a year-end plan reads 20,000 files, and the worker each
    again). Refuses a device or a FIFO, which would be read for ever; a folder is left to the read that follows."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise InputError("cannot read this file (not a regular file: a device or a pipe)", source=str(path))
    return info.st_size


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of PATH, a regular file of at most LIMIT bytes: /dev/zero read without a limit took 4.8 GB in four
    seconds, and a FIFO blocked for ever (past SIGTERM). WHAT names the setting or argument in the refusal."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file: a device or a pipe"
            raise InputError(f"{what}: {path} cannot be read ({kind})")
        if info.st_size > limit:
            raise InputError(f"{what}: {path} is {info.st_size:,} bytes; at most {limit:,} are read")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what}: {path} cannot be read ({exc.strerror or exc})") from None


def read_json(path: Path) -> Any:
    """One JSON file, UTF-8 as RFC 8259 asks, with or without a byte order mark.

    Windows tools write one: Notepad and PowerShell's `Out-File -Encoding utf8` a UTF-8 BOM, Windows PowerShell 5.1's
    `Out-File` and `>` UTF-16 with its BOM. RFC 8259 lets a reader ignore it, and the JSON reader tells those
    encodings apart by it, so such a file is read as what it says it is rather than refused. A file in a legacy
    8-bit encoding (an é saved as Windows-1252) is refused with the byte and what to do: guessing the encoding
    would put wrong letters in a name or address that then goes to the accountant."""
    data = b""
    try:
        if _size(path) > 2 * MAX_FILE_BYTES:  # a PDF inline as base64 fits
            raise InputError(f"larger than {2 * MAX_FILE_BYTES // 1_000_000} MB: not a document", source=str(path))
        data = path.read_bytes()
        return json.loads(data, object_pairs_hook=_unique_keys)
    except FileNotFoundError:
        raise InputError("file not found", source=str(path)) from None
    except _DuplicateKey as exc:
        raise InputError(f"the key {exc.args[0]!r} appears twice in one object; keep one of them",
                         source=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        binary = _binary(data)
        if binary is not None:  # a PDF or photo given for its JSON, or other binary content
            raise InputError(f"not a JSON document: {binary}; give the document's .json file (its PDF goes in it "
                             'as "pdf": {"file": "..."})', source=str(path)) from None
        if isinstance(exc, json.JSONDecodeError):
            if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):  # a supplier's UBL, or other XML or HTML
                raise InputError("not a JSON document: XML (a UBL e-invoice?); give the document's .json file: a "
                                 'supplier\'s UBL goes in an expense as "received_ubl": {"file": "..."}, and '
                                 "`ublexport validate FILE` checks a UBL file", source=str(path)) from None
            raise InputError(f"not valid JSON ({exc})", source=str(path)) from None
        byte = data[exc.start]
        raise InputError(f"not UTF-8 text (byte 0x{byte:02X} at position {exc.start} cannot be read as "
                         f"{exc.encoding}: an accented letter such as é or ë saved as Windows-1252 or Latin-1?); "
                         "save the file as UTF-8", source=str(path)) from None
    except RecursionError:  # arrays nested thousands deep: no document is
        raise InputError("not valid JSON for a document (nested too deeply)", source=str(path)) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (Python's limit on int conversion)
        why = "a number with thousands of digits" if "digits" in str(exc) else str(exc)
        raise InputError(f"not valid JSON for a document ({why})", source=str(path)) from None
    except OSError as exc:  # a folder named x.json, no permission, an I/O error: this file only, not the export
        raise InputError(f"cannot read this file ({exc.strerror or exc})", source=str(path)) from None


def _binary(data: bytes) -> str | None:
    """What a file that is no JSON text is, when it is plainly not text at all: a PDF, JPEG or PNG by its magic
    bytes, else binary content by control characters in its first kilobyte as the JSON reader decodes it (a text in
    UTF-16 has NUL bytes, but no control characters once decoded). None for text, however wrong its JSON."""
    from ublexport.filetypes import sniff

    kind = sniff(data)
    if kind is not None:
        return f"a {kind.extension.upper()} file"
    if b"\0" not in data[:1024]:
        return None
    try:
        text = data[:1024].decode(json.detect_encoding(data), "ignore")
    except LookupError:  # pragma: no cover - detect_encoding names only codecs Python has
        return "binary content"
    return "binary content" if any(ord(c) < 32 and c not in "\t\r\n" for c in text) else None


def _inline_file(base: Path, value: Any, field: str, source: str) -> Any:
    if isinstance(value, dict) and "file" in value:
        extra = set(value) - {"file", "filename"}
        if extra:
            raise InputError(f"{field}: unknown field(s) {sorted(extra)}", source=source)
        path = _resolved(base, str(value["file"]), f"{field}.file", source)
        try:
            try:
                size = _size(path)
            except InputError:
                raise InputError(f"{field}.file: cannot read {path} (not a regular file: a device or a pipe)",
                                 source=source) from None
            if size > MAX_FILE_BYTES:
                raise InputError(f"{field}.file: {path} is larger than {MAX_FILE_BYTES // 1_000_000} MB; an e-mail "
                                 "to Yuki cannot carry it", source=source)
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{field}.file: cannot read {path} ({exc.strerror})", source=source) from None
        return {"filename": value.get("filename", path.name),
                "content_base64": base64.b64encode(data).decode("ascii")}
    return value


def file_schema(company: bool = False) -> dict[str, Any]:
    """The JSON Schema of a document file (or a company file) as this loader reads it: a document's company may be
    the path of a company file, and its PDF or received UBL a {"file": path} beside it. The models' own schema
    describes what they hold once those are read, and refused the README's own examples."""
    from ublexport.model import Document

    if company:
        return cast(dict[str, Any], _no_floats(Company.model_json_schema(mode="validation")))
    schema = Document.model_json_schema(mode="validation")
    properties = schema["properties"]
    properties["company"] = {"anyOf": [{"$ref": "#/$defs/Company"}, {
        "type": "string", "description": "the path of a company file, relative to this document"}]}
    beside = {"type": "object", "additionalProperties": False, "required": ["file"],
              "properties": {"file": {"type": "string", "description": "a path relative to this document"},
                             "filename": {**schema["$defs"]["FileContent"]["properties"]["filename"],
                                          "description": "the name to send it under"}}}
    for name in ("pdf", "received_ubl"):
        properties[name]["anyOf"].insert(1, beside)
    return cast(dict[str, Any], _no_floats(schema))


def _no_floats(node: Any) -> Any:
    """Amounts, quantities and rates are strings or integers: a JSON number with a fraction is a binary float, which
    the model refuses (no cent may be lost), so the schema says integer where pydantic says number."""
    if isinstance(node, dict):
        return {key: ("integer" if key == "type" and value == "number" else _no_floats(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_no_floats(item) for item in node]
    return node


def load_company(path: Path, *, of_document: bool = True) -> Company:
    """A company file, or (OF_DOCUMENT) a document file's company, inline or the company file it refers to: an
    invoicing system that writes the company into every document has no company file to register. A reference is
    followed one step, as a document's own is read (`resolve`): to a company file."""
    data = read_json(path)
    inline = of_document and isinstance(data, dict) and "kind" in data and "company" in data
    if inline and isinstance(data["company"], str):
        return load_company(_resolved(path.parent, data["company"], "company", str(path)), of_document=False)
    try:
        return Company.model_validate(data["company"] if inline else data)
    except ValidationError as exc:
        what, problems = "not a valid company", describe(exc, "ublexport schema --company")
        if inline:  # named as in the document: company.vat_number
            what, problems = "its company is not valid", [f"company.{p}" for p in problems]
        raise InputError(what, source=str(path), problems=problems) from None


_COMPANY_FILES: dict[Path, tuple[tuple[int, int], Any]] = {}


def _company_json(path: Path) -> Any:
    """The company file every document of a folder refers to, read once while it does not change (size and
    modification time). The parsed JSON is shared between documents: it is only ever read (pydantic validates
    input without changing it)."""
    try:
        stat = path.stat()
    except OSError:
        return read_json(path)  # reports the missing file
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _COMPANY_FILES.get(path)
    if cached is None or cached[0] != key:
        if len(_COMPANY_FILES) > 64:
            _COMPANY_FILES.clear()
        cached = _COMPANY_FILES[path] = (key, read_json(path))
    return cached[1]


def _resolved(base: Path, name: str, field: str, source: str) -> Path:
    """NAME (a path the document gives, relative to it) made absolute; a NUL byte in it or a loop of symbolic links
    is this document's problem, named at its field, not a traceback that ends the export of every other one."""
    try:
        return _real_path(base, name) if field == "company" else (base / name).resolve()
    except (ValueError, RuntimeError, OSError) as exc:  # embedded null byte; symlink loop; a path too long
        why = "it holds a NUL character" if isinstance(exc, ValueError) else f"it cannot be followed ({exc})"
        raise InputError(f"{field}: the path {name!r} is not a file's path: {why}", source=source) from None


@functools.lru_cache(maxsize=256)
def _real_path(base: Path, name: str) -> Path:
    """Where a document's company reference points: every document of a folder names the same file, and
    resolving it (a system call per path component) cost as much as reading the document."""
    return (base / name).resolve()


def resolve(data: Any, base: Path, source: str) -> Any:
    """Replace file references (company file, PDF, received UBL) by their content."""
    if not isinstance(data, dict):
        raise InputError("a document file holds one JSON object", source=source)
    data = dict(data)
    company = data.get("company")
    if isinstance(company, str):
        where = _resolved(base, company, "company", source)
        try:
            data["company"] = _company_json(where)
        except InputError as exc:  # name the document and its field, not only the company file
            reason = exc.args[0].removeprefix(f"{exc.source}: ") if exc.source else exc.args[0]
            message = (f"company: file {company} not found" if reason == "file not found"
                       else f"company: file {company}: {reason}")
            raise InputError(message, source=source, problems=exc.problems) from None
    for field in _FILE_FIELDS:
        if field in data:
            data[field] = _inline_file(base, data[field], field, source)
    return data


def load_document(path: Path, data: Any = None) -> Document:
    """Read and check one document file (`data`: its JSON, when already read); raise InputError naming the file
    and every bad field."""
    source = str(path)
    data = resolve(read_json(path) if data is None else data, path.parent, source)
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        raise InputError("not a valid document", source=source, problems=describe(exc)) from None


def read_documents(paths: Iterable[Path]) -> Iterator[tuple[Path, Any]]:
    """Each document file with its JSON (or the InputError reading it gave): files as given; folders walked
    (sorted, so runs are repeatable) for JSON files whose top level has a "kind" (company files and other JSON
    are skipped). A folder's files are parsed to tell them apart, once: that parse is what the document is then
    loaded from.

    A folder's listing is held as plain strings, sorted like paths (by their parts), and each Path is made only
    when its turn comes: a year of 20,000 invoices is then a 2 MB listing, not 20,000 Path objects."""
    for path in paths:
        if path.is_dir():
            names = sorted(json_files(path), key=lambda name: name.split(os.sep))
            for name in names:
                child = Path(name)
                try:
                    data = read_json(child)
                except InputError as exc:
                    yield child, exc  # let the caller report it as the document it may be
                    continue
                if isinstance(data, dict) and "kind" in data:
                    yield child, data
        elif path.exists():
            try:
                data = read_json(path)
            except InputError as exc:
                data = exc
            yield path, data
        else:
            raise InputError("no such file or folder", source=str(path))


def json_files(folder: Path) -> Iterator[str]:
    """Every entry named *.json under FOLDER (its subfolders too, symbolic links to folders not followed), as
    strings: what Path.rglob("*.json") finds, a folder so named included (reading it then says what it is).

    Path.rglob would make a Path of each, and pathlib interns every part of a path it makes: with 20,000 files the
    export's peak grew 4 MB more (CPython keeps the grown table of interned strings for the rest of the process)."""
    for root, folders, files in os.walk(folder):
        for name in (*folders, *files):
            if name.endswith(".json"):
                yield os.path.join(root, name)


def no_documents_note(paths: Iterable[Path]) -> str:
    """Said when PATHS held no document at all: a folder of PDFs, company files only, or the wrong folder (one that
    does not exist is refused). Not an error: an hourly import of a drop folder finds it empty most hours."""
    shown = ", ".join(str(p) for p in paths)
    return (f"no documents in {shown}: a folder is searched (with its subfolders) for .json files whose top level "
            'has a "kind"; company files, other JSON and PDFs (they go inside a document as "pdf") are skipped')


def document_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """The document files of `read_documents`."""
    return (path for path, _ in read_documents(paths))
