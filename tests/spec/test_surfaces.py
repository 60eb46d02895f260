"""Every surface accepts and prints the same method names: the registry's, for every standard method."""

from __future__ import annotations

import pytest

from snapsweep import spec
from snapsweep.cli import build_parser
from snapsweep.report.coords import method_label
from snapsweep.rtrl import registry
from snapsweep.track import tags as T
from snapsweep.track import trial_tags

SPEC = """
name: surfaces
task: {{kind: copy}}
model: {{hidden: 8}}
method: {name}
schedule: {{steps: 5}}
"""


@pytest.mark.parametrize("name", registry.STANDARD_NAMES)
def test_one_name_on_every_surface(name):
    ident = registry.parse(name)
    assert ident.name == name
    # The spec's YAML, and what a trial carries into MLflow and the report.
    (trial,) = spec.expand(spec.load_text(SPEC.format(name=name)))
    assert trial.config.method == ident and trial.axes["method"] == name
    assert trial_tags(trial, "h")[T.METHOD] == name
    assert method_label(trial_tags(trial, "h")[T.METHOD]) == ident.label
    # `snapsweep train --method NAME`, through the parser and the options layer.
    args = build_parser().parse_args(["train", "--task", "copy", "--method", name])
    config, _ = spec.trial_from_options({"task": "copy", "steps": 5, "hidden": 8, "method": args.method})
    assert config.method == ident
    # `snapsweep bench --methods NAME` hands the name over as typed.
    assert build_parser().parse_args(["bench", "--methods", name]).methods == [name]


def test_the_cli_help_lists_the_standard_names():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (method,) = [a for a in train._actions if "--method" in a.option_strings]
    assert registry.help_text() in method.help
    assert all(name in registry.help_text() for name in registry.STANDARD_NAMES)


@pytest.mark.parametrize("name", registry.STANDARD_NAMES)
def test_bench_accepts_every_standard_name(name):
    from snapsweep.bench.run import method_ids

    assert method_ids([name]) == [registry.parse(name)]


def test_bench_defaults_are_registry_names():
    from snapsweep.cli import BENCH_DEFAULT_METHODS

    assert [registry.parse(name).name for name in BENCH_DEFAULT_METHODS] == list(BENCH_DEFAULT_METHODS)
