use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;
use crate::k8s::ObjectRef;

/// A change of the cluster's object graph on `kubesage.topology`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopologyUpdate {
    pub op: TopologyOp,
    pub object: ObjectRef,
    #[serde(default)]
    pub owners: Vec<ObjectRef>,
    /// Node a Pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Service selector (Services only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Service-call edges (`from` calls `to`), from a mesh or traces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<ObjectRef>,
    /// ConfigMaps and Secrets a Pod reads (volumes, projected volumes, `envFrom`, `env`
    /// `valueFrom`), so that an edit of one is a change of the workloads using it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<ObjectRef>,
    pub resource_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TopologyOp {
    Upsert,
    Delete,
}

impl TopologyUpdate {
    /// A record of `object` with nothing else known about it (no owners, node, selector,
    /// labels, calls or uses): the start of one built field by field.
    pub fn new(op: TopologyOp, object: ObjectRef, resource_version: &str) -> Self {
        TopologyUpdate {
            op,
            object,
            owners: Vec::new(),
            node: None,
            selector: BTreeMap::new(),
            labels: BTreeMap::new(),
            calls: Vec::new(),
            uses: Vec::new(),
            resource_version: resource_version.to_string(),
        }
    }
}

impl Payload for TopologyUpdate {
    const KIND: &'static str = "io.kubesage.topology.v1";
}
