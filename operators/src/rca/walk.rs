//! The dependency graph as adjacency arrays, and the walk that spreads a hypothesis'
//! reach over a candidate's transitive dependents (strongest path first).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A component reached with a strength (best-first order: strongest, then lowest index).
#[derive(PartialEq)]
pub(super) struct Reach(pub(super) f64, pub(super) usize);

impl Eq for Reach {}
impl PartialOrd for Reach {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Reach {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

/// Reaches weaker than this are not followed.
pub(super) const MIN_REACH: f64 = 1e-3;

/// `(dependent, dependency, position in the input)`.
type Edge = (usize, usize, usize);

/// The dependency graph as adjacency arrays: each edge once (the first of duplicates),
/// out of range edges and self-loops dropped.
pub(super) struct Graph {
    /// Dependencies of each component, most recently added edge first.
    out_start: Vec<usize>,
    out: Vec<usize>,
    /// Dependents of each component.
    in_start: Vec<usize>,
    pub(super) inc: Vec<usize>,
    /// Position of each component in an order where every dependency comes before its
    /// dependents; `None` when the graph has a cycle.
    pub(super) topo: Option<Vec<usize>>,
}

impl Graph {
    pub(super) fn new(n: usize, edges: &[(usize, usize)]) -> Graph {
        let mut e: Vec<Edge> =
            edges.iter().enumerate().filter(|(_, &(a, b))| a < n && b < n && a != b).map(|(i, &(a, b))| (a, b, i)).collect();
        e.sort_unstable();
        e.dedup_by_key(|x| (x.0, x.1));
        // Dependencies in reverse insertion order (as a linked adjacency list gives them).
        e.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.2.cmp(&x.2)));
        let csr = |key: fn(&Edge) -> (usize, usize), e: &[Edge]| {
            let mut start = vec![0usize; n + 1];
            for x in e {
                start[key(x).0 + 1] += 1;
            }
            for i in 0..n {
                start[i + 1] += start[i];
            }
            let mut fill = start.clone();
            let mut adj = vec![0usize; e.len()];
            for x in e {
                let (k, v) = key(x);
                adj[fill[k]] = v;
                fill[k] += 1;
            }
            (start, adj)
        };
        let (out_start, out) = csr(|x| (x.0, x.1), &e);
        let (in_start, inc) = csr(|x| (x.1, x.0), &e);
        let mut g = Graph { out_start, out, in_start, inc, topo: None };
        g.topo = g.topological_positions();
        g
    }

    /// Kahn's algorithm from the components without dependencies.
    fn topological_positions(&self) -> Option<Vec<usize>> {
        let n = self.out_start.len() - 1;
        let mut missing: Vec<usize> = (0..n).map(|i| self.dependencies(i).len()).collect();
        let mut order: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
        let mut next = 0;
        while next < order.len() {
            let u = order[next];
            next += 1;
            for k in self.dependents_range(u) {
                let c = self.inc[k];
                missing[c] -= 1;
                if missing[c] == 0 {
                    order.push(c);
                }
            }
        }
        if order.len() < n {
            return None;
        }
        let mut pos = vec![0usize; n];
        for (p, &u) in order.iter().enumerate() {
            pos[u] = p;
        }
        Some(pos)
    }

    pub(super) fn dependencies(&self, i: usize) -> &[usize] {
        &self.out[self.out_start[i]..self.out_start[i + 1]]
    }

    pub(super) fn dependents_range(&self, i: usize) -> std::ops::Range<usize> {
        self.in_start[i]..self.in_start[i + 1]
    }
}

/// How a degradation of `u` passes to its dependent `c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Link {
    /// Probability that `u` passes a degradation on: that it is degraded, or at least
    /// `unobserved_gate` where it is not watched in the way its dependent shows one.
    pub(super) degraded: f64,
    /// How consistent the pair is with `u` causing `c`'s shift: `u`'s latency increase
    /// large enough to cover `c`'s, `u` not clearly later than `c` (1: fully).
    pub(super) consistency: f64,
}

/// Reach of a dependent through `link` from a dependency reached with `e`.
///
/// Each pair's consistency is separate evidence and multiplies. Whether the components on
/// the way are degraded depends on how they are seen: one seen degraded (more likely than
/// not) shows the fault travelling, and the degradations of such a run are one event (the
/// same fault), so the run carries it as well as its weakest member does (the upper
/// Fréchet bound of a conjunction) rather than fading with every hop as independent
/// draws would; passing through one not seen degraded is an independent, unlikely event,
/// and multiplies.
pub(super) fn along(e: f64, link: Link) -> f64 {
    let d = if link.degraded >= 0.5 { e.min(link.degraded) } else { e * link.degraded };
    d * link.consistency
}

