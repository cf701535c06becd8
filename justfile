# Everyday recipes. `just --list` shows them. Plain cargo commands work as well (see README.md).

# Run the tests (the README's test command).
test:
    cargo test --workspace --locked

# fmt check + clippy, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# One seed of one scenario, with a determinism check.
sim scenario="dkg" seed="7":
    cargo run --release -p cohort-simulator --bin cohort-sim -- run --scenario {{scenario}} --seed {{seed}} --check-determinism

# A range of seeds.
explore scenario="barrier" seeds="1..1000":
    cargo run --release -p cohort-simulator --bin cohort-sim -- explore --scenario {{scenario}} --seeds {{seeds}}

# Benchmarks: the DKG, the ledger, and checkpoints (certification and compaction).
bench what="checkpoint":
    cargo run --release -p cohort-simulator --bin cohort-sim -- bench {{what}}

# Where one seed's wall time goes (perf): crypto, decoding, transport, storage, actors, runtime,
# harness. Extra flags go to `cohort-sim run` (e.g. `--transport commonware`, `--no-memo`).
profile scenario="ledger" seed="1" *flags="":
    cargo build --release --locked -p cohort-simulator --bin cohort-sim
    scripts/profile.sh {{scenario}} {{seed}} {{flags}}

# The verification memo is invisible: seeds 1..=SEEDS of every scenario give the same digests
# with it and without it (about 15 minutes on 2 cores at the default 20 seeds).
memo-check seeds="20":
    cargo build --release --locked -p cohort-simulator --bin cohort-sim
    SEEDS={{seeds}} scripts/digests.sh > target/digests-memo.txt
    SEEDS={{seeds}} FLAGS=--no-memo scripts/digests.sh > target/digests-no-memo.txt
    diff target/digests-memo.txt target/digests-no-memo.txt && echo "memo invisible: $(wc -l < target/digests-memo.txt) runs, equal digests"

# A fuzz target (needs cargo-fuzz; nightly features through RUSTC_BOOTSTRAP).
fuzz target="barrier_message" seconds="60":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{target}} -- -max_total_time={{seconds}}

# CI, locally.
ci:
    bash .ci/run
