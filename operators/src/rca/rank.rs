//! Ranking candidate root causes.
//!
//! Every component `n` is a hypothesis "the fault is in `n`". Its score is the log
//! likelihood ratio of what was observed under that hypothesis against the hypothesis that
//! nothing is wrong, in a small generative model:
//!
//! * the faulty component looks abnormal itself with probability `self_evidence`, and its
//!   own service (latency, errors) degrades with probability `service_evidence`;
//! * a degradation travels from a dependency to each dependent (caller, pod on a node)
//!   with probability `propagation`, but only as far as the components on the way are
//!   degraded themselves (a dependency's latency must be large enough to cover its
//!   dependent's increase, and a dependent may not have started clearly earlier);
//! * a fault that exhausts a node-shared resource (its own rise, not its load's) contends
//!   with the components sharing its node (`Problem::colocated`), whose resource then
//!   looks abnormal with probability `propagation`: a hog is told from a resource burst
//!   by its noisy-neighbour victims;
//! * anything else looks abnormal with probability `spurious` (distractors).
//!
//! Whether a component looks abnormal is soft: a logistic of its largest sustained shift
//! (robust standard deviations against its own baseline; where no service shows a
//! degradation by size, shifts too small for it are judged by their certainty, see
//! [`ranking_states`]). So a component that is abnormal
//! while its dependencies are healthy, and whose degradation explains the most abnormal
//! dependents (symptoms weighted by `symptom_weight`), ranks first; its victims upstream
//! rank below it however much worse they look, because under their hypotheses the
//! root's own anomaly stays unexplained. A change (rollout, config change, node event)
//! shortly before onset multiplies the odds; the size of the own shift breaks ties the
//! graph cannot break. The whole thing is a pure function of its input.


use serde::{Deserialize, Serialize};

use super::colocation::{contention_slope, neighbours};
use super::config::RcaConfig;
use super::signal::{excess_errors, is_weighted, net_of, score_measured, scorable, Measure, Scratch, Signal, SignalKind, SignalScore};
use super::walk::{Graph, Link, Walk, MIN_REACH};
use crate::time::{duration_millis, Millis};

/// A component of the graph (a workload, pod, node, service ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `Kind/namespace/name`, or any stable name.
    pub id: String,
}

/// Something that changed on a component (rollout, config change, node event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub component: usize,
    pub at: Millis,
    pub what: String,
}

/// Everything the ranking looks at for one incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub components: Vec<Component>,
    /// `(dependent, dependency)`: the first calls, runs on or is served by the second.
    pub edges: Vec<(usize, usize)>,
    pub signals: Vec<Signal>,
    pub changes: Vec<Change>,
    /// Components the incident is about (alerting workloads, the SLO's service).
    pub symptoms: Vec<usize>,
    pub onset: Millis,
    /// Groups of components sharing a node (noisy neighbours of each other); empty when
    /// the placement is unknown.
    #[serde(default)]
    pub colocated: Vec<Vec<usize>>,
}

/// One ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub component: usize,
    /// Log likelihood ratio against "nothing is wrong" (the ranking key).
    pub llr: f64,
    /// Posterior probability among all candidates and "none of them".
    pub probability: f64,
    /// It can explain the incident's abnormal symptoms (always true without any).
    pub explains_symptoms: bool,
    pub evidence: Vec<String>,
}

/// Per-component summary of its signals.
#[derive(Debug, Clone, Default)]
pub struct ComponentState {
    pub observed: bool,
    /// Largest sustained shift of any fault signal (0 when observed without one), in
    /// robust standard deviations (or standard errors, for a shift judged by certainty).
    pub z: f64,
    /// Probability that the component is abnormal.
    pub abnormal: f64,
    /// Probability that a node-shared resource of it (CPU, memory, disk ...) is abnormal.
    pub resource: f64,
    /// Largest relative rise of an abnormal node-shared resource (`delta / level`).
    pub resource_rise: Option<f64>,
    /// Probability that its service degraded (propagating signals; else `abnormal`).
    pub degraded: f64,
    /// Probability that its service degraded in each way a degradation travels, latency
    /// and errors ([`Travel`]); `None` where it has no such signal (or the state was
    /// summarised from findings, which do not say what is watched).
    pub travels: [Option<f64>; 2],
    /// Largest latency increase, seconds.
    pub latency_delta: Option<f64>,
    pub onset: Option<Millis>,
    /// Largest sampling step of its scored signals: onsets are not resolved more finely.
    pub step: Millis,
    /// `(signal index, score)` of scored fault signals, largest shift first.
    pub scores: Vec<(usize, SignalScore)>,
    /// Evidence lines for a state summarised from detector findings (anomaly records,
    /// alerts, events) rather than scored from raw samples; most telling first.
    pub notes: Vec<String>,
    /// Its state without the failed requests its dependencies passed up ([`own_errors`]);
    /// `None` when nothing was taken off. What its own fault would show.
    pub own: Option<OwnState>,
}

