"""Gently: a private, consent-first guide delivered one message at a time."""
