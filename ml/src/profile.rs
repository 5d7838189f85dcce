//! Dataset profiling: inferred column types and per-column statistics in one streaming pass, or two.
//!
//! Pass one infers types and gathers counts, moments, distinct counts, top values and quantiles;
//! pass two fills histograms whose bins are fixed from pass one (monitoring later reuses them).
//! Pass two is needed only for numeric columns that pass one could neither count exactly nor keep.
//! Memory is bounded: numbers are counted exactly while a column has at most
//! [`EXACT_DISTINCT_LIMIT`] distinct values; past that each column keeps its values (exact
//! quantiles and histograms) up to [`EXACT_QUANTILE_LIMIT`] values, and beyond that as long as the
//! file's shared [`ValueBudget`] lasts; then a t-digest. Exact distinct counts up to
//! [`EXACT_DISTINCT_LIMIT`], then HyperLogLog; top values tracked for up to [`TOP_TRACK_LIMIT`] keys.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::Moments;

pub const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
pub const EXACT_QUANTILE_LIMIT: usize = 100_000;
pub const EXACT_DISTINCT_LIMIT: usize = 10_000;
pub const TOP_TRACK_LIMIT: usize = 10_000;
pub const TOP_K: usize = 10;
pub const HISTOGRAM_BINS: usize = 20;
/// Numbers a profile keeps in memory beyond each column's [`EXACT_QUANTILE_LIMIT`], by default
/// (16 Mi values, 128 MiB).
pub const DEFAULT_VALUE_BUDGET: usize = 16 << 20;
/// Values kept in one block (512 KiB).
const KEPT_BLOCK: usize = 1 << 16;
/// Values a column asks the budget for at a time.
const BUDGET_CHUNK: usize = 1 << 16;

/// The numbers the profilers of one file may keep in memory between them (shared by threads).
#[derive(Clone, Debug)]
pub struct ValueBudget(Arc<AtomicUsize>);

impl ValueBudget {
    pub fn new(values: usize) -> Self {
        ValueBudget(Arc::new(AtomicUsize::new(values)))
    }

    /// Takes `n` values from the budget if that many are left.
    fn take(&self, n: usize) -> bool {
        self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(n)).is_ok()
    }

    fn give_back(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn left(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// `s` without white space at either end (quick when it has none there, as most cells).
#[inline(always)]
fn trimmed(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii() && z.is_ascii() && !a.is_ascii_whitespace() && !z.is_ascii_whitespace() => s,
        _ => s.trim(),
    }
}

/// Cells treated as missing (as pandas' default `na_values`, the common ones).
pub fn is_missing(s: &str) -> bool {
    is_missing_trimmed(trimmed(s))
}

#[inline(always)]
fn is_missing_trimmed(s: &str) -> bool {
    // Every token is at most four bytes long, and none starts with a digit (as numbers do).
    s.len() <= 4
        && !s.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && matches!(s, "" | "NA" | "N/A" | "n/a" | "NaN" | "nan" | "-NaN" | "-nan" | "null" | "NULL" | "None" | "<NA>" | "#N/A")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    Timestamp,
    String,
}

impl ColumnType {
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Float)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::String => "string",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `counts.len() + 1` increasing edges; bin i is `[edges[i], edges[i+1])`, the last closed.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Non-missing values.
    pub count: u64,
    pub missing: u64,
    pub distinct: u64,
    pub distinct_exact: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1).
    pub std: Option<f64>,
    /// `(p, value)` for p in [`QUANTILES`].
    pub quantiles: Vec<(f64, f64)>,
    pub quantiles_exact: bool,
    pub histogram: Option<Histogram>,
    /// Most frequent values with counts (booleans, strings, timestamps).
    pub top: Vec<(String, u64)>,
    /// Lexicographic min/max for timestamps and strings.
    pub min_text: Option<String>,
    pub max_text: Option<String>,
    /// This column's values counted on a reference version's bins (for drift against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceHistogram>,
}

/// Counts over another version's histogram edges, with the values falling outside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceHistogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    pub below: u64,
    pub above: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

/// Powers of ten that are exact in `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A number as the standard library parses it, with a quick exact path for plain decimals
/// (`-12.345`): when the digits make an integer below 2^53 and there are at most 22 after the
/// point, both are exact in `f64` and one division is correctly rounded, so the result is the
/// same (Clinger's fast path). Anything else goes to `str::parse`.
pub fn parse_f64(s: &str) -> Option<f64> {
    parse_number(s).map(|(x, _)| x)
}

/// A number as [`parse_f64`] gives it, and whether it is an integer (`str::parse::<i64>` accepts
/// it): one scan decides both for plain decimals.
#[inline(always)]
pub fn parse_number(s: &str) -> Option<(f64, bool)> {
    let b = s.as_bytes();
    let (negative, mut i) = match b.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    // The digits before the point, then after it, into one integer (checked below).
    let (m, before_point) = digits_into(0, &b[i..]);
    i += before_point;
    let point = b.get(i) == Some(&b'.');
    let (m, after_point) = if point { digits_into(m, &b[i + 1..]) } else { (m, 0) };
    i += point as usize + after_point;
    let digits = before_point + after_point;
    // At most 19 digits cannot overflow; the integer and the power of ten must be exact.
    if i != b.len() || digits == 0 || digits > 19 || m >= 1 << 53 || after_point >= EXACT_POWERS_OF_TEN.len() {
        return parse_number_slowly(s);
    }
    // No division for integers (dividing by one would not change them).
    let x = if after_point == 0 { m as f64 } else { m as f64 / EXACT_POWERS_OF_TEN[after_point] };
    Some((if negative { -x } else { x }, !point))
}

/// `m` followed by the decimal digits at the start of `b` (wrapping: the caller checks the
/// count), and how many digits there were.
#[inline(always)]
fn digits_into(mut m: u64, b: &[u8]) -> (u64, usize) {
    let mut n = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(d as u64);
        n += 1;
    }
    (m, n)
}

/// The number a trimmed text cell holds, when it holds a finite one (an integer's zero without
/// a sign), and whether it is an integer.
#[inline(always)]
fn cell_number(s: &str) -> Option<(f64, bool)> {
    parse_number(s).filter(|(x, _)| x.is_finite()).map(|(x, int)| (if int { x + 0.0 } else { x }, int))
}

#[cold]
#[inline(never)]
fn parse_number_slowly(s: &str) -> Option<(f64, bool)> {
    match s.parse::<i64>() {
        Ok(_) => s.parse::<f64>().ok().map(|x| (x, true)),
        Err(_) => s.parse::<f64>().ok().map(|x| (x, false)),
    }
}

#[inline]
fn is_bool(s: &str) -> bool {
    match s.len() {
        4 => s.eq_ignore_ascii_case("true"),
        5 => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// `YYYY-MM-DD`, optionally followed by `[T ]HH:MM[:SS[.fff]]` and `Z` or `±HH[:]MM`.
#[inline]
pub fn is_timestamp(s: &str) -> bool {
    match s.as_bytes().as_array::<19>() {
        Some(b) if is_plain_date_time(b) => {
            let month = (b[5] - b'0') * 10 + (b[6] - b'0');
            let day = (b[8] - b'0') * 10 + (b[9] - b'0');
            (1..=12).contains(&month) && (1..=31).contains(&day)
        }
        _ => is_timestamp_in_any_form(s),
    }
}

/// Whether `b` has the form `DDDD-DD-DD[T ]DD:DD:DD` (D a digit), the usual form of timestamps
/// in CSV files: checked in three words (eight bytes at a time) instead of a byte at a time.
#[inline(always)]
fn is_plain_date_time(b: &[u8; 19]) -> bool {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    // The bytes under `mask` are ASCII digits: their high nibble is 3, and adding 6 leaves it 3
    // (a low nibble above 9 carries into it). No carry crosses a byte: UTF-8 has no byte above
    // 0xf4.
    let digits = |w: u64, mask: u64| (w & mask & HIGH) == (THREES & mask) && (w.wrapping_add(SIXES) & mask & HIGH) == (THREES & mask);
    let word = |i: usize| u64::from_le_bytes(*b[i..].first_chunk::<8>().expect("eight bytes"));
    let (date, time, seconds) = (word(0), word(8), word(11));
    // Byte masks, lowest byte first: `YYYY-MM-`, `DD?HH:MM`, and the `:SS` at the end.
    digits(date, 0x00ff_ff00_ffff_ffff)
        && date & 0xff00_00ff_0000_0000 == 0x2d00_002d_0000_0000
        && digits(time, 0xffff_00ff_ff00_ffff)
        && time & 0x0000_ff00_0000_0000 == 0x0000_3a00_0000_0000
        && (b[10] == b'T' || b[10] == b' ')
        && digits(seconds, 0xffff_0000_0000_0000)
        && seconds & 0x0000_ff00_0000_0000 == 0x0000_3a00_0000_0000
}

/// [`is_timestamp`], a byte at a time.
fn is_timestamp_in_any_form(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(date) = b.first_chunk::<10>() else { return false };
    let digit = |i: usize| date[i].is_ascii_digit();
    if !(digit(0) && digit(1) && digit(2) && digit(3) && date[4] == b'-' && digit(5) && digit(6) && date[7] == b'-' && digit(8) && digit(9)) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let rest = &s[10..];
    if rest.is_empty() {
        return true;
    }
    let r = rest.as_bytes();
    if !(r[0] == b'T' || r[0] == b' ') || r.len() < 6 {
        return false;
    }
    let t = &rest[1..];
    let tb = t.as_bytes();
    if !(tb[0].is_ascii_digit() && tb[1].is_ascii_digit() && tb[2] == b':' && tb[3].is_ascii_digit() && tb[4].is_ascii_digit()) {
        return false;
    }
    let mut i = 5;
    if tb.get(i) == Some(&b':') {
        if !(tb.get(i + 1).is_some_and(u8::is_ascii_digit) && tb.get(i + 2).is_some_and(u8::is_ascii_digit)) {
            return false;
        }
        i += 3;
        if tb.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while tb.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    let zone = &t[i..];
    zone.is_empty()
        || zone == "Z"
        || ((zone.starts_with('+') || zone.starts_with('-'))
            && matches!(zone.len(), 3 | 5 | 6)
            && zone[1..].chars().all(|c| c.is_ascii_digit() || c == ':'))
}

/// HyperLogLog with 2^12 registers (about 1.6 % standard error).
#[derive(Clone)]
struct HyperLogLog {
    registers: Box<[u8; 1 << HyperLogLog::P]>,
}

impl HyperLogLog {
    const P: u32 = 12;
    fn new() -> Self {
        HyperLogLog { registers: Box::new([0; 1 << Self::P]) }
    }
    /// Counts a hash: its top bits choose a register (always in range: no bounds check), which
    /// keeps the largest rank seen (without a branch, which the processor could not predict).
    #[inline(always)]
    fn add_hash(&mut self, h: u64) {
        let idx = (h >> (64 - Self::P)) as usize;
        let rest = (h << Self::P) | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let register = &mut self.registers[idx];
        *register = (*register).max(rank);
    }
    fn merge(&mut self, other: &HyperLogLog) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }

    fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|&r| 2f64.powi(-(r as i32))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let e = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
        e.round() as u64
    }
}

/// `a == b`, inline for the short texts of categorical columns (one word compare below 8 bytes,
/// two for 8 to 16) rather than through a call to `memcmp`.
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..8 => short_word(a) == short_word(b),
        8..=16 => word_at(a, 0) == word_at(b, 0) && word_at(a, n - 8) == word_at(b, n - 8),
        _ => a == b,
    }
}

