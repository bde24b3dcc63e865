//! Category lookup: the one place that turns a column's values into the
//! codes of fitted (or given) categories, for `ml.one_hot`,
//! `ml.ordinal_encode`, `OneHotEncoder` and `OrdinalEncoder` alike.
//!
//! A [`CodeTable`] holds, for each category, the code it encodes to (after
//! infrequent grouping and `drop`, decided in Python where the fitted
//! parameters live), the code of a missing value (null, or NaN in a float
//! column) and what an unknown value becomes. [`encode`] maps values to
//! codes; `None` in the output is a null code (a dropped category, an
//! ignored unknown, a missing value left missing). An unknown value under
//! [`Unknown::Error`] stops the lookup and reports its row, so the wrapper
//! can name the column and the value.
//!
//! Keys are anything hashable: `&str` for String/Categorical/Enum columns,
//! `i64` for integers and Booleans, and [`float_key`] for floats (so `-0.0`
//! and `0.0` are one category, as `numpy.unique` has them).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A fast hash for the lookup's short keys (category strings, integers,
/// float bits): a 128-bit multiply folds each word in (as wyhash and
/// foldhash do), and a byte string is read with at most two overlapping
/// loads per 16 bytes, never copied. Several times faster than the default
/// SipHash on the keys a lookup per row meets. Not resistant to crafted
/// collisions: the keys are the fitted categories, and a crafted set of them
/// only slows the lookup down.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher {
    hash: u64,
}

const MIX_A: u64 = 0x9e37_79b9_7f4a_7c15;
const MIX_B: u64 = 0x2d35_8dcc_aa6c_78a5;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a).wrapping_mul(u128::from(b));
    (product as u64) ^ ((product >> 64) as u64)
}

#[inline(always)]
fn load8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

#[inline(always)]
fn load4(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u64::from(u32::from_le_bytes(word))
}

impl KeyHasher {
    #[inline(always)]
    fn add(&mut self, a: u64, b: u64) {
        self.hash = fold(self.hash ^ a ^ MIX_A, b ^ MIX_B);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let len = n as u64;
        if n > 16 {
            let mut at = 0;
            while at + 16 < n {
                self.add(load8(bytes, at), load8(bytes, at + 8));
                at += 16;
            }
            self.add(load8(bytes, n - 16) ^ len, load8(bytes, n - 8));
        } else if n >= 8 {
            self.add(load8(bytes, 0) ^ len, load8(bytes, n - 8));
        } else if n >= 4 {
            self.add(load4(bytes, 0) ^ len, load4(bytes, n - 4));
        } else if let (Some(first), Some(last)) = (bytes.first(), bytes.last()) {
            let middle = bytes.get(n / 2).copied().unwrap_or(0);
            let word = u64::from(*first) << 16 | u64::from(middle) << 8 | u64::from(*last);
            self.add(word ^ len, 0);
        } else {
            self.add(0, 0);
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        // `str` hashes end with 0xff: keep it cheap (the length is mixed in).
        self.hash ^= u64::from(value);
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value, 0);
    }

    #[inline]
    fn write_i64(&mut self, value: i64) {
        self.add(value as u64, 0);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64, 0);
    }

    #[inline]
    fn write_u128(&mut self, value: u128) {
        self.add(value as u64, (value >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type KeyBuild = BuildHasherDefault<KeyHasher>;

/// A code in the output: `None` is null.
pub type Code = Option<u32>;

/// What a value that is no category becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Stop with [`UnknownAt`].
    Error,
    /// Encode as this code (`None`: null).
    Code(Code),
}

/// What a missing value (null, or NaN in a float column) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// It is a category of its own, encoded as this code.
    Code(Code),
    /// It is not a category: treated as an unknown value.
    Unknown,
}

/// The first row holding an unknown value (under [`Unknown::Error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAt {
    pub row: usize,
}

/// A value that is no category, under [`Unknown::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsUnknown;

/// Categories and the codes they encode to.
#[derive(Debug, Clone)]
pub struct CodeTable<K: Hash + Eq> {
    index: HashMap<K, Code, KeyBuild>,
    missing: Missing,
    unknown: Unknown,
}

/// Two categories of a table are the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateCategory {
    pub position: usize,
}

