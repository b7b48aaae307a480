//! A line as canonical tokens: words split on whitespace, each in its canonical form (see
//! [`super::canon`]), hashed once. A word that is its own canonical form (most words) is
//! addressed in the content itself; the others are written to the line's buffer. The
//! tokenizer keeps its buffers between lines, so tokenizing does not allocate once they have
//! grown to the longest line.

use super::canon::{self, Scratch, WILDCARD};
use super::config::MinerConfig;
use super::hash::hash_bytes;
use super::word_cache::WordCache;

/// The token is exactly `<*>`.
pub(crate) const WILD: u8 = 1;
/// The token holds only variables and punctuation.
pub(crate) const VAR_ONLY: u8 = 2;
/// The tree routes the token through its wildcard branch.
pub(crate) const ROUTE_WILD: u8 = 4;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    start: u32,
    end: u32,
    pub hash: u64,
    pub flags: u8,
    /// The word is in the line's buffer (written out), not in the content.
    own: bool,
}

/// One tokenized line: canonical words in `text` or in the content, addressed by `toks`.
#[derive(Debug, Default)]
pub(crate) struct Line {
    /// Canonical words that differ from the content's (ASCII and whole words of a `&str`,
    /// so UTF-8).
    text: Vec<u8>,
    pub toks: Vec<Tok>,
}

impl Line {
    /// The `i`th canonical word of the line tokenized from `content`.
    pub fn word<'a>(&'a self, content: &'a str, i: usize) -> &'a str {
        let t = &self.toks[i];
        let (s, e) = (t.start as usize, t.end as usize);
        let w = if t.own { std::str::from_utf8(&self.text[s..e]).ok() } else { content.get(s..e) };
        w.unwrap_or(WILDCARD)
    }

    pub fn len(&self) -> usize {
        self.toks.len()
    }

    /// A canonical token holds a digit. (Words left in the content hold none: a digit
    /// always sends a word to masking, whose result is written to the buffer.)
    pub fn kept_digit(&self) -> bool {
        super::shape::kept_digit(&self.text)
    }

    /// Append the canonical word `w` to the buffer and push its token.
    fn push_own(&mut self, w: &[u8], hash: u64, flags: u8) {
        self.toks.push(Tok { start: 0, end: 0, hash, flags, own: true });
        self.set_own(self.toks.len() - 1, w, hash, flags);
    }

    /// Append the canonical word `w` to the buffer and make it the `k`th token.
    fn set_own(&mut self, k: usize, w: &[u8], hash: u64, flags: u8) {
        let start = self.text.len() as u32;
        self.text.extend_from_slice(w);
        self.toks[k] = Tok { start, end: self.text.len() as u32, hash, flags, own: true };
    }
}

/// Where a word of the line is, and whether it may be a month or day name (for the date
/// pass).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    date: bool,
}

/// A word that goes through the word cache, looked up once the whole line is scanned (so the
/// loads of its slot overlap with the scan), into its token `tok`.
#[derive(Debug, Clone, Copy)]
struct Pending {
    tok: u32,
    start: u32,
    end: u32,
    key: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Tokenizer {
    cache: WordCache,
    scratch: Scratch,
    spans: Vec<Span>,
    pending: Vec<Pending>,
    word: Vec<u8>,
    canon: String,
}

pub(crate) fn wildcard_hash() -> u64 {
    hash_bytes(WILDCARD.as_bytes())
}

pub(crate) fn flags_of(w: &[u8], cfg: &MinerConfig) -> u8 {
    let shape = canon::word_shape(w);
    let mut f = 0;
    if w == WILDCARD.as_bytes() {
        f |= WILD;
    }
    if shape.var_only {
        f |= VAR_ONLY;
    }
    let dotted = cfg.masks.dotted_names_route_as_variables && shape.inner_dots >= 2;
    if shape.wild || shape.digit || dotted {
        f |= ROUTE_WILD;
    }
    f
}

impl Tokenizer {
    /// One pass over the line finds the words and what kind of bytes each holds; a word
    /// with nothing to mask (most words) is hashed and flagged there straight from its byte
    /// classes, a number is masked there, and the others start loading their cache slots
    /// and are looked up after the pass, so those memory reads overlap instead of stalling
    /// one after another.
    pub fn tokenize(&mut self, content: &str, cfg: &MinerConfig, line: &mut Line) {
        line.text.clear();
        line.toks.clear();
        self.spans.clear();
        self.pending.clear();
        let b = content.as_bytes();
        let mut dates = false;
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && canon::SPACE[b[i] as usize] {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let s = i;
            if line.toks.len() + 1 == cfg.max_tokens {
                // The rest of an over-long line is one token, a variable if it holds spaces.
                let mut e = b.len();
                while e > s && canon::SPACE[b[e - 1] as usize] {
                    e -= 1;
                }
                let (rest, cls) = (&b[s..e], canon::classes(&b[s..e]));
                if rest.iter().any(|&c| canon::SPACE[c as usize]) {
                    dates |= self.push_span(rest, s, e, cls, cfg);
                    let w = WILDCARD.as_bytes();
                    line.push_own(w, hash_bytes(w), flags_of(w, cfg));
                } else {
                    dates |= self.push_word(content, s, e, cls, cfg, line);
                }
                break;
            }
            let mut cls = 0u16;
            while i < b.len() {
                let c = canon::CLASS[b[i] as usize];
                if c & canon::SP != 0 {
                    break;
                }
                cls |= c;
                i += 1;
            }
            dates |= self.push_word(content, s, i, cls, cfg, line);
        }
        for k in 0..self.pending.len() {
            let p = self.pending[k];
            self.resolve(content, p, cfg, line);
        }
        if dates {
            self.mask_dates(content, cfg, line);
        }
    }

