"""The benchmark's two measuring programs run end to end, each at one tiny configuration
(this checks the scripts, not the figures; `python -m bench` runs the real sizes)."""

from __future__ import annotations

import pytest

from bench.harness import Config
from bench.report import in_process, measure

pytestmark = pytest.mark.process  # each test runs a subprocess


def test_the_in_process_harness_runs_one_tiny_configuration() -> None:
    run = measure(Config(impl="gently", stored=50, active=10, seconds=0.2, latency_updates=20))
    assert run["in_order"], run
    assert run["updates"] > 0
    assert {"updates_per_s", "p50_ms", "p99_ms", "peak_rss_mb", "data_mb"} <= set(run)


def test_the_production_benchmark_runs_one_tiny_configuration() -> None:
    run = in_process(
        "bench.production",
        {"latency_ms": 2, "scenario": "capacity", "users": 10, "offered": 10, "seconds": 1},
        "production smoke",
    )
    assert run["replied"] == run["taps"] > 0, run
    assert run["max_calls_in_any_second"] <= 30, run


def test_the_housekeeping_scenario_runs_at_a_tiny_scale() -> None:
    run = in_process(
        "bench.pressure",
        {
            "scenario": "housekeeping",
            "users": 2000,
            "ledger_rows": 10_000,
            "erasures": 2,
            "quiet_s": 0.5,
            "round_s": 0.5,
        },
        "housekeeping smoke",
    )
    assert run["ledger_rows_after"] < 10_000, run  # the outage's ids were pruned
    assert len(run["phases"]) == 5 and run["phases"]["quiet"]["taps"] > 0, run
