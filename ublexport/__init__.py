"""ublexport: a company's accounting documents to its accountant's Yuki inbox as Peppol BIS 3.0 UBL by e-mail.

Heavy modules (lxml, jinja2, SQLAlchemy, aiosmtplib) are imported lazily by the modules that need them, so that
`ublexport --help` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def templates_dir() -> Path:
    """The UBL template folder: inside the installed package, else templates/ubl/ of the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates" / "ubl", here.parent / "templates" / "ubl"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the UBL templates are missing: reinstall ublexport (pip install .)")


def document_sent(*args: Any, **kwargs: Any) -> Any:
    """Host-application hook: a document became sent; queue its automatic export (see ublexport.outbox)."""
    from ublexport.outbox import document_sent as _document_sent

    return _document_sent(*args, **kwargs)
