"""``train --warm-start RUN``: known users and items start from the earlier run's rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfdirectspec import cli
from tfdirectspec.training.warm_start import matches

TRAIN = ["--epochs", "1", "--batch-size", "16", "--dim", "8", "--lr", "2.0", "--shrink", "0.3"]
TRAIN += ["--eval-every", "1", "--ks", "5", "--verbose", "0"]


def _write(folder: Path, train: list[tuple], test: list[tuple]) -> Path:
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in train))
    (folder / "test.tsv").write_text("".join(f"{u}\t{i}\n" for u, i in test))
    return folder


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """An earlier log (users 0-29, items 0-39) and a grown one (users 0-39, items 0-49;
    users 0-29 keep their pairs, new users bring items 40-49)."""
    root = tmp_path_factory.mktemp("warm")
    rng = np.random.default_rng(4)
    pairs = {}
    for user in range(40):
        pool = 40 if user < 30 else 50
        items = rng.choice(pool, 8, replace=False)
        pairs[user] = [int(i) for i in items]
    train = [(u, i) for u in range(40) for i in pairs[u][:6]]
    test = [(u, i) for u in range(40) for i in pairs[u][6:]]
    early = [(u, i) for u, i in train if u < 30]
    early_test = [(u, i) for u, i in test if u < 30]
    earlier = _write(root / "earlier", early, early_test)
    grown = _write(root / "grown", train, test)
    run = root / "run_earlier"
    assert cli.main(["train", "--data-dir", str(earlier), *TRAIN, "--output", str(run)]) == 0
    return {"earlier": earlier, "grown": grown, "run": run, "root": root}


def test_matches_by_raw_id():
    assert matches(np.array([5, 1, 9]), np.array([9, 5])).tolist() == [1, -1, 0]
    assert matches(np.array(["b", "a"]), np.array(["a"])).tolist() == [-1, 0]
    assert matches(np.array([3]), np.array([], dtype=np.int64)).tolist() == [-1]


@pytest.mark.slow
def test_grown_log_trains_and_reports_what_it_kept(logs, capsys):
    out = logs["root"] / "run_warm"
    argv = ["train", "--data-dir", str(logs["grown"]), *TRAIN, "--output", str(out)]
    assert cli.main([*argv, "--warm-start", str(logs["run"])]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    from tfdirectspec.training.run_dir import Run

    earlier_items = len(Run.open(logs["run"]).id_maps()[1])
    warm = metrics["warm_start"]
    assert warm["users_kept"] == 30 and warm["users_new"] == 10
    assert warm["items_kept"] == earlier_items
    assert warm["items_kept"] + warm["items_new"] == metrics["data"]["items"]
    assert metrics["config"]["warm_start"] == str(logs["run"])


def test_known_rows_start_at_the_earlier_runs_values(logs):
    from tfdirectspec.data import load_data_dir
    from tfdirectspec.training.run_dir import Run
    from tfdirectspec.training.trainer import build_model
    from tfdirectspec.training.warm_start import warm_start

    config = Run.open(logs["run"]).config()
    data = load_data_dir(logs["grown"])
    model = build_model(config, data, steps_per_epoch=1)
    fresh = [np.array(t) for t in model.tower.ego_tables()]
    warm_start(model, data, logs["run"])
    users, items = (np.asarray(t) for t in model.tower.ego_tables())
    old_users, old_items = Run.open(logs["run"]).tables()  # MF: the scoring tables are ego
    old_user_ids, old_item_ids = Run.open(logs["run"]).id_maps()
    for new, start, old, new_ids, old_ids in (
        (users, fresh[0], old_users, data.user_ids, old_user_ids),
        (items, fresh[1], old_items, data.item_ids, old_item_ids),
    ):
        position = matches(new_ids, old_ids)
        kept = position >= 0
        np.testing.assert_array_equal(new[kept], old[position[kept]])
        np.testing.assert_array_equal(new[~kept], start[~kept])  # new rows: fresh init
        assert (~kept).any()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--warm-start", "NONE"], "--warm-start"),
        (["--warm-start", "RUN", "--dim", "16"], "has dim 8, this run 16"),
        (["--warm-start", "RUN", "--tower", "lightgcn"], "has tower mf, this run lightgcn"),
    ],
)
def test_bad_warm_start_writes_nothing(logs, tmp_path, capsys, extra, message):
    values = {"NONE": str(tmp_path / "none"), "RUN": str(logs["run"])}
    extra = [values.get(a, a) for a in extra]
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(logs["grown"]), *TRAIN, "--output", str(out), *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []
