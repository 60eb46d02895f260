"""A damaged file in the sweep storage: `status`, `plan` and `run` say which file and how to recover
in one line (exit 2, no traceback), and deleting it as told recovers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import tiny_spec_text

from snapsweep import spec
from snapsweep.sweep import work

pytestmark = pytest.mark.integration


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "snapsweep", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=240)


DAMAGE = {"truncated": b'{"pack_id": "ab', "binary": b"\xff\xfe\x00", "not-an-object": b"[1, 2]"}


def test_a_damaged_pack_index_is_one_line_naming_it(tmp_path):
    path = tmp_path / "damaged.yaml"
    path.write_text(tiny_spec_text("damaged"), encoding="utf-8")
    sweep_spec = spec.load(path)
    storage = tmp_path / "runs"
    pack = work.build(sweep_spec, work.sweep_paths(sweep_spec, str(storage)), set()).packs[0]
    index = storage / "damaged" / "packs" / pack.id / "pack.json"
    index.parent.mkdir(parents=True)

    # Every verb that reads the storage, for one kind of damage; `status` for the others.
    checks = [(verb, "truncated") for verb in ("status", "plan", "run")]
    checks += [("status", kind) for kind in DAMAGE if kind != "truncated"]
    for verb, kind in checks:
        index.write_bytes(DAMAGE[kind])
        done = _cli(verb, path, "--storage", storage, cwd=tmp_path)
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 2, (verb, kind, done.stdout, done.stderr)
        assert lines[-1].startswith(f"error: {index}: the pack index is damaged"), (verb, kind, lines)
        assert "delete that file" in lines[-1]
        assert "Traceback" not in done.stderr, (verb, kind, done.stderr)

    index.unlink()  # the fix the line gives
    done = _cli("status", path, "--storage", storage, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "8 not started" in done.stdout
