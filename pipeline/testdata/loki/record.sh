#!/usr/bin/env bash
# Re-record the Loki push bodies in this folder from real third-party Loki clients.
# A maintainer's tool, never run in CI: it installs the clients (pinned versions, only
# when missing) from the npm registry and PyPI into $LOKI_REC_DIR (default
# ~/.cache/kubesage/loki-rec), outside the repository, then runs each client against
# recorder.py, which answers 204 and stores the one request the client sends.
set -euo pipefail
if [[ -n "${CI:-}" ]]; then
  echo "record.sh re-records test fixtures from third-party clients; it does not run in CI" >&2
  exit 1
fi
here="$(cd "$(dirname "$0")" && pwd)"
rec="${LOKI_REC_DIR:-$HOME/.cache/kubesage/loki-rec}"
WINSTON_LOKI=6.1.7 WINSTON=3.19.0 PINO_LOKI=3.0.0 PINO=10.4.0
PYTHON_LOGGING_LOKI=0.3.1 LOKI_LOGGER_HANDLER=1.1.2
mkdir -p "$rec"

have_npm() { [[ "$(node -p "try{require('$rec/node_modules/$1/package.json').version}catch(e){''}")" == "$2" ]]; }
if ! have_npm winston-loki $WINSTON_LOKI || ! have_npm winston $WINSTON || ! have_npm pino-loki $PINO_LOKI || ! have_npm pino $PINO; then
  [[ -f "$rec/package.json" ]] || (cd "$rec" && npm init -y >/dev/null)
  (cd "$rec" && npm install --no-audit --no-fund "winston-loki@$WINSTON_LOKI" "winston@$WINSTON" "pino-loki@$PINO_LOKI" "pino@$PINO")
fi
[[ -x "$rec/venv/bin/python" ]] || python3 -m venv "$rec/venv"
have_pip() { [[ "$("$rec/venv/bin/pip" show "$1" 2>/dev/null | sed -n 's/^Version: //p')" == "$2" ]]; }
if ! have_pip python-logging-loki $PYTHON_LOGGING_LOKI || ! have_pip loki-logger-handler $LOKI_LOGGER_HANDLER; then
  "$rec/venv/bin/pip" install "python-logging-loki==$PYTHON_LOGGING_LOKI" "loki-logger-handler==$LOKI_LOGGER_HANDLER"
fi

export NODE_PATH="$rec/node_modules"
record() { python3 "$here/recorder.py" "$here" "$@"; }
cd "$here/clients"
RECORD_RUNTIME="node $(node --version)" record winston-loki-protobuf winston-loki $WINSTON_LOKI -- node winston.js protobuf
RECORD_RUNTIME="node $(node --version)" record winston-loki-json winston-loki $WINSTON_LOKI -- node winston.js json
RECORD_RUNTIME="node $(node --version)" record pino-loki-json pino-loki $PINO_LOKI -- node pino.js
py="$rec/venv/bin/python"
RECORD_RUNTIME="$("$py" --version)" record python-logging-loki-json python-logging-loki $PYTHON_LOGGING_LOKI -- "$py" python_logging_loki.py
RECORD_RUNTIME="$("$py" --version)" record loki-logger-handler-json-gzip loki-logger-handler $LOKI_LOGGER_HANDLER -- "$py" loki_logger_handler_client.py
