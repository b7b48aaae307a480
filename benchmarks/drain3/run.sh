#!/usr/bin/env bash
# Side-by-side speed of KubeSage's log template miner and Drain3 over the same lines: all 14
# Loghub-2.0 2k samples' messages, concatenated and repeated to at least a million lines,
# both mined in this one run on this machine. Prints each rate and the ratio.
#
#   bash benchmarks/drain3/run.sh [MIN_LINES] [REPEATS]
#
# Each miner runs REPEATS times (default 3), interleaved, and the median rate of each is
# compared, so a burst of load on a shared machine does not decide the ratio.
#
# The repeated corpus recurs every pass, which favours any cache that spans a pass. So both
# miners also run, fresh, over a single pass (each message once): `single_pass` in the
# output is that comparison. And KubeSage runs the repeated corpus once more with its
# caches emptied at the start of every pass (templates kept): `cold_caches_every_pass`,
# its rate with nothing cached across passes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kubesage/target}"
min_lines="${1:-1000000}"
repeats="${2:-3}"
venv="$HOME/.cache/kubesage/drain3-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import drain3' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet drain3
fi
cargo build --release -q -p kubesage-benchmarks --bin quality
quality="$CARGO_TARGET_DIR/release/quality"
lines="$(mktemp -t kubesage-lines.XXXXXX)"
once="$(mktemp -t kubesage-once.XXXXXX)"
trap 'rm -f "$lines" "$once"' EXIT
"$quality" loghub --write-lines "$lines" --min-lines "$min_lines"
"$quality" loghub --write-lines "$once" --min-lines 1
per_pass="$(wc -l < "$once")"
ours=() drain3=() masked=() ours_once=() drain3_once=() ours_cold=()
for _ in $(seq "$repeats"); do
  ours+=("$("$quality" loghub --lines "$lines" 2>/dev/null | tail -1)")
  drain3+=("$("$venv/bin/python" benchmarks/drain3/drain3_speed.py "$lines" | tail -1)")
  masked+=("$("$venv/bin/python" benchmarks/drain3/drain3_speed.py "$lines" --masking | tail -1)")
  ours_once+=("$("$quality" loghub --lines "$once" 2>/dev/null | tail -1)")
  drain3_once+=("$("$venv/bin/python" benchmarks/drain3/drain3_speed.py "$once" | tail -1)")
  ours_cold+=("$("$quality" loghub --lines "$lines" --cold-caches-every "$per_pass" 2>/dev/null | tail -1)")
done
for i in "${!ours[@]}"; do
  echo "run $((i + 1)) kubesage:               ${ours[$i]}"
  echo "run $((i + 1)) drain3 (defaults):      ${drain3[$i]}"
  echo "run $((i + 1)) drain3 (example masks): ${masked[$i]}"
  echo "run $((i + 1)) kubesage, single pass:  ${ours_once[$i]}"
  echo "run $((i + 1)) drain3, single pass:    ${drain3_once[$i]}"
  echo "run $((i + 1)) kubesage, caches emptied every pass: ${ours_cold[$i]}"
done
median() { printf '%s\n' "$@" | python3 -c 'import json,sys,statistics; r=[json.loads(l) for l in sys.stdin if l.strip()]; m=statistics.median(x["lines_per_sec"] for x in r); print(json.dumps({"lines": r[0]["lines"], "lines_per_sec": m, "runs": [x["lines_per_sec"] for x in r]}))'; }
ours="$(median "${ours[@]}")"
drain3="$(median "${drain3[@]}")"
masked="$(median "${masked[@]}")"
ours_once="$(median "${ours_once[@]}")"
drain3_once="$(median "${drain3_once[@]}")"
ours_cold="$(median "${ours_cold[@]}")"
python3 - "$ours" "$drain3" "$masked" "$ours_once" "$drain3_once" "$ours_cold" <<'PY'
import json, sys
a, b, c, d, e, f = (json.loads(x) for x in sys.argv[1:7])
print(json.dumps({
    "benchmark": "miner-vs-drain3",
    "lines": a["lines"],
    "runs": len(a["runs"]),
    "kubesage_lines_per_sec": a["lines_per_sec"],
    "drain3_lines_per_sec": b["lines_per_sec"],
    "drain3_masking_lines_per_sec": c["lines_per_sec"],
    "kubesage_runs": a["runs"],
    "drain3_runs": b["runs"],
    "drain3_masking_runs": c["runs"],
    "ratio": round(a["lines_per_sec"] / b["lines_per_sec"], 1),
    "ratio_vs_masking": round(a["lines_per_sec"] / c["lines_per_sec"], 1),
    "cold_caches_every_pass": {
        "kubesage_lines_per_sec": f["lines_per_sec"],
        "kubesage_runs": f["runs"],
        "ratio": round(f["lines_per_sec"] / b["lines_per_sec"], 1),
    },
    "single_pass": {
        "lines": d["lines"],
        "kubesage_lines_per_sec": d["lines_per_sec"],
        "drain3_lines_per_sec": e["lines_per_sec"],
        "ratio": round(d["lines_per_sec"] / e["lines_per_sec"], 1),
    },
}))
PY
