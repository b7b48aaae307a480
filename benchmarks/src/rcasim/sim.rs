//! The seeded simulator: a microservice call graph with replicas on nodes, normal
//! operation, one injected fault propagating along the call graph, distractors and
//! missing metrics. Deterministic per seed.

use std::collections::BTreeMap;

use kubesage_operators::rca::signal::{median, quantile};

use crate::rng::Rng;

/// Faults, named as RCAEval names them.
pub const FAULTS: [&str; 5] = ["cpu", "mem", "delay", "loss", "disk"];
/// Metrics per service, as RCAEval RE1 columns `<service>_<metric>`.
pub const METRICS: [&str; 7] = ["cpu", "mem", "diskio", "latency-50", "latency-90", "error", "workload"];
/// Seconds between rows, rows before the injection, rows after.
pub const STEP_S: i64 = 5;
pub const NORMAL_ROWS: usize = 120;
pub const FAULT_ROWS: usize = 60;
/// Longest chain of calls below the frontend. Request paths in real microservice
/// applications are a few calls deep (RCAEval's Online Boutique, Sock Shop and Train
/// Ticket); unbounded chains compound fan-out into absurd traffic and latency (before this
/// cap: chains 21 deep, a 50-service frontend's median latency 531 s, services at millions
/// of cores).
pub const MAX_CALL_DEPTH: usize = 5;

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Own processing time per request, seconds.
    pub own_latency: f64,
    /// Own error ratio.
    pub own_error: f64,
    pub base_cpu: f64,
    pub cpu_per_request: f64,
    pub base_mem: f64,
    pub base_disk: f64,
    /// Multiplicative noise of its measurements (some services are much noisier).
    pub noise: f64,
    /// External requests per second arriving at it (the frontend's users).
    pub external_rps: f64,
    /// Nodes its replicas run on.
    pub nodes: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub caller: usize,
    pub callee: usize,
    /// Calls per request.
    pub fan_out: f64,
    /// Rows by which the caller sees the callee's state late.
    pub lag: usize,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub services: Vec<Service>,
    pub calls: Vec<Call>,
    pub nodes: usize,
}

