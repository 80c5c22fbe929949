"""Set up a local virtual environment and run Gently or its tests.

    python3 dev.py run        # the bot (or a pointer to the terminal mode without a token)
    python3 dev.py test       # the whole test suite, with coverage
    .venv/bin/pytest -m "not process"   # the inner loop: no subprocesses, no coverage
    python3 dev.py console    # the guide in the terminal, no token needed
    python3 dev.py <args>     # any `python -m bot` subcommand, e.g. check-content

Needs only Python 3.11+. The environment lives in .venv and is refreshed whenever
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".gently-installed"


def ensure_environment() -> None:
    """Create .venv and install the project with its test extras, once per pyproject."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs on whatever python3 is)
        sys.exit(f"Gently needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing dependencies into .venv …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    # The build backend warns loudly about editable installs; nothing there needs action.
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True, env=quiet)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    ensure_environment()
    command = argv[0] if argv else "run"
    if command == "test":  # the whole suite, with branch coverage (subprocesses included)
        coverage = ["--cov=bot", "--cov-branch", "--cov-report=term:skip-covered"]
        # two workers: the process tests mostly wait on their subprocesses (about 135 s
        # in one worker, 100 s in two, on this project's 2-core machine)
        args = [str(PYTHON), "-m", "pytest", "-n", "2", *coverage, *argv[1:]]
    else:
        args = [str(PYTHON), "-m", "bot", *(argv or ["run"])]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
