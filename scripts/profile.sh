#!/usr/bin/env bash
# Where the wall time of one simulated seed goes: samples the run with `perf` (DWARF call
# stacks) and splits them into cryptography, decoding, transport, storage, our actors, the
# runtime and the harness.
#
#   scripts/profile.sh SCENARIO SEED [extra cohort-sim run flags, e.g. --transport commonware]
#
# Each sample goes to the first of these categories that any frame of its stack matches (by
# function path, generic arguments left out), in
# this order (so point decompression inside a decoder counts as decoding, a signature check
# called by an actor as cryptography, and the executor, at the root of every stack, only gets
# what nothing else claims):
#   harness      the simulator's checks, observers and trace (cohort_simulator::scenarios,
#                ::trace, ::invariant; the DKG's threshold checks; serde_json)
#   decoding     codec reads (read_cfg, decode)
#   crypto       BLS12-381 (blst), ed25519 (curve25519_dalek), sha256/sha512, crc32
#   storage      commonware-storage, cohort-storage, the runtime's simulated disk
#   transport    commonware-p2p, the lean transport (cohort_simulator::world::lean, ::network)
#   actors       the rest of cohort_protocol
#   runtime      commonware-runtime's executor, futures
#   other        allocation, libc, the kernel
#
# Needs `perf` (Debian: linux-perf) and a release build with debug info (the workspace's
# release profile has it). Environment: COHORT_SIM (default target/release/cohort-sim),
# FREQ (samples per second, default 1999).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: scripts/profile.sh SCENARIO SEED [cohort-sim run flags]}
seed=${2:?usage: scripts/profile.sh SCENARIO SEED [cohort-sim run flags]}
shift 2
sim=${COHORT_SIM:-target/release/cohort-sim}
freq=${FREQ:-1999}
if [[ ! -x "$sim" ]]; then
  cargo build --release --locked -p cohort-simulator --bin cohort-sim >&2
fi
data=$(mktemp /tmp/cohort-profile.XXXXXX)
trap 'rm -f "$data"' EXIT
perf record -q -F "$freq" --call-graph dwarf,32768 -o "$data" \
  "$sim" run --scenario "$scenario" --seed "$seed" "$@" >&2
perf script -i "$data" 2>/dev/null | awk -v title="$scenario seed $seed" '
  function classify(stack) {
    if (stack ~ /cohort_simulator::(scenarios|trace|invariant)|dkg::check|serde_json/) return "harness"
    if (stack ~ /read_cfg|::decode|Read>::read|DecodeExt/) return "decoding"
    if (stack ~ /blst|mont_384|POINTon|curve25519|ed25519|bls12381|sha2::|Sha256|sha512|crc32|crc_fast/) return "crypto"
    if (stack ~ /commonware_storage|cohort_storage|deterministic::Storage|Blob/) return "storage"
    if (stack ~ /commonware_p2p|cohort_simulator::world::(lean|network)/) return "transport"
    if (stack ~ /cohort_protocol/) return "actors"
    if (stack ~ /commonware_runtime|futures/) return "runtime"
    return "other"
  }
  /^[^ \t]/ { if (in_sample) { count[classify(stack)]++; total++ } in_sample = 1; stack = ""; next }
  /^[ \t]/ {
    # The function path alone: generic arguments name types of other modules (an executor
    # frame generic over a scenario closure is not the scenario).
    frame = $0
    while (gsub(/<[^<>]*>/, "", frame)) {}
    stack = stack " " frame
    next
  }
  /^$/ { if (in_sample) { count[classify(stack)]++; total++ } in_sample = 0; stack = "" }
  END {
    if (in_sample) { count[classify(stack)]++; total++ }
    printf "%s: %d samples\n", title, total
    n = split("crypto decoding transport storage actors runtime harness other", order, " ")
    for (i = 1; i <= n; i++) {
      c = order[i]
      printf "  %-10s %5.1f%%\n", c, (total ? 100 * count[c] / total : 0)
    }
  }'
