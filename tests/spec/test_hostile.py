"""Hostile and impossible specs are refused before anything starts: one line, file:line, a fix, exit 2.

The corpus in tests/spec/hostile/ states each expectation on its first line, as tests/spec/bad/
does. What cannot live in the repository (files of many megabytes, raw NUL and control bytes,
invalid UTF-8, a device) is generated here; the two size classes are checked through both the
loader and `snapsweep validate` (in-process `cli.main`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_spec_bad import expectation

from snapsweep import cli, spec
from snapsweep.errors import SpecError
from snapsweep.spec.load import MAX_SPEC_BYTES

HOSTILE = Path(__file__).parent / "hostile"
FILES = sorted(HOSTILE.glob("*.yaml"))
VALID = "name: ok\ntask: {kind: copy}\nschedule: {steps: 1}\n"


def validate(capsys, *paths) -> tuple[int, list[str]]:
    code = cli.main(["validate", *map(str, paths)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err.splitlines()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_hostile_spec_is_refused_at_its_line(path: Path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a tag that ran code would leave its file here
    line, fragments = expectation(path)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    text = str(info.value)
    assert info.value.where == f"{path}:{line}", text
    assert all(fragment in text for fragment in fragments), text
    assert "\n" not in text and "(fix: " in text
    code, lines = validate(capsys, path)
    assert code == 2 and lines == [f"error: {text}"]
    assert not (tmp_path / "hostile-executed").exists()


def test_the_corpus_covers_every_class():
    assert len(FILES) >= 20


def generated(tmp_path: Path) -> dict[str, tuple[bytes, str, str]]:
    """name -> (file bytes, expected where-suffix, fragment)."""
    return {
        "nul": (VALID.encode() + b"description: a\x00b\n", ":4", "control character U+0000"),
        "bell": (VALID.encode() + b"description: a\x07b\n", ":4", "control character U+0007"),
        "escape": (b"name: ok\n\x1b[31m\n", ":2", "control character U+001B"),
        "latin1": (VALID.encode() + "description: caf\xe9\n".encode("latin-1"), ":4", "not UTF-8 text"),
        "utf16": (VALID.encode("utf-16"), ":1", "not UTF-8 text"),
    }


@pytest.mark.parametrize("name", ["nul", "bell", "escape", "latin1", "utf16"])
def test_bytes_that_are_not_plain_text(name, tmp_path, capsys):
    data, where, fragment = generated(tmp_path)[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert info.value.where == f"{path}{where}" and fragment in str(info.value), str(info.value)
    assert validate(capsys, path) == (2, [f"error: {info.value}"])


def test_a_50_megabyte_file_is_refused_by_its_size_without_being_read(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.write(b"# " + b"x" * 1000 + b"\n")
        f.truncate(50 * 2**20)  # sparse: fast to make, and as big as the loader sees it
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert info.value.where == str(path) and "52,428,800 bytes" in str(info.value) and "1 MiB" in str(info.value)
    assert validate(capsys, path)[0] == 2


def test_a_spec_just_over_the_cap_is_refused_and_one_under_loads(tmp_path):
    under = tmp_path / "under.yaml"
    under.write_text(VALID + "#" * (MAX_SPEC_BYTES - len(VALID) - 1) + "\n")
    assert os.path.getsize(under) == MAX_SPEC_BYTES and spec.load(under).name == "ok"
    over = tmp_path / "over.yaml"
    over.write_text(VALID + "#" * (MAX_SPEC_BYTES - len(VALID)) + "\n")
    with pytest.raises(SpecError, match="at most 1,048,576 bytes"):
        spec.load(over)
    with pytest.raises(SpecError, match="at most 1,048,576 bytes"):
        spec.load_text(over.read_text())


def test_a_device_as_the_spec_is_refused(capsys):
    with pytest.raises(SpecError, match="is a device"):
        spec.load("/dev/zero")
    assert validate(capsys, "/dev/zero") == (2, ["error: /dev/zero: is a device, not a spec file "
                                                 "(fix: name a .yaml file)"])


@pytest.mark.parametrize("size, fragment", [(0, "holds no text files"), (5, "holds 5 bytes of text")])
def test_a_data_directory_too_short_for_one_crop(tmp_path, size, fragment):
    data = tmp_path / "data"
    data.mkdir()
    if size:
        (data / "a.txt").write_bytes(b"x" * size)
    (tmp_path / "s.yaml").write_text("name: s\ntask:\n  kind: wikitext\n  data_dir: data\n  crop: 8\n"
                                     "schedule: {steps: 1}\n")
    with pytest.raises(SpecError) as info:
        spec.load(tmp_path / "s.yaml")
    assert info.value.where == f"{tmp_path / 's.yaml'}:4" and fragment in str(info.value), str(info.value)
    # Enough for one crop of 8 plus its target, with 5% held out: ceil(9 / 0.95) = 10 bytes.
    (data / "a.txt").write_bytes(b"x" * 10)
    assert spec.load(tmp_path / "s.yaml").task.crop == 8


def test_a_short_single_file_as_data(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"abc")
    with pytest.raises(SpecError, match="holds 3 bytes of text, fewer than the 10 one crop of 8 needs"):
        spec.load_text("name: s\ntask: {kind: wikitext, data_dir: t.txt, crop: 8}\nschedule: {steps: 1}\n",
                       str(tmp_path / "s.yaml"))


def test_a_hub_dataset_offline_is_refused_by_validate_and_plan_not_by_load(tmp_path, monkeypatch, capsys):
    for name, sub in (("HF_HOME", "home"), ("HF_DATASETS_CACHE", "d"), ("HF_HUB_CACHE", "h")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "hub.yaml"
    path.write_text("name: hub\ntask:\n  kind: wikitext\nschedule: {steps: 1}\n")
    assert spec.load(path).task.source == "hub"  # loading is pure: the environment is asked later
    code, lines = validate(capsys, path)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}:2: task.source: ")
    assert "source: local" in lines[0] and "--data-dir" in lines[0]
    from snapsweep import sweep

    with pytest.raises(SpecError, match="HF_HUB_OFFLINE"):
        sweep.plan(path, storage=str(tmp_path / "runs"), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    # A cached copy is what offline mode reads: then the spec is fine.
    (tmp_path / "d" / "Salesforce___wikitext").mkdir(parents=True)
    assert validate(capsys, path)[0] == 0


@pytest.mark.parametrize("flag, value, fragment", [
    ("--tracking-uri", "http://user:pw@host:70000", "invalid port"),
    ("--tracking-uri", "gopher://host", "unknown scheme 'gopher'"),
    ("--storage", "s3:///no-bucket", "names no bucket"),
    ("--storage", "runs\x01x", "control character"),
    ("--address", "head-node", "names no port"),
    ("--address", "http://head:8265", "only ray:// is a Ray client address"),
])
@pytest.mark.parametrize("verb", ["plan", "status", "report"])
def test_bad_service_settings_are_one_line(verb, flag, value, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be created, and surely not in the repository
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    code = cli.main([verb, str(path), flag, value, *(["--storage", str(tmp_path)] if flag != "--storage" else [])])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err
    assert "pw" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.yaml"]
