"""What a document's file really is, and a safe name for it.

A document's "pdf" is whatever the user scanned or photographed: a receipt is often a JPEG, and a file named
scan.pdf need not be a PDF. The type is read from the content's first bytes (never from the name), so that the UBL's
mimeCode (BT-125) and the e-mail attachment's Content-Type and file name tell Yuki the truth; anything Peppol BIS 3
does not allow an invoice to carry as its visual copy is refused before it can leave.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ublexport.errors import InputError

MAX_FILENAME = 100
_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|]+')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True, slots=True)
class FileType:
    mime: str
    extension: str  # the one we give a file of this type
    extensions: frozenset[str]  # the ones a given name may already carry (lower case, no dot)


PDF = FileType("application/pdf", "pdf", frozenset({"pdf"}))
JPEG = FileType("image/jpeg", "jpg", frozenset({"jpg", "jpeg", "jpe"}))
PNG = FileType("image/png", "png", frozenset({"png"}))
KNOWN_EXTENSIONS = PDF.extensions | JPEG.extensions | PNG.extensions
PDF_HEADER_WITHIN = 1024


def sniff(content: bytes) -> FileType | None:
    """The type by magic bytes: `%PDF-`, JPEG's SOI + marker (FF D8 FF), PNG's 8-byte signature.

    PDF readers look for the PDF header within the first 1024 bytes (some scanners write bytes before it); the
    image signatures, which must start the file, are asked first, so that a JPEG whose comment holds "%PDF-" is
    still a JPEG."""
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    at = content.find(b"%PDF-", 0, PDF_HEADER_WITHIN)
    if at >= 0:
        before = content[:at]
        # what a scanner writes before the header is not markup (XML, HTML: a "%PDF-" in a comment) nor an archive
        # (a ZIP whose first entry is named "%PDF-1.4")
        if b"<" not in before and not before.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"PK"):
            return PDF
    return None


def visual_copy_type(content: bytes, label: str, filename: str | None) -> FileType:
    """The type of a document's visual copy (BT-125), or InputError naming the document and the file."""
    found = sniff(content)
    shown = f" ({filename})" if filename else ""
    if found is None:
        raise InputError(f"the pdf of {label}{shown} is not a PDF, PNG or JPEG (judged by its content, "
                         "not its name); give the document as a PDF, or a scan of it as PNG or JPEG")
    if found is PDF and b"%%EOF" not in content[-PDF_HEADER_WITHIN:]:
        # a PDF ends with %%EOF (readers look for it in the last kilobyte, as for the header in the first): a
        # download or copy cut short would go to the accountant as an image that does not open
        raise InputError(f"the pdf of {label}{shown} is cut short: a PDF ends with %%EOF and this one does not (a "
                         "download or copy that did not finish?); give the whole file")
    return found


def safe_filename(name: str, extension: str) -> str:
    """A plain attachment name: no path, no control characters, at most 100 characters with the extension."""
    text = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs"))
    text = _UNSAFE_FILENAME.sub("-", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text:
        text = "document"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"_{text}"
    suffix = f".{extension}"
    return text[: MAX_FILENAME - len(suffix)].rstrip(" .") + suffix


def named_for(filename: str, kind: FileType) -> str:
    """`filename` made safe, with an extension that matches its content: bon.jpg stays bon.jpg (and photo.jpeg
    photo.jpeg), a JPEG named scan.pdf becomes scan.jpg, a PDF named report.v2 becomes report.v2.pdf."""
    stem, dot, suffix = filename.rpartition(".")
    if dot and stem and suffix.lower() in KNOWN_EXTENSIONS:
        extension = suffix if suffix.lower() in kind.extensions else kind.extension
        return safe_filename(stem, extension)
    return safe_filename(filename, kind.extension)
