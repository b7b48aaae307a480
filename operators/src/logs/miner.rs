//! The online template miner: a fixed-depth parse tree (token count, then the leading
//! tokens) whose leaves hold templates; a line joins the most similar template of its leaf
//! or starts a new one. Templates whose constant parts agree are merged into groups.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::canon;
use super::config::MinerConfig;
use super::hash::{combine, hash_bytes, KeyMap};
use super::line_memo::{LineMemo, SeqKey};
use super::token::{self, Line, Tokenizer, ROUTE_WILD, VAR_ONLY};
use crate::{OperatorError, Snapshot};

const SNAPSHOT_VERSION: u32 = 1;

/// Stable id of a template: a hash of the first line that created it (in canonical form),
/// the same in every process and after restoring a snapshot. When templates merge, the
/// group keeps the id of its oldest member, and the other ids keep resolving to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TemplateId(pub u64);

impl TemplateId {
    /// Reported for lines that match no template once `max_templates` is reached.
    pub const OVERFLOW: TemplateId = TemplateId(0);
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What adding one line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    /// The template the line belongs to (its group).
    pub template: TemplateId,
    /// The tree cluster the line joined (equal to `template` unless groups merged).
    pub cluster: TemplateId,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The line matched a template and left it as it was.
    None,
    /// The line created a new template.
    Created,
    /// The line turned some constant of its template into a variable, or merged groups.
    Updated,
    /// No template matched and `max_templates` is reached: the line was not learnt.
    Overflow,
}

/// A template as currently known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'a> {
    pub id: TemplateId,
    /// Words separated by single spaces, variables written `<*>`.
    pub text: &'a str,
    /// Lines that joined this template (all merged members).
    pub count: u64,
}

#[derive(Debug, Clone)]
struct Cluster {
    id: u64,
    tokens: Vec<Box<str>>,
    hashes: Vec<u64>,
    text: String,
    count: u64,
    /// Routing decision per tree level at insertion (None: wildcard branch).
    route: Vec<Option<Box<str>>>,
    /// Union-find parent (index); the root is the group's oldest cluster.
    parent: u32,
    skeleton: Option<u64>,
    /// Lines of the whole group (kept on the root).
    group_count: u64,
}

#[derive(Debug, Default, Clone)]
struct Node {
    children: KeyMap<u64, u32>,
    wildcard: Option<u32>,
    clusters: Vec<u32>,
}

/// Online log template miner. Pure and deterministic: the same lines in the same order give
/// the same templates and ids; [`TemplateMiner::snapshot`] / [`TemplateMiner::restore`]
/// resume exactly where it stopped.
#[derive(Debug)]
pub struct TemplateMiner {
    cfg: MinerConfig,
    wild: u64,
    nodes: Vec<Node>,
    /// Root node per token count (index), `u32::MAX` where none yet.
    by_len: Vec<u32>,
    clusters: Vec<Cluster>,
    by_id: KeyMap<u64, u32>,
    skeletons: KeyMap<u64, u32>,
    lines: u64,
    overflow: u64,
    tokenizer: Tokenizer,
    line: Line,
    memo: LineMemo,
}

#[derive(Serialize, Deserialize)]
struct State {
    lines: u64,
    overflow: u64,
    clusters: Vec<ClusterState>,
    /// (skeleton key, id of a cluster of the group it names), sorted by key.
    skeletons: Vec<(u64, u64)>,
}

#[derive(Serialize, Deserialize)]
struct ClusterState {
    id: u64,
    tokens: Vec<String>,
    count: u64,
    route: Vec<Option<String>>,
    parent: u64,
    skeleton: Option<u64>,
    group_count: u64,
}

