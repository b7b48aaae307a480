//! Deterministic 64-bit hashing: the same bytes give the same value in every process and on
//! every platform (no random seed), so template ids and snapshots are reproducible.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hash of a byte string (8 bytes at a time, then a full avalanche).
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = (bytes.len() as u64).wrapping_mul(K) ^ 0x243F_6A88_85A3_08D3;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(a)).wrapping_mul(K).rotate_left(29);
    }
    let rem = chunks.remainder().len();
    if rem > 0 {
        h = (h ^ tail_le(bytes, rem)).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// The last `n` (1 to 8; all of `b` when it is shorter than 8) bytes of `b` as a little-endian integer, zero-padded — read with
/// whole-word loads instead of a copy into a buffer, whose partial stores the CPU cannot
/// forward to the load that follows.
#[inline(always)]
pub(crate) fn tail_le(b: &[u8], n: usize) -> u64 {
    let len = b.len();
    if len >= 8 {
        return le64(&b[len - 8..]) >> (8 * (8 - n));
    }
    // The whole slice is the tail: 1 to 7 bytes.
    if n >= 4 {
        let lo = u64::from(le32(&b[..4]));
        let hi = u64::from(le32(&b[n - 4..n]));
        return lo | (hi << (8 * (n - 4)));
    }
    let (first, mid, last) = (u64::from(b[0]), u64::from(b[n / 2]), u64::from(b[n - 1]));
    first | (mid << (8 * (n / 2))) | (last << (8 * (n - 1)))
}

#[inline]
fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[inline]
fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Combine an ordered sequence of hashes.
pub fn combine(acc: u64, h: u64) -> u64 {
    fmix64((acc ^ h).wrapping_mul(K).rotate_left(23) ^ 0x1357_9BDF_2468_ACE0)
}

pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Hasher for keys that are already well mixed (token hashes) or small integers.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = combine(self.0, hash_bytes(bytes));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(K);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The zero-padded copy the whole-word loads replace.
    fn padded(rem: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a[..rem.len()].copy_from_slice(rem);
        u64::from_le_bytes(a)
    }

    #[test]
    fn tail_loads_equal_a_padded_copy() {
        let bytes: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        for len in 1..bytes.len() {
            let b = &bytes[..len];
            let n = len % 8;
            if n > 0 {
                assert_eq!(tail_le(b, n), padded(&b[len - n..]), "len {len}");
            }
        }
    }

    /// Template ids are these hashes: the chunked reference they must keep equal to.
    fn reference(bytes: &[u8]) -> u64 {
        let mut h = (bytes.len() as u64).wrapping_mul(K) ^ 0x243F_6A88_85A3_08D3;
        for c in bytes.chunks(8) {
            h = (h ^ padded(c)).wrapping_mul(K).rotate_left(29);
        }
        fmix64(h)
    }

    #[test]
    fn hashes_equal_the_reference() {
        let bytes: Vec<u8> = (0..70u8).map(|i| i.wrapping_mul(91).wrapping_add(3)).collect();
        for len in 0..bytes.len() {
            assert_eq!(hash_bytes(&bytes[..len]), reference(&bytes[..len]), "len {len}");
        }
    }
}