impl ComponentState {
    /// It has propagating signals (latency, errors): `degraded` is seen, not assumed.
    pub fn service_seen(&self) -> bool {
        self.travels.iter().any(Option::is_some)
    }
}

/// The two ways a degradation travels from a dependency to its dependents, as indices of
/// [`ComponentState::travels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Travel {
    Latency = 0,
    Errors = 1,
}

impl Travel {
    fn of(kind: SignalKind) -> Option<Travel> {
        match kind {
            SignalKind::Latency => Some(Travel::Latency),
            SignalKind::ErrorRatio => Some(Travel::Errors),
            _ => None,
        }
    }
}

/// A component's shift net of its dependencies' failures: `z`, `abnormal` and `degraded`
/// as in [`ComponentState`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OwnState {
    pub z: f64,
    pub abnormal: f64,
    pub degraded: f64,
}

/// Median spacing of a signal's samples (0 with fewer than two).
fn sampling_step(sig: &Signal) -> Millis {
    // Regularly sampled (the usual case): the one gap is the median, nothing to collect.
    let (mut first, mut regular, mut prev) = (0, true, None::<Millis>);
    for s in sig.baseline.iter().chain(&sig.window) {
        if let Some(p) = prev {
            let d = s.t - p;
            if d > 0 {
                if first == 0 {
                    first = d;
                } else if d != first {
                    regular = false;
                    break;
                }
            }
        }
        prev = Some(s.t);
    }
    if regular {
        return first;
    }
    let ts: Vec<Millis> = sig.baseline.iter().chain(&sig.window).map(|s| s.t).collect();
    let mut d: Vec<Millis> = ts.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 0).collect();
    let mid = d.len() / 2;
    *d.select_nth_unstable(mid).1
}

/// Probability that a component whose largest sustained shift is `z` sigma is abnormal: a
/// logistic centred on `threshold_z` ([`super::evidence::z_of`] is its inverse).
pub(super) fn abnormality(z: f64, cfg: &RcaConfig) -> f64 {
    1.0 / (1.0 + (-(z - cfg.threshold_z) / cfg.threshold_width).exp())
}

/// Summarise every component's signals, judging shifts by their size.
pub fn component_states(problem: &Problem, cfg: &RcaConfig) -> Vec<ComponentState> {
    component_states_measured(problem, cfg, Measure::Size)
}

/// The states the ranking weighs. An incident is about a degraded service: when some
/// components have latency or error signals but none of them shifted by enough to call
/// it degraded, the degradation is too small for its size against the noise to show, and
/// the shifts are judged by their certainty as well ([`Measure::Certainty`]): a small
/// shift that held for the whole window. Otherwise by size alone, which keeps shifts that
/// are sure but small from counting as anomalies next to the large ones.
pub fn ranking_states(problem: &Problem, cfg: &RcaConfig) -> Vec<ComponentState> {
    let states = component_states(problem, cfg);
    let mut service = states.iter().filter(|s| s.observed && s.service_seen()).peekable();
    if service.peek().is_none() || service.any(|s| s.degraded >= 0.5) {
        return states;
    }
    component_states_measured(problem, cfg, Measure::Certainty)
}

