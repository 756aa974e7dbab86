"""A log as it comes out of a production system: header, quoted string ids, a timestamp.

Reading (columns by name or index, id types, CSV/TSV/Parquet through one path), temporal
splits, the Python entry points (``from_pandas``, ``from_csr``, ``tfd.train`` on in-memory
data, one resolver), and bad inputs: each one stderr line, exit 2, nothing written.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

import tfdirectspec as tfd
from tfdirectspec.cli import main
from tfdirectspec.commands.train import resolve_config as cli_resolve_config
from tfdirectspec.data import InteractionData, load_data_dir
from tfdirectspec.data.readers import read_log
from tfdirectspec.errors import InputError
from tfdirectspec.json_output import to_json
from tfdirectspec.training.config import TrainConfig, load_data
from tfdirectspec.training.recipes import resolve_for_data

COLUMNS = "user_id,item_id,timestamp"
T0 = 1_700_000_000


def _log_rows(users: int = 12, per_user: int = 10, seed: int = 0) -> list[tuple[str, str, int]]:
    """``(user, item, epoch seconds)`` rows, distinct pairs, times distinct per user."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        items = rng.choice(40, size=per_user, replace=False)
        times = T0 + rng.permutation(per_user) * 3600 + u
        rows += [(f"u{u}", f"item {i}", int(t)) for i, t in zip(items, times, strict=True)]
    return rows


def _write_csv(folder, rows, name="train.csv", duplicate=True) -> None:
    """A header CSV with quoted string ids; ``duplicate`` repeats u0's first pair later."""
    lines = [COLUMNS] + [f'"{u}","{i}",{t}' for u, i, t in rows]
    if duplicate:
        u, i, t = rows[0]
        lines.append(f'"{u}","{i}",{t + 10**6}')  # seen again, later: keeps its first time
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


@pytest.fixture()
def log_dir(tmp_path):
    folder = tmp_path / "D"
    _write_csv(folder, _log_rows())
    return folder


# --- reading ------------------------------------------------------------------------------


def test_header_csv_with_quoted_string_ids_is_read_as_written(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        'user_id,item_id,timestamp\n"u1","b, ""2""",2024-01-02T10:00:00Z\n'
        '"u1","i1",2024-01-01\n"u2","i1",1970-01-01T00:00:00\n'
    )
    log = read_log(path, columns=COLUMNS)
    assert log.users.to_pylist() == ["u1", "u1", "u2"]  # no quotes, no header row
    assert log.items.to_pylist() == ['b, "2"', "i1", "i1"]
    assert log.times.tolist() == [1704189600.0, 1704067200.0, 0.0]


def test_duplicates_collapse_keeping_the_earliest_time(log_dir):
    rows = _log_rows()
    data = load_data_dir(log_dir, columns=COLUMNS)
    assert data.num_train == len(rows)  # the repeated pair counts once
    assert data.user_ids.dtype.kind == "U" and "u0" in data.user_ids.tolist()
    u, i, t = rows[0]
    row, col = data.user_index([u])[0], data.item_index([i])[0]
    start, end = data.train.indptr[row], data.train.indptr[row + 1]
    where = start + np.flatnonzero(data.train.indices[start:end] == col)[0]
    assert data.train_time[where] == t


def test_columns_by_name_and_by_index_agree(tmp_path):
    folder = tmp_path / "D"
    rows = _log_rows(users=4)
    # Columns in another order, plus one that is not read.
    lines = ["rating,timestamp,item_id,user_id"] + [f"5,{t},{i},{u}" for u, i, t in rows]
    folder.mkdir()
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    by_name = read_log(folder / "train.csv", columns="user_id,item_id,timestamp")
    by_index = read_log(folder / "train.csv", columns="3,2,1")
    assert by_name.users.to_pylist() == by_index.users.to_pylist() == [r[0] for r in rows]
    assert by_name.items.to_pylist() == [r[1] for r in rows]
    np.testing.assert_array_equal(by_name.times, by_index.times)


