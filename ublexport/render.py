"""Model -> view -> Jinja2 templates -> UBL bytes.

One template environment per process (building it and compiling the templates costs far more than a render).
Autoescape is on for every template, undefined names fail loudly, and the output is checked once for characters
XML 1.0 cannot carry (one regex over the whole document is cheaper than a check per printed value), so a note can
neither add an element nor produce an unreadable file.
"""

from __future__ import annotations

import re
from functools import cache

import jinja2

from ublexport import templates_dir
from ublexport.errors import InputError
from ublexport.model import Document
from ublexport.totals import Totals
from ublexport.view import UblView, build

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _refuse_xml_illegal(xml: str) -> str:
    bad = _XML_ILLEGAL.search(xml)
    if bad is not None:
        start = max(0, bad.start() - 30)
        raise InputError(f"the text {xml[start:bad.end()]!r} contains U+{ord(bad.group()):04X}, which XML cannot carry")
    return xml


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


@cache
def template(root: str) -> jinja2.Template:
    return environment().get_template(f"{root}.xml.j2")


def render_view(view: UblView) -> bytes:
    return _refuse_xml_illegal(template(view.root).render(d=view)).encode("utf-8")


def render(document: Document, *, profile: str | None = None, pdf: bytes | None = None,
           totals: Totals | None = None) -> bytes:
    """The UBL of a document, not yet validated (see ublexport.pipeline for the checked version)."""
    return render_view(build(document, profile=profile, pdf=pdf, totals=totals))