/// [`component_states`], judging continuous signals' shifts by `measure`.
pub fn component_states_measured(problem: &Problem, cfg: &RcaConfig, measure: Measure) -> Vec<ComponentState> {
    let n = problem.components.len();
    let mut states = vec![ComponentState::default(); n];
    let mut ztravel: Vec<[Option<f64>; 2]> = vec![[None; 2]; n];
    let mut zres: Vec<Option<f64>> = vec![None; n];
    let mut load = vec![0.0f64; n];
    let mut traffic: Vec<usize> = Vec::new();
    let mut scratch = Scratch::default();
    for (i, sig) in problem.signals.iter().enumerate() {
        let Some(st) = states.get_mut(sig.component) else { continue };
        // A signal that is no evidence of a fault only shows the component is observed
        // (and, for traffic, how much of a resource rise the load explains).
        if !sig.kind.is_fault_evidence() {
            if scorable(sig, cfg) {
                st.observed = true;
                st.step = st.step.max(sampling_step(sig));
                // (Read only by the co-location term: not scored without placement.)
                if sig.kind == SignalKind::Traffic && !problem.colocated.is_empty() {
                    traffic.push(i);
                }
            }
            continue;
        }
        let Some(sc) = score_measured(sig, cfg, &mut scratch, measure) else { continue };
        st.observed = true;
        st.step = st.step.max(sampling_step(sig));
        if let Some(t) = Travel::of(sig.kind) {
            let z = &mut ztravel[sig.component][t as usize];
            *z = Some(z.map_or(sc.z, |v| v.max(sc.z)));
        }
        if sig.kind.is_resource() {
            let z = &mut zres[sig.component];
            *z = Some(z.map_or(sc.z, |v| v.max(sc.z)));
            if sc.z >= cfg.threshold_z && sc.level.abs() > 0.0 {
                let r = sc.delta / sc.level.abs();
                st.resource_rise = Some(st.resource_rise.map_or(r, |x| x.max(r)));
            }
        }
        if sig.kind == SignalKind::Latency && sc.z >= cfg.threshold_z {
            st.latency_delta = Some(st.latency_delta.map_or(sc.delta, |d| d.max(sc.delta)));
        }
        if sc.z >= cfg.threshold_z {
            if let Some(t) = sc.onset {
                st.onset = Some(st.onset.map_or(t, |o| o.min(t)));
            }
        }
        st.scores.push((i, sc));
    }
    // The load only discounts a resource rise: traffic is scored only where one was seen.
    for i in traffic {
        let sig = &problem.signals[i];
        if states[sig.component].resource_rise.is_none() {
            continue;
        }
        if let Some(sc) = score_measured(sig, cfg, &mut scratch, measure).filter(|sc| sc.z >= cfg.threshold_z && sc.level > 0.0) {
            let r = (sc.observed - sc.level) / sc.level;
            load[sig.component] = load[sig.component].max(r);
        }
    }
    let a = |z: f64| abnormality(z, cfg);
    for (((st, zr), l), zt) in states.iter_mut().zip(zres).zip(load).zip(ztravel) {
        st.travels = zt.map(|z| z.map(a));
        // The propagating signals' largest shift (latency or errors).
        let zp = zt.into_iter().flatten().reduce(f64::max);
        // Only the share of a resource's rise the load does not explain is the
        // component's own (a fault exhausting it); a rise the load matches is busy work.
        let raw = st.resource_rise;
        st.resource_rise = raw.map(|r| (1.0 + r) / (1.0 + l) - 1.0);
        let own = match (raw, st.resource_rise) {
            (Some(r), Some(o)) if r > 0.0 => (o / r).clamp(0.0, 1.0),
            _ => 1.0,
        };
        st.resource = own * zr.map_or(0.0, a);
        st.scores.sort_by(|x, y| y.1.z.total_cmp(&x.1.z).then(x.0.cmp(&y.0)));
        st.z = st.scores.first().map_or(0.0, |s| s.1.z.max(0.0));
        st.abnormal = if st.observed { a(st.z) } else { f64::NAN };
        st.degraded = match zp {
            Some(z) => a(z),
            None if st.observed => st.abnormal,
            None => cfg.unobserved_gate,
        };
    }
    own_errors(problem, cfg, &mut states, &mut scratch, measure);
    states
}

