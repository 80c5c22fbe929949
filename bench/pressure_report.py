"""The pressure figures of `python -m bench` (issue 21): the lanes beside replies, one
steady tapper, the quick exit, housekeeping at a million users, and the real process's
CPU per tap and memory. Each configuration runs in a process of its own."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

RTT_MS = 30.0
RATES = (5, 12, 16, 20)
SPARE = 25  # places in a second that are not the replies' reserve (30 - 5)

Run = Callable[..., dict[str, Any]]


def measure(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    """`run(module, name, **config)` runs one configuration and returns its JSON."""
    pressure = "bench.pressure"
    figures: dict[str, Any] = {
        "lanes": [
            run(
                pressure,
                f"lanes: {rate} taps/s{f', {due:,} reminders due' if due else ''}",
                scenario="lanes",
                offered=rate,
                seconds=10,
                reminders=due,
            )
            for rate in RATES
            for due in (5000, 0)
        ],
        "steady": run(
            pressure, "one user tapping every 1.3 s", scenario="steady", offered=15, taps=30
        ),
        "quick_exit": run(pressure, "the quick exit", scenario="quick_exit"),
        "housekeeping": run(
            pressure,
            f"housekeeping at {args.scale_users:,} users, {args.scale_rows:,} ledger rows",
            scenario="housekeeping",
            users=args.scale_users,
            ledger_rows=args.scale_rows,
        ),
        "process": run(
            "bench.process", "the real process, 20 taps/s for 60 s", offered=20, seconds=60
        ),
    }
    if args.soak:
        figures["soak"] = run(
            "bench.process",
            f"the real process, soak {args.soak:g}s at 20 taps/s",
            offered=20,
            seconds=args.soak,
            sample_s=min(60.0, args.soak / 10),
        )
    figures["targets"] = targets(figures)
    return figures


def check(target: str, value: Any, wanted: str, ok: bool) -> dict[str, Any]:
    return {"target": target, "value": value, "wanted": wanted, "ok": bool(ok)}


def targets(f: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for r in f["lanes"]:
        rate, spare = r["offered"], SPARE - r["offered"]
        if r["reminders_due"]:
            checks.append(
                check(
                    f"reminders/s beside {rate} taps/s (spare {spare}/s)",
                    r["reminders_per_s"],
                    f">= {0.8 * spare:g}",
                    r["reminders_per_s"] >= 0.8 * spare,
                )
            )
        else:
            asked = min(r["new_messages_per_s"], spare)
            checks.append(
                check(
                    f"keyboards cleared/s beside {rate} taps/s, none due",
                    r["keyboards_cleared_per_s"],
                    f">= {0.8 * asked:.1f}",
                    r["keyboards_cleared_per_s"] >= 0.8 * asked,
                )
            )
    steady = f["steady"]
    checks.append(
        check(
            "one user tapping every 1.3 s: longest reply wait (ms)",
            steady["max_ms"],
            f"<= {RTT_MS + 100:g}",
            steady["max_ms"] <= RTT_MS + 100,
        )
    )
    quick = f["quick_exit"]
    checks += [
        check(
            "/hide: newest 100 gone, 40 updates sent before it (s)",
            quick["hide_newest_100_with_40_queued_s"],
            "<= 1",
            quick["hide_newest_100_with_40_queued_s"] <= 1,
        ),
        check(
            "/hide: 1,000 messages gone (s)",
            quick["hide_1000_s"],
            "<= 3",
            quick["hide_1000_s"] <= 3,
        ),
        check(
            "/delete's confirmation answered, p50 (s)",
            quick["delete_confirm_p50_s"],
            "<= 0.3",
            quick["delete_confirm_p50_s"] <= 0.3,
        ),
    ]
    for name, phase in f["housekeeping"]["phases"].items():
        checks.append(
            check(
                f"longest reply wait during {name} (ms)",
                phase["max_ms"],
                f"<= {RTT_MS + 100:g}",
                phase["max_ms"] <= RTT_MS + 100,
            )
        )
    share = f["process"]["cpu_ms_per_tap"] * 30 / 1000
    checks.append(
        check(
            "the process's CPU at 30 taps/s (share of one core)",
            round(share, 2),
            "<= 0.5",
            share <= 0.5,
        )
    )
    if "soak" in f:
        growth = f["soak"]["rss_growth_after_warmup_kb_per_1000_taps"]
        checks.append(
            check(
                "soak: RSS growth after warm-up (KB per 1,000 taps)", growth, "<= 10", growth <= 10
            )
        )
    return checks


def table(f: dict[str, Any]) -> str:
    lines = [
        "Under pressure (the bot as `run` builds it, 30 ms per Bot API call)",
        f"{'lanes: taps/s':<16}{'reminders due':>14}{'reply p50':>10}{'reminders/s':>12}"
        f"{'new msgs/s':>11}{'cleared/s':>10}",
    ]
    for r in f["lanes"]:
        lines.append(
            f"{r['offered']:<16}{r['reminders_due']:>14,}{r['p50_ms']:>10.1f}"
            f"{r['reminders_per_s']:>12.1f}{r['new_messages_per_s']:>11.1f}"
            f"{r['keyboards_cleared_per_s']:>10.1f}"
        )
    s = f["steady"]
    lines.append(
        f"one user tapping every 1.3 s beside {s['offered_per_s']} taps/s: reply p50 "
        f"{s['p50_ms']} ms, mean {s['mean_ms']} ms, max {s['max_ms']} ms "
        f"({s['keyboards_cleared_for_user']} of its keyboards cleared)"
    )
    q = f["quick_exit"]
    lines.append(
        f"quick exit: newest 100 gone in {q['hide_newest_100_with_40_queued_s']} s with 40 sent "
        f"before; 1,000 in {q['hide_1000_s']} s; /delete confirmed in "
        f"{q['delete_confirm_p50_s']} s p50, {q['delete_confirm_max_s']} s max (ten at once)"
    )
    h = f["housekeeping"]
    lines.append(
        f"housekeeping, {h['users']:,} users and {h['ledger_rows']:,} ledger rows "
        f"(populated in {h['populated_s']} s), users tapping at 20/s:"
    )
    for name, phase in h["phases"].items():
        lines.append(
            f"  {name:<40}{phase['took_s']:>7.2f} s  {phase['taps']:>4} taps  "
            f"p50 {phase['p50_ms']:>6.1f} ms  max {phase['max_ms']:>6.1f} ms"
        )
    for key in ("process", "soak"):
        if key in f:
            p = f[key]
            lines.append(
                f"real process, {p['taps']:,} taps at {p['offered']}/s: "
                f"{p['cpu_ms_per_tap']} ms CPU a tap ({p['idle_cpu_ms_per_s']} ms/s idle), "
                f"RSS (s, MB) {p['rss_mb_over_time']}"
            )
    return "\n".join(lines)
