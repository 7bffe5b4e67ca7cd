"""A plain `pip install .` (not editable) must ship and find the templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_templates_and_renders(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("ublexport-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("Document.xml.j2",):
        assert f"ublexport/templates/ubl/{template}" in names
    for font in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LICENSE-DejaVu.txt"):  # the PDF's Unicode font
        assert f"ublexport/fonts/{font}" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import ublexport, pathlib, sys;"
        f"assert pathlib.Path(ublexport.__file__).is_relative_to({str(target)!r}), ublexport.__file__;"
        "from ublexport.loader import load_document; from ublexport.render import render;"
        f"sample = pathlib.Path({str(ROOT / 'samples' / '01-invoice-be-be.json')!r});"
        "sys.stdout.buffer.write(render(load_document(sample)))"
    )
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(target), "PATH": ""},
                         check=True, capture_output=True, cwd=tmp_path)
    assert out.stdout.startswith(b"<?xml") and b"<cbc:ID>2026-0001</cbc:ID>" in out.stdout
