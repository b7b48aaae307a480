#!/usr/bin/env python3
"""Validate rendered manifests against the Kubernetes OpenAPI schemas, strictly and
offline (PyPI kubernetes-validate): validate.py [-k VERSION] FILE...

kubernetes-validate only knows built-in kinds. Custom resources of the CRDs below are
skipped explicitly (and reported); any other kind without a schema fails.
"""
import argparse
import collections
import sys

import kubernetes_validate
import yaml
from kubernetes_validate import utils

# API groups of the CRDs KubeSage's manifests use.
CRD_GROUPS = {
    "external-secrets.io": "External Secrets Operator",
    "argoproj.io": "Argo CD",
    "keda.sh": "KEDA",
    "monitoring.coreos.com": "Prometheus Operator",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-k", "--kubernetes-version", default="1.30")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    failures = 0
    for path in a.files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        ok, skipped = 0, collections.Counter()
        for d in docs:
            ref = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
            group = d.get("apiVersion", "").rpartition("/")[0]
            if group in CRD_GROUPS:
                skipped[f"{d['kind']} ({CRD_GROUPS[group]} CRD)"] += 1
                continue
            try:
                utils.validate(d, a.kubernetes_version, strict=True)
                ok += 1
            except utils.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                print(f"FAIL {path}: {ref}: {where}: {e.message}")
                failures += 1
            except utils.SchemaNotFoundError as e:
                print(f"FAIL {path}: {ref}: {e.message}")
                failures += 1
        skip = ", ".join(f"{n}x {k}" for k, n in sorted(skipped.items()))
        print(f"validate: {path}: {ok} objects valid (k8s {a.kubernetes_version}, strict)"
              + (f"; skipped, no schema: {skip}" if skip else ""))
    print(f"validate: kubernetes-validate {kubernetes_validate.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