impl<K: Hash + Eq> CodeTable<K> {
    /// The table of `categories` (in order) encoding to `codes` (one per
    /// category; shorter `codes` leave the rest null).
    pub fn new<I: IntoIterator<Item = K>>(
        categories: I,
        codes: &[Code],
        missing: Missing,
        unknown: Unknown,
    ) -> Result<Self, DuplicateCategory> {
        let mut index = HashMap::with_hasher(KeyBuild::default());
        for (position, key) in categories.into_iter().enumerate() {
            let code = codes.get(position).copied().flatten();
            if index.insert(key, code).is_some() {
                return Err(DuplicateCategory { position });
            }
        }
        Ok(Self {
            index,
            missing,
            unknown,
        })
    }

    /// The code of a value that is no category.
    #[inline]
    pub fn unknown_code(&self) -> Result<Code, IsUnknown> {
        match self.unknown {
            Unknown::Code(code) => Ok(code),
            Unknown::Error => Err(IsUnknown),
        }
    }

    /// The code of one value (`None`: missing).
    #[inline]
    pub fn code(&self, value: Option<&K>) -> Result<Code, IsUnknown> {
        let found = match value {
            None => match self.missing {
                Missing::Code(code) => return Ok(code),
                Missing::Unknown => None,
            },
            Some(key) => self.index.get(key).copied(),
        };
        match (found, self.unknown) {
            (Some(code), _) => Ok(code),
            (None, Unknown::Code(code)) => Ok(code),
            (None, Unknown::Error) => Err(IsUnknown),
        }
    }
}

/// Where a lookup's codes go, one per row, in row order: a `Vec<Code>`
/// (the codes themselves), a [`CodeColumn`] (values and validity, the
/// codes as an array takes them) or a [`OneHotSink`] (one-hot columns
/// filled as the codes come, without holding the codes).
pub trait CodeSink {
    fn put(&mut self, code: Code);
}

impl CodeSink for Vec<Code> {
    #[inline(always)]
    fn put(&mut self, code: Code) {
        self.push(code);
    }
}

/// Codes as a column of `T` (`u32`, or `f64` for `OrdinalEncoder`'s
/// codes, written at once rather than converted afterwards): the values (0
/// where null) and, once a null code came, whether each row is valid.
/// Cheaper than a `Vec<Code>` turned into an array afterwards: no per-row
/// option to unpack.
#[derive(Debug)]
pub struct CodeColumn<T = u32> {
    pub values: Vec<T>,
    /// `None` while every code so far is valid.
    pub validity: Option<Vec<bool>>,
}

impl<T> CodeColumn<T> {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            values: Vec::with_capacity(rows),
            validity: None,
        }
    }

    /// The parts' codes one after the other.
    pub fn concat(parts: Vec<CodeColumn<T>>) -> CodeColumn<T> {
        let mut parts = parts.into_iter();
        let mut out = parts.next().unwrap_or(CodeColumn {
            values: Vec::new(),
            validity: None,
        });
        for part in parts {
            match (&mut out.validity, part.validity) {
                (None, None) => {}
                (Some(valid), None) => valid.resize(valid.len() + part.values.len(), true),
                (out_valid, Some(valid)) => {
                    let mut all = out_valid.take().unwrap_or_default();
                    all.resize(out.values.len(), true);
                    all.extend(valid);
                    *out_valid = Some(all);
                }
            }
            out.values.extend(part.values);
        }
        out
    }
}

impl<T: From<u32>> CodeSink for CodeColumn<T> {
    #[inline(always)]
    fn put(&mut self, code: Code) {
        match (code, &mut self.validity) {
            (Some(code), None) => self.values.push(T::from(code)),
            (Some(code), Some(valid)) => {
                self.values.push(T::from(code));
                valid.push(true);
            }
            (None, validity) => {
                let valid = validity.get_or_insert_with(|| {
                    let mut valid = Vec::with_capacity(self.values.capacity());
                    valid.resize(self.values.len(), true);
                    valid
                });
                valid.push(false);
                self.values.push(T::from(0));
            }
        }
    }
}

/// One-hot columns filled row by row: column `j` holds 1 where the row's
/// code is `j` and 0 elsewhere (a null code, or one beyond the width,
/// leaves the row's zeros). It writes into borrowed columns of zeros, so
/// parts of the rows can be filled in parallel; memory: the columns only.
pub struct OneHotSink<'a> {
    columns: Vec<&'a mut [u8]>,
    row: usize,
}

