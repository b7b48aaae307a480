//! A seeded alert-storm generator: a layered microservice call graph (Deployments with
//! replicas on nodes, StatefulSet backends, Services with selectors and call edges), faults
//! injected into it whose symptoms propagate up the call graph to the callers, background
//! noise and flapping alerts. Output: Alertmanager API v2 alerts as JSON lines (no fault
//! label), the ground truth (fingerprint -> fault id or null) and the topology records the
//! Kubernetes collector and a mesh would publish.

use std::collections::{BTreeMap, BTreeSet};

use kubesage_operators::time::from_millis;
use kubesage_schemas::alertmanager::{LabelSet, PostableAlert};
use kubesage_schemas::ids::{alert_fingerprint, stable_id};
use kubesage_schemas::k8s::ObjectRef;
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::Envelope;

use crate::rng::Rng;

pub const NAMESPACE: &str = "shop";
pub const CLUSTER: &str = "storm";
/// 2026-01-01T00:00:00Z: where generated storms start.
pub const T0: i64 = 1_767_225_600_000;

#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    pub services: usize,
    pub nodes: usize,
    pub faults: usize,
    /// Background alerts per hour (single alerts on random components, no fault).
    pub noise_per_hour: f64,
    /// Alerts that flap (fire and resolve every few minutes, no fault).
    pub flapping: usize,
    /// Symptom rules per route and pod (a mesh's per-pod request metrics) rather than per
    /// route only.
    pub per_pod_symptoms: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { seed: 0, services: 30, nodes: 10, faults: 12, noise_per_hour: 3.0, flapping: 4, per_pod_symptoms: true }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub layer: usize,
    /// StatefulSet (a data store) rather than a Deployment.
    pub stateful: bool,
    pub pods: Vec<(String, usize)>,
    pub calls: Vec<usize>,
    pub routes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub services: Vec<Service>,
    pub nodes: Vec<String>,
}

impl Cluster {
    /// Services calling `s`, transitively, with the hop count.
    fn callers(&self, s: usize) -> Vec<(usize, u32, usize)> {
        // (caller, hops, the callee through which it is reached)
        let mut out = Vec::new();
        let mut frontier = vec![s];
        let mut seen = BTreeSet::from([s]);
        let mut hop = 0;
        while !frontier.is_empty() {
            hop += 1;
            let mut next = Vec::new();
            for f in &frontier {
                for (i, svc) in self.services.iter().enumerate() {
                    if svc.calls.contains(f) && seen.insert(i) {
                        out.push((i, hop, *f));
                        next.push(i);
                    }
                }
            }
            frontier = next;
        }
        out
    }
}

const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn token(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| SAFE[rng.below(SAFE.len())] as char).collect()
}

const NAMES: &[&str] = &[
    "gateway", "web", "mobile-api", "checkout", "cart", "catalog", "search", "recommend", "payments", "orders", "shipping", "users", "auth", "reviews", "pricing",
    "inventory", "ads", "email", "fraud", "ledger", "tax", "currency", "media", "quotes", "loyalty", "wishlist", "notify", "geo", "billing", "audit",
];
const STORES: &[&str] = &["postgres", "redis", "mongo", "kafka-proxy", "elastic", "memcached", "mysql", "cassandra"];

/// Tiers between the entry services and the data stores.
const MIDDLE_LAYERS: usize = 3;

