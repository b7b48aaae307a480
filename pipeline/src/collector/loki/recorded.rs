//! Push bodies recorded from real third-party Loki clients (`pipeline/testdata/loki`, made
//! by its `record.sh`), decoded by the handler's own path — `decode_push` with the
//! recorded `Content-Type` and `Content-Encoding` — and checked against what each client
//! was asked to log (`testdata/loki/clients/scenario.json`, which the client scripts read).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{decode_content, decode_push, level_of, Line};

const MAX_DECODED: usize = 1 << 20;

struct Fixture {
    name: &'static str,
    body: &'static [u8],
    sidecar: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            body: include_bytes!(concat!("../../../testdata/loki/", $name, ".body")),
            sidecar: include_str!(concat!("../../../testdata/loki/", $name, ".json")),
        }
    };
}

#[derive(Deserialize)]
struct Asked {
    level: String,
    app: String,
    ms: i64,
    message: String,
    #[serde(default)]
    long: usize,
}

impl Asked {
    /// The text the client scripts log (scenario.js / scenario.py build the long line).
    fn text(&self) -> String {
        let timings: Vec<String> = (0..self.long).map(|i| format!("upstream-{i}={}ms", (i * 37) % 1000)).collect();
        format!("{}{}", self.message, timings.join(" "))
    }

    fn nanos(&self) -> i128 {
        i128::from(self.ms) * 1_000_000
    }

    /// The Python clients stamp `int(seconds * 1e9)` from a float number of seconds.
    fn nanos_via_float_seconds(&self) -> i128 {
        (self.ms as f64 / 1000.0 * 1e9) as i128
    }
}

fn scenario() -> Vec<Asked> {
    #[derive(Deserialize)]
    struct Scenario {
        entries: Vec<Asked>,
    }
    let s: Scenario = serde_json::from_str(include_str!("../../../testdata/loki/clients/scenario.json")).expect("scenario.json");
    assert_eq!(s.entries.len(), 5);
    s.entries
}

/// Decode a recorded body as the handler would, from its recorded headers.
fn decode(f: &Fixture) -> (Value, Vec<Line>) {
    let side: Value = serde_json::from_str(f.sidecar).expect("sidecar");
    assert_eq!((side["method"].as_str(), side["path"].as_str()), (Some("POST"), Some("/loki/api/v1/push")), "{}", f.name);
    assert_eq!(side["body_bytes"].as_u64(), Some(f.body.len() as u64), "{}: body and sidecar belong together", f.name);
    let header = |n: &str| side["headers"][n].as_str();
    let lines = decode_push(header("Content-Type"), header("Content-Encoding"), f.body, MAX_DECODED).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    (side, lines)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What a decoded line is compared on: stream labels, nanoseconds, text, structured metadata.
type Got = (BTreeMap<String, String>, i128, String, BTreeMap<String, String>);

fn got(lines: &[Line]) -> Vec<Got> {
    lines.iter().map(|l| (l.stream.clone(), i128::from(l.time.timestamp_nanos_opt().unwrap_or(i64::MIN)), l.line.clone(), l.metadata.clone())).collect()
}

fn parse_line(l: &Line) -> Value {
    serde_json::from_str(&l.line).unwrap_or_else(|e| panic!("{:?} is not JSON: {e}", l.line))
}

/// winston-loki 6.1.7 groups entries by label set (level first, then the transport's
/// labels, then per-entry `labels`), writes `message` plus the JSON of the remaining meta
/// as the line, and in JSON mode sends that meta again as structured metadata.
fn winston_expected(with_metadata: bool) -> Vec<Got> {
    let s = scenario();
    [0, 4, 1, 2, 3]
        .iter()
        .map(|&i| {
            let e = &s[i];
            let rest = if e.level == "error" { json!({"level": e.level, "order": 4711}) } else { json!({"level": e.level}) };
            let metadata = match (with_metadata, e.level.as_str()) {
                (false, _) => map(&[]),
                (true, "error") => map(&[("level", "error"), ("order", "4711")]),
                (true, level) => map(&[("level", level)]),
            };
            (map(&[("level", &e.level), ("app", &e.app), ("namespace", "shop")]), e.nanos(), format!("{} {rest}", e.text()), metadata)
        })
        .collect()
}

#[test]
fn winston_loki_snappy_protobuf_body_decodes_to_the_logged_entries() {
    let (side, lines) = decode(&fixture!("winston-loki-protobuf"));
    assert_eq!(side["headers"]["Content-Type"], "application/x-protobuf");
    assert!(side["headers"].get("Content-Encoding").is_none(), "winston-loki sends no Content-Encoding with its snappy block");
    assert_eq!(got(&lines), winston_expected(false));
    let levels: Vec<_> = lines.iter().map(level_of).collect();
    assert_eq!(levels, ["info", "info", "error", "info", "warn"].map(|l| Some(l.to_string())));
}

#[test]
fn winston_loki_json_body_decodes_to_the_same_entries_with_metadata() {
    let (side, lines) = decode(&fixture!("winston-loki-json"));
    assert_eq!(side["headers"]["Content-Type"], "application/json");
    assert_eq!(got(&lines), winston_expected(true));
    assert!(lines[3].line.starts_with("Warenkorb aktualisiert für Jürgen — 3 Artikel ✓ 日本語 🚀"), "multi-byte UTF-8 intact");
    assert!(lines[4].line.len() > 2500, "the long line arrives whole");
}

#[test]
fn pino_loki_json_body_has_one_stream_per_entry_and_json_lines() {
    let (_, lines) = decode(&fixture!("pino-loki-json"));
    let s = scenario();
    assert_eq!(lines.len(), s.len());
    for (l, e) in lines.iter().zip(&s) {
        let level = if e.level == "warn" { "warning" } else { e.level.as_str() };
        assert_eq!(l.stream, map(&[("level", level), ("hostname", "web-1"), ("namespace", "shop"), ("app", &e.app)]));
        assert_eq!(i128::from(l.time.timestamp_nanos_opt().unwrap_or_default()), e.nanos());
        let v = parse_line(l);
        assert_eq!((v["msg"].as_str(), v["time"].as_i64(), v["app"].as_str()), (Some(e.text().as_str()), Some(e.ms), Some(e.app.as_str())));
        let want_meta = if e.level == "error" { map(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("order", "4711")]) } else { map(&[]) };
        assert_eq!(l.metadata, want_meta);
        assert_eq!(level_of(l).as_deref(), Some(level));
    }
}

