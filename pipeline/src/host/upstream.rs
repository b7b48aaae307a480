//! The upstream gate of a job that reads a topic KubeSage itself writes (`kubesage.signals`
//! from the `route-*` jobs, `kubesage.incidents` from `correlate`, ...).
//!
//! An idle partition lets its watermark follow the clock so windows close when traffic
//! stops. For an internal topic, "nothing more to read" can also mean "the stage writing it
//! is behind" (restarting after a crash, rebalancing): advancing then would turn the
//! records still on their way into late data and make the outcome depend on timing. So a
//! gated job advances an idle watermark only when every upstream job has committed its
//! input to the end (it commits only after its outputs were acknowledged, so everything it
//! will write is already in our topic). Until then the watermark moves with the data alone.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::Result;

/// A job feeding the gated job: its name (consumer group `<prefix>.<job>`) and input topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    pub job: &'static str,
    pub topic: &'static str,
}

pub struct UpstreamGate {
    /// One reader per upstream group: it only fetches that group's committed offsets, it
    /// never joins the group.
    readers: Vec<(BaseConsumer, &'static str)>,
    /// Last answer and when it was found.
    cache: Mutex<Option<(Instant, bool)>>,
    recheck: Duration,
}

const TIMEOUT: Duration = Duration::from_secs(2);

impl UpstreamGate {
    pub fn new(reader: &ClientConfig, group_prefix: &str, upstream: &[Upstream], recheck: Duration) -> Result<UpstreamGate> {
        let mut readers = Vec::with_capacity(upstream.len());
        for u in upstream {
            let mut c = reader.clone();
            c.set("group.id", format!("{group_prefix}.{}", u.job));
            readers.push((c.create::<BaseConsumer>()?, u.topic));
        }
        Ok(UpstreamGate { readers, cache: Mutex::new(None), recheck })
    }

    /// Whether every upstream job has committed its whole input (cached for `recheck`).
    /// Any error answers no: when in doubt, the watermark waits for data.
    pub fn idle(&self) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, answer)) = *cache {
            if at.elapsed() < self.recheck {
                return answer;
            }
        }
        let answer = self.readers.iter().all(|(c, topic)| caught_up(c, topic).unwrap_or(false));
        *cache = Some((Instant::now(), answer));
        answer
    }
}

fn caught_up(c: &BaseConsumer, topic: &str) -> Result<bool> {
    let md = c.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for t in md.topics() {
        for p in t.partitions() {
            let (low, high) = c.fetch_watermarks(topic, p.id(), TIMEOUT)?;
            if high > low {
                tpl.add_partition(topic, p.id());
                ends.push((p.id(), high));
            }
        }
    }
    if ends.is_empty() {
        return Ok(true);
    }
    let committed = c.committed_offsets(tpl, TIMEOUT)?;
    Ok(ends.iter().all(|(p, high)| matches!(committed.find_partition(topic, *p).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= *high)))
}
