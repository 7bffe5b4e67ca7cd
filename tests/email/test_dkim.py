"""DKIM: with UBLEXPORT_DKIM_SELECTOR and UBLEXPORT_DKIM_KEY_FILE every e-mail leaves signed for the sender's domain,
and a real verifier (dkimpy, asking a DNS server of the test's own on 127.0.0.1 for the public key) accepts what the
SMTP server received; `config check` says whether the key is published, and gives the record to publish."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import dkim
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.email.conftest import SAMPLES, DnsZone, ServerFactory
from ublexport.cli import main

SENDER = "boekhouding@dewaele.example"
SELECTOR = "ublx2026"
RECORD = f"{SELECTOR}._domainkey.dewaele.example."
# the relay (127.0.0.1 here) is not in the domain's SPF, and DMARC rejects what neither SPF nor DKIM passes
NOT_IN_SPF = ['dewaele.example. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"',
              '_dmarc.dewaele.example. 60 IN TXT "v=DMARC1; p=reject"']


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def txt(key: rsa.RSAPrivateKey) -> str:
    """The key's DNS record as a zone-file line (the base64 split into strings of at most 255 characters)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    chunks = " ".join(f'"{text[i:i + 200]}"' for i in range(0, len(text), 200))
    return f"{RECORD} 60 IN TXT {chunks}"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def signing(tmp_path: Path, home: Path, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch,
            dns_zone: DnsZone) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem(key))
    path.chmod(0o600)
    monkeypatch.setenv("UBLEXPORT_DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("UBLEXPORT_DKIM_KEY_FILE", str(path))
    dns_zone.records[:] = [*NOT_IN_SPF, txt(key)]
    return path


def cli(server: Any, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--smtp-host", "127.0.0.1", "--smtp-port", str(server.port),
                                     "--smtp-security", "none", "--from", SENDER], catch_exceptions=False)


def test_every_email_leaves_signed_and_verifies(smtp_server: ServerFactory, signing: Path) -> None:
    server, handler = smtp_server()
    result = cli(server, "export", str(SAMPLES / "01-invoice-be-be.json"), str(SAMPLES / "08-expense.json"),
                 "--to", "dossier@x.test; kantoor@x.test", "--json")
    assert result.exit_code == 0, result.output
    assert "DKIM-signed for dewaele.example (ublx2026)" in json.loads(result.stdout)["transport"]
    assert len(handler.received) == 4
    for received in handler.received:
        assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=dewaele.example")
        assert b"s=ublx2026" in received.data.split(b"\r\n\r\n", 1)[0]
        assert dkim.verify(received.data), "the receiver's check of the signature"
    # what a signature protects: a changed byte in the attachment, or an added From, fails it
    data = handler.received[0].data
    tampered = data[:-200] + (b"B" if data[-200:-199] != b"B" else b"C") + data[-199:]
    assert not dkim.verify(tampered)
    head, body = data.split(b"\r\n\r\n", 1)
    assert not dkim.verify(head + b"\r\nFrom: someone@else.example\r\n\r\n" + body)


def test_config_check_says_the_key_is_published_and_dmarc_passes_by_it(
        smtp_server: ServerFactory, signing: Path, dns_zone: DnsZone, key: rsa.RSAPrivateKey) -> None:
    server, _ = smtp_server()
    found = checks(cli(server, "config", "check", "--json"))
    assert found["SPF"]["result"] == "warning"  # the relay is not listed ...
    assert found["DKIM"] == {"check": "DKIM", "result": "ok",
                             "detail": "ublx2026._domainkey.dewaele.example publishes the key ublexport signs with: "
                                       "its signatures for dewaele.example verify"}
    assert found["DMARC"]["result"] == "ok"  # ... but the signature carries DMARC
    assert "p=reject; ublexport's DKIM signature verifies" in found["DMARC"]["detail"]

    dns_zone.records[:] = NOT_IN_SPF  # not published yet: the record to publish is given
    found = checks(cli(server, "config", "check", "--json"))
    assert found["DKIM"]["result"] == "warning" and "publishes no key" in found["DKIM"]["detail"]
    published = found["DKIM"]["detail"].split(f"publish this TXT record at {RECORD[:-1]}: ", 1)[1]
    assert f"{RECORD} 60 IN TXT" in txt(key) and published.startswith("v=DKIM1; k=rsa; p=")
    assert published.replace(" ", "") in txt(key).replace('" "', "").replace(" ", "")
    assert found["DMARC"]["result"] == "warning" and "ublexport's own signature does not verify yet" in \
        found["DMARC"]["detail"]

    dns_zone.records[:] = [*NOT_IN_SPF, txt(new_key())]  # another key (an old one, a typo in the record)
    found = checks(cli(server, "config", "check", "--json"))
    assert found["DKIM"]["result"] == "warning" and "publishes another key than the one in UBLEXPORT_DKIM_KEY_FILE" \
        in found["DKIM"]["detail"]

    dns_zone.records[:] = [*NOT_IN_SPF, f'{RECORD} 60 IN TXT "v=DKIM1; k=rsa; p="']
    found = checks(cli(server, "config", "check", "--json"))
    assert found["DKIM"]["result"] == "warning" and "revoked" in found["DKIM"]["detail"]
    assert "DKIM key file" not in found  # 0600

    signing.chmod(0o644)  # a key others can read: said, not refused
    found = checks(cli(server, "config", "check", "--json"))
    assert found["DKIM key file"]["result"] == "warning"
    assert f"`chmod 600 {signing}`" in found["DKIM key file"]["detail"] and "-rw-r--r--" in \
        found["DKIM key file"]["detail"]


