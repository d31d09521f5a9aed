"""Turns the figures of one run (report.json) into report.md."""

from __future__ import annotations

import math
from typing import Any


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _machine(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    v = m["versions"]
    loads = "; ".join(f"{x['at']}: {' / '.join(str(a) for a in x['loadavg'])}" for x in r.get("load", []))
    return [
        "## Machine and versions",
        f"- {m['cores_logical']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['os']}",
        f"- load average (1/5/15 min) at start {' / '.join(str(a) for a in m['loadavg_at_start'])}; {loads}",
        "  (other engineers run tests on this machine and broker at the same time: figures are noisy)",
        f"- Python {v['python']}, faust-streaming {v['faust-streaming']}, aiokafka {v['aiokafka']}, "
        f"confluent-kafka {v['confluent-kafka']} (librdkafka {v['librdkafka']}), fastavro {v['fastavro']}, "
        f"pydantic {v['pydantic']}; Kafka broker {v['kafka_broker']} (single local KRaft node)",
        f"- broker: {_broker(r.get('broker', {}))}",
        f"- run {r['run']}{' (quick mode: small sizes)' if r.get('quick') else ''}, took {_f(r.get('duration_s'), 0)} s",
        "",
    ]


def _broker(b: dict[str, Any]) -> str:
    where = ("the bench's own, var/bench-kafka" if b.get("which") == "own"
             else "the development broker (or MASH_KAFKA_CLIENT_CONFIG's cluster)")
    plain = f"; PLAINTEXT listener {b['plaintext_bootstrap']} for B1's plaintext leg" if b.get(
        "plaintext_bootstrap") else ""
    return (f"{where}, SASL_SSL {b.get('bootstrap', '?')} (SCRAM-SHA-512 over TLS, StandardAuthorizer, nothing "
            f"allowed without an ACL){plain}. Every party connects as its own principal with only its own ACLs: "
            "services, agencies, the hub system, the load generator as each source system; trackers and offsets "
            "as ops.reader; record sizes as admin (internal topics)")


def _security(b: dict[str, Any]) -> list[str]:
    cost = b.get("security_cost")
    if not cost:
        return []
    if "skipped" in cost:
        return ["### What TLS and SCRAM cost", f"Not measured: {cost['skipped']}.", ""]
    p = cost["plaintext"]
    ratio = cost["secured_over_plaintext"]
    lines = [
        "### What TLS and SCRAM cost (B1, secured against plaintext, same run)",
        f"The same B1 ({p['referrals']} referrals) on a fresh pipeline whose every client (services, agencies, hub, "
        "source systems, tracker) uses the same broker's PLAINTEXT listener as User:ANONYMOUS, which holds the same "
        "grants the principals hold on the secured listener (so the authorizer does comparable work; only TLS and "
        "SASL/SCRAM differ). The baseline loop ran on each listener too. Order: " + cost["order"] + ".",
        "",
        "| figure | SASL_SSL | PLAINTEXT | secured / plaintext |",
        "| --- | --- | --- | --- |",
        f"| referrals/s | {_f(b['referrals_per_s'])} | {_f(p['referrals_per_s'])} | "
        f"**{_f(ratio['referrals_per_s'], 3)}** |",
        f"| Kafka messages/s | {_f(b['kafka_messages_per_s'], 0)} | {_f(p['kafka_messages_per_s'], 0)} | "
        f"{_f(ratio['kafka_messages_per_s'], 3)} |",
        f"| messages per referral | {_f(b['messages_per_referral'])} | {_f(p['messages_per_referral'])} | |",
        f"| baseline loop messages/s | {_f(b['baseline']['messages_per_s'], 0)} | "
        f"{_f(p['baseline']['messages_per_s'], 0)} | {_f(ratio['baseline_messages_per_s'], 3)} |",
    ]
    for name, r in ratio["cpu_ms_per_referral"].items():
        lines.append(f"| CPU ms per referral: {name} | {_f(b['cpu_ms_per_referral'][name], 2)} | "
                     f"{_f(p['cpu_ms_per_referral'].get(name), 2)} | {_f(r, 3)} |")
    lines.append("")
    return lines


def _b1(b: dict[str, Any]) -> list[str]:
    base = b["baseline"]
    t = b["targets"]
    lines = [
        "## B1 throughput (saturation)",
        f"On the secured listener. {b['referrals']} referrals (each about a different child, so each opens its own case), produced as a "
        "backlog while the workers run; six simulated agencies answering at once (profile `instant`) and the "
        "simulated hub in one process of their own. Rate = referrals / (first send -> Kafka timestamp of the last "
        "referrer's INFORMATION_GATHERED outcome (or its DECISION, for a referrer the recipient policy "
        "tells only RECEIVED and DECISION), i.e. every case assembled and routed).",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| referrals/s | **{_f(b['referrals_per_s'])}** | >= {_f(t['referrals_per_s'], 0)}: {_met(t['met_rate'])} |",
        f"| Kafka messages/s (all topics of the run, sum of end offsets) | {_f(b['kafka_messages_per_s'], 0)} | |",
        f"| messages per referral | {_f(b['messages_per_referral'])} (design topics "
        f"{_f(b['messages_design_topics'] / b['referrals'])}, internal/changelog "
        f"{_f(b['messages_internal_topics'] / b['referrals'])}) | |",
        f"| mean record size | {_f(b['mean_record_bytes'], 0)} B | |",
        f"| baseline loop (plain confluent-kafka produce+consume, {base['message_bytes']} B) | "
        f"{_f(base['messages_per_s'], 0)} messages/s | |",
        f"| pipeline messages/s / baseline messages/s | **{_f(100 * b['ratio_to_baseline_messages'], 2)}%** | "
        f">= {_f(100 * t['baseline_share'], 0)}%: {_met(t['met_baseline_share'])} |",
        f"| referrals through / decided | {b['gathered']} / {b['decided']} "
        f"(decisions dead-lettered: {b['decisions_deadlettered']}) | |",
        f"| last case assembled / last decision delivered after | {_f(b['last_assembled_s'])} s / "
        f"{_f(b['last_decision_s'])} s | |",
        "",
        "Messages by topic in the measured window: " + ", ".join(f"{k} {v}" for k, v in b["messages_by_topic"].items()),
        "",
        "| process | CPU ms per referral | share of one core during the run |",
        "| --- | --- | --- |",
    ]
    for name, ms in b["cpu_ms_per_referral"].items():
        lines.append(f"| {name} | {_f(ms, 2)} | {_f(100 * b['cpu_share_of_one_core'][name], 0)}% |")
    total = sum(v for k, v in b["cpu_ms_per_referral"].items() if not math.isnan(v))
    lines += [f"| total | {_f(total, 2)} | |", ""]
    return lines + _security(b)


def _b2(b: dict[str, Any]) -> list[str]:
    lines = [
        "## B2 latency (open loop)",
        f"Fixed arrival rates of 25, 50 and 75% of B1's {_f(b['saturation_per_s'])} referrals/s, "
        f"{_f(b['duration_s'], 0)} s each. Latency from each referral's *intended* send time on the schedule "
        "(no coordinated omission) to the Kafka timestamp of the output; HdrHistogram. The probe: A->t1->B->t2->C->t3 "
        "with plain confluent-kafka clients (linger 0), same rate and payload size. DECISION includes the simulated "
        "hub's fixed 1 s decision delay.",
        "",
        "| load | rate/s | to | p50 ms | p99 ms | p99.9 ms | max ms | not seen |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for load, p in b["phases"].items():
        for label in ("received", "assembled", "gathered", "decision"):
            h = p[label]
            lines.append(f"| {load} | {_f(p['rate_per_s'])} | {label} | {_f(h['p50_ms'])} | {_f(h['p99_ms'])} | "
                         f"{_f(h['p99_9_ms'])} | {_f(h['max_ms'])} | {h['not_seen']} |")
        h = p["probe"]["three_hops"]
        lines.append(f"| {load} | {_f(p['rate_per_s'])} | *probe, 3 hops* | {_f(h['p50_ms'])} | {_f(h['p99_ms'])} | "
                     f"{_f(h['p99_9_ms'])} | {_f(h['max_ms'])} | {p['probe']['not_seen']} |")
    lines += ["", "| load | p99 assembled / probe p99 | p99 gathered / probe p99 |", "| --- | --- | --- |"]
    for load, p in b["phases"].items():
        lines.append(f"| {load} | {_f(p['p99_ratio_assembled_to_probe'])}x | {_f(p['p99_ratio_gathered_to_probe'])}x |")
    t = b["target"]
    lines += ["", f"Target: pipeline p99 (referral -> assembled case, 4 hops) at most {t['p99_ratio_at_50']:g}x the "
              f"probe's at 50% load: {_met(t['met'])}.", ""]
    return lines


def _b3(b: dict[str, Any]) -> list[str]:
    lines = [
        "## B3 deadline accuracy",
        f"Deadlines Red/Amber/Green {b['due_s']} s; police silent for 10% of cases (chases included), everyone else "
        f"answers at once; sweeper every {b['sweep_interval_s']} s; enrichment session timeout "
        f"{b['session_timeout_s']} s (the setting's minimum). Lateness of PARTIAL cases (version 1).",
        "",
        "| phase | cases | partial | lateness p50 s | p99 s | max s | Kafka ts - due p99 s | max s | early | missed | duplicate v1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, label in (("idle", "~0% load"), ("half_load", "50% load"), ("half_load_kill", "50% load + SIGKILL")):
        p = b.get(key)
        if not p:
            continue
        a, k = p["lateness_assembled_at"], p["lateness_kafka_timestamp"]
        lines.append(f"| {label} ({_f(p['rate_per_s'])}/s) | {p['cases']} | {p['partial']} | {_f(a['p50_s'], 3)} | "
                     f"{_f(a['p99_s'], 3)} | {_f(a['max_s'], 3)} | {_f(k['p99_s'], 3)} | {_f(k['max_s'], 3)} | "
                     f"{p['early_fires']} | {p['missed_fires']} | {p['v1_duplicates']} |")
    kill = b.get("half_load_kill", {})
    if "killed_at" in kill:
        lines += ["", f"SIGKILL at {_f(kill['killed_at'])} s into the phase; the restarted worker logged Ready at "
                  f"{_f(kill['ready_again_at'])} s."]
    lines += ["", f"Targets: lateness p99 under {b['targets']['lateness_p99_s']:g} s, no early and no missed fire.", ""]
    return lines


def _memory(m: dict[str, Any]) -> list[str]:
    lines = [
        "## Memory with open cases",
        "Ten-hour deadlines, no agency answering; referrals fed as a backlog. RSS per service; bytes per open case "
        "= (RSS - idle RSS) / open cases.",
        "",
        "| open cases (target) | reached in | intake RSS MiB (B/case) | enrichment RSS MiB (B/case) | routing RSS MiB |",
        "| --- | --- | --- | --- | --- |",
        "| 0 (idle) | | " + " | ".join(f"{m['idle_rss'][k] / 2**20:.0f}" for k in ("intake", "enrichment", "routing"))
        .replace(" | ", " | ", 2) + " |",
    ]
    for s in m["steps"]:
        rss, bpc = s["rss"], s["bytes_per_case"]
        lines.append(f"| {s['reached']:,} ({s['target']:,}) | {_f(s['seconds'], 0)} s ({_f(s['fill_rate_per_s'], 0)}/s) | "
                     f"{rss['intake'] / 2**20:.0f} ({_f(bpc['intake'], 0)}) | {rss['enrichment'] / 2**20:.0f} "
                     f"({_f(bpc['enrichment'], 0)}) | {rss['routing'] / 2**20:.0f} |")
    if "extrapolated" in m:
        e = m["extrapolated"]
        lines += ["", f"**Extrapolated, not measured:** {e['to_cases']:,} open cases were not reached within the "
                  f"{_f(m['cap_s'], 0)} s cap (reached {e['from_cases']:,}). Linear from the measured slope: "
                  + ", ".join(f"{k} ~{v / 2**20:.0f} MiB ({e['bytes_per_case_slope'][k]:.0f} B/case)"
                              for k, v in e["rss"].items()) + "."]
    lines.append("")
    return lines


def _profile(p: dict[str, Any]) -> list[str]:
    if "skipped" in p:
        return ["## Profile", p["skipped"], ""]
    lines = ["## Profile at saturation (py-spy, on-CPU samples)",
             f"{p['referrals']} referrals as a backlog, {_f(p['wall_s'])} s; {p['rate_hz']} Hz per process.", ""]
    for name, proc in p["processes"].items():
        if "error" in proc:
            lines.append(f"- {name}: {proc['error']}")
            continue
        lines.append(f"**{name}**: {_f(100 * proc['cpu_share_of_one_core'], 0)}% of a core; leaf frames by kind: "
                     + ", ".join(f"{k} {100 * v:.0f}%" for k, v in proc["by_category"][:8]))
        lines.append("")
        lines.append("  inclusive, own code: " + "; ".join(f"`{k}` {100 * v:.0f}%" for k, v in proc["top_inclusive_own_code"][:6]))
        lines.append("")
    return lines


def _redfirst(b: dict[str, Any]) -> list[str]:
    base, back = b.get("no_backlog", {}), b.get("backlog_run", {})
    lines = [
        "## Red first (#19)",
        f"One Red referral (immediate danger, every agency asked) from its source system's topic to "
        f"the agencies' Red request topics, on one pipeline in one run: idle, then behind "
        f"{b['backlog']:,} Green referrals queued while intake was stopped (queued in "
        f"{_f(b.get('queue_s'))} s). Times to the Kafka timestamp of the case's first and last request; "
        "idle from the Red referral's acknowledgement, with the backlog from intake's Ready.",
        "",
        "| | first request s | all requests s |",
        "| --- | --- | --- |",
    ]
    if base:
        lines.append(f"| no backlog (median of {len(base['runs'])}) | {_f(base['first_s_median'], 3)} | "
                     f"{_f(base['all_s_median'], 3)} |")
    if back:
        lines.append(f"| behind {b['backlog']:,} Green | {_f(back['first_s'], 3)} | {_f(back['all_s'], 3)} |")
        drained = back.get("intake_drained_s")
        lines += ["", f"When the Red case's requests were out, intake had triaged "
                  f"{back['greens_triaged_before_red']:,} of the {b['backlog']:,} Green referrals and enrichment "
                  f"had sent {back['green_requests_before_red']:,} Green requests "
                  f"({back['green_requests_at_drain']:,} once intake was through). The Green backlog took "
                  f"{_f(drained) + ' s' if drained is not None else 'longer than the wait'} to get through intake."]
    lines.append("")
    return lines


def markdown(r: dict[str, Any]) -> str:
    lines = ["# mash-hub benchmark report", ""]
    if "headline" in r:
        lines += ["## Headline", *r["headline"], ""]
    lines += _machine(r)
    if r.get("b1"):
        lines += _b1(r["b1"])
    if r.get("b2"):
        lines += _b2(r["b2"])
    if r.get("b3"):
        lines += _b3(r["b3"])
    if r.get("memory"):
        lines += _memory(r["memory"])
    if r.get("profile"):
        lines += _profile(r["profile"])
    if r.get("redfirst"):
        lines += _redfirst(r["redfirst"])
    if r.get("gateway"):
        from mash_hub.bench.gateway import markdown as gateway_markdown
        lines += gateway_markdown(r["gateway"])
    if r.get("notes"):
        lines += ["## What limits throughput, and what next", *r["notes"], ""]
    return "\n".join(lines) + "\n"