/// A caller's failed requests include those its dependencies failed (an error travels up
/// the call, request by request); only the rest is evidence of a fault of its own. For
/// every component whose errors are counted, the failures its direct dependencies had
/// beyond their own baselines, sample by sample, are taken off its errors and the rest
/// scored again ([`ComponentState::own`]). Its errors as seen still tell how far a fault
/// travelled; this only weighs what it would show were the fault its own. A dependency
/// shared with other callers may have failed their requests rather than this one's, so
/// taking all its failures off is an upper bound: it can only make a caller look less
/// like the root while a dependency of it fails more than usual.
fn own_errors(problem: &Problem, cfg: &RcaConfig, states: &mut [ComponentState], scratch: &mut Scratch, measure: Measure) {
    // Without counts (the operator's usual case) nothing to do: nothing allocated.
    if !problem.signals.iter().any(is_weighted) {
        return;
    }
    let n = states.len();
    let mut errors: Vec<Option<usize>> = vec![None; n];
    for (i, sig) in problem.signals.iter().enumerate() {
        if sig.component < n && errors[sig.component].is_none() && is_weighted(sig) {
            errors[sig.component] = Some(i);
        }
    }
    let mut edges = problem.edges.clone();
    edges.sort_unstable();
    edges.dedup();
    let mut passed: Vec<Vec<(Millis, f64)>> = vec![Vec::new(); n];
    for &(c, d) in &edges {
        let (Some(Some(_)), Some(Some(j))) = (errors.get(c), errors.get(d)) else { continue };
        if c != d {
            passed[c].extend(excess_errors(&problem.signals[*j], cfg).into_iter().filter(|x| x.1 > 0.0));
        }
    }
    for (c, st) in states.iter_mut().enumerate() {
        let Some(i) = errors[c] else { continue };
        if passed[c].is_empty() || !st.observed {
            continue;
        }
        let Some(net) = score_measured(&net_of(&problem.signals[i], &passed[c]), cfg, scratch, measure) else { continue };
        let (mut z, mut zp) = (0.0f64, f64::NEG_INFINITY);
        for (k, sc) in &st.scores {
            let zk = if *k == i { net.z } else { sc.z };
            z = z.max(zk);
            if problem.signals[*k].kind.propagates() {
                zp = zp.max(zk);
            }
        }
        st.own = Some(OwnState { z, abnormal: abnormality(z, cfg), degraded: abnormality(zp, cfg) });
    }
}

/// Whether anything is abnormal enough to call it an issue: one of the symptoms (without
/// symptoms, any component) is more likely abnormal than not. When not, the ranking is
/// still computed but answers a question nobody asked: the verdict is "no issue".
pub fn is_issue(problem: &Problem, states: &[ComponentState]) -> bool {
    let abnormal = |i: usize| states.get(i).is_some_and(|s| s.observed && s.abnormal >= 0.5);
    if problem.symptoms.is_empty() {
        (0..states.len()).any(abnormal)
    } else {
        problem.symptoms.iter().any(|&i| abnormal(i))
    }
}

/// Abnormal dependents a hypothesis explains, with how strongly each is reached.
pub(super) type Explained = Vec<(usize, f64)>;

/// Rank every plausible component; best first, at most `cfg.max_candidates`.
pub fn rank(problem: &Problem, cfg: &RcaConfig) -> Vec<Ranked> {
    let states = ranking_states(problem, cfg);
    rank_with_states(problem, &states, cfg)
}

pub fn rank_with_states(problem: &Problem, states: &[ComponentState], cfg: &RcaConfig) -> Vec<Ranked> {
    let n = problem.components.len();
    if n == 0 {
        return Vec::new();
    }
    let graph = Graph::new(n, &problem.edges);
    let abnormal_symptoms = abnormal_symptoms(problem, states);
    let mut scorer = Scorer::new(problem, states, &graph, cfg);
    let mut out: Vec<Hypothesis> = scorer.candidates(&graph).into_iter().map(|h| scorer.score(h, false)).collect();
    // The incident is about its symptoms: a candidate that cannot explain any abnormal
    // one is a second, unrelated problem at best, so it ranks after every candidate that
    // can, however much else it explains; its odds carry that of an unrelated problem.
    out.sort_by(|a, b| b.covers.cmp(&a.covers).then(b.llr.total_cmp(&a.llr)).then(a.h.cmp(&b.h)));
    let odds = |o: &Hypothesis| o.llr + if o.covers { 0.0 } else { cfg.spurious.ln() };
    let max = out.iter().map(odds).fold(0.0, f64::max);
    let norm: f64 = out.iter().map(|o| (odds(o) - max).exp()).sum::<f64>() + (-max).exp();
    out.truncate(cfg.max_candidates);
    let mut last = 1.0f64;
    out.into_iter()
        .map(|o| {
            last = last.min((odds(&o) - max).exp() / norm);
            let explained = scorer.score(o.h, true).explained;
            let mut evidence = evidence(problem, states, &graph, o.h, &explained, cfg);
            if !o.covers {
                evidence.insert(0, format!("does not explain the alerting {}", names(problem, abnormal_symptoms.iter().copied(), 3)));
                evidence.truncate(cfg.max_evidence);
            }
            Ranked { component: o.h, llr: o.llr, probability: last, explains_symptoms: o.covers, evidence }
        })
        .collect()
}

