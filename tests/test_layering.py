"""The layers stay apart: what imports what, and where methods, tasks and modes may be asked about."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "platform" / "snapsweep"


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["snapsweep.spec", "snapsweep.cli", "snapsweep.settings"])
def test_the_spec_layer_and_the_cli_load_no_jax_ray_or_mlflow(module):
    loaded = loaded_after(f"import {module}")
    assert not loaded & {"jax", "jaxlib", "ray", "mlflow"}, loaded & {"jax", "jaxlib", "ray", "mlflow"}


def test_validating_and_expanding_a_spec_loads_no_jax():
    loaded = loaded_after("from snapsweep import spec; s = spec.load('sweeps/copy.yaml'); spec.expand(s); "
                          "spec.json_schema(); from snapsweep.cli import build_parser; build_parser()")
    assert not loaded & {"jax", "jaxlib", "ray", "mlflow"}


def test_the_trainer_core_loads_no_platform_libraries():
    loaded = loaded_after("import snapsweep.rtrl, snapsweep.rtrl.registry, snapsweep.rtrl.costs")
    assert not loaded & {"ray", "mlflow", "pydantic"}


# Comparisons that ask which method, task or mode this is: those answers live in rtrl/ and tasks/
# (the registry, the cost model, the update mode, TaskInfo). Declarations (`Literal["copy"]`) and
# the registry's own data are not comparisons and do not match.
NAMES = r"online|offline|copy|wikitext|bptt|rtrl|snap|uoro|snap-numeric|cut|traces"
BRANCHES = [
    re.compile(rf"""[!=]=\s*["']({NAMES})["']"""),
    re.compile(rf"""["']({NAMES})["']\s*[!=]="""),
    re.compile(rf"""\bin\s*\(\s*["']({NAMES})["']"""),
    re.compile(r"\.(mode|kind|family)\s*[!=]="),
]
LAYERS = ("train", "spec", "sweep", "track", "report", "bench")


def platform_files():
    files = [PACKAGE / "cli.py"]
    for layer in LAYERS:
        files += sorted((PACKAGE / layer).rglob("*.py"))
    return files


def test_nothing_outside_rtrl_and_tasks_branches_on_method_task_or_mode():
    found = []
    for path in platform_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(pattern.search(code) for pattern in BRANCHES):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_branch_patterns_catch_what_they_are_for():
    caught = ['if method.mode == "online":', "if task.kind == 'copy':", 'x = name != "bptt"',
              'if config.method.family == "snap" and n == 1:', 'if name in ("rtrl", "appendix-d"):']
    passed = ['kind: Literal["copy"] = Field(...)', 'Mode = Literal[registry.MODES]', 'online = method.online']
    assert all(any(p.search(line) for p in BRANCHES) for line in caught)
    assert not any(p.search(line) for p in BRANCHES for line in passed)


SERVICE_READ = re.compile(r"""(environ(\.get)?\s*[\(\[]|getenv\s*\()\s*["'](MLFLOW_TRACKING_URI|RAY_ADDRESS|"""
                          r"""SNAPSWEEP_STORAGE|HF_HOME|HF_DATASETS_CACHE)["']""")


def test_only_settings_reads_the_service_environment():
    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if SERVICE_READ.search(path.read_text(encoding="utf-8")))
    assert readers == [], readers
    assert SERVICE_READ.search('os.environ.get("RAY_ADDRESS")') and SERVICE_READ.search("os.getenv('HF_HOME')")
