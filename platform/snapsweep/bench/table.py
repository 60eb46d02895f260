"""Markdown tables of benchmark rows."""

from __future__ import annotations


def _num(value, fmt="{:,.0f}"):
    return "—" if value is None else fmt.format(value)


def _mib(value):
    return "—" if value is None else f"{value / 2**20:,.1f}"


def format_table(rows: list[dict]) -> str:
    """Throughput table, then (if present) the memory-flatness and pack tables, as Markdown."""
    out = []
    speed = [r for r in rows if r.get("kind", "throughput") == "throughput"]
    if speed:
        out.append("| method | k | density | batch | T | tokens/s | predicted | measured/predicted | vs BPTT "
                   "| trace MiB | compiled MiB | peak device MiB | bandwidth floor | device |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in speed:
            if r.get("skipped"):
                out.append(f"| {r['method']} | {r['units'] or r['hidden']} | {r['density']:g} | {r['batch']} | {r['length']} "
                           f"| skipped: {r['skipped']} | | | | | | | | {r['device']} |")
                continue
            out.append(
                f"| {r['method']} | {r['units']} | {r['density']:g} | {r['batch']} | {r['length']} "
                f"| {_num(r['tokens_per_s'])} | {_num(r.get('predicted_tokens_per_s'))} "
                f"| {_num(r.get('measured_over_predicted'), '{:.2f}')} "
                f"| {_num(r['ratio_to_bptt'], '{:.2f}')} | {_mib(r['trace_bytes'])} "
                f"| {_mib(r['compiled_bytes'])} | {_mib(r['peak_device_bytes'])} "
                f"| {_num(r['bandwidth_floor_fraction'], '{:.0%}')} | {r['device']} |")
    memory = [r for r in rows if r.get("kind") == "memory"]
    if memory:
        out.append("")
        out.append("| memory: method | k | batch | T | compiled MiB | peak device MiB | device |")
        out.append("|---|---|---|---|---|---|---|")
        for r in memory:
            out.append(f"| {r['method']} | {r['units']} | {r['batch']} | {r['length']} | {_mib(r['compiled_bytes'])} "
                       f"| {_mib(r['peak_device_bytes'])} | {r['device']} |")
    packs = [r for r in rows if r.get("kind") == "pack"]
    if packs:
        out.append("")
        out.append("| pack: method | k | batch | T | members | tokens/s (all members) | tokens/s per member "
                   "| vs pack of 1 | device |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in packs:
            if r.get("skipped"):
                out.append(f"| {r['method']} | {r.get('units', '—')} | {r.get('batch', '—')} | {r.get('length', '—')} "
                           f"| {r.get('pack', '—')} | skipped: {r['skipped']} | | | {r.get('device', '—')} |")
                continue
            out.append(f"| {r['method']} | {r['units']} | {r['batch']} | {r['length']} | {r['pack']} "
                       f"| {_num(r['tokens_per_s'])} | {_num(r['tokens_per_s_per_member'])} "
                       f"| {_num(r.get('speedup'), '{:.2f}x')} | {r['device']} |")
    return "\n".join(out)
