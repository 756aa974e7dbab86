"""``tfdirectspec tune``: hyper-parameter search on validation, then a refit of the winner."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfdirectspec.commands import add_data_flags, add_output_flags, data_flag_values
from tfdirectspec.json_output import to_json
from tfdirectspec.parameters import ParameterError

#: A trial may train this many times the epochs of its loss's recipe (without --epochs).
TRIAL_EPOCHS_FACTOR = 2
#: Trials without --max-trials: this many, or with --time-budget as many as it allows.
DEFAULT_MAX_TRIALS = 10
BUDGET_MAX_TRIALS = 1000

HELP = "search hyper-parameters on a validation split, refit the winner, report test"
DESCRIPTION = (
    "Random search (KerasTuner) over models/search/<loss>.toml on validation NDCG@20, "
    "with the zoo recipe as each loss's first trial, median/patience early stopping and "
    "a wall-clock budget. Writes DIR/trials/, DIR/trials.tsv, DIR/logs (TensorBoard "
    "HParams), DIR/best.toml and DIR/refit (the winner retrained on train+valid for its "
    "best epoch: the only place the test split is read)."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from tfdirectspec.training.config import TOWERS

    p = sub.add_parser("tune", help=HELP, description=DESCRIPTION)
    add_data_flags(
        p,
        valid_help="validation share of each user's train items (default 0.1; must be > 0)",
        valid_default=0.1,
    )
    p.add_argument(
        "--loss",
        default="directspec+",
        help="a loss, a comma list (directspec+,bpr) or 'auto' (every loss with a search space)",
    )
    p.add_argument("--tower", choices=TOWERS, default="mf")
    p.add_argument(
        "--epochs",
        type=int,
        help=f"maximum epochs per trial (default: {TRIAL_EPOCHS_FACTOR}x the recipe's, "
        "which early stopping shortens)",
    )
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs (default: recipe)")
    p.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help=f"trials in total (default {DEFAULT_MAX_TRIALS}; with --time-budget, "
        "as many as the budget allows)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        default=None,
        help="wall clock for the whole tune, refit included (default 0 = none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split, trials and search")
    p.add_argument(
        "--patience",
        type=int,
        default=5,
        help="stop a trial after N evaluations without improvement (0 = off)",
    )
    p.add_argument(
        "--min-peers",
        type=int,
        default=2,
        help="median rule: stop a trial below the median of >= N finished same-loss trials "
        "at the same epoch (0 = off)",
    )
    add_output_flags(
        p,
        output="tune folder (default runs/tune-<time>)",
        resume="continue the tune in DIR (finished trials are kept; --max-trials and "
        "--time-budget may be given again)",
    )
    p.add_argument("--no-refit", action="store_true", help="skip the final refit")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)


#: Flags that may accompany --resume (the search itself comes from DIR/tune.json).
RESUME_FLAGS = ("command", "resume", "max_trials", "time_budget", "no_refit", "verbose")
#: Defaults of the flags that mean "not given" for the --resume check.
_SEARCH_DEFAULTS = {
    "loss": "directspec+",
    "tower": "mf",
    "valid_fraction": 0.1,
    "seed": 0,
    "patience": 5,
    "min_peers": 2,
    "overwrite": False,
}


def resolve_losses(value: str) -> list[str]:
    """``--loss``: one loss, a comma list or ``auto`` → losses with a search space.

    The baselines come first, cheapest first (``ease``, then ``ials``), whatever the
    order given: a closed-form fit takes a minute, and every later trial is then compared
    with it (see :mod:`tfdirectspec.tuning.halving`).
    """
    from tfdirectspec.errors import InputError
    from tfdirectspec.training.config import BASELINES, LOSSES
    from tfdirectspec.tuning.space import losses_with_space

    if value.strip() == "auto":
        losses = losses_with_space()
    else:
        losses = [name.strip() for name in value.split(",") if name.strip()]
        if not losses:
            raise InputError("--loss: give a loss, a comma list or 'auto'")
        for name in losses:
            if name not in LOSSES:
                known = ", ".join(LOSSES)
                raise InputError(f"--loss: unknown loss {name!r} (known: {known}, auto)")
        if len(set(losses)) != len(losses):
            raise InputError(f"--loss: a loss is listed twice in {value!r}")
    first = [name for name in CHEAPEST_FIRST if name in losses]
    return first + [name for name in losses if name not in BASELINES]


#: Scheduling order of the baselines in a tune: the closed form, then ALS.
CHEAPEST_FIRST = ("ease", "ials")


def usable_losses(losses: list[str], data, auto: bool, log=None) -> list[str]:
    """``losses`` without the baselines that cannot run here.

    EASE^R needs its items × items matrix in memory; iALS the ``implicit`` library. With
    ``--loss auto`` such a baseline is left out with a line on stderr; named explicitly
    it is a one-line error.
    """
    from tfdirectspec.errors import InputError

    kept = []
    for loss in losses:
        try:
            if loss == "ease":
                from tfdirectspec.baselines.ease import check_ease_fits

                check_ease_fits(data.train)
            elif loss == "ials":
                from tfdirectspec.baselines.ials import _implicit_als

                _implicit_als()
        except InputError as error:
            if not auto:
                raise
            (log or (lambda line: print(line, file=sys.stderr)))(
                f"tune: --loss auto leaves out {loss}: {error}"
            )
            continue
        kept.append(loss)
    return kept


def new_settings(args: argparse.Namespace, data):
    """The settings of a new tune: each loss's zoo entry or default recipe + the flags, and
    its search space."""
    from tfdirectspec.errors import InputError
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.recipes import resolve_config
    from tfdirectspec.training.zoo import entry_name
    from tfdirectspec.tuning import settings as tune_settings
    from tfdirectspec.tuning.space import load_space, space_path

    if not args.valid_fraction or args.valid_fraction <= 0:
        raise InputError("--valid-fraction must be > 0: tuning selects on validation")
    for flag in ("max_trials", "epochs", "eval_every"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise InputError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    for flag in ("patience", "min_peers"):
        if getattr(args, flag) < 0:
            raise InputError(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    flags = {
        **data_flag_values(args),
        "tower": args.tower,
        "valid_fraction": args.valid_fraction,
        "seed": args.seed,
        "track_test": False,
    }
    for key in ("epochs", "eval_every"):
        if getattr(args, key) is not None:
            flags[key] = getattr(args, key)
    spaces, base = {}, {}
    losses = usable_losses(resolve_losses(args.loss), data, args.loss.strip() == "auto")
    for loss in losses:
        spaces[loss] = load_space(space_path(loss), loss)
        given = {**flags, "loss": loss, "time_budget": 0.0}
        key = TrainConfig().updated(given, "flags")
        config = resolve_config(key, data, [(given, "flags")])
        if args.epochs is None and loss != "ease":  # EASE^R: one fit
            # The recipe's length is what its own learning rate needs; the space goes
            # 10x lower. Patience and the median rule end a trial that stops improving.
            config.epochs *= TRIAL_EPOCHS_FACTOR
        config.name = entry_name(
            config.dataset or Path(config.data_dir).name, config.tower, config.loss
        )
        base[loss] = config.check_complete()
    max_trials = args.max_trials or (BUDGET_MAX_TRIALS if args.time_budget else DEFAULT_MAX_TRIALS)
    return tune_settings.new_settings(
        spaces, base, max_trials, args.seed, args.patience, args.min_peers
    )


def _data_of(args: argparse.Namespace):
    """The data the flags name, split as the trials will see it (read before the search)."""
    from tfdirectspec.training.config import TrainConfig, load_data

    if not args.valid_fraction or args.valid_fraction <= 0:
        raise ParameterError("valid_fraction", "must be > 0: tuning selects on validation")
    names = {**data_flag_values(args), "seed": args.seed}
    return load_data(TrainConfig().updated(names, "flags").validate())


def run(args: argparse.Namespace) -> int:
    import time

    started = time.perf_counter()  # --time-budget counts the data loading too
    from tfdirectspec.errors import InputError
    from tfdirectspec.tuning import tuner

    if args.time_budget is not None and args.time_budget < 0:
        raise InputError(f"--time-budget must be >= 0 minutes, got {args.time_budget}")
    settings, output = _resumed_tune(args) if args.resume else _new_tune(args)

    from tfdirectspec.training.config import load_data

    data = load_data(settings.config(settings.losses[0]))
    _print_start(args, settings, data, output)
    result = tuner.run_tune(
        output,
        settings,
        data,
        time_budget=args.time_budget or 0.0,
        resume=bool(args.resume),
        refit=not args.no_refit,
        verbose=args.verbose,
        log=lambda line: print(line, file=sys.stderr),
        started=started,
    )
    from tfdirectspec.tuning.tables import format_table

    print(format_table((output / tuner.TABLE_FILE).read_text()))
    if result.best is None:
        print("tfdirectspec: no trial produced a validation result", file=sys.stderr)
        return 1
    print(to_json(_summary(result, output), indent=2))
    return 0


def _resumed_tune(args: argparse.Namespace):
    """``--resume DIR``: the saved settings (with a new ``--max-trials``) and ``DIR``."""
    from tfdirectspec.errors import InputError
    from tfdirectspec.tuning.settings import read_settings

    given = [
        k
        for k, v in vars(args).items()
        if k not in RESUME_FLAGS and v is not None and v != _SEARCH_DEFAULTS.get(k)
    ]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise InputError(f"--resume continues the saved search; drop {flag}")
    output = Path(args.resume)
    settings = read_settings(output)
    if args.max_trials is not None:
        if args.max_trials <= 0:
            raise InputError(f"--max-trials must be positive, got {args.max_trials}")
        settings.max_trials = args.max_trials
    return settings, output


def _new_tune(args: argparse.Namespace):
    """A new tune: its settings from the flags, and its folder (an old one removed with
    ``--overwrite``)."""
    import shutil
    import time

    from tfdirectspec.errors import InputError

    settings = new_settings(args, _data_of(args))
    output = Path(args.output or f"runs/tune-{time.strftime('%Y%m%d-%H%M%S')}")
    if output.exists():
        if not args.overwrite:
            raise InputError(
                f"--output: {output} exists (use --resume {output} to continue it, "
                "or --overwrite to replace it)"
            )
        shutil.rmtree(output)
    return settings, output


def _print_start(args: argparse.Namespace, settings, data, output: Path) -> None:
    """The line on stderr that says what the tune compares, on what, for how long."""
    print(
        f"tune: {', '.join(settings.losses)} on {data.name or 'data'} "
        f"({data.num_train} train / {data.num_valid} valid interactions), "
        + (
            f"trials until {args.time_budget:g} min are spent"
            if args.time_budget and settings.max_trials == BUDGET_MAX_TRIALS
            else f"up to {settings.max_trials} trials"
            + (f", {args.time_budget:g} min" if args.time_budget else "")
        )
        + f" -> {output}",
        file=sys.stderr,
    )


def _summary(result, output: Path) -> dict:
    """What the command prints: the winner, its validation metrics and its refit's test."""
    from tfdirectspec.tuning import tuner

    summary = {
        "output": str(output),
        "best_trial": result.best.trial_id,
        "loss": result.best.loss,
        "hyperparameters": result.best.hyperparameters,
        "best_epoch": result.best.best_epoch,
        "valid": {k: v for k, v in result.best.valid.items() if "@" in k},
        "best_config": str(output / tuner.BEST_FILE),
    }
    if result.refit_metrics is not None:
        summary["refit"] = str(output / tuner.REFIT_DIR)
        summary["test"] = result.refit_metrics["test"]
    return summary
