//! Canonical forms of recently seen words that needed masking. Ids, addresses and paths
//! recur in nearby lines, and masking them is the costly part of tokenizing; the cache is a
//! pure function of the word, so it never changes a result, only skips work.
//!
//! Words are filed by their shape (see [`super::shape`]): an entry whose canonical form
//! kept no digit serves every word of its shape, so a fresh id costs a lookup instead of
//! the masking. An entry whose canonical form kept a digit (`v2` pieces, short numbers
//! inside names) serves only its own word.
//!
//! Direct-mapped, each slot one cache line holding the raw word and its canonical form
//! inline, so a lookup touches one line and follows no pointer. Words too long for a slot
//! are not cached.

use super::hash::tail_le;
use super::shape::{kept_digit, same_shape, shape8};

/// Slots (a power of two): 512 KiB in all.
const SLOTS: usize = 4096;
/// Bytes of a slot for the raw word and its canonical form together.
const DATA: usize = 108;

#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Slot {
    key: u64,
    hash: u64,
    raw_len: u8,
    canon_len: u8,
    flags: u8,
    /// The canonical form kept a digit: the entry serves only the same raw word.
    exact: bool,
    data: [u8; DATA],
}

const EMPTY: Slot = Slot { key: 0, hash: 0, raw_len: 0, canon_len: 0, flags: 0, exact: false, data: [0; DATA] };

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

/// A cheap key of the word's shape (the word is compared on a hit anyway): the length and
/// the first and last eight bytes, mixed once.
fn quick_key(b: &[u8]) -> u64 {
    let n = b.len().min(8);
    let tail = if n == 0 { 0 } else { shape8(tail_le(b, n)) };
    let head = if b.len() >= 8 { shape8(tail_le(&b[..8], 8)) } else { tail };
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
        if s.key != key || r != raw.len() || (&s.data[..r] != raw && (s.exact || !same_shape(&s.data[..r], raw))) {
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
        s.exact = kept_digit(canon);
        s.raw_len = r as u8;
        s.canon_len = c as u8;
        s.data[..r].copy_from_slice(raw);
        s.data[r..r + c].copy_from_slice(canon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &WordCache, w: &str) -> Option<(Vec<u8>, u64, u8)> {
        c.get(w.as_bytes(), c.probe(w.as_bytes())).map(|h| (h.canon.to_vec(), h.hash, h.flags))
    }

    fn put(c: &mut WordCache, w: &str, canon: &str) {
        c.put(w.as_bytes(), c.probe(w.as_bytes()), canon.as_bytes(), 7, 2);
    }

    #[test]
    fn an_entry_without_digits_serves_every_word_of_its_shape() {
        let mut c = WordCache::default();
        assert!(get(&c, "blk_-1608999687919862906").is_none());
        put(&mut c, "blk_-1608999687919862906", "blk_-<*>");
        let want = Some((b"blk_-<*>".to_vec(), 7, 2));
        assert_eq!(get(&c, "blk_-1608999687919862906"), want);
        assert_eq!(get(&c, "blk_-3405512345678912304"), want);
        // A `0` is its own shape (it may start `0x`), and lengths must agree.
        assert!(get(&c, "blk_-1608999687919862916").is_none());
        assert!(get(&c, "blk_-1618999687919862906").is_none());
        assert!(get(&c, "blk_-160899968791986290").is_none());
        assert!(get(&c, "blk_+1608999687919862906").is_none());
    }

    #[test]
    fn an_entry_that_kept_a_digit_serves_only_its_word() {
        let mut c = WordCache::default();
        put(&mut c, "v2.1-a", "v2.1-a");
        assert_eq!(get(&c, "v2.1-a"), Some((b"v2.1-a".to_vec(), 7, 2)));
        assert!(get(&c, "v3.1-a").is_none());
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
        // Words of letters only: each its own shape.
        let letters = |i: usize| (0..4).map(|k| b'a' + (i / 26usize.pow(k) % 26) as u8).collect::<Vec<u8>>();
        let words: Vec<Vec<u8>> = (0..SLOTS * 4).map(letters).collect();
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
