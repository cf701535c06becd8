#!/usr/bin/env bash
# Wall time from starting 4 `cohort` processes on loopback until all of them report the same
# group key, over RUNS fresh testnets; prints each run, the median, and how many runs stalled
# (no common key within STALL_AFTER seconds).
#
#   cargo build --release -p cohort-node && scripts/loopback-dkg-timing.sh [RUNS]
set -euo pipefail
RUNS=${1:-10}
STALL_AFTER=${STALL_AFTER:-30}
BIN=${BIN:-target/release/cohort}
BASE=${BASE:-47000}
times=()
stalls=0
for run in $(seq 1 "$RUNS"); do
  dir=$(mktemp -d)
  "$BIN" testnet init --nodes 4 --dir "$dir" --base-port "$BASE" >/dev/null
  start=$(date +%s%N)
  pids=()
  for i in 0 1 2 3; do
    "$BIN" run --config "$dir/node$i/config.toml" >"$dir/node$i.log" 2>&1 &
    pids+=($!)
  done
  elapsed=""
  while :; do
    now=$(date +%s%N)
    if (( (now - start) / 1000000000 >= STALL_AFTER )); then break; fi
    keys=()
    for i in 0 1 2 3; do
      port=$((BASE + 3 * i + 1))
      key=$(curl -s --max-time 1 "http://127.0.0.1:$port/metrics" 2>/dev/null \
        | sed -n 's/^node_dkg_group_key{group_key="\([0-9a-f]*\)"} 1$/\1/p' | head -1 || true)
      [[ -n "$key" ]] && keys+=("$key")
    done
    if (( ${#keys[@]} == 4 )) && [[ $(printf '%s\n' "${keys[@]}" | sort -u | wc -l) -eq 1 ]]; then
      elapsed=$(( (now - start) / 1000000 ))
      break
    fi
    sleep 0.01
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$dir"
  if [[ -z "$elapsed" ]]; then
    stalls=$((stalls + 1))
    echo "run $run: STALLED (no common key after ${STALL_AFTER}s)"
  else
    times+=("$elapsed")
    echo "run $run: ${elapsed} ms"
  fi
done
if (( ${#times[@]} > 0 )); then
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
  echo "runs=$RUNS median_ms=$median stalled=$stalls"
else
  echo "runs=$RUNS median_ms=- stalled=$stalls"
fi
