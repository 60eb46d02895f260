"""The `snapsweep` command: a thin layer over the Python API, one verb per function.

Each verb imports its layer lazily, so `snapsweep bench` and `snapsweep verify` run where only
jax, optax and numpy are installed (the accelerator machines). A `SnapsweepError` is a user error:
it is printed as one line and the exit status is 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Callable, Sequence

from snapsweep.errors import BudgetError, ConfigError, SnapsweepError, SpecError
from snapsweep.rtrl.config import CELLS

# What `snapsweep bench` measures when --methods is not given: BPTT, and SnAp-1 offline and online.
BENCH_DEFAULT_METHODS = ("bptt-offline", "snap1-offline", "snap1-online")


def _csv(cast: Callable[[str], object]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        try:
            return [cast(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")

    return parse


def _seconds(text: str) -> float:
    """A duration in seconds: a finite number, 0 up to a week."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 604800, got {text!r}")
    return value


def _write_json(path: str | None, payload: object) -> None:
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
    os.replace(tmp, path)


# --- verbs -----------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from snapsweep.rtrl.verify import verify

    def show(check) -> None:
        mark = "PASS" if check.passed else "FAIL"
        print(f"{mark}  {check.name}  {check.detail}", flush=True)

    checks = verify(seed=args.seed, on_check=show)  # each line as soon as its check finishes
    failed = sum(not check.passed for check in checks)
    print(f"verify: {len(checks) - failed} passed, {failed} failed")
    _write_json(args.json, [check._asdict() for check in checks])
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from snapsweep import bench

    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else None
    if args.check:  # bench.check's own small sizes unless given: every standard method runs there
        given = {name: value for name, value in (("hiddens", args.hidden), ("batch", args.batch),
                                                 ("length", args.length)) if value is not None}
        rows, ok = bench.check(cell=args.cell, repeats=args.repeats, rates_file=args.rates, progress=progress,
                               **given)
        print(bench.format_check(rows))
        _write_json(args.json, {"check": rows, "ok": ok})
        return 0 if ok else 1
    args.hidden, args.batch, args.length = args.hidden or [128], args.batch or 16, args.length or 128
    rows = bench.bench(
        cell=args.cell,
        hiddens=args.hidden,
        batch=args.batch,
        length=args.length,
        methods=args.methods,
        density=args.density,
        repeats=args.repeats,
        lengths_for_memory=tuple(args.memory_lengths) if args.memory_lengths else None,
        progress=progress,
        rates_file=args.rates,
    )
    print(bench.format_table(rows))
    measured = [row for row in rows if row.get("kind", "throughput") == "throughput"]
    if measured and all(row.get("skipped") for row in measured):
        # Nothing the user asked for can run here: that is an input error, not a result.
        raise BudgetError(measured[0]["skipped"], where="snapsweep bench")
    payload: dict = {"methods": rows}
    if args.pack:
        pack_rows = bench.bench_pack(
            cell=args.cell,
            hiddens=args.hidden,
            batch=args.batch,
            length=args.length,
            methods=args.methods,
            pack_sizes=args.pack,
            repeats=args.repeats,
            progress=progress,
        )
        print()
        print(bench.format_table(pack_rows))
        payload["packs"] = pack_rows
    _write_json(args.json, payload)
    return 0


TRAIN_OPTIONS = (
    "task", "cell", "hidden", "method", "density", "lr", "steps", "seed", "batch", "data_dir", "crop",
    "clip_norm", "eval_every", "log_every", "probe_every", "checkpoint_every", "trace_budget",
)


def cmd_train(args: argparse.Namespace) -> int:
    from snapsweep import spec, train

    if args.resume and not args.checkpoint:
        raise ConfigError("--resume needs --checkpoint DIR", where="snapsweep train",
                          fix="pass the directory the interrupted run checkpointed to")
    options = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    config, member = spec.trial_from_options(options, config_path=args.config)
    summary = train.run(config, [member], checkpoint_dir=args.checkpoint, resume=args.resume,
                        progress=not args.quiet)
    result = summary[0]
    print(" ".join(f"{key}={value}" for key, value in sorted(result.items())))
    _write_json(args.json, result)
    return 0 if result.get("status") != "diverged" else 1


def _validate_one(path: str) -> dict:
    from snapsweep import spec
    from snapsweep.errors import SpecError

    try:
        sweep = spec.load(path, check_data=True)
    except SpecError as err:
        problems = [{"where": p.where, "message": p.message, "fix": p.fix} for p in err.problems]
        return {"file": path, "ok": False, "problems": problems}
    trials = spec.expand(sweep)
    packs = spec.packs(trials, sweep.packing.limit, sweep.resources.devices)
    return {"file": path, "ok": True, "trials": len(trials), "packs": len(packs), "problems": []}


def cmd_validate(args: argparse.Namespace) -> int:
    """Every problem of every file, one line each (where, what, fix); exit 2 if there is any."""
    results = [_validate_one(path) for path in args.specs]
    bad = [r for r in results if not r["ok"]]
    if args.json:
        print(json.dumps({"ok": not bad, "files": results}, indent=2, sort_keys=True))
        return 2 if bad else 0
    for result in results:
        if result["ok"]:
            print(f"{result['file']}: ok ({result['trials']} trials in {result['packs']} packs)")
        for problem in result["problems"]:
            line = SpecError(problem["message"], where=problem["where"], fix=problem["fix"]).one_line()
            print(f"error: {line}", file=sys.stderr)
    if bad:
        count = sum(len(r["problems"]) for r in bad)
        print(f"validate: {len(results) - len(bad)} ok, {len(bad)} with {count} problem{'s' if count != 1 else ''}")
        return 2
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from snapsweep import spec

    print(json.dumps(spec.json_schema(), indent=2))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    plan = sweep.plan(args.spec, tracking_uri=args.tracking_uri, storage=args.storage, address=args.address,
                      measure=args.measure, devices=args.devices, rates_file=args.rates)
    print(json.dumps(plan.to_json(), indent=2, sort_keys=True) if args.json else plan.table())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    result = sweep.run(args.spec, address=args.address, tracking_uri=args.tracking_uri,
                       storage=args.storage, progress=not args.quiet, wait_for_tracking=args.wait_for_tracking)
    return 0 if result.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    if args.json:
        payload = sweep.status_json(args.spec, tracking_uri=args.tracking_uri, storage=args.storage,
                                    address=args.address)
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        print(sweep.status(args.spec, tracking_uri=args.tracking_uri, storage=args.storage, address=args.address))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    paths = sweep.report(args.spec, tracking_uri=args.tracking_uri, out_dir=args.out, storage=args.storage,
                         address=args.address)
    for path in paths:
        print(path)
    return 0


RUN_ID_CHARS = frozenset("0123456789abcdef")
FINAL_STATE = "final_state"  # the artifact directory of a member run's final state (sweep/trainable.py)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from snapsweep.train.score import read_text, score

    read_text(args.text)  # a missing text file fails before any download
    with tempfile.TemporaryDirectory(prefix="snapsweep-evaluate-") as scratch:
        path, member = _member_checkpoint(args, scratch)
        result = score(path, args.text, member)
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
    else:
        print(f"{result.bpc:.4f} bits per character ({result.characters} characters of {args.text}, "
              f"{result.method} seed {result.seed} lr {result.lr:g})")
    return 0


def _member_checkpoint(args: argparse.Namespace, scratch: str) -> tuple[str, int | None]:
    """-> (checkpoint file, member index in it or None) for a checkpoint path or a member run id."""
    from snapsweep.errors import CheckpointError
    from snapsweep.train.driver import CHECKPOINT_FILE

    target = args.target
    if os.path.exists(target):
        return (os.path.join(target, CHECKPOINT_FILE) if os.path.isdir(target) else target), None
    if len(target) != 32 or not set(target) <= RUN_ID_CHARS:
        raise CheckpointError("neither a checkpoint file nor an MLflow run id", where=target,
                              fix="pass a member's state.ckpt or the 32-character id of its run")
    from snapsweep import settings
    from snapsweep.track import Tracker
    from snapsweep.track import tags as T

    tracker = Tracker(settings.tracking_uri(args.tracking_uri))
    record = tracker.run(target)  # an unknown run id: one TrackingError line
    final = tracker.download_artifact(target, f"{FINAL_STATE}/{CHECKPOINT_FILE}", scratch)
    if final is not None:
        return final, None
    # No final state (the pack has not finished): the pack's newest checkpoint in the sweep's storage.
    from snapsweep.sweep.storage import PackStore, SweepPaths, resolve_root
    from snapsweep.train.score import checkpoint_config

    pack, sweep_name = record.tags.get(T.PACK_ID), record.tags.get(T.SWEEP)
    store = PackStore(SweepPaths(resolve_root(args.storage), sweep_name).pack_dir(pack)) if pack and sweep_name else None
    step = store.latest_step() if store is not None else None
    if step is None:
        raise CheckpointError(f"run {target} has no {FINAL_STATE} artifact and no pack checkpoint in the storage",
                              where=target, fix="pass --storage of the sweep that trained it, or a checkpoint path")
    directory = store.local_path(step) or store.fetch(step, os.path.join(scratch, "pack"))
    path = os.path.join(directory, CHECKPOINT_FILE)
    run_ids = checkpoint_config(path)[2].get("meta", {}).get("run_ids") or []
    if target not in run_ids:
        raise CheckpointError(f"the pack checkpoint does not list run {target}", where=path,
                              fix="pass the member's checkpoint path instead")
    return path, run_ids.index(target)


