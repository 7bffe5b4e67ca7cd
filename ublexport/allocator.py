"""The memory allocator of the worker processes that render and validate: jemalloc when the system has it.

Why: a worker parses a document of thousands of small nodes, checks it and frees it, thousands of times. With
glibc's malloc (most likely: its per-size caches hold seven chunks each, the rest of a freed tree is sorted through
its slower bins, and the next document's nodes come back scattered) parsing a document right after another was
checked costs three times what it costs alone, and ``pipeline.prepare`` (render +
XSD + rules) a fifth more than with jemalloc (measured in the fifteenth session: 1.42 against 1.17 ms a 10-line
invoice, 1,000 documents, five rounds each; glibc's ``tcache_count=65535`` tunable gained as much but kept 40 MB
more memory per process). jemalloc serves each size from its own slabs and reuses the freed nodes in place.

An allocator can only be chosen when a process starts (``LD_PRELOAD``), so it is given to the processes ublexport
starts itself: the export's worker processes (``export.worker_pool``), spawned with ``LD_PRELOAD`` naming
jemalloc's shared library (Debian and Ubuntu: package ``libjemalloc2``; found by the stdlib's
``ctypes.util.find_library``, then tried once in a throwaway process). The process that runs the CLI keeps the
system's allocator. Nothing changes where jemalloc is not installed or does not start cleanly (other systems,
macOS), where ``LD_PRELOAD`` is already set (the operator chose), or with ``UBLEXPORT_WORKER_MALLOC=system``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ublexport.errors import InputError

__all__ = ["CHOICES", "ENV", "apply_to_workers", "choice", "describe", "in_use", "preloads_cleanly", "worker_preload"]

ENV = "UBLEXPORT_WORKER_MALLOC"
CHOICES = ("auto", "system")  # auto: jemalloc when the system has it; system: the system's malloc


@functools.cache
def _jemalloc() -> str | None:
    """jemalloc's shared library as the dynamic loader finds it (its soname, e.g. libjemalloc.so.2), or None."""
    if not sys.platform.startswith("linux"):  # LD_PRELOAD is the Linux loader's; macOS and Windows differ
        return None
    from ctypes.util import find_library  # runs ``ldconfig -p`` once: only when a worker pool starts

    found = find_library("jemalloc")
    return found if found is not None and preloads_cleanly(found) else None


def preloads_cleanly(library: str) -> bool:
    """Whether this Python starts, silently, with ``library`` preloaded (about 10 ms, once per process).

    A library the loader cannot use is only warned about on stderr and skipped, and a jemalloc built for smaller
    memory pages than the kernel's (some aarch64 systems) aborts the process: better to find out here than to have
    a pool's worker processes die or write that warning into an export's output."""
    import subprocess

    try:
        started = subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], env={**os.environ, "LD_PRELOAD": library},
                                 capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return started.returncode == 0 and not started.stderr


Environ = Mapping[str, str]


def choice(environ: Environ | None = None) -> str:
    """``UBLEXPORT_WORKER_MALLOC`` (default auto); InputError naming the choices for any other value, which an
    export says before its plan, whether or not it then starts worker processes."""
    env = os.environ if environ is None else environ
    chosen = env.get(ENV, "").strip().lower() or "auto"
    if chosen not in CHOICES:
        raise InputError(f"{ENV}={env[ENV]!r} is not one of {', '.join(CHOICES)} (auto: jemalloc in the worker "
                         "processes when the system has it; system: the system's own malloc)")
    return chosen


def worker_preload(environ: Environ | None = None) -> str | None:
    """The library to preload into a worker process, or None for the system's allocator."""
    env = os.environ if environ is None else environ
    if choice(env) == "system":
        return None
    library = _jemalloc()
    given = env.get("LD_PRELOAD", "").strip()
    if given and given != library:  # the operator preloads something of their own: theirs alone
        return None
    return library


def describe(environ: Environ | None = None) -> str:
    """What the worker processes would run with, for ``config show``; InputError as ``choice``."""
    env = os.environ if environ is None else environ
    library = worker_preload(env)
    if library is not None:
        return f"jemalloc ({library})"
    if choice(env) == "system":
        return f"system ({ENV}=system)"
    if _jemalloc() is None:
        return "system (jemalloc not found; on Debian or Ubuntu: apt install libjemalloc2)"
    return f"system (LD_PRELOAD={env.get('LD_PRELOAD', '').strip()} is left as given)"


_applied: list[str] = []  # the LD_PRELOAD this process set for its workers, if any


def apply_to_workers() -> str | None:
    """Set ``LD_PRELOAD`` in this process's environment, which the worker processes it spawns from now on inherit
    (a spawned process gets the parent's environment; there is no way to give one only to them). This process
    itself is not affected: the loader reads the variable when a program starts. A later pool after the choice
    changed to ``system`` (a long-lived caller of ``export.run``) takes back what an earlier one set. Returns the
    library, or None."""
    ours = os.environ.get("LD_PRELOAD") in _applied
    library = worker_preload({k: v for k, v in os.environ.items() if not (ours and k == "LD_PRELOAD")})
    if library is not None:
        os.environ["LD_PRELOAD"] = library
        _applied.append(library)
    elif ours:
        del os.environ["LD_PRELOAD"]
    return library


def in_use() -> str:
    """The allocator this process runs with: ``jemalloc`` when its library is mapped, else ``system``."""
    maps = Path("/proc/self/maps")
    try:
        mapped = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:  # no /proc (macOS): nothing was preloaded there either
        return "system"
    return "jemalloc" if "libjemalloc" in mapped else "system"
