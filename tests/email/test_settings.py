"""Settings precedence (options > environment > TOML > defaults) and a password that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ublexport.errors import InputError
from ublexport.settings import load_settings


def test_defaults_use_the_local_inbox(home: Path) -> None:
    s = load_settings()
    assert s.home == home and s.smtp_host is None and s.smtp_port is None
    assert s.inbox_dir == home / "inbox"
    assert s.db_url == f"sqlite:///{home}/ublexport.db"
    assert s.sender == "ublexport@localhost" and s.local_hostname == "localhost"
    assert s.max_connections == 4 and s.data_timeout >= 600


def test_precedence_options_over_environment_over_toml(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text('smtp_host = "toml.example"\nsmtp_port = 2500\nsmtp_user = "tomluser"\n'
                                      'from = "toml@dewaele.example"\nmax_connections = 2\n')
    s = load_settings()
    assert (s.smtp_host, s.smtp_port, s.smtp_user, s.sender, s.max_connections) == (
        "toml.example", 2500, "tomluser", "toml@dewaele.example", 2)
    assert s.smtp_security == "starttls"
    monkeypatch.setenv("UBLEXPORT_SMTP_HOST", "env.example")
    monkeypatch.setenv("UBLEXPORT_SMTP_SECURITY", "tls")
    s = load_settings()
    assert (s.smtp_host, s.smtp_port, s.smtp_security) == ("env.example", 2500, "tls")
    s = load_settings(smtp_host="option.example", smtp_port=None)
    assert (s.smtp_host, s.smtp_port) == ("option.example", 2500)


def test_default_port_follows_security(home: Path) -> None:
    assert load_settings(smtp_host="h.example", sender="export@dewaele.example").smtp_port == 587
    assert load_settings(smtp_host="h.example", smtp_security="tls", sender="export@dewaele.example").smtp_port == 465


def test_password_from_environment_only_and_masked(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PASSWORD", "hunter2-secret")
    s = load_settings(smtp_host="h.example", smtp_user="u", sender="export@dewaele.example")
    assert s.smtp_password == "hunter2-secret"
    for text in (repr(s), str(s), str(s.masked())):
        assert "hunter2" not in text
    assert s.masked()["smtp_password"] == "********"
    config = home.parent / "c.toml"
    config.write_text('smtp_password = "x"\n')
    with pytest.raises(InputError, match="UBLEXPORT_SMTP_PASSWORD"):
        load_settings(config)


def test_bad_values_are_all_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_SMTP_PORT", "99999")
    monkeypatch.setenv("UBLEXPORT_SMTP_SECURITY", "ssl")
    with pytest.raises(InputError) as caught:
        load_settings()
    assert "UBLEXPORT_SMTP_PORT" in str(caught.value) and "UBLEXPORT_SMTP_SECURITY" in str(caught.value)
    monkeypatch.delenv("UBLEXPORT_SMTP_PORT")
    monkeypatch.delenv("UBLEXPORT_SMTP_SECURITY")
    with pytest.raises(InputError, match="from"):
        load_settings(sender="not an address")
    config = home.parent / "typo.toml"
    config.write_text('smtp_hots = "x"\n')
    with pytest.raises(InputError, match="smtp_hots"):
        load_settings(config)