# --- parser ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line and exit 2, like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (fix: see `{self.prog} --help`)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default where it has one; unset flags say in their help where the value comes from."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


SPEC_HELP = "path to a sweep YAML spec"
TRACKING_HELP = ("MLflow tracking URI (default: the spec's tracking.uri, else $MLFLOW_TRACKING_URI, "
                 "else sqlite:///mlflow.db in the working directory)")
STORAGE_HELP = ("storage root of checkpoints and reports (default: the spec's storage.path, else "
                "$SNAPSWEEP_STORAGE, else ./snapsweep-runs)")
ADDRESS_HELP = ("Ray cluster address, host:port, ray://host:10001 or auto (default: $RAY_ADDRESS, else a "
                "private local Ray); `plan`, `status` and `report` only check its shape, so one set of "
                "flags serves every verb")
FROM_SPEC = "(default: from --config, else the spec default; see `snapsweep schema`)"


def _sweep_args(p: argparse.ArgumentParser) -> None:
    """What every verb that reads a sweep takes: the spec, where its runs, files and cluster are."""
    p.add_argument("spec", help=SPEC_HELP)
    p.add_argument("--tracking-uri", help=TRACKING_HELP)
    p.add_argument("--storage", help=STORAGE_HELP)
    p.add_argument("--address", help=ADDRESS_HELP)


