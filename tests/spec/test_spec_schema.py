"""The format documents itself: every field has a description; the models forbid unknown keys."""

from __future__ import annotations

import json

from pydantic import BaseModel

import snapsweep.spec
from snapsweep import spec
from snapsweep.spec import models


def _objects(schema: dict):
    yield "SweepSpec", schema
    for name, sub in schema.get("$defs", {}).items():
        yield name, sub


def test_every_field_in_the_schema_has_a_description():
    schema = spec.json_schema()
    json.dumps(schema)  # serialisable as is
    seen = 0
    for name, obj in _objects(schema):
        for field, prop in obj.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"
            seen += 1
    assert seen > 50
    assert {"name", "task", "model", "method", "optim", "schedule", "axes", "resources", "packing",
            "tracking", "storage", "retries", "seed", "description"} <= set(schema["properties"])


def test_every_model_forbids_extra_keys_and_describes_its_fields():
    classes = [c for c in vars(models).values()
               if isinstance(c, type) and issubclass(c, BaseModel) and c is not BaseModel]
    assert len(classes) >= 14
    for cls in classes:
        assert cls.model_config.get("extra") == "forbid", cls.__name__
        for name, info in cls.model_fields.items():
            assert info.description, f"{cls.__name__}.{name}"


def test_public_api():
    for name in ("SweepSpec", "load", "load_text", "json_schema", "spec_hash", "resolved_yaml", "expand",
                 "packs", "Trial", "Pack", "trial_from_options"):
        assert hasattr(snapsweep.spec, name), name


def test_spec_hash_is_stable_and_short():
    text = "name: h\ntask: {kind: copy}\nschedule: {steps: 5}\n"
    a, b = spec.spec_hash(spec.load_text(text)), spec.spec_hash(spec.load_text(text))
    assert a == b and len(a) == 16
    assert spec.spec_hash(spec.load_text(text.replace("5", "6"))) != a


def test_defaults_are_filled_in():
    sweep = spec.load_text("name: d\ntask: {kind: wikitext}\nschedule: {steps: 5}\n")
    assert sweep.task.source == "hub" and sweep.task.crop == 128 and sweep.task.batch == 16
    assert sweep.tracking.experiment == "d" and sweep.tracking.uri is None
    assert (sweep.optim.name, sweep.optim.b1, sweep.optim.b2, sweep.optim.eps, sweep.optim.clip_norm) == \
        ("adam", 0.9, 0.999, 1e-8, None)
    assert (sweep.resources.cpu, sweep.resources.gpu, sweep.resources.tpu) == (1.0, 0.0, 0)
    assert (sweep.packing.enabled, sweep.packing.max_members, sweep.retries.max_failures) == (True, 12, 2)
    copy = spec.load_text("name: d\ntask: {kind: copy}\nschedule: {steps: 5}\n").task
    assert (copy.batch, copy.length_spread, copy.start_level, copy.threshold_bits, copy.ema_decay,
            copy.ema_reset) == (16, 4, 1, 0.15, 0.999, 0.3)


def test_memory_sizes_are_parsed():
    sweep = spec.load_text("name: m\ntask: {kind: copy}\nschedule: {steps: 5}\nresources: {memory: 4GiB}\n")
    assert sweep.resources.memory == 4 * 2**30
