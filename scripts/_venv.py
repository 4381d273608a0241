"""Create or reuse a project virtualenv for one requirements file (stdlib only: runs on a bare python3)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fingerprint(requirements: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "requirements").glob("*.txt")) + [ROOT / "pyproject.toml"]:
        digest.update(path.read_bytes())
    digest.update(requirements.name.encode())
    return digest.hexdigest()


def ensure(name: str, requirements: str) -> Path:
    """The venv's python, installed with the project (editable) and the pinned requirements."""
    env_dir = ROOT / name
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    req_path = ROOT / "requirements" / requirements
    stamp = env_dir / ".otel-gemini-requirements"
    wanted = _fingerprint(req_path)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"setting up {name} ({requirements})...", file=sys.stderr, flush=True)
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(req_path)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    stamp.write_text(wanted)
    return python