/// `a < b` in text order (bytewise), decided by the first or second eight bytes when they differ
/// (as timestamps of different days do) without a call to `memcmp`.
#[inline]
fn text_before(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let word = |s: &[u8], i: usize| u64::from_be_bytes(s[i..i + 8].try_into().expect("eight bytes"));
    // Word by word while both have one (the second tells apart timestamps of one month).
    for i in [0, 8] {
        if a.len() < i + 8 || b.len() < i + 8 {
            break;
        }
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            return x < y;
        }
    }
    a < b
}

/// A fast, well-mixed 64-bit hash: words folded in by multiplies, then the SplitMix64 finaliser
/// (so the high bits HyperLogLog uses are uniform). Deterministic across runs and machines.
fn hash_str(s: &str) -> u64 {
    // Eight bytes at a time, each word folded in by a multiply, then the SplitMix64 finaliser.
    let b = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ b.len() as u64;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("eight bytes"))).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    let rest = words.remainder();
    // The last word overlaps the ones before (the length is in `h`), or is a short text's bytes.
    let tail = if rest.is_empty() { 0 } else if b.len() >= 8 { word_at(b, b.len() - 8) } else { short_word(rest) };
    h = (h ^ tail).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mix64(h)
}

/// The eight bytes of `b` from `i`, as a little-endian word.
#[inline(always)]
fn word_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"))
}

/// The bytes of `b` (fewer than eight) in one word, in at most two loads: different texts of
/// one length give different words (four to seven bytes: the first four and the last four,
/// overlapping; one to three: the first, middle and last).
#[inline(always)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    let half = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("four bytes")) as u64;
    match n {
        4.. => half(0) | half(n - 4) << 32,
        1.. => b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16,
        0 => 0,
    }
}

/// The SplitMix64 finaliser.
#[inline(always)]
fn mix64(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Hasher for keys that are already hashes (the distinct set): passes the value through.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Hasher for integer keys: the SplitMix64 finaliser of the key.
#[derive(Default, Clone, Copy)]
struct MixedU64(u64);

impl Hasher for MixedU64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix64(self.0 ^ *b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix64(n);
    }
}

type HashBy<H> = std::hash::BuildHasherDefault<H>;

/// Integers of a column counted in an array indexed by value while they span at most this many.
const DENSE_SPAN: usize = 1 << 14;

/// Exact counts per numeric value, while a column has few distinct values: integers in a narrow
/// range in an array indexed by value (no hashing, small enough to stay in the cache), other
/// numbers by their `f64` bits in a hash map.
#[derive(Clone)]
enum ExactCounts {
    Dense { lo: i64, counts: Vec<u64>, distinct: usize },
    Sparse(HashMap<u64, u64, HashBy<MixedU64>>),
}

impl ExactCounts {
    fn new() -> Self {
        ExactCounts::Dense { lo: 0, counts: Vec::new(), distinct: 0 }
    }

    /// Distinct values counted.
    fn len(&self) -> usize {
        match self {
            ExactCounts::Dense { distinct, .. } => *distinct,
            ExactCounts::Sparse(m) => m.len(),
        }
    }

    /// Counts `n` occurrences of `x` (finite; -0.0 and 0.0 are one value): inline when it is an
    /// integer within the array.
    #[inline(always)]
    fn add(&mut self, x: f64, n: u64) {
        if let ExactCounts::Dense { lo, counts, distinct } = self {
            let i = x as i64;
            if i as f64 == x {
                if let Some(c) = counts.get_mut(i.wrapping_sub(*lo) as u64 as usize) {
                    *distinct += (*c == 0) as usize;
                    *c += n;
                    return;
                }
            }
        }
        self.add_elsewhere(x, n);
    }

    /// Counts `n` occurrences of `x` outside the array: widening it, or in the hash map.
    #[inline(never)]
    fn add_elsewhere(&mut self, x: f64, n: u64) {
        if let ExactCounts::Dense { .. } = self {
            let i = x as i64;
            if i as f64 == x {
                if self.widen(i) {
                    return self.add(x, n);
                }
            } else {
                self.make_sparse();
            }
        }
        let ExactCounts::Sparse(m) = self else { unreachable!("made sparse above") };
        *m.entry((x + 0.0).to_bits()).or_insert(0) += n;
    }

    /// Makes the array cover integer `i`, with room to grow on that side; false (and sparse
    /// counts) when the span would be too wide.
    #[cold]
    fn widen(&mut self, i: i64) -> bool {
        let ExactCounts::Dense { lo, counts, .. } = self else { return false };
        if counts.is_empty() {
            *lo = i;
            counts.resize(64, 0);
            return true;
        }
        let hi = *lo + counts.len() as i64 - 1;
        let (new_lo, new_hi) = (i.min(*lo), i.max(hi));
        let span = (new_hi as i128 - new_lo as i128 + 1) as usize;
        if span > DENSE_SPAN || (i as f64).abs() >= (1u64 << 53) as f64 {
            self.make_sparse();
            return false;
        }
        // Doubling on the side that grows, within the limit.
        let room = span.max(counts.len() * 2).min(DENSE_SPAN) - span;
        let (new_lo, new_hi) = if i < *lo { (new_lo - room as i64, new_hi) } else { (new_lo, new_hi + room as i64) };
        let mut wider = vec![0; (new_hi - new_lo + 1) as usize];
        let at = (*lo - new_lo) as usize;
        wider[at..at + counts.len()].copy_from_slice(counts);
        *counts = wider;
        *lo = new_lo;
        true
    }

    #[cold]
    fn make_sparse(&mut self) {
        if let ExactCounts::Dense { .. } = self {
            let pairs = std::mem::replace(self, ExactCounts::Sparse(HashMap::default())).pairs();
            let ExactCounts::Sparse(m) = self else { unreachable!() };
            m.extend(pairs.into_iter().map(|(x, n)| ((x + 0.0).to_bits(), n)));
        }
    }

    /// The counted values and their counts (an array's in value order).
    fn pairs(self) -> Vec<(f64, u64)> {
        match self {
            ExactCounts::Dense { lo, counts, .. } => {
                counts.into_iter().enumerate().filter(|&(_, n)| n > 0).map(|(i, n)| ((lo + i as i64) as f64, n)).collect()
            }
            ExactCounts::Sparse(m) => m.into_iter().map(|(bits, n)| (f64::from_bits(bits), n)).collect(),
        }
    }

    fn merge(&mut self, other: ExactCounts) {
        for (x, n) in other.pairs() {
            self.add(x, n);
        }
    }
}

/// Numbers of a column parsed before they are counted together ([`ColumnAcc::count_numbers`]).
const NUMBERS_AT_ONCE: usize = 256;

/// Distinct texts a column counts by comparison, before it hashes them.
const FEW_TEXTS: usize = 16;

/// The first few distinct texts of a column, each of at most 16 bytes, found by comparing their
/// length and two words: a categorical column with a handful of values counts each cell with a
/// few compares instead of a hash and a table lookup. Each text is also counted the usual way
/// at its first sight (distinct values, range, a top value); the counts of later sightings wait
/// here until [`FewTexts::close`]. The first text that does not fit closes it.
#[derive(Clone)]
struct FewTexts {
    open: bool,
    /// Per text: its length, and its bytes in two words ([`FewTexts::key`]).
    keys: Vec<[u64; 3]>,
    texts: Vec<String>,
    /// Sightings after the first.
    counts: Vec<u64>,
}

impl FewTexts {
    fn new() -> Self {
        FewTexts { open: true, keys: Vec::new(), texts: Vec::new(), counts: Vec::new() }
    }

    /// The length of `s` (at most 16 bytes) and its bytes in two words, equal only for equal
    /// texts (as [`same_text`] compares them).
    #[inline(always)]
    fn key(s: &str) -> Option<[u64; 3]> {
        let b = s.as_bytes();
        let n = b.len();
        match n {
            0..8 => Some([n as u64, short_word(b), 0]),
            8..=16 => Some([n as u64, word_at(b, 0), word_at(b, n - 8)]),
            _ => None,
        }
    }

    /// Where `s` is held, if it is.
    #[inline(always)]
    fn find(&self, s: &str) -> Option<usize> {
        // The key's parts stay in registers (compared as one array, they went through memory).
        let [n, first, second] = Self::key(s)?;
        self.keys.iter().position(|&[kn, kf, ks]| (kf == first) & (ks == second) & (kn == n))
    }

    /// Holds `s` (just counted the usual way); false when it does not fit.
    fn remember(&mut self, s: &str) -> bool {
        match Self::key(s) {
            Some(key) if self.keys.len() < FEW_TEXTS => {
                self.keys.push(key);
                self.texts.push(s.to_string());
                self.counts.push(0);
                true
            }
            _ => false,
        }
    }

    /// Stops counting here; returns the texts with the sightings counted since their first.
    fn close(&mut self) -> impl Iterator<Item = (String, u64)> {
        self.open = false;
        self.keys.clear();
        std::mem::take(&mut self.texts).into_iter().zip(std::mem::take(&mut self.counts)).filter(|&(_, n)| n > 0)
    }
}

/// One column's pass-one state. Text cells go through [`ColumnAcc::push`], which infers the type;
/// typed sources (Parquet) declare the type and use the typed pushes.
#[derive(Clone)]
pub struct ColumnAcc {
    declared: Option<ColumnType>,
    missing: u64,
    count: u64,
    all_bool: bool,
    all_int: bool,
    all_float: bool,
    all_ts: bool,
    moments: Moments,
    /// Exact counts per numeric value (`f64` bits; timestamps: microseconds) while there are at
    /// most [`EXACT_DISTINCT_LIMIT`] of them: exact distinct counts and quantiles from one hash
    /// lookup per value. Past the limit, HyperLogLog and `exact_values`/t-digest take over.
    values: Option<ExactCounts>,
    /// Every value, while this column may keep them (`kept_limit`): exact quantiles and
    /// histograms without a second pass. Filled a block of [`KEPT_BLOCK`] values at a time.
    exact_values: Vec<f64>,
    /// This column's full blocks of kept values, and the kept values of the other parts merged
    /// into this one, each part's as it was (not copied into one: quantiles and histograms read
    /// them where they are).
    kept_parts: Vec<Vec<f64>>,
    /// Values kept in all (`exact_values` and `kept_parts`).
    kept: usize,
    kept_limit: usize,
    budget: Option<ValueBudget>,
    digest: Option<tdigest::TDigest>,
    digest_buffer: Vec<f64>,
    distinct: HashSet<u64, HashBy<PassThrough>>,
    hll: Option<HyperLogLog>,
    /// Top values with their counts, by [`hash_str`] (the hash distinct counting uses too).
    top: hashbrown::HashTable<(String, u64)>,
    /// The first few distinct texts, counted by comparison (their counts not yet in `top`).
    few: FewTexts,
    /// Typed timestamps: top values and range as microseconds, formatted at the end.
    top_micros: HashMap<i64, u64, HashBy<MixedU64>>,
    micros_range: Option<(i64, i64)>,
    /// The timestamps are dates (formatted without a time of day).
    dates_only: bool,
    min_text: Option<String>,
    max_text: Option<String>,
}

