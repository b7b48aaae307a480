#!/usr/bin/env python3
"""Policy check for rendered KubeSage manifests: policy.py FILE...

Fails on
  - a Secret with data or stringData (secrets come from ExternalSecrets only);
  - a container that runs or may run as root, is privileged, may escalate privileges,
    has a writable root filesystem or keeps capabilities;
  - a container without a memory limit or without cpu/memory requests;
  - an image not pinned by digest;
  - a Deployment/StatefulSet/DaemonSet container without liveness and readiness probes;
  - [executor].allowed_namespaces in kubesage.toml that differ from the namespaces the
    executor has a RoleBinding in.
"""
import sys
import tomllib

import yaml

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
EXECUTOR_CLUSTERROLE = "kubesage-execute-workloads"


def pod_spec(doc):
    kind = doc.get("kind")
    if kind == "Pod":
        return doc.get("spec", {})
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"].get("spec", {})
    if kind in POD_TEMPLATE_KINDS:
        return doc["spec"]["template"].get("spec", {})
    return None


def check_containers(doc, spec):
    problems = []
    psc = spec.get("securityContext") or {}
    containers = [("container", c) for c in spec.get("containers", [])]
    containers += [("initContainer", c) for c in spec.get("initContainers", [])]
    for what, c in containers:
        p = lambda msg: problems.append(f"{what} {c.get('name')}: {msg}")  # noqa: E731
        sc = c.get("securityContext") or {}
        user = sc.get("runAsUser", psc.get("runAsUser"))
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if user == 0:
            p("runs as root (runAsUser: 0)")
        elif non_root is not True:
            p("may run as root (set runAsNonRoot: true)")
        if sc.get("privileged"):
            p("is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            p("allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            p("readOnlyRootFilesystem is not true")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            p("does not drop ALL capabilities")
        res = c.get("resources") or {}
        if not (res.get("limits") or {}).get("memory"):
            p("has no memory limit (resources.limits.memory)")
        req = res.get("requests") or {}
        if not (req.get("cpu") and req.get("memory")):
            p("has no cpu/memory requests")
        if "@sha256:" not in c.get("image", ""):
            p(f"image {c.get('image')!r} is not pinned by digest")
        if what == "container" and doc["kind"] in LONG_RUNNING:
            for probe in ("livenessProbe", "readinessProbe"):
                if not c.get(probe):
                    p(f"has no {probe}")
    return problems


def check_remediation_scope(docs):
    """The executor's RoleBindings cover exactly [executor].allowed_namespaces."""
    bound = {d["metadata"].get("namespace") for d in docs
             if d.get("kind") == "RoleBinding" and d.get("roleRef", {}).get("name") == EXECUTOR_CLUSTERROLE}
    problems = []
    for d in docs:
        if d.get("kind") != "ConfigMap" or "kubesage.toml" not in (d.get("data") or {}):
            continue
        try:
            cfg = tomllib.loads(d["data"]["kubesage.toml"])
        except tomllib.TOMLDecodeError as e:
            problems.append(f"ConfigMap/{d['metadata']['name']}: kubesage.toml is not valid TOML: {e}")
            continue
        allowed = set(cfg.get("executor", {}).get("allowed_namespaces", []))
        if allowed != bound:
            problems.append(
                f"ConfigMap/{d['metadata']['name']}: [executor].allowed_namespaces {sorted(allowed)} "
                f"but RoleBindings to {EXECUTOR_CLUSTERROLE} in {sorted(bound)}")
    return problems


def check_file(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = []
    for doc in docs:
        ref = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"{ref}: Secret with data in Git; use an ExternalSecret")
        spec = pod_spec(doc)
        if spec is not None:
            problems += [f"{ref} {p}" for p in check_containers(doc, spec)]
    problems += check_remediation_scope(docs)
    for p in problems:
        print(f"FAIL {path}: {p}")
    print(f"policy: {path}: {len(docs)} objects, {len(problems)} problems")
    return len(problems)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    failed = sum(check_file(p) for p in sys.argv[1:])
    sys.exit(1 if failed else 0)