    /// Record where a word is; true if it may be a month or day name to mask.
    #[inline(always)]
    fn push_span(&mut self, w: &[u8], start: usize, end: usize, cls: u16, cfg: &MinerConfig) -> bool {
        // A month or day name with brackets or punctuation around it: letters, no digit or
        // other variable mark, at most ten bytes.
        let date = cfg.masks.dates && w.len() <= 10 && cls & canon::ALPHA != 0 && cls & (canon::DIG | canon::LT | canon::SLASH | canon::DASH) == 0 && {
            // Brackets and punctuation are token delimiters: without any, the core is the word
            // (and names are 3 or 4 letters long: most words are rejected right here).
            if cls & canon::TDELIM == 0 {
                matches!(w.len(), 3 | 4) && canon::is_month_or_day(w)
            } else {
                let (cs, ce) = canon::core(w);
                canon::is_month_or_day(&w[cs..ce])
            }
        };
        self.spans.push(Span { start: start as u32, end: end as u32, date });
        date
    }

    /// Push the token of the word at `start..end` with byte classes `cls`, or a placeholder
    /// for it to be resolved through the cache; true if it may be a month or day name.
    #[inline(always)]
    fn push_word(&mut self, content: &str, start: usize, end: usize, cls: u16, cfg: &MinerConfig, line: &mut Line) -> bool {
        let b = &content.as_bytes()[start..end];
        let date = self.push_span(b, start, end, cls, cfg);
        if canon::is_numeric_cls(cls) {
            // Digits and delimiters: masked directly, without the cache (as cheap as a
            // lookup, and it leaves the cache's slots to words that are costly to mask).
            self.canon.clear();
            canon::numeric_known(b, &mut self.canon);
            let c = self.canon.as_bytes();
            // Only `<*>` and delimiters: a variable, routed as one.
            let flags = VAR_ONLY | ROUTE_WILD | if c == WILDCARD.as_bytes() { WILD } else { 0 };
            line.push_own(c, hash_bytes(c), flags);
        } else if canon::needs_work_cls(b, cls) {
            let key = self.cache.probe(b);
            self.pending.push(Pending { tok: line.toks.len() as u32, start: start as u32, end: end as u32, key });
            line.push_own(&[], 0, 0);
        } else {
            // Unchanged: no `<`, no digit, so it is neither a variable nor routes as one
            // unless it is a dotted name. It stays where it is in the content.
            let dotted = cfg.masks.dotted_names_route_as_variables && cls & canon::DOT != 0 && b.last() != Some(&b'.') && {
                b.iter().filter(|&&c| c == b'.').count() >= 2
            };
            let flags = if dotted { ROUTE_WILD } else { 0 };
            line.toks.push(Tok { start: start as u32, end: end as u32, hash: hash_bytes(b), flags, own: false });
        }
        date
    }

    /// The canonical form of a word that needs masking, from the cache or the canonicaliser.
    fn resolve(&mut self, content: &str, p: Pending, cfg: &MinerConfig, line: &mut Line) {
        let (s, e, k) = (p.start as usize, p.end as usize, p.tok as usize);
        let b = &content.as_bytes()[s..e];
        if let Some(hit) = self.cache.get(b, p.key) {
            line.set_own(k, hit.canon, hit.hash, hit.flags);
            return;
        }
        // Words end at ASCII whitespace or the ends of the line: char boundaries.
        let w = content.get(s..e).unwrap_or_default();
        self.canon.clear();
        canon::masked_word(w, &cfg.masks, &mut self.scratch, &mut self.canon);
        let c = self.canon.as_bytes();
        let (hash, flags) = (hash_bytes(c), flags_of(c, cfg));
        self.cache.put(b, p.key, c, hash, flags);
        line.set_own(k, c, hash, flags);
    }

