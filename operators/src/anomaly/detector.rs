//! The per-series detector stack: seasonal baseline (when the series has one), robust
//! baseline with spike / level-shift / variance tests, change-point regime adoption, and
//! one calibrated likelihood; plus the alarm episode that suppresses repeated alarms.

use serde::{Deserialize, Serialize};

use super::baseline::{Baseline, Weights, RECENT};
use super::calibrate::{self, Tail, Tests};
use super::config::AnomalyConfig;
use super::extremes::{self, Extremes, LevelRecords};
use super::novelty::Novelty;
use super::regime;
use super::seasonal::{Seasonal, SeasonalParams};
use crate::time::Millis;

/// Configuration-derived constants shared by every series.
#[derive(Debug, Clone)]
pub struct Stack {
    pub weights: Weights,
    pub tests: Tests,
    pub warmup: u64,
    pub alarm_q: f64,
    /// Conclusive evidence: as improbable as two alarming samples (q_alarm^2).
    pub conclusive_q: f64,
    /// Samples after an anomaly ends during which only conclusive evidence starts another:
    /// the level's span (`level_span`), which still carries the one that ended.
    pub refractory: u32,
    /// Chance that an alarming sample of independent samples is followed by another
    /// within `end_after` samples (`end_after * q_alarm`): the rate of confirmation
    /// `Clusters::dependence` compares a series' own with.
    pub pair_q: f64,
    pub end_after: u32,
    pub update_every: u32,
    pub regime_after: u32,
    pub novelty: bool,
    pub new_extreme: bool,
    pub new_level: bool,
    /// Span (samples) of the level whose records `LevelRecords` tests: the baseline's
    /// longest, `scale_span`.
    pub record_span: u64,
    pub seasonal: Option<SeasonalParams>,
}

impl Stack {
    pub fn new(cfg: &AnomalyConfig) -> Self {
        let alarm_q = 1.0 - cfg.alarm_likelihood;
        Stack {
            weights: Weights::new(cfg),
            tests: Tests::new(cfg),
            warmup: u64::from(cfg.warmup),
            alarm_q,
            conclusive_q: alarm_q.powi(2),
            refractory: cfg.level_span,
            pair_q: (f64::from(cfg.end_after) * alarm_q).min(1.0),
            end_after: cfg.end_after,
            update_every: cfg.update_every,
            regime_after: cfg.regime_after,
            novelty: cfg.novelty,
            new_extreme: cfg.new_extreme,
            new_level: cfg.new_level,
            record_span: u64::from(cfg.scale_span),
            seasonal: cfg.seasonal.enabled.then(|| SeasonalParams::new(&cfg.seasonal)),
        }
    }
}

/// What happened to the series' anomaly with this sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Started,
    /// The score reached a new peak, or `update_every` samples passed.
    Updated,
    Ended,
}

/// The detector's conclusion about one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Probability that a normal sample of this series is at least this surprising.
    pub q: f64,
    /// 1 - q.
    pub likelihood: f64,
    /// `-log10 q / 12` in [0, 1].
    pub score: f64,
    /// Detectors beyond p < 1% (bit mask, see `calibrate`).
    pub detectors: u8,
    pub expected: f64,
    pub scale: f64,
    pub transition: Option<Transition>,
    /// The score of the alarm this sample raised: the start of an anomaly (confirmed by
    /// this sample: the joint score of its two samples; or one conclusive sample's), or
    /// the escalation of an open one to a new peak (one decade of q above the published
    /// one); else 0. What the operator publishes as news, and what NAB scores.
    pub alarm_score: f64,
}