def checks(result: Result) -> dict[str, dict[str, str]]:
    assert result.exit_code == 0, result.output  # warnings only
    return {c["check"]: c for c in json.loads(result.stdout)["checks"]}


@pytest.mark.parametrize(("selector", "content", "said"), [
    ("ublx2026", None, "UBLEXPORT_DKIM_SELECTOR and UBLEXPORT_DKIM_KEY_FILE go together"),
    (None, b"x", "UBLEXPORT_DKIM_SELECTOR and UBLEXPORT_DKIM_KEY_FILE go together"),
    ("ublx 2026", b"x", "'ublx 2026' is not a DKIM selector"),
    ("ublx2026", b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
     "is not an RSA private key in PEM form"),
])
def test_incomplete_or_wrong_dkim_settings_are_refused_before_anything_is_sent(
        smtp_server: ServerFactory, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        selector: str | None, content: bytes | None, said: str) -> None:
    server, handler = smtp_server()
    if selector is not None:
        monkeypatch.setenv("UBLEXPORT_DKIM_SELECTOR", selector)
    if content is not None:
        path = tmp_path / "key.pem"
        path.write_bytes(content)
        monkeypatch.setenv("UBLEXPORT_DKIM_KEY_FILE", str(path))
    result = cli(server, "export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "dossier@x.test")
    assert result.exit_code == 2 and said in result.output
    assert handler.connections == 0 and handler.received == []


def test_a_key_file_that_cannot_be_read_is_named(smtp_server: ServerFactory, home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = smtp_server()
    monkeypatch.setenv("UBLEXPORT_DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("UBLEXPORT_DKIM_KEY_FILE", str(tmp_path / "missing.pem"))
    result = cli(server, "config", "check")
    assert result.exit_code == 2 and f"{tmp_path / 'missing.pem'} cannot be read" in result.output


def test_the_key_file_is_not_named_in_a_config_file(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('dkim_selector = "ublx2026"\ndkim_key_file = "/etc/ublexport/dkim.pem"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 2 and "set UBLEXPORT_DKIM_KEY_FILE in the environment" in result.output


def test_the_key_never_appears_in_the_settings_shown(home: Path, signing: Path, key: rsa.RSAPrivateKey) -> None:
    result = CliRunner().invoke(main, ["config", "show", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["dkim_selector"] == SELECTOR and shown["dkim_key_file"] == str(signing)
    assert "PRIVATE KEY" not in result.output and pem(key).decode().splitlines()[1] not in result.output


def test_the_worker_signs_what_the_rule_queued(smtp_server: ServerFactory, signing: Path, home: Path) -> None:
    """The automatic export goes through the same SMTP transport: its e-mails verify too."""
    server, handler = smtp_server()
    runner = CliRunner()
    for args in (["company", "add", str(SAMPLES / "company.json")],
                 ["company", "set-inbox", "1", "dossier@x.test"],
                 ["company", "auto-export", "1", "on", "--since", "2026-01-01"]):
        assert runner.invoke(main, args, catch_exceptions=False).exit_code == 0
    imported = runner.invoke(main, ["documents", "import", str(SAMPLES / "01-invoice-be-be.json")],
                             env={"UBLEXPORT_FROM": SENDER}, catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    sent = runner.invoke(main, ["worker", "--once"], catch_exceptions=False,
                         env={"UBLEXPORT_FROM": SENDER, "UBLEXPORT_SMTP_HOST": "127.0.0.1",
                              "UBLEXPORT_SMTP_PORT": str(server.port), "UBLEXPORT_SMTP_SECURITY": "none"})
    assert sent.exit_code == 0, sent.output
    [received] = handler.received
    assert received.rcpt == "dossier@x.test" and b"s=ublx2026" in received.data.split(b"\r\n\r\n", 1)[0]
    assert dkim.verify(received.data)
