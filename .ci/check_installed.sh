#!/usr/bin/env bash
# The installed product, not the checkout: build the wheel, install it into a second fresh
# virtual environment, and from a folder outside the checkout run a user's first path on
# their own data (train, export, recommend). Usage: bash .ci/check_installed.sh (repo root).
set -euo pipefail
repo="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The wheel; setuptools must not warn that a data folder is missing from `packages`.
python -m pip wheel --no-deps --no-build-isolation -w "$work/dist" . > "$work/wheel.log" 2>&1 \
  || { cat "$work/wheel.log"; exit 1; }
if grep -q "absent from the \`packages\` configuration" "$work/wheel.log"; then
  grep -A3 "absent from" "$work/wheel.log"; exit 1
fi

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/tfdirectspec-*.whl

mkdir "$work/user" && cd "$work/user"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH
# The tfdirectspec this user runs is the one installed in that environment.
python - "$work/venv" "$repo" <<'PY'
import sys
from pathlib import Path

import tfdirectspec

where = Path(tfdirectspec.__file__).resolve()
venv, repo = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
assert venv in where.parents and "site-packages" in where.parts, where
assert repo not in where.parents, where
print(f"installed tfdirectspec: {where.parent}")
PY
# A small own-data folder: 60 users, 40 items, each user's items split 4:1 into train/test.
python - <<'PY'
import numpy as np
from pathlib import Path

rng = np.random.default_rng(0)
Path("data").mkdir()
with open("data/train.tsv", "w") as train, open("data/test.tsv", "w") as test:
    for user in range(60):
        items = rng.choice(40, size=10, replace=False)
        for item in items[:8]:
            train.write(f"{user}\t{item}\n")
        for item in items[8:]:
            test.write(f"{user}\t{item}\n")
PY
tfdirectspec train --data-dir data --epochs 1 --output run --verbose 0 > train.json
python -c "import json; m = json.load(open('train.json')); assert m['test']['ndcg@20'] >= 0, m"
tfdirectspec export run --to models/own > /dev/null
tfdirectspec recommend --model models/own --user 0 7 --json > recs.json
python -c "import json; r = json.load(open('recs.json')); assert len(r['users']) == 2, r"
echo "installed wheel: train, export and recommend on own data outside the checkout: ok"

# A production-style log: a header, quoted string ids (one with a comma), ISO 8601 times.
python - <<'PY'
import numpy as np

rng = np.random.default_rng(1)
with open("log.csv", "w") as log:
    log.write("user_id,item_id,timestamp\n")
    for user in range(80):
        for rank, item in enumerate(rng.choice(50, size=12, replace=False)):
            when = f"2024-05-{1 + rank:02d}T10:{user % 60:02d}:00Z"
            log.write(f'"c-{user}","sku {item}, red",{when}\n')
PY
mkdir strlog && mv log.csv strlog/train.csv
tfdirectspec train --data-dir strlog --columns user_id,item_id,timestamp --split time \
  --test-fraction 0.2 --valid-fraction 0.1 --epochs 2 --output strrun --verbose 0 > str.json
tfdirectspec recommend --model strrun --all --k 20 --output recs.parquet > recs-summary.json
python - <<'PY'
import csv
import json
from collections import defaultdict

import pyarrow.parquet as pq

metrics = json.load(open("strrun/metrics.json"))
assert metrics["data"]["split"]["test"]["method"] == "time", metrics["data"]["split"]
per_user = metrics["data"]["train"] // metrics["data"]["users"]  # 12 events: 9 train
recs = pq.read_table("recs.parquet").to_pylist()
by_user = defaultdict(list)
for row in recs:
    by_user[row["user_id"]].append(row)
assert len(by_user) == 80 and all(len(rows) == 20 for rows in by_user.values()), len(by_user)
assert all(rows[-1]["rank"] == 20 for rows in by_user.values())
assert all(u.startswith("c-") for u in by_user) and all("red" in r["item_id"] for r in recs)
# A time split trains on each user's earliest events: none of them is recommended.
events = defaultdict(list)
for row in csv.DictReader(open("strlog/train.csv")):
    events[row["user_id"]].append((row["timestamp"], row["item_id"]))
for user, rows in by_user.items():
    train_items = {item for _, item in sorted(events[user])[:per_user]}
    assert not train_items & {r["item_id"] for r in rows}, user
print(f"string-id CSV, time split, recommend --all: {len(recs)} rows for {len(by_user)} users")
PY
echo "installed wheel: a header CSV with quoted string ids, a time split and recommend --all: ok"