impl ColumnAcc {
    fn new() -> Self {
        ColumnAcc {
            declared: None,
            missing: 0,
            count: 0,
            all_bool: true,
            all_int: true,
            all_float: true,
            all_ts: true,
            moments: Moments::new(),
            values: Some(ExactCounts::new()),
            exact_values: Vec::new(),
            kept_parts: Vec::new(),
            kept: 0,
            kept_limit: EXACT_QUANTILE_LIMIT,
            budget: None,
            digest: None,
            digest_buffer: Vec::new(),
            distinct: HashSet::default(),
            hll: None,
            top: hashbrown::HashTable::new(),
            few: FewTexts::new(),
            top_micros: HashMap::default(),
            micros_range: None,
            dates_only: false,
            min_text: None,
            max_text: None,
        }
    }

    /// A missing value (a null).
    pub fn push_missing(&mut self) {
        self.missing += 1;
    }

    /// A number of a column declared numeric.
    pub fn push_f64(&mut self, x: f64) {
        if !x.is_finite() {
            self.missing += 1;
            return;
        }
        self.count += 1;
        self.push_number(x);
    }

    /// A timestamp (microseconds since the epoch) of a column declared as timestamps: counted as
    /// is, formatted (ISO 8601) only for the top values and the range at the end.
    pub fn push_timestamp_micros(&mut self, t: i64) {
        self.count += 1;
        self.add_distinct(mix64(t as u64));
        if let Some(n) = self.top_micros.get_mut(&t) {
            *n += 1;
        } else if self.top_micros.len() < TOP_TRACK_LIMIT {
            self.top_micros.insert(t, 1);
        }
        self.micros_range = Some(match self.micros_range {
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
            None => (t, t),
        });
    }

    /// Adds another part's accumulator of the same column, as if its values had been pushed here
    /// (so a file can be profiled in parts, in parallel).
    pub fn merge(&mut self, mut o: ColumnAcc) {
        self.close_few();
        o.close_few();
        self.missing += o.missing;
        self.count += o.count;
        self.all_bool &= o.all_bool;
        self.all_int &= o.all_int;
        self.all_ts &= o.all_ts;
        if self.all_float && !o.all_float {
            self.forget_numbers();
        } else if !self.all_float && o.all_float {
            o.forget_numbers();
        }
        self.all_float &= o.all_float;
        self.moments.merge(&o.moments);
        // Exact value counts, or their sketches.
        match (self.values.take(), o.values.take()) {
            (Some(mut a), Some(b)) => {
                a.merge(b);
                let spill = a.len() > EXACT_DISTINCT_LIMIT;
                self.values = Some(a);
                if spill {
                    self.spill_values();
                }
            }
            (Some(a), None) => {
                self.values = Some(a);
                self.spill_values();
            }
            (None, Some(b)) => {
                o.values = Some(b);
                o.spill_values();
            }
            (None, None) => {}
        }
        // Distinct counts.
        match (self.hll.as_mut(), o.hll.take()) {
            (Some(h), Some(oh)) => h.merge(&oh),
            (Some(h), None) => o.distinct.drain().for_each(|x| h.add_hash(x)),
            (None, Some(mut oh)) => {
                self.distinct.drain().for_each(|x| oh.add_hash(x));
                self.hll = Some(oh);
            }
            (None, None) => o.distinct.drain().for_each(|x| self.add_distinct(x)),
        }
        // Quantile sketches.
        self.digest_buffer.append(&mut o.digest_buffer);
        match (self.digest.take(), o.digest.take()) {
            (Some(a), Some(b)) => self.digest = Some(tdigest::TDigest::merge_digests(vec![a, b])),
            (Some(a), None) => {
                self.digest = Some(a);
                o.kept_into(&mut self.digest_buffer);
                o.release_kept();
            }
            (None, Some(b)) => {
                self.digest = Some(b);
                let mut buffer = std::mem::take(&mut self.digest_buffer);
                self.kept_into(&mut buffer);
                o.kept_into(&mut buffer);
                self.digest_buffer = buffer;
                self.release_kept();
            }
            (None, None) => {
                // Both parts were allowed to keep their values, so the whole may too.
                self.kept_limit += o.kept_limit;
                self.kept += o.kept;
                if !o.exact_values.is_empty() {
                    self.kept_parts.push(std::mem::take(&mut o.exact_values));
                }
                self.kept_parts.append(&mut o.kept_parts);
            }
        }
        // Top values and ranges.
        for (k, n) in o.top {
            let h = hash_str(&k);
            if let Some(c) = self.top.find_mut(h, |e| e.0 == k) {
                c.1 += n;
            } else if self.top.len() < TOP_TRACK_LIMIT {
                self.top.insert_unique(h, (k, n), |e| hash_str(&e.0));
            }
        }
        for (k, n) in o.top_micros {
            if let Some(c) = self.top_micros.get_mut(&k) {
                *c += n;
            } else if self.top_micros.len() < TOP_TRACK_LIMIT {
                self.top_micros.insert(k, n);
            }
        }
        if let Some(m) = o.min_text {
            if self.min_text.as_deref().is_none_or(|s| m.as_str() < s) {
                self.min_text = Some(m);
            }
        }
        if let Some(m) = o.max_text {
            if self.max_text.as_deref().is_none_or(|s| m.as_str() > s) {
                self.max_text = Some(m);
            }
        }
        self.micros_range = match (self.micros_range, o.micros_range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) => x,
            (None, y) => y,
        };
        self.dates_only |= o.dates_only;
    }

    /// A date (days since the epoch) of a column declared as dates.
    pub fn push_date_days(&mut self, days: i64) {
        self.dates_only = true;
        self.push_timestamp_micros(days * 86_400_000_000);
    }

    /// Moves exact value counts to the sketches (too many distinct values to count exactly).
    #[cold]
    fn spill_values(&mut self) {
        let Some(values) = self.values.take() else { return };
        let mut hll = self.hll.take().unwrap_or_else(HyperLogLog::new);
        self.distinct.drain().for_each(|h| hll.add_hash(h));
        let mut pairs = values.pairs();
        for (x, _) in &pairs {
            hll.add_hash(mix64((x + 0.0).to_bits()));
        }
        self.hll = Some(hll);
        let total: u64 = pairs.iter().map(|(_, n)| n).sum();
        if self.may_keep(total as usize) {
            self.exact_values = pairs.iter().flat_map(|&(x, n)| std::iter::repeat_n(x, n as usize)).collect();
            self.kept = self.exact_values.len();
        } else {
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let sum: f64 = pairs.iter().map(|&(x, n)| x * n as f64).sum();
            let (min, max) = (pairs[0].0, pairs[pairs.len() - 1].0);
            let centroids = pairs.iter().map(|&(x, n)| tdigest::Centroid::new(x, n as f64)).collect();
            let d = tdigest::TDigest::new(centroids, sum, total as f64, max, min, 200);
            self.digest = Some(tdigest::TDigest::merge_digests(vec![d]));
        }
    }

    /// Whether this column may keep `n` values in all, asking the budget for more room if needed.
    #[cold]
    fn may_keep(&mut self, n: usize) -> bool {
        if n <= self.kept_limit {
            return true;
        }
        let Some(budget) = &self.budget else { return false };
        let needed = (n - self.kept_limit).next_multiple_of(BUDGET_CHUNK);
        // Half as much again as kept so far, while the budget allows: fewer trips to the budget.
        let generous = needed.max((self.kept_limit / 2).next_multiple_of(BUDGET_CHUNK));
        let more = if budget.take(generous) {
            generous
        } else if budget.take(needed) {
            needed
        } else {
            return false;
        };
        self.kept_limit += more;
        true
    }

    /// Moves every kept value (this part's and merged parts') to the end of `out`.
    fn kept_into(&mut self, out: &mut Vec<f64>) {
        out.append(&mut self.exact_values);
        self.kept_parts.drain(..).for_each(|mut part| out.append(&mut part));
        self.kept = 0;
    }

    /// Puts the full block of kept values with the others and starts a new one: kept values are
    /// never copied to grow, and each block's memory is touched once.
    #[cold]
    fn start_block(&mut self) {
        let full = std::mem::replace(&mut self.exact_values, Vec::with_capacity(KEPT_BLOCK));
        self.kept_parts.push(full);
    }

    /// The column turned out not to be numeric: its numbers so far count as distinct values.
    #[cold]
    fn forget_numbers(&mut self) {
        if let Some(values) = self.values.take() {
            for (x, _) in values.pairs() {
                self.add_distinct(mix64((x + 0.0).to_bits()));
            }
        }
        self.exact_values = Vec::new();
        self.kept_parts = Vec::new();
        self.kept = 0;
        self.release_kept();
        self.digest = None;
        self.digest_buffer = Vec::new();
    }

    /// Returns the room granted for kept values to the budget (they went to a sketch or away).
    fn release_kept(&mut self) {
        if let Some(b) = &self.budget {
            b.give_back(self.kept_limit.saturating_sub(EXACT_QUANTILE_LIMIT));
        }
        self.kept_limit = EXACT_QUANTILE_LIMIT;
    }

    /// `n` occurrences of one text value of a column declared as text (a dictionary's entry).
    pub fn push_text_n(&mut self, raw: &str, n: u64) {
        let s = trimmed(raw);
        if is_missing_trimmed(s) {
            self.missing += n;
            return;
        }
        self.count += n;
        self.add_text_n(s, n);
    }

    /// A value of a column declared boolean, string or timestamp, as text (timestamps in ISO 8601,
    /// so that text order is time order). Missing-value tokens count as missing, as in CSV.
    pub fn push_text(&mut self, raw: &str) {
        let s = trimmed(raw);
        if is_missing_trimmed(s) {
            self.missing += 1;
            return;
        }
        self.count += 1;
        self.add_text(s);
    }

    fn add_distinct(&mut self, h: u64) {
        match &mut self.hll {
            Some(hll) => hll.add_hash(h),
            None => {
                self.distinct.insert(h);
                if self.distinct.len() > EXACT_DISTINCT_LIMIT {
                    let mut hll = HyperLogLog::new();
                    self.distinct.drain().for_each(|h| hll.add_hash(h));
                    self.hll = Some(hll);
                }
            }
        }
    }

    /// Counts a text value: distinct values, top values, the text range.
    #[inline(always)]
    fn add_text(&mut self, s: &str) {
        self.add_text_n(s, 1);
    }

    /// Counts `n` occurrences of a text value: by a few compares while the column has had few
    /// distinct short texts ([`FewTexts`]), else by its hash.
    #[inline(always)]
    fn add_text_n(&mut self, s: &str, n: u64) {
        if self.few.open {
            if let Some(i) = self.few.find(s) {
                self.few.counts[i] += n;
                return;
            }
            self.add_first_text(s, n);
            return;
        }
        self.add_hashed_text(s, n);
    }

    /// Counts a text value [`FewTexts`] does not hold: remembered there when it may, else
    /// closing it.
    #[inline(never)]
    fn add_first_text(&mut self, s: &str, n: u64) {
        self.add_hashed_text(s, n);
        if !self.few.remember(s) {
            self.close_few();
        }
    }

    /// Moves the counts [`FewTexts`] gathered to the top values, and stops using it.
    fn close_few(&mut self) {
        for (text, n) in self.few.close() {
            // Each is a top value since its first sight (the first few texts always are).
            let h = hash_str(&text);
            if let Some(e) = self.top.find_mut(h, |e| e.0 == text) {
                e.1 += n;
            } else if self.top.len() < TOP_TRACK_LIMIT {
                self.top.insert_unique(h, (text, n), |e| hash_str(&e.0));
            }
        }
    }

    /// Counts `n` occurrences of a text value by its hash.
    #[inline(always)]
    fn add_hashed_text(&mut self, s: &str, n: u64) {
        let h = hash_str(s);
        if let Some(e) = self.top.find_mut(h, |e| same_text(&e.0, s)) {
            // Seen before: counted as distinct, and already compared with the range.
            e.1 += n;
            return;
        }
        self.add_other_text(s, h, n);
    }

    /// Counts `n` occurrences of a text value that is not (yet) a top value, whose hash is `h`.
    #[inline(never)]
    fn add_other_text(&mut self, s: &str, h: u64, n: u64) {
        self.add_distinct(h);
        if self.top.len() < TOP_TRACK_LIMIT {
            self.top.insert_unique(h, (s.to_string(), n), |e| hash_str(&e.0));
        }
        if self.min_text.as_deref().is_none_or(|m| text_before(s, m)) {
            self.min_text = Some(s.to_string());
        }
        if self.max_text.as_deref().is_none_or(|m| text_before(m, s)) {
            self.max_text = Some(s.to_string());
        }
    }

    /// A text cell whose type is still being inferred.
    #[inline(always)]
    pub fn push(&mut self, raw: &str) {
        let s = trimmed(raw);
        if is_missing_trimmed(s) {
            self.missing += 1;
            return;
        }
        self.count += 1;
        if self.all_float {
            if let Some((x, int)) = cell_number(s) {
                self.all_int &= int;
                // A number is neither a boolean nor a timestamp.
                self.all_bool = false;
                self.all_ts = false;
                self.push_number(x);
                return;
            }
            self.all_float = false;
            self.all_int = false;
            self.forget_numbers();
        }
        if self.all_bool && !is_bool(s) {
            self.all_bool = false;
        }
        if self.all_ts && !is_timestamp(s) {
            self.all_ts = false;
        }
        self.add_text(s);
    }

    #[inline(always)]
    fn push_number(&mut self, x: f64) {
        self.moments.push(x);
        self.count_number(x);
    }

    /// Cells `first`, `first + step`, … of `cells`, text cells whose type is still being
    /// inferred, as [`ColumnAcc::push`] takes them one by one. While they are numbers (as in
    /// most numeric columns) the counts and moments stay in registers, not in this state, until
    /// the end of the batch or the first cell that is not a number; the rest go one by one.
    #[inline(never)]
    pub fn push_cells(&mut self, cells: &[&str], first: usize, step: usize) {
        let mut at = first;
        if self.all_float && self.declared.is_none() {
            let mut moments = self.moments;
            let (mut count, mut missing, mut all_int, mut numbers) = (self.count, self.missing, self.all_int, false);
            // The numbers parsed, counted a few hundred at a time.
            let mut parsed = [0.0; NUMBERS_AT_ONCE];
            let mut n = 0;
            while let Some(raw) = cells.get(at) {
                let s = trimmed(raw);
                if is_missing_trimmed(s) {
                    missing += 1;
                } else if let Some((x, int)) = cell_number(s) {
                    count += 1;
                    all_int &= int;
                    numbers = true;
                    moments.push(x);
                    parsed[n] = x;
                    n += 1;
                    if n == NUMBERS_AT_ONCE {
                        self.count_numbers(&parsed);
                        n = 0;
                    }
                } else {
                    break; // not a number: the cells from here go one by one
                }
                at += step;
            }
            self.count_numbers(&parsed[..n]);
            (self.moments, self.count, self.missing, self.all_int) = (moments, count, missing, all_int);
            if numbers {
                // A number is neither a boolean nor a timestamp.
                self.all_bool = false;
                self.all_ts = false;
            }
        }
        while let Some(raw) = cells.get(at) {
            self.push(raw);
            at += step;
        }
    }

    /// Counts numbers (already in the moments) as [`ColumnAcc::count_number`] does one by one:
    /// past the exact counts, each step over all of them (the distinct sketch, then the kept
    /// values a block at a time).
    fn count_numbers(&mut self, mut xs: &[f64]) {
        // Counted exactly while there are few distinct (the counts may spill part-way).
        while self.values.is_some() {
            let Some((&x, rest)) = xs.split_first() else { return };
            self.count_number(x);
            xs = rest;
        }
        if let Some(hll) = &mut self.hll {
            // -0.0 and 0.0 are one value.
            xs.iter().for_each(|&x| hll.add_hash(mix64((x + 0.0).to_bits())));
        }
        while !xs.is_empty() {
            if self.digest.is_some() || !(self.kept + xs.len() <= self.kept_limit || self.may_keep(self.kept + xs.len())) {
                // Not room for all: one by one, as far as there is.
                xs.iter().for_each(|&x| self.keep_or_digest(x));
                return;
            }
            if self.exact_values.len() >= KEPT_BLOCK {
                self.start_block();
            }
            let (now, later) = xs.split_at(xs.len().min(KEPT_BLOCK - self.exact_values.len()));
            self.exact_values.extend_from_slice(now);
            self.kept += now.len();
            xs = later;
        }
    }

    /// Counts a number (already in the moments): exactly, or kept, or into the sketches.
    #[inline(always)]
    fn count_number(&mut self, x: f64) {
        // -0.0 and 0.0 are one value.
        let bits = (x + 0.0).to_bits();
        if let Some(values) = &mut self.values {
            values.add(x, 1);
            if values.len() > EXACT_DISTINCT_LIMIT {
                self.spill_values();
            }
            return;
        }
        if let Some(hll) = &mut self.hll {
            hll.add_hash(mix64(bits));
        }
        self.keep_or_digest(x);
    }

    /// Keeps a number while this column may, else adds it to the t-digest.
    #[inline(always)]
    fn keep_or_digest(&mut self, x: f64) {
        if self.digest.is_none() && (self.kept < self.kept_limit || self.may_keep(self.kept + 1)) {
            if self.exact_values.len() >= KEPT_BLOCK {
                self.start_block();
            }
            self.exact_values.push(x);
            self.kept += 1;
            return;
        }
        self.push_to_digest(x);
    }

    /// A number past what this column may keep: into the t-digest (made from the kept values
    /// when this is the first).
    #[inline(never)]
    fn push_to_digest(&mut self, x: f64) {
        if self.digest.is_none() {
            let mut values = Vec::with_capacity(self.kept + 1);
            self.kept_into(&mut values);
            values.push(x);
            self.digest = Some(digest_of(tdigest::TDigest::new_with_size(200), values));
            self.release_kept();
        } else {
            self.digest_buffer.push(x);
            if self.digest_buffer.len() >= 10_000 {
                let d = digest_of(self.digest.take().unwrap(), std::mem::take(&mut self.digest_buffer));
                self.digest = Some(d);
            }
        }
    }

    fn column_type(&self) -> ColumnType {
        if let Some(t) = self.declared {
            t
        } else if self.count == 0 {
            ColumnType::String
        } else if self.all_bool {
            ColumnType::Boolean
        } else if self.all_int {
            ColumnType::Integer
        } else if self.all_float {
            ColumnType::Float
        } else if self.all_ts {
            ColumnType::Timestamp
        } else {
            ColumnType::String
        }
    }
}

