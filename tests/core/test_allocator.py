"""The worker processes' allocator (ublexport.allocator): jemalloc when the system has it, never forced on anyone."""

from __future__ import annotations

import os
from ctypes.util import find_library
from pathlib import Path

import pytest
from click.testing import CliRunner

from ublexport import allocator
from ublexport.cli import main
from ublexport.errors import InputError
from ublexport.export import worker_pool

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FOUND = find_library("jemalloc")
# what the workers get here: jemalloc when it is installed and a process starts cleanly with it (it does on CI)
JEMALLOC = FOUND if FOUND is not None and allocator.preloads_cleanly(FOUND) else None
needs_jemalloc = pytest.mark.skipif(JEMALLOC is None, reason="libjemalloc2 is not installed on this machine")


def test_an_unknown_choice_is_refused_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(InputError) as caught:
        allocator.choice({"UBLEXPORT_WORKER_MALLOC": "tcmalloc"})
    message = str(caught.value)
    assert "UBLEXPORT_WORKER_MALLOC='tcmalloc'" in message and "auto, system" in message
    assert allocator.choice({}) == "auto" and allocator.choice({"UBLEXPORT_WORKER_MALLOC": " System "}) == "system"


def test_the_library_is_jemalloc_unless_turned_off_or_the_operator_preloads_their_own() -> None:
    assert allocator.worker_preload({}) == JEMALLOC
    assert allocator.worker_preload({"UBLEXPORT_WORKER_MALLOC": "auto"}) == JEMALLOC
    assert allocator.worker_preload({"UBLEXPORT_WORKER_MALLOC": "system"}) is None
    assert allocator.worker_preload({"LD_PRELOAD": "/opt/lib/libfaketime.so.1"}) is None
    if JEMALLOC is not None:  # a pool started before set it: a second pool keeps it
        assert allocator.worker_preload({"LD_PRELOAD": JEMALLOC}) == JEMALLOC


def test_a_library_is_preloaded_only_when_a_process_starts_cleanly_with_it() -> None:
    assert not allocator.preloads_cleanly("libnonexistent-ublexport.so.9")  # the loader warns and skips it
    assert allocator.preloads_cleanly("libc.so.6")
    if JEMALLOC is not None:
        assert allocator.preloads_cleanly(JEMALLOC)


@needs_jemalloc
def test_worker_processes_run_with_jemalloc_and_this_process_keeps_its_allocator() -> None:
    before = allocator.in_use()
    pool = worker_pool(1)
    try:
        assert pool.submit(allocator.in_use).result(timeout=60) == "jemalloc"
    finally:
        pool.shutdown()
    assert allocator.in_use() == before
    assert os.environ["LD_PRELOAD"] == JEMALLOC  # what the pool's processes inherited


@pytest.mark.parametrize("setting", [{"UBLEXPORT_WORKER_MALLOC": "system"}, {"LD_PRELOAD": "libc.so.6"}])
def test_system_or_a_preload_of_the_operators_keeps_workers_on_the_system_allocator(
        setting: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    pool = worker_pool(1)
    try:
        assert pool.submit(allocator.in_use).result(timeout=60) == "system"
    finally:
        pool.shutdown()
    assert os.environ.get("LD_PRELOAD") == setting.get("LD_PRELOAD")


def test_an_export_with_a_bad_choice_stops_before_anything(isolated_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_WORKER_MALLOC", "fast")
    result = CliRunner().invoke(main, ["export", str(SAMPLES / "01-invoice-be-be.json"), "--to", "acme@yuki.test"])
    assert result.exit_code == 2, result.output
    assert "UBLEXPORT_WORKER_MALLOC='fast'" in result.output
    assert not (isolated_home / "inbox").exists() or not any((isolated_home / "inbox").rglob("*.eml"))
    assert not (isolated_home / "ublexport.db").exists()


@pytest.mark.parametrize(("setting", "shown"), [
    ({}, f"jemalloc ({JEMALLOC})" if JEMALLOC else "system (jemalloc not found; on Debian or Ubuntu: apt install"),
    ({"UBLEXPORT_WORKER_MALLOC": "system"}, "system (UBLEXPORT_WORKER_MALLOC=system)"),
    ({"LD_PRELOAD": "libc.so.6"}, "system (LD_PRELOAD=libc.so.6 is left as given)" if JEMALLOC else "system ("),
])
def test_config_show_says_what_the_worker_processes_run_with(setting: dict[str, str], shown: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["worker_malloc"].startswith(shown)
    table = CliRunner().invoke(main, ["config", "show"], env={"COLUMNS": "250"})
    assert "worker_malloc" in table.output and "UBLEXPORT_WORKER_MALLOC" in table.output


def test_config_show_refuses_a_bad_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UBLEXPORT_WORKER_MALLOC", "fast")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 2 and "UBLEXPORT_WORKER_MALLOC='fast'" in result.output


@needs_jemalloc
def test_a_later_pool_follows_a_changed_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that starts pools again (a long-lived caller of export.run) takes back the LD_PRELOAD it set."""
    for choice, expected in (("auto", "jemalloc"), ("system", "system"), ("auto", "jemalloc")):
        monkeypatch.setenv("UBLEXPORT_WORKER_MALLOC", choice)
        pool = worker_pool(1)
        try:
            assert pool.submit(allocator.in_use).result(timeout=60) == expected, choice
        finally:
            pool.shutdown()
    monkeypatch.setenv("UBLEXPORT_WORKER_MALLOC", "system")
    monkeypatch.setenv("LD_PRELOAD", "libc.so.6")  # the operator's own is never taken back
    assert allocator.apply_to_workers() is None and os.environ["LD_PRELOAD"] == "libc.so.6"
