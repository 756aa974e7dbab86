"""``tfdirectspec cluster``: ``tfdirectspec train`` as the N workers of a local cluster.

``tfdirectspec cluster --workers 2 -- train --epochs 10 --output runs/mf`` starts two
``tfdirectspec train ... --strategy multi-worker`` processes that train together with
``MultiWorkerMirroredStrategy`` (worker 0, the chief, writes ``runs/mf``), prints their
output prefixed with ``[worker i]``, and when one dies restarts them all from the last
epoch checkpoint (``train --resume runs/mf``). :class:`~tfdirectspec.distributed.LocalCluster`
does the launching; this module turns the command line into its worker commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfdirectspec.commands import StrictParser
from tfdirectspec.errors import InputError
from tfdirectspec.parameters import check_non_negative, check_positive

HELP = "train with N local worker processes (multi-worker strategy), restarting on failure"
USAGE = "tfdirectspec cluster --workers N [--cluster-timeout SECONDS] [--restarts K] -- train ARGS"
DESCRIPTION = (
    "Runs `tfdirectspec train ARGS --strategy multi-worker --cluster-timeout SECONDS` as N "
    "processes on this machine, each with its own TF_CONFIG (127.0.0.1, free ports; worker 0 "
    "is the chief and the only one that writes the run). Their output is printed line by "
    "line as '[worker i] ...'. When a worker fails or is killed, the others are stopped and, "
    "while restarts remain, all N are started again: with `train --resume DIR` once the run "
    "in --output DIR has a checkpoint, else with ARGS again. Restarts need --output DIR (or "
    "--resume DIR) in ARGS: without one there is nothing to resume, so there are none. The "
    "exit status is the chief's."
)
EPILOG = "example: tfdirectspec cluster --workers 2 -- train --output runs/mf"

#: Default ``--cluster-timeout`` (seconds) and ``--restarts``.
DEFAULT_TIMEOUT = 300
DEFAULT_RESTARTS = 3
#: Train flags the launcher sets itself: ARGS may not contain them.
LAUNCHER_FLAGS = {
    "--strategy": "--strategy: the cluster runs train with --strategy multi-worker; drop it",
    "--cluster-timeout": (
        "--cluster-timeout goes before --: tfdirectspec cluster --cluster-timeout SECONDS ... "
        "-- train ARGS"
    ),
}
#: State files of an interrupted run, inside its staging folder (see Run.staging_folder).
CHECKPOINT_STATE = Path("checkpoints") / "checkpoint"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cluster",
        help=HELP,
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="number of worker processes (required; >= 1)",
    )
    p.add_argument(
        "--cluster-timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="how long a worker waits for its peers, passed to each train; also how long "
        f"the others may run on after the chief finished (default {DEFAULT_TIMEOUT})",
    )
    p.add_argument(
        "--restarts",
        type=int,
        default=None,
        metavar="K",
        help=f"restart the cluster up to K times after a failure (default {DEFAULT_RESTARTS}; "
        "none without --output or --resume in ARGS, since a restart resumes that run)",
    )
    p.add_argument("worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def worker_program() -> list[str]:
    """The command that runs ``tfdirectspec`` in a worker (tests put a fake in its place)."""
    return [sys.executable, "-m", "tfdirectspec"]


def worker_argv(train_args: list[str], timeout: int) -> list[str]:
    """The command of every worker: ``train ARGS`` with the launcher's two flags.

    Example:
        >>> worker_argv(["--epochs", "3"], 300)[1:]
        ['-m', 'tfdirectspec', 'train', '--epochs', '3',
         '--strategy', 'multi-worker', '--cluster-timeout', '300']
    """
    return [
        *worker_program(),
        "train",
        *train_args,
        "--strategy",
        "multi-worker",
        "--cluster-timeout",
        str(timeout),
    ]


class _TrainArgs(StrictParser):
    """An argparse parser whose errors are one-line :class:`InputError`\\ s."""

    def error(self, message: str):  # type: ignore[override]
        raise InputError(f"train: {message}")


def parse_train_args(train_args: list[str]) -> argparse.Namespace:
    """``train ARGS`` parsed by the train command's own parser (so abbreviations and
    ``--flag=value`` mean what they mean to the workers).

    Raises:
        InputError: ARGS that train would refuse, or one of :data:`LAUNCHER_FLAGS`.
    """
    from tfdirectspec.commands import train

    parser = _TrainArgs(prog="tfdirectspec cluster ... --", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_TrainArgs)
    train.add_parser(sub)
    options = set(sub.choices["train"]._option_string_actions) | LAUNCHER_FLAGS.keys()
    for token in train_args:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        if not name.startswith("--"):
            continue
        # A unique prefix of a launcher flag (--strat) gets the launcher's message; the
        # parser itself takes no abbreviations.
        matches = [o for o in options if o.startswith(name)]
        flag = name if name in options else (matches[0] if len(matches) == 1 else None)
        if flag in LAUNCHER_FLAGS:
            raise InputError(LAUNCHER_FLAGS[flag])
    return parser.parse_args(["train", *train_args])


def resume_flags(args: argparse.Namespace) -> list[str]:
    """The flags of ARGS that ``train --resume`` accepts (they do not change the training)."""
    flags = []
    if args.verbose is not None:
        flags += ["--verbose", str(args.verbose)]
    if args.no_spectrum:
        flags.append("--no-spectrum")
    if args.spectrum_every is not None:
        flags += ["--spectrum-every", str(args.spectrum_every)]
    if args.projector:
        flags.append("--projector")
    if args.refit:
        flags.append("--refit")
    return flags


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def restart_command(train_args: list[str], parsed: argparse.Namespace, timeout: int):
    """The ``resume`` callable of the launcher, or None when the run cannot be restarted.

    At each restart it looks at the run the failed start left:

    * ``--resume DIR`` in ARGS: the same command again;
    * ``--output DIR`` whose staging folder has ``config.json`` and a committed
      checkpoint: ``train --resume DIR`` with ARGS' resume-allowed flags;
    * otherwise (no checkpoint yet): ARGS again (train replaces a stale staging folder);
    * a run this cluster finished (``DIR/metrics.json`` written since the launch), or no
      ``--output``: no restart.
    """
    from tfdirectspec.distributed import Restart
    from tfdirectspec.training.run_dir import CONFIG_FILE, METRICS_FILE, Run

    target = parsed.resume or parsed.output
    if not target:
        return None
    output = Path(target)
    metrics = output / METRICS_FILE
    before = _mtime(metrics)  # an --overwrite'd run's metrics are not this run's
    first = worker_argv(train_args, timeout)

    def resume() -> Restart | None:
        if _mtime(metrics) != before:
            return None  # the chief committed the run: nothing left to resume
        if parsed.resume:
            return Restart(first)
        staging = Run.staging_folder(output)
        checkpointed = (staging / CONFIG_FILE).is_file() and (staging / CHECKPOINT_STATE).is_file()
        # `train --resume DIR` refuses an existing DIR (an old run that --overwrite would
        # replace): such a run starts over.
        if checkpointed and not output.exists():
            argv = worker_argv(["--resume", str(output), *resume_flags(parsed)], timeout)
            return Restart(argv)
        return Restart(first, from_checkpoint=False)

    return resume


def run(args: argparse.Namespace) -> int:
    from tfdirectspec.distributed import LocalCluster

    if args.workers is None:
        raise InputError(f"--workers N is required: {USAGE}")
    check_positive("workers", args.workers)
    check_positive("cluster_timeout", args.cluster_timeout)
    if args.restarts is not None:
        check_non_negative("restarts", args.restarts)
    # argparse keeps the `--` in front of a REMAINDER: it tells ARGS from our own flags.
    if args.worker[:1] != ["--"]:
        raise InputError(f"put the worker command after --: {USAGE}")
    command = args.worker[1:]
    if not command:
        raise InputError(f"no worker command after --: {USAGE}")
    if command[0] != "train":
        raise InputError(f"cluster runs train only (-- train ARGS), got {command[0]!r}")
    train_args = command[1:]
    parsed = parse_train_args(train_args)
    resume = restart_command(train_args, parsed, args.cluster_timeout)
    restarts = DEFAULT_RESTARTS if args.restarts is None else args.restarts
    if resume is None:
        if args.restarts:
            print(
                "tfdirectspec cluster: no restarts without --output DIR in ARGS "
                "(a restart resumes that run)",
                file=sys.stderr,
            )
        restarts = 0
    cluster = LocalCluster(
        worker_argv(train_args, args.cluster_timeout),
        args.workers,
        resume=resume,
        restarts=restarts,
        peer_timeout=args.cluster_timeout,
    )
    return cluster.run()