/// An open anomaly of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub started: Millis,
    pub last_anomalous: Millis,
    pub peak_score: f64,
    pub published_score: f64,
    pub detectors: u8,
    pub revision: u32,
    pub quiet: u32,
    pub since_update: u32,
    /// The sample behind the latest record: observed, expected, scale.
    pub observed: f64,
    pub expected: f64,
    pub scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDetector {
    pub baseline: Baseline,
    /// Calibration of deviations above the baseline, and (`tail_low`) below it: a series
    /// is often skewed (counts burst upwards, a saturated gauge only drops), and a tail
    /// learned from its usual bursts must not hide a drop it never shows.
    pub tail: Tail,
    /// (A snapshot without it starts it from the white-noise prior.)
    #[serde(default)]
    pub tail_low: Tail,
    /// Consecutive samples with some detector beyond p < 1%.
    pub persist: u32,
    pub last_time: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<Episode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonal: Option<Box<Seasonal>>,
    /// Contextual novelty (a snapshot without it starts it afresh).
    #[serde(default)]
    pub novelty: Novelty,
    /// Extremes of the series (a snapshot without them starts them afresh).
    #[serde(default)]
    pub extremes: Extremes,
    /// Records of the series' level (a snapshot without them starts them afresh).
    #[serde(default)]
    pub levels: LevelRecords,
    /// An alarming sample awaiting confirmation (see `step_episode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Samples since the last anomaly ended (saturating; `u32::MAX`: none ended).
    #[serde(default = "never_ended")]
    pub since_end: u32,
    /// How often the series' alarming samples come in pairs (a snapshot without it starts
    /// it afresh).
    #[serde(default)]
    pub clusters: Clusters,
}

/// How much a confirmation is worth on this series: its alarming samples, grouped into
/// clusters as a pending sample is (alarming samples with fewer than `end_after`
/// unremarkable ones between them), and how many clusters held a second alarming sample
/// the same way as their first (the runs estimate of extreme-value theory's extremal
/// index: exceedances of a series that bursts come in clusters).
///
/// Why: a confirmed anomaly is scored by the joint probability of its two samples, which
/// holds when they are independent. On a series whose alarming samples come in bursts
/// (a count series' traffic bursts, a gauge that pins at its limit for a while) the second
/// sample follows the first as a matter of course, and the pair is little more evidence
/// than its first sample; the series' own rate of confirmation says by how much.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Clusters {
    /// Clusters seen (warm samples only).
    pub starts: u32,
    /// Clusters whose first alarming sample was followed by one the same way.
    pub confirmed: u32,
    /// The open cluster: unremarkable samples since its last alarming one.
    pub quiet: u32,
    pub open: bool,
    /// The open cluster's first alarming sample was above the expected value.
    pub up: bool,
    /// The open cluster is counted confirmed.
    pub paired: bool,
}

impl Clusters {
    /// Learn one warm sample: whether it is alarming and on which side of the expected
    /// value.
    #[inline]
    pub fn learn(&mut self, alarming: bool, up: bool, end_after: u32) {
        if !self.open {
            if alarming {
                *self = Clusters { starts: self.starts.saturating_add(1), open: true, up, quiet: 0, paired: false, ..*self };
            }
            return;
        }
        if alarming {
            self.quiet = 0;
            if up == self.up && !self.paired {
                self.paired = true;
                self.confirmed = self.confirmed.saturating_add(1);
            }
        } else {
            self.quiet += 1;
            if self.quiet >= end_after {
                self.open = false;
            }
        }
    }

    /// By how much a confirmed pair's joint probability understates its chance on this
    /// series: the series' rate of confirmation over the rate of independent samples
    /// (`independent`: the chance that one of the `end_after` samples after an alarming
    /// one is alarming too, `end_after * q_alarm`), at least 1 (a series that pairs less
    /// often than independent samples would gets no credit for it). The rate starts from
    /// the independent one with the weight of one confirmation.
    #[inline]
    pub fn dependence(&self, independent: f64) -> f64 {
        let rate = (f64::from(self.confirmed) + 1.0) / (f64::from(self.starts) + 1.0 / independent);
        (rate / independent).max(1.0)
    }
}

fn never_ended() -> u32 {
    u32::MAX
}

/// A first alarming sample not yet confirmed: when it came, its tail probability
/// (log10 q), whether it was above the expected value, and the unremarkable samples
/// since.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub since: Millis,
    pub log_q: f32,
    pub quiet: u32,
    pub up: bool,
}

impl SeriesDetector {
    pub fn new(stack: &Stack) -> Self {
        SeriesDetector {
            baseline: Baseline::default(),
            tail: Tail::new(&stack.tests),
            tail_low: Tail::new(&stack.tests),
            persist: 0,
            last_time: 0,
            episode: None,
            seasonal: stack.seasonal.as_ref().map(|_| Box::default()),
            novelty: Novelty::default(),
            extremes: Extremes::default(),
            levels: LevelRecords::default(),
            pending: None,
            since_end: never_ended(),
            clusters: Clusters::default(),
        }
    }