/// Symptoms that are more likely abnormal than not, in index order.
pub(super) fn abnormal_symptoms(problem: &Problem, states: &[ComponentState]) -> Vec<usize> {
    let n = states.len();
    let mut is_symptom = vec![false; n];
    for &s in &problem.symptoms {
        if s < n {
            is_symptom[s] = true;
        }
    }
    (0..n).filter(|&i| is_symptom[i] && states[i].observed && states[i].abnormal >= 0.5).collect()
}

/// One candidate's score before ranking.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hypothesis {
    pub(super) h: usize,
    pub(super) llr: f64,
    pub(super) covers: bool,
    pub(super) explained: Explained,
}

pub(super) fn gate(states: &[ComponentState], u: usize, c: usize, cfg: &RcaConfig) -> Link {
    let tol = duration_millis(cfg.onset_tolerance);
    let (su, sc) = (&states[u], &states[c]);
    let mut g = 1.0;
    // A dependency watched in one way a degradation travels but not the other (latency
    // without an error ratio) may pass the fault on unseen in the other, when that is how
    // its dependent shows it: as likely as through a component not watched at all.
    let mut degraded = su.degraded;
    if su.service_seen() {
        for (mine, theirs) in su.travels.iter().zip(&sc.travels) {
            if mine.is_none() && theirs.is_some_and(|d| d >= 0.5) {
                degraded = degraded.max(cfg.unobserved_gate);
            }
        }
    }
    if let (Some(du), Some(dc)) = (su.latency_delta, sc.latency_delta) {
        if dc > 0.0 {
            g *= (du.max(0.0) * cfg.max_fan_out / dc).min(1.0);
        }
    }
    if let (Some(ou), Some(oc)) = (su.onset, sc.onset) {
        if oc + tol.max(su.step).max(sc.step) < ou {
            g *= cfg.early_onset_factor;
        }
    }
    Link { degraded, consistency: g }
}

/// Scores hypotheses over one problem: everything that does not depend on the candidate
/// computed once.
pub(super) struct Scorer<'a> {
    problem: &'a Problem,
    states: &'a [ComponentState],
    cfg: &'a RcaConfig,
    is_symptom: Vec<bool>,
    changed: Vec<bool>,
    abnormal_symptoms: Vec<usize>,
    /// Dependents with their links (CSR); a link too weak to pass anything on is left out.
    dep_start: Vec<usize>,
    dep_gate: Vec<(usize, Link)>,
    /// [`reach_slope`] of each component, computed once rather than per hypothesis.
    slope: Vec<f64>,
    /// Co-located components of each (CSR) with the probability that a fault in the first
    /// contends with the second ([`contention`](super::colocation::contention)); too weak ones left out.
    nb_start: Vec<usize>,
    nb: Vec<(usize, f64)>,
    /// [`contention_slope`] of each component.
    cslope: Vec<f64>,
    walk: Walk<'a>,
}

