"""The command line: user errors are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapsweep(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "snapsweep", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["bench", "--methods", "foo", "--hidden", "8"], "unknown benchmark method 'foo'"),
        (["bench", "--methods", "rtrl", "--hidden", "2048"], "budget"),
        (["bench", "--density", "1.5", "--hidden", "8"], "density must be in (0, 1]"),
        (["bench", "--cell", "transformer"], "invalid choice"),
        (["train", "--task", "wikitext", "--data-dir", "/nonexistent/wikitext", "--steps", "1"],
         "does not exist"),
        (["train", "--task", "copy", "--method", "bptt", "--mode", "online", "--steps", "1"], "bptt"),
        (["train", "--task", "copy", "--method", "snap", "--n", "3", "--cell", "lstm", "--hidden", "2048",
          "--steps", "1"], "budget"),
        (["train", "--task", "copy", "--resume", "--steps", "1"], "--resume needs --checkpoint"),
        (["validate", "tests/spec/bad/does-not-exist.yaml"], "does-not-exist.yaml"),
    ],
)
def test_user_errors_are_one_line(args, fragment):
    result = snapsweep(*args)
    assert result.returncode == 2, result.stderr
    # Progress lines may come first (bench reports each row it tries); the error is one line.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0]
    assert fragment in errors[0]
    assert "Traceback" not in result.stderr


def test_every_bad_spec_in_the_corpus_fails_validate_with_a_line_number():
    bad = os.path.join(ROOT, "tests", "spec", "bad")
    paths = sorted(os.path.join(bad, name) for name in os.listdir(bad) if name.endswith(".yaml"))
    assert len(paths) >= 20
    for path in paths[:5]:  # the full corpus runs in-process in tests/spec; here, the real command
        result = snapsweep("validate", path)
        assert result.returncode == 2, result.stdout
        assert f"{os.path.basename(path)}:" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_paper_sweeps_validate():
    sweeps = sorted(os.path.join("sweeps", name) for name in os.listdir(os.path.join(ROOT, "sweeps")))
    result = snapsweep("validate", *sweeps)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(sweeps)


def test_train_copy_task_writes_stable_json_keys(tmp_path):
    out = tmp_path / "final.json"
    result = snapsweep("train", "--task", "copy", "--cell", "gru", "--hidden", "8", "--method", "snap",
                       "--n", "1", "--mode", "online", "--steps", "40", "--quiet", "--json", str(out))
    assert result.returncode == 0, result.stderr
    import json

    final = json.loads(out.read_text())
    assert {"curriculum_level", "tokens", "status", "steps"} <= set(final)
    assert final["status"] == "finished" and final["steps"] == 40
    assert final["tokens"] == 40 * 16  # online: one token per stream per update, batch 16 by default