#[test]
fn python_logging_loki_json_body_with_escaped_utf8_decodes() {
    let (side, lines) = decode(&fixture!("python-logging-loki-json"));
    assert!(std::str::from_utf8(fixture!("python-logging-loki-json").body).expect("ascii").contains(r"\ud83d\ude80"), "requests' json= escapes non-ASCII, the emoji as a surrogate pair");
    assert_eq!(side["headers"]["User-Agent"], "python-requests/2.34.2");
    let e = &scenario()[2];
    let want = vec![(
        map(&[("namespace", "shop"), ("severity", "info"), ("logger", "checkout"), ("app", "cart"), ("pod", "cart-7d9f8b-x2k4q")]),
        e.nanos_via_float_seconds(),
        e.message.clone(),
        map(&[]),
    )];
    assert_eq!(got(&lines), want);
    assert_eq!(lines[0].time.timestamp_nanos_opt(), Some(1_795_428_000_003_000_064), "the client's float clock, not a whole millisecond");
    assert_eq!(level_of(&lines[0]).as_deref(), Some("info"));
}

#[test]
fn loki_logger_handler_gzip_json_body_decodes_with_structured_metadata() {
    let f = fixture!("loki-logger-handler-json-gzip");
    let (side, lines) = decode(&f);
    assert_eq!(side["headers"]["Content-Encoding"], "gzip");
    assert_eq!(&f.body[..2], &[0x1f, 0x8b], "a gzip member");
    let s = scenario();
    let order = [0, 1, 3, 4, 2]; // the handler groups by label set: payments, then cart
    assert_eq!(lines.len(), order.len());
    for (l, &i) in lines.iter().zip(&order) {
        let e = &s[i];
        assert_eq!(l.stream, map(&[("namespace", "shop"), ("app", &e.app)]));
        assert_eq!(i128::from(l.time.timestamp_nanos_opt().unwrap_or_default()), e.nanos_via_float_seconds());
        let v = parse_line(l);
        let level = if e.level == "warn" { "WARNING".to_string() } else { e.level.to_ascii_uppercase() };
        assert_eq!((v["message"].as_str(), v["level"].as_str(), v["app"].as_str()), (Some(e.text().as_str()), Some(level.as_str()), Some(e.app.as_str())));
        let mut want_meta = map(&[("service", "checkout")]);
        if e.level == "error" {
            want_meta.insert("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into());
        }
        assert_eq!(l.metadata, want_meta);
    }
    // The same bytes without their Content-Encoding are not JSON: the header decides.
    let plain = decode_push(Some("application/json"), None, f.body, MAX_DECODED).expect_err("gzip bytes read as JSON");
    assert!(plain.contains("invalid Loki push JSON"), "{plain}");
}

#[test]
fn content_encodings_decode_or_fail_with_a_reason() {
    use std::io::Write;
    let text = br#"{"streams":[{"stream":{"app":"x"},"values":[["1","a"]]}]}"#;
    let gzip = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(text).expect("gzip");
        w.finish().expect("gzip")
    };
    let zlib = {
        let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(text).expect("zlib");
        w.finish().expect("zlib")
    };
    let raw = {
        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(text).expect("deflate");
        w.finish().expect("deflate")
    };
    for (encoding, body) in [("gzip", &gzip), ("GZIP", &gzip), ("x-gzip", &gzip), ("deflate", &zlib), ("deflate", &raw), ("snappy", &text.to_vec()), ("", &text.to_vec())] {
        assert_eq!(decode_content(encoding, body, 1024).as_deref(), Ok(&text[..]), "{encoding:?}");
        let lines = decode_push(Some("Application/JSON; charset=utf-8"), Some(encoding), body, 1024).expect("json");
        assert_eq!(lines.len(), 1, "{encoding:?}");
    }
    let err = |encoding: &str, body: &[u8], max: usize| decode_content(encoding, body, max).expect_err("rejected");
    assert!(err("br", text, 1024).contains("unsupported Content-Encoding \"br\""));
    assert!(err("gzip", b"not gzip", 1024).contains("invalid gzip body"));
    assert!(err("gzip", &gzip, 10).contains("over the limit of 10 bytes"), "a small gzip can inflate past the cap");
}
