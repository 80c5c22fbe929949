"""The HTML checker's rules, the CLI's exit codes and the log's redaction."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logs import OnlyOwnDetail, RedactingFormatter
from bot.markup import html_problems
from tests.helpers import ROOT, clean_env

TOKEN = "123456:REDACT-me-please"


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ("<h1>x</h1>", "tag <h1> is not allowed"),
        ('<a href="https://x.org" title="t">x</a>', "<a> needs exactly one attribute"),
        ('<span class="big">x</span>', '<span> is only allowed as <span class="tg-spoiler">'),
        ('<b class="x">x</b>', "tag <b> takes no attributes"),
        ("line<br/>break", "self-closing <br/> is not allowed"),
        ("<b><i>x</b></i>", "</b> does not close the tag that is open"),
        ("1 < 2", "bare '<' or '>'"),
        ("<!-- hidden -->", "HTML comments are not allowed"),
        ("fish & chips", "bare '&'"),
        ("<b>open", "unclosed tag <b>"),
    ],
)
def test_each_html_rule_is_reported(markup: str, problem: str) -> None:
    assert any(problem in found for found in html_problems(markup)), html_problems(markup)


@pytest.mark.parametrize(
    "markup",
    [
        "<b>bold</b> &amp; <i>it</i>",
        '<a href="https://x.org">x</a>',
        "<tg-spoiler>s</tg-spoiler>",
        '<span class="tg-spoiler">s</span>',
        "<blockquote expandable>q</blockquote>",
        "a &lt; b",
    ],
)
def test_what_telegram_accepts_passes(markup: str) -> None:
    assert html_problems(markup) == []


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.process
def test_cli_exit_codes(tmp_path: Path) -> None:
    bad_setting = cli("stats", GENTLY_LOG_LEVEL="LOUD")
    assert bad_setting.returncode == 78
    assert bad_setting.stderr.startswith("Configuration problem: GENTLY_LOG_LEVEL")
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database at all" * 100)
    unavailable = cli("stats", GENTLY_DB_PATH=str(damaged))
    assert unavailable.returncode == 1
    assert unavailable.stderr.startswith(f"Gently cannot use its database: {damaged}")
    assert len(unavailable.stderr.splitlines()) == 1
    assert "Traceback" not in unavailable.stderr
    unknown = cli("nonsense")
    assert unknown.returncode == 2


@pytest.mark.process
def test_an_unexpected_error_goes_through_the_redacting_log(tmp_path: Path) -> None:
    """A crash inside a command is logged through the formatter: the token is scrubbed
    even from the traceback."""
    where = f"/dev/null/{TOKEN}/copy.sqlite3"  # cannot be created: an OSError nobody expects
    (tmp_path / "g").touch()  # an empty database
    result = cli("backup", where, TELEGRAM_BOT_TOKEN=TOKEN, GENTLY_DB_PATH=str(tmp_path / "g"))
    assert result.returncode == 1
    assert "Gently stopped on an unexpected error" in result.stderr
    assert "Traceback" in result.stderr  # the whole story, for the operator
    assert TOKEN not in result.stderr and "[redacted]" in result.stderr


def record(name: str, level: int, msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"failed with {TOKEN}")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_the_formatter_scrubs_the_token_from_lines_and_tracebacks() -> None:
    formatter = RedactingFormatter([TOKEN])
    line = formatter.format(record("bot", logging.ERROR, "url /bot%s/getMe", TOKEN, exc=True))
    assert TOKEN not in line
    assert line.count("[redacted]") == 2  # the message and the traceback


def test_library_records_are_one_short_line_from_warning_up() -> None:
    keep = OnlyOwnDetail()
    assert not keep.filter(record("telegram.ext.Updater", logging.DEBUG, "raw %s", "Zelda"))
    noisy = record(
        "telegram.request", logging.ERROR, "bad JSON: %s", "<html>\n" + "x" * 900, exc=True
    )
    assert keep.filter(noisy)
    assert noisy.exc_info is None and "\n" not in noisy.getMessage()
    assert len(noisy.getMessage()) <= 200
    ours = record("bot.runtime", logging.DEBUG, "user %s", 5)
    assert keep.filter(ours) and ours.getMessage() == "user 5"


def test_setup_is_not_needed_for_the_filter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OnlyOwnDetail())
    handler.handle(record("httpx", logging.INFO, "POST https://api/bot%s/getMe", TOKEN))
    assert stream.getvalue() == ""


@pytest.mark.process
def test_the_version_is_printed_without_settings() -> None:
    from bot import __version__

    result = cli("--version", GENTLY_LOG_LEVEL="LOUD")  # a bad setting does not matter
    assert result.returncode == 0
    assert result.stdout == f"gently-bot {__version__}\n"
    assert __version__ == "0.5.0"


@pytest.mark.process
def test_an_env_file_that_cannot_be_read_is_one_line_and_exit_78(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"TELEGRAM_BOT_TOKEN=\xff\xfe\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert result.stderr == f"Configuration problem: {tmp_path / '.env'} is not UTF-8 text\n"