/// Quantile with linear interpolation between order statistics (numpy's default method).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = p * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Adds values to a t-digest (sorted here with an unstable sort, quicker than the crate's own).
fn digest_of(d: tdigest::TDigest, mut values: Vec<f64>) -> tdigest::TDigest {
    if values.is_empty() {
        return d;
    }
    values.sort_unstable_by(f64::total_cmp);
    d.merge_sorted(values)
}

/// Quantile with numpy's linear interpolation over values with counts, sorted by value.
pub fn quantile_counted(sorted: &[(f64, u64)], p: f64) -> f64 {
    let n: u64 = sorted.iter().map(|(_, c)| c).sum();
    let at = |k: u64| -> f64 {
        let mut seen = 0;
        for &(x, c) in sorted {
            seen += c;
            if seen > k {
                return x;
            }
        }
        sorted[sorted.len() - 1].0
    };
    if n <= 1 {
        return sorted[0].0;
    }
    let pos = p * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as u64, pos.ceil() as u64);
    let (a, b) = (at(lo), at(hi));
    a + (b - a) * (pos - lo as f64)
}

/// ISO 8601 without a zone (as Arrow prints zone-less timestamps): `2024-01-02T03:04:05[.fff]`,
/// or `2024-01-02` for dates.
fn format_micros(t: i64, date_only: bool) -> String {
    match chrono::DateTime::from_timestamp_micros(t) {
        Some(d) if date_only => d.format("%Y-%m-%d").to_string(),
        Some(d) => d.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        None => t.to_string(),
    }
}

/// Pass one over the rows.
pub struct Profiler {
    names: Vec<String>,
    cols: Vec<ColumnAcc>,
    rows: u64,
}

impl Profiler {
    pub fn new(names: Vec<String>) -> Self {
        let cols = vec![ColumnAcc::new(); names.len()];
        Profiler { names, cols, rows: 0 }
    }

    /// Lets the columns keep values beyond [`EXACT_QUANTILE_LIMIT`] while `budget` lasts.
    pub fn with_budget(mut self, budget: &ValueBudget) -> Self {
        self.cols.iter_mut().for_each(|c| c.budget = Some(budget.clone()));
        self
    }

    /// One row of text cells, in column order (the caller checks the width).
    pub fn push<'a>(&mut self, row: impl IntoIterator<Item = &'a str>) {
        self.rows += 1;
        for (acc, cell) in self.cols.iter_mut().zip(row) {
            acc.push(cell);
        }
    }

    /// Whole rows of text cells, row after row (`cells.len()` a multiple of the width), profiled
    /// column by column.
    pub fn push_rows(&mut self, cells: &[&str]) {
        let width = self.cols.len();
        if width == 0 {
            return;
        }
        self.rows += (cells.len() / width) as u64;
        for (i, acc) in self.cols.iter_mut().enumerate() {
            acc.push_cells(cells, i, width);
        }
    }

    /// A profiler for a source whose column types are known (`None`: infer from text).
    pub fn with_types(names: Vec<String>, types: &[Option<ColumnType>]) -> Self {
        let mut p = Self::new(names);
        for (acc, t) in p.cols.iter_mut().zip(types) {
            acc.declared = *t;
        }
        p
    }

    /// Column `i`, for sources that push column by column; call [`Profiler::add_rows`] per batch.
    pub fn column(&mut self, i: usize) -> &mut ColumnAcc {
        &mut self.cols[i]
    }

    pub fn add_rows(&mut self, n: u64) {
        self.rows += n;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Ends pass one: the profile without histograms, and the pass that fills them.
    pub fn finish(self) -> HistogramPass {
        Self::finish_parts(vec![self])
    }

    /// Ends pass one over a file profiled in parts (same columns): each column's parts are merged
    /// and its statistics computed, columns shared among the machine's cores.
    pub fn finish_parts(parts: Vec<Profiler>) -> HistogramPass {
        let names = parts.first().map(|p| p.names.clone()).unwrap_or_default();
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut by_column: Vec<Vec<ColumnAcc>> = names.iter().map(|_| Vec::with_capacity(parts.len())).collect();
        for part in parts {
            for (i, acc) in part.cols.into_iter().enumerate() {
                by_column[i].push(acc);
            }
        }
        let work: Vec<std::sync::Mutex<Option<(String, Vec<ColumnAcc>)>>> =
            names.into_iter().zip(by_column).map(|w| std::sync::Mutex::new(Some(w))).collect();
        let done: Vec<std::sync::Mutex<Option<FinishedColumn>>> = work.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(work.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = work.get(i) else { break };
                        let (name, accs) = slot.lock().unwrap().take().expect("each column once");
                        *done[i].lock().unwrap() = Some(finish_column(name, accs));
                    }
                });
            }
        });
        let (mut columns, mut bins, mut counted_columns) = (Vec::new(), Vec::new(), Vec::new());
        for d in done {
            let (column, histogram, counted) = d.into_inner().unwrap().expect("every column finished");
            columns.push(column);
            bins.push(histogram);
            counted_columns.push(counted);
        }
        let references = vec![None; columns.len()];
        HistogramPass { profile: Profile { rows, columns }, bins, references, counted: counted_columns }
    }
}

