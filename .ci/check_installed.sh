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
