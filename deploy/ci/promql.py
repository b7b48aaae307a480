#!/usr/bin/env python3
"""PromQL checks for KubeSage's dashboards, alert rules and KEDA triggers.

  promql.py check --dashboards DIR --rules FILE [--k8s FILE ...] [--metrics FILE]
      Every dashboard parses; every PromQL expression in a panel, a rule or a KEDA
      prometheus trigger parses (with promtool); with --metrics, every metric name used
      exists in that scraped /metrics text.
  promql.py lint-metrics FILE
      `promtool check metrics` on scraped /metrics text. kubesage serves the classic
      text format, which is linted as it is. Only OpenMetrics input (it ends with
      `# EOF`; it names a counter family without `_total` in HELP/TYPE, which promtool
      2.x does not read) is first converted: those lines renamed to the sample names,
      # UNIT / # EOF dropped.
  promql.py sync-rules --rules FILE --wrapper FILE [--write]
      The PrometheusRule wrapper holds exactly the groups of the raw rule file.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

# Series Prometheus makes itself for every target: never on /metrics.
BUILTIN_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                  "scrape_samples_post_metric_relabeling", "scrape_series_added"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "and", "or", "unless", "offset", "inf", "nan", "start", "end", "atan2"}
PROMTOOL = os.environ.get("PROMTOOL", "promtool")


def grafana_to_promql(expr):
    """Replace Grafana variables with values PromQL accepts."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}", "5m", expr)
    expr = re.sub(r"\$__\w+|\$\{__\w+(:\w+)?\}", "5m", expr)
    return re.sub(r"\$\{\w+(:\w+)?\}|\$\w+", ".*", expr)


def metric_names(expr):
    """Metric names an expression selects (a lexer, not a full parser: it is run only
    on expressions promtool has already accepted)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)           # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)          # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![\w:])\d+(\.\d+)?(ms|[smhdwy])(\d+(ms|[smhdwy]))*\b", " ", s)  # durations
    s = re.sub(r"(?<![\w:])(0x[0-9a-fA-F]+|\d*\.?\d+([eE][+-]?\d+)?)", " ", s)    # numbers
    names = set()
    for m in re.finditer(r"[A-Za-z_:][\w:]*", s):
        if s[m.end():].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def dashboard_exprs(path, errors):
    """(where, expr, is_promql) for every query in a dashboard file."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        errors.append(f"{path}: does not parse as JSON: {e}")
        return []
    name = os.path.basename(path)
    for key in ("uid", "title", "panels"):
        if key not in d:
            errors.append(f"{name}: no '{key}' (Grafana cannot provision it)")
    out = []
    panels = list(d.get("panels", []))
    for p in panels:
        panels.extend(p.get("panels", []))  # panels nested in collapsed rows
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        if not targets:
            errors.append(f"{name}: panel {p.get('title')!r} has no queries")
        for t in targets:
            if not t.get("expr", "").strip():
                errors.append(f"{name}: panel {p.get('title')!r} query {t.get('refId')} has no expr")
            else:
                out.append((f"{name}: panel {p.get('title')!r} {t.get('refId')}", t["expr"], True))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"\s*label_values\((.*),\s*\w+\)\s*$", q)
        if v.get("type") == "query" and m:
            out.append((f"{name}: variable {v.get('name')}", m.group(1), True))
    return out


def rule_exprs(path, errors):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{path}: does not parse as YAML: {e}")
        return []
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            what = r.get("alert") or r.get("record")
            out.append((f"{os.path.basename(path)}: rule {what}", r.get("expr", ""), False))
    return out


def k8s_exprs(path):
    """Queries of KEDA prometheus triggers in rendered manifests."""
    out = []
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "ScaledObject":
                continue
            for t in doc.get("spec", {}).get("triggers", []):
                if t.get("type") == "prometheus":
                    name = doc["metadata"]["name"]
                    out.append((f"{os.path.basename(path)}: ScaledObject {name}", t["metadata"]["query"], False))
    return out


