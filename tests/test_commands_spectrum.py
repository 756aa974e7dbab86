"""`tfdirectspec spectrum` and the diagnostics flags of `tfdirectspec train`."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest

from tfdirectspec.cli import main
from tfdirectspec.commands.spectrum import format_table


def _train(data_dir, output, *extra) -> int:
    argv = ["train", "--data-dir", str(data_dir), "--output", str(output), "--verbose", "0"]
    return main([*argv, "--epochs", "1", "--batch-size", "32", "--dim", "16", *extra])


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    assert _train(data_dir, folder / "dsp", "--projector") == 0
    assert _train(data_dir, folder / "bpr", "--loss", "bpr", "--no-spectrum") == 0
    return folder


def test_spectrum_overlays_runs_and_prints_their_effective_ranks(runs, tmp_path, capsys):
    out = tmp_path / "figs" / "spectra.png"
    capsys.readouterr()
    assert main(["spectrum", str(runs / "dsp"), str(runs / "bpr"), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "loss"]
    for line, label in zip(lines[1:3], ("directspec+ / mf", "bpr / mf"), strict=True):
        assert label in line
        erank = float(line.split()[-1])
        metrics = json.loads((runs / line.split()[0].split("/")[-1] / "metrics.json").read_text())
        assert erank == pytest.approx(metrics["erank"]["all"], abs=0.01)
        assert 1.0 <= erank <= 16.0
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    # The same run twice (and --table item) still gets two curves.
    same = tmp_path / "same.svg"
    argv = ["spectrum", str(runs / "dsp"), str(runs / "dsp"), "--out", str(same)]
    assert main([*argv, "--table", "item"]) == 0
    assert same.read_text().count("directspec+ / mf") == 2


def test_spectrum_rejects_bad_input(runs, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for argv in (
        [str(tmp_path / "missing"), "--out", str(tmp_path / "a.png")],
        [str(unfinished), "--out", str(tmp_path / "a.png")],
        [str(runs / "dsp"), "--out", str(tmp_path / "a.txt")],
    ):
        assert main(["spectrum", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tfdirectspec: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_train_diagnostics_flags(runs, data_dir, tmp_path):
    logs = runs / "dsp" / "logs"
    assert {p.name for p in logs.iterdir() if p.is_dir()} == {"train", "spectrum"}
    assert not (runs / "bpr" / "logs" / "spectrum").exists()  # --no-spectrum
    # --projector: one vector and one metadata row per user and item, with raw ids.
    vectors = np.loadtxt(logs / "projector_embeddings.tsv", delimiter="\t")
    metadata = (logs / "projector_metadata.tsv").read_text().splitlines()
    assert vectors.shape == (40 + 50, 16)
    assert metadata[0] == "kind\tid" and len(metadata) == 1 + len(vectors)
    assert metadata[1].startswith("user\t") and metadata[-1].startswith("item\t")
    assert "projector_embeddings.tsv" in (logs / "projector_config.pbtxt").read_text()
    assert _train(data_dir, tmp_path / "bad", "--spectrum-every", "0") == 2
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".*partial"))


def test_format_table_aligns_columns():
    eranks = {"erank_user": 1.0, "erank_item": 2.0, "erank_all": 3.0}
    rows = [
        {"run": "a", "label": "bpr / mf", "d": 64, **eranks},
        {"run": "bb", "label": "x / y", "d": 8, **eranks},
    ]
    lines = format_table(rows).splitlines()
    assert len(lines) == 3
    assert lines[1].index("bpr") == lines[2].index("x /") == lines[0].index("loss")
