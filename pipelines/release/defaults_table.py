"""The README's table of default recipes: DirectSpec+ against BPR on data without a zoo entry.

Runs (or, with ``--collect``, only reads) ``tfdirectspec train --data-dir D --loss L
--valid-fraction 0.1 --seed S`` for every dataset folder and loss given, and prints a
Markdown table: best validation epoch, validation and test NDCG@20, test Recall@20, the
ratio of each loss's test NDCG@20 to BPR's on the same data, and the wall time.
The folders are trained with ``--data-dir`` (so with their loss's default recipe, never a zoo
entry); the README's table adds CiteULike itself from a local copy of its TSV files
(``$TFDIRECTSPEC_DATA/citeulike``, the library's folder of local copies).

    python pipelines/release/build_derived_datasets.py --output derived
    python pipelines/release/defaults_table.py --runs runs/defaults \\
        derived/gowalla-small derived/citeulike-dense derived/citeulike-resplit \\
        "$TFDIRECTSPEC_DATA/citeulike"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tfdirectspec.training.run_dir import Run
from tfdirectspec.training.zoo import loss_slug


def run_name(data_dir: Path, loss: str) -> str:
    return f"{data_dir.name}-{loss_slug(loss)}"


def train(data_dir: Path, loss: str, output: Path, seed: int) -> None:
    argv = [sys.executable, "-m", "tfdirectspec", "train", "--data-dir", str(data_dir)]
    argv += ["--loss", loss, "--valid-fraction", "0.1", "--seed", str(seed)]
    argv += ["--output", str(output), "--verbose", "2"]
    subprocess.run(argv, check=True)


def table(data_dirs: list[Path], losses: list[str], runs: Path) -> str:
    lines = [
        "| data | loss | best epoch (of run) | valid NDCG@20 | test NDCG@20 | test Recall@20 "
        "| × BPR | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data_dir in data_dirs:
        metrics = {loss: Run.open(runs / run_name(data_dir, loss)).metrics() for loss in losses}
        bpr = metrics.get("bpr", {}).get("test", {}).get("ndcg@20")
        for loss, m in metrics.items():
            ndcg = m["test"]["ndcg@20"]
            ratio = f"{ndcg / bpr:.2f}" if bpr else "—"
            lines.append(
                f"| {data_dir.name} | {loss} | {m['best_epoch']} ({m['epochs_run']}) "
                f"| {m['valid']['ndcg@20']:.4f} | {ndcg:.4f} | {m['test']['recall@20']:.4f} "
                f"| {ratio} | {m['wall_seconds'] / 60:.1f} min |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", type=Path)
    parser.add_argument("--runs", type=Path, required=True, help="folder of the run directories")
    parser.add_argument("--losses", nargs="+", default=["directspec+", "bpr"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collect", action="store_true", help="only read finished runs")
    args = parser.parse_args()
    if not args.collect:
        for data_dir in args.data_dirs:
            for loss in args.losses:
                output = args.runs / run_name(data_dir, loss)
                if not output.exists():
                    train(data_dir, loss, output, args.seed)
    print(table(args.data_dirs, args.losses, args.runs))


if __name__ == "__main__":
    main()
