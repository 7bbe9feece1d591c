"""A plain (non-editable) install, built from what the Dockerfile copies, ships the playbooks.

The install goes into a fresh venv made here, offline: ``pip install --no-deps
--no-build-isolation`` builds the wheel with this environment's setuptools, and the venv borrows
this environment's dependencies through a ``.pth`` line (which never runs this environment's
editable finder, so ``orchestrator`` is imported from the new install and nowhere else).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_compose import DOCKERFILE
from tests.support.processes import orchestrator_env

pytestmark = pytest.mark.slow

ROOT = DOCKERFILE.parents[1]


def _build_context(into: Path) -> Path:
    """What the Dockerfile's build stage copies (``COPY src dest`` under ``WORKDIR /src``)."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    first_stage = lines[: [i for i, line in enumerate(lines) if line.startswith("FROM ")][1]]
    for line in first_stage:
        if line.startswith("COPY "):
            *sources, dest = line.split()[1:]
            for source in sources:
                target = into / dest / source if dest.endswith("/") else into / dest
                if (ROOT / source).is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(ROOT / source, target, symlinks=True, ignore=ignore)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project installed from a copy of the image's build context."""
    work = tmp_path_factory.mktemp("install")
    source = _build_context(work / "src")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index"]
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(source)], check=True, timeout=300)
    return venv


Completed = subprocess.CompletedProcess[str]


def _orchestrator(venv: Path, args: list[str], cwd: Path, **settings: str) -> Completed:
    return subprocess.run(
        [str(venv / "bin" / "orchestrator"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=orchestrator_env(cwd / "data", **settings),
        timeout=120,
    )


def _shipped_names() -> list[str]:
    return sorted(yaml.safe_load(p.read_text())["name"] for p in (ROOT / "playbooks").glob("*.y*ml"))


def test_a_plain_install_lists_the_shipped_playbooks_from_inside_the_package(
    installed: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import orchestrator; print(orchestrator.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed), where
    listed = _orchestrator(installed, ["playbook", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[0] for line in listed.stdout.splitlines() if line) == _shipped_names()
    shipped = Path(where).parent / "playbooks" / "shipped"
    assert listed.stderr.strip() == f"(from {shipped})"
    assert not shipped.is_symlink()


def test_the_shipped_folder_named_again_is_the_same_files_not_duplicates(
    installed: Path, tmp_path: Path
) -> None:
    listed = _orchestrator(installed, ["playbook", "list"], tmp_path, playbook_dirs="[]")
    shipped = Path(listed.stderr.strip().removeprefix("(from ").removesuffix(")"))
    again = _orchestrator(
        installed, ["playbook", "list"], tmp_path, playbook_dirs=json.dumps([str(shipped), f"{shipped}/."])
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == listed.stdout
