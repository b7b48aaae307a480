#!/usr/bin/env python3
"""Record the HTTP requests a real Loki client sends.

    recorder.py OUT_DIR NAME CLIENT VERSION -- COMMAND...

Starts an HTTP server on 127.0.0.1 (a free port), runs COMMAND with LOKI_URL set to
http://127.0.0.1:PORT, answers every request with 204 and stores what the client sent.
The client must send exactly one POST to /loki/api/v1/push; its raw body becomes
OUT_DIR/NAME.body and a sidecar OUT_DIR/NAME.json holds the method, path, the headers
that decide the decoding, the client name and version and the command that produced it.
Used by record.sh; never run in CI.
"""
import http.server
import json
import os
import subprocess
import sys
import threading

KEPT_HEADERS = ("Content-Type", "Content-Encoding", "User-Agent")


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    sep = sys.argv.index("--")
    out_dir, name, client, version = sys.argv[1:sep]
    command = sys.argv[sep + 1:]
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {h: self.headers[h] for h in KEPT_HEADERS if self.headers.get(h) is not None}
            requests.append({"method": "POST", "path": self.path, "headers": headers, "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("recorder: " + (fmt % args) + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, LOKI_URL=f"http://127.0.0.1:{port}")
    try:
        subprocess.run(command, env=env, check=True, timeout=120)
    finally:
        server.shutdown()
    pushes = [r for r in requests if r["path"].startswith("/loki/api/v1/push")]
    if len(pushes) != 1 or len(requests) != 1:
        sys.exit(f"{name}: expected exactly one push request, got {[(r['method'], r['path']) for r in requests]}")
    req = pushes[0]
    with open(os.path.join(out_dir, name + ".body"), "wb") as f:
        f.write(req["body"])
    sidecar = {
        "client": client,
        "version": version,
        "method": req["method"],
        "path": req["path"],
        "headers": req["headers"],
        "body_bytes": len(req["body"]),
        "produced_by": "pipeline/testdata/loki/record.sh ran: " + " ".join(os.path.basename(c) for c in command),
        "runtime": os.environ.get("RECORD_RUNTIME", ""),
        "recorder": "recorder.py (Python http.server on 127.0.0.1, answers 204)",
    }
    with open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(sidecar, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"recorded {name}: {len(req['body'])} bytes, headers {req['headers']}")


if __name__ == "__main__":
    main()
