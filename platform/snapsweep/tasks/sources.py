"""Where the character-LM bytes come from: the Hugging Face hub, or local files.

The result is two uint8 arrays (train, valid). Every failure a user can cause is one `DataError`
line that says what to do; the hub is never retried in a loop.

Local directories: `wiki.train.raw` + `wiki.valid.raw` (the official layout) are used as they are.
Otherwise every text file in the directory (suffix .raw, .txt, .text or .tokens; sorted by name, so
`wiki.valid.raw` on its own counts too) is concatenated and the trailing `holdout_fraction` becomes
the validation part. A path to a single file (any name) is treated the same way.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from snapsweep import settings
from snapsweep.errors import DataError

if TYPE_CHECKING:  # tasks sit below train in the layering: no runtime import of train
    from snapsweep.tasks.config import TextTaskConfig

TEXT_SUFFIXES = (".raw", ".txt", ".text", ".tokens")
TRAIN_FILE = "wiki.train.raw"
VALID_FILE = "wiki.valid.raw"
_LOCAL_FIX = ("download wikitext-103-raw (wiki.train.raw, wiki.valid.raw) or any text files into a "
              "directory and pass it with --data-dir DIR (task.source: local, task.data_dir: DIR)")


class TextData(NamedTuple):
    train: np.ndarray  # uint8
    valid: np.ndarray  # uint8
    origin: str  # human-readable: where the bytes came from


def load_text(config: "TextTaskConfig") -> TextData:
    if config.source == "local":
        return load_local(config.data_dir, config.holdout_fraction)
    return load_hub(config)


def _read(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8)


def load_local(data_dir: str | None, holdout_fraction: float) -> TextData:
    where = "task.data_dir"
    if not data_dir:
        raise DataError("source 'local' needs a data directory", where=where, fix=_LOCAL_FIX)
    path = os.path.abspath(os.path.expanduser(data_dir))
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist", where=where, fix=_LOCAL_FIX)
    files, split = local_files(path)
    if split:
        train, valid = files
        return TextData(_read(train), _read(valid), origin=f"{train} + {valid}")
    if not files:
        raise DataError(f"{path} holds no text files (*{', *'.join(TEXT_SUFFIXES)})", where=where, fix=_LOCAL_FIX)
    text = np.concatenate([_read(f) for f in files])
    return carve(text, holdout_fraction, origin=f"{', '.join(files)} (last {holdout_fraction:g} held out)")


def local_files(path: str) -> tuple[list[str], bool]:
    """The files a local source reads, and whether they are a (train, valid) pair: one file as
    given (a path that is no directory; spec validation refuses devices); a directory's wiki.train.raw + wiki.valid.raw; else its text files (README and LICENSE
    left out), whose tail is held out. Pure file-system look-ups: spec validation uses it too."""
    if not os.path.isdir(path):
        return [path], False
    train, valid = os.path.join(path, TRAIN_FILE), os.path.join(path, VALID_FILE)
    if os.path.isfile(train) and os.path.isfile(valid):
        return [train, valid], True
    return sorted(
        os.path.join(path, name) for name in os.listdir(path)
        if name.lower().endswith(TEXT_SUFFIXES) and not name.lower().startswith(("readme", "license"))
        and os.path.isfile(os.path.join(path, name))
    ), False


def carve(text: np.ndarray, holdout_fraction: float, origin: str) -> TextData:
    """Split one byte array into a leading train part and a trailing held-out part."""
    if not 0.0 < holdout_fraction < 1.0:
        raise DataError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}", where="task.holdout_fraction",
                        fix="use e.g. 0.1 to hold out the last 10% of the text for validation")
    cut = int(round(len(text) * (1.0 - holdout_fraction)))
    return TextData(text[:cut], text[cut:], origin=origin)


def hub_reachable(timeout_s: float = 2.0, endpoint: str | None = None) -> bool:
    """One TCP connect to the hub endpoint: cheap, and it fails fast instead of retrying for 20 s."""
    url = urllib.parse.urlparse(endpoint or settings.hub_endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def load_hub(config: "TextTaskConfig") -> TextData:
    return hub_text(config.hub_path, config.hub_name, config.holdout_fraction)


def hub_text(hub_path: str, hub_name: str, holdout_fraction: float) -> TextData:
    """The train and validation bytes of a hub dataset (through `datasets`, so its cache serves
    later loads with HF_HUB_OFFLINE=1)."""
    where = f"task.source hub ({hub_path}/{hub_name})"
    offline = settings.hub_offline()
    if not offline and not hub_reachable():
        raise DataError("the Hugging Face hub is unreachable", where=where,
                        fix=_LOCAL_FIX + "; or set HF_HUB_OFFLINE=1 to use the local datasets cache")
    try:
        import datasets  # lazy: the trainer must import without it
    except ImportError as err:
        raise DataError("the 'datasets' package is not installed", where=where,
                        fix="pip install datasets, or " + _LOCAL_FIX) from err
    try:
        ds = datasets.load_dataset(hub_path, hub_name)
    except Exception as err:  # datasets raises many types (ConnectionError, FileNotFoundError, ...)
        reason = "not in the local datasets cache (HF_HUB_OFFLINE=1)" if offline else f"loading failed: {err}"
        raise DataError(reason, where=where, fix=_LOCAL_FIX) from err
    if "train" not in ds:
        raise DataError(f"the dataset has no 'train' split (splits: {sorted(ds)})", where=where, fix=_LOCAL_FIX)
    train = _rows_to_bytes(ds["train"]["text"])
    if "validation" in ds:
        return TextData(train, _rows_to_bytes(ds["validation"]["text"]), origin=f"hub {hub_path}/{hub_name}")
    return carve(train, holdout_fraction, origin=f"hub {hub_path}/{hub_name} (train, held out)")


def save_local(data: TextData, directory: str | os.PathLike) -> tuple[str, str]:
    """Write `data` in the official layout (wiki.train.raw + wiki.valid.raw), which `load_local`
    reads back unchanged; each file is written whole and then renamed, so a half-written
    download never looks like data."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, array in ((TRAIN_FILE, data.train), (VALID_FILE, data.valid)):
        path = os.path.join(directory, name)
        with open(path + ".part", "wb") as f:
            f.write(array.tobytes())
        os.replace(path + ".part", path)
        paths.append(path)
    return paths[0], paths[1]


def _rows_to_bytes(rows) -> np.ndarray:
    # WikiText rows are lines that keep their "\n"; blank lines are stored as "".
    text = "".join(r if r.endswith("\n") else r + "\n" for r in rows)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
