"""Section 4: start-up time of the command line, in fresh processes (median of several runs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


@dataclass
class Startup:
    label: str
    command: list[str]
    runs: list[float]
    exit_code: int
    target_s: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "command": " ".join(self.command), "median_s": round(self.median, 4),
                "min_s": round(min(self.runs), 4), "runs": len(self.runs), "exit_code": self.exit_code,
                "target_s": self.target_s}


def time_command(label: str, command: list[str], runs: int, target_s: float | None = None) -> Startup:
    """Wall time of `command` from fork to exit; one untimed run first so the page cache is warm for all."""
    subprocess.run(command, capture_output=True, check=False)
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        code = done.returncode
    return Startup(label, command, times, code, target_s)


def run(sample_xml: Path, runs: int = 7) -> list[Startup]:
    cli = str(BIN / "ublexport")
    return [
        time_command("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], runs),
        time_command("ublexport --help", [cli, "--help"], runs, target_s=0.3),
        time_command("ublexport validate ONE.xml", [cli, "validate", str(sample_xml)], runs),
    ]