impl<'a> Scorer<'a> {
    pub(super) fn new(problem: &'a Problem, states: &'a [ComponentState], graph: &'a Graph, cfg: &'a RcaConfig) -> Scorer<'a> {
        let n = states.len();
        let mut is_symptom = vec![false; n];
        for &s in &problem.symptoms {
            if s < n {
                is_symptom[s] = true;
            }
        }
        let mut dep_gate: Vec<(usize, Link)> = Vec::with_capacity(graph.inc.len());
        let mut dep_start = Vec::with_capacity(n + 1);
        dep_start.push(0);
        for u in 0..n {
            for k in graph.dependents_range(u) {
                let c = graph.inc[k];
                let g = gate(states, u, c, cfg);
                if g.degraded * g.consistency >= MIN_REACH {
                    dep_gate.push((c, g));
                }
            }
            dep_start.push(dep_gate.len());
        }
        let tol = duration_millis(cfg.onset_tolerance);
        let lookback = duration_millis(cfg.change_lookback);
        let mut changed = vec![false; n];
        for ch in &problem.changes {
            if ch.component < n && ch.at <= problem.onset + tol && ch.at >= problem.onset - lookback {
                changed[ch.component] = true;
            }
        }
        let (nb_start, nb) = neighbours(problem, states, cfg);
        Scorer {
            problem,
            states,
            cfg,
            nb_start,
            nb,
            cslope: states.iter().map(|st| contention_slope(st, cfg)).collect(),
            is_symptom,
            changed,
            abnormal_symptoms: abnormal_symptoms(problem, states),
            dep_start,
            dep_gate,
            slope: states.iter().map(|st| reach_slope(st, cfg)).collect(),
            walk: Walk::new(graph),
        }
    }

    /// Candidates: anything that may be abnormal, every dependency of something that is,
    /// and the symptoms; in index order.
    pub(super) fn candidates(&self, graph: &Graph) -> Vec<usize> {
        let n = self.states.len();
        let mut candidate = vec![false; n];
        for (i, st) in self.states.iter().enumerate() {
            if st.observed && st.abnormal >= 0.01 {
                candidate[i] = true;
            }
            if st.observed && st.abnormal >= 0.5 {
                for &d in graph.dependencies(i) {
                    candidate[d] = true;
                }
            }
        }
        for &s in &self.problem.symptoms {
            if s < n {
                candidate[s] = true;
            }
        }
        (0..n).filter(|&i| candidate[i]).collect()
    }

    /// The hypothesis "the fault is in `h`"; with `explain`, the abnormal dependents it
    /// explains, strongest first (else none: only the reported candidates need them).
    pub(super) fn score(&mut self, h: usize, explain: bool) -> Hypothesis {
        let (cfg, states, problem) = (self.cfg, self.states, self.problem);
        let tol = duration_millis(cfg.onset_tolerance);
        let slope = &self.slope;
        let st = &states[h];
        let mut llr = self_term(st, cfg);
        let mut explained = Vec::new();
        let is_symptom = &self.is_symptom;
        // The dependents' likelihood ratios multiply: one logarithm per batch (kept well
        // inside the range of a float) rather than one per dependent.
        let mut ratio = 1.0f64;
        self.walk.run(h, &self.dep_start, &self.dep_gate, |u, e, depth| {
            let sm = &states[u];
            if sm.observed {
                if is_symptom[u] {
                    llr += cfg.symptom_weight * (1.0 + e * slope[u]).ln();
                } else {
                    ratio *= 1.0 + e * slope[u];
                    if !(1e-100..=1e100).contains(&ratio) {
                        llr += ratio.ln();
                        ratio = 1.0;
                    }
                }
                if explain && sm.abnormal >= 0.5 && e >= 0.5 {
                    explained.push((u, e, depth));
                }
            }
        });
        llr += ratio.ln();
        let reach = &self.walk.reach;
        // Noisy neighbours: a co-located component the walk does not already explain and
        // whose service is not degraded (a degraded service is the call graph's to weigh).
        for &(v, e) in &self.nb[self.nb_start[h]..self.nb_start[h + 1]] {
            if reach[v] < 0.5 && states[v].observed && !(states[v].service_seen() && states[v].degraded >= 0.5) {
                let w = if is_symptom[v] { cfg.symptom_weight } else { 1.0 };
                llr += w * (1.0 + e * self.cslope[v]).ln();
                if explain && states[v].resource >= 0.5 && e >= 0.5 {
                    explained.push((v, e, 1));
                }
            }
        }
        if self.changed[h] {
            llr += cfg.change_odds.ln();
        }
        // The fault starts at the root: an anomaly that began clearly after the incident's
        // onset is more likely a consequence (or unrelated) than the cause.
        if st.onset.is_some_and(|o| o > problem.onset + tol.max(st.step)) {
            llr += cfg.early_onset_factor.ln();
        }
        // Bounded (at most `magnitude_weight` nats): a tie-breaker, never enough to outweigh
        // one explained dependent.
        let z = st.own.map_or(st.z, |o| o.z);
        llr += cfg.magnitude_weight * (1.0 - cfg.threshold_z / z.max(cfg.threshold_z));
        explained.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
        let covers = self.abnormal_symptoms.is_empty() || self.abnormal_symptoms.iter().any(|&s| s == h || reach[s] >= 0.5);
        Hypothesis { h, llr, covers, explained: explained.into_iter().map(|(u, e, _)| (u, e)).collect() }
    }
}

