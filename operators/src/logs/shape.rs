//! The shape of bytes: every digit 1-9 read as `1`.
//!
//! Every masking rule reads digits only as digits (counts, runs, hex), except for the `0`
//! of a `0x` prefix, which the shape keeps. So words, and whole lines, of one shape whose
//! canonical form kept no digit have the same canonical form: `blk_-1608999687919862906`
//! and `blk_-3405512345678912304` are both `blk_-<*>` (tested in `canon`). The word cache
//! and the line memo use this to serve fresh ids of a known shape without masking them.

use super::hash::{fmix64, tail_le};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Eight bytes (little-endian) with every digit 1-9 read as `1`.
#[inline(always)]
pub(crate) fn shape8(x: u64) -> u64 {
    // Per byte, the high bit says: ASCII, at least `1`, at most `9` (no borrow crosses a
    // byte: each subtraction starts from a byte with its high bit set).
    let ge1 = (x | HIGH).wrapping_sub(ONES * 0x31) & HIGH;
    let le9 = (HIGH | (ONES * 0x39)).wrapping_sub(x & !HIGH) & HIGH;
    let digit = ge1 & le9 & !x & HIGH;
    let mask = (digit >> 7).wrapping_mul(0xFF);
    (x & !mask) | ((ONES * 0x31) & mask)
}

/// Whether a canonical form kept a digit: then it is not shared by its shape, only by its
/// own bytes.
pub(crate) fn kept_digit(canon: &[u8]) -> bool {
    canon.iter().any(u8::is_ascii_digit)
}

/// Two byte strings of one length have the same shape.
pub(crate) fn same_shape(a: &[u8], b: &[u8]) -> bool {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if shape8(tail_le(x, 8)) != shape8(tail_le(y, 8)) {
            return false;
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    ra.is_empty() || shape8(tail_le(ra, ra.len())) == shape8(tail_le(rb, rb.len()))
}

/// Hashes of a line: two independent 64-bit hashes of its shape (with its length), and one
/// of its bytes as they are, in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineHashes {
    pub shape: (u64, u64),
    pub raw: u64,
}

impl LineHashes {
    /// The key of the line's exact bytes: its own hash with one of its shape.
    pub fn exact(&self) -> (u64, u64) {
        (self.raw, self.shape.1)
    }
}

pub(crate) fn line_hashes(b: &[u8]) -> LineHashes {
    let mut a = (b.len() as u64).wrapping_mul(K) ^ 0x243F_6A88_85A3_08D3;
    let mut c = b.len() as u64 ^ 0x1357_9BDF_2468_ACE0;
    let mut r = a ^ 0xA409_3822_299F_31D0;
    let mut eat = |x: u64| {
        let s = shape8(x);
        a = (a ^ s).wrapping_mul(K).rotate_left(29);
        c = c.rotate_left(19).wrapping_add(s).wrapping_mul(0xff51_afd7_ed55_8ccd);
        r = (r ^ x).wrapping_mul(0xc4ce_b9fe_1a85_ec53).rotate_left(31);
    };
    let mut chunks = b.chunks_exact(8);
    for x in &mut chunks {
        eat(tail_le(x, 8));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        eat(tail_le(rest, rest.len()));
    }
    LineHashes { shape: (fmix64(a), fmix64(c)), raw: fmix64(r) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_reads_every_digit_but_zero_as_one() {
        let word = |s: &[u8; 8]| u64::from_le_bytes(*s);
        for (raw, shape) in [(b"12345678", b"11111111"), (b"0x9Af/:@", b"0x1Af/:@"), (b"\xff\x39a9\x00z7~", b"\xff\x31a1\x00z1~")] {
            assert_eq!(shape8(word(raw)), word(shape), "{}", String::from_utf8_lossy(raw));
        }
        assert!(same_shape(b"10.0.0.1:80", b"90.0.0.7:30"));
        assert!(!same_shape(b"10.0.0.1:80", b"10.0.0.1:08"));
        let (a, b) = (line_hashes(b"block 12 of 345 at 0x1f"), line_hashes(b"block 98 of 761 at 0x9f"));
        assert_eq!(a.shape, b.shape);
        assert_ne!(a.raw, b.raw);
        assert_eq!(a, line_hashes(b"block 12 of 345 at 0x1f"));
        assert_ne!(a.shape, line_hashes(b"block 12 of 345 at 1x1f").shape);
        assert_ne!(line_hashes(b"block 12 of 345").shape, line_hashes(b"block 123 of 45").shape);
        assert_ne!(line_hashes(b"a").shape.0, line_hashes(b"a").shape.1);
    }
}
