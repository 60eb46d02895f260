"""A one-line progress display on stderr for `snapsweep train` (stdlib only, no tqdm).

On a terminal the line is redrawn in place; otherwise (logs, CI) a line is printed at most every
`interval_s` seconds, so redirected output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class ProgressLine:
    def __init__(self, total: int, stream: Optional[TextIO] = None, interval_s: float = 10.0, width: int = 24):
        self.total = max(1, total)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self.width = width
        self._last_print = 0.0
        self._drawn = False

    def update(self, records: list) -> None:
        if not records:
            return
        step = records[0]["step"]
        now = time.monotonic()
        if not self.tty and now - self._last_print < self.interval_s and step < self.total:
            return
        self._last_print = now
        line = self.render(step, records)
        if self.tty:
            self.stream.write("\r" + line.ljust(100)[:160])
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def render(self, step: int, records: list) -> str:
        done = min(1.0, step / self.total)
        filled = int(round(done * self.width))
        bar = "=" * filled + ("." * (self.width - filled))
        parts = [f"step {step}/{self.total} [{bar}]"]
        live = [r["metrics"] for r in records]
        if any("curriculum_level" in m for m in live):
            parts.append("L=" + ",".join(str(int(m["curriculum_level"])) for m in live if "curriculum_level" in m))
        if any("valid_bpc" in m for m in live):
            parts.append("bpc=" + ",".join(f"{m['valid_bpc']:.3f}" for m in live if "valid_bpc" in m))
        elif any("train_loss_bits" in m for m in live):
            parts.append("loss=" + ",".join(f"{m['train_loss_bits']:.3f}" for m in live if "train_loss_bits" in m))
        rate = sum(m.get("tokens_per_s", 0.0) for m in live)
        if rate:
            parts.append(f"{rate / 1e3:.1f}k tok/s")
        diverged = sum(1 for m in live if m.get("status") == 1.0)
        if diverged:
            parts.append(f"{diverged} diverged")
        return " ".join(parts)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
