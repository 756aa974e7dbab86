"""``tfdirectspec train``: train a model, evaluate it, write a run directory."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tfdirectspec.commands import add_data_flags, add_output_flags
from tfdirectspec.commands.hyperparameter_flags import add_hyperparameter_flags
from tfdirectspec.distributed.cluster_spec import DEFAULT_CLUSTER_TIMEOUT, STRATEGIES, ClusterSpec
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import ParameterError, check_multi_worker, check_positive

EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and evaluate it")
    add_data_flags(
        p, valid_help="validation share of each user's train items (0 = authors' protocol)"
    )
    # The groups in the order `--help` lists them (and a --resume error names the first).
    _add_model_flags(p)
    _add_optimisation_flags(p)
    _add_evaluation_flags(p)
    _add_run_control_flags(p)
    _add_run_dir_flags(p)
    _add_execution_flags(p)
    _add_diagnostic_flags(p)


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    """``--config`` and the model: tower and loss (their hyper-parameters: below)."""
    from tfdirectspec.training.config import LOSSES, TOWERS

    p.add_argument("--config", help="a TOML file of training keys (overrides the zoo entry)")
    p.add_argument("--tower", choices=TOWERS)
    p.add_argument("--loss", choices=LOSSES)


def _add_optimisation_flags(p: argparse.ArgumentParser) -> None:
    """Epochs, batches, optimiser, the towers' and losses' hyper-parameters, seed."""
    from tfdirectspec.training.config import OPTIMIZERS, SAMPLERS

    p.add_argument("--epochs", type=int, help="epochs (ials: ALS iterations; ease: one fit)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-decay", type=float, help="per-epoch learning-rate factor")
    add_hyperparameter_flags(p)  # --dim, --layers, --alpha, --tau…: from the classes
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--seed", type=int)


def _add_evaluation_flags(p: argparse.ArgumentParser) -> None:
    """When and on what the run evaluates: period, cut-offs, user sample, test curves,
    and how it scores (the item-norm exponent and its calibration)."""
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs")
    p.add_argument("--ks", type=int, nargs="+", help="cut-offs K (default 10 20)")
    p.add_argument(
        "--eval-users",
        type=int,
        metavar="N",
        help="evaluate a sample of N users (fixed by --seed) and report 95%% intervals "
        "(default: all users, exact)",
    )
    p.add_argument(
        "--track-test",
        action="store_true",
        default=None,
        help="also log test metrics at each evaluation (curves only)",
    )
    p.add_argument(
        "--item-norm-exponent",
        type=float,
        metavar="G",
        help="score with u · î · ‖i‖^G (default 1: the raw dot product)",
    )
    p.add_argument(
        "--calibrate-item-norms",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose --item-norm-exponent on the validation split after training",
    )


def _add_run_control_flags(p: argparse.ArgumentParser) -> None:
    """The other training keys: budget, filter blocks, patience, steps, threads, warm start."""
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="stop at the last epoch boundary that keeps training within MINUTES (0 = none)",
    )
    p.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="with a validation split, stop after N evaluations without a new best (0 = off)",
    )
    p.add_argument("--steps-per-execution", type=int)
    p.add_argument(
        "--num-threads",
        type=int,
        help="ials: implicit's threads (default 1; 0 = all cores)",
    )
    p.add_argument(
        "--warm-start",
        metavar="RUN",
        help="start from a finished run's rows for the users and items it knew (matched by "
        "raw id; new ones start fresh): a model that grows with its log",
    )


def _add_run_dir_flags(p: argparse.ArgumentParser) -> None:
    """Where the run goes (``--output``, ``--overwrite``, ``--resume``), ``--refit``, verbosity."""
    add_output_flags(
        p,
        output="run directory to write (default runs/<name>-<time>)",
        resume="continue the interrupted run whose --output was DIR from its last checkpoint "
        "(same config, same batch stream)",
    )
    p.add_argument(
        "--refit",
        action="store_true",
        help="after choosing the epoch on validation, retrain on train+valid for that many "
        "epochs and report that model's test metrics (needs --valid-fraction > 0)",
    )
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None)


def _add_execution_flags(p: argparse.ArgumentParser) -> None:
    """Execution (not training keys: see EXECUTION_FLAGS)."""
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="default: one device; mirrored: this machine's devices; multi-worker: the "
        "processes TF_CONFIG lists (see `tfdirectspec cluster`). --batch-size is the global batch",
    )
    p.add_argument(
        "--cluster-timeout",
        type=float,
        metavar="SECONDS",
        help=f"multi-worker: how long every peer may take to come up "
        f"(default {DEFAULT_CLUSTER_TIMEOUT:g})",
    )


def _add_diagnostic_flags(p: argparse.ArgumentParser) -> None:
    """Diagnostics (not training keys: see DIAGNOSTIC_FLAGS)."""
    p.add_argument(
        "--no-spectrum",
        action="store_true",
        help="do not write spectrum summaries (effective rank etc.) to TensorBoard",
    )
    p.add_argument(
        "--spectrum-every",
        type=int,
        metavar="N",
        help="write spectrum summaries every N epochs (default: the evaluation period)",
    )
    p.add_argument(
        "--projector",
        action="store_true",
        help="export the final embeddings and ids for the TensorBoard projector",
    )


#: Flags of the diagnostics callbacks, which are not TrainConfig keys.
DIAGNOSTIC_FLAGS = ("no_spectrum", "spectrum_every", "projector")
#: Flags of where and how the run executes: they do not change its result.
EXECUTION_FLAGS = ("strategy", "cluster_timeout")


def resolve_config(args: argparse.Namespace):
    """The run's config and data (``--resume``: the run's saved config).

    Precedence: built-in defaults < the zoo entry of (dataset, tower, loss), or for data
    without one its loss's default recipe (derived from the data) < ``--config`` file < flags.
    The data is read here, before TensorFlow loads, since a default recipe depends on it.
    """
    from tfdirectspec.training.config import TrainConfig, load_data, read_config_file
    from tfdirectspec.training.recipes import resolve_config as resolve
    from tfdirectspec.training.zoo import entry_name

    if getattr(args, "resume", None):
        config = resumed_config(args)
        return config, load_data(config)

    skip = {"command", "config", "output", "overwrite", "verbose", "refit"}
    skip.update(DIAGNOSTIC_FLAGS, EXECUTION_FLAGS)
    flags = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    if "data_dir" in flags:
        flags["dataset"] = None
    source = args.config or "config"
    file_values = read_config_file(args.config) if args.config else {}
    given = [(file_values, source), (flags, "flags")]
    key = TrainConfig().updated(file_values, source).updated(flags, "flags").validate()
    data = load_data(key)  # the data keys are the user's; zoo entries and recipes have none
    config = resolve(key, data, given)  # the resolver tfdirectspec.train uses too
    if not config.name:
        config.name = entry_name(
            config.dataset or Path(config.data_dir).name, config.tower, config.loss
        )
    return config.check_complete(), data


def run(args: argparse.Namespace) -> int:
    # Reads and checks the data, the cluster and the output before TensorFlow loads:
    # bad input fails in a moment, on every worker alike, with nothing written.
    config, data, read_seconds = _checked_inputs(args)
    strategy_name, timeout, cluster = _cluster_of(args, config)
    chief = cluster is None or cluster.is_chief
    target = _checked_target(args, config)

    from tfdirectspec.distributed.strategies import make_strategy

    strategy = make_strategy(strategy_name, timeout)
    with contextlib.ExitStack() as cleanup:
        run_dir = _open_run_dir(args, target, chief, cleanup)
        checkpoint = None
        try:
            if not args.resume:
                run_dir.write_config(config)  # what `--resume` continues with
            from tfdirectspec.training.checkpoint import EpochCheckpoint

            # Atomic epoch-end checkpoints (weights, optimizer state, epoch). They make a
            # resumed run exact: the sampler is stateless, so train(initial_epoch=...)
            # continues with the batches an uninterrupted run would have drawn.
            checkpoint = EpochCheckpoint(run_dir.checkpoint_dir)
            result = _train(args, config, data, run_dir, checkpoint, strategy, chief, read_seconds)
        except BaseException as error:
            if _interrupted(error, run_dir, checkpoint, target, cluster, chief):
                return EXIT_FAILED
            raise
    return _report(result, run_dir, chief)


def _checked_inputs(args: argparse.Namespace):
    """The run's config and data, checked; and the seconds reading the data took."""
    if args.eval_users is not None:
        # 0 means "all users" in a config file; as a flag it can only be a mistake.
        check_positive("eval_users", args.eval_users)
    read_started = time.perf_counter()
    config, data = resolve_config(args)
    read_seconds = time.perf_counter() - read_started
    if args.spectrum_every is not None:
        check_positive("spectrum_every", args.spectrum_every)
    check_baseline(config, data, args)
    if config.warm_start and not args.resume:
        from tfdirectspec.training.warm_start import check_warm_start

        check_warm_start(config)
    if args.refit:
        from tfdirectspec.training.refit import check_refit

        check_refit(config)
    return config, data, read_seconds


