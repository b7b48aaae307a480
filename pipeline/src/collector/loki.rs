//! Loki push API (`POST /loki/api/v1/push`), so Promtail, Grafana Alloy, Fluent Bit and
//! Vector ship to KubeSage unchanged: JSON bodies and snappy-compressed protobuf
//! `PushRequest`s. Every line becomes a record on `kubesage.logs`, keyed by stream.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::LogRecord;
use kubesage_schemas::topics::LOGS;
use kubesage_schemas::Envelope;
use prost::Message;
use serde::Deserialize;

use super::ingest::{encode, unsnappy, Ingest};
use super::remote_write::series_key;

pub const PATH: &str = "/loki/api/v1/push";
const SOURCE: &str = "kubesage/collector/loki";
const ENDPOINT: &str = "loki_push";

/// Loki's `logproto` push types, the fields KubeSage reads.
pub mod logproto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<Stream>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Stream {
        /// Prometheus-style label set: `{app="x", namespace="y"}`.
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<Entry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Entry {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// google.protobuf.Timestamp
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// The JSON body: `{"streams":[{"stream":{..},"values":[["<ns>","<line>",{..}?],..]}]}`.
#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
}

#[derive(Clone)]
pub struct LokiPush {
    ingest: Ingest,
}

impl LokiPush {
    pub fn new(ingest: Ingest) -> Self {
        LokiPush { ingest }
    }

    pub fn router(self) -> Router {
        let limit = self.ingest.cfg.max_body_bytes;
        Router::new().route(PATH, post(push)).layer(DefaultBodyLimit::max(limit)).with_state(self)
    }
}

/// One parsed entry.
#[derive(Debug)]
struct Line {
    stream: BTreeMap<String, String>,
    time: DateTime<Utc>,
    line: String,
    metadata: BTreeMap<String, String>,
}

/// Parse a Prometheus-style label set `{a="1", b="x\"y"}`.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = s.trim().strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or_else(|| format!("label set {s:?} is not wrapped in braces"))?;
    let mut out = BTreeMap::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("label set {s:?}: expected name=\"value\""))?;
        let name = rest[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("label set {s:?}: invalid label name {name:?}"));
        }
        let after = rest[eq + 1..].trim_start();
        let mut chars = after.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label set {s:?}: value of {name} is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => { value.push('\n'); escaped = false; }
                (true, c) => { value.push(c); escaped = false; }
                (false, '\\') => escaped = true,
                (false, '"') => { end = Some(i); break; }
                (false, c) => value.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("label set {s:?}: unterminated value of {name}"))?;
        out.insert(name.to_string(), value);
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

fn from_nanos(ns: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

fn parse_json(body: &[u8]) -> Result<Vec<Line>, String> {
    let push: JsonPush = serde_json::from_slice(body).map_err(|e| format!("invalid Loki push JSON: {e}"))?;
    let mut out = Vec::new();
    for (si, s) in push.streams.into_iter().enumerate() {
        for (vi, v) in s.values.into_iter().enumerate() {
            let at = || format!("streams[{si}].values[{vi}]");
            let ts = v.first().and_then(|t| t.as_str()).ok_or_else(|| format!("{}: first element must be a nanosecond timestamp string", at()))?;
            let ns: i128 = ts.parse().map_err(|_| format!("{}: timestamp {ts:?} is not an integer", at()))?;
            let time = from_nanos(ns).ok_or_else(|| format!("{}: timestamp {ts} out of range", at()))?;
            let line = v.get(1).and_then(|l| l.as_str()).ok_or_else(|| format!("{}: second element must be the log line", at()))?.to_string();
            let metadata = match v.get(2) {
                Some(m) => serde_json::from_value(m.clone()).map_err(|e| format!("{}: structured metadata: {e}", at()))?,
                None => BTreeMap::new(),
            };
            out.push(Line { stream: s.stream.clone(), time, line, metadata });
        }
    }
    Ok(out)
}

fn parse_protobuf(body: &[u8], max_decoded: usize) -> Result<Vec<Line>, String> {
    let decoded = unsnappy(body, max_decoded)?;
    let push = logproto::PushRequest::decode(decoded.as_slice()).map_err(|e| format!("invalid PushRequest protobuf: {e}"))?;
    let mut out = Vec::new();
    for (si, s) in push.streams.into_iter().enumerate() {
        let stream = parse_labels(&s.labels).map_err(|e| format!("streams[{si}].labels: {e}"))?;
        for (ei, e) in s.entries.into_iter().enumerate() {
            let ts = e.timestamp.ok_or_else(|| format!("streams[{si}].entries[{ei}] has no timestamp"))?;
            let time = DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0)).ok_or_else(|| format!("streams[{si}].entries[{ei}]: timestamp out of range"))?;
            let metadata = e.structured_metadata.into_iter().map(|l| (l.name, l.value)).collect();
            out.push(Line { stream: stream.clone(), time, line: e.line, metadata });
        }
    }
    Ok(out)
}

