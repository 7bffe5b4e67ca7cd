"""Settings from CLI options, the environment and a TOML file, in that order of precedence.

The SMTP password is read from the environment only (never from a file or a command line, where it would end up in
shell history or backups), and every printable form of the settings masks it, as it masks the password in the
database URL.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ublexport.errors import InputError

SECURITIES = ("tls", "starttls", "none")
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
MASK = "********"

# setting name -> (environment variable, TOML key)
SOURCES: dict[str, tuple[str, str | None]] = {
    "home": ("UBLEXPORT_HOME", "home"),
    "smtp_host": ("UBLEXPORT_SMTP_HOST", "smtp_host"),
    "smtp_port": ("UBLEXPORT_SMTP_PORT", "smtp_port"),
    "smtp_security": ("UBLEXPORT_SMTP_SECURITY", "smtp_security"),
    "smtp_user": ("UBLEXPORT_SMTP_USER", "smtp_user"),
    "smtp_password": ("UBLEXPORT_SMTP_PASSWORD", None),  # environment only
    "smtp_cafile": ("UBLEXPORT_SMTP_CAFILE", "smtp_cafile"),
    "sender": ("UBLEXPORT_FROM", "from"),
    "reply_to": ("UBLEXPORT_REPLY_TO", "reply_to"),
    "db_url": ("UBLEXPORT_DB", "db"),
    "max_connections": ("UBLEXPORT_MAX_CONNECTIONS", "max_connections"),
    "timeout": ("UBLEXPORT_TIMEOUT", "timeout"),
    "local_hostname": ("UBLEXPORT_LOCAL_HOSTNAME", "local_hostname"),
    "dkim_selector": ("UBLEXPORT_DKIM_SELECTOR", "dkim_selector"),
    "dkim_key_file": ("UBLEXPORT_DKIM_KEY_FILE", None),  # environment only, as the password: where the key is
    "imap_host": ("UBLEXPORT_IMAP_HOST", "imap_host"),  # the sender's mailbox, where bounces arrive
    "imap_port": ("UBLEXPORT_IMAP_PORT", "imap_port"),
    "imap_user": ("UBLEXPORT_IMAP_USER", "imap_user"),
    "imap_password": ("UBLEXPORT_IMAP_PASSWORD", None),  # environment only
    "imap_folder": ("UBLEXPORT_IMAP_FOLDER", "imap_folder"),
}
CONFIG_ENV = "UBLEXPORT_CONFIG"  # the TOML file, when no --config is given
TOML_KEYS = {toml: name for name, (_, toml) in SOURCES.items() if toml}


@dataclass(frozen=True)
class Settings:
    home: Path
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    sender: str = "ublexport@localhost"
    reply_to: str | None = None
    db_url: str = ""
    max_connections: int = 4
    timeout: float = 60.0
    local_hostname: str = "localhost"
    smtp_cafile: Path | None = None  # extra CA bundle to trust (a private CA, or tests with trustme)
    dkim_selector: str | None = None  # sign with DKIM (ublexport.deliver.signing) under this selector ...
    dkim_key_file: Path | None = None  # ... with the RSA private key in this PEM file
    imap_host: str | None = None  # `ublexport bounces` reads the sender's mailbox here (TLS always) ...
    imap_port: int = 993  # 993 implicit TLS; any other port STARTTLS, required
    imap_user: str | None = None
    imap_password: str | None = field(default=None, repr=False)
    imap_folder: str = "INBOX"
    # what is wrong with the sending settings, when read leniently (load_settings): the commands that only read the
    # ledger or show the settings run, and say it, rather than refuse as a send must
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.imap_folder:  # `imap_folder = ""` in the file: the default, not an unnamed folder
            object.__setattr__(self, "imap_folder", "INBOX")
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{self.home}/ublexport.db")
        if self.smtp_host and self.smtp_port is None:
            object.__setattr__(self, "smtp_port", DEFAULT_PORTS[self.smtp_security])

    @property
    def inbox_dir(self) -> Path:
        """The embedded local inbox (a Maildir)."""
        return self.home / "inbox"

    @property
    def data_timeout(self) -> float:
        """RFC 5321 4.5.3.2.6: wait at least 10 minutes for the reply to the end of DATA."""
        return max(600.0, self.timeout)

    def masked(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("smtp_password", "imap_password"):
                value = MASK if value else None
            elif f.name == "db_url":
                value = mask_url(value)
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.masked().items())
        return f"Settings({inner})"

    __str__ = __repr__


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")
_KEYWORD_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def mask_url(url: str) -> str:
    """The URL with its password hidden (postgresql://acct:***@host/db), for every place a URL is shown.

    The text is kept as written, but for the password: up to the last @ before the query, so that an unencoded
    / # or @ in it is hidden too, and a URL SQLAlchemy cannot parse (an error message echoes it) as well. A
    password with an unencoded ? is found by SQLAlchemy's own parser (make_url, hide_password), as it will connect;
    libpq's ?password= parameter by a pattern."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        # libpq's keyword form (host=h password=pw dbname=d), which is no URL: its password by a pattern
        url = _KEYWORD_PASSWORD.sub(r"\g<1>***", url)
        # no scheme (a typo: postgres//u:pw@h/db, u:pw@h): whatever stands before an @ may be a password
        head, at, tail = url.rpartition("@")
        return f"{head.split(':', 1)[0]}:***@{tail}" if at and ":" in head else url
    cut = rest.find("?") if "?" in rest else len(rest)
    userinfo, at, hostpath = rest[:cut].rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{hostpath}{rest[cut:]}"
    else:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            parsed = None
        if parsed is not None and parsed.password:
            return _QUERY_PASSWORD.sub(r"\g<1>***", parsed.render_as_string(hide_password=True))
    return scheme + "://" + _QUERY_PASSWORD.sub(r"\g<1>***", rest)


def _read_toml(path: Path) -> dict[str, Any]:
    from ublexport.loader import read_regular

    if not path.exists():
        raise InputError("configuration file not found", source=str(path))
    try:
        data = tomllib.loads(read_regular(path, 1_000_000, "configuration file").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", source=str(path)) from None
    section = data.get("ublexport", data)  # accept a [ublexport] table or top-level keys
    if not isinstance(section, dict):
        raise InputError("expected key = value pairs", source=str(path))
    if "smtp_password" in section or "password" in section:
        raise InputError("the SMTP password is not read from files; set UBLEXPORT_SMTP_PASSWORD in the environment",
                         source=str(path))
    if "imap_password" in section:
        raise InputError("the IMAP password is not read from files; set UBLEXPORT_IMAP_PASSWORD in the environment",
                         source=str(path))
    if "dkim_key_file" in section or "dkim_key" in section:
        raise InputError("the DKIM key is not named in files; set UBLEXPORT_DKIM_KEY_FILE in the environment",
                         source=str(path))
    unknown = sorted(set(section) - set(TOML_KEYS))
    if unknown:
        raise InputError(f"unknown setting(s) {unknown}; known: {sorted(TOML_KEYS)}", source=str(path))
    return {TOML_KEYS[k]: v for k, v in section.items()}


def _coerce(raw: Mapping[str, Any], where: Mapping[str, str]) -> dict[str, Any]:
    """Turn strings from env/TOML into typed values, naming the source of every bad value."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        src = where.get(name, name)
        try:
            if name in ("home", "smtp_cafile", "dkim_key_file"):
                out[name] = Path(str(value)).expanduser()
            elif name in ("smtp_port", "imap_port", "max_connections"):
                number = int(value)
                low, high = (1, 64) if name == "max_connections" else (1, 65535)
                if not low <= number <= high:
                    raise ValueError(f"must be between {low} and {high}")
                out[name] = number
            elif name == "timeout":
                number_f = float(value)
                if not 0 < number_f < 86_400:  # (nan fails both; inf would wait for ever)
                    raise ValueError("must be a number of seconds above 0 and below a day")
                out[name] = number_f
            elif name == "smtp_security":
                text = str(value).strip().lower()
                if text not in SECURITIES:
                    raise ValueError(f"must be one of {', '.join(SECURITIES)}")
                out[name] = text
            elif name in ("smtp_password", "imap_password"):
                out[name] = str(value) or None  # a secret is taken as given: spaces may be part of it
            else:
                text = str(value).strip()
                out[name] = text or None
        except (TypeError, ValueError) as exc:
            problems.append(f"{src}: {value!r}: {exc}")
    if problems:
        raise InputError("invalid settings", problems=problems)
    return out


def load_settings(config_file: Path | None = None, *, lenient: bool = False, **overrides: object) -> Settings:
    """Explicit overrides (None = not given) > environment (UBLEXPORT_*) > TOML file > defaults.

    The TOML file is `config_file`, else $UBLEXPORT_CONFIG, else HOME/config.toml when present. LENIENT: settings
    that disagree with each other (port 465 with STARTTLS, a password without a user, a bad sender) are returned
    in `problems` instead of refused: for the commands that only read the ledger or show the settings (`config
    show` is where one looks when an export refuses them). A value that cannot be read at all is refused still."""
    unknown = set(overrides) - set(SOURCES)
    if unknown:
        raise TypeError(f"unknown setting(s): {sorted(unknown)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    env = {name: os.environ[var] for name, (var, _) in SOURCES.items() if os.environ.get(var)}
    where = {name: var for name, (var, _) in SOURCES.items()}

    if config_file is None and os.environ.get(CONFIG_ENV, "").strip():
        # every command (export, worker, company, ...) reads the same file, whether or not it has a --config option
        config_file = Path(os.environ[CONFIG_ENV].strip()).expanduser()
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = _read_toml(config_file)
    home_raw = given.get("home") or env.get("home") or file_values.get("home") or Path("~/.ublexport")
    home = Path(str(home_raw)).expanduser()
    if config_file is None and (home / "config.toml").is_file():
        config_file = home / "config.toml"
        file_values = _read_toml(config_file)

    merged: dict[str, Any] = {**file_values, **env, **given, "home": home}
    if config_file is not None:
        for name in file_values:
            if name not in env and name not in given:
                where[name] = f"{config_file}: {SOURCES[name][1]}"
    values = _coerce(merged, where)
    problems: list[str] = []
    if values.get("smtp_host"):
        if "smtp_security" not in values:  # port 465 is implicit TLS (RFC 8314); STARTTLS there only hangs
            values["smtp_security"] = "tls" if values.get("smtp_port") == IMPLICIT_TLS_PORT else "starttls"
        problems += _port_conflict(values, where)
        if "local_hostname" not in values:
            # derived once per run: real servers refuse or score "EHLO localhost"; the sender's domain is ours
            values["local_hostname"] = _sender_domain(values.get("sender")) or Settings.local_hostname
    settings = Settings(**values)
    problems += settings_problems(settings, where)
    if problems and not lenient:
        raise InputError("invalid settings", problems=problems)
    return replace(settings, problems=tuple(problems)) if problems else settings


IMPLICIT_TLS_PORT = 465
STARTTLS_PORTS = (25, 587)  # a server there speaks plain SMTP first; implicit TLS cannot work


def _port_conflict(values: Mapping[str, Any], where: Mapping[str, str]) -> list[str]:
    port, security = values.get("smtp_port"), values.get("smtp_security")
    if port == IMPLICIT_TLS_PORT and security in ("starttls", "none"):  # 465 speaks TLS from the first byte
        advice = f"set {where['smtp_security']} to tls, or use port 587 for STARTTLS"
    elif port in STARTTLS_PORTS and security == "tls":
        advice = f"set {where['smtp_security']} to starttls, or use port 465 for implicit TLS"
    else:
        return []
    return [f"{where['smtp_security']} is {security!r} but {where['smtp_port']} is {port}: port 465 is implicit "
            f"TLS, ports 25 and 587 start in plain text (STARTTLS); {advice}"]


def _sender_domain(sender: object) -> str | None:
    from ublexport.recipients import parse_sender

    if not isinstance(sender, str):
        return None
    try:
        domain = parse_sender(sender).ascii_address.rpartition("@")[2]
    except InputError:
        return None  # _check names the bad sender
    return None if domain.lower() == "localhost" else domain


# '_' too: not in RFC 1123 host names, but common in internal ones (my_host.lan), and servers take it in EHLO
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def host_name_problem(name: str) -> str | None:
    """Why NAME cannot go in EHLO (RFC 5321 4.1.4: a domain or an address literal), or None."""
    if name.startswith("[") and name.endswith("]"):
        try:
            literal = name[1:-1]
            ipaddress.ip_address(literal[5:] if literal.lower().startswith("ipv6:") else literal)
            return None
        except ValueError:
            return "not a valid address literal such as [192.0.2.1]"
    if not name.isascii() or any(not ch.isprintable() or ch.isspace() for ch in name):
        return "a host name has ASCII letters, digits, '-', '_' and '.' only (no spaces, no accents; IDN as xn--)"
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "not a valid host name (labels of letters, digits, '-' and '_', separated by '.')"
    return None


def _server_problem(host: str) -> str | None:
    """Why HOST cannot be an SMTP server's name or address (a line break in it reached the connection), or None."""
    try:
        ipaddress.ip_address(host)  # 127.0.0.1 or ::1, unbracketed
        return None
    except ValueError:
        return host_name_problem(host)


def smtp_problems(settings: Settings) -> list[str]:
    """What an SMTP server would refuse in these settings: asked when a transport is opened (export, worker), not
    when any command loads them, so that `company list` or `history` run whatever the SMTP settings say."""
    from ublexport.recipients import parse_sender

    problems: list[str] = []
    try:
        sender = parse_sender(settings.sender)
    except InputError:
        return problems  # reported when the settings were loaded
    if sender.address.lower().endswith("@localhost"):
        problems.append(f"from: with an SMTP server ({settings.smtp_host!r}) the sender must be a real address of "
                        f"your domain, not {settings.sender!r}, which servers refuse or score as spam; set "
                        "UBLEXPORT_FROM or `from` in the config file (`export` also takes --from)")
    server = _server_problem(settings.smtp_host) if settings.smtp_host else None
    if server:
        problems.append(f"smtp_host (UBLEXPORT_SMTP_HOST, --smtp-host, or `smtp_host` in the config file): "
                        f"{settings.smtp_host!r}: {server}")
    if settings.smtp_user and not settings.smtp_password:  # the login would fail, once per run, after the plan
        problems.append("UBLEXPORT_SMTP_USER is set but no password: set UBLEXPORT_SMTP_PASSWORD (read from the "
                        "environment only, never from the config file)")
    from ublexport.deliver.signing import signer_problem

    dkim = signer_problem(settings.dkim_selector, settings.dkim_key_file)
    if dkim:
        problems.append(dkim)
    bad_host = host_name_problem(settings.local_hostname)
    if bad_host:
        problems.append(f"local_hostname (UBLEXPORT_LOCAL_HOSTNAME, or `local_hostname` in the config file): "
                        f"{settings.local_hostname!r}: {bad_host}")
    return problems


def settings_problems(settings: Settings, where: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with settings that were each read: the sender, the reply-to, a password without a user."""
    from ublexport.recipients import parse_recipients, parse_sender

    where = where or {}
    problems: list[str] = []
    try:
        parse_sender(settings.sender)
    except InputError as exc:
        problems.append(f"from ({where.get('sender', 'UBLEXPORT_FROM')}): {exc}")
    if settings.reply_to is not None:
        try:
            if len(parse_recipients(settings.reply_to)) != 1:
                problems.append(f"reply_to (UBLEXPORT_REPLY_TO): exactly one address, not {settings.reply_to!r}")
        except InputError as exc:
            problems.append(f"reply_to (UBLEXPORT_REPLY_TO): {exc}")
    if settings.smtp_password and not settings.smtp_user:
        problems.append("UBLEXPORT_SMTP_PASSWORD is set but no SMTP user (UBLEXPORT_SMTP_USER)")
    return problems
