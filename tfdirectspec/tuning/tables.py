"""The trials table: ``trials.tsv`` (one row per trial) and its aligned terminal form."""

from __future__ import annotations

import csv
import io

from tfdirectspec.tuning.records import TrialRecord, short_value


def trials_table(records: list[TrialRecord], monitor: str) -> str:
    """Tab-separated table of the trials: id, loss, status, score, rank, epochs, time, values.

    ``rank`` orders every scored trial, of whatever loss or baseline, by its validation
    score (1: the best, the one the tune refits); the baselines' rows (``ease``, ``ials``)
    sit beside the embedding losses' with the values they were run with.
    """
    keys = sorted({k for r in records for k in r.hyperparameters})
    scored = sorted((r for r in records if r.score is not None), key=lambda r: -r.score)
    ranks = {r.trial_id: i + 1 for i, r in enumerate(scored)}
    header = [
        "trial", "loss", "status", monitor, "rank", "best_epoch", "epochs_run", "minutes", *keys
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    for r in records:
        status = r.status + (f" ({r.stopped_by})" if r.stopped_by else "")
        writer.writerow(
            [
                r.trial_id,
                r.loss,
                status,
                "" if r.score is None else f"{r.score:.4f}",
                ranks.get(r.trial_id, ""),
                r.best_epoch,
                r.epochs_run,
                f"{r.wall_seconds / 60:.2f}",
                *[short_value(r.hyperparameters.get(k, "")) for k in keys],
            ]
        )
    return out.getvalue()


def format_table(tsv: str) -> str:
    """The TSV table aligned in columns, for the terminal."""
    rows = [line.split("\t") for line in tsv.splitlines()]
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