impl<'a> OneHotSink<'a> {
    /// Fill `columns` (zeros, one per output column, all of one length)
    /// from their first row.
    pub fn new(columns: Vec<&'a mut [u8]>) -> Self {
        Self { columns, row: 0 }
    }
}

impl CodeSink for OneHotSink<'_> {
    #[inline(always)]
    fn put(&mut self, code: Code) {
        if let Some(j) = code {
            if let Some(cell) = self
                .columns
                .get_mut(j as usize)
                .and_then(|c| c.get_mut(self.row))
            {
                *cell = 1;
            }
        }
        self.row += 1;
    }
}

/// Put the code of every value into `out`, rows counted from `first_row`.
pub fn encode<K, I, S>(
    table: &CodeTable<K>,
    values: I,
    first_row: usize,
    out: &mut S,
) -> Result<(), UnknownAt>
where
    K: Hash + Eq,
    I: IntoIterator<Item = Option<K>>,
    S: CodeSink,
{
    for (i, value) in values.into_iter().enumerate() {
        match table.code(value.as_ref()) {
            Ok(code) => out.put(code),
            Err(IsUnknown) => return Err(UnknownAt { row: first_row + i }),
        }
    }
    Ok(())
}

/// Ids beyond this many are looked up every time instead of remembered.
const MEMO_IDS: usize = 1 << 24;

/// Append the codes of dictionary-encoded values (Categorical and Enum
/// columns): `ids` index a dictionary of `n_ids` entries whose keys
/// `key_of` gives. Each id is looked up once, when first met, so a column
/// costs one table read per row whatever its keys; an id without a key is
/// unknown.
pub fn encode_ids<K, F, I, S>(
    table: &CodeTable<K>,
    n_ids: usize,
    key_of: F,
    ids: I,
    first_row: usize,
    out: &mut S,
) -> Result<(), UnknownAt>
where
    K: Hash + Eq,
    F: Fn(usize) -> Option<K>,
    I: IntoIterator<Item = Option<usize>>,
    S: CodeSink,
{
    let mut known: Vec<Option<Result<Code, IsUnknown>>> = vec![None; n_ids.min(MEMO_IDS)];
    let missing = table.code(None);
    for (i, id) in ids.into_iter().enumerate() {
        let found = match id {
            None => missing,
            Some(id) => {
                if id >= known.len() && id < MEMO_IDS {
                    // The dictionary grew (a global Categorical mapping).
                    known.resize(id + 1, None);
                }
                match known.get_mut(id) {
                    Some(Some(found)) => *found,
                    Some(slot) => {
                        let found =
                            key_of(id).map_or(table.unknown_code(), |k| table.code(Some(&k)));
                        *slot = Some(found);
                        found
                    }
                    None => key_of(id).map_or(table.unknown_code(), |k| table.code(Some(&k))),
                }
            }
        };
        match found {
            Ok(code) => out.put(code),
            Err(IsUnknown) => return Err(UnknownAt { row: first_row + i }),
        }
    }
    Ok(())
}

/// Distinct views a [`ViewMemo`] remembers at most (more are looked up
/// every time).
const MEMO_VIEWS: usize = 1 << 16;

/// A small open-addressing table from 16-byte Arrow views to what was found
/// for them (a code, a count's slot). Much cheaper per row than a general
/// hash map: one multiply hashes the view, and with few distinct values the
/// table stays in L1 and the first slot probed holds the view. Holds at most
/// [`MEMO_VIEWS`] views; [`ViewMemo::insert`] refuses more.
pub struct ViewMemo<V: Copy> {
    slots: Vec<Option<(u128, V)>>,
    len: usize,
    shift: u32,
}

impl<V: Copy> Default for ViewMemo<V> {
    fn default() -> Self {
        Self::with_bits(8)
    }
}

