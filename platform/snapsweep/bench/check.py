"""`bench --check`: the static price of every standard method beside what it measures here.

`snapsweep plan` prices packs with `rtrl.costs.update_seconds` from each method's own cost and the
device's rates; this check holds that price to the device. It measures the rates once
(bench/devices.py), times each standard method at each size, and says whether every measured
tokens/s is within a factor of the prediction. Skipped methods (over the trace budget or too slow
for the device) are listed and do not count.
"""

from __future__ import annotations

from snapsweep.rtrl.registry import STANDARD_NAMES
from snapsweep.bench.run import bench

CHECK_SIZES = (16, 48)  # every standard method runs at both in a few minutes on a 2-core CPU
TOLERANCE = 2.0  # measured / predicted must lie in [1 / TOLERANCE, TOLERANCE]


def check(cell: str = "gru", hiddens=CHECK_SIZES, batch: int = 2, length: int = 8, methods=STANDARD_NAMES,
          repeats: int = 3, tolerance: float = TOLERANCE, rates_file: str | None = None,
          progress=None) -> tuple[list[dict], bool]:
    """-> (bench's throughput rows, each with `within`: its ratio lies in the band; all of them do)."""
    rows = bench(cell, list(hiddens), batch, length, list(methods), repeats=repeats, lengths_for_memory=None,
                 progress=progress, rates_file=rates_file, best=True)
    for row in rows:
        ratio = row["measured_over_predicted"]
        row["within"] = None if ratio is None else 1 / tolerance <= ratio <= tolerance
    measured = [row for row in rows if row["within"] is not None]
    return rows, bool(measured) and all(row["within"] for row in measured)


def format_check(rows: list[dict], tolerance: float = TOLERANCE) -> str:
    """Markdown: method, k, predicted and measured tokens/s, their ratio, and the verdict."""
    out = [f"| method | k | batch | T | predicted tokens/s | measured tokens/s | measured/predicted "
           f"| within {tolerance:g}x |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r["units"] or r["hidden"]
        if r["within"] is None:
            out.append(f"| {r['method']} | {k} | {r['batch']} | {r['length']} | skipped: {r['skipped']} | | | |")
            continue
        out.append(f"| {r['method']} | {k} | {r['batch']} | {r['length']} | {r['predicted_tokens_per_s']:,.0f} "
                   f"| {r['tokens_per_s']:,.0f} | {r['measured_over_predicted']:.2f} "
                   f"| {'yes' if r['within'] else 'NO'} |")
    return "\n".join(out)
