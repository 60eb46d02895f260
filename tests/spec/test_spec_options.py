"""`snapsweep train` options over an optional YAML file."""

from __future__ import annotations

import pytest

from snapsweep import spec
from snapsweep.errors import ConfigError, SpecError


def test_options_alone():
    config, member = spec.trial_from_options({"task": "copy", "steps": 50, "method": "snap2-online",
                                              "hidden": 16, "density": 0.25, "lr": "10^-2.5", "seed": 3,
                                              "clip_norm": 100, "batch": 8, "log_every": 5, "cell": "lstm"})
    assert (config.method.family, config.method.n, config.method.mode) == ("snap", 2, "online")
    assert (config.model.cell, config.model.hidden, config.model.density, config.model.units) == ("lstm", 16, 0.25, 32)
    assert config.task.batch == 8 and config.optim.clip_norm == 100 and config.schedule.steps == 50
    assert config.schedule.log_every == 5 and member.seed == 3 and member.lr == 10 ** -2.5


def test_none_means_not_given():
    config, member = spec.trial_from_options({"task": "copy", "steps": 5, "lr": None, "hidden": None})
    assert member.lr == 1e-3 and config.model.hidden == 128


def test_method_label_in_one_option():
    config, _ = spec.trial_from_options({"task": "copy", "steps": 5, "method": "rtrl-online", "hidden": 8})
    assert config.method.name == "rtrl-online"


def test_options_override_the_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("task: {kind: copy, batch: 4}\nmodel: {hidden: 16}\nmethod: {name: snap, n: 3, mode: online}\n"
                    "schedule: {tokens: 400}\noptim: {lr: 0.01, clip_norm: 100}\nseed: 7\n")
    config, member = spec.trial_from_options({"hidden": 8, "steps": 10, "clip_norm": 0}, str(path))
    assert config.model.hidden == 8 and config.schedule.steps == 10 and config.optim.clip_norm is None
    assert config.method.n == 3 and member == type(member)(seed=7, lr=0.01)
    # A new method drops the file's order but keeps its mode.
    config, _ = spec.trial_from_options({"method": "uoro"}, str(path))
    assert config.method.name == "uoro-online"
    assert config.schedule.steps == 100  # 400 tokens / batch 4, online


def test_sweep_spec_as_train_config(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntask: {kind: copy}\nschedule: {steps: 3}\naxes: {lrs: [1.0e-3, 1.0e-2]}\n"
                    "resources: {cpu: 2}\n")
    config, member = spec.trial_from_options({}, str(path))
    assert config.schedule.steps == 3 and member.lr == 1e-3


def test_bad_option_names_the_flag():
    with pytest.raises(SpecError) as info:
        spec.trial_from_options({"task": "copy", "steps": 5, "lr": -1})
    assert info.value.where == "--lr" and "optim.lr: must be greater than 0" in str(info.value)
    with pytest.raises(ConfigError) as info:
        spec.trial_from_options({"task": "copy", "steps": 5, "method": "bptt-online"})
    assert info.value.where == "--method" and "cannot be online" in str(info.value)
    with pytest.raises(ConfigError) as info:
        spec.trial_from_options({"task": "copy", "steps": 5, "method": "snapp2"})
    assert info.value.where == "--method" and "snapp2" in str(info.value)


def test_bad_file_value_names_the_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("task: {kind: copy}\nschedule:\n  steps: 5\nmodel:\n  density: 3\n")
    with pytest.raises(SpecError) as info:
        spec.trial_from_options({"seed": 1}, str(path))
    assert info.value.where == f"{path}:5" and "model.density" in str(info.value)


def test_data_dir_option_is_relative_to_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("enough text for a crop of four")
    monkeypatch.chdir(tmp_path)
    config, _ = spec.trial_from_options({"task": "wikitext", "data_dir": "d", "crop": 4, "steps": 1})
    assert config.task.source == "local" and config.task.data_dir == str(tmp_path / "d")


def test_missing_task_or_length():
    with pytest.raises(ConfigError, match="no task"):
        spec.trial_from_options({"steps": 5})
    with pytest.raises(ConfigError, match="--steps"):
        spec.trial_from_options({"task": "copy"})


def test_unknown_option():
    with pytest.raises(ConfigError, match="unknown train option"):
        spec.trial_from_options({"task": "copy", "steps": 1, "lrr": 1})
