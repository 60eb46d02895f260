"""Where a sweep keeps its files, on a local path, a shared mount or an object store.

    <root>/<sweep name>/
        packs/<pack id>/pack.json            which trials the pack holds, its MLflow run ids
        packs/<pack id>/step-000000200/      the newest pack checkpoints (storage.keep_checkpoints)
        tune-<time>/                         Ray Tune's own experiment directory, one per run()
        report/                              the report of the last run()
    <root>/.jax-cache/                       JAX's compilation cache, shared by the sweeps under root

The pack directories are ours, not Tune's: a later `run()` is a new Tuner with new trial
directories, so Tune's checkpoints cannot be found again by a re-run; ours are keyed by the pack id,
which is a hash of the pack's trial ids. Paths go through pyarrow's filesystem layer (the one Ray
Tune uses for `storage_path`), so "s3://", "gs://" and "file://" roots work like local ones.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Optional

from snapsweep import settings
from snapsweep.errors import CheckpointError, ConfigError, StorageError

_STEP_DIR = re.compile(r"^step-(\d{9})$")
PROBE_BYTES = 4096  # one filesystem block: enough to meet a full disk, not enough to fill one
ELSEWHERE = "pass --storage of a writable directory with room; checkpoints already written are kept"


def resolve_root(storage: Optional[str], spec_storage: Optional[str] = None, cwd: Optional[str] = None) -> str:
    """The storage root: the argument, else the spec's storage.path, else SNAPSWEEP_STORAGE, else
    ./snapsweep-runs (snapsweep.settings). Local paths become absolute because Ray trials run in
    their own working directories.
    """
    root = settings.storage_root(storage, spec_storage)
    if is_uri(root):
        return root.rstrip("/")
    root = os.path.expanduser(root)
    return os.path.abspath(os.path.join(cwd or os.getcwd(), root))


def is_uri(path: str) -> bool:
    return "://" in path


def is_local(root: str) -> bool:
    """True for plain paths and file:// URIs: storage that only this host can see, unless shared."""
    return not is_uri(root) or root.startswith("file://")


def join(*parts: str) -> str:
    # "/" works for local paths (POSIX) and for every URI scheme pyarrow knows.
    return "/".join(part.rstrip("/") for part in parts if part)


def check_writable(root: str) -> None:
    """Write, fsync and remove a small probe file in the local storage `root` (or, where it does
    not exist yet, in the nearest directory above it, where it would be created), so that a full
    disk or read-only storage is one StorageError line naming the path before anything starts,
    not a traceback at the first checkpoint. Nothing is left behind. Object stores are not probed
    (a probe costs a round trip and their permissions are per key): their first write says it."""
    if not is_local(root):
        return
    directory = os.path.abspath(root.removeprefix("file://"))
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    path = os.path.join(directory, f".snapsweep-probe-{uuid.uuid4().hex}")
    with _writing(directory, "write to the sweep storage"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)  # where space is allocated late (NFS, delayed allocation), ENOSPC comes here
        finally:
            os.close(fd)
            os.unlink(path)


def _writing(where: str, doing: str, cleanup=None):
    # Full, read-only or forbidden storage: one line naming `where`; other OSErrors keep their traceback.
    return StorageError.on_write(where, doing, ELSEWHERE, cleanup)


@dataclass(frozen=True)
class SweepPaths:
    root: str
    sweep: str

    def __post_init__(self):
        # The sweep name is one directory under the root (the spec's slug pattern says so); checked
        # again here because every path below is built from it.
        if self.sweep in ("", ".", "..") or any(c in self.sweep for c in ("/", "\\", "\0")):
            raise ConfigError(f"sweep name {self.sweep!r} is not a plain directory name", where="name",
                              fix="use a slug: lowercase letters, digits, - and _")

    @property
    def sweep_dir(self) -> str:
        return join(self.root, self.sweep)

    @property
    def packs_dir(self) -> str:
        return join(self.sweep_dir, "packs")

    def pack_dir(self, pack_id: str) -> str:
        return join(self.packs_dir, pack_id)

    @property
    def report_dir(self) -> str:
        return join(self.sweep_dir, "report")


def _filesystem(path: str):
    import pyarrow.fs as pafs

    if is_uri(path):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), path


