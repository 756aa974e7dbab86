"""Train DirectSpec+ MF on CiteULike with plain Keras: the library without its command line.

Every piece is a public tfdirectspec object; the script is what
``tfdirectspec train`` does, written out:

    files → InteractionData (CSR) → InteractionSampler (tf.data) → model.fit → evaluation

Run: ``python pipelines/examples/train_keras.py --epochs 60`` (add ``--valid-fraction 0.1``
to select the epoch on validation NDCG@20).
"""

from __future__ import annotations

import argparse
import json

import keras

import tfdirectspec as tfd
from tfdirectspec.training import RankingEvaluation
from tfdirectspec.training.trainer import execution_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--valid-fraction", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    data = tfd.load_dataset("citeulike").with_validation(args.valid_fraction, args.seed)
    sampler = tfd.InteractionSampler(data.train, batch_size=256, scheme="user", seed=args.seed)

    model = tfd.RetrievalModel(
        tower=tfd.MFTower(data.num_users, data.num_items, embedding_dim=64, seed=args.seed),
        loss=tfd.DirectSpecPlusLoss(alpha=1.0, tau=3.0, shrink=0.03),
    )
    model.compile(
        optimizer=tfd.make_optimizer("sgd", 180.0, sampler.steps_per_epoch, lr_decay=0.9995),
        # A divisor of the epoch: Keras runs whole executions (see execution_size).
        steps_per_execution=execution_size(sampler.steps_per_epoch, 32),
    )
    evaluation = RankingEvaluation(data.train, data.valid, data.test, every=10)
    model.fit(
        sampler.dataset(),
        epochs=args.epochs,
        steps_per_epoch=sampler.steps_per_epoch,
        callbacks=[evaluation, keras.callbacks.CSVLogger("train_keras_log.csv")],
        verbose=2,
        shuffle=False,
    )
    evaluation.restore_best()  # no-op without a validation split

    users, items = model.tables()
    exclude = [data.train, data.valid]
    print(json.dumps(tfd.full_ranking_metrics(users, items, data.test, exclude=exclude), indent=2))
    print(json.dumps({"erank": tfd.effective_ranks(users.numpy(), items.numpy())}))


if __name__ == "__main__":
    main()
