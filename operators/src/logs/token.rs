//! A line as canonical tokens: words split on whitespace, each in its canonical form (see
//! [`super::canon`]), hashed once. The tokenizer keeps its buffers between lines, so
//! tokenizing does not allocate once they have grown to the longest line.

use super::canon::{self, Scratch, WILDCARD};
use super::config::MinerConfig;
use super::hash::hash_bytes;

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
}

/// One tokenized line: canonical words in `text`, addressed by `toks`.
#[derive(Debug, Default)]
pub(crate) struct Line {
    text: String,
    pub toks: Vec<Tok>,
}

impl Line {
    pub fn word(&self, i: usize) -> &str {
        let t = &self.toks[i];
        &self.text[t.start as usize..t.end as usize]
    }

    pub fn len(&self) -> usize {
        self.toks.len()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tokenizer {
    scratch: Scratch,
    raw: Vec<(usize, usize)>,
    word: String,
}

pub(crate) fn wildcard_hash() -> u64 {
    hash_bytes(WILDCARD.as_bytes())
}

pub(crate) fn flags_of(w: &str, cfg: &MinerConfig) -> u8 {
    let shape = canon::word_shape(w);
    let mut f = 0;
    if w == WILDCARD {
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
    pub fn tokenize(&mut self, content: &str, cfg: &MinerConfig, line: &mut Line) {
        line.text.clear();
        line.toks.clear();
        self.raw.clear();
        let b = content.as_bytes();
        let mut forced = false;
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && canon::SPACE[b[i] as usize] {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let s = i;
            if self.raw.len() + 1 == cfg.max_tokens {
                // The rest of an over-long line is one variable token.
                let mut e = b.len();
                while e > s && canon::SPACE[b[e - 1] as usize] {
                    e -= 1;
                }
                forced = b[s..e].iter().any(|&c| canon::SPACE[c as usize]);
                self.raw.push((s, e));
                break;
            }
            while i < b.len() && !canon::SPACE[b[i] as usize] {
                i += 1;
            }
            self.raw.push((s, i));
        }
        for (k, &(s, e)) in self.raw.iter().enumerate() {
            let start = line.text.len();
            if forced && k + 1 == self.raw.len() {
                line.text.push_str(WILDCARD);
            } else {
                canon::canonical_word(&content[s..e], &cfg.masks, &mut self.scratch, &mut line.text);
            }
            line.toks.push(Tok { start: start as u32, end: line.text.len() as u32, hash: 0, flags: 0 });
        }
        if cfg.masks.dates {
            self.mask_dates(content, cfg, line);
        }
        for k in 0..line.toks.len() {
            let w = line.word(k);
            let (hash, flags) = (hash_bytes(w.as_bytes()), flags_of(w, cfg));
            line.toks[k].hash = hash;
            line.toks[k].flags = flags;
        }
    }

    /// Month and weekday names next to another part of a timestamp are variables.
    fn mask_dates(&mut self, content: &str, cfg: &MinerConfig, line: &mut Line) {
        let n = self.raw.len();
        for k in 0..n {
            let (s, e) = self.raw[k];
            if e - s > 10 || !content.as_bytes()[s..e].iter().any(|c| c.is_ascii_alphabetic()) {
                continue;
            }
            let raw = &content[s..e];
            let (cs, ce) = canon::core(raw);
            if !canon::is_month_or_day(&raw[cs..ce]) {
                continue;
            }
            let next_is_month = k + 1 < n && {
                let (ns, ne) = self.raw[k + 1];
                let next = &content[ns..ne];
                let (a, z) = canon::core(next);
                canon::is_month(&next[a..z])
            };
            let var_neighbour = (k > 0 && canon::is_var_only(line.word(k - 1))) || (k + 1 < n && canon::is_var_only(line.word(k + 1)));
            if var_neighbour || next_is_month {
                self.word.clear();
                self.word.push_str(&raw[..cs]);
                self.word.push_str(WILDCARD);
                self.word.push_str(&raw[ce..]);
                let start = line.text.len();
                canon::canonical_word(&self.word, &cfg.masks, &mut self.scratch, &mut line.text);
                line.toks[k].start = start as u32;
                line.toks[k].end = line.text.len() as u32;
            }
        }
    }
}
