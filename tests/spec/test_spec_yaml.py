"""YAML positions: errors point at the right line of nested keys, list items and flow collections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snapsweep import spec
from snapsweep.errors import SpecError
from snapsweep.spec import yamlpos

# The shared WikiText text lives beside the checkout (../shared), wherever that is.
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "wikitext"


def error(text: str, filename: str = "s.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        spec.load_text(text, filename)
    return info.value


def test_locate_skips_union_tags_and_keeps_missing_keys():
    _, origins = yamlpos.parse("task:\n  kind: copy\n  batch: 3\nlist:\n  - a\n  - b\n", "x")
    tags = frozenset({"copy"})
    assert origins.locate(("task", "copy", "batch"), tags) == (["task", "batch"], 3)
    assert origins.locate(("task", "copy", "nope"), tags) == (["task", "nope"], 1)
    assert origins.locate(("list", 1), tags) == (["list", 1], 6)
    assert origins.locate(("list", 1, "n"), tags) == (["list", 1, "n"], 6)
    assert origins.locate(("absent", "x"), tags) == (["absent", "x"], 1)


def test_nested_duplicate_keys_are_refused():
    err = error("name: d\ntask:\n  kind: copy\n  batch: 1\n  batch: 2\nschedule: {steps: 1}\n")
    assert err.where == "s.yaml:5" and "task.batch: duplicate key (first at line 4)" in str(err)


def test_anchors_and_merge_keys_work():
    sweep = spec.load_text("name: a\ntask:\n  <<: {kind: copy, batch: 4}\n  max_level: 9\nschedule: {steps: 1}\n")
    assert sweep.task.batch == 4 and sweep.task.max_level == 9


def test_first_error_by_line_and_count_of_the_rest():
    text = ("name: m\n"          # 1
            "schedule:\n"        # 2
            "  steps: 0\n"       # 3
            "task:\n"            # 4
            "  kind: copy\n"     # 5
            "  batch: -1\n")     # 6
    err = error(text)
    assert err.where == "s.yaml:3" and "schedule.steps" in str(err) and "(+1 more)" in str(err)


def test_relative_data_dir_starts_at_the_spec_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("hello " * 40)
    sub = tmp_path / "specs"
    sub.mkdir()
    path = sub / "lm.yaml"
    path.write_text("name: lm\ntask: {kind: wikitext, data_dir: ../data}\nschedule: {steps: 1}\n")
    sweep = spec.load(path)
    assert sweep.task.data_dir == str(data) and sweep.task.source == "local"
    assert spec.expand(sweep)[0].config.task.data_dir == str(data)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/wikitext beside the checkout")
def test_shared_wikitext_data_as_local_source(tmp_path):
    rel = os.path.relpath(DATA, tmp_path)
    path = tmp_path / "lm.yaml"
    path.write_text(f"name: lm\ntask: {{kind: wikitext, source: local, data_dir: {rel}, crop: 64}}\n"
                    "schedule: {tokens: 10000}\n")
    trial = spec.expand(spec.load(path))[0]
    assert trial.config.task.data_dir == str(DATA)
    assert trial.config.schedule.steps == -(-10000 // (16 * 64))


def test_hub_with_data_dir_is_refused(tmp_path):
    err = error("name: h\ntask:\n  kind: wikitext\n  source: hub\n  data_dir: .\nschedule: {steps: 1}\n")
    assert err.where == "s.yaml:5" and "only read with source local" in str(err)


def test_tokens_to_steps_online_uses_batch():
    sweep = spec.load_text("name: t\ntask: {kind: copy, batch: 8}\nmethod: snap1-online\nschedule: {tokens: 100}\n")
    assert spec.expand(sweep)[0].config.schedule.steps == 13


def test_missing_file():
    with pytest.raises(SpecError) as info:
        spec.load("/nonexistent/spec.yaml")
    assert info.value.where == "/nonexistent/spec.yaml" and "not found" in str(info.value)


def test_error_inside_a_flow_list_of_mappings():
    text = "name: f\ntask: {kind: copy}\nschedule: {steps: 1}\naxes:\n  methods:\n    - snap1\n    - {name: snap, n: 0}\n"
    err = error(text)
    assert err.where == "s.yaml:7" and "axes.methods[1].n: must be greater than or equal to 1" in str(err)


def test_snap_order_two_on_a_dense_network_is_allowed():
    sweep = spec.load_text("name: s\ntask: {kind: copy}\nmodel: {hidden: 16, density: 1.0}\n"
                           "method: snap2-online\nschedule: {steps: 1}\n")
    assert spec.expand(sweep)[0].config.method.n == 2


def test_empty_sections_mean_defaults():
    sweep = spec.load_text("name: e\ntask: {kind: copy}\nschedule: {steps: 1}\naxes:\n  # methods: [snap1]\nmodel:\n")
    assert sweep.axes.methods is None and sweep.model.hidden == 128
    err = error("name: e\ntask:\nschedule: {steps: 1}\n")
    assert err.where == "s.yaml:2" and "task" in str(err)