def build_parser() -> argparse.ArgumentParser:
    from snapsweep import __version__
    from snapsweep.rtrl import registry

    parser = _Parser(
        prog="snapsweep",
        description="Sparse real-time recurrent learning experiments: specs, sweeps, reports.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"snapsweep {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_Parser)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, help=help, description=help, formatter_class=_Help)

    p = verb("run", "run a sweep spec through Ray Tune, tracked in MLflow")
    _sweep_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--wait-for-tracking", type=_seconds, default=0.0, metavar="SECONDS",
                   help="wait up to SECONDS for an MLflow server that does not answer at the start, with a "
                        "countdown line (default 0: fail at once with one line). Later outages never stop "
                        "training: trials queue their tracking on local disk and replay it")
    p.set_defaults(func=cmd_run)

    p = verb("plan", "list trials and packs, finished counts and estimated time")
    _sweep_args(p)
    p.add_argument("--measure", action="store_true",
                   help="time each distinct pack on this device instead of the static cost model")
    p.add_argument("--devices", type=int, default=None,
                   help="devices the wall time assumes (default: enough for one pack each, as the spec's resources ask)")
    p.add_argument("--rates", metavar="FILE", default=None,
                   help="device rates measured by `snapsweep bench --rates FILE` (default: <storage>/device-rates.json "
                        "when it exists, else guessed rates, said so)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (stable keys)")
    p.set_defaults(func=cmd_plan)

    p = verb("status", "per-trial state of a sweep, from MLflow and the sweep's checkpoints")
    _sweep_args(p)
    p.add_argument("--json", action="store_true", help="print the status as JSON (stable keys)")
    p.set_defaults(func=cmd_status)

    p = verb("report", "rebuild the paper's tables and plots from MLflow")
    _sweep_args(p)
    p.add_argument("--out", help="output directory (default: <storage>/<sweep>/report)")
    p.set_defaults(func=cmd_report)

    p = verb("evaluate", "score a finished language-model member on a text file: bits per character")
    p.add_argument("target", metavar="RUN_ID_OR_CHECKPOINT",
                   help="a member's MLflow run id, or a checkpoint file (a member's final state or a pack's state.ckpt)")
    p.add_argument("--text", required=True, help="the text file to score (every byte after the first)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI, for a run id (default: $MLFLOW_TRACKING_URI, "
                                          "else sqlite:///mlflow.db in the working directory)")
    p.add_argument("--storage", help="storage root of the sweep, for a run id whose pack has not finished "
                                     "(default: $SNAPSWEEP_STORAGE, else ./snapsweep-runs)")
    p.add_argument("--json", action="store_true", help="print the score as JSON (stable keys)")
    p.set_defaults(func=cmd_evaluate)

    p = verb("validate", "check sweep specs: every problem of every file, one line each; exit 2 on any")
    p.add_argument("specs", nargs="+", help="sweep YAML specs")
    p.add_argument("--json", action="store_true", help="print the results as JSON (stable keys)")
    p.set_defaults(func=cmd_validate)

    p = verb("schema", "print the JSON Schema of sweep specs (for editors)")
    p.set_defaults(func=cmd_schema)

    p = verb("train", "train one trial (no Ray, no MLflow)")
    p.add_argument("--config", help="YAML file with task/model/method/optim/schedule sections (a sweep spec works)")
    p.add_argument("--task", choices=["copy", "wikitext"], help=f"task {FROM_SPEC}")
    p.add_argument("--cell", choices=list(CELLS), help=f"recurrent cell {FROM_SPEC}")
    p.add_argument("--hidden", type=int, help=f"hidden units of the dense-equivalent network {FROM_SPEC}")
    p.add_argument("--method", help=f"gradient method {FROM_SPEC}; a name without its mode keeps the "
                                    f"config's mode. {registry.help_text()}")
    p.add_argument("--density", type=float, help=f"fraction of recurrent weights kept, in (0, 1] {FROM_SPEC}")
    p.add_argument("--lr", help=f"learning rate, e.g. 1e-3 or 10^-2.5 {FROM_SPEC}")
    p.add_argument("--steps", type=int, help=f"optimizer updates {FROM_SPEC}")
    p.add_argument("--seed", type=int, help=f"seed {FROM_SPEC}")
    p.add_argument("--batch", type=int, help=f"streams per update {FROM_SPEC}")
    p.add_argument("--crop", type=int, help=f"LM window length in characters {FROM_SPEC}")
    p.add_argument("--clip-norm", type=float, help=f"global gradient-norm clip; 0 switches it off {FROM_SPEC}")
    p.add_argument("--data-dir", help="directory with wiki.train.raw / wiki.valid.raw or text files "
                                      "(implies task source local)")
    p.add_argument("--eval-every", type=int, help=f"evaluate every this many updates; 0: at the end {FROM_SPEC}")
    p.add_argument("--log-every", type=int, help=f"log every this many updates {FROM_SPEC}")
    p.add_argument("--probe-every", type=int, help=f"gradient-fidelity probe interval; 0: none {FROM_SPEC}")
    p.add_argument("--checkpoint-every", type=int, help=f"checkpoint interval; 0: at the end {FROM_SPEC}")
    p.add_argument("--trace-budget", help=f"per-example trace memory limit, bytes or e.g. 1GiB {FROM_SPEC}")
    p.add_argument("--checkpoint", help="checkpoint directory (default: no checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--json", help="write the final metrics to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = verb("verify", "run the gradient oracles at small sizes on this device, printing each check as it ends")
    p.add_argument("--seed", type=int, default=0, help="seed of the random models and windows")
    p.add_argument("--json", help="write the check results to this file")
    p.set_defaults(func=cmd_verify)

    p = verb("bench", "tokens/s, memory and bandwidth of gradient methods")
    p.add_argument("--cell", default="gru", choices=list(CELLS), help="recurrent cell")
    p.add_argument("--hidden", type=_csv(int), default=None,
                   help="comma-separated k values (default: 128; with --check 16,48)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: 16; with --check 2)")
    p.add_argument("--length", type=int, default=None, help="window length in time steps (default: 128; with --check 8)")
    p.add_argument("--methods", type=_csv(str), default=list(BENCH_DEFAULT_METHODS),
                   help=f"comma-separated method names; {registry.help_text()}")
    p.add_argument("--density", type=float, default=1.0, help="fraction of recurrent weights kept, in (0, 1]")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per row (the median is shown)")
    p.add_argument("--memory-lengths", type=_csv(int), default=None,
                   help="sequence lengths for the peak-memory comparison, e.g. 128,4096 (default: none)")
    p.add_argument("--pack", type=_csv(int), default=None, help="pack sizes to time, e.g. 1,4,12 (default: none)")
    p.add_argument("--check", action="store_true",
                   help="print the static prediction beside the measurement for every standard method; "
                        "exit 1 when any is off by more than 2x")
    p.add_argument("--rates", metavar="FILE", default=None,
                   help="write the device rates measured in this run (bandwidth, product rates, per-kernel "
                        "latency) to FILE, for `snapsweep plan --rates FILE` (default: not written)")
    p.add_argument("--json", help="write the rows to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SnapsweepError as err:
        print(f"error: {err.one_line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished work is kept (re-run to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
