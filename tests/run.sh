#!/usr/bin/env bash
# The whole test suite, from a fresh machine or again and again:
#   1. installs what is missing (Debian peers: Alertmanager, promtool; the Nisshi broker),
#   2. builds the workspace once (target dir outside the clone, so reruns are incremental)
#      and lints it with clippy,
#   3. runs every unit, property and integration test (real broker, real Alertmanager),
#   4. runs the demo, scrapes its /metrics, and checks deploy/ against it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kubesage/target}"
export PATH="$HOME/.cargo/bin:$PATH"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v nisshi >/dev/null; then
  echo "== installing the Nisshi broker (about 14 minutes, once)"
  cargo install nisshi@0.8.1 --locked --ignore-rust-version
fi

echo "== build"
cargo build --workspace --all-targets

echo "== lints"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
cargo test --workspace

echo "== demo, /metrics and deploy checks"
bin="$CARGO_TARGET_DIR/debug/kubesage"
out="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" demo --listen "127.0.0.1:$port" --keep-running >"$out/demo.txt" 2>"$out/demo.err" &
demo=$!
for _ in $(seq 1 120); do
  grep -q "Still running" "$out/demo.txt" && break
  kill -0 "$demo" 2>/dev/null || { cat "$out/demo.txt" "$out/demo.err"; echo "demo failed" >&2; exit 1; }
  sleep 1
done
grep -q "Still running" "$out/demo.txt" || { kill "$demo"; echo "demo did not finish" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/metrics" >"$out/metrics.txt"
kill -INT "$demo"
wait "$demo" || true
sed -n '/^Summary/,/^Where/p' "$out/demo.txt"
promtool check metrics <"$out/metrics.txt"
KUBESAGE_BIN="$bin" bash deploy/check.sh "$out/metrics.txt"
bash deploy/ci/test_checks.sh
rm -rf "$out"
echo "== all tests passed"