/// A column's profile, its histogram, and its numbers when pass one counted or kept them.
type FinishedColumn = (ColumnProfile, Option<Histogram>, Option<Counted>);

/// Merges a column's parts and computes its statistics.
fn finish_column(name: String, accs: Vec<ColumnAcc>) -> FinishedColumn {
    let mut accs = accs.into_iter();
    let mut acc = accs.next().unwrap_or_else(ColumnAcc::new);
    accs.for_each(|o| acc.merge(o));
    acc.close_few();
        let column_type = acc.column_type();
        let numeric = column_type.is_numeric();
        let (distinct, distinct_exact) = match &acc.hll {
            Some(h) => (h.estimate(), false),
            None => (acc.distinct.len() as u64 + acc.values.as_ref().map_or(0, |v| v.len() as u64), true),
        };
        // Numbers counted exactly (sorted (value, count) pairs) or kept: quantiles and
        // histograms follow without a second pass.
        let mut counted: Option<Counted> = acc.values.take().filter(|v| numeric && v.len() > 0).map(|values| {
            let mut pairs = values.pairs();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            Counted::Pairs(pairs)
        });
        let edges = if numeric { bin_edges(column_type, acc.moments.min(), acc.moments.max()) } else { None };
        let mut histogram = edges.map(|e| Histogram { counts: vec![0; e.len() - 1], edges: e });
        let (quantiles, quantiles_exact) = if !numeric || acc.moments.count() == 0 {
            (Vec::new(), true)
        } else if let Some(Counted::Pairs(pairs)) = &counted {
            (QUANTILES.iter().map(|&p| (p, quantile_counted(pairs, p))).collect(), true)
        } else if let Some(d) = acc.digest.take() {
            let d = digest_of(d, std::mem::take(&mut acc.digest_buffer));
            (QUANTILES.iter().map(|&p| (p, d.estimate_quantile(p))).collect(), false)
        } else {
            let mut parts = std::mem::take(&mut acc.kept_parts);
            parts.push(std::mem::take(&mut acc.exact_values));
            // The moments saw every kept value: their range is the values' range.
            let (lo, hi) = (acc.moments.min().unwrap_or(f64::NAN), acc.moments.max().unwrap_or(f64::NAN));
            let q = quantiles_of_parts_within(&parts, &QUANTILES, lo, hi, histogram.as_mut());
            counted = Some(Counted::Values(parts));
            (QUANTILES.iter().copied().zip(q).collect(), true)
        };
        let mut top: Vec<(String, u64)> = if numeric {
            Vec::new()
        } else if let Some((lo, hi)) = acc.micros_range {
            let f = |t: i64| format_micros(t, acc.dates_only);
            acc.min_text = Some(f(lo));
            acc.max_text = Some(f(hi));
            acc.top_micros.iter().map(|(&t, &n)| (f(t), n)).collect()
        } else {
            std::mem::take(&mut acc.top).into_iter().collect()
        };
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(TOP_K);
        // Kept values filled the histogram with the quantiles.
        if let (Some(h), Some(counted @ Counted::Pairs(_))) = (&mut histogram, &counted) {
            h.count_all(counted);
        }
        let text_range = matches!(column_type, ColumnType::Timestamp | ColumnType::String);
        let profile = ColumnProfile {
            name,
            column_type,
            count: acc.count,
            missing: acc.missing,
            distinct,
            distinct_exact,
            min: if numeric { acc.moments.min() } else { None },
            max: if numeric { acc.moments.max() } else { None },
            mean: if numeric { acc.moments.mean() } else { None },
            std: if numeric { acc.moments.std() } else { None },
            quantiles,
            quantiles_exact,
            histogram: None,
            top,
            min_text: if text_range { acc.min_text } else { None },
            max_text: if text_range { acc.max_text } else { None },
            reference: None,
        };
        (profile, histogram, counted)
}

/// Equal-width bins over [min, max]; one bin per value for integers with a small range.
pub fn bin_edges(t: ColumnType, min: Option<f64>, max: Option<f64>) -> Option<Vec<f64>> {
    let (min, max) = (min?, max?);
    if t == ColumnType::Integer && max - min < HISTOGRAM_BINS as f64 {
        let n = (max - min) as usize + 1;
        return Some((0..=n).map(|i| min - 0.5 + i as f64).collect());
    }
    if min == max {
        return Some(vec![min - 0.5, max + 0.5]);
    }
    let w = (max - min) / HISTOGRAM_BINS as f64;
    let mut e: Vec<f64> = (0..HISTOGRAM_BINS).map(|i| min + w * i as f64).collect();
    e.push(max);
    Some(e)
}

impl Histogram {
    /// The bin of `x`, if inside the edges (the last bin includes its upper edge).
    pub fn bin_of(&self, x: f64) -> Option<usize> {
        let n = self.counts.len();
        let (lo, hi) = (self.edges[0], self.edges[n]);
        if !(x >= lo && x <= hi) {
            return None;
        }
        // Bins are of equal width: guess the bin arithmetically, then correct the guess against
        // the edges (rounding can be one off). Bin i is [edges[i], edges[i+1]).
        let mut i = (((x - lo) / (hi - lo) * n as f64) as usize).min(n - 1);
        while i > 0 && x < self.edges[i] {
            i -= 1;
        }
        while i + 1 < n && x >= self.edges[i + 1] {
            i += 1;
        }
        Some(i)
    }
}

impl Histogram {
    /// Counts every value into the bin [`Histogram::bin_of`] gives it, with the bin width's
    /// reciprocal computed once.
    fn count_all(&mut self, counted: &Counted) {
        let n = self.counts.len();
        let (lo, hi) = (self.edges[0], self.edges[n]);
        let scale = n as f64 / (hi - lo);
        let (edges, counts) = (&self.edges, &mut self.counts);
        counted.each(|x, c| {
            if !(x >= lo && x <= hi) {
                return;
            }
            let mut i = (((x - lo) * scale) as usize).min(n - 1);
            while i > 0 && x < edges[i] {
                i -= 1;
            }
            while i + 1 < n && x >= edges[i + 1] {
                i += 1;
            }
            counts[i] += c;
        });
    }
}

/// Counts `n` values `x` on a reference version's bins (or below / above them).
fn count_on_reference(r: &mut ReferenceHistogram, x: f64, n: u64) {
    let k = r.counts.len();
    if x < r.edges[0] {
        r.below += n;
    } else if x > r.edges[k] {
        r.above += n;
    } else {
        let i = r.edges.partition_point(|&e| e <= x).saturating_sub(1).min(k - 1);
        r.counts[i] += n;
    }
}

/// Pass two: fills the histograms.
pub struct HistogramPass {
    profile: Profile,
    bins: Vec<Option<Histogram>>,
    references: Vec<Option<ReferenceHistogram>>,
    /// Columns counted exactly or kept in pass one: their histograms are already filled, and
    /// references are counted from these; pass two skips them.
    counted: Vec<Option<Counted>>,
}

/// A numeric column's values from pass one.
enum Counted {
    /// Distinct values with their counts, sorted by value.
    Pairs(Vec<(f64, u64)>),
    /// Every value, in parts.
    Values(Vec<Vec<f64>>),
}

impl Counted {
    /// Each value with how many times it occurs (values kept one by one come once each).
    fn each(&self, mut f: impl FnMut(f64, u64)) {
        match self {
            Counted::Pairs(pairs) => pairs.iter().for_each(|&(x, n)| f(x, n)),
            Counted::Values(parts) => {
                for part in parts {
                    for &x in part {
                        f(x, 1);
                    }
                }
            }
        }
    }
}

/// Finds the values of `ranks` (sorted, relative to `offset`) in `values`: the middle rank first,
/// then the lower ranks left of it and the higher ones right of it (about n·log₂(ranks) work).
fn select_ranks(values: &mut [f64], ranks: &[usize], offset: usize, at: &mut HashMap<usize, f64>) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let k = ranks[mid] - offset;
    let (left, x, right) = values.select_nth_unstable_by(k, f64::total_cmp);
    at.insert(ranks[mid], *x);
    select_ranks(left, &ranks[..mid], offset, at);
    select_ranks(right, &ranks[mid + 1..], offset + k + 1, at);
}

/// Buckets of equal width over a column's range, for finding order statistics.
const QUANTILE_BUCKETS: usize = 4096;

