//! Canonical form of a word: variable shapes replaced by `<*>`, written the way Loghub-2.0
//! writes its corrected ground-truth templates.
//!
//! Loghub-2.0 corrects every oracle template with fixed rules (Khan et al., ICSE 2022):
//! path-like strings (PS), `true`/`false`/`null`/`root`/`admin` (BL, US) and digit-only
//! pieces (DG) become `<*>`, a piece holding a `<*>` becomes `<*>` (WV), and `<*>.<*>` and
//! `<*><*>` collapse (DV, CV). Pieces are what lies between the delimiters below. The same
//! rules, applied to our own output, put `<*>` exactly where the ground truth puts it;
//! [`loghub_correct`] applies them to a whole template (tests check it reproduces the
//! corrected files from the raw ones).
//!
//! Before those rules, the configured masks replace further variable shapes (hex, UUIDs,
//! identifiers with digits, host names, quantities).

use super::config::MaskConfig;
use super::hash::tail_le;

pub const WILDCARD: &str = "<*>";

const fn class(chars: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < chars.len() {
        t[chars[i] as usize] = true;
        i += 1;
    }
    t
}

/// Whitespace that separates words.
pub(crate) const SPACE: [bool; 256] = class(b" \t\n\r\x0b\x0c");
/// Delimiters of the path rule (PS).
pub(crate) const PATH_DELIM: [bool; 256] = class(b" \t\n\r\x0b\x0c,!;:=|\"'[](){}");
/// Delimiters of the piece rules (BL, US, DG, WV) and of our masks.
pub(crate) const TOKEN_DELIM: [bool; 256] = class(b" \t\n\r\x0b\x0c,!;:=|\"'[](){}.-+@#$%&");
/// Delimiters of host-name segments.
const SEGMENT_DELIM: [bool; 256] = class(b" \t\n\r\x0b\x0c,!;:=|\"'[](){}/");

/// Byte classes, as bits, so one pass over a word says what it holds.
pub(crate) const SP: u16 = 1;
pub(crate) const DIG: u16 = 2;
pub(crate) const ALPHA: u16 = 4;
pub(crate) const LT: u16 = 8;
pub(crate) const SLASH: u16 = 16;
pub(crate) const DASH: u16 = 32;
pub(crate) const TDELIM: u16 = 64;
pub(crate) const DOT: u16 = 128;
/// Not a space, digit, letter or token delimiter (`<`, `/`, `_`, `*`, non-ASCII, ...).
pub(crate) const OTHER: u16 = 256;

pub(crate) const CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut v = 0;
        if SPACE[c] {
            v |= SP;
        }
        if b.is_ascii_digit() {
            v |= DIG;
        }
        if b.is_ascii_alphabetic() {
            v |= ALPHA;
        }
        if b == b'<' {
            v |= LT;
        }
        if b == b'/' {
            v |= SLASH;
        }
        if b == b'-' {
            v |= DASH;
        }
        if TOKEN_DELIM[c] {
            v |= TDELIM;
        }
        if b == b'.' {
            v |= DOT;
        }
        if !SPACE[c] && !b.is_ascii_alphanumeric() && !TOKEN_DELIM[c] {
            v |= OTHER;
        }
        t[c] = v;
        c += 1;
    }
    t
};

/// The classes of the bytes of `b`, or-ed.
pub(crate) fn classes(b: &[u8]) -> u16 {
    b.iter().fold(0, |acc, &c| acc | CLASS[c as usize])
}