impl<V: Copy> ViewMemo<V> {
    fn with_bits(bits: u32) -> Self {
        Self {
            slots: vec![None; 1 << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    #[inline(always)]
    fn home(&self, view: u128) -> usize {
        (fold(view as u64 ^ MIX_A, (view >> 64) as u64 ^ MIX_B) >> self.shift) as usize
    }

    /// What was remembered for `view`.
    #[inline(always)]
    pub fn get(&self, view: u128) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut at = self.home(view);
        loop {
            match self.slots.get(at)? {
                Some((key, value)) if *key == view => return Some(*value),
                Some(_) => at = (at + 1) & mask,
                None => return None,
            }
        }
    }

    /// What was remembered for `view`, to change in place.
    #[inline(always)]
    pub fn get_mut(&mut self, view: u128) -> Option<&mut V> {
        let mask = self.slots.len() - 1;
        let mut at = self.home(view);
        loop {
            match self.slots.get(at)? {
                Some((key, _)) if *key == view => break,
                Some(_) => at = (at + 1) & mask,
                None => return None,
            }
        }
        self.slots.get_mut(at)?.as_mut().map(|(_, value)| value)
    }

    /// Remember `value` for a view not yet held; `false` (and nothing kept)
    /// once [`MEMO_VIEWS`] views are held.
    pub fn insert(&mut self, view: u128, value: V) -> bool {
        if self.len >= MEMO_VIEWS {
            return false;
        }
        // At most a quarter full: a view is nearly always in its home slot
        // (a second probe is a mispredicted branch), and one slot stays empty.
        if 4 * (self.len + 1) > self.slots.len() {
            let bits = 64 - self.shift + 1;
            let old = std::mem::replace(self, Self::with_bits(bits));
            for (key, value) in old.slots.into_iter().flatten() {
                self.place(key, value);
            }
        }
        self.place(view, value);
        true
    }

    fn place(&mut self, view: u128, value: V) {
        let mask = self.slots.len() - 1;
        let mut at = self.home(view);
        while let Some(Some(_)) = self.slots.get(at) {
            at = (at + 1) & mask;
        }
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = Some((view, value));
            self.len += 1;
        }
    }

    /// Every view held and its value, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u128, V)> + '_ {
        self.slots.iter().flatten().copied()
    }
}

/// Append the codes of String values given by their 16-byte Arrow views
/// (`None`: null). A view holds the value's length and, up to 12 bytes,
/// the value itself (else its place in the array's buffers), so within one
/// array two equal views are one value: each distinct view is looked up
/// once (by the value `value_of(row)` gives), then remembered. A lookup per
/// row then hashes one 16-byte word instead of reading and hashing the
/// string.
pub fn encode_views<'a, V, F, S>(
    table: &CodeTable<&'a str>,
    views: V,
    value_of: F,
    first_row: usize,
    out: &mut S,
) -> Result<(), UnknownAt>
where
    V: IntoIterator<Item = Option<u128>>,
    F: Fn(usize) -> Option<&'a str>,
    S: CodeSink,
{
    let mut known: ViewMemo<Result<Code, IsUnknown>> = ViewMemo::default();
    let missing = table.code(None);
    for (i, view) in views.into_iter().enumerate() {
        let found = match view {
            None => missing,
            Some(view) => match known.get(view) {
                Some(found) => found,
                None => {
                    let found = value_of(i).map_or(table.unknown_code(), |v| table.code(Some(&v)));
                    known.insert(view, found);
                    found
                }
            },
        };
        match found {
            Ok(code) => out.put(code),
            Err(IsUnknown) => return Err(UnknownAt { row: first_row + i }),
        }
    }
    Ok(())
}

/// Counts of String values, added up by value, kept in the order the
/// values were first added.
#[derive(Default)]
pub struct ValueCounts<'a> {
    index: HashMap<&'a str, usize, KeyBuild>,
    counted: Vec<(&'a str, u64)>,
}

impl<'a> ValueCounts<'a> {
    /// Add `n` to the count of `value`.
    pub fn add(&mut self, value: &'a str, n: u64) {
        let counted = &mut self.counted;
        let at = *self.index.entry(value).or_insert_with(|| {
            counted.push((value, 0));
            counted.len() - 1
        });
        if let Some(entry) = counted.get_mut(at) {
            entry.1 += n;
        }
    }

    pub fn into_counts(self) -> Vec<(&'a str, u64)> {
        self.counted
    }
}

