"""`drive`: train one pack to the end of its schedule, behind three ports.

The loop is the same wherever a pack runs; what differs is where checkpoints go, where metric
records go and what a "run" is. Those are ports (`typing.Protocol`s), and each place supplies its
adapters:

- `snapsweep train` (train/run.py): one local checkpoint file, a progress display, no tracking;
- a Ray Tune trial (sweep/trainable.py): Tune checkpoints plus the sweep's own per-pack store,
  MLflow member runs through `snapsweep.track.Tracker`.

One object may implement several ports (a Tune trial's metrics need the run ids its RunPort
opened). The driver imports nothing but the standard library (the trainer comes as an argument):
the ports bring Ray and MLflow, not this loop.

Order at each checkpoint boundary: the metric points are flushed first, then the checkpoint is
saved. A crash in between repeats those steps on resume; a MetricsPort that must not repeat points
(MLflow) skips the ones it already holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Protocol

if TYPE_CHECKING:  # the driver itself needs no JAX: sweep code imports its names in the Ray driver
    from snapsweep.train.loop import Trainer

# The one name of a pack checkpoint file, in `snapsweep train`'s directory and a sweep's alike.
CHECKPOINT_FILE = "state.ckpt"

# write_state(path): writes the pack's state and the checkpoint meta to one checkpoint file at path.
WriteState = Callable[[str], None]
# write_member(member, path, meta): writes one member's final state, loadable by a one-member Trainer.
WriteMember = Callable[[int, str, dict], None]


class CheckpointPort(Protocol):
    def latest(self) -> Optional[str]:
        """The path of the newest good checkpoint file to continue from, or None to start fresh.
        (A port may raise CheckpointError, e.g. when resuming was asked for and there is none.)"""

    def save(self, step: int, meta: dict, write_state: WriteState) -> None:
        """Keep the checkpoint at `step` (update count); `write_state(path)` writes the file,
        with `meta` in it."""


class MetricsPort(Protocol):
    def emit(self, records: list) -> None:
        """One record per member at a log/eval/probe point: {"member", "step", "metrics": {...}}."""

    def flush(self) -> None:
        """Send what is queued; called before each checkpoint is saved."""


class RunPort(Protocol):
    def start(self, resumed: bool) -> Optional[list[str]]:
        """Open (or, when `resumed`, reopen) one run per member -> their ids, kept in the checkpoint
        meta as "run_ids"; None where runs are not tracked (the meta's run ids stay as they are).
        Called before the state is built and the program compiled (a progress display says so)."""

    def running(self, step: int) -> None:
        """The program is compiled; training starts (or continues) at update `step`."""

    def finish(self, step: int, summary: list[dict], write_member: WriteMember) -> None:
        """The schedule is done at update `step`: `summary` is `Trainer.summary` (one row per member);
        `write_member` writes a member's final state (e.g. as a run artifact)."""

    def fail(self, error: BaseException) -> None:
        """Training stopped with `error` (re-raised after this): a checkpoint may continue it."""


def drive(trainer: "Trainer", *, checkpoints: CheckpointPort, metrics: MetricsPort, runs: RunPort,
          meta: Optional[dict] = None) -> list[dict]:
    """Train `trainer`'s pack from its latest checkpoint (or from the start) to the end of the
    schedule, checkpointing every `schedule.checkpoint_every` updates and at the end -> summary.

    `meta`: caller metadata stored with every checkpoint (it overrides what a restored checkpoint
    held); the driver adds "run_ids" (from `runs.start`) and "step".
    """
    try:
        path = checkpoints.latest()
        run_ids = runs.start(resumed=path is not None)
        if path is not None:
            state, saved = trainer.load(path)
        else:
            state, saved = trainer.init(), {}
        meta = {**saved, **(meta or {})}
        if run_ids is not None:
            meta["run_ids"] = list(run_ids)
        trainer.compile(state)
        clock = int(state.clock[0])
        runs.running(clock)

        schedule = trainer.config.schedule
        total, every = schedule.steps, schedule.checkpoint_every
        saved_any = False
        while clock < total:
            stop = min(total, (clock // every + 1) * every) if every > 0 else total
            state = trainer.advance(state, stop - clock, on_metrics=metrics.emit)
            clock = stop
            metrics.flush()
            _save(checkpoints, trainer, state, meta, clock)
            saved_any = True
        if not saved_any and path is None:
            _save(checkpoints, trainer, state, meta, clock)  # nothing to train (0 steps): still a checkpoint
        summary = trainer.summary(state)
        runs.finish(clock, summary,
                    lambda member, where, member_meta: trainer.save_member(where, state, member, member_meta))
        return summary
    except BaseException as error:
        runs.fail(error)
        raise


def _save(checkpoints: CheckpointPort, trainer: "Trainer", state, meta: dict, step: int) -> None:
    at = {**meta, "step": step}
    checkpoints.save(step, at, lambda where: trainer.save(where, state, at))


__all__ = ["CHECKPOINT_FILE", "CheckpointPort", "MetricsPort", "RunPort", "WriteMember", "WriteState", "drive"]
