"""Every task object is a `tasks.Task` that agrees with `task_info` of its config, and every task
config refuses its own bad fields with one typed line."""

import dataclasses
import os
from types import SimpleNamespace

import numpy as np
import pytest

from snapsweep.errors import ConfigError, DataError
from snapsweep.tasks import Task, TextTask, make_task, task_info
from snapsweep.tasks.config import CopyTaskConfig, TextTaskConfig
from snapsweep.tasks.sources import TextData

HERE = os.path.dirname(os.path.abspath(__file__))
WIKITEXT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "shared", "data", "wikitext")

COPY = CopyTaskConfig(kind="copy", batch=8, length_spread=4, start_level=1, threshold_bits=0.15, ema_decay=0.999,
                      ema_reset=0.3, max_level=40)
TEXT = TextTaskConfig(kind="wikitext", source="local", data_dir=WIKITEXT_DIR, hub_path="Salesforce/wikitext",
                      hub_name="wikitext-103-raw-v1", crop=16, batch=4, holdout_fraction=0.1, valid_chars=1000,
                      valid_batch=4)
SMALL_TEXT = TextData(train=np.frombuffer(b"abcabcabd" * 20, np.uint8), valid=np.frombuffer(b"abcd" * 300, np.uint8),
                      origin="test bytes")


@pytest.mark.parametrize("config", [COPY, TEXT], ids=["copy", "wikitext"])
def test_task_objects_satisfy_the_protocol_and_agree_with_task_info(config):
    task = make_task(config, SMALL_TEXT if isinstance(config, TextTaskConfig) else None)
    info = task_info(config)
    assert isinstance(task, Task)
    assert task.info == info
    assert (task.vocab_in, task.vocab_out, task.batch, task.offline_steps) == (info.vocab, info.vocab, info.batch,
                                                                               info.offline_steps)
    assert (task.valid is not None) == info.evaluates


def test_copy_window_length_is_the_longest_sequence():
    task = make_task(COPY)
    assert task.offline_steps == 2 * COPY.max_level + 2


def test_unigram_entropy_is_computed_once_when_asked():
    task = TextTask(TEXT, SMALL_TEXT)
    assert "unigram_bits" not in vars(task)  # not at construction
    bits = task.unigram_bits
    assert vars(task)["unigram_bits"] == bits
    counts = np.bincount(SMALL_TEXT.train, minlength=256)
    p = counts[counts > 0] / counts.sum()
    assert bits == float(-(p * np.log2(p)).sum())


CASES = [
    ("unknown kind", dataclasses.replace(COPY, kind="parity"), ConfigError, "task.kind"),
    ("zero batch", dataclasses.replace(COPY, batch=0), ConfigError, "task.batch"),
    ("max below start", dataclasses.replace(COPY, start_level=5, max_level=3), ConfigError, "max_level"),
    ("decay of one", dataclasses.replace(COPY, ema_decay=1.0), ConfigError, "ema_decay"),
    ("reset below threshold", dataclasses.replace(COPY, ema_reset=0.1), ConfigError, "ema_reset"),
    ("text as copy", dataclasses.replace(TEXT, kind="copy"), ConfigError, "task.kind"),
    ("unknown source", dataclasses.replace(TEXT, source="ftp"), ConfigError, "task.source"),
    ("zero crop", dataclasses.replace(TEXT, crop=0), ConfigError, "task.crop"),
    ("holdout of one", dataclasses.replace(TEXT, holdout_fraction=1.0), ConfigError, "holdout_fraction"),
    ("zero valid chars", dataclasses.replace(TEXT, valid_chars=0), ConfigError, "valid_chars"),
    ("local without dir", dataclasses.replace(TEXT, data_dir=None), DataError, "data directory"),
    ("missing dir", dataclasses.replace(TEXT, data_dir="/nonexistent/wikitext"), DataError, "does not exist"),
]


@pytest.mark.parametrize("name, config, error, text", CASES, ids=[c[0] for c in CASES])
def test_task_configs_refuse_bad_fields_with_one_line(name, config, error, text):
    with pytest.raises(error) as err:
        config.validate()
    line = str(err.value)
    assert text in line and "\n" not in line and err.value.fix, line


@pytest.mark.parametrize("config", [COPY, TEXT], ids=["copy", "wikitext"])
def test_good_task_configs_pass(config):
    config.validate()


def test_make_task_refuses_what_is_no_task_config():
    with pytest.raises(ConfigError, match="task.kind"):
        make_task(SimpleNamespace(kind="parity"))