/// Position of the first `<*>` in `b` at or after `from`.
#[inline]
pub(crate) fn find_wild(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= b.len() {
        if b[i] == b'<' && b[i + 1] == b'*' && b[i + 2] == b'>' {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[inline]
pub(crate) fn has_wild(s: &str) -> bool {
    find_wild(s.as_bytes(), 0).is_some()
}

/// The bytes of a word of at most 8 bytes, each or-ed with 0x20, packed little-endian. For a
/// name of lowercase letters, `pack_lower(w) == pack_lower(name)` exactly when `w` equals the
/// name ignoring ASCII case (only `c` and its uppercase give `c` when or-ed with 0x20, and no
/// byte gives 0, so lengths agree too): one compare instead of a loop per name.
const fn pack_lower(b: &[u8]) -> u64 {
    let mut k = 0u64;
    let mut i = 0;
    while i < b.len() && i < 8 {
        k |= ((b[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    k
}

const fn packed<const N: usize>(names: [&str; N]) -> [u64; N] {
    let mut out = [0u64; N];
    let mut i = 0;
    while i < N {
        out[i] = pack_lower(names[i].as_bytes());
        i += 1;
    }
    out
}

const DEFAULT_STRINGS: [u64; 5] = packed(["true", "false", "null", "root", "admin"]);

/// Split `s` at single-byte delimiters, keeping them: `f(piece, is_delimiter)`.
pub(crate) fn for_pieces<'a>(s: &'a str, delim: &[bool; 256], mut f: impl FnMut(&'a str, bool)) {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if delim[c as usize] {
            if start < i {
                f(&s[start..i], false);
            }
            f(&s[i..i + 1], true);
            start = i + 1;
        }
    }
    if start < b.len() {
        f(&s[start..], false);
    }
}

fn is_default_string(p: &str) -> bool {
    is_default_bytes(p.as_bytes())
}

fn is_default_bytes(p: &[u8]) -> bool {
    (p.len() == 4 || p.len() == 5) && DEFAULT_STRINGS.contains(&pack_lower_short(p))
}

/// [`pack_lower`] of a word of 1 to 8 bytes, with whole-word loads.
#[inline]
fn pack_lower_short(b: &[u8]) -> u64 {
    let n = b.len();
    tail_le(b, n) | (0x2020_2020_2020_2020 >> (8 * (8 - n)))
}

/// Whether the canonical form of `w` may differ from `w` (false: it certainly equals `w`).
#[cfg(test)]
pub(crate) fn needs_work(w: &str) -> bool {
    needs_work_cls(w.as_bytes(), classes(w.as_bytes()))
}

/// Whether the canonical form of a word with byte classes `cls` may differ from it.
#[inline]
pub(crate) fn needs_work_cls(w: &[u8], cls: u16) -> bool {
    if cls & (DIG | LT | SLASH) != 0 || (cls & DASH != 0 && w.len() >= 36) {
        return true;
    }
    if cls & TDELIM == 0 {
        return is_default_bytes(w);
    }
    cls & ALPHA != 0 && w.len() >= 4 && has_default_piece(w)
}

/// A piece (between delimiters) of `w` is a default string.
#[inline(never)]
fn has_default_piece(w: &[u8]) -> bool {
    w.split(|&c| TOKEN_DELIM[c as usize]).any(is_default_bytes)
}

/// Byte classes of a word that [`numeric_word`] takes.
#[inline]
pub(crate) fn is_numeric_cls(cls: u16) -> bool {
    cls & DIG != 0 && cls & (ALPHA | OTHER | SP) == 0
}

/// Scratch buffers of the canonicaliser (kept by the tokenizer, so no allocation per word).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    a: String,
    b: String,
}

/// Append the canonical form of `w` to `out`.
#[cfg(test)]
pub(crate) fn canonical_word(w: &str, masks: &MaskConfig, s: &mut Scratch, out: &mut String) {
    if !needs_work(w) {
        out.push_str(w);
        return;
    }
    masked_word(w, masks, s, out);
}

/// The canonical form of a word known to need work (one whose classes [`needs_work_cls`] flags).
pub(crate) fn masked_word(w: &str, masks: &MaskConfig, s: &mut Scratch, out: &mut String) {
    if numeric_word(w, out) || simple_word(w, masks, out) {
        return;
    }
    general_word(w, masks, s, out);
}

/// Every mask and correction, step by step (the definition the shortcuts above agree with).
fn general_word(w: &str, masks: &MaskConfig, s: &mut Scratch, out: &mut String) {
    let Scratch { a, b } = s;
    a.clear();
    a.push_str(w);
    let has_digit = w.bytes().any(|c| c.is_ascii_digit());
    if masks.uuid && w.len() >= 36 && w.contains('-') {
        b.clear();
        mask_uuids(a, b);
        std::mem::swap(a, b);
    }
    // (Host-name masking changes nothing without a compound segment: no copy then.)
    if masks.hostnames && has_digit && w.bytes().filter(|c| matches!(c, b'-' | b'.' | b'_')).count() >= 2 && has_compound_segment(a) {
        b.clear();
        mask_hostnames(a, b);
        std::mem::swap(a, b);
    }
    if has_digit {
        b.clear();
        for_pieces(a, &TOKEN_DELIM, |p, d| b.push_str(if !d && mask_piece(p, masks) { WILDCARD } else { p }));
        std::mem::swap(a, b);
    }
    correct_into(a, b);
    out.push_str(b);
}

/// The common case in one pass: a word without `/` or `<` (no path rule, no variables
/// already in it), not long enough to hold a UUID and without a host name. Then the masks and Loghub's corrections reduce to: a piece (between delimiters)
/// is `<*>` when a mask takes it, it is a default string or it is all digits; and DV and
/// CV reduce to merging each run of `<*>` joined by nothing or single dots. Returns false
/// (writing nothing) for any other word.
fn simple_word(w: &str, masks: &MaskConfig, out: &mut String) -> bool {
    let b = w.as_bytes();
    let mut seps = 0;
    for &c in b {
        if c == b'/' || c == b'<' {
            return false;
        }
        seps += usize::from(matches!(c, b'-' | b'.' | b'_'));
    }
    if (masks.uuid && b.len() >= 36 && w.contains('-')) || (masks.hostnames && seps >= 2 && has_compound_segment(w)) {
        return false;
    }
    // Where the last `<*>` written ends in `out`.
    let mut run_end: Option<usize> = None;
    let mut emit = |piece: &str, var: bool, out: &mut String| {
        if var {
            match run_end {
                // `<*>` right after `<*>` or `<*>.`: the run goes on.
                Some(e) if e == out.len() || (e + 1 == out.len() && out.ends_with('.')) => {
                    out.truncate(e);
                }
                _ => out.push_str(WILDCARD),
            }
            run_end = Some(out.len());
        } else {
            out.push_str(piece);
        }
    };
    for_pieces(w, &TOKEN_DELIM, |p, d| {
        let var = !d && (is_default_string(p) || is_digits(p) || mask_piece(p, masks));
        emit(p, var, out);
    });
    true
}

/// Words made of digit runs and delimiters only (`42`, `10.0.0.1:80`, `07:07:00`, `(12)`):
/// each run is `<*>`, then DV and CV as in [`correct_into`]. Returns false (writing nothing)
/// for any other word. A word is one of these exactly when its byte classes hold a digit
/// and no letter and no [`OTHER`] byte (see [`is_numeric_cls`]).
pub(crate) fn numeric_word(w: &str, out: &mut String) -> bool {
    let b = w.as_bytes();
    if !b.iter().all(|&c| c.is_ascii_digit() || (TOKEN_DELIM[c as usize] && c != b'<')) {
        return false;
    }
    numeric_known(b, out);
    true
}

/// [`numeric_word`] of a word known to be one (its classes pass [`is_numeric_cls`]).
pub(crate) fn numeric_known(b: &[u8], out: &mut String) {
    let start = out.len();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            // DV: `<*>.<*>` is one `<*>` (runs joined by single dots).
            if out.len() >= start + 4 && out.ends_with("<*>.") {
                out.pop();
            } else {
                out.push_str(WILDCARD);
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
}

/// Loghub-2.0's template correction of a whole template (all its rules, in its order).
pub fn loghub_correct(template: &str) -> String {
    let mut words = String::with_capacity(template.len());
    for w in template.split(|c: char| c.is_ascii() && SPACE[c as usize]).filter(|w| !w.is_empty()) {
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(w);
    }
    let mut out = String::with_capacity(words.len());
    correct_into(&mut words, &mut out);
    out
}

/// PS, BL/US, DG, WV on the pieces of `a`, then DV and CV; result in `out` (`a` is reused).
fn correct_into(a: &mut String, out: &mut String) {
    if a.contains('/') {
        out.clear();
        for_pieces(a, &PATH_DELIM, |p, d| out.push_str(if !d && is_path(p) { WILDCARD } else { p }));
        std::mem::swap(a, out);
    }
    out.clear();
    for_pieces(a, &TOKEN_DELIM, |p, d| {
        let var = !d && (is_default_string(p) || is_digits(p) || (has_wild(p) && !p.contains('/')));
        out.push_str(if var { WILDCARD } else { p });
    });
    if has_wild(out) {
        collapse(out, b".");
        collapse(out, b"");
    }
}

/// Rewrite `<*>` SEP `<*>` as `<*>` until none is left (DV with SEP `.`, CV with none).
fn collapse(s: &mut String, sep: &[u8]) {
    let pat_len = 6 + sep.len();
    let is_pat = |b: &[u8], i: usize| b.len() >= i + pat_len && &b[i..i + 3] == b"<*>" && &b[i + 3..i + 3 + sep.len()] == sep && &b[i + 3 + sep.len()..i + pat_len] == b"<*>";
    loop {
        let b = s.as_bytes();
        // A pattern starts with `<*>`: look only where one does.
        let mut from = 0;
        let first = loop {
            match find_wild(b, from) {
                Some(i) if is_pat(b, i) => break i,
                Some(i) => from = i + 1,
                None => return,
            }
        };
        // One left-to-right pass of non-overlapping replacements (as `str::replace` does).
        let mut out = Vec::with_capacity(b.len());
        out.extend_from_slice(&b[..first]);
        let mut i = first;
        while i < b.len() {
            if is_pat(b, i) {
                out.extend_from_slice(b"<*>");
                i += pat_len;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        // Only ASCII patterns were replaced by ASCII: still UTF-8.
        *s = String::from_utf8(out).unwrap_or_default();
    }
}

fn is_digits(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())
}

/// `^(/[^/]+)+$`
fn is_path(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0] == b'/' && b[b.len() - 1] != b'/' && !b.windows(2).any(|w| w == b"//")
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

const UNITS: [&str; 16] = ["ms", "us", "ns", "s", "sec", "secs", "min", "h", "kb", "mb", "gb", "tb", "b", "k", "m", "g"];

/// One piece (no delimiters inside) that is a variable by shape.
fn mask_piece(p: &str, m: &MaskConfig) -> bool {
    let b = p.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    if m.hex {
        if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && b[2..].iter().all(|&c| is_hex(c)) {
            return true;
        }
        if b.len() >= 8 && b.iter().all(|&c| is_hex(c)) {
            return true;
        }
    }
    if m.quantities {
        let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if lead > 0 && lead < b.len() {
            let unit = &p[lead..];
            if UNITS.iter().any(|u| unit.eq_ignore_ascii_case(u)) {
                return true;
            }
        }
        // `<1`, `>=10`, `~5`
        if matches!(b.first(), Some(b'<' | b'>' | b'~')) {
            let i = if b.get(1) == Some(&b'=') { 2 } else { 1 };
            if i < b.len() && b[i..].iter().all(|c| c.is_ascii_digit()) {
                return true;
            }
        }
    }
    m.identifiers && digits >= 3 && b.iter().any(|c| c.is_ascii_alphabetic())
}

/// `8-4-4-4-12` hex groups anywhere in the word.
fn mask_uuids(w: &str, out: &mut String) {
    const SHAPE: [u8; 5] = [8, 4, 4, 4, 12];
    let b = w.as_bytes();
    let at = |i: usize| -> bool {
        if i + 36 > b.len() {
            return false;
        }
        let mut j = i;
        for (k, &n) in SHAPE.iter().enumerate() {
            if !b[j..j + n as usize].iter().all(|&c| is_hex(c)) {
                return false;
            }
            j += n as usize;
            if k < 4 {
                if b[j] != b'-' {
                    return false;
                }
                j += 1;
            }
        }
        true
    };
    let mut i = 0;
    let mut copied = 0;
    while i + 36 <= b.len() {
        if at(i) {
            out.push_str(&w[copied..i]);
            out.push_str(WILDCARD);
            i += 36;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&w[copied..]);
}

/// Segments (between path delimiters and `/`) made of 3 or more `-._` parts, one of them
/// numeric and one with a letter.
fn mask_hostnames(w: &str, out: &mut String) {
    for_segments(w, |seg, is_delim| {
        if !is_delim && is_compound_name(seg) {
            out.push_str(WILDCARD);
        } else {
            out.push_str(seg);
        }
    });
}

/// Whether host-name masking changes `w` (one pass, no splitting).
fn has_compound_segment(w: &str) -> bool {
    let mut p = Parts::default();
    for &c in w.as_bytes() {
        if SEGMENT_DELIM[c as usize] {
            if std::mem::take(&mut p).compound() {
                return true;
            }
        } else {
            p.byte(c);
        }
    }
    p.compound()
}

fn for_segments<'a>(s: &'a str, f: impl FnMut(&'a str, bool)) {
    for_pieces(s, &SEGMENT_DELIM, f);
}

/// 3 or more non-empty parts between `-._`, one all digits, and a letter somewhere.
fn is_compound_name(seg: &str) -> bool {
    let mut p = Parts::default();
    seg.bytes().for_each(|c| p.byte(c));
    p.compound()
}

/// The `-._` parts of a segment as its bytes go by.
#[derive(Default)]
struct Parts {
    parts: u32,
    numeric: bool,
    alpha: bool,
    /// Length of the current part, and whether it is all digits so far.
    len: u32,
    digits: bool,
}

impl Parts {
    fn byte(&mut self, c: u8) {
        if matches!(c, b'-' | b'.' | b'_') {
            self.end_part();
            return;
        }
        if self.len == 0 {
            self.digits = true;
        }
        self.len += 1;
        self.digits &= c.is_ascii_digit();
        self.alpha |= c.is_ascii_alphabetic();
    }

    fn end_part(&mut self) {
        if self.len > 0 {
            self.parts += 1;
            self.numeric |= self.digits;
        }
        self.len = 0;
    }

    /// The segment is a compound name.
    fn compound(mut self) -> bool {
        self.end_part();
        self.parts >= 3 && self.numeric && self.alpha
    }
}

/// What the tree and the skeleton need to know about a canonical word, in one pass.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape {
    pub wild: bool,
    pub var_only: bool,
    pub digit: bool,
    pub inner_dots: usize,
}

pub(crate) fn word_shape(b: &[u8]) -> Shape {
    let (mut wild, mut alnum, mut digit, mut dots) = (false, false, false, 0usize);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'<' && i + 3 <= b.len() && b[i + 1] == b'*' && b[i + 2] == b'>' {
            wild = true;
            i += 3;
            continue;
        }
        alnum |= c.is_ascii_alphanumeric();
        digit |= c.is_ascii_digit();
        dots += usize::from(c == b'.');
        i += 1;
    }
    Shape { wild, var_only: wild && !alnum, digit, inner_dots: if b.last() == Some(&b'.') { 0 } else { dots } }
}

/// The part of a word without surrounding brackets and punctuation.
pub(crate) fn core(b: &[u8]) -> (usize, usize) {
    const P: [bool; 256] = class(b"()[]{},;:.");
    let mut s = 0;
    let mut e = b.len();
    while s < e && P[b[s] as usize] {
        s += 1;
    }
    while e > s && P[b[e - 1] as usize] {
        e -= 1;
    }
    (s, e)
}

const MONTHS: [u64; 13] = packed(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]);
const DAYS: [u64; 7] = packed(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);

pub(crate) fn is_month(w: &[u8]) -> bool {
    matches!(w.len(), 3 | 4) && MONTHS.contains(&pack_lower_short(w))
}

pub(crate) fn is_month_or_day(w: &[u8]) -> bool {
    matches!(w.len(), 3 | 4) && {
        let k = pack_lower_short(w);
        MONTHS.contains(&k) || DAYS.contains(&k)
    }
}

/// Quantity units: a unit word right after a variable is part of the variable when
/// templates are compared by their constant parts.
pub(crate) fn is_unit(w: &str) -> bool {
    const U: &[&str] = &[
        "b", "bytes", "byte", "kb", "kib", "mb", "mib", "gb", "gib", "tb", "k", "m", "g", "ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "min",
        "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours", "d", "day", "days",
    ];
    !w.is_empty() && w.len() <= 7 && U.iter().any(|u| w.eq_ignore_ascii_case(u))
}

/// Generalise two different canonical words into one: the pieces they share at the start
/// and at the end are kept, what differs becomes `<*>` (`rhost=10.0.0.1` and
/// `rhost=host.example` give `rhost=<*>`).
pub(crate) fn generalize(a: &str, b: &str) -> String {
    if a == WILDCARD || b == WILDCARD {
        return WILDCARD.to_string();
    }
    let mut pa: Vec<&str> = Vec::new();
    let mut pb: Vec<&str> = Vec::new();
    for_pieces(a, &TOKEN_DELIM, |p, _| pa.push(p));
    for_pieces(b, &TOKEN_DELIM, |p, _| pb.push(p));
    let mut i = 0;
    while i < pa.len() && i < pb.len() && pa[i] == pb[i] {
        i += 1;
    }
    let mut j = 0;
    while j < pa.len() - i && j < pb.len() - i && pa[pa.len() - 1 - j] == pb[pb.len() - 1 - j] {
        j += 1;
    }
    if i == 0 && j == 0 {
        return WILDCARD.to_string();
    }
    let mut raw = String::with_capacity(a.len() + 3);
    for p in &pa[..i] {
        raw.push_str(p);
    }
    raw.push_str(WILDCARD);
    for p in &pa[pa.len() - j..] {
        raw.push_str(p);
    }
    let mut out = String::with_capacity(raw.len());
    correct_into(&mut raw, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass shortcuts (numeric words, simple words) write exactly what every
        /// mask and correction applied step by step writes.
        #[test]
        fn shortcuts_equal_the_general_path(w in "[a-fA-F0-9xkmsgtrueoolnad_.:=,;()\\[\\]+@#-]{1,40}") {
            let masks = MaskConfig::default();
            let mut s = Scratch::default();
            let (mut fast, mut slow) = (String::new(), String::new());
            canonical_word(&w, &masks, &mut s, &mut fast);
            if needs_work(&w) {
                general_word(&w, &masks, &mut s, &mut slow);
            } else {
                slow.push_str(&w);
            }
            prop_assert_eq!(fast, slow);
        }
    }

    proptest! {
        /// What the word cache relies on: the masks read digits 1-9 only as digits, so a
        /// word whose canonical form kept no digit shares it with every word that differs
        /// from it only in which nonzero digits stand where.
        #[test]
        fn canonical_forms_without_digits_are_shared_by_their_shape(
            w in "([a-fA-F0-9xXkmsgtrueoolnadé_.:=,;()<>*~/\\[\\]+@#-]|0x|<\\*>){1,24}",
            swaps in proptest::collection::vec(1u8..10, 24),
        ) {
            let masks = MaskConfig::default();
            let mut s = Scratch::default();
            let (mut a, mut b) = (String::new(), String::new());
            canonical_word(&w, &masks, &mut s, &mut a);
            let mut k = 0;
            let twin: String = w.chars().map(|c| if ('1'..='9').contains(&c) { k += 1; char::from(b'0' + swaps[k % swaps.len()]) } else { c }).collect();
            canonical_word(&twin, &masks, &mut s, &mut b);
            if !a.bytes().any(|c| c.is_ascii_digit()) {
                prop_assert_eq!(a, b, "{} and {}", w, twin);
            }
        }
    }

    /// The reference definitions the packed and one-pass checks replace.
    fn compound_reference(seg: &str) -> bool {
        let parts: Vec<&str> = seg.split(['-', '.', '_']).filter(|p| !p.is_empty()).collect();
        parts.len() >= 3 && parts.iter().any(|p| p.bytes().all(|c| c.is_ascii_digit())) && parts.iter().any(|p| p.bytes().any(|c| c.is_ascii_alphabetic()))
    }

    proptest! {
        #[test]
        fn packed_checks_equal_their_definitions(w in "[a-zA-Z0-9@`_. :/-]{0,12}", name in 0usize..25) {
            let names = ["true", "false", "null", "root", "admin", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            // Often the name itself, in some case.
            let w = if w.len() % 2 == 0 { w } else { names[name].chars().zip(w.chars().chain(std::iter::repeat('a'))).map(|(c, r)| if r.is_ascii_uppercase() { c.to_ascii_uppercase() } else { c }).collect() };
            let any = |set: &[&str]| set.iter().any(|n| w.eq_ignore_ascii_case(n));
            prop_assert_eq!(is_default_string(&w), any(&names[..5]));
            prop_assert_eq!(is_month(w.as_bytes()), any(&names[5..18]));
            prop_assert_eq!(is_month_or_day(w.as_bytes()), any(&names[5..]));
            prop_assert_eq!(is_compound_name(&w), compound_reference(&w));
            let mut segments = false;
            for_segments(&w, |seg, d| segments |= !d && compound_reference(seg));
            prop_assert_eq!(has_compound_segment(&w), segments);
        }
    }

    proptest! {
        /// The scan's byte classes pick out exactly the words with a digit the numeric
        /// shortcut takes (the others do not need masking).
        #[test]
        fn numeric_classes_are_numeric_words(a in "[0-9a-z.:,;()#=/<*_é-]{0,6}", b in "[0-9.:,;()#=/<*_é-]{0,6}") {
            let w = format!("{a}5{b}");
            let (mut out, mut known) = (String::new(), String::new());
            let numeric = is_numeric_cls(classes(w.as_bytes()));
            prop_assert_eq!(numeric, numeric_word(&w, &mut out));
            if numeric {
                numeric_known(w.as_bytes(), &mut known);
                prop_assert_eq!(out, known);
            }
        }
    }

    proptest! {
        /// A month or day name masked within its brackets and punctuation (what the
        /// tokenizer's date pass writes) is already in canonical form.
        #[test]
        fn a_wildcard_within_punctuation_is_canonical(a in "[()\\[\\]{},;:.]{0,4}", b in "[()\\[\\]{},;:.]{0,4}") {
            let w = format!("{a}<*>{b}");
            let (cs, ce) = core(w.as_bytes());
            prop_assert_eq!((cs, ce), (a.len(), a.len() + 3));
            let mut out = String::new();
            canonical_word(&w, &MaskConfig::default(), &mut Scratch::default(), &mut out);
            prop_assert_eq!(out, w);
        }
    }

    #[test]
    fn simple_words_table() {
        let cases = [("uid=0", "uid=<*>"), ("v1.2.3", "<*>"), ("size:12,", "size:<*>,"), ("user=root", "user=<*>"), ("5ms", "<*>"), ("a.1.2", "<*>"), ("x=1.5", "x=<*>")];
        for (w, want) in cases {
            let mut out = String::new();
            canonical_word(w, &MaskConfig::default(), &mut Scratch::default(), &mut out);
            let mut general = String::new();
            general_word(w, &MaskConfig::default(), &mut Scratch::default(), &mut general);
            assert_eq!((out.as_str(), general.as_str()), (want, want), "{w}");
        }
    }
}