class PackStore:
    """The checkpoints of one pack under <root>/<sweep>/packs/<pack id>/.

    A checkpoint is published by copying it next to its final name and then renaming it, so a
    reader sees either the whole directory or none of it; the index (pack.json) is written the same
    way.
    """

    def __init__(self, pack_dir: str, keep: int = 2):
        self.uri = pack_dir
        self.keep = keep
        self._fs, self._path = _filesystem(pack_dir)

    # -- index -------------------------------------------------------------------------------

    def read_index(self) -> Optional[dict]:
        import pyarrow.fs as pafs

        path = f"{self._path}/pack.json"
        if self._fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self._fs.open_input_stream(path) as handle:
            text = handle.read()
        try:
            index = json.loads(text.decode())
        except (ValueError, UnicodeDecodeError):
            index = None
        if not isinstance(index, dict):
            # Written atomically, so damage came from outside (a disk error, an editor): say which file.
            raise CheckpointError("the pack index is damaged (not a JSON object)", where=join(self.uri, "pack.json"),
                                  fix="delete that file; a re-run rewrites it and resumes the pack from its checkpoints")
        return index

    def write_index(self, index: dict) -> None:
        tmp = f"{self._path}/.pack.json.{uuid.uuid4().hex}"
        discard = lambda: self._discard(tmp, directory=False)  # noqa: E731
        with _writing(join(self.uri, "pack.json"), "write the pack index", discard):
            self._fs.create_dir(self._path, recursive=True)
            with self._fs.open_output_stream(tmp) as handle:
                handle.write(json.dumps(index, indent=2, sort_keys=True).encode())
            self._fs.move(tmp, f"{self._path}/pack.json")

    def _discard(self, path: str, *, directory: bool) -> None:
        """Remove what a failed write left behind, if anything (best effort: the disk may be gone)."""
        try:
            (self._fs.delete_dir if directory else self._fs.delete_file)(path)
        except OSError:
            pass

    # -- checkpoints -------------------------------------------------------------------------

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self._path, allow_not_found=True)
        found = []
        for info in self._fs.get_file_info(selector):
            match = _STEP_DIR.match(info.base_name)
            if match and info.type == pafs.FileType.Directory:
                found.append(int(match.group(1)))
        return sorted(found)

    def latest_step(self) -> Optional[int]:
        steps = self.steps()
        return steps[-1] if steps else None

    def checkpoint_uri(self, step: int) -> str:
        return join(self.uri, f"step-{step:09d}")

    def local_path(self, step: int) -> Optional[str]:
        """The checkpoint's directory when it is on this host's filesystem (no copy needed)."""
        if is_uri(self.uri):
            return None
        return f"{self._path}/step-{step:09d}"

    def fetch(self, step: int, local_dir: str) -> str:
        """Copy the checkpoint at `step` into `local_dir` and return it."""
        import pyarrow.fs as pafs

        os.makedirs(local_dir, exist_ok=True)
        pafs.copy_files(f"{self._path}/step-{step:09d}", local_dir, source_filesystem=self._fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return local_dir

    def commit(self, local_dir: str, step: int) -> str:
        """Publish `local_dir` as the checkpoint at `step`, then drop all but the newest `keep`.

        A failed copy (a full disk, storage gone read-only) removes its partial directory and
        raises StorageError; the checkpoints already published stay as they were."""
        import pyarrow.fs as pafs

        final = f"{self._path}/step-{step:09d}"
        partial = f"{self._path}/.partial-{step:09d}-{uuid.uuid4().hex[:8]}"
        discard = lambda: self._discard(partial, directory=True)  # noqa: E731
        with _writing(self.checkpoint_uri(step), "write a checkpoint", discard):
            self._fs.create_dir(partial, recursive=True)
            pafs.copy_files(os.path.abspath(local_dir), partial, source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=self._fs)
            if self._fs.get_file_info(final).type != pafs.FileType.NotFound:
                # Only after a resume that re-reached a boundary: the content is the same state.
                self._fs.delete_dir(final)
            self._fs.move(partial, final)
        for old in self.steps()[:-self.keep]:
            self._fs.delete_dir(f"{self._path}/step-{old:09d}")
        return self.checkpoint_uri(step)


def stored_packs(paths: SweepPaths) -> list[tuple[PackStore, dict]]:
    """Every pack of this sweep that has an index, with that index (pack id, trial ids, ...)."""
    import pyarrow.fs as pafs

    fs, base = _filesystem(paths.packs_dir)
    found = []
    for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
        if info.type != pafs.FileType.Directory:
            continue
        store = PackStore(join(paths.packs_dir, info.base_name))
        index = store.read_index()
        if index is not None:
            found.append((store, index))
    return found


def publish_dir(local_dir: str, target: str) -> None:
    """Copy a local directory's contents to `target` (a path or URI), replacing what is there."""
    import pyarrow.fs as pafs

    fs, path = _filesystem(target)
    with _writing(target, "write the report"):
        fs.create_dir(path, recursive=True)
        pafs.copy_files(os.path.abspath(local_dir), path, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=fs)
