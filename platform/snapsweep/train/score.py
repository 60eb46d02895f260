"""Score a trained language-model member on any text file: bits per character.

A checkpoint file carries the settings that shaped its state (its header's `settings`: task, model,
method, optimizer, members), so the model is rebuilt from the file alone; nothing of the run that
trained it (data directory, tracking server) has to be reachable. The text is scored the way
validation scores it: `tasks.text.validation_windows` over every byte of the file (each character
after the first predicted once, in `valid_batch` streams of `crop`-long windows, the state carried
from window to window), through the pack's own evaluation program (`programs.evaluate_pack`). So
a member scored here on the bytes of its validation slice gets exactly the trainer's valid_bpc.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from snapsweep import rtrl
from snapsweep.errors import CheckpointError, DataError
from snapsweep.rtrl.registry import MethodId
from snapsweep.tasks.info import task_info
from snapsweep.tasks.sources import TextData
from snapsweep.tasks.text import TextTask
from snapsweep.train import checkpoint
from snapsweep.train.config import Member, OptimConfig, ScheduleConfig, TextTaskConfig, TrainConfig
from snapsweep.train.programs import Program, evaluate_pack, init_pack

# The trace budget only gates which methods may start training (it is not in the checkpoint's
# settings); a finished member is scored whatever budget it was trained under.
NO_BUDGET = 2**62
# Scoring runs no updates: the schedule is not part of the state, any valid one will do.
NO_SCHEDULE = ScheduleConfig(steps=0, log_every=1, eval_every=0, probe_every=0, checkpoint_every=0)
FIX_TARGET = "pass a member's final state (`final_state/state.ckpt` of its run) or a pack's state.ckpt"


@dataclass(frozen=True)
class Score:
    bpc: float  # bits per character over the scored characters
    characters: int  # characters scored: every byte of the file after the first
    member: int  # which member of the checkpoint was scored
    method: str  # the registry's canonical name of the member's method
    seed: int
    lr: float
    text: str
    checkpoint: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def checkpoint_config(path: str) -> tuple[TrainConfig, tuple[Member, ...], dict]:
    """-> (the settings a checkpoint was trained with, its members, its header).

    Raises CheckpointError for a file that is no checkpoint or no language-model checkpoint."""
    header = checkpoint.verify(path, fix=FIX_TARGET)
    stored = header.get("settings") or {}
    inner, members = stored.get("settings"), stored.get("members")
    if not isinstance(inner, dict) or not isinstance(members, list) or not members:
        raise CheckpointError("the checkpoint does not record its settings", where=path, fix=FIX_TARGET)
    task = inner.get("task") or {}
    try:
        text_task = TextTaskConfig(**task)
    except TypeError:  # another task's fields
        text_task = None
    if text_task is None or not task_info(text_task).evaluates:
        raise CheckpointError(f"not a language-model checkpoint (task {task.get('kind')!r}): only a character "
                              "LM has bits per character", where=path, fix="pass the checkpoint of a wikitext member")
    try:
        config = TrainConfig(task=text_task, model=rtrl.ModelConfig(**inner["model"]),
                             method=MethodId(**inner["method"]), optim=OptimConfig(**inner["optim"]),
                             schedule=NO_SCHEDULE, trace_budget_bytes=NO_BUDGET)
        team = tuple(Member(seed=int(m["seed"]), lr=float(m["lr"])) for m in members)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"the checkpoint's settings are not this version's ({err})", where=path,
                              fix="score it with the snapsweep version that trained it") from err
    return config, team, header


def read_text(path: str) -> np.ndarray:
    """The file's bytes (uint8); DataError for a missing, unreadable or too short file."""
    try:
        with open(path, "rb") as handle:
            text = np.frombuffer(handle.read(), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError("no such text file", where=path, fix="pass an existing file with --text") from None
    except OSError as err:
        raise DataError(f"cannot read the text file ({err.strerror})", where=path, fix="check its permissions") from None
    if len(text) < 2:
        raise DataError(f"the text has {len(text)} bytes; scoring needs at least 2 (one is context)", where=path,
                        fix="pass a longer text")
    return text


def scoring_task(config: TextTaskConfig, text: np.ndarray, origin: str) -> TextTask:
    """The member's task settings over `text`: its validation windows tile every byte of it.

    The training bytes are a placeholder of one crop: scoring draws no training crops, and the
    pack state's shapes depend on the crop and batch only."""
    placeholder = np.zeros(config.crop + 1, np.uint8)
    return TextTask(dataclasses.replace(config, valid_chars=None), TextData(placeholder, text, origin))


def score(checkpoint_path: str, text_path: str, member: Optional[int] = None) -> Score:
    """Bits per character of one member of the checkpoint at `checkpoint_path` on `text_path`.

    `member`: which member of a pack checkpoint (None: the file must hold one member)."""
    config, members, header = checkpoint_config(checkpoint_path)
    if member is None:
        if len(members) != 1:
            raise CheckpointError(f"the checkpoint holds a pack of {len(members)} members", where=checkpoint_path,
                                  fix="score a member by its run id, or its final_state/state.ckpt")
        member = 0
    if not 0 <= member < len(members):
        raise CheckpointError(f"no member {member} in a pack of {len(members)}", where=checkpoint_path,
                              fix=f"use a member in 0..{len(members) - 1}")
    text = read_text(text_path)
    program = Program.of(config, scoring_task(config.task, text, os.path.abspath(text_path)))
    keys = jnp.stack([jax.random.PRNGKey(m.seed) for m in members])
    lrs = jnp.asarray([m.lr for m in members], jnp.float32)
    template = jax.eval_shape(lambda: init_pack(keys, lrs, program=program))
    # The fingerprint of the settings read back: a header whose settings do not rebuild the
    # state it holds is refused by checkpoint.load.
    fingerprint = checkpoint.fingerprint(header["settings"])
    state, _ = checkpoint.load(checkpoint_path, template, fingerprint, fix=FIX_TARGET)
    windows = jax.tree.map(jnp.asarray, program.task.valid)
    bpc = evaluate_pack(state.params, state.structure, windows, program=program)
    chosen = members[member]
    return Score(bpc=float(np.asarray(bpc)[member]), characters=int(len(text) - 1), member=member,
                 method=config.method.name, seed=chosen.seed, lr=chosen.lr, text=os.path.abspath(text_path),
                 checkpoint=os.path.abspath(checkpoint_path))
