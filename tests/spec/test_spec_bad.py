"""The corpus of bad specs: each is refused with one SpecError at the expected line, naming the field.

Each file's first line states the expectation: `# expect: line N: fragment | fragment ...`; every
fragment must appear in the error's one-line form.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snapsweep import spec
from snapsweep.errors import SpecError

BAD = Path(__file__).parent / "bad"
FILES = sorted(BAD.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: line (\d+): (.+)$")


def expectation(path: Path) -> tuple[int, list[str]]:
    first = path.read_text().splitlines()[0]
    match = EXPECT.match(first)
    assert match, f"{path.name}: first line must be '# expect: line N: fragment | ...'"
    return int(match.group(1)), [f.strip() for f in match.group(2).split("|")]


def test_corpus_is_large_enough():
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_spec_is_refused_at_its_line(path: Path):
    line, fragments = expectation(path)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    err = info.value
    text = str(err)
    assert err.where == f"{path}:{line}", text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert err.fix, text
    # One line, ours: no traceback, no raw Pydantic or PyYAML report.
    assert "\n" not in text
    for noise in ("Traceback", 'File "', "validation error", "pydantic", "errors.pydantic.dev", "For further information"):
        assert noise not in text, text
    # Errors are raised without chained context, so nothing else gets printed with them.
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_spec_text_gives_the_same_error(path: Path):
    """load_text with the same name reports the same thing (relative paths need the real file name)."""
    with pytest.raises(SpecError) as from_file:
        spec.load(path)
    with pytest.raises(SpecError) as from_text:
        spec.load_text(path.read_text(), str(path))
    assert str(from_text.value) == str(from_file.value)
