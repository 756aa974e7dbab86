"""Measure the zoo: train every entry that has no current result, one at a time, resumably.

An entry is *current* when a result file named for it has the hash of its resolved
config (``zoo_results.entry_states``; the hash covers only the keys that change a
result, ``tfdirectspec.training.zoo.config_hash``, and is recomputed from the result's
recorded config, so a config key added since does not make it stale), and is not a
``--refit`` result. Every other entry is trained as a
normal run directory, ``<runs>/<entry>``, with
``tfdirectspec train --config models/<entry>.toml --output <runs>/<entry>``; its output
goes to ``<runs>/<entry>.log``. When the run finishes, it is collected into
``models/results/`` and both READMEs' tables are regenerated, before the next entry.

Killing it at any moment and starting it again is safe: result files and READMEs are
written to a temporary name and renamed; the run directory of the entry being trained
is where it was left, and the next start picks it up by its state:

- finished, with the entry's hash: only collected (the kill came before that);
- unfinished (``.<entry>.partial`` with the entry's config): ``tfdirectspec train
  --resume``, from the last epoch checkpoint (a kill loses at most an epoch; iALS and
  EASE^R have no checkpoints and start over);
- from another config (the entry changed): started over (``--overwrite`` for a finished
  run; an unfinished one is replaced by ``train`` itself).

A training that fails is reported and the next entry runs; the exit status is then 1.
SIGTERM or Ctrl-C stops the training too (as does the death of this process, on Linux),
and a lock file keeps a second copy from measuring the same runs folder.

Run: ``python pipelines/release/measure_zoo.py --dry-run``   (the plan: status and command)
     ``nohup python pipelines/release/measure_zoo.py > zoo.log 2>&1 &``
     ``python pipelines/release/measure_zoo.py --only 'citeulike-*' --runs runs/zoo``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import zoo_results
from tfdirectspec.errors import InputError
from tfdirectspec.parameters import ParameterError
from tfdirectspec.training.config import BASELINES
from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.zoo import config_hash

ROOT = Path(__file__).resolve().parents[2]
#: Where the run directories go (``--runs``).
RUNS = ROOT / "runs" / "zoo"
LOCK_FILE = ".measure_zoo.lock"
#: The entries' states that are not measured by running anything.
SKIPPED = ("current", "removed", "invalid")
EXIT_FAILED, EXIT_LOCKED, EXIT_INTERRUPTED = 1, 2, 130


@dataclasses.dataclass(frozen=True)
class Step:
    """What measuring one entry takes.

    Attributes:
        state: the entry against the result files.
        action: ``skip`` (nothing to do), ``collect`` (its run is finished),
            ``resume``, ``overwrite`` (a run of another config is in the way) or ``train``.
        run_dir: the entry's run directory.
    """

    state: zoo_results.EntryState
    action: str
    run_dir: Path

    @property
    def log(self) -> Path:
        """Where the training's output goes: ``<run dir>.log``."""
        return self.run_dir.with_name(self.run_dir.name + ".log")

    def train_args(self) -> list[str]:
        """The arguments of ``tfdirectspec train`` (empty when nothing trains)."""
        if self.action == "resume":
            return ["--resume", str(self.run_dir), "--verbose", "2"]
        if self.action not in ("train", "overwrite"):
            return []
        args = ["--config", str(self.state.path), "--output", str(self.run_dir)]
        return args + ["--verbose", "2"] + (["--overwrite"] if self.action == "overwrite" else [])

    def command(self) -> str:
        """The step as a command line (paths relative to the working folder when inside it)."""
        if self.action == "skip":
            return ""
        if self.action == "collect":
            name = shlex.quote(self.state.name)
            return f"python pipelines/release/zoo_results.py {_shown(self.run_dir)} --name {name}"
        shown = [_shown(Path(a)) if "/" in a else a for a in self.train_args()]
        return "tfdirectspec train " + shlex.join(shown)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def plan(
    models: Path = zoo_results.MODELS, runs: Path = RUNS, only: Sequence[str] = ()
) -> list[Step]:
    """A step per entry of ``models`` (those matching a glob of ``only``, if given)."""
    steps = []
    for state in zoo_results.entry_states(models):
        if only and not any(fnmatch.fnmatchcase(state.name, glob) for glob in only):
            continue
        run_dir = runs / state.name
        steps.append(Step(state, action_for(state, run_dir), run_dir))
    return steps


def action_for(state: zoo_results.EntryState, run_dir: Path) -> str:
    """What measuring ``state``'s entry takes, given what is at ``run_dir`` (module doc)."""
    if state.status in SKIPPED:
        return "skip"
    if run_dir.exists():
        return "collect" if _run_hash(run_dir) == state.config_hash else "overwrite"
    resumable = state.config["loss"] not in BASELINES
    if resumable and _run_hash(run_dir, unfinished=True) == state.config_hash:
        return "resume"
    return "train"


