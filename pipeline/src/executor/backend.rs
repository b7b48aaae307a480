//! Executor backends. `dry-run` (the default) only describes what it would do; the
//! Kubernetes and GitOps backends plug in behind the same trait.

use std::future::Future;
use std::pin::Pin;

use kubesage_schemas::remediation::{Action, Outcome, RemediationCommand};

use crate::error::Result;

pub type BackendFuture<'a> = Pin<Box<dyn Future<Output = Result<(Outcome, String)>> + Send + 'a>>;

pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Carry out one command; called at most once per command id.
    fn execute<'a>(&'a self, command: &'a RemediationCommand) -> BackendFuture<'a>;
}

pub struct DryRun;

impl Backend for DryRun {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn execute<'a>(&'a self, c: &'a RemediationCommand) -> BackendFuture<'a> {
        let t = &c.target;
        let ns = if t.namespace.is_empty() { String::new() } else { format!(" -n {}", t.namespace) };
        let kind = t.kind.to_ascii_lowercase();
        let what = match c.action {
            Action::RestartRollout => format!("kubectl rollout restart {kind}/{}{ns}", t.name),
            Action::RollbackRollout => format!("kubectl rollout undo {kind}/{}{ns}", t.name),
            Action::Scale => format!("kubectl scale {kind}/{} --replicas={}{ns}", t.name, c.params.get("replicas").map(String::as_str).unwrap_or("?")),
            Action::DeletePod => format!("kubectl delete pod {}{ns}", t.name),
            Action::CordonNode => format!("kubectl cordon {}", t.name),
            Action::Notify => format!("notify about {t}"),
        };
        Box::pin(async move { Ok((Outcome::DryRun, format!("would run: {what}"))) })
    }
}