/// Something done to one service during the recording.
#[derive(Debug, Clone)]
pub struct Effect {
    pub service: usize,
    pub kind: EffectKind,
    /// Row it starts at; lasts `rows` rows.
    pub start: usize,
    pub rows: usize,
    pub size: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EffectKind {
    /// CPU hog: cpu up, own latency up by `size` times.
    Cpu,
    /// Memory leak: memory ramps up, own latency follows late (GC pressure).
    Mem,
    /// Network delay: `size` seconds added to every response.
    Delay,
    /// Packet loss: `size` of requests fail, retransmits add latency.
    Loss,
    /// Disk I/O contention: disk up, own latency up.
    Disk,
    /// Distractors: CPU burst (no latency), memory step, short latency glitch, noisy
    /// neighbour (a little CPU and latency on a co-located service).
    CpuBurst,
    MemStep,
    Glitch,
    Neighbour,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    pub topology: Topology,
    pub root: usize,
    pub fault: &'static str,
    /// Unix seconds of the first row, and of the injection.
    pub t0: i64,
    pub inject_time: i64,
    /// `<service>_<metric>` -> one value per row (NaN: missing sample). Dropped columns
    /// are absent.
    pub columns: BTreeMap<String, Vec<f64>>,
    pub distractors: Vec<Effect>,
}

pub fn topology(n: usize, rng: &mut Rng) -> Topology {
    let nodes = (n / 4).max(3);
    let services: Vec<Service> = (0..n)
        .map(|i| {
            let replicas = 1 + rng.below(3);
            let nodes_of: Vec<usize> = (0..replicas).map(|_| rng.below(nodes)).collect();
            let noisy = rng.f() < 0.25;
            Service {
                name: if i == 0 { "frontend".to_string() } else { format!("svc{i:02}") },
                own_latency: rng.range(0.005, 0.05),
                own_error: rng.range(0.0, 0.002),
                base_cpu: rng.range(0.05, 0.3),
                cpu_per_request: rng.range(0.0005, 0.003),
                base_mem: rng.range(100.0, 800.0),
                base_disk: rng.range(0.5, 5.0),
                noise: if noisy { rng.range(0.1, 0.25) } else { rng.range(0.01, 0.06) },
                external_rps: if i == 0 { rng.range(50.0, 200.0) } else if rng.f() < 0.1 { rng.range(1.0, 20.0) } else { 0.0 },
                nodes: nodes_of,
            }
        })
        .collect();
    let mut calls = Vec::new();
    // Calls below the frontend on the service's longest chain, capped at MAX_CALL_DEPTH.
    let mut depth = vec![0usize; n];
    for callee in 1..n {
        // Callers have lower indices: a DAG with the frontend on top. The first caller is
        // one of the six services before it that may still call deeper (the frontend
        // always may).
        let may_call = |i: &usize| depth[*i] < MAX_CALL_DEPTH;
        let near: Vec<usize> = (callee.saturating_sub(6)..callee).filter(may_call).collect();
        let near = if near.is_empty() { (0..callee).filter(may_call).collect() } else { near };
        let first = near[rng.below(near.len())];
        let mut callers = vec![first];
        if callee > 2 && rng.f() < 0.35 {
            let second = rng.below(callee);
            if second != first && may_call(&second) {
                callers.push(second);
            }
        }
        depth[callee] = callers.iter().map(|&c| depth[c] + 1).max().unwrap_or(1);
        for caller in callers {
            let fan_out = [1.0, 1.0, 1.0, 2.0, 3.0][rng.below(5)];
            calls.push(Call { caller, callee, fan_out, lag: rng.below(2) });
        }
    }
    Topology { services, calls, nodes }
}

fn active(e: &Effect, row: usize) -> Option<f64> {
    (row >= e.start && row < e.start + e.rows).then(|| (row - e.start) as f64 / e.rows.max(1) as f64)
}

/// Generate one case: `n` services, fault type by `fault_index`, everything else from
/// the seed.
pub fn generate(seed: u64, n: usize, fault_index: usize) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(n as u64));
    let topo = topology(n, &mut rng);
    let fault = FAULTS[fault_index % FAULTS.len()];
    let root = rng.below(n);
    let rows = NORMAL_ROWS + FAULT_ROWS;
    let inject_row = NORMAL_ROWS;
    let t0 = 1_700_000_000 + seed as i64 * 100_000 + n as i64 * 7_000;
    let inject_time = t0 + inject_row as i64 * STEP_S;
    let size = match fault {
        "cpu" => rng.range(1.0, 3.0),
        "mem" => rng.range(1.0, 3.0),
        "delay" => rng.range(0.05, 0.3),
        "loss" => rng.range(0.05, 0.2),
        _ => rng.range(1.0, 3.0),
    };
    let kind = match fault {
        "cpu" => EffectKind::Cpu,
        "mem" => EffectKind::Mem,
        "delay" => EffectKind::Delay,
        "loss" => EffectKind::Loss,
        _ => EffectKind::Disk,
    };
    let mut effects = vec![Effect { service: root, kind, start: inject_row, rows: FAULT_ROWS, size }];
    // Noisy neighbours of a resource fault: services sharing a node with the root.
    if matches!(kind, EffectKind::Cpu | EffectKind::Disk | EffectKind::Mem) {
        for (i, s) in topo.services.iter().enumerate() {
            if i != root && s.nodes.iter().any(|nd| topo.services[root].nodes.contains(nd)) && rng.f() < 0.5 {
                effects.push(Effect { service: i, kind: EffectKind::Neighbour, start: inject_row + 1, rows: FAULT_ROWS - 1, size: rng.range(0.1, 0.4) });
            }
        }
    }
    let mut distractors = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let service = rng.below(n);
        let kind = [EffectKind::CpuBurst, EffectKind::MemStep, EffectKind::Glitch][rng.below(3)];
        let start = inject_row - 30 + rng.below(60);
        let rows_left = rows - start;
        let len = if kind == EffectKind::Glitch { 2 + rng.below(3) } else { rows_left };
        distractors.push(Effect { service, kind, start, rows: len.min(rows_left), size: rng.range(1.0, 3.0) });
    }
    effects.extend(distractors.iter().cloned());

    let n_s = topo.services.len();
    let mut total_latency = vec![vec![0.0f64; rows]; n_s];
    let mut total_error = vec![vec![0.0f64; rows]; n_s];
    let mut workload = vec![vec![0.0f64; rows]; n_s];
    let mut columns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut cols: Vec<Vec<Vec<f64>>> = vec![vec![vec![0.0; rows]; METRICS.len()]; n_s];
    let callees_of = |i: usize| topo.calls.iter().filter(move |c| c.caller == i);
    for row in 0..rows {
        // Traffic flows down (callers first), latency and errors flow up (callees first).
        let mut rps = vec![0.0f64; n_s];
        for i in 0..n_s {
            rps[i] += topo.services[i].external_rps * (1.0 + 0.02 * rng.normal());
            for c in callees_of(i) {
                let retry = 1.0 + total_error[c.callee][row.saturating_sub(1)];
                rps[c.callee] += rps[i] * c.fan_out * retry;
            }
        }
        for i in (0..n_s).rev() {
            let s = &topo.services[i];
            let mut own_lat = s.own_latency;
            let mut own_err = s.own_error;
            let mut cpu = s.base_cpu + s.cpu_per_request * rps[i];
            let mut mem = s.base_mem;
            let mut disk = s.base_disk;
            for e in effects.iter().filter(|e| e.service == i) {
                let Some(progress) = active(e, row) else { continue };
                match e.kind {
                    EffectKind::Cpu => {
                        cpu += e.size * (s.base_cpu + 0.5);
                        own_lat *= 1.0 + e.size;
                    }
                    EffectKind::Mem => {
                        mem += e.size * s.base_mem * progress;
                        own_lat *= 1.0 + e.size * progress.powi(2) * 2.0;
                        own_err += 0.02 * progress.powi(3);
                    }
                    EffectKind::Delay => own_lat += e.size,
                    EffectKind::Loss => {
                        own_err += e.size;
                        own_lat += 0.2 * e.size + 0.02;
                    }
                    EffectKind::Disk => {
                        disk *= 1.0 + 3.0 * e.size;
                        own_lat *= 1.0 + e.size;
                    }
                    EffectKind::CpuBurst => cpu *= 1.0 + e.size,
                    EffectKind::MemStep => mem *= 1.0 + 0.3 * e.size,
                    EffectKind::Glitch => own_lat *= 1.0 + 2.0 * e.size,
                    EffectKind::Neighbour => {
                        cpu *= 1.0 + e.size;
                        own_lat *= 1.0 + 0.3 * e.size;
                    }
                }
            }
            let mut lat = own_lat;
            let mut ok = 1.0 - own_err.min(1.0);
            for c in callees_of(i) {
                let r = row.saturating_sub(c.lag);
                lat += c.fan_out * total_latency[c.callee][r];
                // Retries mask some of a dependency's failures.
                ok *= (1.0 - 0.7 * total_error[c.callee][r]).powf(c.fan_out);
            }
            total_latency[i][row] = lat;
            total_error[i][row] = 1.0 - ok;
            workload[i][row] = rps[i];
            let noise = |rng: &mut Rng, sd: f64| (1.0 + sd * rng.normal()).max(0.05);
            let requests = (rps[i] * STEP_S as f64).max(1.0);
            let err_sd = ((1.0 - ok) * ok / requests).sqrt();
            let vals = [
                cpu * noise(&mut rng, s.noise),
                mem * noise(&mut rng, s.noise * 0.3),
                disk * noise(&mut rng, s.noise),
                lat * noise(&mut rng, s.noise),
                1.8 * lat * noise(&mut rng, 1.5 * s.noise),
                ((1.0 - ok) + err_sd * rng.normal()).clamp(0.0, 1.0),
                rps[i] * noise(&mut rng, 0.02),
            ];
            for (m, v) in vals.into_iter().enumerate() {
                cols[i][m][row] = v;
            }
        }
    }
    // Missing metrics: whole columns dropped, and single samples lost, for any service
    // alike (the root's included).
    for (i, s) in topo.services.iter().enumerate() {
        for (m, metric) in METRICS.iter().enumerate() {
            if rng.f() < 0.1 {
                continue;
            }
            let mut v = std::mem::take(&mut cols[i][m]);
            for x in v.iter_mut() {
                if rng.f() < 0.01 {
                    *x = f64::NAN;
                }
            }
            columns.insert(format!("{}_{}", s.name, metric), v);
        }
    }
    Case { seed, topology: topo, root, fault, t0, inject_time, columns, distractors }
}

