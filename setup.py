"""Ship the top-level templates/ubl/ inside the wheel as ublexport/templates/ubl/.

The brief fixes templates/ubl/ at the repository root; a plain `pip install .` must still find them, so the
build step copies them into the package. At run time ublexport.templates_dir() looks in the package first and
falls back to the checkout (editable installs).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).parent / "templates" / "ubl"
        target = Path(self.build_lib) / "ublexport" / "templates" / "ubl"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildWithTemplates})