    /// Samples learned.
    pub fn samples(&self) -> u64 {
        self.baseline.n
    }

    /// Judge and learn one sample (causal: the verdict uses only earlier samples).
    #[inline]
    pub fn update(&mut self, t: Millis, x: f64, stack: &Stack) -> Verdict {
        self.last_time = t;
        let (y, season) = self.seasonal.as_ref().map_or((x, 0.0), |s| s.adjust(x));
        let r = self.baseline.residual(y, &stack.weights);
        let (z, mask) = stack.tests.statistic(&r);
        // The residual tests' statistic is calibrated by the series' tail; the novelty's
        // probability is its own rate already, and joins after. Novelty reads the raw
        // value: a daily shape is itself a sequence of contexts it learns.
        // (The central range before this sample learns it, for the far-out fence.)
        let central = (self.novelty.lo, self.novelty.hi);
        // While the range is still being learned, the tracked quantiles lag behind the
        // spread the series already shows: the central range is at least the normal one
        // around the level (1.645 robust scales each way), so the fence stays 4.9 scales
        // out.
        let young = calibrate::learning_range(self.baseline.n, stack.alarm_q).is_some();
        let central = if young && r.scale.is_finite() && r.scale > 0.0 {
            (central.0.min(r.expected - 1.645 * r.scale), central.1.max(r.expected + 1.645 * r.scale))
        } else {
            central
        };
        // Switched off, the novelty still tracks the central range (the far-out fence).
        let p_novel = self.novelty.update(x, r.scale);
        let p_novel = if stack.novelty { p_novel } else { 1.0 };
        // The direction of the deviation: the larger of the spike and the shift.
        let up = if r.shift_z.abs() > r.z.abs() { r.shift_z >= 0.0 } else { r.z >= 0.0 };
        let tail = if up { &mut self.tail } else { &mut self.tail_low };
        let (q, mask) = calibrate::fold_novelty(p_novel, tail.q(z), mask);
        // A value beyond the whole range the series has shown is news by itself.
        // (Whether the series has shown only positive values, before it learns this one.)
        let positive = self.extremes.seen && self.extremes.lo > 0.0;
        let extreme = self.extremes.update(x).then(|| extremes::far_out(x, central, positive)).filter(|_| stack.new_extreme);
        let (q, mask) = calibrate::fold_extreme(extreme, self.baseline.n, stack.alarm_q, q, mask);
        // So is a level beyond every level it has held (a sustained subtle change); the
        // level of the deseasonalised values, so a season longer than the level's span
        // (a weekly one) does not set records by itself.
        let record = self.levels.update(y, stack.weights.scale, stack.record_span).filter(|_| stack.new_level);
        let (q, mask) = calibrate::fold_level(record, q, mask);
        let warm = self.baseline.n >= stack.warmup;
        tail.learn(z, &stack.tests);
        self.baseline.learn(y, x, &r, &stack.weights);
        if let (Some(s), Some(p)) = (&mut self.seasonal, &stack.seasonal) {
            s.learn(x, p);
        }
        // Only a persistent shift or variance change is a new regime to adopt.
        self.track_regime(mask & !(calibrate::NOVEL | calibrate::EXTREME | calibrate::NEW_LEVEL), stack);
        let score = calibrate::score_of(q);
        let mut v = Verdict {
            q,
            likelihood: 1.0 - q,
            score,
            detectors: mask,
            expected: r.expected + season,
            scale: r.scale,
            transition: None,
            alarm_score: 0.0,
        };
        if warm {
            self.step_episode(t, x, &mut v, stack);
            // After the verdict: a confirmation is judged by the earlier clusters.
            self.clusters.learn(v.q <= stack.alarm_q, x >= v.expected, stack.end_after);
        }
        v
    }

    /// A deviation that persists for `regime_after` samples is a new regime.
    fn track_regime(&mut self, mask: u8, stack: &Stack) {
        if mask == 0 {
            self.persist = 0;
            return;
        }
        self.persist += 1;
        if self.persist < stack.regime_after {
            return;
        }
        let values = self.baseline.recent_values(RECENT);
        let start = regime::locate(&values).unwrap_or(values.len().saturating_sub(self.persist as usize));
        let tail = &values[start.min(values.len().saturating_sub(4))..];
        self.baseline.restart_from(tail);
        self.persist = 0;
    }

