"""Whether the accountant's mail server will take and trust what ublexport sends, asked of the DNS by `config check`:
whether each inbox's domain takes mail at all (email-validator), and the sender domain's SPF, the DKIM key ublexport
signs with (when it does, see ublexport.deliver.signing) and the domain's DMARC policy (dnspython; SPF evaluated by
pyspf, the reference implementation; the organisational domain from the Public Suffix List).

Why: Yuki never answers the sender. When the sender's domain publishes a DMARC policy of `reject` and its SPF
record does not list the mail server ublexport sends through, the receiving server refuses the message (unless that
server signs it with DKIM for the domain); with `quarantine` it files it as spam. Either way the document never
reaches the administration, and nobody is told. Only the receiving server knows for sure (it sees the host the
message finally comes from, and any DKIM signature added on the way), so the sender's findings are warnings, never
failures: a large provider's submission server often hands the message to other hosts that the record does list.
An inbox domain that takes no mail at all is a failure: nothing sent there can arrive.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ublexport.checks import FAILED, INFO, OK, WARNING, Finding
from ublexport.compose import sender_domain
from ublexport.deliver import envelope_sender
from ublexport.errors import server_text

if TYPE_CHECKING:
    from ublexport.deliver.signing import Signer
    from ublexport.recipients import Recipient
    from ublexport.settings import Settings

#: Seconds for one DNS question (SPF may ask up to ten; pyspf bounds the whole evaluation at twice this)
DNS_TIMEOUT = 5.0


def check_sender(settings: Settings) -> list[Finding]:
    """`config check`'s questions about the sender (settings with an SMTP server, checked already): its domain's
    SPF, DKIM and DMARC, and whether the DKIM key file is readable by others."""
    from ublexport.deliver.signing import exposed, load_signer

    assert settings.smtp_host and settings.smtp_port
    signer = load_signer(settings.sender, settings.dkim_selector, settings.dkim_key_file)
    findings = check_sender_domain(settings.sender, settings.smtp_host, settings.smtp_port, signer=signer)
    loose = exposed(settings.dkim_key_file) if settings.dkim_key_file is not None else None
    if loose:
        findings.append(Finding("DKIM key file", WARNING, loose))
    return findings


def check_sender_domain(sender: str, host: str, port: int, *, signer: Signer | None = None,
                        timeout: float | None = None) -> list[Finding]:
    """SPF of the sender's domain for the addresses of HOST (the configured SMTP server), the DKIM key SIGNER signs
    with (when one is set), then the domain's DMARC policy. (The settings refuse a sender that is not on a public
    domain with an SMTP server: there is always one to ask.)"""
    timeout = DNS_TIMEOUT if timeout is None else timeout
    address = envelope_sender(sender)
    domain = sender_domain(sender).lower()
    try:
        addresses = sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError as exc:  # the connection failed the same way; DKIM and DMARC are still worth asking
        spf = Finding("SPF", INFO, f"{host} could not be resolved to check it against {domain}'s SPF: {exc}")
        passed = False
    else:
        spf, passed = _spf(address, domain, host, addresses, timeout)
    if signer is None:
        return [spf, _dmarc(domain, host, passed, False, timeout)]
    dkim, signs = _dkim(signer, timeout)
    return [spf, dkim, _dmarc(domain, host, passed, signs, timeout, signing=True)]


def _spf(address: str, domain: str, host: str, addresses: Sequence[str], timeout: float) -> tuple[Finding, bool]:
    """(the finding, whether SPF passes for one of the server's addresses)."""
    import dns.exception
    import spf

    results: dict[str, tuple[str, str]] = {}
    for ip in addresses:
        with warnings.catch_warnings():  # pyspf calls dnspython's dns.resolver.query, deprecated for resolve()
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                result, explanation = spf.check2(i=ip, s=address, h=host, timeout=timeout, querytime=2 * timeout)
            except dns.exception.DNSException as exc:  # pyspf passes on what it does not expect: no resolv.conf
                result, explanation = "temperror", str(exc) or type(exc).__name__
        results[ip] = (result, server_text(str(explanation)))
    server = f"{host} ({', '.join(addresses)})"
    passing = [ip for ip, (result, _) in results.items() if result == "pass"]
    if passing:
        return Finding("SPF", OK, f"{domain}'s SPF record lists {host} ({', '.join(passing)}): pass"), True
    found = {result for result, _ in results.values()}
    why = next(iter(results.values()))[1] if results else ""
    if found == {"temperror"}:
        return _unanswered("SPF", f"{domain}'s SPF record ", why), False
    if "permerror" in found:
        return Finding("SPF", WARNING, f"{domain}'s SPF record is broken ({why}): receiving servers treat it as "
                                       "failing; have it repaired (your domain's DNS host or mail provider)"), False
    if found == {"none"}:
        return Finding("SPF", WARNING, f"{domain} publishes no SPF record: the accountant's mail server cannot tell "
                                       f"that {server} may send for it, and may file the messages as spam; add one "
                                       "that lists it (your mail provider says how)"), False
    if found <= {"neutral", "none", "temperror"}:
        return Finding("SPF", INFO, f"{domain}'s SPF record neither lists nor excludes {server} (neutral): "
                                    "receiving servers decide on their own"), False
    worst = "fail" if "fail" in found else "softfail"
    return Finding("SPF", WARNING, f"{domain}'s SPF record does not list {server} ({worst}): unless that server "
                                   "passes the messages on through hosts the record lists (as large providers do), "
                                   "the accountant's mail server may refuse them or file them as spam; add the "
                                   "server to the record (your mail provider says how)"), False


def _dkim(signer: Signer, timeout: float) -> tuple[Finding, bool]:
    """(the finding, whether the key published for the signer's selector is its own: its signatures verify)."""
    import base64
    import binascii

    import dkim.crypto

    name = signer.record_name
    publish = f"publish this TXT record at {name}: {signer.public_record()}"
    try:
        records = [text for text in _txt(name, timeout) if "p=" in text]
    except LookupError as exc:
        return _unanswered("DKIM", f"{name} ", exc), False
    if not records:
        return Finding("DKIM", WARNING, f"ublexport signs for {signer.domain}, but {name} publishes no key, so no "
                                        f"receiver can verify the signatures: {publish}"), False
    key = _tags(records[0]).get("p", "").replace(" ", "")
    try:
        modulus = int(dkim.crypto.parse_public_key(base64.b64decode(key, validate=True))["modulus"]) if key else None
    except (binascii.Error, dkim.crypto.UnparsableKeyError, KeyError, ValueError, TypeError, IndexError):
        modulus = -1
    if modulus is None:
        return Finding("DKIM", WARNING, f"the key at {name} is revoked (an empty p=): every signature fails; "
                                        f"{publish}"), False
    if modulus != signer.modulus():
        return Finding("DKIM", WARNING, f"{name} publishes another key than the one in UBLEXPORT_DKIM_KEY_FILE (or "
                                        f"one that cannot be read): every signature fails; {publish}"), False
    return Finding("DKIM", OK, f"{name} publishes the key ublexport signs with: its signatures for {signer.domain} "
                               "verify"), True


def _dmarc(domain: str, host: str, spf_passed: bool, dkim_passes: bool, timeout: float, *,
           signing: bool = False) -> Finding:
    """The DMARC policy that applies to mail from DOMAIN: its own record, else its organisational domain's
    (RFC 7489 6.6.3; `sp`, the subdomain policy, where it has one)."""
    from publicsuffixlist import PublicSuffixList

    organisation = PublicSuffixList().privatesuffix(domain) or domain
    for name in dict.fromkeys([domain, organisation]):
        try:
            records = [text for text in _txt(f"_dmarc.{name}", timeout) if text.lower().startswith("v=dmarc1")]
        except LookupError as exc:
            return _unanswered("DMARC", f"_dmarc.{name} ", exc)
        if len(records) > 1:
            return Finding("DMARC", WARNING, f"_dmarc.{name} has {len(records)} DMARC records: receiving servers "
                                             "ignore them all (RFC 7489); keep one")
        if records:
            tags = _tags(records[0])
            policy = (tags.get("sp") if name != domain else None) or tags.get("p", "none")
            policy = policy.lower()
            if policy in ("reject", "quarantine") and not spf_passed and not dkim_passes:
                fate = "refused" if policy == "reject" else "filed as spam"
                return Finding("DMARC", WARNING, (
                    f"_dmarc.{name}: p={policy}: a message from {domain} that does not pass SPF is {fate} by the "
                    f"accountant's mail server unless it carries a DKIM signature of {domain}, and Yuki never says "
                    "so. " + (f"ublexport's own signature does not verify yet (see DKIM): publish its key, or make "
                              f"sure {host} signs for {domain} or is listed in SPF" if signing else
                              "ublexport does not sign unless UBLEXPORT_DKIM_SELECTOR and UBLEXPORT_DKIM_KEY_FILE "
                              f"are set: make sure {host} signs for {domain} (your mail provider's DKIM setting), "
                              "that the SPF record lists it, or give ublexport a key to sign with")))
            passes = [what for what, ok in (("SPF passes for the server", spf_passed),
                                             ("ublexport's DKIM signature verifies", dkim_passes)) if ok]
            return Finding("DMARC", OK, f"_dmarc.{name}: p={policy}" + "".join(f"; {p}" for p in passes))
    return Finding("DMARC", INFO, f"{domain} publishes no DMARC policy: each receiving server decides on its own")


def check_inbox_domains(recipients: Sequence[Recipient]) -> list[Finding]:
    """Whether each inbox's domain takes mail (an MX record, else an address; email-validator's check): the relay
    accepts RCPT TO for any domain, and mail to a mistyped one (yukiwork.nl) bounces later to the sender's mailbox,
    which only `ublexport bounces` reads, while the ledger says *sent*. One finding per domain, FAILED when it takes
    none."""
    import dns.exception
    from email_validator import EmailUndeliverableError
    from email_validator.deliverability import validate_email_deliverability

    domains: dict[str, list[str]] = {}
    for recipient in recipients:
        domains.setdefault(recipient.ascii_address.rpartition("@")[2].lower(), []).append(recipient.address)
    findings = []
    for domain, inboxes in domains.items():
        check = f"inbox domain {domain}"
        try:  # (it sets dnspython's default resolver's lifetime to this timeout, as the other questions here do)
            info = validate_email_deliverability(domain, domain, timeout=max(1, round(DNS_TIMEOUT)))
        except dns.exception.DNSException as exc:  # no resolver at all (no /etc/resolv.conf): not an answer
            findings.append(_unanswered(check, "", exc))
            continue
        except EmailUndeliverableError as exc:
            why = str(exc)
            if why.startswith("There was an error while checking"):  # the DNS could not be used, not an answer
                findings.append(Finding(check, INFO, f"{why}: check again where the DNS answers"))
                continue
            findings.append(Finding(check, FAILED, f"{why} Mail to {', '.join(inboxes)} would be taken by the server "
                                                   "and bounce later to the sender's mailbox, never reaching the "
                                                   "inbox, while the ledger says sent: check the address"))
            continue
        if "unknown-deliverability" in info:
            findings.append(_unanswered(check, "", info["unknown-deliverability"]))
            continue
        hosts = ", ".join(host for _, host in info.get("mx", []))
        via = "its address (no MX record)" if info.get("mx_fallback_type") else f"MX {hosts}"
        findings.append(Finding(check, OK, f"takes mail: {via}"))
    return findings


def _unanswered(check: str, what: str, why: object) -> Finding:
    """INFO: WHAT (a name, with its trailing space, or "") could not be asked: the DNS gave no answer, which says
    nothing about the domain."""
    return Finding(check, INFO, f"{what}could not be asked of the DNS ({why}): check again where the DNS answers")


def _txt(name: str, timeout: float) -> list[str]:
    """The TXT records of NAME, each joined from its strings; [] when there are none. LookupError when the DNS gave
    no answer (a timeout, no server configured, every server failing)."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise LookupError(server_text(str(exc) or type(exc).__name__)) from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    """A DMARC record's tag list (RFC 7489 6.4: `tag=value` pairs separated by `;`), by lower-case tag."""
    pairs = (part.partition("=") for part in record.split(";"))
    return {key.strip().lower(): value.strip() for key, sep, value in pairs if sep}