/// Log likelihood ratio of a candidate's own state under "the fault is here" against
/// "nothing is wrong". Its state is one of: its service degraded (latency, errors), only a
/// resource abnormal (CPU, memory, disk ...), normal. A fault degrades the service of the
/// component it is in with probability `service_evidence` (that is what makes it an
/// incident), leaves only a resource abnormal with `self_evidence - service_evidence`;
/// anomalies unrelated to any fault are as often of either kind. Without latency or error
/// signals the first two cannot be told apart and only "abnormal" counts.
pub(super) fn self_term(st: &ComponentState, cfg: &RcaConfig) -> f64 {
    if !st.observed {
        return 0.0;
    }
    let (eps, r0, q) = (cfg.spurious, cfg.self_evidence, cfg.service_evidence);
    let Some(s) = ServiceSplit::own(st) else {
        let a = st.abnormal;
        return ((a * r0 + (1.0 - a) * (1.0 - r0)) / (a * eps + (1.0 - a) * (1.0 - eps))).ln();
    };
    let fault = s.service * q + (s.abnormal - s.service) * (r0 - q) + s.normal() * (1.0 - r0);
    (fault / s.unrelated(eps)).ln()
}

/// The likelihood ratio of a component's state under "reached by the fault with
/// probability `e`" against "not reached" is `1 + e * slope` (linear in `e`). Reached, its
/// service degrades with probability `propagation`: a degradation travels as latency and
/// errors, so a dependent that shows only a resource anomaly is no more likely reached than
/// not. Not reached, it looks abnormal with `spurious` (half of it of either kind, as in
/// [`self_term`]). Without latency or error signals only "abnormal" counts.
pub(super) fn reach_slope(st: &ComponentState, cfg: &RcaConfig) -> f64 {
    let (r, eps) = (cfg.propagation, cfg.spurious);
    let Some(s) = ServiceSplit::of(st) else {
        return binary_slope(st.abnormal, r, eps);
    };
    (r - eps / 2.0) * (s.service - s.normal()) / s.unrelated(eps)
}

/// The slope of a state seen only as abnormal (probability `a`) or not: abnormal with
/// probability `r` when reached, `eps` when not.
pub(super) fn binary_slope(a: f64, r: f64, eps: f64) -> f64 {
    (r - eps) * (2.0 * a - 1.0) / (a * eps + (1.0 - a) * (1.0 - eps))
}

/// The three states of a component with latency or error signals, as soft evidence:
/// service degraded (`service`), only a resource abnormal (`abnormal - service`), normal.
struct ServiceSplit {
    service: f64,
    abnormal: f64,
}

impl ServiceSplit {
    fn of(st: &ComponentState) -> Option<ServiceSplit> {
        st.service_seen().then(|| ServiceSplit { service: st.degraded, abnormal: st.abnormal.max(st.degraded) })
    }

    /// The split of what a fault of its own would show ([`ComponentState::own`]).
    fn own(st: &ComponentState) -> Option<ServiceSplit> {
        match st.own {
            Some(o) if st.service_seen() => Some(ServiceSplit { service: o.degraded, abnormal: o.abnormal.max(o.degraded) }),
            _ => ServiceSplit::of(st),
        }
    }

    fn normal(&self) -> f64 {
        1.0 - self.abnormal
    }

    /// Likelihood of the state with nothing wrong: either abnormal state with `eps / 2`.
    fn unrelated(&self, eps: f64) -> f64 {
        self.abnormal * eps / 2.0 + self.normal() * (1.0 - eps)
    }
}

/// Every candidate with its log likelihood ratio, in index order; with `explain`, each
/// with the dependents it explains.
#[cfg(test)]
pub(super) fn hypotheses(problem: &Problem, states: &[ComponentState], graph: &Graph, cfg: &RcaConfig, explain: bool) -> Vec<Hypothesis> {
    let mut scorer = Scorer::new(problem, states, graph, cfg);
    scorer.candidates(graph).into_iter().map(|h| scorer.score(h, explain)).collect()
}

