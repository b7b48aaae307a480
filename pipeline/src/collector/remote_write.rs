//! Prometheus remote_write 1.0 receiver (`POST /api/v1/write`, snappy-compressed protobuf
//! `WriteRequest`): every sample becomes a record on `kubesage.metrics`, keyed by series
//! (name + sorted labels). Prometheus retries 5xx and drops on 4xx, so a 2xx is sent only
//! after Kafka acknowledged every sample and a 4xx only for bodies that can never succeed.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::MetricSample;
use kubesage_schemas::topics::METRICS;
use kubesage_schemas::Envelope;
use prost::Message;

use super::ingest::{encode, unsnappy, Ingest};

pub const PATH: &str = "/api/v1/write";
const SOURCE: &str = "kubesage/collector/remote-write";
const ENDPOINT: &str = "remote_write";

/// The remote-write 1.0 wire types (prometheus/prompb), the fields KubeSage reads.
pub mod prompb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

#[derive(Clone)]
pub struct RemoteWrite {
    ingest: Ingest,
}

impl RemoteWrite {
    pub fn new(ingest: Ingest) -> Self {
        RemoteWrite { ingest }
    }

    pub fn router(self) -> Router {
        let limit = self.ingest.cfg.max_body_bytes;
        Router::new().route(PATH, post(write)).layer(DefaultBodyLimit::max(limit)).with_state(self)
    }
}

pub use kubesage_schemas::signals::series_key;

async fn write(State(c): State<RemoteWrite>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let ing = &c.ingest;
    if !ing.authorised(&headers) {
        return ing.unauthorised(ENDPOINT, started);
    }
    let encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !encoding.eq_ignore_ascii_case("snappy") {
        return ing.bad_request(ENDPOINT, format!("Content-Encoding must be snappy (remote-write 1.0), got {encoding:?}"), started);
    }
    // A decoded body may be several times the compressed one; bound it all the same.
    let decoded = match unsnappy(&body, ing.cfg.max_body_bytes.saturating_mul(8)) {
        Ok(d) => d,
        Err(e) if e.contains("over the limit") => return ing.too_large(ENDPOINT, e, started),
        Err(e) => return ing.bad_request(ENDPOINT, e, started),
    };
    let req = match prompb::WriteRequest::decode(decoded.as_slice()) {
        Ok(r) => r,
        Err(e) => return ing.bad_request(ENDPOINT, format!("invalid WriteRequest protobuf: {e}"), started),
    };
    let mut out = Vec::new();
    for (i, ts) in req.timeseries.iter().enumerate() {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut name = None;
        for l in &ts.labels {
            if l.name == "__name__" {
                name = Some(l.value.clone());
            } else {
                labels.insert(l.name.clone(), l.value.clone());
            }
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return ing.bad_request(ENDPOINT, format!("timeseries[{i}] has no __name__ label"), started);
        };
        let cluster = ing.cluster_of(&labels, &q);
        let key = series_key(&name, &labels);
        for s in &ts.samples {
            let Some(time) = chrono::DateTime::from_timestamp_millis(s.timestamp) else {
                return ing.bad_request(ENDPOINT, format!("timeseries[{i}] has a sample with timestamp {} out of range", s.timestamp), started);
            };
            // The same sample sent twice (a retry) keeps its id.
            let id = stable_id(&["sample", &cluster, &key, &s.timestamp.to_string(), &s.value.to_bits().to_string()]);
            let sample = MetricSample { name: name.clone(), labels: labels.clone(), value: s.value, timestamp: time };
            out.push(encode(key.clone(), &Envelope::new(id, SOURCE, time, key.clone(), cluster.clone(), sample)));
        }
    }
    let n = out.len() as u64;
    ing.publish(ENDPOINT, METRICS, out, n, StatusCode::NO_CONTENT, started).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keys_are_sorted_and_escaped() {
        let labels = BTreeMap::from([("job".to_string(), "a\"b".to_string()), ("instance".to_string(), "x:1".to_string())]);
        assert_eq!(series_key("up", &labels), r#"up{instance="x:1",job="a\"b"}"#);
    }
}
