use serde::{Deserialize, Serialize};

use crate::ConfigIssue;

/// How log lines are turned into templates. One configuration serves every log source: the
/// defaults are what the Loghub harness reports as its global configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// Depth of the parse tree, counted as Drain does: the root, one level for the token
    /// count, `depth - 2` levels for the leading tokens, and the leaves. At least 3.
    pub depth: usize,
    /// A line joins the most similar template of its leaf when at least this share of its
    /// token positions agree (a variable position of the template agrees with anything).
    pub similarity: f64,
    /// Children per tree node before further distinct leading tokens share a wildcard
    /// branch (bounds the tree on high-cardinality leading tokens).
    pub max_children: usize,
    /// Templates kept. Lines that match none once the limit is reached are reported as
    /// overflow and not learnt.
    pub max_templates: usize,
    /// Tokens considered per line; the rest of a longer line becomes one variable token.
    pub max_tokens: usize,
    /// Templates whose constant parts agree, and that differ only in variable tokens (how
    /// many, and quantity units next to them), are merged into one.
    pub merge_variable_runs: bool,
    /// Variable shapes masked before the tree sees a token.
    pub masks: MaskConfig,
}

/// Token shapes that are always variables. Numbers, paths, and the words `true`, `false`,
/// `null`, `root` and `admin` are always masked: that is the canonical template form of
/// Loghub-2.0 (its template-correction rules), which every template the miner emits
/// follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskConfig {
    /// `0x1f`, and runs of 8 or more hex digits with at least one digit.
    pub hex: bool,
    /// `123e4567-e89b-12d3-a456-426614174000`.
    pub uuid: bool,
    /// Identifiers mixing letters with 3 or more digits: `blk_3886504906`, `jA9J1UvC004306`.
    pub identifiers: bool,
    /// Names of 3 or more `-._` parts with a numeric part: host names such as
    /// `calvisitor-10-105-160-95`, versions such as `2.6.9-5.0.5.EL`.
    pub hostnames: bool,
    /// Numbers with a unit or a comparison: `250ms`, `64KB`, `<1`.
    pub quantities: bool,
    /// Month and weekday names next to other parts of a timestamp: `Fri Jun 17 07:07:00 2005`.
    pub dates: bool,
    /// Dotted names (`com.apple.icloud.heartbeat:`, two or more inner dots) route through the
    /// tree's wildcard branch, like tokens with digits do in Drain.
    pub dotted_names_route_as_variables: bool,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 4,
            similarity: 0.7,
            max_children: 100,
            max_templates: 100_000,
            max_tokens: 512,
            merge_variable_runs: true,
            masks: MaskConfig::default(),
        }
    }
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig { hex: true, uuid: true, identifiers: true, hostnames: true, quantities: true, dates: true, dotted_names_route_as_variables: true }
    }
}

impl MinerConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        if self.depth < 3 {
            issues.push(ConfigIssue::new(p("depth"), "must be at least 3"));
        }
        if self.depth > 16 {
            issues.push(ConfigIssue::new(p("depth"), "must be at most 16"));
        }
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            issues.push(ConfigIssue::new(p("similarity"), "must be greater than 0 and at most 1"));
        }
        if self.max_children < 2 {
            issues.push(ConfigIssue::new(p("max_children"), "must be at least 2"));
        }
        if self.max_templates == 0 {
            issues.push(ConfigIssue::new(p("max_templates"), "must be greater than 0"));
        }
        if self.max_tokens == 0 {
            issues.push(ConfigIssue::new(p("max_tokens"), "must be greater than 0"));
        }
        issues
    }

    /// Leading tokens the tree routes on.
    pub(crate) fn prefix_tokens(&self) -> usize {
        self.depth.saturating_sub(2).max(1)
    }
}
