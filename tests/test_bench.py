"""The benchmark runs end to end (tiny sizes: this checks the script, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_json_at_tiny_sizes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--production-seconds",
            "1",
            "--reminders",
            "20",
            "--pending",
            "200",
            "--sizes",
            "50,80",
            "--seconds",
            "0.2",
            "--active",
            "10",
            "--concurrent-users",
            "10",
            "--latency-ms",
            "2",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    everything = json.loads(result.stdout)
    production = everything["production"]
    for run in [*production["loads"], production["over_capacity"], production["backlog"]]:
        assert run["replied"] == run["taps"], run
        assert run["max_calls_in_any_second"] <= 30, run
    assert production["backlog"]["reminders_delivered"] == 20
    assert production["backlog"]["reminders_sent_twice"] == 0
    assert [s["pending"] for s in production["startup"]] == [0, 200]
    assert any("replies/s sustained" in t["target"] for t in production["targets"])
    figures = everything["in_process"]
    impls = {(r["impl"], r["stored"]) for r in figures["scenario_1"]}
    assert impls == {
        (i, s) for i in ("gently", "pickle", "pickle-flush", "naive") for s in (50, 80)
    }
    assert [r["impl"] for r in figures["scenario_2"]] == ["gently", "gently-sequential"]
    for run in figures["scenario_1"] + figures["scenario_2"]:
        assert run["in_order"], run
        assert run["updates"] > 0
        assert {"updates_per_s", "p50_ms", "p99_ms", "peak_rss_mb", "data_mb"} <= set(run)
    # the same taps cost the same Bot API calls in every implementation (a tick makes two
    # calls, a step forward three, so only runs that got through the same taps compare)
    by_taps: dict[int, set[float]] = {}
    for run in figures["scenario_1"]:
        by_taps.setdefault(run["fed_updates"], set()).add(run["bot_api_calls_per_update"])
    assert all(len(calls) == 1 for calls in by_taps.values()), by_taps
    assert any("gently / pickle" in t["target"] for t in figures["targets"])