    /// Month and weekday names next to another part of a timestamp are variables.
    fn mask_dates(&mut self, content: &str, cfg: &MinerConfig, line: &mut Line) {
        let n = self.spans.len();
        let b = content.as_bytes();
        for k in 0..n {
            let Span { start: s, end: e, date } = self.spans[k];
            if !date {
                continue;
            }
            let (s, e) = (s as usize, e as usize);
            let next_is_month = k + 1 < n && {
                let Span { start: ns, end: ne, .. } = self.spans[k + 1];
                let next = &b[ns as usize..ne as usize];
                let (a, z) = canon::core(next);
                canon::is_month(&next[a..z])
            };
            let var_only = |j: usize| line.toks[j].flags & VAR_ONLY != 0;
            let var_neighbour = (k > 0 && var_only(k - 1)) || (k + 1 < n && var_only(k + 1));
            if var_neighbour || next_is_month {
                // The name becomes `<*>` within its brackets and punctuation, which is
                // already its canonical form (tested in `canon`).
                let raw = &b[s..e];
                let (cs, ce) = canon::core(raw);
                self.word.clear();
                self.word.extend_from_slice(&raw[..cs]);
                self.word.extend_from_slice(WILDCARD.as_bytes());
                self.word.extend_from_slice(&raw[ce..]);
                let c = &self.word;
                line.push_own(c, hash_bytes(c), flags_of(c, cfg));
                line.toks.swap_remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "Receiving", "block", "blk_-1608999687919862906", "10.251.42.84:50010", "/10.251.42.84:50010", "src:", "size=1234", "user=root",
        "java.io.IOException:", "org.apache.hadoop", "(12)", "0x1F2e", "deadbeef99", "123e4567-e89b-12d3-a456-426614174000", "Jun", "Mon",
        "07:07:00", "42", "1.2", "-7,", "9##9", "<*>", "a<*>b", "5ms", "<=10", "job_1445144423722_0020", "node-12.rack-3.example", "true", "[main]", "", "-", "é42",
        // Words of the same shapes as some above (other nonzero digits), served from the
        // cache entry of their shape, and words that kept a digit, served only as themselves.
        "blk_-3405512345678912304", "10.251.42.85:50010", "/10.251.43.84:50010", "size=5678", "deadbeef98", "job_1445144423722_0030", "node-13.rack-4.example",
        "é43", "v2", "v3", "ext4", "ext3", "0x2F3e", "1x1F2e",
    ];

    fn reference(content: &str, cfg: &MinerConfig) -> Vec<(String, u64, u8)> {
        let mut scratch = Scratch::default();
        content
            .split(|c: char| c.is_ascii() && canon::SPACE[c as usize])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut out = String::new();
                canon::canonical_word(w, &cfg.masks, &mut scratch, &mut out);
                let (h, f) = (hash_bytes(out.as_bytes()), flags_of(out.as_bytes(), cfg));
                (out, h, f)
            })
            .collect()
    }

    fn tokens(t: &mut Tokenizer, content: &str, cfg: &MinerConfig) -> Vec<(String, u64, u8)> {
        let mut line = Line::default();
        t.tokenize(content, cfg, &mut line);
        (0..line.len()).map(|i| (line.word(content, i).to_string(), line.toks[i].hash, line.toks[i].flags)).collect()
    }

    proptest! {
        /// The fused scan, the fast path for plain words and the word cache (by shape) give
        /// exactly the canonical word, hash and flags of the one-word-at-a-time definition.
        #[test]
        fn tokenizing_equals_word_by_word_canonical_forms(picks in proptest::collection::vec((0..WORDS.len(), 0..3usize), 0..24)) {
            let content: String = picks.iter().map(|&(w, sep)| format!("{}{}", WORDS[w], [" ", "  ", "\t"][sep])).collect();
            let mut cfg = MinerConfig::default();
            cfg.masks.dates = false;
            let mut t = Tokenizer::default();
            let want = reference(&content, &cfg);
            prop_assert_eq!(&tokens(&mut t, &content, &cfg), &want);
            // Again, now from the cache.
            prop_assert_eq!(&tokens(&mut t, &content, &cfg), &want);
        }
    }
}
