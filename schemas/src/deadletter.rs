use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// A record that could not be processed, on `kubesage.deadletter`, with enough to find and
/// replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Why it was rejected (parser or validation message).
    pub reason: String,
    /// Which component rejected it (`job:correlate`, `collector:alertmanager`, ...).
    pub stage: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default)]
    pub key: Option<String>,
    /// The payload as UTF-8 (lossy), truncated to 64 KiB.
    pub payload: String,
    pub payload_truncated: bool,
}

impl Payload for DeadLetter {
    const KIND: &'static str = "io.kubesage.deadletter.v1";
}
