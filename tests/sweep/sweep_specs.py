"""Spec text of the sweep tests' tiny sweeps: 2 methods x 2 learning rates x 2 seeds of a 4-unit GRU
on the copy task (8 trials in 2 packs of 4), 40 updates, logged every 10, checkpoints at 20 and 40."""

from __future__ import annotations

import textwrap

TINY = """\
name: {name}
task:
  kind: copy
  batch: 2
  max_level: 4
model:
  cell: gru
  hidden: 4
method:
  mode: online
schedule:
  steps: {steps}
  log_every: 10
  eval_every: 0
  checkpoint_every: 20
axes:
  methods: {methods}
  lrs: [3.0e-3, 1.0e-2]
  seeds: {seeds}
resources:
{resources}
retries:
  max_failures: 0
"""


def tiny_spec_text(name: str, *, seeds=(0, 1), methods=("bptt-offline", "snap1"), steps: int = 40,
                   resources: str = "cpu: 1", extra: str = "") -> str:
    text = TINY.format(name=name, steps=steps, seeds=list(seeds), methods="[" + ", ".join(methods) + "]",
                       resources=textwrap.indent(resources, "  "))
    return text + extra
