//! Contextual novelty: a new shape of the series, a sequence of values it has not shown
//! in its recent history, even when every single value is within its usual range.
//!
//! The residual tests (`baseline.rs`) ask "is this value far from the expected one?".
//! This detector asks "has the series been in this context before?":
//!
//! 1. Each value becomes one of eight symbols against the series' own running range: the
//!    central 90% of its values (the 5% and 95% quantiles, tracked by stochastic
//!    approximation, so a spike does not stretch it) cut into six equal bins, plus one
//!    symbol below and one above it. The grid the symbols are cut from follows the range
//!    only when it has moved by half a bin, and a value keeps the previous symbol within
//!    a quarter bin of its bin (hysteresis): neither the quantiles' jitter nor noise at a
//!    bin edge makes new symbols.
//! 2. The contexts of a sample are the words of its last 1, 2, 3 and 4 symbols. A bounded
//!    memory holds a 4-bit familiarity count per context: a visit raises it, an aging
//!    sweep lowers every count by one every `AGE_PASS` samples, so a context not seen for
//!    long is forgotten.
//! 3. A sample's news is the shortest of its contexts the memory does not hold, if that
//!    context is fresh: shorter than the contexts that still hold the latest new piece
//!    (a new value makes the next three samples' longer contexts new as well; that is one
//!    event, not four). The series' own rate of fresh news at each length or shorter is
//!    tracked, and the sample's probability is that rate (no rate is believed below one
//!    event per `RATE_SPAN` samples): a noisy series, which meets new long contexts all
//!    the time, gets little credit for one; a series that repeats itself gets a small
//!    probability for any.
//! 4. A new pattern is several fresh pieces within a few samples: the probabilities of
//!    the last four samples are combined by Fisher's method. One new piece alone is not
//!    enough (p > 0.08); two rare ones within four samples are.
//!
//! The result is a tail probability estimated from the series' own rates, so
//! `calibrate::fold_novelty` joins it to the residual tests' calibrated probability
//! directly (the more surprising of the two), detector `novel_pattern`.
//!
//! A pure state machine: O(1) time per sample, fixed-size state (about 1.1 KiB, most of it
//! the 2048 4-bit counts), causal (a sample is judged before it is learned).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Symbols: six bins over the central range and one each side of it (3 bits). A bin is a
/// sixth of the normal range: coarse enough that ordinary noise stays in one bin, fine
/// enough that a plateau or a changed slope inside the range is a different word.
const BINS: f64 = 6.0;
const SYMBOL_BITS: u32 = 3;
/// Hysteresis of the symbols, in bins (see `symbol`): a quarter bin, so a value must
/// cross well into the next bin to change symbol; noise within half a bin of an edge
/// cannot flicker.
const HYSTERESIS: f64 = 0.25;
/// Longest context, in symbols. Four samples is the shortest run that shows a shape (a
/// rise, a plateau and a fall); longer words of a noisy series are nearly always new.
const ORDERS: usize = 4;
/// The range is the central 90% of the values: quantiles 5% and 95%.
const RANGE_P: f64 = 0.05;
/// The range's quantiles move by at most 1% of its width per sample: the outer edge
/// follows a new regime within ~100 samples, a range narrows within ~2000.
const RANGE_RATE: f64 = 0.01;
/// Memory: 4-bit familiarity counts. Contexts of length 1-3 each have their own slot
/// (8 + 64 + 512), length-4 words (4096 of them) share the rest by hash.
const SLOTS: usize = 2048;
const SHORT_SLOTS: usize = 8 + 64 + 512;
/// A visit adds this much familiarity (counts saturate at 15).
const VISIT: u8 = 4;
/// Every count drops by one per `AGE_PASS` samples (the sweep ages `SLOTS / AGE_PASS`
/// counts a sample): a context seen once is remembered ~4 passes (1024 samples, three and
/// a half days at 5-minute sampling), one seen often ~15 passes (about two weeks).
const AGE_PASS: usize = 256;
const AGE_BYTES_PER_SAMPLE: usize = SLOTS / 2 / AGE_PASS;
/// Span (samples) of the novelty rates: the memory's horizon for a context seen once
/// (`VISIT` passes of `AGE_PASS` samples), so "usual novelty" is measured over what the
/// memory can recall.
const RATE_SPAN: f64 = 1024.0;

