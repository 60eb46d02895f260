"""Character-LM data: local sources, hub failure modes, crops, validation streams."""

import os
import time

import jax
import numpy as np
import pytest

from snapsweep.errors import DataError
from snapsweep.tasks import TextTask, load_local, load_text, sources, unigram_entropy_bits, validation_windows
from snapsweep.tasks.config import TextTaskConfig

HERE = os.path.dirname(os.path.abspath(__file__))
WIKITEXT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "shared", "data", "wikitext")


def config(**kw):
    base = dict(kind="wikitext", source="local", data_dir=WIKITEXT_DIR, hub_path="Salesforce/wikitext",
                hub_name="wikitext-103-raw-v1", crop=16, batch=4, holdout_fraction=0.1, valid_chars=1000,
                valid_batch=4)
    base.update(kw)
    return TextTaskConfig(**base)


def test_official_layout_is_used_as_is(tmp_path):
    (tmp_path / "wiki.train.raw").write_bytes(b"train text")
    (tmp_path / "wiki.valid.raw").write_bytes(b"valid")
    data = load_local(str(tmp_path), 0.5)
    assert bytes(data.train) == b"train text" and bytes(data.valid) == b"valid"


def test_other_text_files_are_joined_and_the_tail_held_out(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"56789")
    (tmp_path / "a.txt").write_bytes(b"01234")
    (tmp_path / "README.md").write_bytes(b"not data")
    data = load_local(str(tmp_path), 0.2)
    assert bytes(data.train) == b"01234567" and bytes(data.valid) == b"89"
    single = load_local(str(tmp_path / "a.txt"), 0.4)
    assert bytes(single.train) == b"012" and bytes(single.valid) == b"34"


def test_the_shared_wikitext_split_is_carved():
    data = load_local(WIKITEXT_DIR, 0.1)
    assert len(data.train) + len(data.valid) == 1146846
    assert bytes(data.train[:24]) == b" \n = Homarus gammarus = "


@pytest.mark.parametrize("setup, message", [
    (lambda p: str(p / "missing"), "does not exist"),
    (lambda p: str(p), "holds no text files"),
    (lambda p: None, "needs a data directory"),
])
def test_bad_local_sources_are_one_line_data_errors(tmp_path, setup, message):
    with pytest.raises(DataError) as err:
        load_local(setup(tmp_path), 0.1)
    assert message in str(err.value) and "--data-dir" in str(err.value) and "\n" not in str(err.value)


def test_unreachable_hub_fails_fast_with_one_line(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        load_text(config(source="hub", data_dir=None))
    assert time.monotonic() - start < 5
    line = str(err.value)
    assert "unreachable" in line and "--data-dir" in line and "\n" not in line


def test_offline_hub_without_cache_is_one_data_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    with pytest.raises(DataError) as err:
        load_text(config(source="hub", data_dir=None))
    assert "--data-dir" in str(err.value) and "\n" not in str(err.value)


def test_reachability_check_is_a_short_connect(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert sources.hub_reachable(timeout_s=0.5) is False


def test_crop_longer_than_the_data_is_a_data_error(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"x" * 50)
    with pytest.raises(DataError, match="crop"):
        TextTask(config(data_dir=str(tmp_path), crop=64, valid_chars=None), load_local(str(tmp_path), 0.1))


def test_offline_crops_shift_by_one_and_online_walks_them():
    cfg = config()
    task = TextTask(cfg, load_text(cfg))
    data = task.shared_data()
    train = np.asarray(task.train_bytes)
    ts = task.init(jax.random.PRNGKey(0))
    _, w = jax.jit(task.offline_window)(ts, data)
    assert w.x.shape == (16, 4) and bool(w.reset[0].all()) and not bool(w.reset[1:].any())
    np.testing.assert_array_equal(np.asarray(w.x[1:]), np.asarray(w.y[:-1]))
    for b in range(4):  # each column is a real stretch of the training text
        seq = np.concatenate([np.asarray(w.x[:, b]), np.asarray(w.y[-1:, b])]).astype(np.uint8).tobytes()
        assert seq in train.tobytes()
    step = jax.jit(task.online_window)
    xs, ys, rs = [], [], []
    for _ in range(2 * 16):
        ts, w1 = step(ts, data)
        xs.append(np.asarray(w1.x[0])), ys.append(np.asarray(w1.y[0])), rs.append(bool(w1.reset[0, 0]))
    assert [i for i, r in enumerate(rs) if r] == [0, 16]
    xs, ys = np.stack(xs), np.stack(ys)
    np.testing.assert_array_equal(xs[1:16], ys[:15])


def test_validation_streams_score_each_character_of_the_slice_once():
    valid = np.frombuffer(bytes(range(256)) * 3, np.uint8)
    w = validation_windows(valid, valid_chars=500, streams=3, crop=16)
    n, crop, streams = w.x.shape
    assert crop == 16 and streams == 3 and int(w.weight.sum()) == 500
    y = w.y.transpose(2, 0, 1).reshape(streams, -1)
    x = w.x.transpose(2, 0, 1).reshape(streams, -1)
    wt = w.weight.transpose(2, 0, 1).reshape(streams, -1)
    scored = np.concatenate([y[b][wt[b] > 0] for b in range(streams)])
    np.testing.assert_array_equal(scored, valid[1:501])
    inputs = np.concatenate([x[b][wt[b] > 0] for b in range(streams)])
    np.testing.assert_array_equal(inputs, valid[:500])
    assert w.reset[0, 0].all() and w.reset.sum() == streams
    with pytest.raises(DataError, match="valid_chars"):
        validation_windows(valid, valid_chars=10**6, streams=3, crop=16)
    everything = validation_windows(valid, valid_chars=None, streams=4, crop=16)
    assert int(everything.weight.sum()) == len(valid) - 1


def test_unigram_entropy():
    assert unigram_entropy_bits(np.frombuffer(b"abababab", np.uint8)) == pytest.approx(1.0)
    assert unigram_entropy_bits(np.frombuffer(bytes(range(256)), np.uint8)) == pytest.approx(8.0)


def test_saved_text_reads_back_in_the_official_layout(tmp_path):
    data = load_local(WIKITEXT_DIR, 0.05)
    train, valid = sources.save_local(data, tmp_path / "wt")
    assert [os.path.basename(p) for p in (train, valid)] == ["wiki.train.raw", "wiki.valid.raw"]
    again = load_local(str(tmp_path / "wt"), 0.5)  # the pair is used as it is: no second hold-out
    assert np.array_equal(again.train, data.train) and np.array_equal(again.valid, data.valid)
    assert not list((tmp_path / "wt").glob("*.part"))


def test_fetch_script_without_the_hub_is_one_line(tmp_path):
    import subprocess

    root = os.path.dirname(os.path.dirname(HERE))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               HF_DATASETS_CACHE=str(tmp_path / "hf" / "d"))
    result = subprocess.run([os.path.join(root, "scripts", "fetch-wikitext"), str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Salesforce/wikitext" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
