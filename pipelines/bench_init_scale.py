"""How the first epochs of the DirectSpec+ default recipe depend on the initial row norm.

MF's tables start Glorot-uniform (the DirectSpec authors' choice), whose bound
``√(6 / (rows + d))`` shrinks with the table: rows start 3.2× shorter at 10× the users.
DirectSpec+ sees only normalised rows while Adam's step does not depend on the norm,
so a shorter start means larger turns in the first updates. This trains the default
recipe (LazyAdam, no validation split) from the Glorot start multiplied by each of
``--scales`` and reports the test NDCG@20 after each epoch (a seeded sample of
``--eval-users`` users past 50,000) with the mean row norms.

Run from the repository root::

    python pipelines/bench_init_scale.py D --scales 1 3.16 --epochs 2 \\
        --out docs/benchmarks/init_scale_10m.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _mean_norms(tables) -> list[float]:
    return [float(np.linalg.norm(np.asarray(t), axis=1).mean()) for t in tables]


def run(folder: Path, scales: list[float], epochs: int, eval_users: int, seed: int) -> dict:
    import keras

    from tfdirectspec.data.datasets import load_data_dir
    from tfdirectspec.evaluation.ranking import full_ranking_metrics
    from tfdirectspec.training import trainer
    from tfdirectspec.training.config import TrainConfig
    from tfdirectspec.training.lazy_adam import LazyAdamCatchUp
    from tfdirectspec.training.recipes import recipe_config

    data = load_data_dir(folder)
    key = TrainConfig(dataset=None, data_dir=str(folder), loss="directspec+", seed=seed)
    config = recipe_config(key, data, [({"optimizer": "lazy-adam"}, "bench")])
    sampler = trainer.sampler_for(config, data)
    sample = eval_users if data.num_users > 50_000 else None
    report: dict[str, Any] = {"data": data.summary(), "users_sampled": sample, "runs": []}
    for scale in scales:
        keras.utils.set_random_seed(seed)
        model = trainer.build_model(config, data, sampler.steps_per_epoch)
        for variable in model.trainable_variables:
            variable.assign(variable.numpy() * scale)
        row: dict[str, Any] = {"scale": scale, "start_norms": _mean_norms(model.tables())}
        row["epochs"] = []
        stream = sampler.dataset()
        for epoch in range(1, epochs + 1):
            model.fit(
                stream,
                epochs=1,
                steps_per_epoch=sampler.steps_per_epoch,
                callbacks=[LazyAdamCatchUp()],
                verbose=0,
            )
            users, items = (t.numpy() for t in model.tables())
            test = full_ranking_metrics(
                users, items, data.test, exclude=data.train, ks=(20,), sample_users=sample, seed=0
            )
            norms = _mean_norms((users, items))
            row["epochs"].append({"epoch": epoch, "test_ndcg@20": test["ndcg@20"], "norms": norms})
            print(scale, row["epochs"][-1], flush=True)
        report["runs"].append(row)
        keras.backend.clear_session()
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a data folder (train.* and test.*)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.16])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from tfdirectspec import quiet_tensorflow_startup

    quiet_tensorflow_startup()  # no CPU-probe lines on stderr (a no-op once TF is loaded)

    report = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform()},
        **run(args.folder, args.scales, args.epochs, args.eval_users, args.seed),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
