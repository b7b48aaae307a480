//! Which cluster a canonical token sequence joined last time, when joining changed nothing.
//!
//! Lines of one event recur with the same canonical tokens; for such a line the tree descent,
//! the similarity scan of the leaf and the generalisation of differing words all give the
//! answer they gave before, as long as nothing they read has changed since. They read only
//! the subtree of the line's token count (its nodes, clusters and templates), so each token
//! count has a generation, bumped whenever a line creates or changes a template of that
//! length; a remembered answer is used only while its generation is current. Like the word
//! cache it never changes a result, it only skips work.
//!
//! Sequences are told apart by two independent 64-bit hashes of their token hashes (the tree
//! itself already tells words apart by their 64-bit hash).
//!
//! A second table goes one step further back, from the raw line to its token sequence, so
//! a known line is answered without tokenizing it. A line whose canonical tokens kept no
//! digit is filed by its shape (see [`super::shape`]): every line of that shape has the same
//! tokens (the same event with other ids, sizes and addresses). A line that kept a digit
//! (`ext4`, `u12`) is filed by its bytes and serves only itself. Shapes are told apart by
//! two independent 64-bit hashes of the shape, lines by one of their bytes and one of their
//! shape.

use super::hash::fmix64;
use super::shape::{line_hashes, LineHashes};
use super::token::Line;

/// Slots (a power of two): 128 KiB in all.
const SLOTS: usize = 4096;
const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    check: u64,
    /// Generation of the token count when stored; 0 never matches.
    generation: u64,
    cluster: u32,
    len: u32,
}

/// The two hashes of a line's token sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqKey {
    key: u64,
    check: u64,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct LineMemo {
    /// Tests compare against a miner that never uses the memo.
    #[cfg(test)]
    pub disabled: bool,
    slots: Box<[Slot]>,
    /// Current generation per token count (index), starting at 1.
    generations: Vec<u64>,
    raw_lines: Box<[LineSlot]>,
}

/// Slots of the raw-line table (a power of two): 224 KiB in all.
const LINE_SLOTS: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
struct LineSlot {
    /// The shape's two hashes, or the line's and its shape's.
    key: Option<(u64, u64)>,
    seq: Option<SeqKey>,
}

impl Default for LineMemo {
    fn default() -> Self {
        LineMemo {
            #[cfg(test)]
            disabled: false,
            slots: vec![Slot::default(); SLOTS].into_boxed_slice(),
            generations: Vec::new(),
            raw_lines: vec![LineSlot::default(); LINE_SLOTS].into_boxed_slice(),
        }
    }
}

impl LineMemo {
    pub fn key(line: &Line) -> SeqKey {
        let len = line.len();
        let mut a = (len as u64).wrapping_mul(K) ^ 0x243F_6A88_85A3_08D3;
        let mut b = len as u64;
        for t in &line.toks {
            a = (a ^ t.hash).wrapping_mul(K).rotate_left(29);
            b = b.rotate_left(19).wrapping_add(t.hash);
        }
        SeqKey { key: fmix64(a), check: fmix64(b ^ 0x1357_9BDF_2468_ACE0), len }
    }

    pub fn line_key(content: &str) -> LineHashes {
        line_hashes(content.as_bytes())
    }

    fn line_index(key: (u64, u64)) -> usize {
        (key.0 >> 40) as usize & (LINE_SLOTS - 1)
    }

    fn line_slot(&self, key: (u64, u64)) -> Option<SeqKey> {
        let s = &self.raw_lines[Self::line_index(key)];
        if s.key == Some(key) {
            s.seq
        } else {
            None
        }
    }

    /// The cluster a line joins unchanged, if its tokens are known (by its shape or by its
    /// bytes) and that is still what they would do. (A shape's entry is never wrong for a
    /// line that kept a digit: had one line of the shape kept none, all would have its
    /// tokens and keep none.)
    pub fn by_line(&self, k: &LineHashes) -> Option<u32> {
        let seq = self.line_slot(k.shape).or_else(|| self.line_slot(k.exact()))?;
        self.get(&seq)
    }

    /// The line `k` has the token sequence `seq`; `kept_digit`: a canonical token of it
    /// holds a digit (so only the same line has it, not every line of its shape).
    pub fn put_line(&mut self, k: &LineHashes, seq: &SeqKey, kept_digit: bool) {
        let key = if kept_digit { k.exact() } else { k.shape };
        self.raw_lines[Self::line_index(key)] = LineSlot { key: Some(key), seq: Some(*seq) };
    }

    fn generation(&self, len: usize) -> u64 {
        self.generations.get(len).copied().unwrap_or(1)
    }

    fn slot(k: &SeqKey) -> usize {
        (k.key >> 40) as usize & (SLOTS - 1)
    }

    /// The cluster the sequence joined unchanged, if that is still what it would do.
    pub fn get(&self, k: &SeqKey) -> Option<u32> {
        #[cfg(test)]
        if self.disabled {
            return None;
        }
        let s = &self.slots[Self::slot(k)];
        let hit = s.key == k.key && s.check == k.check && s.len as usize == k.len && s.generation == self.generation(k.len);
        hit.then_some(s.cluster)
    }

    /// The sequence joined `cluster` and changed nothing.
    pub fn put(&mut self, k: &SeqKey, cluster: u32) {
        let generation = self.generation(k.len);
        self.slots[Self::slot(k)] = Slot { key: k.key, check: k.check, generation, cluster, len: k.len as u32 };
    }

    /// A template of `len` tokens was created or changed: forget every answer for that length.
    pub fn invalidate(&mut self, len: usize) {
        if self.generations.len() <= len {
            self.generations.resize(len + 1, 1);
        }
        self.generations[len] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_take_what_their_docs_say() {
        assert_eq!(std::mem::size_of::<Slot>() * SLOTS, 128 * 1024);
        assert_eq!(std::mem::size_of::<LineSlot>() * LINE_SLOTS, 224 * 1024);
    }
}