/// Quantiles with numpy's linear interpolation of values held in parts (finite numbers), which
/// are read, not reordered or copied: one pass counts the values per bucket of equal width over
/// their range, which tells in which bucket and at which rank within it each wanted order
/// statistic lies; a second pass gathers the values of those few buckets, and selection within
/// them finds the statistics. Bucketing is monotone (`x ≤ y` gives `bucket(x) ≤ bucket(y)`), so
/// the order statistics are exact.
pub fn quantiles_of_parts(parts: &[Vec<f64>], ps: &[f64]) -> Vec<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for part in parts {
        for &x in part {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    quantiles_of_parts_within(parts, ps, lo, hi, None)
}

/// [`quantiles_of_parts`] of values whose least and greatest are known (`lo`, `hi`), also
/// counting them into `histogram` (as [`Histogram::count_all`] would) when given. A bucket
/// whose values all fall in one bin adds its count to that bin; only the values of the few
/// buckets that straddle a bin's edge are placed one by one.
fn quantiles_of_parts_within(parts: &[Vec<f64>], ps: &[f64], lo: f64, hi: f64, mut histogram: Option<&mut Histogram>) -> Vec<f64> {
    let n: usize = parts.iter().map(Vec::len).sum();
    if n == 0 {
        return Vec::new();
    }
    let positions: Vec<f64> = ps.iter().map(|p| p * (n - 1) as f64).collect();
    let at = |pos: f64| (pos.floor() as usize, pos.ceil() as usize);
    if lo == hi {
        // Every value is `lo`.
        if let Some(h) = histogram {
            if let Some(i) = h.bin_of(lo) {
                h.counts[i] += n as u64;
            }
        }
        return positions.iter().map(|_| lo).collect();
    }
    let scale = QUANTILE_BUCKETS as f64 / (hi - lo);
    // Through a signed integer (one instruction; the range is small), clamped: still monotone.
    let bucket = |x: f64| (((x - lo) * scale) as i64).clamp(0, QUANTILE_BUCKETS as i64 - 1) as usize;
    // Counted in four lanes, so that runs of values in one bucket do not wait on each other's
    // increments.
    let mut lanes = vec![[0u32; 4]; QUANTILE_BUCKETS];
    for part in parts {
        let mut quads = part.chunks_exact(4);
        for q in &mut quads {
            lanes[bucket(q[0])][0] += 1;
            lanes[bucket(q[1])][1] += 1;
            lanes[bucket(q[2])][2] += 1;
            lanes[bucket(q[3])][3] += 1;
        }
        quads.remainder().iter().for_each(|&x| lanes[bucket(x)][0] += 1);
    }
    let counts: Vec<usize> = lanes.iter().map(|l| l.iter().map(|&c| c as usize).sum()).collect();
    // The rank each bucket starts at.
    let mut starts = Vec::with_capacity(QUANTILE_BUCKETS);
    let mut sum = 0;
    for c in &counts {
        starts.push(sum);
        sum += c;
    }
    let bucket_of_rank = |r: usize| starts.partition_point(|&s| s <= r) - 1;
    let mut ranks: Vec<usize> = positions.iter().flat_map(|&pos| [at(pos).0, at(pos).1]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    // The wanted buckets, each with a slot for its values.
    const NONE: u8 = u8::MAX;
    let mut slot = vec![NONE; QUANTILE_BUCKETS];
    let mut wanted: Vec<usize> = ranks.iter().map(|&r| bucket_of_rank(r)).collect();
    wanted.dedup();
    let mut gathered: Vec<Vec<f64>> = wanted.iter().map(|&b| Vec::with_capacity(counts[b])).collect();
    for (i, &b) in wanted.iter().enumerate() {
        slot[b] = i as u8;
    }
    // A bucket whose bounds, widened by more than the rounding of the bucketing and of the
    // bounds themselves, fall in one bin has all its values in that bin (bins are monotone in
    // the value). The others straddle an edge: their values are placed one by one.
    let mut straddling = vec![false; QUANTILE_BUCKETS];
    if let Some(h) = histogram.as_deref_mut() {
        let width = (hi - lo) / QUANTILE_BUCKETS as f64;
        let margin = (hi - lo) * 1e-9 + 8.0 * f64::EPSILON * lo.abs().max(hi.abs());
        for (b, &c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (first, last) = (lo + b as f64 * width - margin, lo + (b + 1) as f64 * width + margin);
            match (h.bin_of(first), h.bin_of(last)) {
                (Some(i), Some(j)) if i == j => h.counts[i] += c as u64,
                _ => straddling[b] = true,
            }
        }
    }
    for part in parts {
        for &x in part {
            let b = bucket(x);
            let s = slot[b];
            if s != NONE {
                gathered[s as usize].push(x);
            }
            if straddling[b] {
                if let Some(h) = histogram.as_deref_mut() {
                    if let Some(i) = h.bin_of(x) {
                        h.counts[i] += 1;
                    }
                }
            }
        }
    }
    let mut found = HashMap::new();
    for (i, &b) in wanted.iter().enumerate() {
        let in_bucket: Vec<usize> = ranks.iter().filter(|&&r| bucket_of_rank(r) == b).copied().collect();
        select_ranks(&mut gathered[i], &in_bucket, starts[b], &mut found);
    }
    positions
        .iter()
        .map(|&pos| {
            let (lo, hi) = (found[&at(pos).0], found[&at(pos).1]);
            lo + (hi - lo) * (pos - pos.floor())
        })
        .collect()
}

impl HistogramPass {
    /// Also counts a numeric column on a reference version's bin edges.
    pub fn add_reference(&mut self, column: &str, edges: &[f64]) {
        if edges.len() < 2 || edges.windows(2).any(|w| w[0] >= w[1]) {
            return;
        }
        if let Some(i) = self.profile.columns.iter().position(|c| c.name == column && c.column_type.is_numeric()) {
            let mut r = ReferenceHistogram { edges: edges.to_vec(), counts: vec![0; edges.len() - 1], below: 0, above: 0 };
            if let Some(counted) = &self.counted[i] {
                counted.each(|x, n| count_on_reference(&mut r, x, n));
            }
            self.references[i] = Some(r);
        }
    }

    pub fn push<'a>(&mut self, row: impl IntoIterator<Item = &'a str>) {
        for (i, cell) in row.into_iter().enumerate() {
            if self.wants(i) {
                self.push_cell(i, cell);
            }
        }
    }

    /// A text cell of column `i`: counted when it is a number.
    fn push_cell(&mut self, i: usize, cell: &str) {
        let s = trimmed(cell);
        if is_missing_trimmed(s) {
            return;
        }
        if let Some(x) = parse_f64(s) {
            self.push_f64(i, x);
        }
    }

    /// Whole rows of text cells, row after row (`cells.len()` a multiple of the width).
    pub fn push_rows(&mut self, cells: &[&str]) {
        let width = self.bins.len();
        for i in 0..width {
            if !self.wants(i) {
                continue;
            }
            for cell in cells.iter().skip(i).step_by(width) {
                self.push_cell(i, cell);
            }
        }
    }

    /// Whether column `i` is counted in this pass (numeric, or with a reference).
    pub fn wants(&self, i: usize) -> bool {
        self.counted.get(i).is_some_and(Option::is_none)
            && (self.bins.get(i).is_some_and(Option::is_some) || self.references.get(i).is_some_and(Option::is_some))
    }

    /// A number of column `i` (non-finite values are skipped, as missing).
    pub fn push_f64(&mut self, i: usize, x: f64) {
        if !x.is_finite() {
            return;
        }
        let (h, r) = (&mut self.bins[i], &mut self.references[i]);
        {
            if let Some(h) = h {
                if let Some(b) = h.bin_of(x) {
                    h.counts[b] += 1;
                }
            }
            if let Some(r) = r {
                count_on_reference(r, x, 1);
            }
        }
    }

    /// An empty copy (same bins, zero counts), for counting another part of the file.
    pub fn empty_copy(&self) -> HistogramPass {
        let zero = |h: &Option<Histogram>| h.as_ref().map(|h| Histogram { edges: h.edges.clone(), counts: vec![0; h.counts.len()] });
        HistogramPass {
            profile: Profile { rows: 0, columns: Vec::new() },
            bins: self.bins.iter().map(zero).collect(),
            references: self
                .references
                .iter()
                .map(|r| r.as_ref().map(|r| ReferenceHistogram { edges: r.edges.clone(), counts: vec![0; r.counts.len()], below: 0, above: 0 }))
                .collect(),
            counted: self.counted.iter().map(|c| c.as_ref().map(|_| Counted::Values(Vec::new()))).collect(),
        }
    }

    /// Adds the counts of a copy made by [`HistogramPass::empty_copy`].
    pub fn merge_counts(&mut self, other: HistogramPass) {
        for (a, b) in self.bins.iter_mut().zip(other.bins) {
            if let (Some(a), Some(b)) = (a, b) {
                a.counts.iter_mut().zip(b.counts).for_each(|(x, y)| *x += y);
            }
        }
        for (a, b) in self.references.iter_mut().zip(other.references) {
            if let (Some(a), Some(b)) = (a, b) {
                a.counts.iter_mut().zip(b.counts).for_each(|(x, y)| *x += y);
                a.below += b.below;
                a.above += b.above;
            }
        }
    }

    /// Whether any column needs pass two.
    pub fn needed(&self) -> bool {
        (0..self.bins.len()).any(|i| self.wants(i))
    }

    pub fn finish(mut self) -> Profile {
        for ((c, h), r) in self.profile.columns.iter_mut().zip(self.bins).zip(self.references) {
            c.histogram = h;
            c.reference = r;
        }
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(header: &[&str], rows: &[&[&str]]) -> Profile {
        let mut p = Profiler::new(header.iter().map(|s| s.to_string()).collect());
        for r in rows {
            p.push(r.iter().copied());
        }
        let mut h = p.finish();
        for r in rows {
            h.push(r.iter().copied());
        }
        h.finish()
    }

    #[test]
    fn infers_types() {
        let p = profile(
            &["i", "f", "b", "t", "s", "empty"],
            &[
                &["1", "1.5", "true", "2024-01-02", "a", ""],
                &["-2", "2", "False", "2024-01-03T10:00:00Z", "b", "NA"],
                &["", "NaN", "TRUE", "2024-02-29 23:59:59.5+01:00", "1", ""],
            ],
        );
        let types: Vec<ColumnType> = p.columns.iter().map(|c| c.column_type).collect();
        use ColumnType::*;
        assert_eq!(types, vec![Integer, Float, Boolean, Timestamp, String, String]);
        assert_eq!(p.columns[0].missing, 1);
        assert_eq!(p.columns[1].missing, 1);
        assert_eq!(p.columns[5].count, 0);
        assert_eq!(p.rows, 3);
    }

    #[test]
    fn timestamps() {
        for ok in ["2024-01-02", "2024-01-02T03:04", "2024-01-02 03:04:05", "2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05+0530"] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in ["2024-13-02", "2024-1-2", "20240102", "2024-01-02X", "2024-01-02T3:04", "hello"] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn plain_date_times_are_checked_as_every_form_is() {
        // Every one-byte change of plain date-times (and of other 19-byte forms), to bytes
        // around digits and separators and to non-ASCII text.
        let alphabet = ["0", "1", "3", "9", ":", "/", "-", ".", "T", " ", "Z", "+", "t", "@", "\u{7f}", "é", "\u{ff}"];
        for base in ["2024-01-02T03:04:05", "1999-12-31 23:59:59", "2024-01-02T03:04+05", "2024-01-02T03:04:5Z"] {
            for at in 0..base.len() {
                for with in alphabet {
                    let text = format!("{}{with}{}", &base[..at], &base[at + 1..]);
                    assert_eq!(is_timestamp(&text), is_timestamp_in_any_form(&text), "{text:?}");
                }
            }
        }
        assert!(is_timestamp("2024-01-02T03:04:05") && is_timestamp("2024-12-31 23:59:59"));
        assert!(!is_timestamp("2024-00-02T03:04:05") && !is_timestamp("2024-01-32T03:04:05"));
    }

    #[test]
    fn hyperloglog_is_close() {
        let mut h = HyperLogLog::new();
        for i in 0..200_000u64 {
            h.add_hash(hash_str(&i.to_string()));
        }
        let e = h.estimate() as f64;
        assert!((e - 200_000.0).abs() / 200_000.0 < 0.05, "{e}");
    }

    #[test]
    fn histogram_bins_cover_min_and_max() {
        let h = Histogram { edges: bin_edges(ColumnType::Float, Some(0.0), Some(10.0)).unwrap(), counts: vec![0; 20] };
        assert_eq!(h.bin_of(0.0), Some(0));
        assert_eq!(h.bin_of(10.0), Some(19));
        assert_eq!(h.bin_of(0.5), Some(1));
        assert_eq!(h.bin_of(10.1), None);
        let small = bin_edges(ColumnType::Integer, Some(1.0), Some(3.0)).unwrap();
        assert_eq!(small, vec![0.5, 1.5, 2.5, 3.5]);
    }

    #[test]
    fn large_columns_switch_to_sketches() {
        let n = EXACT_QUANTILE_LIMIT + 50_000;
        let mut p = Profiler::new(vec!["x".into()]);
        let cells: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        for c in &cells {
            p.push([c.as_str()]);
        }
        let prof = p.finish().finish();
        let c = &prof.columns[0];
        assert!(!c.quantiles_exact && !c.distinct_exact);
        let median = c.quantiles.iter().find(|(p, _)| *p == 0.5).unwrap().1;
        let truth = (n - 1) as f64 / 2.0;
        assert!((median - truth).abs() / truth < 0.01, "{median} vs {truth}");
        assert!((c.distinct as f64 - n as f64).abs() / (n as f64) < 0.05);
    }

    #[test]
    fn many_rows_few_values_stay_exact() {
        // 300,000 rows over 50 values: counted exactly, quantiles as numpy computes them.
        let mut p = Profiler::new(vec!["x".into()]);
        let mut all: Vec<f64> = Vec::new();
        for i in 0..300_000u64 {
            let v = (i * 7919 % 50) as f64;
            all.push(v);
            p.push([v.to_string().as_str()]);
        }
        let c = &p.finish().finish().columns[0];
        assert!(c.quantiles_exact && c.distinct_exact);
        assert_eq!(c.distinct, 50);
        all.sort_by(f64::total_cmp);
        for (q, got) in &c.quantiles {
            assert_eq!(*got, quantile_sorted(&all, *q), "p{q}");
        }
    }

    #[test]
    fn numbers_then_text_make_a_string_column() {
        let p = profile(&["code"], &[&["1"], &["2"], &["2"], &["A7"], &["1.0"]]);
        let c = &p.columns[0];
        assert_eq!(c.column_type, ColumnType::String);
        assert_eq!(c.count, 5);
        assert!(c.quantiles.is_empty());
        // 1, 2 (as numbers), A7, and 1.0 (as text after the change) — four distinct cells.
        assert_eq!(c.distinct, 4);
    }

    #[test]
    fn typed_timestamps_are_formatted_at_the_end() {
        let mut p = Profiler::with_types(vec!["at".into(), "day".into()], &[Some(ColumnType::Timestamp), Some(ColumnType::Timestamp)]);
        for t in [1_700_000_000_000_000i64, 1_700_000_000_500_000, 1_700_000_000_000_000] {
            p.column(0).push_timestamp_micros(t);
            p.column(1).push_date_days(t / 86_400_000_000);
        }
        p.add_rows(3);
        let prof = p.finish().finish();
        let at = &prof.columns[0];
        assert_eq!(at.min_text.as_deref(), Some("2023-11-14T22:13:20"));
        assert_eq!(at.max_text.as_deref(), Some("2023-11-14T22:13:20.500"));
        assert_eq!(at.top[0], ("2023-11-14T22:13:20".to_string(), 2));
        assert_eq!((at.count, at.distinct), (3, 2));
        assert_eq!(prof.columns[1].top, vec![("2023-11-14".to_string(), 3)]);
    }

    #[test]
    fn profiles_of_parts_merge_into_the_profile_of_the_whole() {
        // Rows with exact and sketched numbers, a column that turns to text in the second part,
        // and categories.
        let rows: Vec<[String; 4]> = (0..240_000u64)
            .map(|i| {
                let mixed = if i == 200_000 { "n/a-code".to_string() } else { (i % 13).to_string() };
                [(i % 97).to_string(), format!("{}.5", i), mixed, ["a", "b", "c"][(i % 3) as usize].to_string()]
            })
            .collect();
        let names: Vec<String> = ["small", "wide", "mixed", "cat"].iter().map(|s| s.to_string()).collect();
        let feed = |p: &mut Profiler, part: &[[String; 4]]| part.iter().for_each(|r| p.push(r.iter().map(String::as_str)));
        let mut whole = Profiler::new(names.clone());
        feed(&mut whole, &rows);
        let mut a = Profiler::new(names.clone());
        let mut b = Profiler::new(names);
        feed(&mut a, &rows[..150_000]);
        feed(&mut b, &rows[150_000..]);
        let (w, m) = (whole.finish().finish(), Profiler::finish_parts(vec![a, b]).finish());
        assert_eq!(w.rows, m.rows);
        for (x, y) in w.columns.iter().zip(&m.columns) {
            assert_eq!((x.column_type, x.count, x.missing), (y.column_type, y.count, y.missing), "{}", x.name);
            assert_eq!((x.min, x.max), (y.min, y.max), "{}", x.name);
            assert!((x.mean.unwrap_or(0.0) - y.mean.unwrap_or(0.0)).abs() < 1e-6, "{}", x.name);
            assert_eq!(x.top, y.top, "{}", x.name);
            let close = (x.distinct as f64 - y.distinct as f64).abs() <= 0.02 * x.distinct as f64;
            assert!(close, "{} distinct {} vs {}", x.name, x.distinct, y.distinct);
        }
        assert_eq!(w.columns[0].quantiles, m.columns[0].quantiles, "exact counts merge exactly");
        assert_eq!(m.columns[2].column_type, ColumnType::String);
        let (qw, qm) = (&w.columns[1].quantiles, &m.columns[1].quantiles);
        for ((_, a), (_, b)) in qw.iter().zip(qm) {
            assert!((a - b).abs() / a.abs().max(1.0) < 0.01, "sketched quantiles agree: {a} vs {b}");
        }
    }

    #[test]
    fn texts_counted_by_comparison_count_as_texts_counted_by_hash() {
        // Texts of every length up to 17 bytes, alike but for one byte (first, middle or last),
        // so that only a compare of every byte tells them apart.
        let mut texts: Vec<String> = Vec::new();
        for n in 1..=17usize {
            for at in [0, n / 2, n - 1] {
                let mut t = vec![b'k'; n];
                t[at] = b'Q';
                texts.push(String::from_utf8(t).unwrap());
            }
        }
        texts.sort();
        texts.dedup();
        let mut state = 7u64;
        let mut next = |m: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize % m
        };
        // Column "few": 12 texts, never more. Column "many": 16 texts for a while, then all of
        // them (the comparisons stop with counts waiting). Column "long": a 17-byte text first.
        let rows: Vec<[String; 3]> = (0..30_000)
            .map(|i| {
                let many = if i < 20_000 { next(16) } else { next(texts.len()) };
                let long = if i == 0 { texts.len() - 1 } else { next(texts.len()) };
                [texts[next(12)].clone(), texts[many].clone(), texts[long].clone()]
            })
            .collect();
        let names: Vec<String> = ["few", "many", "long"].iter().map(|s| s.to_string()).collect();
        let feed = |p: &mut Profiler, part: &[[String; 3]]| part.iter().for_each(|r| p.push(r.iter().map(String::as_str)));
        let mut whole = Profiler::new(names.clone());
        feed(&mut whole, &rows);
        let (mut a, mut b) = (Profiler::new(names.clone()), Profiler::new(names));
        feed(&mut a, &rows[..10_000]);
        feed(&mut b, &rows[10_000..]);
        for profile in [whole.finish().finish(), Profiler::finish_parts(vec![a, b]).finish()] {
            for (c, column) in profile.columns.iter().enumerate() {
                let mut counts: HashMap<&str, u64> = HashMap::new();
                rows.iter().for_each(|r| *counts.entry(r[c].as_str()).or_default() += 1);
                let mut want: Vec<(String, u64)> = counts.iter().map(|(t, n)| (t.to_string(), *n)).collect();
                want.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                want.truncate(TOP_K);
                assert_eq!(column.top, want, "{}", column.name);
                assert_eq!((column.distinct, column.distinct_exact), (counts.len() as u64, true), "{}", column.name);
                assert_eq!(column.min_text.as_deref(), counts.keys().min().copied(), "{}", column.name);
                assert_eq!(column.max_text.as_deref(), counts.keys().max().copied(), "{}", column.name);
            }
        }
    }

    #[test]
    fn bin_of_agrees_with_a_search_of_the_edges() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for (t, lo, hi) in [(ColumnType::Float, -3.7, 1e6 / 7.0), (ColumnType::Float, 0.1, 0.3), (ColumnType::Integer, 1.0, 15.0), (ColumnType::Float, 5.0, 5.0)] {
            let edges = bin_edges(t, Some(lo), Some(hi)).unwrap();
            let h = Histogram { counts: vec![0; edges.len() - 1], edges: edges.clone() };
            let n = h.counts.len();
            let mut probes: Vec<f64> = edges.clone();
            probes.extend((0..10_000).map(|_| edges[0] + next() * (edges[n] - edges[0])));
            let mut by_bin_of = vec![0u64; n];
            for &x in &probes {
                let want = edges.partition_point(|&e| e <= x).saturating_sub(1).min(n - 1);
                assert_eq!(h.bin_of(x), Some(want), "x = {x} in {edges:?}");
                by_bin_of[want] += 1;
            }
            let mut all = Histogram { counts: vec![0; n], edges: edges.clone() };
            all.count_all(&Counted::Values(vec![probes]));
            assert_eq!(all.counts, by_bin_of, "counted at once as one by one");
            assert_eq!(h.bin_of(edges[n] + 1.0), None);
        }
    }

    #[test]
    fn columns_counted_exactly_need_no_second_pass() {
        let cells: Vec<String> = (0..5_000u64).map(|i| ((i * 37) % 101).to_string()).collect();
        let mut p = Profiler::new(vec!["x".into()]);
        cells.iter().for_each(|c| p.push([c.as_str()]));
        let mut pass = p.finish();
        pass.add_reference("x", &[0.0, 25.0, 50.0, 75.0]);
        assert!(!pass.needed(), "histogram and reference counts come from the exact counts");
        let c = &pass.finish().columns[0];
        // The same counts a second pass over the cells gives.
        let h = c.histogram.as_ref().unwrap();
        let mut want = vec![0u64; h.counts.len()];
        let (mut below, mut above, mut on_ref) = (0, 0, vec![0u64; 3]);
        for cell in &cells {
            let x: f64 = cell.parse().unwrap();
            want[h.bin_of(x).unwrap()] += 1;
            match x {
                x if x < 0.0 => below += 1,
                x if x > 75.0 => above += 1,
                x => on_ref[((x / 25.0) as usize).min(2)] += 1,
            }
        }
        assert_eq!(h.counts, want);
        let r = c.reference.as_ref().unwrap();
        assert_eq!((r.counts.clone(), r.below, r.above), (on_ref, below, above));
    }

    #[test]
    fn quick_text_comparisons_agree_with_the_standard_library() {
        let texts: Vec<String> = ["", "a", "b", "ab", "alpha", "alphb", "epsilon", "epsilom", "12345678", "12345679", "123456789", "2024-01-01 00:00:00",
            "2024-01-01 00:00:01", "2024-01-02 00:00:00", "2024-01-0", "2024-01-01 00:0", "2024-02-01", "2023-12-31T23:59:59", "sixteen bytes ok", "sixteen bytes ol", "seventeen bytes !", "é", "éa"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for a in &texts {
            for b in &texts {
                assert_eq!(same_text(a, b), a == b, "{a:?} == {b:?}");
                assert_eq!(text_before(a, b), a < b, "{a:?} < {b:?}");
            }
        }
    }

    #[test]
    fn quantiles_of_parts_agree_with_sorting() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut cases: Vec<Vec<f64>> = [1usize, 2, 3, 10, 101, 5_000]
            .iter()
            .map(|&n| (0..n).map(|i| ((i * 7919) % 97) as f64 * 0.5 - 3.0).collect())
            .collect();
        // Skewed (most values in one bucket), one far outlier, equal values, signed zeros, and
        // a range too wide for its width to be a finite number.
        cases.push((0..20_000).map(|_| next().powi(8) * 1e6).collect());
        cases.push((0..10_000).map(|i| if i == 0 { 1e300 } else { next() }).collect());
        cases.push(vec![4.25; 1_000]);
        cases.push((0..1_000).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }).chain([1.0]).collect());
        cases.push((0..1_000).map(|i| if i % 2 == 0 { -f64::MAX } else { f64::MAX * next() }).collect());
        // For the histograms: values on the bins' edges and one step either side of them, and a
        // range narrow for its magnitude (buckets finer than the numbers' spacing).
        let on_edges: Vec<f64> = (0..=200).map(|i| i as f64 * 0.1).collect();
        cases.push(on_edges.iter().flat_map(|&x| [x, x.next_up(), x.next_down()]).chain([0.0, 20.0]).collect());
        cases.push((0..5_000).map(|i| 1e16 + (i % 5) as f64 * 2.0).collect());
        cases.push((0..50_000).map(|_| next() * 10.0 - 5.0).collect());
        for values in cases {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let want: Vec<f64> = QUANTILES.iter().map(|&p| quantile_sorted(&sorted, p)).collect();
            // As one part, and split into uneven parts (as merged profiling parts are).
            let third = values.len() / 3;
            let parts = vec![values[..third].to_vec(), Vec::new(), values[third..].to_vec()];
            let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
            let edges = bin_edges(ColumnType::Float, Some(lo), Some(hi)).unwrap();
            let empty = Histogram { counts: vec![0; edges.len() - 1], edges };
            let mut want_histogram = empty.clone();
            want_histogram.count_all(&Counted::Values(vec![values.clone()]));
            for parts in [vec![values.clone()], parts] {
                let got = quantiles_of_parts(&parts, &QUANTILES);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!(g == w || (g.is_nan() && w.is_nan()), "n = {}: {got:?} != {want:?}", values.len());
                }
                // With the histogram filled on the way: the same quantiles, and the counts of
                // placing every value by itself.
                let mut histogram = empty.clone();
                let again = quantiles_of_parts_within(&parts, &QUANTILES, lo, hi, Some(&mut histogram));
                assert_eq!(again.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), got.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
                assert_eq!(histogram.counts, want_histogram.counts, "n = {}", values.len());
            }
        }
    }

    #[test]
    fn kept_values_give_exact_quantiles_and_histograms_in_one_pass() {
        let n = EXACT_QUANTILE_LIMIT as u64 + 50_000;
        let cells: Vec<String> = (0..n).map(|i| format!("{}.25", (i * 7919) % n)).collect();
        let budget = ValueBudget::new(DEFAULT_VALUE_BUDGET);
        let mut a = Profiler::new(vec!["x".into()]).with_budget(&budget);
        let mut b = Profiler::new(vec!["x".into()]).with_budget(&budget);
        let half = cells.len() / 2;
        cells[..half].iter().for_each(|c| a.push([c.as_str()]));
        cells[half..].iter().for_each(|c| b.push([c.as_str()]));
        let mut pass = Profiler::finish_parts(vec![a, b]);
        pass.add_reference("x", &[0.0, 1000.0, 100_000.0]);
        assert!(!pass.needed(), "kept values need no second pass");
        let c = &pass.finish().columns[0];
        assert!(c.quantiles_exact);
        let mut all: Vec<f64> = cells.iter().map(|c| c.parse().unwrap()).collect();
        all.sort_by(f64::total_cmp);
        for (q, got) in &c.quantiles {
            assert_eq!(*got, quantile_sorted(&all, *q), "p{q}");
        }
        let h = c.histogram.as_ref().unwrap();
        let mut want = vec![0u64; h.counts.len()];
        all.iter().for_each(|&x| want[h.bin_of(x).unwrap()] += 1);
        assert_eq!(h.counts, want);
        let r = c.reference.as_ref().unwrap();
        let on_ref = [all.iter().filter(|&&x| x < 1000.0).count() as u64, all.iter().filter(|&&x| x >= 1000.0 && x <= 100_000.0).count() as u64];
        assert_eq!((r.counts.clone(), r.below, r.above), (on_ref.to_vec(), 0, all.iter().filter(|&&x| x > 100_000.0).count() as u64));
    }

    #[test]
    fn past_the_budget_columns_fall_back_to_sketches_and_return_their_share() {
        let budget = ValueBudget::new(BUDGET_CHUNK);
        let mut p = Profiler::new(vec!["x".into(), "y".into()]).with_budget(&budget);
        let n = EXACT_QUANTILE_LIMIT + 2 * BUDGET_CHUNK;
        for i in 0..n {
            let cell = format!("{i}.5");
            p.push([cell.as_str(), cell.as_str()]);
        }
        // The first column took the budget's only chunk, the second found none left; both
        // ended in sketches, and the chunk came back.
        assert_eq!(budget.left(), BUDGET_CHUNK);
        let pass = p.finish();
        assert!(pass.needed(), "sketched columns need the histogram pass");
        let c = &pass.finish().columns[0];
        assert!(!c.quantiles_exact);
        let median = c.quantiles.iter().find(|(p, _)| *p == 0.5).unwrap().1;
        assert!((median - n as f64 / 2.0).abs() / (n as f64 / 2.0) < 0.01, "{median}");
    }

    #[test]
    fn cells_pushed_in_batches_profile_as_cells_pushed_row_by_row() {
        // Columns that change course inside a batch: exact counts that spill, kept values that
        // outgrow the budget and go to a digest, numbers that turn to text, missing cells,
        // signed zeros, integers in a narrow range.
        let names: Vec<String> = ["spill", "budget", "turns", "zeros", "narrow"].iter().map(|s| s.to_string()).collect();
        let rows: Vec<Vec<String>> = (0..EXACT_QUANTILE_LIMIT as u64 + 3 * BUDGET_CHUNK as u64)
            .map(|i| {
                let turns = if i == 40_000 { "text".to_string() } else { format!("{}", i % 7) };
                let zeros = ["-0", "0", "0.0", "-0.0", "NA", " 1.5 "][(i % 6) as usize].to_string();
                // Within its own share of kept values (the budget goes to the second column).
                let spill = if i < 90_000 { format!("{}.25", i * 7 % 30_011) } else { String::new() };
                vec![spill, format!("{i}.5"), turns, zeros, if i % 11 == 0 { String::new() } else { (i % 50).to_string() }]
            })
            .collect();
        let profile = |batches: bool| {
            let budget = ValueBudget::new(BUDGET_CHUNK);
            let mut p = Profiler::new(names.clone()).with_budget(&budget);
            if batches {
                for batch in rows.chunks(700) {
                    let cells: Vec<&str> = batch.iter().flat_map(|r| r.iter().map(String::as_str)).collect();
                    p.push_rows(&cells);
                }
            } else {
                rows.iter().for_each(|r| p.push(r.iter().map(String::as_str)));
            }
            (p.finish().finish(), budget.left())
        };
        let (by_rows, by_batches) = (profile(false), profile(true));
        assert!(!by_rows.0.columns[1].quantiles_exact, "the budget ran out");
        assert_eq!(by_rows.0.columns[2].column_type, ColumnType::String);
        assert_eq!(by_batches, by_rows);
    }

    #[test]
    fn integer_counts_in_an_array_equal_counts_by_hashing() {
        let cases: Vec<Vec<f64>> = vec![
            (0..5000).map(|i| ((i * 7919) % 1000) as f64 - 500.0).collect(),
            (0..3000).map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) * 3.0 }).collect(),
            vec![0.0, -0.0, 5.0, 1e15, 3.0],
            vec![1.0, 2.0, 2.5, 1.0, -0.0],
            vec![9007199254740992.0, 1.0, -9223372036854775808.0, 9223372036854775808.0],
            (0..40_000).map(|i| (i % 20_000) as f64).collect(),
        ];
        for values in cases {
            let mut want: HashMap<u64, u64> = HashMap::new();
            let (mut whole, mut first, mut second) = (ExactCounts::new(), ExactCounts::new(), ExactCounts::new());
            for (i, &x) in values.iter().enumerate() {
                *want.entry((x + 0.0).to_bits()).or_insert(0) += 1;
                whole.add(x, 1);
                if i < values.len() / 2 { first.add(x, 1) } else { second.add(x, 1) }
            }
            first.merge(second);
            let mut want: Vec<(u64, u64)> = want.into_iter().collect();
            want.sort();
            for counts in [whole, first] {
                assert_eq!(counts.len(), want.len());
                let mut got: Vec<(u64, u64)> = counts.pairs().into_iter().map(|(x, n)| (x.to_bits(), n)).collect();
                got.sort();
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn texts_compare_equal_exactly_when_they_are() {
        // Every length up to past two words, texts that differ in one byte anywhere.
        let mut texts = Vec::new();
        for n in 0..=20 {
            let base: String = (0..n).map(|i| (b'a' + (i % 7) as u8) as char).collect();
            texts.push(base.clone());
            for i in 0..n {
                let mut b = base.clone().into_bytes();
                b[i] = b'Z';
                texts.push(String::from_utf8(b).unwrap());
            }
        }
        for a in &texts {
            for b in &texts {
                assert_eq!(same_text(a, b), a == b, "{a:?} and {b:?}");
                if a == b {
                    assert_eq!(hash_str(a), hash_str(b));
                }
            }
        }
        // Texts of one length get different hashes (none of these collide).
        let hashes: HashSet<u64> = texts.iter().map(|t| hash_str(t)).collect();
        assert_eq!(hashes.len(), texts.len());
    }

    #[test]
    fn quick_number_parsing_agrees_with_the_standard_library() {
        let mut state = 99u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 20
        };
        let mut cells: Vec<String> = Vec::new();
        for _ in 0..200_000 {
            let (int, frac, places) = (next() % 10u64.pow((next() % 12) as u32), next(), (next() % 12) as usize);
            let sign = ["", "-", "+"][(next() % 3) as usize];
            let digits = format!("{frac:020}");
            cells.push(if places == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{}", &digits[..places]) });
        }
        cells.extend(
            ["0", "-0.0", ".5", "5.", "00012.500", "1e5", "-2.5E-3", "inf", "NaN", "", "-", ".", "1.2.3", "12a", "9007199254740993",
             "123456789012345678901234", "0.1234567890123456789012345", "٣"]
                .map(String::from),
        );
        cells.extend(["-0", "+0", "+7", "-7", "007", "9223372036854775807", "-9223372036854775808", "9223372036854775808"].map(String::from));
        // Digit runs with a byte just outside the digits ('/' and ':') or not one, in each place.
        for i in 0..4 {
            for outside in ['/', ':', '?', ' '] {
                let mut run: Vec<char> = "9090".chars().collect();
                run[i] = outside;
                let run: String = run.into_iter().collect();
                cells.extend([run.clone(), format!("1{run}"), format!("1.{run}"), format!("12345.{run}7")]);
            }
        }
        for c in &cells {
            let want = c.parse::<f64>().ok();
            let got = parse_f64(c);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{c:?}");
            // Integers: recognised exactly when the standard library's integer parser takes
            // them, with that integer's value.
            let int = c.parse::<i64>().ok();
            let (_, is_int) = parse_number(c).unwrap_or((0.0, false));
            assert_eq!(is_int, int.is_some(), "{c:?}");
            if let Some(i) = int {
                assert_eq!(parse_number(c).unwrap().0, i as f64, "{c:?}");
            }
        }
    }
}
