#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for 1,000,000 executions, or for SECONDS each when given:
#   scripts/fuzz.sh          # 1,000,000 executions per target (capped at 10 minutes each)
#   scripts/fuzz.sh 180      # 3 minutes per target
# Seeds: the shipped examples and fixtures (fuzz/bodies.rs `SEEDS`) and fuzz/seeds/<target>/,
# copied into fuzz/corpus/<target>/ (kept between runs). Crashes land in fuzz/artifacts/<target>/;
# each one found must become a regression test (tests/e2e/fuzz_smoke.rs) and be fixed.
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Prints one line per target.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-}"
TARGETS="check onnx npy safetensors vnnlib torchlean lsp_framing"
SANITIZER="${FUZZ_SANITIZER:-none}"   # safe Rust: panics are what we look for; address works too

seed() { # target dir:ext...
  local t=$1; shift
  mkdir -p "fuzz/corpus/$t"
  if [ -d "fuzz/seeds/$t" ]; then cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true; fi
  for spec in "$@"; do
    local dir=${spec%%:*} ext=${spec##*:}
    for f in "$dir"/*."$ext"; do
      [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 262144 ] && cp -n "$f" "fuzz/corpus/$t/" || true
    done
  done
}
seed check spec-examples:tl tests/fixtures/broken:tl
seed onnx tests/fixtures/onnx:onnx
seed npy spec-examples/weights:npy spec-examples/data:npy tests/fixtures/onnx:npy
seed safetensors spec-examples/weights:safetensors
seed vnnlib spec-examples/data:vnnlib
seed torchlean tests/fixtures/torchlean:json
seed lsp_framing

[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
(cd fuzz && cargo +nightly fuzz build -s "$SANITIZER")
for t in $TARGETS; do
  if [ -n "$SECONDS_EACH" ]; then
    limit=(-max_total_time="$SECONDS_EACH")
  else
    limit=(-runs=1000000 -max_total_time=600)
  fi
  log="fuzz/artifacts/$t.log"
  mkdir -p "fuzz/artifacts/$t"
  set +e
  (cd fuzz && cargo +nightly fuzz run -s "$SANITIZER" "$t" "corpus/$t" -- \
      "${limit[@]}" -max_len=262144 -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="artifacts/$t/" -print_final_stats=1) > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1 || true)
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l || true)
  echo "$t: exit $rc, ${runs:-?} executions, ${secs:-?} s, $crashes crash/timeout/oom artifacts (log $log)"
done
