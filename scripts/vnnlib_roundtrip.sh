#!/usr/bin/env bash
# Every shipped VNN-LIB 1.0 instance (../shared/acasxu, ../shared/vnncomp2021/{mnistfc,oval21})
# converted to 2.0 (`tl-vnnlib convert --element-type float32 --model NET`) and decided twice:
# `tlc vnncomp` on the 1.0 files and `tl-vnnlib verify` on the 2.0 query, both f32 semantics,
# both with TIMEOUT seconds. Prints one row per instance and a summary; exits 1 when a pair of
# definite answers (sat/unsat) disagree. Usage:
#   scripts/vnnlib_roundtrip.sh [TIMEOUT] [BENCH...]     (BENCH: acasxu mnistfc oval21)
# Binaries from target/debug unless BIN names another folder (e.g. BIN=target/release).
set -uo pipefail
cd "$(dirname "$0")/.."
TIMEOUT=${1:-10}
shift || true
BENCHES=${*:-acasxu mnistfc oval21}
BIN=${BIN:-target/debug}
SHARED=$(cd .. && pwd)/shared
[ -d "$SHARED" ] || SHARED=/work/shared
[ -d "$SHARED/acasxu" ] || { echo "skipping: no ../shared/acasxu"; exit 0; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
norm() { case "$1" in timeout) echo timed-out ;; *) echo "$1" ;; esac; }
now() { date +%s.%N; }
n=0; same=0; differ=0; undecided=0
printf '%-44s %-24s %-10s %-10s %8s %8s\n' network property "1.0" "2.0" "t1.0 s" "t2.0 s"
for b in $BENCHES; do
  case $b in
    acasxu) dir=$SHARED/acasxu; csv=$dir/acasxu_instances.csv ;;
    mnistfc|oval21) dir=$SHARED/vnncomp2021/$b; csv=$dir/instances.csv ;;
    *) echo "unknown benchmark $b"; exit 2 ;;
  esac
  while IFS=, read -r onnx prop _; do
    case $onnx in onnx|"") continue ;; esac
    net=$dir/$onnx; p=$dir/$prop; q=$TMP/q.vnnlib
    if ! "$BIN/tl-vnnlib" convert "$p" --element-type float32 --model "$net" >"$q" 2>"$TMP/err"; then
      echo "convert failed: $onnx $prop: $(cat "$TMP/err")"; differ=$((differ+1)); continue
    fi
    s=$(now); "$BIN/tlc" vnncomp "$net" "$p" --timeout "$TIMEOUT" --result "$TMP/r1" >/dev/null 2>&1
    e=$(now); a1=$(norm "$(head -1 "$TMP/r1" 2>/dev/null)"); t1=$(echo "$e - $s" | bc)
    s=$(now); a2=$("$BIN/tl-vnnlib" verify "$q" --network "N=$net" --timeout "$TIMEOUT" 2>/dev/null | head -1)
    e=$(now); t2=$(echo "$e - $s" | bc)
    n=$((n+1))
    if [ "$a1" = "$a2" ]; then same=$((same+1))
    elif { [ "$a1" = sat ] || [ "$a1" = unsat ]; } && { [ "$a2" = sat ] || [ "$a2" = unsat ]; }; then
      differ=$((differ+1)); a2="$a2 DIFFERS"
    else undecided=$((undecided+1)); fi
    printf '%-44s %-24s %-10s %-10s %8.2f %8.2f\n' "$onnx" "$prop" "$a1" "$a2" "$t1" "$t2"
  done <"$csv"
done
echo "instances $n, same answer $same, decided by one only $undecided, disagreeing $differ"
[ "$differ" -eq 0 ]
