#!/usr/bin/env bash
# Prints `scenario seed digest` for seeds 1..=N (default 20) of every scenario `cohort-sim list`
# names, in a stable order. A change of shape (a refactor) must leave this output unchanged:
#
#   scripts/digests.sh > /tmp/before.txt    # on the old tree
#   scripts/digests.sh > /tmp/after.txt     # on the new tree
#   diff /tmp/before.txt /tmp/after.txt
#
# The same with FLAGS="--no-memo" proves the verification memo invisible (every digest equal
# with and without it; `just memo-check` runs both and diffs them), and FLAGS="--transport
# commonware" gives the other transport's digests.
#
# Environment: COHORT_SIM (the binary; default target/release/cohort-sim, built if missing),
# SEEDS (default 20), JOBS (parallel runs, default: the number of cores), FLAGS (extra
# `cohort-sim run` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
sim=${COHORT_SIM:-target/release/cohort-sim}
seeds=${SEEDS:-20}
jobs=${JOBS:-$(nproc)}
export COHORT_FLAGS=${FLAGS:-}
if [[ ! -x "$sim" ]]; then
  cargo build --release --locked -p cohort-simulator >&2
fi
one() {
  # A failing seed still prints its digest (exit 1): keep it, it is part of the behaviour.
  # shellcheck disable=SC2086 # FLAGS is a list of flags
  line=$("$1" run --scenario "$2" --seed "$3" $COHORT_FLAGS | tail -n 1 || true)
  digest=${line#*digest=}
  echo "$2 $3 ${digest%% *}"
}
export -f one
"$sim" list | awk '{ print $1 }' | while read -r scenario; do
  for seed in $(seq 1 "$seeds"); do echo "$scenario $seed"; done
done | xargs -P "$jobs" -n 2 bash -c 'one "$0" "$1" "$2"' "$sim" | sort -k1,1 -k2,2n