def _cluster_of(args: argparse.Namespace, config):
    """The strategy's name, the cluster timeout, and the cluster (multi-worker only)."""
    strategy_name = args.strategy or "default"
    timeout = DEFAULT_CLUSTER_TIMEOUT if args.cluster_timeout is None else args.cluster_timeout
    check_positive("cluster_timeout", timeout)
    cluster = ClusterSpec.from_env() if strategy_name == "multi-worker" else None
    if cluster is not None:
        check_multi_worker(config.time_budget)
    return strategy_name, timeout, cluster


def _checked_target(args: argparse.Namespace, config) -> str:
    """The run directory: ``--resume DIR`` (an interrupted run) or a new ``--output``."""
    from tfdirectspec.training.run_dir import Run

    default = f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    target = args.resume or args.output or default
    if args.resume:
        Run.resume(target)
    else:
        Run.check_target(target, overwrite=args.overwrite)
    return target


def _open_run_dir(args: argparse.Namespace, target: str, chief: bool, cleanup):
    """The chief's run directory; another worker's private copy (removed by ``cleanup``)."""
    from tfdirectspec.training.run_dir import Run

    if chief:
        return Run.resume(target) if args.resume else Run.create(target, args.overwrite)
    # Only the chief writes the run; this worker keeps its state in a private copy.
    scratch = tempfile.mkdtemp(prefix="tfdirectspec-worker-")
    cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
    return Run.worker_copy(target, scratch, resume=bool(args.resume))


