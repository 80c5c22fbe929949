"""Gently: a private, consent-first guide delivered one message at a time."""

DISTRIBUTION = "gently-bot"  # the name `gently` is taken on the package index
__version__ = "0.5.0"  # the one place the version is written (pyproject reads it)