/// Contextual novelty state of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Novelty {
    pub n: u64,
    /// Running 5% and 95% quantiles.
    pub lo: f64,
    pub hi: f64,
    /// The range the symbols are cut from: it follows `lo` and `hi` only when either has
    /// moved by half a bin, so the symbols of a steady series do not flicker with the
    /// quantiles' own jitter.
    pub grid_lo: f64,
    pub grid_hi: f64,
    /// The last `ORDERS` symbols, 3 bits each, newest in the low bits.
    pub word: u16,
    /// Symbols in `word` (up to `ORDERS`).
    pub filled: u8,
    /// Next byte of the memory the aging sweep lowers.
    pub sweep: u16,
    /// Per context length k, the rate of samples whose shortest fresh new context is k
    /// or shorter.
    pub rates: [f32; ORDERS],
    /// Shortest context length that, at this sample, still holds the latest new piece
    /// of the series (ORDERS + 1: none does): longer new contexts are not fresh news.
    pub implied: u8,
    /// -ln of the last `ORDERS` samples' probabilities (a ring, by `n`).
    pub surprise: [f32; ORDERS],
    #[serde(with = "hex_bytes")]
    pub memory: [u8; SLOTS / 2],
}

impl Default for Novelty {
    fn default() -> Self {
        Novelty { n: 0, lo: 0.0, hi: 0.0, grid_lo: 0.0, grid_hi: 0.0, word: 0, filled: 0, sweep: 0, rates: [0.0; ORDERS], implied: ORDERS as u8 + 1, surprise: [0.0; ORDERS], memory: [0; SLOTS / 2] }
    }
}

/// Weight of an exponentially weighted mean of span `s`.
const fn weight(s: f64) -> f64 {
    2.0 / (s + 1.0)
}

impl Novelty {
    /// Judge `x` and learn it: the probability that a sample of this series is at least
    /// this novel (1 when nothing is new). `scale` is the baseline's robust scale, the
    /// range's width before the range is known.
    #[inline]
    pub fn update(&mut self, x: f64, scale: f64) -> f64 {
        self.n += 1;
        if self.n == 1 {
            (self.lo, self.hi, self.grid_lo, self.grid_hi) = (x, x, x, x);
        }
        let sym = self.symbol(x);
        self.word = ((u32::from(self.word) << SYMBOL_BITS | sym) & ((1 << (SYMBOL_BITS * ORDERS as u32)) - 1)) as u16;
        self.filled = self.filled.saturating_add(1).min(ORDERS as u8);
        // Judge: the shortest context of this sample the memory does not hold. It is
        // fresh news only if shorter than the contexts that still hold the latest new
        // piece (a new value makes the next three samples' longer contexts new as well:
        // one event, not four).
        let mut slots = [0usize; ORDERS];
        let mut shortest = None;
        for (k, slot) in slots.iter_mut().enumerate().take(self.filled as usize) {
            *slot = slot_of(k + 1, u32::from(self.word));
            if shortest.is_none() && self.count(*slot) == 0 {
                shortest = Some(k);
            }
        }
        self.implied = self.implied.saturating_add(1).min(ORDERS as u8 + 1);
        let fresh = shortest.filter(|&k| (k as u8) + 1 < self.implied);
        if let Some(k) = shortest {
            self.implied = self.implied.min(k as u8 + 1);
        }
        let p = match fresh {
            Some(k) if self.n > 1 => f64::from(self.rates[k]).clamp(1.0 / RATE_SPAN, 1.0),
            _ => 1.0,
        };
        // A new pattern shows as several fresh pieces within a few samples: the last
        // `ORDERS` samples' probabilities are combined by Fisher's method, -2 sum ln p ~
        // chi-squared with 2 ORDERS degrees of freedom.
        self.surprise[(self.n % ORDERS as u64) as usize] = -(p.ln()) as f32;
        let evidence: f64 = self.surprise.iter().map(|&v| f64::from(v)).sum();
        let p = chi_squared_sf_even(2.0 * evidence, ORDERS);
        // Learn: the contexts, the range, the rates.
        for &slot in slots.iter().take(self.filled as usize) {
            self.visit(slot);
        }
        self.age();
        self.learn_range(x, scale);
        let a = weight(RATE_SPAN).max(1.0 / self.n as f64) as f32;
        for (k, r) in self.rates.iter_mut().enumerate() {
            let hit = if fresh.is_some_and(|s| s <= k) { 1.0 } else { 0.0 };
            *r += a * (hit - *r);
        }
        p
    }

