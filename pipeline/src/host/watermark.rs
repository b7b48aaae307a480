//! Per-partition watermarks: highest event time seen minus the allowed out-of-orderness.
//! An idle partition (read to its end, and no records for `idle_timeout`) lets its
//! watermark follow the processing-time clock, so windows still close when traffic stops.
//! Idleness needs the end of the log: a consumer that is merely slow to fetch (after a
//! restart, say) must not push the watermark past records it has not read yet.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The part of a watermark that is checkpointed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkState {
    pub max_event_ms: Option<i64>,
    pub watermark_ms: Option<i64>,
}

pub struct WatermarkTracker {
    pub state: WatermarkState,
    out_of_orderness_ms: i64,
    idle_timeout: Duration,
    last_record: Instant,
    /// The consumer reached the end of the partition and nothing arrived since.
    at_end: bool,
}

impl WatermarkTracker {
    pub fn new(state: WatermarkState, out_of_orderness: Duration, idle_timeout: Duration) -> Self {
        WatermarkTracker {
            state,
            out_of_orderness_ms: i64::try_from(out_of_orderness.as_millis()).unwrap_or(i64::MAX),
            idle_timeout,
            last_record: Instant::now(),
            at_end: false,
        }
    }

    pub fn watermark(&self) -> Option<i64> {
        self.state.watermark_ms
    }

    /// Whether an event at `event_ms` is behind the watermark.
    pub fn is_late(&self, event_ms: i64) -> bool {
        self.state.watermark_ms.is_some_and(|w| event_ms < w)
    }

    /// Note a record; returns the new watermark if it advanced.
    pub fn observe(&mut self, event_ms: i64, now: Instant) -> Option<i64> {
        self.last_record = now;
        self.at_end = false;
        let max = self.state.max_event_ms.map_or(event_ms, |m| m.max(event_ms));
        self.state.max_event_ms = Some(max);
        self.advance_to(max.saturating_sub(self.out_of_orderness_ms))
    }

    /// The consumer read everything the partition holds.
    pub fn reached_end(&mut self) {
        self.at_end = true;
    }

    /// Quiet for `idle_timeout` without knowing whether the log has ended: time to ask
    /// the broker (a restored partition that starts at the end gets no EOF event).
    pub fn should_check_end(&self, now: Instant) -> bool {
        !self.at_end && now.saturating_duration_since(self.last_record) >= self.idle_timeout
    }

    /// At the end of the log and quiet for `idle_timeout`: `on_idle` would advance.
    pub fn idle_due(&self, now: Instant) -> bool {
        self.at_end && self.state.max_event_ms.is_some() && now.saturating_duration_since(self.last_record) >= self.idle_timeout
    }

    /// On a tick: if idle, advance with the clock from where the data left it.
    pub fn on_idle(&mut self, now: Instant) -> Option<i64> {
        if !self.at_end {
            return None;
        }
        let idle_for = now.saturating_duration_since(self.last_record);
        let max = self.state.max_event_ms?;
        if idle_for < self.idle_timeout {
            return None;
        }
        let beyond = i64::try_from((idle_for - self.idle_timeout).as_millis()).unwrap_or(i64::MAX);
        self.advance_to(max.saturating_sub(self.out_of_orderness_ms).saturating_add(beyond))
    }

    fn advance_to(&mut self, candidate: i64) -> Option<i64> {
        if self.state.watermark_ms.is_some_and(|w| candidate <= w) {
            return None;
        }
        self.state.watermark_ms = Some(candidate);
        Some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_trails_max_event_time_and_never_regresses() {
        let now = Instant::now();
        let mut w = WatermarkTracker::new(WatermarkState::default(), Duration::from_secs(5), Duration::from_secs(10));
        assert_eq!(w.observe(100_000, now), Some(95_000));
        assert_eq!(w.observe(90_000, now), None, "out-of-order event does not move it back");
        assert!(w.is_late(90_000));
        assert!(!w.is_late(95_000));
        assert_eq!(w.observe(101_000, now), Some(96_000));
    }

    #[test]
    fn idle_partition_follows_the_clock() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(WatermarkState::default(), Duration::from_secs(5), Duration::from_secs(10));
        w.observe(100_000, start);
        assert_eq!(w.on_idle(start + Duration::from_secs(30)), None, "not idle before the end of the log");
        assert!(!w.idle_due(start + Duration::from_secs(30)));
        w.reached_end();
        assert!(!w.idle_due(start + Duration::from_secs(9)) && w.idle_due(start + Duration::from_secs(10)));
        assert_eq!(w.on_idle(start + Duration::from_secs(9)), None);
        assert_eq!(w.on_idle(start + Duration::from_secs(13)), Some(98_000));
        assert_eq!(w.on_idle(start + Duration::from_secs(20)), Some(105_000));
    }
}