fn fmt_val(kind: SignalKind, v: f64) -> String {
    match kind {
        SignalKind::Latency => {
            if v.abs() < 1.0 {
                format!("{:.0}ms", v * 1000.0)
            } else {
                format!("{v:.2}s")
            }
        }
        SignalKind::ErrorRatio => format!("{:.2}%", v * 100.0),
        _ => format!("{v:.3}"),
    }
}

fn fmt_secs(ms: i64) -> String {
    let s = ms.abs() / 1000;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn names(problem: &Problem, items: impl Iterator<Item = usize>, cap: usize) -> String {
    let all: Vec<&str> = items.map(|i| problem.components[i].id.as_str()).collect();
    let mut s = all.iter().take(cap).copied().collect::<Vec<_>>().join(", ");
    if all.len() > cap {
        s.push_str(&format!(" and {} more", all.len() - cap));
    }
    s
}

fn evidence(
    problem: &Problem,
    states: &[ComponentState],
    graph: &Graph,
    h: usize,
    explained: &[(usize, f64)],
    cfg: &RcaConfig,
) -> Vec<String> {
    let st = &states[h];
    let mut ev = Vec::new();
    if !st.observed {
        ev.push("no signals observed; ranked by the abnormal dependents it would explain".to_string());
    }
    for (i, sc) in st.scores.iter().take(2) {
        if sc.z < cfg.threshold_z && !ev.is_empty() {
            break;
        }
        let sig = &problem.signals[*i];
        let (from, to) = (fmt_val(sig.kind, sc.level), fmt_val(sig.kind, sc.observed));
        if sc.by_certainty {
            ev.push(format!("{} median {from} -> {to} for the whole window ({:+.1} standard errors)", sig.name, sc.z));
        } else {
            ev.push(format!("{} {from} -> {to} ({:+.1} sigma against its own baseline)", sig.name, sc.z));
        }
    }
    ev.extend(st.notes.iter().take(2).cloned());
    if let Some(o) = st.own.filter(|o| o.z < st.z && st.z >= cfg.threshold_z) {
        ev.push(format!("net of its dependencies' failed requests its errors shift {:+.1} sigma", o.z));
    }
    let deps: Vec<usize> = graph.dependencies(h).to_vec();
    let (sick, healthy): (Vec<usize>, Vec<usize>) = deps.iter().partition(|&&d| states[d].observed && states[d].abnormal >= 0.5);
    let healthy: Vec<usize> = healthy.into_iter().filter(|&d| states[d].observed).collect();
    if !sick.is_empty() {
        ev.push(format!("dependencies also abnormal: {}", names(problem, sick.iter().copied(), 4)));
    } else if !healthy.is_empty() {
        ev.push(format!("dependencies healthy: {}", names(problem, healthy.iter().copied(), 4)));
    } else if deps.is_empty() {
        ev.push("no known dependencies".to_string());
    }
    if !explained.is_empty() {
        let ex = explained;
        let symptoms = ex.iter().filter(|(i, _)| problem.symptoms.contains(i)).count();
        let mut line = format!("explains {} abnormal dependents: {}", ex.len(), names(problem, ex.iter().map(|e| e.0), 5));
        if symptoms > 0 {
            line.push_str(&format!(" ({symptoms} alerting)"));
        }
        ev.push(line);
    } else if problem.symptoms.contains(&h) {
        ev.push("is itself the alerting component".to_string());
    }
    if let Some(o) = st.onset {
        let later: Vec<i64> = explained.iter().filter_map(|(i, _)| states[*i].onset).filter(|&t| t > o).map(|t| t - o).collect();
        if let Some(first_gap) = later.iter().min() {
            ev.push(format!("its anomaly started first, {} before its dependents'", fmt_secs(*first_gap)));
        }
    }
    let lookback = duration_millis(cfg.change_lookback);
    let tol = duration_millis(cfg.onset_tolerance);
    for ch in problem.changes.iter().filter(|c| c.component == h && c.at <= problem.onset + tol && c.at >= problem.onset - lookback) {
        ev.push(format!("change {} before onset: {}", fmt_secs(problem.onset - ch.at), ch.what));
    }
    ev.truncate(cfg.max_evidence);
    ev
}