    /// Symbol of `x` against the current range, with hysteresis: a value within a
    /// quarter bin of the previous symbol's bin keeps that symbol, so noise around a bin
    /// edge does not flicker between two symbols (and make new contexts of its own).
    #[inline]
    fn symbol(&self, x: f64) -> u32 {
        let sym = self.raw_symbol(x);
        if self.filled == 0 {
            return sym;
        }
        let prev = u32::from(self.word) & 7;
        let bin = (self.grid_hi - self.grid_lo) / BINS;
        let margin = HYSTERESIS * bin;
        // The previous symbol's bin, widened by the margin.
        let (a, b) = match prev {
            0 => (f64::NEG_INFINITY, self.grid_lo + margin),
            7 => (self.grid_hi - margin, f64::INFINITY),
            s => (self.grid_lo + f64::from(s - 1) * bin - margin, self.grid_lo + f64::from(s) * bin + margin),
        };
        if sym != prev && x >= a && x <= b {
            prev
        } else {
            sym
        }
    }

    #[inline]
    fn raw_symbol(&self, x: f64) -> u32 {
        if x < self.grid_lo {
            0
        } else if x > self.grid_hi {
            7
        } else {
            let width = self.grid_hi - self.grid_lo;
            if width > 0.0 {
                1 + (((x - self.grid_lo) / width * BINS) as u32).min(BINS as u32 - 1)
            } else {
                // A flat range: the value sits on it.
                1 + BINS as u32 / 2
            }
        }
    }

    #[inline]
    fn learn_range(&mut self, x: f64, scale: f64) {
        let rate = RANGE_RATE.max(1.0 / self.n as f64);
        let step = rate * (self.hi - self.lo).max(scale);
        self.lo += step * (RANGE_P - if x < self.lo { 1.0 } else { 0.0 });
        self.hi += step * ((1.0 - RANGE_P) - if x < self.hi { 1.0 } else { 0.0 });
        if self.hi < self.lo {
            let mid = 0.5 * (self.lo + self.hi);
            self.lo = mid;
            self.hi = mid;
        }
        let half_bin = 0.5 * (self.hi - self.lo).max(self.grid_hi - self.grid_lo) / BINS;
        if (self.lo - self.grid_lo).abs() > half_bin || (self.hi - self.grid_hi).abs() > half_bin || half_bin == 0.0 {
            self.grid_lo = self.lo;
            self.grid_hi = self.hi;
        }
    }

    #[inline]
    fn count(&self, slot: usize) -> u8 {
        let b = self.memory[slot / 2];
        if slot.is_multiple_of(2) {
            b & 0x0f
        } else {
            b >> 4
        }
    }

    #[inline]
    fn visit(&mut self, slot: usize) {
        let c = (self.count(slot) + VISIT).min(15);
        let b = &mut self.memory[slot / 2];
        *b = if slot.is_multiple_of(2) { (*b & 0xf0) | c } else { (*b & 0x0f) | (c << 4) };
    }

    /// Lower the next few bytes' counts by one (saturating at 0).
    #[inline]
    fn age(&mut self) {
        // (Rounded onto the sweep's grid: a snapshot cannot make it slice out of bounds.)
        let start = self.sweep as usize % (SLOTS / 2) / AGE_BYTES_PER_SAMPLE * AGE_BYTES_PER_SAMPLE;
        for b in &mut self.memory[start..start + AGE_BYTES_PER_SAMPLE] {
            let lo = (*b & 0x0f).saturating_sub(1);
            let hi = (*b >> 4).saturating_sub(1);
            *b = (hi << 4) | lo;
        }
        self.sweep = ((start + AGE_BYTES_PER_SAMPLE) % (SLOTS / 2)) as u16;
    }
}

