"""DKIM signatures (RFC 6376, dkimpy) on what goes through the SMTP server, when the company gives its key.

Why: Yuki never answers the sender. When the sender's domain publishes a DMARC policy of `reject` or `quarantine`,
the accountant's mail server accepts a message only if SPF passes for the host that hands it over, or a DKIM
signature of the domain verifies. A relay that neither is listed in the domain's SPF record nor signs for it (an
internet provider's smarthost, a shared relay) makes every e-mail vanish. With `UBLEXPORT_DKIM_SELECTOR` and
`UBLEXPORT_DKIM_KEY_FILE` ublexport signs each e-mail itself, with d= the sender's domain (aligned with From, as
DMARC asks), the public key published at `<selector>._domainkey.<domain>` (`config check` says whether it is, and
gives the record to publish).

The signature covers the headers dkimpy recommends (From twice, so none can be added; To, Subject, Date, Message-ID,
MIME-Version, Content-Type, Reply-To) and the whole body, relaxed/relaxed so that a relay re-folding a header does
not break it. RSA-SHA256 only: Ed25519 signatures (RFC 8463) are not verified by the large mailbox providers yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ublexport.compose import sender_domain

#: RFC 8301: a signer must use at least 1024 bits, and verifiers may refuse fewer
MIN_KEY_BITS = 1024
_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}"
                       r"[A-Za-z0-9])?)*")
SETTINGS = "UBLEXPORT_DKIM_SELECTOR and UBLEXPORT_DKIM_KEY_FILE"


@dataclass(frozen=True)
class Signer:
    """Signs e-mails for DOMAIN with the private KEY (PEM) published under SELECTOR."""

    selector: str
    domain: str
    key: bytes = field(repr=False)  # never printed

    @property
    def record_name(self) -> str:
        """Where the public key is published."""
        return f"{self.selector}._domainkey.{self.domain}"

    def sign(self, data: bytes) -> bytes:
        """DATA (a whole message, CRLF) with its DKIM-Signature header in front."""
        import dkim

        header: bytes = dkim.sign(data, self.selector.encode("ascii"), self.domain.encode("ascii"), self.key,
                                  canonicalize=(b"relaxed", b"relaxed"))
        return header + data

    def public_record(self) -> str:
        """The TXT record to publish at record_name: `v=DKIM1; k=rsa; p=<the public key>`."""
        import base64

        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(self.key, password=None)
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"

    def modulus(self) -> int:
        import dkim.crypto

        return int(dkim.crypto.parse_pem_private_key(self.key)["modulus"])


KEY_FILE_MAX = 64 * 1024
"""A PEM private key is a few kilobytes (RSA 4096: about 3.3 kB)."""


def signer_problem(selector: str | None, key_file: Path | None) -> str | None:
    """Why these settings cannot sign (asked when an SMTP transport is opened), or None."""
    if (selector is None) != (key_file is None):
        return f"{SETTINGS} go together: set both to sign the e-mails with DKIM, or neither"
    if selector is None or key_file is None:
        return None
    if not selector.isascii() or not _SELECTOR.fullmatch(selector):
        return (f"UBLEXPORT_DKIM_SELECTOR: {selector!r} is not a DKIM selector (letters, digits, '-' and '_', labels "
                "separated by '.', as in the TXT record's name <selector>._domainkey.<domain>)")
    from ublexport.errors import InputError
    from ublexport.loader import read_regular

    try:
        pem = read_regular(key_file, KEY_FILE_MAX, "UBLEXPORT_DKIM_KEY_FILE")
    except InputError as exc:
        return str(exc)
    import dkim.crypto

    try:
        bits = int(dkim.crypto.parse_pem_private_key(pem)["modulus"]).bit_length()
    except (dkim.crypto.UnparsableKeyError, KeyError, ValueError, TypeError, IndexError):
        return (f"UBLEXPORT_DKIM_KEY_FILE: {key_file} is not an RSA private key in PEM form (-----BEGIN RSA PRIVATE "
                "KEY----- or -----BEGIN PRIVATE KEY-----, unencrypted)")
    if bits < MIN_KEY_BITS:
        return (f"UBLEXPORT_DKIM_KEY_FILE: {key_file} is a {bits}-bit key; receivers refuse DKIM keys under "
                f"{MIN_KEY_BITS} bits (RFC 8301): make a 2048-bit one")
    return None


def exposed(key_file: Path) -> str | None:
    """Why the key file is readable by others than its owner (POSIX permissions), or None: anyone who can read it can
    sign mail as the company's domain. Said by `config check`, not refused (a Windows file has no such bits)."""
    import os
    import stat

    if os.name != "posix":
        return None
    try:
        mode = key_file.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"{key_file} can be read by others than its owner (mode {stat.filemode(mode)}): anyone who can read "
                f"it can sign mail as the company's domain; `chmod 600 {key_file}`")
    return None


def load_signer(sender: str, selector: str | None, key_file: Path | None) -> Signer | None:
    """The signer of these settings (checked by signer_problem first), or None when DKIM is not set."""
    if selector is None or key_file is None:
        return None
    from ublexport.loader import read_regular

    return Signer(selector, sender_domain(sender).lower(),
                  read_regular(key_file, KEY_FILE_MAX, "UBLEXPORT_DKIM_KEY_FILE"))
