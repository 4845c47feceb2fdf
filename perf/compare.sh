#!/usr/bin/env bash
# Function-by-function difference of two per-request reports made by
# perf/profile.sh (best with the *.self.txt ones), largest first:
#
#   perf/compare.sh perf/profiles/server.session-cookie.layered.self.txt \
#                   perf/profiles/server.session-cookie.static-cookie.self.txt
#
# Prints `A − B   A   B   function` for every function whose cost differs
# by MIN (default 10) instructions per request or more. Functions inlined in
# one build and not in the other show up on both sides: read the sum.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 A.txt B.txt [MIN]" >&2; exit 2; }
min=${3:-10}
table() { sed -n '4,$p' "$1" | awk '{ v = $1; $1 = ""; $2 = ""; sub(/^ +/, ""); print $0 "\t" v }' | sort -t$'\t' -k1,1; }
printf '%8s %8s %8s  %s\n' 'A - B' A B function
join -t$'\t' -a1 -a2 -e0 -o 0,1.2,2.2 <(table "$1") <(table "$2") |
  awk -F'\t' -v min="$min" '{ d = $2 - $3; if (d >= min || -d >= min) printf "%8d %8d %8d  %s\n", d, $2, $3, $1 }' |
  sort -rn
