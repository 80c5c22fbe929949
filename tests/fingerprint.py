"""A fingerprint of the source post: hashes of its ten-word runs, never its words.

The suite checks that no ten-word run of content/ matches one of the post's, without
reading anything outside the repository. Regenerate after the source changes:

    python -m tests.fingerprint ../shared/reference/guide-source.txt > tests/source-fingerprint.txt
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

RUN = 10
FINGERPRINT = Path(__file__).with_name("source-fingerprint.txt")


def words(text: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", text).replace("\u2019", "'").lower()
    return re.findall(r"[a-z0-9']+", text)


def runs(text: str) -> dict[str, str]:
    """Each ten-word run of `text`, keyed by its hash."""
    w = words(text)
    found = {}
    for i in range(len(w) - RUN + 1):
        run = " ".join(w[i : i + RUN])
        found[hashlib.sha256(run.encode()).hexdigest()[:20]] = run
    return found


def load() -> frozenset[str]:
    return frozenset(FINGERPRINT.read_text(encoding="utf-8").split())


if __name__ == "__main__":
    print("\n".join(sorted(runs(Path(sys.argv[1]).read_text(encoding="utf-8")))))