    fn step_episode(&mut self, t: Millis, x: f64, v: &mut Verdict, stack: &Stack) {
        let alarming = v.q <= stack.alarm_q;
        match &mut self.episode {
            None => {
                // By calibration one sample in 1 / q_alarm is beyond the alarm level: alone
                // it is the alarm budget's expected noise. An anomaly starts on as much
                // evidence as two such samples: a second alarming sample before the first
                // is forgotten (`end_after` unremarkable samples, as an episode ends), or
                // one sample as improbable as two (q <= q_alarm^2; a new extreme is).
                self.since_end = self.since_end.saturating_add(1);
                if !alarming {
                    if let Some(p) = &mut self.pending {
                        p.quiet += 1;
                        if p.quiet >= stack.end_after {
                            self.pending = None;
                        }
                    }
                    return;
                }
                let conclusive = v.q <= stack.conclusive_q;
                // Right after an anomaly ends, the baseline's level still carries it (its
                // span is `refractory`): a new one then is mostly the old one's echo, and
                // starts on conclusive evidence only.
                if !conclusive && self.since_end < stack.refractory {
                    return;
                }
                // A confirmation is a second deviation the same way: a swing above and
                // then below the expected value (or back) is one glitch's two sides; the
                // later one waits for its own confirmation.
                let up = x >= v.expected;
                let first = self.pending.take().filter(|p| p.up == up);
                if first.is_none() && !conclusive {
                    self.pending = Some(Pending { since: t, log_q: v.q.max(1e-300).log10() as f32, quiet: 0, up });
                    return;
                }
                // A confirmed anomaly's evidence is both samples': their joint probability
                // (on the scale of the conclusive single sample, q_alarm^2), as rare as pairs
                // are on this series (`Clusters::dependence`).
                let dependence = self.clusters.dependence(stack.pair_q);
                let (started, score) =
                    first.map_or((t, v.score), |p| (p.since, calibrate::score_of(v.q * 10f64.powf(f64::from(p.log_q)) * dependence)));
                self.episode = Some(Episode {
                    started,
                    last_anomalous: t,
                    peak_score: score,
                    published_score: score,
                    detectors: v.detectors,
                    revision: 0,
                    quiet: 0,
                    since_update: 0,
                    observed: x,
                    expected: v.expected,
                    scale: v.scale,
                });
                v.transition = Some(Transition::Started);
                v.alarm_score = score;
            }
            Some(e) => {
                e.since_update += 1;
                if alarming {
                    e.quiet = 0;
                    e.last_anomalous = t;
                    e.detectors |= v.detectors;
                    e.peak_score = e.peak_score.max(v.score);
                    // Publish a new peak when it is clearly higher (one decade of q). A
                    // start's score is conclusive (q_alarm^2 or beyond, joint for a confirmed
                    // one), so a single sample escalates only when it is conclusive too: a
                    // mere decade more of a moderate deviation is no news.
                    let escalated = e.peak_score >= e.published_score + 1.0 / calibrate::SCORE_DECADES;
                    if escalated {
                        v.alarm_score = e.peak_score;
                    }
                    if escalated || e.since_update >= stack.update_every {
                        e.published_score = e.peak_score;
                        e.revision += 1;
                        e.since_update = 0;
                        e.observed = x;
                        e.expected = v.expected;
                        e.scale = v.scale;
                        v.transition = Some(Transition::Updated);
                    }
                } else {
                    e.quiet += 1;
                    if e.quiet >= stack.end_after {
                        self.since_end = 0;
                        e.revision += 1;
                        e.observed = x;
                        e.expected = v.expected;
                        e.scale = v.scale;
                        v.transition = Some(Transition::Ended);
                    }
                }
            }
        }
    }

    /// Forget the finished episode (after its `ended` record was built).
    pub fn close_episode(&mut self) {
        self.episode = None;
    }

    /// Band of values the stack would not have called anomalous at the alarm level.
    pub fn band(&self, expected: f64, scale: f64, stack: &Stack) -> (f64, f64) {
        // Residual at which q reaches the alarm level.
        let (lo, hi) = (self.tail_low.z_at(stack.alarm_q), self.tail.z_at(stack.alarm_q));
        (expected - lo * scale, expected + hi * scale)
    }
}
