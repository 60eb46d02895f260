"""`snapsweep evaluate`: a trained LM member scored on a text file it never saw, through the real
command, equals the trainer's own evaluation of the same bytes (same program, exact)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import uuid

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train"))

from test_cli import snapsweep  # noqa: E402
from train_settings import WIKITEXT_VALID, copy_config, members, text_config, text_task  # noqa: E402

from snapsweep.train import CHECKPOINT_FILE, Trainer  # noqa: E402

pytestmark = pytest.mark.integration

SLICE = 6000  # bytes of the held-out tail scored


def one_line_error(result, fragment: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and fragment in line and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-member character LM trained for 200 updates on the head of the local WikiText text,
    its final state saved the way a sweep saves it, a held-out slice from the text's tail, and the
    trainer's own valid_bpc of that slice."""
    root = tmp_path_factory.mktemp("evaluate")
    task = text_task(crop=32, batch=8, valid_chars=2048, valid_batch=4, holdout_fraction=0.1)
    config = text_config(method="snap", n=1, mode="online", hidden=16, steps=200, log_every=100, task=task)
    team = members((0, 3e-3))
    trainer = Trainer(config, team)
    state = trainer.advance(trainer.init(), 200)
    path = str(root / "member.ckpt")
    trainer.save_member(path, state, 0, {"trial_id": "t0", "run_id": "r0"})

    text = np.fromfile(WIKITEXT_VALID, dtype=np.uint8)
    held_out = text[-SLICE:]  # inside the last 10%: never a training crop
    official = root / "official"
    official.mkdir()
    held_out.tofile(official / "wiki.valid.raw")
    held_out.tofile(official / "wiki.train.raw")
    scored = str(official / "wiki.valid.raw")
    # The trainer's evaluation of exactly those bytes: the same member settings over that directory.
    over_slice = dataclasses.replace(config, task=dataclasses.replace(task, data_dir=str(official), valid_chars=None))
    expected = float(np.asarray(Trainer(over_slice, team).evaluate(state))[0])
    return path, scored, expected


def test_evaluate_a_checkpoint_prints_the_trainers_bpc(trained):
    path, scored, expected = trained
    result = snapsweep("evaluate", path, "--text", scored, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["bpc"] == expected  # exactly: the same program on the same windows
    assert payload["characters"] == SLICE - 1
    assert (payload["method"], payload["seed"], payload["lr"]) == ("snap1-online", 0, 3e-3)
    assert 1.0 < expected < 8.0  # it learned something, and is a bpc

    plain = snapsweep("evaluate", path, "--text", scored)
    assert plain.returncode == 0, plain.stderr
    (line,) = plain.stdout.splitlines()
    assert line.startswith(f"{expected:.4f} bits per character ({SLICE - 1} characters")


def test_evaluate_by_run_id_reads_the_final_state_artifact(trained, mlflow_server, tmp_path):
    from snapsweep.track import Tracker

    path, scored, expected = trained
    tracker = Tracker(mlflow_server.uri)
    parent = tracker.sweep_run(f"exp-{uuid.uuid4().hex[:8]}", "evaluate", "h", "x: 1\n")
    run = tracker.member_run(parent, "t0", {"seed": 0}, {}, provenance_tags={})
    # As a sweep's trial uploads it: final_state/state.ckpt.
    final = tmp_path / CHECKPOINT_FILE
    shutil.copyfile(path, final)
    tracker.finish(run, "FINISHED", {"valid_bpc": 2.0}, {"final_state": final})
    result = snapsweep("evaluate", run, "--text", scored, "--tracking-uri", mlflow_server.uri, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bpc"] == expected


def test_user_errors_are_one_line_each(trained, tmp_path, mlflow_server):
    path, scored, _ = trained
    one_line_error(snapsweep("evaluate", path, "--text", str(tmp_path / "missing.txt")), "no such text file")
    one_line_error(snapsweep("evaluate", "0" * 32, "--text", scored, "--tracking-uri", mlflow_server.uri),
                   "0" * 32)
    one_line_error(snapsweep("evaluate", str(tmp_path / "nothing-here"), "--text", scored),
                   "neither a checkpoint file nor an MLflow run id")
    copy = copy_config(steps=0, hidden=8)
    trainer = Trainer(copy, members((0, 1e-3)))
    copy_path = str(tmp_path / "copy.ckpt")
    trainer.save_member(copy_path, trainer.init(), 0, {})
    one_line_error(snapsweep("evaluate", copy_path, "--text", scored), "not a language-model checkpoint")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    one_line_error(snapsweep("evaluate", str(garbage), "--text", scored), "bad magic")
