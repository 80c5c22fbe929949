"""Shared fixtures: the packaged guide, and stores on real SQLite files."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.content import Guide, Guides, default_content_dir, load_guide, load_guides
from bot.runtime import Runtime
from bot.store import Store
from tests.helpers import FakeClock, Screens, as_guides


@pytest.fixture(scope="session")
def guide() -> Guide:
    return load_guide()


@pytest.fixture(scope="session")
def guides() -> Guides:
    return load_guides()


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of the packaged content, for tests that break it."""
    target = tmp_path / "content"
    shutil.copytree(default_content_dir(), target)
    return target


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gently.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(guide: Guide, store: Store, clock: FakeClock) -> Runtime:
    return Runtime(as_guides(guide), store, Screens(), clock)