def test_id_type_auto_int_and_str(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item\n7,15\n8,015\n")
    assert read_log(path).users.tolist() == [7, 8]  # every id an integer: integers
    assert read_log(path, id_type="str").items.to_pylist() == ["15", "015"]
    path.write_text("user,item\n7,15\nu8,15\n")
    assert read_log(path).users.to_pylist() == ["7", "u8"]  # one is not: strings
    with pytest.raises(InputError, match=r"log\.csv:3: user id 'u8' is not a non-negative"):
        read_log(path, id_type="int")


def test_header_detection_and_its_override(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer,product\nc1,p1\nc2,p2\n")  # header words
    assert read_log(path).users.to_pylist() == ["c1", "c2"]
    assert read_log(path, header=False).users.to_pylist() == ["customer", "c1", "c2"]
    path.write_text("alpha,beta\nc1,p1\n")  # cannot be told from data: --header says so
    assert read_log(path).users.to_pylist() == ["alpha", "c1"]
    assert read_log(path, header=True).users.to_pylist() == ["c1"]


def test_tsv_and_parquet_go_through_the_same_path(tmp_path):
    rows = _log_rows(users=5)
    csv_dir, tsv_dir, parquet_dir = (tmp_path / name for name in ("csv", "tsv", "parquet"))
    _write_csv(csv_dir, rows, duplicate=False)
    tsv_dir.mkdir()
    (tsv_dir / "train.tsv").write_text("".join(f"{u}\t{i}\t{t}\n" for u, i, t in rows))
    parquet_dir.mkdir()
    table = pa.table(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": pa.array([r[2] * 10**6 for r in rows], pa.timestamp("us")),
        }
    )
    pq.write_table(table, parquet_dir / "train.parquet")
    loaded = [
        load_data_dir(csv_dir, columns=COLUMNS),
        load_data_dir(tsv_dir, columns="0,1,2"),  # no header
        load_data_dir(parquet_dir, columns=COLUMNS),
    ]
    for data in loaded[1:]:
        assert data.user_ids.tolist() == loaded[0].user_ids.tolist()
        assert data.item_ids.tolist() == loaded[0].item_ids.tolist()
        assert (data.train != loaded[0].train).nnz == 0
        np.testing.assert_array_equal(data.train_time, loaded[0].train_time)


# --- splits -------------------------------------------------------------------------------


def _latest_per_user(data: InteractionData, part: str) -> None:
    """Every held-out item of a user is later than each of the user's train items."""
    held, held_time = getattr(data, part), getattr(data, f"{part}_time")
    for u in range(data.num_users):
        train_t = data.train_time[data.train.indptr[u] : data.train.indptr[u + 1]]
        out_t = held_time[held.indptr[u] : held.indptr[u + 1]]
        if len(out_t):
            assert out_t.min() > train_t.max()


def test_split_time_holds_out_each_users_latest_items(log_dir):
    config = TrainConfig(
        dataset=None, data_dir=str(log_dir), columns=COLUMNS, split="time",
        test_fraction=0.2, valid_fraction=0.1,
    )  # fmt: skip
    data = load_data(config)
    assert data.num_test == 12 * 2 and data.num_valid == 12 * 1
    _latest_per_user(data, "test")
    _latest_per_user(data, "valid")
    assert data.split_info["test"] == {"method": "time", "fraction": 0.2, "seed": 0}


def test_cutoff_is_one_global_cut(log_dir):
    cutoff = T0 + 7 * 3600
    config = TrainConfig(
        dataset=None, data_dir=str(log_dir), columns=COLUMNS, split="time", cutoff=str(cutoff)
    )
    data = load_data(config)
    assert data.test_time.min() >= cutoff > data.train_time.max()
    iso = TrainConfig(
        dataset=None, data_dir=str(log_dir), columns=COLUMNS, split="time",
        cutoff="2023-11-15T05:13:20Z",  # T0 + 7 h
    )  # fmt: skip
    assert (load_data(iso).test != data.test).nnz == 0


def test_random_split_is_seeded(log_dir):
    config = TrainConfig(dataset=None, data_dir=str(log_dir), columns=COLUMNS, test_fraction=0.3)
    first, again = load_data(config), load_data(config)
    assert (first.test != again.test).nnz == 0 and first.num_test > 0


# --- Python entry points ------------------------------------------------------------------


def test_from_pandas_and_from_csr():
    rows = _log_rows(users=3, per_user=4)
    frame = pd.DataFrame(rows, columns=["customer", "product", "when"])
    frame["when"] = pd.to_datetime(frame["when"], unit="s")
    data = InteractionData.from_pandas(frame, user="customer", item="product", time="when")
    assert data.num_train == 12 and data.user_ids.tolist() == ["u0", "u1", "u2"]
    assert data.train_time.min() >= T0
    with pytest.raises(InputError, match="no user column 'user'"):
        InteractionData.from_pandas(frame)
    matrix = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    data = InteractionData.from_csr(matrix, user_ids=["b", "a"], item_ids=["x", "y", "z"])
    assert data.user_ids.tolist() == ["a", "b"]
    assert data.train.toarray().tolist() == [[0, 1, 0], [1, 0, 1]]


def test_trainconfig_resolves_as_the_cli_does(log_dir):
    from tfdirectspec.cli import build_parser

    args = build_parser().parse_args(
        ["train", "--data-dir", str(log_dir), "--columns", COLUMNS, "--test-fraction", "0.2",
         "--loss", "bpr"]
    )  # fmt: skip
    cli_config, data = cli_resolve_config(args)
    python = resolve_for_data(TrainConfig(loss="bpr", test_fraction=0.2, columns=COLUMNS), data)
    assert python.optimizer != "sgd" and python.lr != TrainConfig().lr  # not dataclass defaults
    skip = {"dataset", "data_dir", "name"}
    cli_values = {k: v for k, v in cli_config.to_dict().items() if k not in skip}
    assert {k: v for k, v in python.to_dict().items() if k not in skip} == cli_values


def test_train_on_in_memory_data_uses_the_recipe():
    rows = _log_rows(users=12)
    frame = pd.DataFrame(rows, columns=["user", "item", "time"])
    data = InteractionData.from_pandas(frame, time="time")
    config = tfd.TrainConfig(loss="bpr", epochs=1, dim=8, test_fraction=0.2, split="time")
    result = tfd.train(config, data=data, verbose=0)
    assert result.data.num_test > 0 and result.metrics["test"]["users_evaluated"] > 0
    assert result.metrics["config"]["optimizer"] == "adam"  # BPR's recipe, as on the CLI
    assert result.metrics["data"]["split"]["test"]["method"] == "time"
    assert "batch_top1" in result.history.history  # the progress metric


def test_train_tune_and_evaluate_take_the_same_data_flags(log_dir):
    from tfdirectspec.cli import build_parser
    from tfdirectspec.commands import DATA_FLAGS, data_flag_values

    flags = ["--data-dir", str(log_dir), "--columns", COLUMNS, "--id-type", "str",
             "--no-header", "--split", "time", "--cutoff", "2024-01-01", "--no-test"]  # fmt: skip
    parser = build_parser()
    for command in (["train"], ["tune"], ["evaluate", "R"]):
        values = data_flag_values(parser.parse_args([*command, *flags]))
        assert set(DATA_FLAGS) - {"test_fraction", "valid_fraction"} <= set(values), command
        assert values["id_type"] == "str" and values["header"] is False


# --- bad inputs: one stderr line, exit 2, nothing written ---------------------------------


def _one_line_error(capsys, *expected: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfdirectspec: error:") and "\n" not in err, err
    for text in expected:
        assert text in err, err
    return err


def test_a_malformed_log_is_one_line_naming_file_and_line(tmp_path, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    (folder / "train.csv").write_text(f'{COLUMNS}\n"u1","i1",1\n"u2","i2"\n')
    out = tmp_path / "R"
    argv = ["train", "--data-dir", str(folder), "--columns", COLUMNS, "--output", str(out)]
    assert main([*argv, "--test-fraction", "0.2"]) == 2
    _one_line_error(capsys, "train.csv:3: expected 3 fields, got 2")
    assert not out.exists()


def test_no_test_split_names_the_two_ways_to_get_one(log_dir, tmp_path, capsys):
    out = tmp_path / "R"
    assert main(["train", "--data-dir", str(log_dir), "--output", str(out)]) == 2
    _one_line_error(capsys, "no test split", "test file", "--test-fraction")
    assert not out.exists()


def test_a_missing_column_names_the_file_and_the_column(log_dir, tmp_path, capsys):
    out = tmp_path / "R"
    argv = ["train", "--data-dir", str(log_dir), "--columns", "user_id,item_id,ts"]
    assert main([*argv, "--test-fraction", "0.2", "--output", str(out)]) == 2
    _one_line_error(capsys, "train.csv", "no column 'ts'")
    assert not out.exists()


def test_abbreviations_are_rejected(log_dir, tmp_path, capsys):
    out = tmp_path / "R"
    with pytest.raises(SystemExit) as raised:
        main(["train", "--data-dir", str(log_dir), "--epoch", "1", "--output", str(out)])
    assert raised.value.code == 2
    _one_line_error(capsys, "--epoch")
    assert not out.exists()


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--id-type", "int"], ["train.csv:2", "user id 'u0' is not a non-negative integer"]),
        (["--columns", "user_id,item_id,7"], ["train.csv", "7"]),
        (["--split", "latest"], ["--split", "latest"]),
        (["--split", "time", "--cutoff", "yesterday"], ["--cutoff", "yesterday"]),
        (["--id-type", "float"], ["--id-type", "float"]),
        (["--test-fraction", "1.5"], ["--test-fraction must be in [0, 1)"]),
    ],
)
def test_bad_flags_and_ids_are_one_line_and_write_nothing(
    log_dir, tmp_path, capsys, flags, expected
):
    out = tmp_path / "R"
    argv = ["train", "--data-dir", str(log_dir), "--output", str(out), *flags]
    if "--test-fraction" not in flags:
        argv += ["--test-fraction", "0.2"]
    if "--columns" not in flags:
        argv += ["--columns", COLUMNS]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own choices
        code = exit_.code
    assert code == 2
    _one_line_error(capsys, *expected)
    assert not out.exists()


def test_a_bad_time_names_its_line(tmp_path, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    rows = "".join(f'"u{k}","i{k}",{T0 + k}\n' for k in range(5))
    (folder / "train.csv").write_text(f'{COLUMNS}\n{rows}"u9","i9",soon\n')
    out = tmp_path / "R"
    argv = ["train", "--data-dir", str(folder), "--columns", COLUMNS, "--output", str(out)]
    assert main([*argv, "--test-fraction", "0.2"]) == 2
    _one_line_error(capsys, "train.csv:7", "time 'soon'")
    assert not out.exists()


def test_json_is_never_nan():
    text = to_json({"ndcg@20": float("nan"), "recall": [np.float32("inf"), 0.5]})
    assert json.loads(text) == {"ndcg@20": None, "recall": [None, 0.5]}
    assert "NaN" not in text and "Infinity" not in text


# --- end to end ---------------------------------------------------------------------------


def test_train_on_a_header_csv_with_string_ids_and_a_time_split(log_dir, tmp_path, capsys):
    out = tmp_path / "R"
    argv = [
        "train", "--data-dir", str(log_dir), "--columns", COLUMNS, "--split", "time",
        "--test-fraction", "0.2", "--valid-fraction", "0.1", "--epochs", "1",
        "--dim", "8", "--output", str(out), "--verbose", "0", "--no-spectrum",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)  # valid JSON
    assert printed["test"]["users_evaluated"] == 12
    metrics = json.loads((out / "metrics.json").read_text())
    split = metrics["data"]["split"]
    assert split["method"] == "time" and split["test"]["fraction"] == 0.2
    assert metrics["config"]["columns"] == COLUMNS
    user_ids, _ = InteractionData.load_id_maps(out)
    assert "u0" in user_ids.tolist()

    # A run without a test split: evaluate says so in one line, never NaN.
    bare = tmp_path / "bare"
    argv = [
        "train", "--data-dir", str(log_dir), "--columns", COLUMNS, "--no-test",
        "--epochs", "1", "--dim", "8", "--output", str(bare), "--verbose", "0", "--no-spectrum",
    ]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["test"] == {}
    assert main(["evaluate", str(bare)]) == 2
    _one_line_error(capsys, "no test split")