impl TemplateMiner {
    pub fn new(cfg: MinerConfig) -> Self {
        TemplateMiner {
            cfg,
            wild: token::wildcard_hash(),
            nodes: Vec::new(),
            by_len: Vec::new(),
            clusters: Vec::new(),
            by_id: KeyMap::default(),
            skeletons: KeyMap::default(),
            lines: 0,
            overflow: 0,
            tokenizer: Tokenizer::default(),
            line: Line::default(),
            memo: LineMemo::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn without_line_memo(mut self) -> Self {
        self.memo.disabled = true;
        self
    }

    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    /// Lines added so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Lines not learnt because `max_templates` was reached.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Templates (groups) currently known.
    pub fn len(&self) -> usize {
        (0..self.clusters.len()).filter(|&i| self.clusters[i].parent as usize == i).count()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Learn one line (the message part of a log record) and say which template it belongs to.
    pub fn add(&mut self, content: &str) -> Mined {
        self.lines += 1;
        let known = LineMemo::line_key(content);
        if let Some(ci) = self.memo.by_line(&known) {
            return self.joined_unchanged(ci);
        }
        let mut line = std::mem::take(&mut self.line);
        self.tokenizer.tokenize(content, &self.cfg, &mut line);
        let seq = LineMemo::key(&line);
        self.memo.put_line(&known, &seq, line.kept_digit());
        let mined = self.add_tokens(content, &line, seq);
        self.line = line;
        mined
    }

    fn add_tokens(&mut self, content: &str, line: &Line, seq: SeqKey) -> Mined {
        let n = line.len();
        if let Some(ci) = self.memo.get(&seq) {
            return self.joined_unchanged(ci);
        }
        let leaf = self.find_leaf(line);
        let mut best: Option<(u32, usize, usize)> = None;
        if let Some(leaf) = leaf {
            for &ci in &self.nodes[leaf as usize].clusters {
                let c = &self.clusters[ci as usize];
                let mut same = 0;
                let mut params = 0;
                for (t, tok) in c.hashes.iter().zip(&line.toks) {
                    let w = *t == self.wild;
                    params += usize::from(w);
                    same += usize::from(w || *t == tok.hash);
                }
                if best.is_none_or(|(_, s, p)| same > s || (same == s && params > p)) {
                    best = Some((ci, same, params));
                }
            }
        }
        if let Some((ci, same, _)) = best {
            let sim = if n == 0 { 1.0 } else { same as f64 / n as f64 };
            if sim >= self.cfg.similarity {
                let changed = self.update(ci, content, line);
                if !changed {
                    self.memo.put(&seq, ci);
                    return self.joined_unchanged(ci);
                }
                self.memo.invalidate(n);
                self.regroup(ci);
                let root = self.find(ci);
                self.clusters[ci as usize].count += 1;
                self.clusters[root as usize].group_count += 1;
                return Mined {
                    template: TemplateId(self.clusters[root as usize].id),
                    cluster: TemplateId(self.clusters[ci as usize].id),
                    change: Change::Updated,
                };
            }
        }
        if self.clusters.len() >= self.cfg.max_templates {
            self.overflow += 1;
            return Mined { template: TemplateId::OVERFLOW, cluster: TemplateId::OVERFLOW, change: Change::Overflow };
        }
        self.memo.invalidate(n);
        let ci = self.create(content, line);
        self.regroup(ci);
        let root = self.find(ci);
        self.clusters[ci as usize].count += 1;
        self.clusters[root as usize].group_count += 1;
        let change = if root == ci { Change::Created } else { Change::Updated };
        Mined { template: TemplateId(self.clusters[root as usize].id), cluster: TemplateId(self.clusters[ci as usize].id), change }
    }

    /// Count a line that joined cluster `ci` and changed nothing.
    fn joined_unchanged(&mut self, ci: u32) -> Mined {
        let root = self.find(ci);
        self.clusters[ci as usize].count += 1;
        self.clusters[root as usize].group_count += 1;
        Mined { template: TemplateId(self.clusters[root as usize].id), cluster: TemplateId(self.clusters[ci as usize].id), change: Change::None }
    }

    /// The leaf a line routes to, if the tree has one.
    fn find_leaf(&self, line: &Line) -> Option<u32> {
        let mut node = self.root(line.len())?;
        let full = self.cfg.max_children.saturating_sub(1);
        for tok in line.toks.iter().take(self.cfg.prefix_tokens()) {
            let nd = &self.nodes[node as usize];
            node = if tok.flags & ROUTE_WILD != 0 {
                nd.wildcard?
            } else if let Some(&c) = nd.children.get(&tok.hash) {
                c
            } else if nd.children.len() >= full {
                nd.wildcard?
            } else {
                return None;
            };
        }
        Some(node)
    }

    /// The tree's root for lines of `len` tokens.
    fn root(&self, len: usize) -> Option<u32> {
        self.by_len.get(len).copied().filter(|&n| n != u32::MAX)
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    /// Walk (creating nodes) along a recorded route; returns the leaf.
    fn build_route(&mut self, len: usize, route: &[Option<Box<str>>]) -> u32 {
        let mut node = match self.root(len) {
            Some(n) => n,
            None => {
                let n = self.new_node();
                if self.by_len.len() <= len {
                    self.by_len.resize(len + 1, u32::MAX);
                }
                self.by_len[len] = n;
                n
            }
        };
        for step in route {
            let next = match step {
                None => self.nodes[node as usize].wildcard,
                Some(t) => self.nodes[node as usize].children.get(&hash_bytes(t.as_bytes())).copied(),
            };
            node = match next {
                Some(n) => n,
                None => {
                    let n = self.new_node();
                    match step {
                        None => self.nodes[node as usize].wildcard = Some(n),
                        Some(t) => {
                            self.nodes[node as usize].children.insert(hash_bytes(t.as_bytes()), n);
                        }
                    }
                    n
                }
            };
        }
        node
    }

    fn create(&mut self, content: &str, line: &Line) -> u32 {
        let n = line.len();
        // Route: the leading tokens, each through its own branch unless it routes as a
        // variable or its node is full.
        let full = self.cfg.max_children.saturating_sub(1);
        let mut route = Vec::with_capacity(self.cfg.prefix_tokens());
        let mut node = self.root(n);
        for (i, tok) in line.toks.iter().take(self.cfg.prefix_tokens()).enumerate() {
            let nd = node.map(|x| &self.nodes[x as usize]);
            let exact = nd.and_then(|nd| nd.children.get(&tok.hash).copied());
            let step = if tok.flags & ROUTE_WILD != 0 {
                None
            } else if exact.is_some() || nd.is_none_or(|nd| nd.children.len() < full) {
                Some(line.word(content, i).into())
            } else {
                None
            };
            node = match (&step, nd) {
                (_, None) => None,
                (None, Some(nd)) => nd.wildcard,
                (Some(_), Some(_)) => exact,
            };
            route.push(step);
        }
        let leaf = self.build_route(n, &route);
        let tokens: Vec<Box<str>> = (0..n).map(|i| line.word(content, i).into()).collect();
        let mut id = line.toks.iter().fold(hash_bytes(&(n as u64).to_le_bytes()), |acc, t| combine(acc, t.hash));
        while id == 0 || self.by_id.contains_key(&id) {
            id = combine(id, 0x5bd1_e995);
        }
        let ci = self.clusters.len() as u32;
        let text = join(&tokens);
        self.clusters.push(Cluster {
            id,
            hashes: line.toks.iter().map(|t| t.hash).collect(),
            tokens,
            text,
            count: 0,
            route,
            parent: ci,
            skeleton: None,
            group_count: 0,
        });
        self.by_id.insert(id, ci);
        self.nodes[leaf as usize].clusters.push(ci);
        ci
    }

    /// Generalise the template where the line differs; true if it changed. A word that
    /// fits a template word with variables in it (`rhost=<*>` and `rhost=a.example`) leaves
    /// it as it is.
    fn update(&mut self, ci: u32, content: &str, line: &Line) -> bool {
        let wild = self.wild;
        let c = &mut self.clusters[ci as usize];
        let mut changed = false;
        for (i, tok) in line.toks.iter().enumerate() {
            if c.hashes[i] == wild || c.hashes[i] == tok.hash {
                continue;
            }
            let word = line.word(content, i);
            let g = canon::generalize(&c.tokens[i], word);
            if *g != *c.tokens[i] {
                c.hashes[i] = hash_bytes(g.as_bytes());
                c.tokens[i] = g.into();
                changed = true;
            }
        }
        if changed {
            c.text = join(&c.tokens);
        }
        changed
    }

    /// Put a (new or changed) cluster into the group of templates with the same constant
    /// parts; true if groups merged.
    fn regroup(&mut self, ci: u32) -> bool {
        if !self.cfg.merge_variable_runs {
            return false;
        }
        let key = skeleton(&self.clusters[ci as usize].tokens, &self.cfg);
        if key == self.clusters[ci as usize].skeleton {
            return false;
        }
        self.clusters[ci as usize].skeleton = key;
        let Some(key) = key else { return false };
        match self.skeletons.get(&key).copied() {
            None => {
                self.skeletons.insert(key, ci);
                false
            }
            Some(other) => {
                let (a, b) = (self.find(other), self.find(ci));
                if a == b {
                    return false;
                }
                let (win, lose) = if a < b { (a, b) } else { (b, a) };
                self.clusters[lose as usize].parent = win;
                let moved = self.clusters[lose as usize].group_count;
                self.clusters[win as usize].group_count += moved;
                self.skeletons.insert(key, win);
                true
            }
        }
    }

    fn find(&mut self, mut i: u32) -> u32 {
        let mut root = i;
        while self.clusters[root as usize].parent != root {
            root = self.clusters[root as usize].parent;
        }
        while self.clusters[i as usize].parent != root {
            let next = self.clusters[i as usize].parent;
            self.clusters[i as usize].parent = root;
            i = next;
        }
        root
    }

    fn root_of(&self, mut i: u32) -> u32 {
        while self.clusters[i as usize].parent != i {
            i = self.clusters[i as usize].parent;
        }
        i
    }

    fn view(&self, root: u32) -> Template<'_> {
        let c = &self.clusters[root as usize];
        Template { id: TemplateId(c.id), text: &c.text, count: c.group_count }
    }

    /// The template with this id (or the group it was merged into).
    pub fn template(&self, id: TemplateId) -> Option<Template<'_>> {
        let &ci = self.by_id.get(&id.0)?;
        Some(self.view(self.root_of(ci)))
    }

    /// All templates, oldest first.
    pub fn templates(&self) -> Vec<Template<'_>> {
        (0..self.clusters.len() as u32).filter(|&i| self.clusters[i as usize].parent == i).map(|i| self.view(i)).collect()
    }

    pub fn snapshot(&self) -> Result<Snapshot, OperatorError> {
        let id_of = |i: u32| self.clusters[i as usize].id;
        let mut skeletons: Vec<(u64, u64)> = self.skeletons.iter().map(|(&k, &c)| (k, id_of(c))).collect();
        skeletons.sort_unstable();
        let state = State {
            lines: self.lines,
            overflow: self.overflow,
            clusters: self
                .clusters
                .iter()
                .map(|c| ClusterState {
                    id: c.id,
                    tokens: c.tokens.iter().map(|t| t.to_string()).collect(),
                    count: c.count,
                    route: c.route.iter().map(|r| r.as_ref().map(|t| t.to_string())).collect(),
                    parent: id_of(c.parent),
                    skeleton: c.skeleton,
                    group_count: c.group_count,
                })
                .collect(),
            skeletons,
        };
        Snapshot::of(SNAPSHOT_VERSION, &state)
    }

    /// Replace the state with a snapshot (the configuration stays the one given to `new`).
    pub fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let state: State = snapshot.decode(SNAPSHOT_VERSION)?;
        let mut fresh = TemplateMiner::new(self.cfg.clone());
        fresh.lines = state.lines;
        fresh.overflow = state.overflow;
        for (i, cs) in state.clusters.iter().enumerate() {
            if fresh.by_id.insert(cs.id, i as u32).is_some() {
                return Err(OperatorError::Snapshot(format!("template id {:016x} appears twice", cs.id)));
            }
        }
        let index = |id: u64| fresh_index(&fresh.by_id, id);
        let parents: Vec<u32> = state.clusters.iter().map(|cs| index(cs.parent)).collect::<Result<_, _>>()?;
        for (cs, parent) in state.clusters.into_iter().zip(parents) {
            let route: Vec<Option<Box<str>>> = cs.route.into_iter().map(|r| r.map(Into::into)).collect();
            let tokens: Vec<Box<str>> = cs.tokens.into_iter().map(Into::into).collect();
            let leaf = fresh.build_route(tokens.len(), &route);
            let ci = fresh.clusters.len() as u32;
            fresh.nodes[leaf as usize].clusters.push(ci);
            fresh.clusters.push(Cluster {
                id: cs.id,
                hashes: tokens.iter().map(|t| hash_bytes(t.as_bytes())).collect(),
                text: join(&tokens),
                tokens,
                count: cs.count,
                route,
                parent,
                skeleton: cs.skeleton,
                group_count: cs.group_count,
            });
        }
        for (key, id) in state.skeletons {
            let ci = fresh_index(&fresh.by_id, id)?;
            fresh.skeletons.insert(key, ci);
        }
        *self = fresh;
        Ok(())
    }
}

fn fresh_index(by_id: &KeyMap<u64, u32>, id: u64) -> Result<u32, OperatorError> {
    by_id.get(&id).copied().ok_or_else(|| OperatorError::Snapshot(format!("unknown template id {id:016x}")))
}

fn join(tokens: &[Box<str>]) -> String {
    let mut s = String::with_capacity(tokens.iter().map(|t| t.len() + 1).sum());
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(t);
    }
    s
}

/// Key of a template's constant parts: its words without the variable-only ones and
/// without a quantity unit right after a variable. None when nothing constant is left.
fn skeleton(tokens: &[Box<str>], cfg: &MinerConfig) -> Option<u64> {
    let mut key = 0x6a09_e667_f3bc_c908u64;
    let mut kept = 0;
    let mut after_var = false;
    for t in tokens {
        if token::flags_of(t.as_bytes(), cfg) & VAR_ONLY != 0 {
            after_var = true;
            continue;
        }
        let (s, e) = canon::core(t.as_bytes());
        if after_var && canon::is_unit(&t[s..e]) {
            after_var = false;
            continue;
        }
        after_var = false;
        key = combine(key, hash_bytes(t.as_bytes()));
        kept += 1;
    }
    (kept > 0).then_some(key)
}