/// A layered call graph: a few entry services, middle tiers, data stores at the bottom.
pub fn cluster(cfg: &GenConfig, rng: &mut Rng) -> Cluster {
    let nodes: Vec<String> = (0..cfg.nodes).map(|i| format!("node-{i:02}")).collect();
    let n = cfg.services.max(4);
    let stores = (n / 4).max(1);
    let entry = (n / 10).max(1);
    let middle = n - stores - entry;
    let mut services = Vec::with_capacity(n);
    for i in 0..n {
        let (layer, stateful) = if i < entry {
            (0, false)
        } else if i < entry + middle {
            (1 + (i - entry) * MIDDLE_LAYERS / middle.max(1), false)
        } else {
            (MIDDLE_LAYERS + 1, true)
        };
        let base = if stateful { STORES[(i - entry - middle) % STORES.len()].to_string() } else { NAMES[i % NAMES.len()].to_string() };
        let name = if i >= NAMES.len() && !stateful { format!("{base}-{}", i / NAMES.len()) } else if stateful && i - entry - middle >= STORES.len() { format!("{base}-{}", (i - entry - middle) / STORES.len()) } else { base };
        let replicas = if stateful { rng.between(1, 3) } else { rng.between(2, 4) } as usize;
        let pods = if stateful {
            (0..replicas).map(|r| (format!("{name}-{r}"), rng.below(nodes.len()))).collect()
        } else {
            let hash = token(rng, 9);
            (0..replicas).map(|_| (format!("{name}-{hash}-{}", token(rng, 5)), rng.below(nodes.len()))).collect()
        };
        let routes = if stateful {
            vec!["query".to_string(), "write".to_string()]
        } else {
            (0..rng.between(3, 5)).map(|r| format!("/api/{name}/{}", ["get", "list", "create", "update", "delete"][r as usize])).collect()
        };
        services.push(Service { name, layer, stateful, pods, calls: Vec::new(), routes });
    }
    // Each service calls 1-3 services of lower layers; every non-entry service has a caller.
    for i in 0..n {
        let layer = services[i].layer;
        let below: Vec<usize> = (0..n).filter(|&j| services[j].layer > layer).collect();
        if below.is_empty() {
            continue;
        }
        let next: Vec<usize> = below.iter().copied().filter(|&j| services[j].layer == layer + 1).collect();
        let k = rng.between(1, 3) as usize;
        let mut calls = BTreeSet::new();
        for _ in 0..k {
            let pool = if !next.is_empty() && rng.chance(0.7) { &next } else { &below };
            calls.insert(*rng.pick(pool));
        }
        services[i].calls = calls.into_iter().collect();
    }
    for j in 0..n {
        if services[j].layer > 0 && !services.iter().any(|s| s.calls.contains(&j)) {
            let above: Vec<usize> = (0..n).filter(|&i| services[i].layer < services[j].layer).collect();
            let c = *rng.pick(&above);
            services[c].calls.push(j);
            services[c].calls.sort();
        }
    }
    Cluster { services, nodes }
}

/// Topology records as the Kubernetes collector (objects) and a mesh (call edges) publish.
pub fn topology(c: &Cluster) -> Vec<Envelope<TopologyUpdate>> {
    let oref = |kind: &str, ns: &str, name: &str| ObjectRef { kind: kind.into(), namespace: ns.into(), name: name.into(), uid: stable_id(&[kind, ns, name]), api_version: String::new() };
    let up = |object: ObjectRef| TopologyUpdate::new(TopologyOp::Upsert, object, "1");
    let mut out = Vec::new();
    for n in &c.nodes {
        out.push(up(oref("Node", "", n)));
    }
    for s in &c.services {
        let app = BTreeMap::from([("app".to_string(), s.name.clone())]);
        let root = if s.stateful { oref("StatefulSet", NAMESPACE, &s.name) } else { oref("Deployment", NAMESPACE, &s.name) };
        out.push(up(root.clone()));
        for (p, node) in &s.pods {
            let owner = if s.stateful {
                root.clone()
            } else {
                let rs = p.rsplit_once('-').map_or(p.as_str(), |(a, _)| a).to_string();
                out.push(TopologyUpdate { owners: vec![root.clone()], ..up(oref("ReplicaSet", NAMESPACE, &rs)) });
                oref("ReplicaSet", NAMESPACE, &rs)
            };
            out.push(TopologyUpdate { owners: vec![owner], node: Some(c.nodes[*node].clone()), labels: app.clone(), ..up(oref("Pod", NAMESPACE, p)) });
        }
        let calls = s.calls.iter().map(|&j| oref("Service", NAMESPACE, &c.services[j].name)).collect();
        out.push(TopologyUpdate { selector: app, calls, ..up(oref("Service", NAMESPACE, &s.name)) });
    }
    let t = from_millis(T0 - 3_600_000);
    out.into_iter()
        .enumerate()
        .map(|(i, u)| {
            let id = stable_id(&["storm-topology", &i.to_string()]);
            let subject = format!("{}/{}/{}", u.object.kind, u.object.namespace, u.object.name);
            Envelope::new(id, "kubesage/benchmarks/storm", t, subject, CLUSTER, u)
        })
        .collect()
}

