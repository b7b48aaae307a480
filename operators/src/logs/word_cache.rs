//! Canonical forms of recently seen words that needed masking. Ids, addresses and paths
//! recur in nearby lines, and masking them is the costly part of tokenizing; the cache is a
//! pure function of the word, so it never changes a result, only skips work.
//!
//! Direct-mapped, each slot one cache line holding the raw word and its canonical form
//! inline, so a lookup touches one line and follows no pointer. Words too long for a slot
//! are not cached.

use super::hash::tail_le;

/// Slots (a power of two): 512 KiB in all.
const SLOTS: usize = 4096;
/// Bytes of a slot for the raw word and its canonical form together.
const DATA: usize = 109;

#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Slot {
    key: u64,
    hash: u64,
    raw_len: u8,
    canon_len: u8,
    flags: u8,
    data: [u8; DATA],
}

const EMPTY: Slot = Slot { key: 0, hash: 0, raw_len: 0, canon_len: 0, flags: 0, data: [0; DATA] };

/// A cached canonical word: its text, hash and token flags.
pub(crate) struct Hit<'a> {
    pub canon: &'a [u8],
    pub hash: u64,
    pub flags: u8,
}

pub(crate) struct WordCache {
    slots: Box<[Slot]>,
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache { slots: vec![EMPTY; SLOTS].into_boxed_slice() }
    }
}

impl std::fmt::Debug for WordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordCache").field("slots", &SLOTS).finish()
    }
}

/// A cheap key (the raw word is compared on a hit anyway): the length and the first and
/// last eight bytes, mixed once.
fn quick_key(b: &[u8]) -> u64 {
    let n = b.len().min(8);
    let tail = if n == 0 { 0 } else { tail_le(b, n) };
    let head = if b.len() >= 8 { tail_le(&b[..8], 8) } else { tail };
    let k = (head ^ tail.rotate_left(29) ^ (b.len() as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // Never 0, the key of an empty slot.
    (k ^ (k >> 31)) | 1
}

/// Start loading the slot's cache line without waiting for it.
#[inline]
#[allow(unsafe_code)]
fn prefetch(slot: &Slot) {
    // SAFETY: a prefetch is a hint with no effect on memory or program state; SSE is part
    // of every x86_64 target, and the pointer comes from a live reference.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((slot as *const Slot).cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

impl WordCache {
    fn index(key: u64) -> usize {
        (key >> 52) as usize & (SLOTS - 1)
    }

    /// The key of `raw`, reading its slot already: the scan of a line probes every word
    /// before any is looked up, so the loads of a line's slots overlap.
    pub fn probe(&self, raw: &[u8]) -> u64 {
        let key = quick_key(raw);
        prefetch(&self.slots[Self::index(key)]);
        key
    }

    pub fn get(&self, raw: &[u8], key: u64) -> Option<Hit<'_>> {
        let s = &self.slots[Self::index(key)];
        let (r, c) = (usize::from(s.raw_len), usize::from(s.canon_len));
        if s.key != key || r != raw.len() || &s.data[..r] != raw {
            return None;
        }
        Some(Hit { canon: &s.data[r..r + c], hash: s.hash, flags: s.flags })
    }

    pub fn put(&mut self, raw: &[u8], key: u64, canon: &[u8], hash: u64, flags: u8) {
        let (r, c) = (raw.len(), canon.len());
        if r + c > DATA {
            return;
        }
        let s = &mut self.slots[Self::index(key)];
        s.key = key;
        s.hash = hash;
        s.flags = flags;
        s.raw_len = r as u8;
        s.canon_len = c as u8;
        s.data[..r].copy_from_slice(raw);
        s.data[r..r + c].copy_from_slice(canon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_word() {
        let mut c = WordCache::default();
        let get = |c: &WordCache, w: &str| c.get(w.as_bytes(), c.probe(w.as_bytes())).map(|h| (h.canon.to_vec(), h.hash, h.flags));
        assert!(get(&c, "10.0.0.1:80").is_none());
        c.put(b"10.0.0.1:80", c.probe(b"10.0.0.1:80"), b"<*>:<*>", 7, 2);
        assert_eq!(get(&c, "10.0.0.1:80"), Some((b"<*>:<*>".to_vec(), 7, 2)));
        assert!(get(&c, "10.0.0.2:80").is_none());
        assert!(get(&c, "10.0.0.1:8").is_none());
    }

    #[test]
    fn long_words_are_not_cached() {
        let mut c = WordCache::default();
        let long = ("x".repeat(DATA) + "1").into_bytes();
        c.put(&long, c.probe(&long), b"<*>", 1, 0);
        assert!(c.get(&long, c.probe(&long)).is_none());
    }

    #[test]
    fn a_colliding_word_replaces_the_slot() {
        let mut c = WordCache::default();
        let words: Vec<Vec<u8>> = (0..SLOTS * 4).map(|i| format!("w{i}").into_bytes()).collect();
        for w in &words {
            c.put(w, c.probe(w), b"<*>", 1, 0);
        }
        let hits = words.iter().filter(|w| c.get(w, c.probe(w)).is_some()).count();
        assert!(hits <= SLOTS && hits > 0, "{hits}");
        for w in &words {
            if let Some(h) = c.get(w, c.probe(w)) {
                assert_eq!(h.canon, b"<*>");
            }
        }
    }
}
