//! What an executor is allowed to do, checked before anything is claimed or run.

use kubesage_schemas::remediation::RemediationCommand;

use crate::config::ExecutorConfig;

pub fn check(cfg: &ExecutorConfig, c: &RemediationCommand) -> Result<(), String> {
    if !cfg.allowed_actions.contains(&c.action) {
        return Err(format!("action {} is not allowed for this executor", c.action.as_str()));
    }
    let all = cfg.allowed_namespaces.iter().any(|n| n == "*");
    if !all && (c.target.namespace.is_empty() || !cfg.allowed_namespaces.contains(&c.target.namespace)) {
        let scope = if c.target.namespace.is_empty() { "cluster scope".to_string() } else { format!("namespace {}", c.target.namespace) };
        return Err(format!("{scope} is not in allowed_namespaces"));
    }
    if c.requires_approval {
        return Err("command requires approval and this executor has no approval workflow enabled".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubesage_schemas::remediation::{Action, Target};

    fn cmd(action: Action, ns: &str, approval: bool) -> RemediationCommand {
        RemediationCommand {
            command_id: "c".into(),
            incident_id: "i".into(),
            rule: "r".into(),
            action,
            target: Target { kind: "Deployment".into(), namespace: ns.into(), name: "x".into() },
            params: Default::default(),
            requires_approval: approval,
            reason: String::new(),
        }
    }

    #[test]
    fn policy_table() {
        let cfg = ExecutorConfig { allowed_namespaces: vec!["shop".into()], allowed_actions: vec![Action::RestartRollout], ..ExecutorConfig::default() };
        let cases = [
            (cmd(Action::RestartRollout, "shop", false), true),
            (cmd(Action::RestartRollout, "kube-system", false), false),
            (cmd(Action::RestartRollout, "", false), false),
            (cmd(Action::Scale, "shop", false), false),
            (cmd(Action::RestartRollout, "shop", true), false),
        ];
        for (c, ok) in cases {
            assert_eq!(check(&cfg, &c).is_ok(), ok, "{c:?}");
        }
    }
}
