"""Progress of `snapsweep train` on stderr: a compiling phase, then steps, rate, elapsed and ETA.

Compilation takes tens of seconds before the first update, so it is announced as its own phase and
its duration printed when it ends; rate, elapsed time and ETA count from then on (training only).
On a terminal the display is a tqdm bar when tqdm is installed (it comes with `datasets`; GPU
machines may lack it), else a line redrawn in place. Elsewhere (logs, CI) a plain line is printed at
most every `interval_s` seconds, so redirected output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO


def duration(seconds: float) -> str:
    """`1:02:03` / `2:03`: hours only when there are some."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def live_text(records: list) -> str:
    """The members' live metrics: curriculum levels, then bpc (or else the training loss), the
    pack's tokens/s and how many members diverged."""
    parts = []
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


def _tqdm():
    try:
        from tqdm import tqdm  # lazy and optional: the trainer runs without it
    except ImportError:
        return None
    return tqdm


class ProgressLine:
    def __init__(self, total: int, stream: Optional[TextIO] = None, interval_s: float = 10.0, width: int = 24,
                 *, use_tqdm: Optional[bool] = None, clock: Callable[[], float] = time.monotonic):
        """`use_tqdm`: None picks tqdm on a terminal when it is installed. `clock`: seconds, for
        rates and durations (monotonic time)."""
        self.total = max(1, total)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self.width = width
        self.clock = clock
        tqdm = _tqdm() if (use_tqdm is None and self.tty) or use_tqdm else None
        self._tqdm_class = tqdm
        self._bar = None
        self._last_print: Optional[float] = None
        self._drawn = False
        self._compile_start: Optional[float] = None
        self._start: Optional[tuple[float, int]] = None  # (time, step) when training started

    # -- phases ----------------------------------------------------------------------------------

    def compiling(self) -> None:
        self._compile_start = self.clock()
        self._write_line("compiling the training program (tens of seconds; once per run)...")

    def start(self, step: int) -> None:
        """Compilation is done; training starts at `step`."""
        now = self.clock()
        if self._compile_start is not None:
            self._write_line(f"compiled in {now - self._compile_start:.1f} s; training from step {step}")
        self._start = (now, step)
        if self._tqdm_class is not None:
            self._bar = self._tqdm_class(total=self.total, initial=step, unit="step", file=self.stream,
                                         dynamic_ncols=True, leave=True)

    # -- updates ---------------------------------------------------------------------------------

    def update(self, records: list) -> None:
        if not records:
            return
        step = records[0]["step"]
        if self._start is None:
            self.start(step)  # a caller that skipped the phases: count from the first update
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix_str(live_text(records), refresh=True)
            return
        now = self.clock()
        due = self._last_print is None or now - self._last_print >= self.interval_s
        if not self.tty and not due and step < self.total:
            return
        self._last_print = now
        line = self.render(step, records, now)
        if self.tty:
            self.stream.write("\r" + line.ljust(100)[:160])
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def render(self, step: int, records: list, now: Optional[float] = None) -> str:
        done = min(1.0, step / self.total)
        filled = int(round(done * self.width))
        bar = "=" * filled + ("." * (self.width - filled))
        parts = [f"step {step}/{self.total} [{bar}]"]
        if self._start is not None:
            t0, step0 = self._start
            elapsed = (self.clock() if now is None else now) - t0
            parts.append(f"elapsed {duration(elapsed)}")
            if step > step0 and elapsed > 0:
                rate = (step - step0) / elapsed
                parts.append(f"{rate:,.0f} steps/s" if rate >= 100 else f"{rate:.3g} steps/s")
                parts.append(f"ETA {duration(max(0, self.total - step) / rate)}")
        text = live_text(records)
        if text:
            parts.append(text)
        return " ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _write_line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