/// Survival function of chi-squared with 2k degrees of freedom at `x` (closed form for
/// even degrees: e^(-x/2) sum_{j<k} (x/2)^j / j!).
fn chi_squared_sf_even(x: f64, k: usize) -> f64 {
    let h = 0.5 * x.max(0.0);
    let mut term = 1.0;
    let mut sum = 1.0;
    for j in 1..k {
        term *= h / j as f64;
        sum += term;
    }
    ((-h).exp() * sum).min(1.0)
}

/// Memory slot of the context of length `k` (1..=ORDERS) ending in `word`.
#[inline]
fn slot_of(k: usize, word: u32) -> usize {
    let w = word & ((1 << (SYMBOL_BITS * k as u32)) - 1);
    match k {
        1 => w as usize,
        2 => 8 + w as usize,
        3 => 72 + w as usize,
        // Fibonacci hashing of the 12-bit word onto the shared slots.
        _ => SHORT_SLOTS + ((w.wrapping_mul(0x9e37_79b1) >> 16) as usize) % (SLOTS - SHORT_SLOTS),
    }
}

/// The memory as a hex string in snapshots (a JSON array of 1024 numbers is four times
/// larger).
mod hex_bytes {
    use super::*;

    const N: usize = SLOTS / 2;

    pub fn serialize<S: Serializer>(m: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(2 * N);
        for b in m.iter() {
            text.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
            text.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        let digits = text.as_bytes();
        if digits.len() != 2 * N {
            return Err(serde::de::Error::custom(format!("novelty memory: {} hex digits, want {}", digits.len(), 2 * N)));
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(serde::de::Error::custom("novelty memory: not a hex digit")),
        };
        let mut m = [0u8; N];
        for (i, b) in m.iter_mut().enumerate() {
            *b = (nibble(digits[2 * i])? << 4) | nibble(digits[2 * i + 1])?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::calibrate::NOVEL;
    use crate::anomaly::{AnomalyConfig, SeriesDetector, Stack};

    /// A repeating cycle of `period` values: a rise over the first half, a fall after.
    fn cycle(i: usize, period: usize) -> f64 {
        let ph = i % period;
        let half = period / 2;
        if ph < half {
            ph as f64
        } else {
            (period - ph) as f64
        }
    }

    /// Smallest probability `Novelty` gives in `range` of the series.
    fn min_p(values: &[f64], range: std::ops::Range<usize>) -> f64 {
        let mut n = Novelty::default();
        let mut least = 1.0f64;
        for (i, &x) in values.iter().enumerate() {
            let p = n.update(x, 1.0);
            if range.contains(&i) {
                least = least.min(p);
            }
        }
        least
    }

    #[test]
    fn new_shapes_fire_and_repeated_ones_do_not() {
        let period = 16;
        let repeated: Vec<f64> = (0..3000).map(|i| cycle(i, period)).collect();
        // The same values in a shape never seen: from sample 2000 on, a plateau at mid
        // range for 8 samples in place of the rise.
        let mut plateau = repeated.clone();
        for x in &mut plateau[2000..2008] {
            *x = 4.0;
        }
        // The cycle at double speed for two of its periods: every value is familiar,
        // the steps between them are not.
        let mut faster = repeated.clone();
        for (i, x) in faster.iter_mut().enumerate().skip(2000).take(period) {
            *x = cycle(2 * i, period);
        }
        // A jump of phase alone is one new step, not a new pattern.
        let mut jump = repeated.clone();
        for (i, x) in jump.iter_mut().enumerate().skip(2000) {
            *x = cycle(i + period / 2, period);
        }
        let cases: Vec<(&str, &[f64], bool)> = vec![
            ("the learned cycle repeated", &repeated, false),
            ("a plateau inside the range", &plateau, true),
            ("the cycle at double speed", &faster, true),
            ("a jump of phase", &jump, false),
        ];
        for (name, values, fires) in cases {
            let p = min_p(values, 2000..2030);
            assert_eq!(p < 0.01, fires, "{name}: least p {p}");
        }
    }

    #[test]
    fn a_new_shape_repeated_soon_is_familiar() {
        let period = 16;
        let mut values: Vec<f64> = (0..3000).map(|i| cycle(i, period)).collect();
        // The same new shape twice, 64 samples apart.
        for start in [2000, 2064] {
            for x in &mut values[start..start + 8] {
                *x = 4.0;
            }
        }
        assert!(min_p(&values, 2000..2030) < 0.01);
        assert!(min_p(&values, 2064..2094) > 0.01, "the second showing is remembered");
    }

    #[test]
    fn noise_is_rarely_novel() {
        let values: Vec<f64> = (0..20_000).map(|i| 10.0 + crate::anomaly::tests::noise(i, 3)).collect();
        let mut n = Novelty::default();
        let novel = values.iter().enumerate().filter(|&(i, &x)| n.update(x, 1.0) < 0.01 && i > 2000).count();
        // Fisher's method over overlapping contexts is not exact; it must stay near 1%.
        assert!(novel < 18_000 / 50, "{novel} of 18000 samples beyond p < 1%");
    }

    #[test]
    fn the_detector_names_the_novel_pattern() {
        let stack = Stack::new(&AnomalyConfig { seasonal: crate::anomaly::SeasonalConfig { enabled: false, ..Default::default() }, ..Default::default() });
        let mut d = SeriesDetector::new(&stack);
        let period = 16;
        let mut novel_bits = (0, 0);
        for i in 0..3000 {
            let x = if (2000..2008).contains(&i) { 4.0 } else { cycle(i, period) };
            let v = d.update(i as i64 * 1000, x, &stack);
            if v.detectors & NOVEL != 0 {
                if i < 2000 {
                    // Once the range has settled (its 95% quantile climbs slowly) and the
                    // cycle is learned.
                    novel_bits.0 += u32::from(i > 1000);
                } else if i < 2030 {
                    novel_bits.1 += 1;
                }
            }
        }
        assert_eq!(novel_bits.0, 0, "no novelty once the cycle is learned");
        assert!(novel_bits.1 > 0, "the plateau is a novel pattern");
        // Switched off: the same series never names it.
        let stack = Stack::new(&AnomalyConfig {
            novelty: false,
            seasonal: crate::anomaly::SeasonalConfig { enabled: false, ..Default::default() },
            ..Default::default()
        });
        let mut d = SeriesDetector::new(&stack);
        for i in 0..3000 {
            let x = if (2000..2008).contains(&i) { 4.0 } else { cycle(i, period) };
            assert_eq!(d.update(i as i64 * 1000, x, &stack).detectors & NOVEL, 0, "sample {i}");
        }
    }

    #[test]
    fn snapshot_round_trip_continues_identically() {
        let values: Vec<f64> = (0..1500).map(|i| cycle(i, 12) + 0.1 * crate::anomaly::tests::noise(i, 5)).collect();
        let mut a = Novelty::default();
        for &x in &values[..1000] {
            a.update(x, 1.0);
        }
        let json = serde_json::to_string(&a).expect("serialise");
        let mut b: Novelty = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(a, b);
        for &x in &values[1000..] {
            assert_eq!(a.update(x, 1.0).to_bits(), b.update(x, 1.0).to_bits());
        }
        let bad = json.replacen("\"memory\":\"", "\"memory\":\"zz", 1);
        assert!(serde_json::from_str::<Novelty>(&bad).is_err());
    }

    #[test]
    fn helpers() {
        let sf = |x: f64, k: usize| chi_squared_sf_even(x, k);
        for (x, k, want) in [(0.0, 4, 1.0), (2.0, 1, (-1.0f64).exp()), (4.0, 2, 3.0 * (-2.0f64).exp()), (-1.0, 3, 1.0)] {
            assert!((sf(x, k) - want).abs() < 1e-12, "sf({x}, {k})");
        }
        for k in 1..=ORDERS {
            for w in 0..(1u32 << (SYMBOL_BITS * ORDERS as u32)) {
                assert!(slot_of(k, w) < SLOTS);
            }
        }
        assert!(std::mem::size_of::<Novelty>() <= 1200, "{} bytes", std::mem::size_of::<Novelty>());
    }
}
