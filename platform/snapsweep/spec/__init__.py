"""Sweep specs: Pydantic models, YAML loading with line-numbered errors, expansion into trials and packs.

    sweep = spec.load("sweeps/smoke.yaml")           # SpecError(where="file:line", fix=...) when invalid
    trials = spec.expand(sweep)                      # one Trial per grid point, id = hash of its settings
    packs = spec.packs(trials, sweep.packing.limit)  # same config, differing in seed and lr: vmapped together
    config, member = spec.trial_from_options({"task": "copy", "steps": 100}, config_path=None)

A spec (full reference: `spec.json_schema()`, every field described; examples in sweeps/):

    name: my-sweep                    # slug; default MLflow experiment
    task: {kind: copy}                # or {kind: wikitext, source: hub | local, data_dir: ...}
    model: {cell: gru, hidden: 64}    # hidden = dense-equivalent width; k = hidden / sqrt(density)
    method: {mode: online}            # fixed method; axes.methods entries take what they omit from here
    optim: {name: adam, clip_norm: 100}
    schedule: {steps: 20000}          # or tokens: N (converted to updates)
    axes:                             # full grid; an omitted axis uses the fixed value above
      methods: [snap1, snap2, rtrl, uoro, bptt-offline]   # <name>[<n>][-<mode>] or {name, n, mode}
      densities: [1.0, 0.25]
      lrs: ["10^-2.5", 1.0e-3]
      seeds: [0, 1, 2]
    resources: {cpu: 1, gpu: 0.25}    # per Ray trial (= per pack)

Relative `task.data_dir` paths start at the spec file's directory.
"""

from snapsweep.spec.expand import Pack, Trial, expand, packs
from snapsweep.spec.load import check_data, json_schema, load, load_text, resolved_yaml, spec_hash
from snapsweep.spec.models import SweepSpec, TrialSpec
from snapsweep.spec.options import trial_from_options

__all__ = [
    "Pack",
    "SweepSpec",
    "Trial",
    "TrialSpec",
    "check_data",
    "expand",
    "json_schema",
    "load",
    "load_text",
    "packs",
    "resolved_yaml",
    "spec_hash",
    "trial_from_options",
]