/// One generated notification: the alert at a moment (firing, or resolved with `endsAt`).
#[derive(Debug, Clone)]
pub struct Notification {
    pub alert: PostableAlert,
    /// Fault id behind it, `None` for noise (ground truth, never shown to the operator).
    pub fault: Option<String>,
}

impl Notification {
    pub fn fingerprint(&self) -> String {
        alert_fingerprint(self.alert.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Event time: when it started firing, or when it resolved.
    pub fn time(&self) -> i64 {
        self.alert.ends_at.or(self.alert.starts_at).map_or(0, |t| t.timestamp_millis())
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The generated notifications, and which fault (or noise) each fingerprint belongs to.
#[derive(Default)]
struct Out {
    notifications: Vec<Notification>,
    owner: BTreeMap<String, Option<String>>,
}

/// Fire at `start`, resolve at `end` (two notifications). The truth maps a fingerprint to
/// one fault, so an alert already used by another fault (or by noise) is not fired again
/// for this one.
fn fire(out: &mut Out, l: LabelSet, start: i64, end: i64, fault: Option<&str>) {
    let fp = alert_fingerprint(l.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let fault_owned = fault.map(str::to_string);
    match out.owner.get(&fp) {
        Some(owner) if *owner != fault_owned || fault.is_some() => return,
        _ => {}
    }
    out.owner.insert(fp, fault_owned);
    let out = &mut out.notifications;
    let summary = format!("{} on {}", l.get("alertname").cloned().unwrap_or_default(), l.get("pod").or(l.get("service")).or(l.get("node")).cloned().unwrap_or_default());
    let annotations = BTreeMap::from([("summary".to_string(), summary)]);
    let firing = PostableAlert { labels: l.clone(), annotations: annotations.clone(), starts_at: Some(from_millis(start)), ends_at: None, generator_url: String::new() };
    let resolved = PostableAlert { ends_at: Some(from_millis(end.max(start + 1000))), ..firing.clone() };
    out.push(Notification { alert: firing, fault: fault.map(str::to_string) });
    out.push(Notification { alert: resolved, fault: fault.map(str::to_string) });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    CpuHog,
    MemoryLeak,
    NetworkDelay,
    PacketLoss,
    CrashLoop,
    NodeDown,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [FaultKind::CpuHog, FaultKind::MemoryLeak, FaultKind::NetworkDelay, FaultKind::PacketLoss, FaultKind::CrashLoop, FaultKind::NodeDown];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::CpuHog => "cpu-hog",
            FaultKind::MemoryLeak => "memory-leak",
            FaultKind::NetworkDelay => "network-delay",
            FaultKind::PacketLoss => "packet-loss",
            FaultKind::CrashLoop => "crash-loop",
            FaultKind::NodeDown => "node-down",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Storm {
    pub cluster: Cluster,
    pub notifications: Vec<Notification>,
    /// Fault id -> (kind, where).
    pub faults: BTreeMap<String, (FaultKind, String)>,
}

fn sev(rng: &mut Rng) -> &'static str {
    if rng.chance(0.3) {
        "critical"
    } else {
        "warning"
    }
}

pub fn generate(cfg: &GenConfig) -> Storm {
    let mut rng = Rng::new(cfg.seed);
    let c = cluster(cfg, &mut rng);
    let mut out = Out::default();
    let mut faults = BTreeMap::new();
    let mut t = T0 + 10 * 60_000;
    for f in 0..cfg.faults {
        let id = format!("fault-{f:02}");
        let kind = FaultKind::ALL[rng.below(FaultKind::ALL.len())];
        let duration = rng.between(8, 25) * 60_000;
        let end = t + duration;
        if kind == FaultKind::NodeDown {
            let n = rng.below(c.nodes.len());
            let node = c.nodes[n].clone();
            faults.insert(id.clone(), (kind, format!("Node/{node}")));
            let s = sev(&mut rng);
            fire(&mut out, labels(&[("alertname", "KubeNodeNotReady"), ("node", &node), ("severity", s)]), t + rng.between(40, 120) * 1000, end, Some(&id));
            if rng.chance(0.5) {
                fire(&mut out, labels(&[("alertname", "KubeletDown"), ("node", &node), ("severity", "critical")]), t + rng.between(40, 120) * 1000, end, Some(&id));
            }
            for s in &c.services {
                for (p, pn) in &s.pods {
                    if *pn != n {
                        continue;
                    }
                    let at = t + rng.between(10, 180) * 1000;
                    fire(&mut out, labels(&[("alertname", "KubePodNotReady"), ("namespace", NAMESPACE), ("pod", p), ("severity", "warning")]), at, end + rng.between(0, 120) * 1000, Some(&id));
                    fire(&mut out, labels(&[("alertname", "TargetDown"), ("namespace", NAMESPACE), ("pod", p), ("job", &s.name), ("severity", "warning")]), at + rng.between(0, 60) * 1000, end, Some(&id));
                }
            }
        } else {
            let root = rng.below(c.services.len());
            let svc = c.services[root].clone();
            faults.insert(id.clone(), (kind, format!("Service/{}", svc.name)));
            // The root's own alerts (cause), per pod and per route.
            let cause: &[&str] = match kind {
                FaultKind::CpuHog => &["CPUThrottlingHigh", "ContainerHighCPUUsage"],
                FaultKind::MemoryLeak => &["ContainerMemoryNearLimit", "KubePodOOMKilled"],
                FaultKind::PacketLoss => &["NetworkReceiveErrors"],
                FaultKind::CrashLoop => &["KubePodCrashLooping", "KubePodNotReady"],
                FaultKind::NetworkDelay | FaultKind::NodeDown => &[],
            };
            for (p, _) in &svc.pods {
                for a in cause {
                    let s = sev(&mut rng);
                    fire(&mut out, labels(&[("alertname", a), ("namespace", NAMESPACE), ("pod", p), ("container", &svc.name), ("severity", s)]), t + rng.between(30, 150) * 1000, end + rng.between(0, 90) * 1000, Some(&id));
                }
            }
            if kind == FaultKind::CrashLoop && !svc.stateful {
                fire(&mut out, labels(&[("alertname", "KubeDeploymentReplicasMismatch"), ("namespace", NAMESPACE), ("deployment", &svc.name), ("severity", "warning")]), t + rng.between(60, 240) * 1000, end, Some(&id));
            }
            // Symptoms on the root's routes and on every affected caller's routes: the root
            // shows its own kind; callers see slow calls, and time-outs as errors too.
            let symptom: &[&str] = match kind {
                FaultKind::CpuHog | FaultKind::NetworkDelay => &["HighLatency"],
                FaultKind::PacketLoss | FaultKind::CrashLoop => &["HighErrorRate"],
                FaultKind::MemoryLeak | FaultKind::NodeDown => &["HighLatency", "HighErrorRate"],
            };
            let caller_symptom: &[&str] = if kind == FaultKind::NetworkDelay { &["HighLatency"] } else { &["HighLatency", "HighErrorRate"] };
            let mut affected: BTreeMap<usize, u32> = BTreeMap::from([(root, 0)]);
            for (caller, hops, via) in c.callers(root) {
                let p = 0.95 - 0.1 * f64::from(hops);
                if affected.contains_key(&via) && rng.chance(p) {
                    affected.insert(caller, hops);
                }
            }
            for (&s, &hops) in &affected {
                let service = &c.services[s];
                // Per route, and with per-pod symptom rules per route and serving pod.
                let pods: Vec<&str> = if cfg.per_pod_symptoms { service.pods.iter().map(|(p, _)| p.as_str()).collect() } else { vec![""] };
                for route in &service.routes {
                    for a in if hops == 0 { symptom } else { caller_symptom } {
                        for pod in &pods {
                            // Callers often alert before the root does.
                            let at = t + rng.between(20, 120) * 1000 + i64::from(hops) * rng.between(0, 30) * 1000;
                            let sv = sev(&mut rng);
                            fire(&mut out, labels(&[("alertname", a), ("namespace", NAMESPACE), ("service", &service.name), ("route", route), ("pod", pod), ("severity", sv)]), at, end + rng.between(0, 120) * 1000, Some(&id));
                        }
                    }
                }
            }
        }
        t += rng.between(12, 30) * 60_000;
    }
    let horizon = t + 30 * 60_000;
    // Background noise: single alerts on random components, any kind.
    let hours = (horizon - T0) as f64 / 3_600_000.0;
    let noise = (cfg.noise_per_hour * hours).round() as usize;
    for i in 0..noise {
        let at = rng.between(T0, horizon);
        let s = &c.services[rng.below(c.services.len())];
        let (p, n) = s.pods[rng.below(s.pods.len())].clone();
        let route = rng.pick(&s.routes).clone();
        let n = c.nodes[n].clone();
        let tag = format!("{i}");
        let l = match rng.below(5) {
            0 => labels(&[("alertname", "HighLatency"), ("namespace", NAMESPACE), ("service", &s.name), ("route", &route), ("severity", "warning")]),
            1 => labels(&[("alertname", "HighErrorRate"), ("namespace", NAMESPACE), ("service", &s.name), ("route", &route), ("severity", "warning")]),
            2 => labels(&[("alertname", "CPUThrottlingHigh"), ("namespace", NAMESPACE), ("pod", &p), ("container", &s.name), ("severity", "info")]),
            3 => labels(&[("alertname", "KubePodCrashLooping"), ("namespace", NAMESPACE), ("pod", &p), ("severity", "warning")]),
            _ => labels(&[("alertname", "NodeFilesystemSpaceFillingUp"), ("node", &n), ("mountpoint", "/var"), ("device", &tag), ("severity", "warning")]),
        };
        fire(&mut out, l, at, at + rng.between(3, 20) * 60_000, None);
    }
    // Flapping alerts: fire for 1-3 minutes out of every 4-9, for an hour or two.
    for _ in 0..cfg.flapping {
        let s = &c.services[rng.below(c.services.len())];
        let kind = rng.below(2);
        let l = if kind == 0 {
            labels(&[("alertname", "KubeHpaMaxedOut"), ("namespace", NAMESPACE), ("horizontalpodautoscaler", &s.name), ("severity", "warning")])
        } else {
            let (p, _) = s.pods[rng.below(s.pods.len())].clone();
            labels(&[("alertname", "KubeContainerWaiting"), ("namespace", NAMESPACE), ("pod", &p), ("container", "sidecar"), ("severity", "info")])
        };
        let mut at = rng.between(T0, horizon - 2 * 3_600_000).max(T0);
        let until = at + rng.between(60, 120) * 60_000;
        let period = rng.between(4, 9) * 60_000;
        while at < until {
            let on = rng.between(60, 180) * 1000;
            fire(&mut out, l.clone(), at, at + on, None);
            at += period;
        }
    }
    let mut notifications = out.notifications;
    notifications.sort_by_key(|n| n.time());
    Storm { cluster: c, notifications, faults }
}
