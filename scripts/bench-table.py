#!/usr/bin/env python3
"""Renders target/bench/report.json as the README's Performance table
(between the bench:start/bench:end markers): `scripts/bench-table.py [--write]`."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
report = json.loads((root / "target/bench/report.json").read_text())


def n(key, digits=0):
    value = report.get(key)
    return "–" if value is None else f"{value:,.{digits}f}"


rows = [
    ("catch-up, producer + 5 consumers (rows/s)", n("catchup_rows_per_s"), n("baseline_catchup_rows_per_s"), "ratio ≥ 10: " + n("ratio_vs_baseline", 2)),
    ("producer alone (rows/s)", n("producer_rows_per_s"), n("baseline_producer_rows_per_s"), "≥ 50,000"),
    ("5 consumers alone, wasm chain (records/s)", n("consumers_records_per_s"), n("baseline_consumers_records_per_s"), "≥ 100,000"),
    ("same, native Rust transforms (records/s)", n("native_consumers_records_per_s"), "", ""),
    ("wasm ÷ native", n("wasm_vs_native_ratio", 2), "", "≥ 0.8"),
    ("latency p50 / p99 / max (ms) at " + n("offered_rate_per_s") + " updates/s",
     f'{n("latency_p50_ms")} / {n("latency_p99_ms")} / {n("latency_max_ms")}',
     f'{n("baseline_latency_p50_ms")} / {n("baseline_latency_p99_ms")} / –', "p99 < baseline p50"),
    ("consumer peak RSS, 100k / 10k rows (MiB)", f'{n("consumer_peak_rss_mib")} / {n("consumer_peak_rss_mib_10k")}', "", "< 64, no growth"),
    ("producer peak RSS (MiB)", n("producer_peak_rss_mib"), "", ""),
    ("catch-up CPU per 1,000 rows (ms): broker / MariaDB / producer / consumers",
     " / ".join(n(f"catchup_cpu_ms_per_1k_rows_{p}") for p in ("broker", "mysql", "producer", "consumers")),
     " / ".join(n(f"baseline_catchup_cpu_ms_per_1k_rows_{p}") for p in ("broker", "mysql", "producer", "consumers")), ""),
    ("catch-up: machine busy (% of both cores)", n("catchup_machine_busy_percent"), n("baseline_catchup_machine_busy_percent"), ""),
    ("catch-up: the broker's busiest half second (cores)", n("catchup_broker_peak_cores", 2), n("baseline_catchup_broker_peak_cores", 2), ""),
    ("broker only, same client settings: produce / consume by 5 members (msgs/s)", f'{n("broker_produce_per_s")} / {n("broker_consume_per_s")}', "", ""),
    ("broker's ceiling for a catch-up, 1 / (1/produce + 1/consume) (rows/s)", n("broker_catchup_ceiling_rows_per_s"), "", ""),
    ("scaling: catch-up with 1 / 2 / 5 consumers, 10 partitions (rows/s)",
     f'{n("scaling_1_consumers_rows_per_s")} / {n("scaling_2_consumers_rows_per_s")} / {n("scaling_5_consumers_rows_per_s")}', "", ""),
    ("scaling: 5 consumers, 30 partitions (rows/s)", n("scaling_5_consumers_30_partitions_rows_per_s"), "", ""),
]
table = ["| measure | pipeline | Python baseline | target |", "|---|---:|---:|---|"]
table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
text = "\n".join(table)
if "--write" in sys.argv:
    readme = root / "README.md"
    s = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    i, j = s.index(start) + len(start), s.index(end)
    readme.write_text(s[:i] + "\n" + text + "\n" + s[j:])
else:
    print(text)