def _interrupted(error: BaseException, run_dir, checkpoint, target, cluster, chief) -> bool:
    """Cleans up after a failed run and says how; True: a peer failed (exit, no traceback).

    Without a checkpoint to resume from, the chief removes the run directory.
    """
    resumable = checkpoint is not None and checkpoint.completed_epochs() > 0
    if chief and not resumable:
        run_dir.abort()
    then = (
        f"continue it with: tfdirectspec train --resume {target}"
        if resumable
        else "nothing to resume"
    )
    if cluster is not None and _peer_failure(error):
        # The usual end of a worker whose peer died: one line, not a traceback.
        reason = _peer_failure_reason(error)
        print(f"tfdirectspec: a worker of the cluster failed ({reason}); {then}",
              file=sys.stderr)  # fmt: skip
        return True
    if chief and resumable:
        print(f"tfdirectspec: run interrupted; {then}", file=sys.stderr)
    return False


def _report(result, run_dir, chief: bool) -> int:
    """Prints the run's summary (the chief) or why training stopped; the exit status."""
    if result.failure:
        print(f"tfdirectspec: training stopped: {result.failure}", file=sys.stderr)
        return EXIT_FAILED
    if chief:
        print(to_json(_summary(run_dir, result.metrics), indent=2))
    return 0


def check_baseline(config, data, args: argparse.Namespace) -> None:
    """The baselines' own rules, checked before anything is written or TensorFlow loads.

    iALS needs the optional ``implicit`` library; EASE^R needs its items × items matrix to
    fit in memory; neither runs under a distribution strategy or resumes from checkpoints.
    """
    from tfdirectspec.training.config import BASELINES

    if config.loss not in BASELINES:
        return
    if (args.strategy or "default") != "default":
        raise ParameterError(
            "strategy", f"applies to the embedding losses; loss {config.loss} runs on one process"
        )
    if getattr(args, "resume", None):
        raise ParameterError(
            "resume", f"does not apply to loss {config.loss} (no checkpoints: train it again)"
        )
    if config.warm_start:
        raise ParameterError(
            "warm_start", f"applies to the embedding losses; loss {config.loss} fits from scratch"
        )
    if config.loss == "ials":
        from tfdirectspec.baselines.ials import _implicit_als

        _implicit_als()
    else:
        from tfdirectspec.baselines.ease import check_ease_fits

        check_ease_fits(data.train)


def _peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is how TensorFlow reports a lost or timed-out peer."""
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
    return isinstance(error, lost)


def _peer_failure_reason(error: BaseException) -> str:
    """The line of a TensorFlow error that says what happened to the peer."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = ("peer", "unhealthy", "heartbeat", "deadline", "timed out", "timeout", "connection")
    said = next((line for line in lines if any(w in line.lower() for w in telling)), None)
    return f"{type(error).__name__}: {said[:160]}" if said else type(error).__name__