def _run_hash(run_dir: Path, unfinished: bool = False) -> str | None:
    """The config hash of the finished (or the unfinished) run of ``run_dir``; None if none."""
    try:
        run = Run.resume(run_dir) if unfinished else Run.open(run_dir)
        return config_hash(run.config().to_dict())
    except (InputError, ParameterError, OSError, ValueError, KeyError):
        return None


def plan_line(step: Step) -> str:
    """One line of the plan: status, entry, then the command or why nothing runs."""
    state = step.state
    line = f"{state.status:<8} {state.name}"
    if state.note:
        line += f": {state.note}"
    if state.status == "current":
        line += f": {state.result.name}"
    if step.action != "skip":
        line += f"\n         {step.action}: {step.command()}"
    return line


def run_step(step: Step, models: Path, say: Callable[[str], None]) -> bool:
    """Trains (or resumes) the step's entry, collects its run and regenerates the tables.

    Returns whether the entry has a result now.
    """
    if step.action != "collect":
        started = time.monotonic()
        code = train(step)
        minutes = (time.monotonic() - started) / 60
        if code != 0:
            say(
                f"{step.state.name}: training failed (exit {code}) after {minutes:.1f} min; "
                f"see {_shown(step.log)}"
            )
            return False
        say(f"{step.state.name}: trained in {minutes:.1f} min")
    result = zoo_results.collect(step.run_dir, step.state.name, models)
    zoo_results.regenerate(models)
    say(f"{step.state.name}: collected {_shown(result)}; tables regenerated")
    if json.loads(result.read_text())["config_hash"] != step.state.config_hash:
        say(f"{step.state.name}: the entry changed while it trained: its result is stale")
    return True


def train(step: Step) -> int:
    """Runs ``tfdirectspec train`` for the step, its output appended to ``step.log``.

    The training stops with this process: on an exception here (SIGTERM and Ctrl-C
    become one, see :func:`main`) it is terminated; on Linux the kernel sends it SIGTERM
    when this process dies (even by SIGKILL).
    """
    step.run_dir.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tfdirectspec", "train", *step.train_args()]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the log follows the epochs
    with step.log.open("a") as log:
        log.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n")
        log.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        try:
            return process.wait()
        finally:
            _stop(process)


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the parent dies (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    """Terminates ``process`` if it still runs (killed after a minute)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def locked(runs: Path) -> Iterator[bool]:
    """Holds ``<runs>/.measure_zoo.lock``; yields False when another process holds it."""
    import fcntl

    runs.mkdir(parents=True, exist_ok=True)
    with (runs / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def measure(models: Path, runs: Path, only: Sequence[str], say: Callable[[str], None]) -> int:
    """Measures every entry that needs it, re-planning before each (the module doc)."""
    done: set[str] = set()
    failed: list[str] = []
    while True:
        todo = [s for s in plan(models, runs, only) if s.action != "skip"]
        todo = [s for s in todo if s.state.name not in done]
        if not todo:
            break
        step = todo[0]
        say(f"[{len(done) + 1}/{len(done) + len(todo)}] {plan_line(step)}")
        done.add(step.state.name)
        try:
            measured = run_step(step, models, say)
        except Exception as error:  # a run that cannot be collected: say so, go on
            say(f"{step.state.name}: failed: {type(error).__name__}: {error}")
            measured = False
        if not measured:
            failed.append(step.state.name)
    invalid = [s.state.name for s in plan(models, runs, only) if s.state.status == "invalid"]
    say(
        f"done: {len(done) - len(failed)} measured, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + (f"; invalid entries: {', '.join(invalid)}" if invalid else "")
    )
    return EXIT_FAILED if failed or invalid else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="only the entries matching GLOB (repeatable)",
    )
    parser.add_argument(
        "--runs", type=Path, default=RUNS, help="folder of the run directories (default: runs/zoo)"
    )
    parser.add_argument(
        "--models", type=Path, default=zoo_results.MODELS, help="the zoo folder (default: models/)"
    )
    parser.add_argument("--log", type=Path, help="also append the progress lines to LOG")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, flush=True)
        if args.log is not None:
            with args.log.open("a") as log:
                log.write(stamped + "\n")

    if args.dry_run:
        steps = plan(args.models, args.runs, args.only)
        for step in steps:
            print(plan_line(step))
        runs = sum(s.action != "skip" for s in steps)
        print(f"{len(steps)} entries, {runs} to measure (runs in {_shown(args.runs)})")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    with locked(args.runs) as ours:
        if not ours:
            say(f"another measure_zoo holds {_shown(args.runs / LOCK_FILE)}; not starting")
            return EXIT_LOCKED
        try:
            return measure(args.models, args.runs, args.only, say)
        except KeyboardInterrupt:
            say("interrupted; run it again to continue where it stopped")
            return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