/// How often each distinct String value occurs, counted by Arrow view (see
/// [`encode_views`]): per array, each row adds one to its view's count; the
/// views' counts are then added up by value (a value longer than 12 bytes
/// can have several views). Returns the values with their counts (in no
/// order the caller should rely on), and the nulls. An array with more
/// than [`MEMO_VIEWS`] distinct views is counted by value for the rest.
pub fn count_views<'a, A, I, F>(arrays: A) -> (ValueCounts<'a>, u64)
where
    A: IntoIterator<Item = (I, F)>,
    I: IntoIterator<Item = Option<u128>>,
    F: Fn(usize) -> Option<&'a str>,
{
    let mut counts = ValueCounts::default();
    let mut nulls = 0u64;
    for (views, value_of) in arrays {
        // Per view, a row holding it and its count.
        let mut memo: ViewMemo<(usize, u64)> = ViewMemo::default();
        for (i, view) in views.into_iter().enumerate() {
            let Some(view) = view else {
                nulls += 1;
                continue;
            };
            if let Some((_, n)) = memo.get_mut(view) {
                *n += 1;
            } else if !memo.insert(view, (i, 1)) {
                if let Some(value) = value_of(i) {
                    counts.add(value, 1);
                }
            }
        }
        for (_, (row, n)) in memo.entries() {
            if let Some(value) = value_of(row) {
                counts.add(value, n);
            }
        }
    }
    (counts, nulls)
}

/// The hash key of a float category: its bits, with `-0.0` as `0.0`.
/// `None` for NaN (a missing value).
#[inline]
pub fn float_key(value: f64) -> Option<u64> {
    if value.is_nan() {
        None
    } else if value == 0.0 {
        Some(0)
    } else {
        Some(value.to_bits())
    }
}

/// Where a value stands among the categories of every group together, the
/// input of [`group_codes`]: a category's position, or one of these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The category at this position of the union of the groups' categories.
    Category(u32),
    /// A missing value (null, or NaN in a float column).
    Missing,
    /// A value that no group has as a category.
    Unknown,
}

/// The codes of rows encoded per group (`OneHotEncoder(by=...)`): each
/// row's [`Slot`] (found by one [`encode`] of the union of the groups'
/// categories) is looked up in its group's table, keyed by union position.
/// So each group applies its own rules (its categories, infrequent
/// grouping, `drop`, missing and unknown policies) through [`CodeTable`],
/// like an encoder fitted on that group alone: a category of another group
/// is unknown to it. A row without a group (`None`) gets a null code.
pub fn group_codes(
    slots: &[Slot],
    groups: &[Option<usize>],
    tables: &[CodeTable<u32>],
) -> Result<Vec<Code>, UnknownAt> {
    let mut out = Vec::with_capacity(slots.len());
    for (row, (slot, group)) in slots.iter().zip(groups).enumerate() {
        let Some(table) = group.and_then(|g| tables.get(g)) else {
            out.push(None);
            continue;
        };
        let found = match slot {
            Slot::Category(position) => table.code(Some(position)),
            Slot::Missing => table.code(None),
            Slot::Unknown => table.unknown_code(),
        };
        match found {
            Ok(code) => out.push(code),
            Err(IsUnknown) => return Err(UnknownAt { row }),
        }
    }
    Ok(out)
}

