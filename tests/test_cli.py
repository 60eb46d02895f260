"""The command line: user errors are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapsweep(*args: str, cwd: str = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", JAX_PLATFORMS="cpu", **(env or {}))
    return subprocess.run([sys.executable, "-m", "snapsweep", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["bench", "--methods", "foo", "--hidden", "8"], "unknown name in method 'foo'"),
        (["bench", "--methods", "rtrl", "--hidden", "2048"], "budget"),
        (["bench", "--density", "1.5", "--hidden", "8"], "density must be in (0, 1]"),
        (["bench", "--cell", "transformer"], "invalid choice"),
        (["train", "--task", "wikitext", "--data-dir", "/nonexistent/wikitext", "--steps", "1"],
         "does not exist"),
        (["train", "--task", "copy", "--method", "bptt-online", "--steps", "1"], "bptt-online"),
        (["train", "--task", "copy", "--method", "snapp2", "--steps", "1"], "--method"),
        (["train", "--task", "copy", "--method", "snap3-offline", "--cell", "lstm", "--hidden", "2048",
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
    sweeps = sorted(os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "sweeps", "**", "*.yaml"),
                                                                        recursive=True))
    local = [path for path in sweeps if path != HUB_SWEEP]
    result = snapsweep("validate", *local)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(local)


HUB_SWEEP = os.path.join("sweeps", "wikitext103.yaml")


def test_a_hub_dataset_is_refused_at_validate_time_when_the_hub_is_off(tmp_path):
    # The tests run with HF_HUB_OFFLINE=1 and an empty cache: the trial could never load the data.
    env = {"HF_HOME": str(tmp_path), "HF_DATASETS_CACHE": str(tmp_path / "d"), "HF_HUB_CACHE": str(tmp_path / "h")}
    result = snapsweep("validate", HUB_SWEEP, env=env)
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {HUB_SWEEP}:") and "task.source" in line
    assert "source: local" in line and "--data-dir" in line and "Traceback" not in result.stderr


def test_train_copy_task_writes_stable_json_keys(tmp_path):
    out = tmp_path / "final.json"
    result = snapsweep("train", "--task", "copy", "--cell", "gru", "--hidden", "8", "--method", "snap1-online",
                       "--steps", "40", "--quiet", "--json", str(out))
    assert result.returncode == 0, result.stderr
    final = json.loads(out.read_text())
    assert {"curriculum_level", "tokens", "status", "steps"} <= set(final)
    assert final["status"] == "finished" and final["steps"] == 40
    assert final["tokens"] == 40 * 16  # online: one token per stream per update, batch 16 by default


def test_version():
    import snapsweep as package

    result = snapsweep("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"snapsweep {package.__version__}"


def test_validate_reports_every_problem_of_every_file_and_json(tmp_path):
    bad1 = os.path.join("tests", "spec", "bad", "many_errors.yaml")  # three field errors
    bad2 = os.path.join("tests", "spec", "bad", "unknown_method.yaml")
    result = snapsweep("validate", "sweeps/smoke.yaml", bad1, bad2)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in errors)
    assert [line.split(": ")[1] for line in errors] == [f"{bad1}:4", f"{bad1}:7", f"{bad1}:8", f"{bad2}:9"]
    assert all("(fix: " in line for line in errors)
    assert "sweeps/smoke.yaml: ok (" in result.stdout
    as_json = snapsweep("validate", "--json", "sweeps/smoke.yaml", bad1, bad2)
    assert as_json.returncode == 2
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False
    assert [(f["file"], f["ok"], len(f["problems"])) for f in payload["files"]] == [
        ("sweeps/smoke.yaml", True, 0), (bad1, False, 3), (bad2, False, 1)]
    assert set(payload["files"][1]["problems"][0]) == {"where", "message", "fix"}


def test_plan_and_status_json_and_storage(tmp_path):
    """plan/status read the storage they are given: a stored pack checkpoint shows up in both."""
    from snapsweep import spec
    from snapsweep.sweep.storage import PackStore, SweepPaths

    path = os.path.join(ROOT, "sweeps", "smoke.yaml")
    sweep = spec.load(path)
    pack = spec.packs(spec.expand(sweep), sweep.packing.limit)[0]
    storage = tmp_path / "runs"
    store = PackStore(SweepPaths(str(storage), sweep.name).pack_dir(pack.id))
    store.write_index({"pack_id": pack.id, "trial_ids": [t.id for t in pack.trials]})
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "state.ckpt").write_bytes(b"x")
    store.commit(str(checkpoint), 100)

    plan = snapsweep("plan", path, "--json", "--storage", str(storage), cwd=str(tmp_path))
    assert plan.returncode == 0, plan.stderr
    rows = {row["pack_id"]: row for row in json.loads(plan.stdout)["packs"]}
    assert rows[pack.id]["state"] == "resumes at step 100"
    assert {"name", "summary", "cost_model", "tracking", "total_seconds", "packs"} <= set(json.loads(plan.stdout))
    without = json.loads(snapsweep("plan", path, "--json", cwd=str(tmp_path)).stdout)
    assert all(row["state"] == "to run" for row in without["packs"])

    status = snapsweep("status", path, "--json", "--storage", str(storage), cwd=str(tmp_path))
    assert status.returncode == 0, status.stderr
    payload = json.loads(status.stdout)
    assert payload["counts"]["not started"] == len(payload["trials"]) == 16
    ids = {t.id for t in pack.trials}
    assert {row["trial_id"]: row["checkpoint"] for row in payload["trials"] if row["trial_id"] in ids} == \
        dict.fromkeys(ids, 100)
    assert all(row["checkpoint"] is None for row in payload["trials"] if row["trial_id"] not in ids)
    text = snapsweep("status", path, "--storage", str(storage), cwd=str(tmp_path))
    assert text.returncode == 0 and text.stdout.count(" 100 ") >= len(ids)
    assert not (tmp_path / "mlflow.db").exists()  # looking leaves no tracking store behind


def test_every_flag_has_help():
    from snapsweep.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, sub in verbs.choices.items():
        for action in sub._actions:
            assert action.help, f"snapsweep {name} {action.option_strings or action.dest} has no help"
    for name in ("plan", "status", "report", "run"):
        flags = {flag for action in verbs.choices[name]._actions for flag in action.option_strings}
        assert {"--storage", "--tracking-uri"} <= flags, name
