//! Event time as integer milliseconds since the Unix epoch: cheap, totally ordered and
//! serialisable without surprises.

use chrono::{DateTime, Utc};

pub type Millis = i64;

pub fn to_millis(t: &DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

pub fn from_millis(ms: Millis) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn duration_millis(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
