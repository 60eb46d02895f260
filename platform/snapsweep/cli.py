"""The `snapsweep` command: a thin layer over the Python API, one verb per function.

Each verb imports its layer lazily, so `snapsweep bench` and `snapsweep verify` run where only
jax, optax and numpy are installed (the accelerator machines). A `SnapsweepError` is a user error:
it is printed as one line and the exit status is 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

from snapsweep.errors import BudgetError, ConfigError, SnapsweepError


def _csv(cast: Callable[[str], object]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        try:
            return [cast(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")

    return parse


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

    checks = verify(seed=args.seed)
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "PASS" if check.passed else "FAIL"
        print(f"{mark}  {check.name:<{width}}  {check.detail}")
    failed = sum(not check.passed for check in checks)
    print(f"verify: {len(checks) - failed} passed, {failed} failed")
    _write_json(args.json, [check._asdict() for check in checks])
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from snapsweep import bench

    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else None
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
    )
    print(bench.format_table(rows))
    measured = [row for row in rows if row.get("kind", "throughput") == "throughput"]
    if measured and all(row.get("skipped") for row in measured):
        # Nothing the user asked for can run here: that is an input error, not a result.
        raise BudgetError(measured[0]["skipped"], where="snapsweep bench")
    payload: dict = {"methods": rows}
    if args.pack:
        from snapsweep import train

        pack_rows = train.bench_pack(
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


def _train_options(args: argparse.Namespace) -> dict:
    names = (
        "task", "cell", "hidden", "method", "n", "mode", "density", "lr", "steps", "seed", "batch",
        "data_dir", "crop", "clip_norm", "eval_every", "log_every", "probe_every", "checkpoint_every",
    )
    return {name: getattr(args, name) for name in names}


def cmd_train(args: argparse.Namespace) -> int:
    from snapsweep import spec, train

    config, member = spec.trial_from_options(_train_options(args), config_path=args.config)
    if args.resume and not args.checkpoint:
        raise ConfigError("--resume needs --checkpoint DIR", where="snapsweep train",
                          fix="pass the directory the interrupted run checkpointed to")
    summary = train.run(config, [member], checkpoint_dir=args.checkpoint, resume=args.resume,
                        progress=not args.quiet)
    result = summary[0]
    print(" ".join(f"{key}={value}" for key, value in sorted(result.items())))
    _write_json(args.json, result)
    return 0 if result.get("status") != "diverged" else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from snapsweep import spec

    for path in args.specs:
        sweep = spec.load(path)
        trials = spec.expand(sweep)
        packs = spec.packs(trials, sweep.packing.max_members if sweep.packing.enabled else 1)
        print(f"{path}: ok ({len(trials)} trials in {len(packs)} packs)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from snapsweep import spec

    print(json.dumps(spec.json_schema(), indent=2))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    plan = sweep.plan(args.spec, tracking_uri=args.tracking_uri, measure=args.measure)
    print(plan.table())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    result = sweep.run(args.spec, address=args.address, tracking_uri=args.tracking_uri,
                       storage=args.storage, progress=not args.quiet)
    return 0 if result.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    print(sweep.status(args.spec, tracking_uri=args.tracking_uri))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from snapsweep import sweep

    paths = sweep.report(args.spec, tracking_uri=args.tracking_uri, out_dir=args.out)
    for path in paths:
        print(path)
    return 0


# --- parser ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line and exit 2, like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (fix: see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="snapsweep",
        description="Sparse real-time recurrent learning experiments: specs, sweeps, reports.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_Parser)

    p = verbs.add_parser("run", help="run a sweep spec through Ray Tune, tracked in MLflow")
    p.add_argument("spec", help="path to a sweep YAML spec")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///mlflow.db here)")
    p.add_argument("--storage", help="shared storage path for checkpoints (default: ./snapsweep-runs)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)

    p = verbs.add_parser("plan", help="list trials and packs, finished counts and estimated time")
    p.add_argument("spec")
    p.add_argument("--tracking-uri")
    p.add_argument("--measure", action="store_true",
                   help="time each distinct pack on this device instead of the static cost model")
    p.set_defaults(func=cmd_plan)

    p = verbs.add_parser("status", help="per-trial state of a sweep")
    p.add_argument("spec")
    p.add_argument("--tracking-uri")
    p.set_defaults(func=cmd_status)

    p = verbs.add_parser("report", help="rebuild the paper's tables and plots from MLflow")
    p.add_argument("spec")
    p.add_argument("--tracking-uri")
    p.add_argument("--out", help="output directory (default: <storage>/<sweep>/report)")
    p.set_defaults(func=cmd_report)

    p = verbs.add_parser("validate", help="check sweep specs; non-zero exit on any problem")
    p.add_argument("specs", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = verbs.add_parser("schema", help="print the JSON Schema of sweep specs (for editors)")
    p.set_defaults(func=cmd_schema)

    p = verbs.add_parser("train", help="train one trial (no Ray, no MLflow)")
    p.add_argument("--config", help="YAML file with task/model/method/optim/schedule sections")
    p.add_argument("--task", choices=["copy", "wikitext"])
    p.add_argument("--cell", choices=["gru", "lstm", "rnn"])
    p.add_argument("--hidden", type=int, help="hidden units of the dense-equivalent network")
    p.add_argument("--method", help="bptt, rtrl, snap, uoro or snap-numeric")
    p.add_argument("--n", type=int, help="SnAp order")
    p.add_argument("--mode", choices=["offline", "online"])
    p.add_argument("--density", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--steps", type=int, help="optimizer updates")
    p.add_argument("--seed", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--crop", type=int, help="LM window length in characters")
    p.add_argument("--clip-norm", type=float)
    p.add_argument("--data-dir", help="directory with wiki.train.raw / wiki.valid.raw or text files")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--log-every", type=int)
    p.add_argument("--probe-every", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--checkpoint", help="checkpoint directory")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--json", help="write the final metrics here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("verify", help="run the gradient oracles at small sizes on this device")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the check results here")
    p.set_defaults(func=cmd_verify)

    p = verbs.add_parser("bench", help="tokens/s, memory and bandwidth of gradient methods")
    p.add_argument("--cell", default="gru", choices=["gru", "lstm", "rnn"])
    p.add_argument("--hidden", type=_csv(int), default=[128], help="comma-separated k values")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--methods", type=_csv(str), default=["bptt", "snap1", "snap1-online"])
    p.add_argument("--density", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--memory-lengths", type=_csv(int), default=None,
                   help="sequence lengths for the peak-memory comparison, e.g. 128,4096")
    p.add_argument("--pack", type=_csv(int), default=None, help="pack sizes, e.g. 1,4,12")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--quiet", action="store_true")
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