/// Undo a `Content-Encoding` as Loki does: none, `snappy` (a label some protobuf clients
/// add; the snappy block itself is undone with the protobuf), `gzip` (loki-logger-handler
/// sends gzip'd JSON by default) or `deflate` (zlib-wrapped or raw, as Go's flate reads it).
/// The decoded size is capped at `max_decoded`.
fn decode_content<'a>(encoding: &str, body: &'a [u8], max_decoded: usize) -> Result<Cow<'a, [u8]>, String> {
    use std::io::Read;
    let encoding = encoding.trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" | "snappy" => return Ok(Cow::Borrowed(body)),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        // A zlib stream starts with a CMF/FLG pair whose 16-bit value is a multiple of 31.
        "deflate" if body.len() >= 2 && body[0] & 0x0f == 8 && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0 => {
            Box::new(flate2::read::ZlibDecoder::new(body))
        }
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(body)),
        other => return Err(format!("unsupported Content-Encoding {other:?}: Loki push bodies may be gzip, deflate or snappy")),
    };
    let mut out = Vec::new();
    let limit = u64::try_from(max_decoded).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(|e| format!("invalid {encoding} body: {e}"))?;
    if out.len() > max_decoded {
        return Err(format!("decoded {encoding} body is over the limit of {max_decoded} bytes"));
    }
    Ok(Cow::Owned(out))
}

/// Decode a push body the way the handler does, from its `Content-Type` and
/// `Content-Encoding` headers: `application/json` (any parameters, any case) is JSON,
/// any other type or none is a snappy-compressed protobuf `PushRequest`, as in Loki.
fn decode_push(content_type: Option<&str>, content_encoding: Option<&str>, body: &[u8], max_decoded: usize) -> Result<Vec<Line>, String> {
    let media_type = content_type.and_then(|t| t.split(';').next()).unwrap_or("").trim();
    let body = decode_content(content_encoding.unwrap_or(""), body, max_decoded)?;
    if media_type.eq_ignore_ascii_case("application/json") {
        parse_json(&body)
    } else {
        parse_protobuf(&body, max_decoded)
    }
}

fn level_of(l: &Line) -> Option<String> {
    ["level", "detected_level", "severity", "lvl"]
        .iter()
        .find_map(|k| l.metadata.get(*k).or_else(|| l.stream.get(*k)))
        .map(|v| v.to_ascii_lowercase())
}

async fn push(State(c): State<LokiPush>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let ing = &c.ingest;
    if !ing.authorised(&headers) {
        return ing.unauthorised(ENDPOINT, started);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parsed = decode_push(header("content-type"), header("content-encoding"), &body, ing.cfg.max_body_bytes.saturating_mul(8));
    let lines = match parsed {
        Ok(l) => l,
        Err(e) if e.contains("over the limit") => return ing.too_large(ENDPOINT, e, started),
        Err(e) => return ing.bad_request(ENDPOINT, e, started),
    };
    let mut out = Vec::with_capacity(lines.len());
    for l in &lines {
        let cluster = ing.cluster_of(&l.stream, &q);
        let key = series_key("", &l.stream);
        let id = stable_id(&["log", &cluster, &key, &l.time.timestamp_nanos_opt().unwrap_or_default().to_string(), &l.line]);
        let record = LogRecord { stream: l.stream.clone(), line: l.line.clone(), timestamp: l.time, level: level_of(l) };
        out.push(encode(key.clone(), &Envelope::new(id, SOURCE, l.time, key.clone(), cluster, record)));
    }
    let n = out.len() as u64;
    ing.publish(ENDPOINT, LOGS, out, n, StatusCode::NO_CONTENT, started).await
}

#[cfg(test)]
mod recorded;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_parse_like_loki() {
        type Labels<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(&str, Result<Labels, ()>)> = vec![
            (r#"{app="web", namespace="shop"}"#, Ok(vec![("app", "web"), ("namespace", "shop")])),
            (r#"{msg="a \"quoted\" word",x="1"}"#, Ok(vec![("msg", "a \"quoted\" word"), ("x", "1")])),
            ("{}", Ok(vec![])),
            (r#"app="web""#, Err(())),
            (r#"{app=web}"#, Err(())),
            (r#"{app="web}"#, Err(())),
        ];
        for (input, want) in cases {
            let got = parse_labels(input).map(|m| m.into_iter().collect::<Vec<_>>()).map_err(|_| ());
            let want = want.map(|v| v.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn json_bodies_parse_with_reasons_for_errors() {
        let ok = br#"{"streams":[{"stream":{"app":"web"},"values":[["1700000000000000001","GET / 200"],["1700000000000000002","boom",{"level":"error"}]]}]}"#;
        let lines = parse_json(ok).expect("valid");
        assert_eq!(lines.len(), 2);
        assert_eq!(level_of(&lines[1]).as_deref(), Some("error"));
        assert_eq!(lines[0].time.timestamp_nanos_opt(), Some(1_700_000_000_000_000_001));
        let bad = br#"{"streams":[{"stream":{},"values":[[1700000000,"x"]]}]}"#;
        assert!(parse_json(bad).expect_err("numeric ts").contains("streams[0].values[0]"));
    }
}
