"""Benchmark: Gently against the usual PTB approaches, on the same walkthrough.

Run from a checkout with `python -m bot bench` (see the README's Performance section).
"""
