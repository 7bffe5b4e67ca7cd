"""Model -> view -> Jinja2 templates -> UBL bytes.

One template environment per process (building it and compiling the templates costs far more than a render).
Every printed value is escaped (`xml_escape`, the environment's finalize), undefined names fail loudly, and the
output is checked once for characters XML 1.0 cannot carry (one pass over the whole document is cheaper than a check
per printed value), so a note can neither add an element nor produce an unreadable file.
"""

from __future__ import annotations

import re
from functools import cache

import jinja2
from markupsafe import _escape_inner  # type: ignore[attr-defined]  # >= 3.0: markupsafe.escape without its Markup

from ublexport import templates_dir
from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.totals import Totals
from ublexport.view import UblView, build

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Every byte but the C0 controls XML 1.0 refuses: deleting these from the UTF-8 leaves only the refused ones.
_NOT_CONTROL = bytes(b for b in range(256) if not (b < 0x20 and b not in b"\t\n\r"))


def _refuse_xml_illegal(xml: str) -> str:
    bad = _XML_ILLEGAL.search(xml)
    if bad is not None:
        start = max(0, bad.start() - 30)
        raise InputError(f"the text {xml[start:bad.end()]!r} contains U+{ord(bad.group()):04X}, which XML cannot carry")
    return xml


def _xml_bytes(xml: str) -> bytes:
    """The document as UTF-8, refused (by _refuse_xml_illegal, for its message) when it holds a character that
    _XML_ILLEGAL matches.

    The same set as the regex, found several times faster than the regex scans a 10 kB document (which cost more
    than a tenth of a render): a lone surrogate cannot be encoded at all, a C0 control is the only source of a byte
    below 0x20 in UTF-8 (bytes of multi-byte sequences are all >= 0x80), so bytes.translate deleting every other
    byte leaves nothing on clean output; U+FFFE/U+FFFF are two substring tests (instant on the common all-Latin-1
    string, which cannot hold them)."""
    try:
        data = xml.encode("utf-8")
    except UnicodeEncodeError:
        _refuse_xml_illegal(xml)
        raise
    if data.translate(None, _NOT_CONTROL) or "\ufffe" in xml or "\uffff" in xml:
        _refuse_xml_illegal(xml)
    return data


def xml_escape(value: object) -> str:
    """Every value a template prints, with & < > " ' escaped: text and attribute values alike.

    This is the environment's `finalize`, so escaping is automatic and cannot be switched off from a template
    (unlike Jinja2's autoescape, it ignores `|safe` and Markup: nothing is ever printed raw). It escapes exactly what
    autoescape does, with markupsafe's own C function, but returns a plain str: autoescape wraps each of the ~230
    values of a 10-line invoice in a Markup object, which cost half of the template's time."""
    return _escape_inner(value if type(value) is str else str(value))


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=False,  # xml_escape escapes every printed value instead; see there
        finalize=xml_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


@cache
def template() -> jinja2.Template:
    """The one template for both roots (Invoice, CreditNote), compiled once per process."""
    return environment().get_template("Document.xml.j2")


def render_view(view: UblView) -> bytes:
    return _xml_bytes(template().render(d=view))


def render(document: Document, *, profile: str | None = None, pdf: bytes | None = None,
           totals: Totals | None = None) -> bytes:
    """The UBL of a document, not yet validated (see ublexport.pipeline for the checked version)."""
    return render_view(build(document, profile=profile, pdf=pdf, totals=totals))
