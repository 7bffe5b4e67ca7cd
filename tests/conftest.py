"""Shared fixtures. Every test runs with its own data directory, so nothing touches the user's ~/.ublexport."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REFERENCE = ROOT / "tests" / "fixtures" / "ubl-examples"  # official examples, see its README


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("ublexport-home")
    monkeypatch.setenv("UBLEXPORT_HOME", str(home))
    for name in ("UBLEXPORT_SMTP_HOST", "UBLEXPORT_SMTP_PORT", "UBLEXPORT_SMTP_SECURITY", "UBLEXPORT_SMTP_USER",
                 "UBLEXPORT_SMTP_PASSWORD", "UBLEXPORT_FROM", "UBLEXPORT_DB", "UBLEXPORT_REPLY_TO",
                 # a worker pool sets LD_PRELOAD for the processes it spawns (ublexport.allocator): undone after
                 # each test, so no later test's subprocess inherits it
                 "UBLEXPORT_WORKER_MALLOC", "LD_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def reference() -> Path:
    return REFERENCE
