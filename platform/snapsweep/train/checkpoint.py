"""Checkpoint files: one TrainState plus caller metadata, written atomically, verified on load.

Layout (all integers little-endian):

    b"SNAPSWEEP-CKPT\\n"  magic
    u64                  header length
    header               UTF-8 JSON: format, fingerprint, settings (for people reading the file),
                         meta, leaves [{path, dtype, shape, key_impl}], payload_bytes, payload_sha256
    payload              the leaves' raw bytes, C order, in header order

Raw bytes (not pickle, not npz) so a file is exactly the state, loads without running code, and a
truncated or corrupted file is caught by the size and the SHA-256 before anything is used.
The fingerprint (a hash of the settings that shape the state) refuses a checkpoint saved with
different settings or members instead of silently mixing them.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile

import jax
import numpy as np

from snapsweep.errors import CheckpointError, StorageError

MAGIC = b"SNAPSWEEP-CKPT\n"
FORMAT = 1
# The other way out of a checkpoint that cannot be written (a full disk, a read-only directory).
WRITE_ELSEWHERE = "write checkpoints to another directory; the last one written is kept"


def fingerprint(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _leaf_records(state):
    """[(path string, host array, key_impl or None)] in tree order."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        impl = None
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            impl = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        out.append((jax.tree_util.keystr(path), np.ascontiguousarray(np.asarray(leaf)), impl))
    return out


def save(path: str, state, meta: dict, fp: str, settings: dict | None = None) -> None:
    """Write atomically: a temporary file in the same directory, fsync, then os.replace."""
    try:
        meta_json = json.loads(json.dumps(meta))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"meta is not JSON-serialisable: {err}", where=path,
                              fix="store only str, int, float, bool, list and dict values in meta") from err
    records = _leaf_records(state)
    digest = hashlib.sha256()
    for _, arr, _ in records:
        digest.update(memoryview(arr).cast("B"))
    header = {
        "format": FORMAT,
        "fingerprint": fp,
        "settings": json.loads(json.dumps(settings, default=str)) if settings is not None else None,
        "meta": meta_json,
        "leaves": [{"path": p, "dtype": str(a.dtype), "shape": list(a.shape), "key_impl": k} for p, a, k in records],
        "payload_bytes": sum(a.nbytes for _, a, _ in records),
        "payload_sha256": digest.hexdigest(),
    }
    head = json.dumps(header).encode()
    # A full disk or a read-only directory: one line naming the file; the temp file is gone and the
    # checkpoint that was at `path` (if any) is untouched, since nothing replaced it.
    with StorageError.on_write(path, "write a checkpoint", WRITE_ELSEWHERE):
        _write(path, head, records)


def _write(path: str, head: bytes, records) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for _, arr, _ in records:
                f.write(memoryview(arr).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# Advice for a file that cannot be used: where it came from decides what applies (`snapsweep train
# --resume` or a sweep, which falls back to its previous checkpoint on its own).
FIX_UNUSABLE = ("delete the file: `snapsweep train` then starts without --resume, "
                "a sweep continues from its previous checkpoint")


def verify(path: str, fix: str = FIX_UNUSABLE) -> dict:
    """Check a checkpoint file's magic, header, size and SHA-256 without building any state
    -> its header. Raises CheckpointError saying what is wrong."""
    return _read(path, fix)[0]


def _read(path: str, fix: str):
    """-> (header, payload memoryview) of a file whose size and checksum are right."""
    if not os.path.isfile(path):
        raise CheckpointError("no checkpoint file", where=path, fix="check the path, or start without --resume")
    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 8:
        raise CheckpointError("not a snapsweep checkpoint (bad magic)", where=path, fix=fix)
    (head_len,) = struct.unpack_from("<Q", blob, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        header = json.loads(blob[start:start + head_len].decode())
        payload = memoryview(blob)[start + head_len:]
        expected_bytes, digest = int(header["payload_bytes"]), str(header["payload_sha256"])
        if not isinstance(header["leaves"], list):
            raise ValueError("leaves is not a list")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError("the checkpoint header is truncated or corrupt", where=path, fix=fix) from err
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint format {header.get('format')} is not {FORMAT}", where=path, fix=fix)
    if len(payload) != expected_bytes:
        raise CheckpointError(f"the checkpoint is truncated ({len(payload)} of {expected_bytes} payload bytes)",
                              where=path, fix=fix)
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError("the checkpoint is corrupt (checksum mismatch)", where=path, fix=fix)
    return header, payload


def load(path: str, template, fp: str, fix: str = FIX_UNUSABLE):
    """-> (state shaped like `template`, meta). `template` may hold ShapeDtypeStructs (eval_shape)."""
    header, payload = _read(path, fix)
    leaves = header["leaves"]
    if header["fingerprint"] != fp:
        raise CheckpointError("the checkpoint was saved with different settings or members", where=path,
                              fix="resume with the same task/model/method/optimizer settings, seeds and learning "
                                  "rates, or " + fix)

    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    if len(flat) != len(leaves):
        raise CheckpointError(f"the checkpoint has {len(leaves)} arrays, this trainer expects {len(flat)}",
                              where=path, fix=fix)
    out, offset = [], 0
    for (tpath, tleaf), rec in zip(flat, leaves):
        want_path = jax.tree_util.keystr(tpath)
        is_key = jax.dtypes.issubdtype(tleaf.dtype, jax.dtypes.prng_key)
        dtype = np.dtype(rec["dtype"])
        shape = tuple(rec["shape"])
        want_shape = tuple(tleaf.shape) if not is_key else None
        if rec["path"] != want_path or (not is_key and (shape != want_shape or dtype != np.dtype(tleaf.dtype))):
            raise CheckpointError(f"array {rec['path']} {rec['dtype']}{list(shape)} does not match "
                                  f"{want_path} {tleaf.dtype}{list(tleaf.shape)}", where=path, fix=fix)
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        arr = np.frombuffer(payload[offset:offset + n], dtype=dtype).reshape(shape).copy()
        offset += n
        leaf = jax.numpy.asarray(arr)
        if is_key:
            leaf = jax.random.wrap_key_data(leaf, impl=rec["key_impl"])
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out), header["meta"]
