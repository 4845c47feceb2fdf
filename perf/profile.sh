#!/usr/bin/env bash
# Callgrind profiles, per request, of the layer's cases: where the
# instructions go.
#
#   perf/profile.sh [CASE ...]     # default: unauthenticated token cookie pass
#
# For each case (a piece of a case name of examples/load.rs and
# benches/instructions.rs), two profiles, each taken twice (K1 and K2
# requests) and subtracted function by function, so that start-up cancels
# out and every figure is instructions per request:
#
# - server: the whole hyper server of examples/load.rs (LOAD_MODE=instructions
#   under callgrind), layered and its static-JSON (or bare) baseline;
# - call:   the service call alone, in-process (benches/instructions.rs's
#   child), layered and baseline; the request's construction is in both
#   (see request.* for it alone).
#
# Output in perf/profiles/ (PROFILE_DIR), not committed:
#   <level>.<case>.<handler>.inclusive.txt  inclusive cost per request, top 80
#   <level>.<case>.<handler>.self.txt       self cost per request, top 50
#   raw/                                    callgrind's files and the reports
#
# PROFILE_REQUESTS=K1,K2 (default 1000,3000) sets the counts. Needs valgrind
# (callgrind_annotate) and perl.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${PROFILE_DIR:-perf/profiles}
counts=${PROFILE_REQUESTS:-1000,3000}
k1=${counts%,*}
k2=${counts#*,}
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then cases=(unauthenticated token cookie pass); fi
raw="$out/raw"
mkdir -p "$raw"

command -v valgrind >/dev/null || { echo "perf/profile.sh needs valgrind" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "perf/profile.sh needs callgrind_annotate" >&2; exit 1; }

# Writes the per-request reports of one pair of callgrind files.
# report <raw stem (without .K.callgrind.out)> <report stem>
report() {
  local stem=$1 name=$2
  for k in "$k1" "$k2"; do
    callgrind_annotate --inclusive=yes --threshold=100 "$stem.$k.callgrind.out" > "$stem.$k.inclusive.txt"
    callgrind_annotate --threshold=100 "$stem.$k.callgrind.out" > "$stem.$k.self.txt"
  done
  perl perf/per-request.pl "$k1" "$k2" "$stem.$k1.inclusive.txt" "$stem.$k2.inclusive.txt" 80 > "$out/$name.inclusive.txt"
  perl perf/per-request.pl "$k1" "$k2" "$stem.$k1.self.txt" "$stem.$k2.self.txt" 50 > "$out/$name.self.txt"
  echo "  $out/$name.{inclusive,self}.txt: $(head -n1 "$out/$name.inclusive.txt" | cut -d' ' -f1) instructions per request"
}

echo "== server level (examples/load.rs under callgrind)"
cargo build --release --example load
LOAD_MODE=instructions LOAD_VALGRIND_TOOL=callgrind LOAD_KEEP_DIR="$raw" \
  LOAD_INSTR_REQUESTS="$counts" LOAD_CASES="$(IFS=,; echo "${cases[*]}")" \
  "${CARGO_TARGET_DIR:-target}/release/examples/load" | tee "$out/server.instructions.txt"
for first in "$raw"/*."$k1".callgrind.out; do
  stem=${first%."$k1".callgrind.out}
  base=$(basename "$stem")
  case $base in call.*) continue ;; esac
  report "$stem" "server.$base"
done

echo "== service call (benches/instructions.rs's child under callgrind)"
exe=$(cargo bench --bench instructions --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n1)
[ -x "$exe" ] || { echo "no bench executable found" >&2; exit 1; }
for piece in "${cases[@]}"; do
  for name in pass-through session/unauthenticated session/token session/cookie; do
    case $name in *"$piece"*) ;; *) continue ;; esac
    for handler in request baseline layered; do
      stem="$raw/call.${name//\//-}.$handler"
      for k in "$k1" "$k2"; do
        RSTREAM_INSTRUCTIONS_CHILD="$name:$handler:$k" valgrind --tool=callgrind \
          --log-file="$stem.$k.log" --callgrind-out-file="$stem.$k.callgrind.out" "$exe"
      done
      report "$stem" "call.${name//\//-}.$handler"
    done
  done
done