def promql_parses(expr):
    """None if promtool parses expr, else its error."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "check", "rules": [{"record": "kubesage:check", "expr": expr}]}]}, f)
    try:
        p = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if p.returncode == 0:
        return None
    lines = [l.strip() for l in (p.stdout + p.stderr).splitlines() if "parse" in l or "error" in l.lower()]
    return lines[0] if lines else "promtool rejected it"


def scraped_names(path):
    """Names a PromQL query may select, given /metrics text (Prometheus or OpenMetrics)."""
    names, types = set(), {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            m = re.match(r"#\s*TYPE\s+(\S+)\s+(\S+)", line)
            if m:
                types[m.group(1)] = m.group(2)
            elif line and not line.startswith("#"):
                names.add(re.match(r"[^\s{]+", line).group(0))
    # A family declared with no sample yet (a labelled counter before its first
    # increment) still exists; accept the names its samples will have.
    for base, kind in types.items():
        names.add(base)
        if kind == "counter":
            names.add(base if base.endswith("_total") else base + "_total")
        elif kind in ("histogram", "gaugehistogram"):
            names.update({base + "_bucket", base + "_sum", base + "_count"})
        elif kind == "summary":
            names.update({base + "_sum", base + "_count"})
    for n in list(names):  # histogram base names via their _bucket/_count/_sum series
        for suffix in ("_bucket", "_count", "_sum"):
            if n.endswith(suffix):
                names.add(n[: -len(suffix)])
    return names


def cmd_check(a):
    errors, exprs = [], []
    files = sorted(glob.glob(os.path.join(a.dashboards, "*.json")))
    if not files:
        errors.append(f"{a.dashboards}: no dashboards")
    for path in files:
        exprs += dashboard_exprs(path, errors)
    for path in a.rules:
        exprs += rule_exprs(path, errors)
    for path in a.k8s:
        exprs += k8s_exprs(path)
    used = {}
    for where, expr, grafana in exprs:
        q = grafana_to_promql(expr) if grafana else expr
        err = promql_parses(q)
        if err:
            errors.append(f"{where}: PromQL does not parse: {err}\n    {expr.strip()}")
            continue
        for n in metric_names(q):
            used.setdefault(n, []).append(where)
    print(f"promql: {len(files)} dashboards, {len(exprs)} expressions parsed, "
          f"{len(used)} metric names used")
    if a.metrics:
        have = scraped_names(a.metrics)
        for n in sorted(used):
            if n not in have and n not in BUILTIN_SERIES:
                errors.append(f"metric {n} is not in {a.metrics} (used by {used[n][0]})")
        if not errors:
            print(f"promql: every metric used exists in {a.metrics}")
    else:
        print("promql: metrics-existence check SKIPPED (no --metrics / METRICS_FILE)")
    for e in errors:
        print("FAIL " + e)
    return 1 if errors else 0


def is_openmetrics(text):
    return re.search(r"^#\s*EOF\s*$", text, re.M) is not None


def openmetrics_to_classic(text):
    counters = {m.group(1) for m in re.finditer(r"^#\s*TYPE\s+(\S+)\s+counter\s*$", text, re.M)}
    out = []
    for line in text.splitlines():
        m = re.match(r"#\s*(HELP|TYPE)\s+(\S+)(.*)", line)
        if m and m.group(2) in counters and not m.group(2).endswith("_total"):
            line = f"# {m.group(1)} {m.group(2)}_total{m.group(3)}"
        elif re.match(r"#\s*(UNIT|EOF)\b", line):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def cmd_lint_metrics(a):
    with open(a.file) as f:
        text = f.read()
    if is_openmetrics(text):
        text = openmetrics_to_classic(text)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    for line in (p.stdout + p.stderr).splitlines():
        print("FAIL promtool check metrics: " + line)
    if p.returncode == 0:
        print(f"promql: promtool check metrics: {a.file} is clean")
    return p.returncode


def cmd_sync_rules(a):
    with open(a.rules) as f:
        groups = yaml.safe_load(f)["groups"]
    want = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "kubesage", "namespace": "kubesage",
                     "labels": {"app.kubernetes.io/name": "kubesage"}},
        "spec": {"groups": groups},
    }
    if a.write:
        with open(a.wrapper, "w") as f:
            f.write("# GENERATED from rules.yaml by: python3 deploy/ci/promql.py sync-rules --write\n")
            f.write("# Edit rules.yaml, not this file.\n")
            yaml.safe_dump(want, f, sort_keys=False, width=120)
        print(f"wrote {a.wrapper}")
        return 0
    with open(a.wrapper) as f:
        have = yaml.safe_load(f)
    if have != want:
        print(f"FAIL {a.wrapper} differs from {a.rules}; run: python3 deploy/ci/promql.py sync-rules --write")
        return 1
    print(f"promql: {os.path.basename(a.wrapper)} matches {os.path.basename(a.rules)}")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    prom = os.path.join(here, "..", "prometheus")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--dashboards", default=os.path.join(here, "..", "grafana", "dashboards"))
    c.add_argument("--rules", action="append", default=[])
    c.add_argument("--k8s", action="append", default=[], help="rendered manifests (KEDA triggers)")
    c.add_argument("--metrics", default=os.environ.get("METRICS_FILE") or None)
    m = sub.add_parser("lint-metrics")
    m.add_argument("file")
    s = sub.add_parser("sync-rules")
    s.add_argument("--rules", default=os.path.join(prom, "rules.yaml"))
    s.add_argument("--wrapper", default=os.path.join(prom, "prometheusrule.yaml"))
    s.add_argument("--write", action="store_true")
    a = ap.parse_args()
    return {"check": cmd_check, "lint-metrics": cmd_lint_metrics, "sync-rules": cmd_sync_rules}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