def _summary(run_dir, m: dict) -> dict:
    """What the command prints: where the run is and its headline figures."""
    summary = {
        "output": str(run_dir.path),
        "test": m["test"],
        "valid": m["valid"],
        "best_epoch": m["best_epoch"],
        "seconds_per_epoch": m["seconds_per_epoch"],
        "erank": m["erank"],
        "stage_seconds": m.get("stage_seconds", {}),
        "peak_rss_mb": m.get("peak_rss_mb"),
    }
    if "selection" in m:  # --refit: the epoch and validation metrics it was chosen by
        summary["selection"] = {k: m["selection"][k] for k in ("best_epoch", "valid")}
    return summary


def _train(
    args: argparse.Namespace,
    config,
    data,
    run_dir,
    checkpoint,
    strategy,
    chief: bool,
    read_seconds: float = 0.0,
):
    """Trains with the run's checkpoints and diagnostics, then commits the run directory.

    A non-chief worker trains alike (it takes part in every collective) but adds
    no logging callbacks and does not commit its private copy of the run.
    """
    from tfdirectspec.distributed.strategies import barrier
    from tfdirectspec.training.config import BASELINES
    from tfdirectspec.training.refit import refit_after, without_test
    from tfdirectspec.training.trainer import train

    verbose = "auto" if args.verbose is None else args.verbose
    callbacks = [checkpoint]
    if chief:
        callbacks += extra_callbacks(args, run_dir, config, data)
    if config.loss in BASELINES:
        # No Keras fit: no epoch checkpoints (a killed baseline run is rerun, it is
        # short), no TensorBoard or spectrum callbacks; the curve is in metrics.json.
        callbacks = []
    with strategy.scope():  # the refit trains under the same strategy
        result = train(
            config,
            # --refit: the selection run never sees test; the refit is the run's result.
            data=without_test(data) if args.refit else data,
            callbacks=callbacks,
            verbose=verbose if chief else 0,
            initial_epoch=checkpoint.completed_epochs(),
            state_dir=run_dir.evaluation_dir,
        )
        if args.refit:
            result = refit_after(result, config, data, verbose=verbose if chief else 0)
    # Outside the scope: a variable Keras creates while saving would otherwise be a
    # mirrored one, whose initial value every worker must take part in broadcasting.
    if chief:
        stages = result.metrics.setdefault("stage_seconds", {})
        # Reading the files, mapping ids and building the CSR matrices (and the split).
        result.metrics["stage_seconds"] = {"read_data": read_seconds, **stages}
        run_dir.commit(result.model, result.metrics, result.data)
    barrier(strategy)  # every worker exits once the run is in place
    return result


def extra_callbacks(args: argparse.Namespace, run_dir, config, data) -> list:
    """Callbacks the command adds to the library's own (logging, diagnostics).

    The Keras ``TensorBoard`` callback writes loss and the ``val_*`` ranking metrics under
    ``logs/train`` and ``logs/validation``; :class:`SpectrumSummary` writes the
    ``spectrum/*`` tags under ``logs/spectrum`` (unless ``--no-spectrum``), every
    ``--spectrum-every`` epochs (default: the evaluation period); ``--projector`` exports
    the final embeddings for the projector.
    """
    import keras

    from tfdirectspec.diagnostics import ProjectorExport, SpectrumSummary

    callbacks = [
        keras.callbacks.TensorBoard(str(run_dir.logdir), write_graph=False, profile_batch=0)
    ]
    if not args.no_spectrum:
        every = args.spectrum_every or config.eval_every
        callbacks.append(SpectrumSummary(run_dir.logdir, every=every, train=data.train))
    if args.projector:
        callbacks.append(
            ProjectorExport(run_dir.logdir, ids=lambda: (data.user_ids, data.item_ids))
        )
    return callbacks


#: Flags that may accompany ``--resume`` (they do not change the training).
RESUME_FLAGS = ("command", "resume", "verbose", "refit", *DIAGNOSTIC_FLAGS, *EXECUTION_FLAGS)


def resumed_config(args: argparse.Namespace):
    """The saved config of the interrupted run ``--resume DIR``.

    Raises:
        InputError: training flags given with ``--resume``, a finished run at
            ``DIR``, or no interrupted run of ``DIR``.
    """
    from tfdirectspec.training.run_dir import Run

    given = [
        k
        for k, v in vars(args).items()
        if k not in RESUME_FLAGS and v is not None and v is not False
    ]
    if given:
        raise ParameterError(
            "resume", f"continues with the run's saved config; drop {given[0]}", related=given[:1]
        )
    return Run.resume(args.resume).config()