impl Case {
    pub fn rows(&self) -> usize {
        NORMAL_ROWS + FAULT_ROWS
    }

    /// `data.csv`: `time` then the columns in name order (the root is not first).
    pub fn data_csv(&self) -> String {
        let mut out = String::from("time");
        for k in self.columns.keys() {
            out.push(',');
            out.push_str(k);
        }
        out.push('\n');
        for row in 0..self.rows() {
            out.push_str(&(self.t0 + row as i64 * STEP_S).to_string());
            for v in self.columns.values() {
                out.push(',');
                if v[row].is_finite() {
                    out.push_str(&format!("{:.6}", v[row]));
                }
            }
            out.push('\n');
        }
        out
    }

    /// `graph.json`: the call graph and the placement of replicas (topology, not truth).
    pub fn graph_json(&self) -> serde_json::Value {
        let s = &self.topology.services;
        serde_json::json!({
            "calls": self.topology.calls.iter().map(|c| [s[c.caller].name.clone(), s[c.callee].name.clone()]).collect::<Vec<_>>(),
            "placement": s.iter().map(|x| (x.name.clone(), x.nodes.iter().map(|n| format!("node-{n}")).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>(),
        })
    }

    pub fn root_cause_json(&self) -> serde_json::Value {
        serde_json::json!({
            "service": self.topology.services[self.root].name,
            "fault": self.fault,
            "inject_time": self.inject_time,
            "services": self.topology.services.len(),
            "seed": self.seed,
            "distractors": self.distractors.iter().map(|d| format!("{:?} on {}", d.kind, self.topology.services[d.service].name)).collect::<Vec<_>>(),
        })
    }
}

/// What a set of generated applications looks like before the fault, so the simulator's
/// realism can be checked without ranking anything: the frontend's median latency, the
/// slowest service's, the busiest service's CPU, and the deepest call chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub cases: usize,
    /// Frontend latency-50 (seconds): median and 90th percentile over cases.
    pub frontend_latency_median: f64,
    pub frontend_latency_p90: f64,
    /// Largest latency-50 of any service in any case, seconds.
    pub slowest_service_latency: f64,
    /// Largest CPU (cores) of any service in any case.
    pub busiest_service_cpu: f64,
    /// Longest call chain below the frontend in any case.
    pub deepest_call_chain: usize,
}

impl Topology {
    /// Calls on the longest chain from the frontend (callers have lower indices).
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.services.len()];
        for callee in 0..self.services.len() {
            for c in self.calls.iter().filter(|c| c.callee == callee) {
                depth[callee] = depth[callee].max(depth[c.caller] + 1);
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

/// Profile of the cases' pre-fault rows (medians per column, so noise and lost samples
/// do not count).
pub fn profile(cases: &[Case]) -> Profile {
    let pre = |case: &Case, service: &str, metric: &str| {
        case.columns.get(&format!("{service}_{metric}")).map(|v| {
            let mut kept: Vec<f64> = v[..NORMAL_ROWS].iter().copied().filter(|x| x.is_finite()).collect();
            median(&mut kept)
        })
    };
    let mut frontend = Vec::new();
    let (mut slowest, mut busiest, mut deepest) = (0.0f64, 0.0f64, 0usize);
    for case in cases {
        // A case whose frontend latency column was dropped does not count here.
        if let Some(l) = pre(case, "frontend", "latency-50").filter(|l| l.is_finite()) {
            frontend.push(l);
        }
        for s in &case.topology.services {
            slowest = slowest.max(pre(case, &s.name, "latency-50").unwrap_or(0.0));
            busiest = busiest.max(pre(case, &s.name, "cpu").unwrap_or(0.0));
        }
        deepest = deepest.max(case.topology.depth());
    }
    Profile {
        cases: cases.len(),
        frontend_latency_median: quantile(&mut frontend, 0.5),
        frontend_latency_p90: quantile(&mut frontend, 0.9),
        slowest_service_latency: slowest,
        busiest_service_cpu: busiest,
        deepest_call_chain: deepest,
    }
}
