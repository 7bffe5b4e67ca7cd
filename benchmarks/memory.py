"""Section 3: peak RSS of one export in a fresh process, for a small and a large batch.

Run by the parent as `python -m benchmarks.memory DOCS_DIR COUNT --ledger sqlite`; the child exports the folder
DOCS_DIR (holding COUNT documents, as `ublexport export DOCS_DIR` would) into its own counting server (a
grandchild, so the server's memory is not counted) and prints one JSON line with its peak RSS. The growth between
the two batch sizes is what the export keeps per document.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _maxrss_mb() -> float:
    """ru_maxrss (KiB on Linux). Caveat: after fork + exec it starts at the *parent's* peak (Linux carries the
    old mm's high-water mark into the signal struct at exec), so a child of a big benchmark process reports the
    parent's peak; VmHWM belongs to this process's own address space only. Both are reported."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children() -> list[int]:
    return [int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()]


def _hwm_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class WorkerPeak:
    """The largest VmHWM of this process's children but the SMTP server, sampled every 0.2 s while the export
    runs: the worker processes that render. (ru_maxrss of a reaped child is no use here: a spawned child starts
    at its parent's high-water mark, see _maxrss_mb.)"""

    def __init__(self, exclude: int) -> None:
        self.exclude, self.peak_mb = exclude, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in _children():
                if pid != self.exclude:
                    self.peak_mb = max(self.peak_mb, _hwm_mb(pid))

    def __enter__(self) -> WorkerPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(docs_dir: Path, count: int, ledger: str, connections: int) -> dict[str, Any]:
    from benchmarks.e2e import export_once, ledger_url, settings_for
    from benchmarks.smtpbench import counting_server

    paths = [docs_dir]  # the folder, as `ublexport export DOCS_DIR` is given it (it holds COUNT documents)
    with tempfile.TemporaryDirectory(prefix="ublexport-mem-") as work, counting_server() as server:
        workdir = Path(work)
        with ledger_url(ledger, workdir, f"mem{count}") as url:
            import ublexport.export  # noqa: F401  (imports counted in the baseline, not in the growth)

            settings = settings_for(server.port, connections, workdir, url)
            before = _status_mb("VmRSS")
            before_count = server.count
            with WorkerPeak(exclude=server.pid) as workers:
                seconds, _, results = export_once(paths, settings, url, "none")
            sent = server.count - before_count
            del results
    return {"count": count, "ledger": ledger, "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(_status_mb("VmHWM"), 1), "ru_maxrss_mb": round(_maxrss_mb(), 1),
            "worker_peak_rss_mb": round(workers.peak_mb, 1), "seconds": round(seconds, 2), "sent": sent}


def measure(docs_dir: Path, count: int, ledger: str, connections: int) -> dict[str, Any]:
    """Parent side: one fresh interpreter per measurement, so peaks of earlier sections do not count."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.memory", str(docs_dir), str(count), "--ledger", ledger,
                           "--connections", str(connections)], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        return {"count": count, "ledger": ledger, "error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("docs_dir", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--ledger", choices=["none", "sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(child(args.docs_dir, args.count, args.ledger, args.connections)))


if __name__ == "__main__":
    main()