/// One-hot columns from codes: column `j` holds 1 where the code is `j`
/// and 0 elsewhere (a null code, or one beyond `width`, gives a row of zeros).
pub fn one_hot_columns(codes: &[Code], width: usize) -> Vec<Vec<u8>> {
    let mut columns = vec![vec![0u8; codes.len()]; width];
    let mut sink = OneHotSink::new(columns.iter_mut().map(Vec::as_mut_slice).collect());
    for code in codes {
        sink.put(*code);
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(missing: Missing, unknown: Unknown) -> CodeTable<&'static str> {
        CodeTable::new(["a", "b", "c"], &[Some(0), Some(1), None], missing, unknown).unwrap()
    }

    #[test]
    fn codes_of_known_values_missing_and_dropped() {
        let t = table(Missing::Code(Some(7)), Unknown::Error);
        let mut out = Vec::new();
        encode(&t, [Some("b"), None, Some("a"), Some("c")], 0, &mut out).unwrap();
        assert_eq!(out, vec![Some(1), Some(7), Some(0), None]);
    }

    #[test]
    fn unknown_values_error_with_their_row_or_get_a_code() {
        let t = table(Missing::Code(None), Unknown::Error);
        let mut out = Vec::new();
        let err = encode(&t, [Some("a"), Some("zz")], 10, &mut out).unwrap_err();
        assert_eq!(err, UnknownAt { row: 11 });

        let t = table(Missing::Unknown, Unknown::Code(Some(9)));
        let mut out = Vec::new();
        encode(&t, [Some("zz"), None, Some("b")], 0, &mut out).unwrap();
        assert_eq!(out, vec![Some(9), Some(9), Some(1)]);

        // A missing value that is no category is unknown: an error too.
        let t = table(Missing::Unknown, Unknown::Error);
        let err = encode(&t, [None::<&str>], 3, &mut Vec::new()).unwrap_err();
        assert_eq!(err.row, 3);
    }

    #[test]
    fn duplicate_categories_are_refused() {
        let err = CodeTable::new([1i64, 2, 1], &[], Missing::Unknown, Unknown::Error).unwrap_err();
        assert_eq!(err.position, 2);
    }

    #[test]
    fn float_keys_merge_signed_zeros_and_leave_nan_missing() {
        assert_eq!(float_key(0.0), float_key(-0.0));
        assert_eq!(float_key(f64::NAN), None);
        assert_ne!(float_key(1.0), float_key(-1.0));
        let t = CodeTable::new(
            [1.5f64, 0.0].iter().filter_map(|v| float_key(*v)),
            &[Some(0), Some(1)],
            Missing::Code(Some(2)),
            Unknown::Error,
        )
        .unwrap();
        let values = [-0.0, 1.5, f64::NAN].map(float_key);
        let mut out = Vec::new();
        encode(&t, values, 0, &mut out).unwrap();
        assert_eq!(out, vec![Some(1), Some(0), Some(2)]);
    }

    #[test]
    fn dictionary_ids_encode_as_their_keys() {
        let dictionary = ["c", "zz", "a"];
        let key_of = |id: usize| dictionary.get(id).copied();
        let t = table(Missing::Code(Some(5)), Unknown::Error);
        let mut out = Vec::new();
        encode_ids(
            &t,
            3,
            key_of,
            [Some(2), None, Some(0), Some(2)],
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, vec![Some(0), Some(5), None, Some(0)]);
        let err = encode_ids(&t, 3, key_of, [Some(0), Some(1)], 4, &mut Vec::new()).unwrap_err();
        assert_eq!(err.row, 5);
        // An id beyond the dictionary has no key: unknown.
        let t = table(Missing::Code(None), Unknown::Code(Some(9)));
        let mut out = Vec::new();
        encode_ids(&t, 3, key_of, [Some(7)], 0, &mut out).unwrap();
        assert_eq!(out, vec![Some(9)]);
    }

    /// An Arrow-like view: the length and up to 12 inline bytes, or for a
    /// longer value its length, prefix and a made-up buffer place.
    fn view_of(value: &str, place: u32) -> u128 {
        let mut word = [0u8; 16];
        word[..4].copy_from_slice(&(value.len() as u32).to_le_bytes());
        if value.len() <= 12 {
            word[4..4 + value.len()].copy_from_slice(value.as_bytes());
        } else {
            word[4..8].copy_from_slice(&value.as_bytes()[..4]);
            word[12..16].copy_from_slice(&place.to_le_bytes());
        }
        u128::from_le_bytes(word)
    }

    #[test]
    fn view_memo_finds_what_it_holds_as_it_grows_and_refuses_more_than_its_limit() {
        let mut memo: ViewMemo<u32> = ViewMemo::default();
        for i in 0..MEMO_VIEWS as u32 {
            // Views that differ only in high bytes, as short strings do.
            let view = u128::from(i) << 72 | 7;
            assert_eq!(memo.get(view), None);
            assert!(memo.insert(view, i));
        }
        assert!(!memo.insert(1, 0));
        for i in (0..MEMO_VIEWS as u32).step_by(97) {
            assert_eq!(memo.get(u128::from(i) << 72 | 7), Some(i));
        }
        let mut held: Vec<u32> = memo.entries().map(|(_, v)| v).collect();
        held.sort_unstable();
        assert!(held.iter().copied().eq(0..MEMO_VIEWS as u32));
    }

    #[test]
    fn views_count_as_their_values_across_arrays_and_beyond_the_memo() {
        let long = "a value longer than twelve bytes";
        // The views of an array whose row i sits at place i (a long value
        // at two places has two views).
        fn array<'a>(
            values: &'a [Option<&'a str>],
        ) -> (Vec<Option<u128>>, impl Fn(usize) -> Option<&'a str> + 'a) {
            let views = values
                .iter()
                .enumerate()
                .map(|(i, v)| v.map(|v| view_of(v, i as u32)))
                .collect();
            (views, move |i: usize| values.get(i).copied().flatten())
        }
        let a = vec![Some("b"), Some(long), None, Some(long), Some("b"), None];
        // More distinct values than the memo holds.
        let many: Vec<String> = (0..MEMO_VIEWS + 500).map(|i| format!("v{i}")).collect();
        let mut b: Vec<Option<&str>> = many.iter().map(|v| Some(v.as_str())).collect();
        b.extend([Some("b"), Some("v3"), Some("b")]);
        let (counted, nulls) = count_views([array(&a), array(&b)]);
        let counted = counted.into_counts();
        assert_eq!(nulls, 2);
        let mut expected: HashMap<&str, u64> = HashMap::new();
        for v in a.iter().chain(&b).flatten() {
            *expected.entry(v).or_default() += 1;
        }
        assert_eq!(counted.len(), expected.len());
        for (value, n) in &counted {
            assert_eq!(expected.get(value), Some(n), "{value}");
        }
    }

    #[test]
    fn code_columns_concatenate_values_and_validity() {
        let mut parts = Vec::new();
        for codes in [
            vec![Some(1), Some(2)],
            vec![Some(3), None],
            vec![],
            vec![Some(4)],
        ] {
            let mut part = CodeColumn::<u32>::with_capacity(codes.len());
            let mut wide = CodeColumn::<f64>::with_capacity(codes.len());
            for c in codes {
                part.put(c);
                wide.put(c);
            }
            parts.push((part, wide));
        }
        let (parts, wide): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let all = CodeColumn::concat(parts);
        assert_eq!(all.values, vec![1, 2, 3, 0, 4]);
        assert_eq!(all.validity, Some(vec![true, true, true, false, true]));
        let wide = CodeColumn::concat(wide);
        assert_eq!(wide.values, vec![1.0, 2.0, 3.0, 0.0, 4.0]);
        assert_eq!(wide.validity, all.validity);
        let none = CodeColumn::<u32>::concat(vec![]);
        assert!(none.values.is_empty() && none.validity.is_none());
    }

    #[test]
    fn views_encode_as_their_values() {
        let cats = [
            "a",
            "bb",
            "",
            "twelve_bytes",
            "thirteen_byte",
            "a much longer category",
        ];
        let codes: Vec<Code> = (0..cats.len()).map(|i| u32::try_from(i * 2).ok()).collect();
        let rows: Vec<Option<&str>> = vec![
            Some("a"),
            None,
            Some("thirteen_byte"),
            Some(""),
            Some("a much longer category"),
            Some("a"),
            Some("twelve_bytes"),
            Some("unseen"),
            Some("thirteen_byte"),
            Some("bb"),
            None,
        ];
        // Long values: one buffer place per distinct value, as in one array.
        let place = |v: &str| cats.iter().position(|c| *c == v).unwrap_or(99) as u32;
        let views: Vec<Option<u128>> = rows
            .iter()
            .map(|r| r.map(|v| view_of(v, place(v))))
            .collect();
        for (missing, unknown) in [
            (Missing::Code(Some(100)), Unknown::Code(Some(101))),
            (Missing::Unknown, Unknown::Code(None)),
            (Missing::Code(None), Unknown::Error),
        ] {
            let t = CodeTable::new(cats, &codes, missing, unknown).unwrap();
            let (mut by_view, mut by_value) = (Vec::new(), Vec::new());
            let got = encode_views(&t, views.iter().copied(), |i| rows[i], 5, &mut by_view);
            let expected = encode(&t, rows.iter().copied(), 5, &mut by_value);
            assert_eq!(got, expected, "{missing:?} {unknown:?}");
            assert_eq!(by_view, by_value, "{missing:?} {unknown:?}");
        }
        let t = CodeTable::new(cats, &codes, Missing::Unknown, Unknown::Error).unwrap();
        let mut out = Vec::new();
        let got = encode_views(&t, views.iter().copied(), |i| rows[i], 5, &mut out);
        assert_eq!(
            got,
            Err(UnknownAt { row: 6 }),
            "the first null row is unknown"
        );
    }

    #[test]
    fn keys_of_every_length_find_their_own_code() {
        // Lengths around the hasher's load boundaries, zero bytes included
        // ("a" and "a\0" differ), and prefixes of one another.
        let mut keys: Vec<String> = (0..40).map(|n| "x".repeat(n)).collect();
        keys.extend(["a", "a\0", "\0a", "ab", "ba", "city_01", "city_10"].map(String::from));
        keys.extend((0..40).map(|n| format!("{}y", "\0".repeat(n))));
        let codes: Vec<Code> = (0..keys.len()).map(|i| u32::try_from(i).ok()).collect();
        let t = CodeTable::new(
            keys.iter().map(String::as_str),
            &codes,
            Missing::Unknown,
            Unknown::Code(None),
        )
        .unwrap();
        let mut out = Vec::new();
        encode(&t, keys.iter().map(|k| Some(k.as_str())), 0, &mut out).unwrap();
        assert_eq!(out, codes);
        let mut hashes: Vec<u64> = keys
            .iter()
            .map(|k| {
                let mut h = KeyHasher::default();
                k.hash(&mut h);
                h.finish()
            })
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), keys.len());
    }

    #[test]
    fn group_codes_apply_each_group_its_own_table() {
        // Union categories: 0 = "a", 1 = "b", 2 = "c". Group 0 knows a and
        // b (missing is its code 2, unknown an error); group 1 knows c only,
        // drops nothing, and ignores unknown and missing values (null).
        let first = CodeTable::new(
            [0u32, 1],
            &[Some(0), Some(1)],
            Missing::Code(Some(2)),
            Unknown::Error,
        )
        .unwrap();
        let second =
            CodeTable::new([2u32], &[Some(3)], Missing::Unknown, Unknown::Code(None)).unwrap();
        let tables = [first, second];
        let slots = [
            Slot::Category(1),
            Slot::Category(2),
            Slot::Missing,
            Slot::Missing,
            Slot::Category(0),
            Slot::Unknown,
            Slot::Category(0),
        ];
        let groups = [Some(0), Some(1), Some(0), Some(1), Some(1), Some(1), None];
        let out = group_codes(&slots, &groups, &tables).unwrap();
        assert_eq!(out, vec![Some(1), Some(3), Some(2), None, None, None, None]);
        // "c" is no category of group 0: unknown there, an error at its row.
        let err = group_codes(
            &[Slot::Category(0), Slot::Category(2)],
            &[Some(0); 2],
            &tables,
        )
        .unwrap_err();
        assert_eq!(err.row, 1);
        let err = group_codes(&[Slot::Unknown], &[Some(0)], &tables).unwrap_err();
        assert_eq!(err.row, 0);
    }

    #[test]
    fn one_hot_sink_equals_the_codes_spread() {
        let t = table(Missing::Code(Some(2)), Unknown::Code(None));
        let values = [Some("b"), None, Some("zz"), Some("a"), Some("c")];
        let mut codes = Vec::new();
        encode(&t, values, 0, &mut codes).unwrap();
        let mut columns = vec![vec![0u8; values.len()]; 3];
        let mut sink = OneHotSink::new(columns.iter_mut().map(Vec::as_mut_slice).collect());
        encode(&t, values, 0, &mut sink).unwrap();
        assert_eq!(columns, one_hot_columns(&codes, 3));
        assert_eq!(
            one_hot_columns(&codes, 3),
            vec![
                vec![0, 0, 0, 1, 0],
                vec![1, 0, 0, 0, 0],
                vec![0, 1, 0, 0, 0]
            ]
        );
    }

    #[test]
    fn one_hot_columns_put_one_where_the_code_is() {
        let cols = one_hot_columns(&[Some(1), None, Some(0), Some(5)], 2);
        assert_eq!(cols, vec![vec![0, 0, 1, 0], vec![1, 0, 0, 0]]);
    }
}