/// The reach of one hypothesis over its transitive dependents: for each, the strongest
/// path (`along` every edge's gate) from the candidate. On an acyclic graph one pass in
/// topological order settles every dependent after all its dependencies (a bitset of
/// pending positions, no priority queue); with cycles, a best-first walk.
pub(super) struct Walk<'g> {
    graph: &'g Graph,
    pub(super) reach: Vec<f64>,
    depth: Vec<u32>,
    touched: Vec<usize>,
    heap: BinaryHeap<Reach>,
    /// Pending topological positions.
    pending: Vec<u64>,
    /// Component at each topological position.
    at: Vec<usize>,
}

/// The per-component arrays of a walk.
struct Lanes<'a> {
    reach: &'a mut [f64],
    depth: &'a mut [u32],
    touched: &'a mut Vec<usize>,
}

impl Lanes<'_> {
    /// Offer each dependent `(c, gate)` of `u` (reached with `e`) the reach through `u`;
    /// `stronger(c, reach)` when that beats what `c` had.
    fn relax(&mut self, u: usize, e: f64, dependents: &[(usize, Link)], mut stronger: impl FnMut(usize, f64)) {
        for &(c, g) in dependents {
            let ec = along(e, g);
            if ec > self.reach[c] + 1e-12 && ec >= MIN_REACH {
                if self.reach[c] == 0.0 {
                    self.touched.push(c);
                }
                self.reach[c] = ec;
                self.depth[c] = self.depth[u] + 1;
                stronger(c, ec);
            }
        }
    }
}

impl<'g> Walk<'g> {
    pub(super) fn new(graph: &'g Graph) -> Walk<'g> {
        let n = graph.out_start.len() - 1;
        let mut at = vec![0usize; if graph.topo.is_some() { n } else { 0 }];
        if let Some(pos) = &graph.topo {
            for (u, &p) in pos.iter().enumerate() {
                at[p] = u;
            }
        }
        Walk {
            graph,
            reach: vec![0.0; n],
            depth: vec![0; n],
            touched: Vec::new(),
            heap: BinaryHeap::new(),
            pending: vec![0; n.div_ceil(64)],
            at,
        }
    }

    /// Walk from `h`; `visit(u, reach, depth)` for every dependent reached, once its
    /// strongest path is settled. `self.reach` holds the reaches afterwards (0: not
    /// reached).
    pub(super) fn run(&mut self, h: usize, dep_start: &[usize], dep_gate: &[(usize, Link)], mut visit: impl FnMut(usize, f64, u32)) {
        for &t in &self.touched {
            self.reach[t] = 0.0;
        }
        self.touched.clear();
        self.reach[h] = 1.0;
        self.depth[h] = 0;
        self.touched.push(h);
        let Walk { graph, reach, depth, touched, heap, pending, at } = self;
        match &graph.topo {
            Some(pos) => {
                let mut word = pos[h] / 64;
                pending[word] |= 1 << (pos[h] % 64);
                while word < pending.len() {
                    let bits = pending[word];
                    if bits == 0 {
                        word += 1;
                        continue;
                    }
                    let b = bits.trailing_zeros() as usize;
                    pending[word] &= !(1u64 << b);
                    let u = at[word * 64 + b];
                    let e = reach[u];
                    if u != h {
                        visit(u, e, depth[u]);
                    }
                    let mut lanes = Lanes { reach, depth, touched };
                    lanes.relax(u, e, &dep_gate[dep_start[u]..dep_start[u + 1]], |c, _| pending[pos[c] / 64] |= 1 << (pos[c] % 64));
                }
            }
            None => {
                heap.push(Reach(1.0, h));
                while let Some(Reach(e, u)) = heap.pop() {
                    if e < reach[u] {
                        continue;
                    }
                    if u != h {
                        visit(u, e, depth[u]);
                    }
                    let mut lanes = Lanes { reach, depth, touched };
                    lanes.relax(u, e, &dep_gate[dep_start[u]..dep_start[u + 1]], |c, ec| heap.push(Reach(ec, c)));
                }
            }
        }
    }
}
