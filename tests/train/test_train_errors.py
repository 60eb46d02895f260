"""Bad settings stop before any compute, with one typed line that says what to fix."""

import dataclasses
import time

import pytest

import train_settings as ts
from snapsweep import rtrl
from snapsweep.errors import BudgetError, ConfigError, DataError
from snapsweep.train import Member, Trainer


def replace(cfg, part, **kw):
    return dataclasses.replace(cfg, **{part: dataclasses.replace(getattr(cfg, part), **kw)})


COPY = ts.copy_config()
TEXT = ts.text_config()

CASES = [
    ("unknown task", replace(COPY, "task", kind="parity"), None, ConfigError, "task.kind"),
    ("missing data dir", replace(TEXT, "task", data_dir="/nonexistent/wikitext"), None, DataError, "does not exist"),
    ("local without dir", replace(TEXT, "task", data_dir=None), None, DataError, "data directory"),
    ("crop longer than data", replace(TEXT, "task", crop=2_000_000), None, DataError, "crop"),
    ("valid slice too long", replace(TEXT, "task", valid_chars=10**8), None, DataError, "valid_chars"),
    ("vocab mismatch", dataclasses.replace(TEXT, model=ts.model(4)), None, ConfigError, "vocab"),
    ("unknown method", replace(COPY, "method", family="sgd-magic"), None, ConfigError, "method"),
    ("method by name", dataclasses.replace(COPY, method="snap1-online"), None, ConfigError, "MethodId"),
    ("bptt online", replace(COPY, "method", family="bptt", mode="online"), None, ConfigError, "offline"),
    ("unknown mode", replace(COPY, "method", mode="sometimes"), None, ConfigError, "mode"),
    ("traces over budget", dataclasses.replace(ts.copy_config(method="rtrl"), trace_budget_bytes=1024), None,
     BudgetError, "budget"),
    ("task of another kind", dataclasses.replace(COPY, task=object()), None, ConfigError, "task config"),
    ("bad optimizer", replace(COPY, "optim", name="lbfgs"), None, ConfigError, "optim"),
    ("negative clip", replace(COPY, "optim", clip_norm=-1.0), None, ConfigError, "clip_norm"),
    ("zero log interval", replace(COPY, "schedule", log_every=0), None, ConfigError, "log_every"),
    ("reset below threshold", replace(COPY, "task", ema_reset=0.1), None, ConfigError, "ema_reset"),
    ("max below start", replace(COPY, "task", start_level=5, max_level=3), None, ConfigError, "max_level"),
    ("no members", COPY, [], ConfigError, "member"),
    ("zero lr", COPY, [Member(seed=0, lr=0.0)], ConfigError, "lr"),
    ("nan lr", COPY, [Member(seed=0, lr=float("nan"))], ConfigError, "lr"),
    ("negative seed", COPY, [Member(seed=-1, lr=1e-3)], ConfigError, "seed"),
]


@pytest.mark.parametrize("name, cfg, members, error, text", CASES, ids=[c[0] for c in CASES])
def test_bad_settings_raise_one_typed_line(name, cfg, members, error, text):
    start = time.monotonic()
    with pytest.raises(error) as err:
        Trainer(cfg, ts.members((0, 1e-3)) if members is None else members)
    line = str(err.value)
    assert text in line and "\n" not in line and err.value.fix, line
    assert time.monotonic() - start < 5  # refused before anything is compiled


def test_model_settings_are_refused_by_the_model_itself():
    with pytest.raises(ConfigError, match="density"):
        rtrl.ModelConfig(cell="gru", hidden=8, vocab_in=4, vocab_out=4, density=0.0, size_rule="fixed",
                         shared_masks=True, mask_inputs=False, input_kind="onehot", embed_dim=0, dtype="float32")
