"""Whether a spec's training text can be read here: local files big enough for one crop, or a hub
dataset that is cached or reachable. Refused at validate/plan/run time, not in a trial.

Local checks only stat files (no reading), so they run in every spec validation. The hub check
asks the environment (offline mode, caches) and at most one short TCP connect, so it runs where a
sweep is about to be planned or run (`spec.load(..., check_data=True)`), not on every load.
"""

from __future__ import annotations

import math
import os
import stat
from typing import Any, Optional

from snapsweep import settings

HUB_CONNECT_TIMEOUT_S = 2.0
LOCAL_FIX = "use `source: local` with `data_dir: DIR` (text files), or `--data-dir DIR` with `snapsweep train`"


def _size(path: str) -> Optional[int]:
    """Bytes of a regular file; None for a device, pipe or socket (they never end or never start)."""
    info = os.stat(path)
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def local_problem(task: Any) -> Optional[tuple[str, str]]:
    """(message, fix) when `task.data_dir` (an existing path) cannot give one training crop and a
    validation text; the file selection is the loader's (tasks.sources), sizes come from stat."""
    from snapsweep.tasks import sources

    path = task.data_dir
    need = math.ceil((task.crop + 1) / (1.0 - task.holdout_fraction))  # crop + 1 bytes stay for training
    fix = "point data_dir at a directory of text files (wiki.train.raw + wiki.valid.raw, or *.txt) or one text file"
    files, split = sources.local_files(path)
    if split:
        files, need = files[:1], task.crop + 1  # the training file alone must hold one crop
    if not files:
        return f"{path} holds no text files (*{', *'.join(sources.TEXT_SUFFIXES)})", fix
    sizes = [_size(f) for f in files]
    if None in sizes:
        return f"{files[sizes.index(None)]} is a device or special file, not text", fix
    total = sum(sizes)
    if total < need:
        return (f"{path} holds {total:,} bytes of text, fewer than the {need:,} one crop of {task.crop} needs "
                f"(crop + 1, with holdout_fraction {task.holdout_fraction:g} held out)",
                "use more text, or a smaller task.crop")
    return None


def hub_problem(task: Any) -> Optional[tuple[str, str]]:
    """(message, fix) when the hub dataset can neither come from a cache nor from the hub."""
    if task.source != "hub" or settings.hub_cached(task.hub_path):
        return None
    if settings.hub_offline():
        return (f"the Hugging Face hub is switched off here (HF_HUB_OFFLINE) and {task.hub_path} is not in the "
                "local datasets cache", LOCAL_FIX)
    endpoint = settings.hub_endpoint()
    from snapsweep.tasks.sources import hub_reachable

    if not hub_reachable(HUB_CONNECT_TIMEOUT_S, endpoint):
        return f"the Hugging Face hub at {endpoint} is unreachable and {task.hub_path} is not cached", LOCAL_FIX
    return None
