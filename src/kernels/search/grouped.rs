//! Filtered and grouped search: each query is searched only among the rows
//! of its own group (a filter is one group holding the rows that pass).
//! Each group is searched by [`search`] on its rows alone, in their corpus
//! order, so the result is, bit for bit, what searching the filtered or
//! grouped frame gives; positions come back as corpus positions. The cost
//! grows with the rows of the searched groups, not with the corpus.

use rayon::prelude::*;

use super::{search, Corpus, Found, Request, SearchError};
use crate::kernels::element::F16;

/// A query whose group is this matches no row (e.g. a null key).
pub const NO_GROUP: u32 = u32::MAX;

/// Which rows each query may match: row `i` is in group `rows[i]` (`None`:
/// in none, never found), query `q` in group `queries[q]`
/// ([`NO_GROUP`]: matches nothing).
#[derive(Debug, Clone, Copy)]
pub struct Groups<'g> {
    pub rows: &'g [Option<u32>],
    pub queries: &'g [u32],
}

/// Why a grouped search cannot run on its input.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupError {
    /// The groups name `found` rows (or queries) where there are `expected`.
    Lengths {
        what: &'static str,
        found: usize,
        expected: usize,
    },
    Search(SearchError),
}

impl From<SearchError> for GroupError {
    fn from(error: SearchError) -> Self {
        GroupError::Search(error)
    }
}

impl GroupError {
    /// The message for a user who called `function` (`what` names the queries).
    pub fn message(&self, function: &str, what: &str) -> String {
        match self {
            GroupError::Lengths {
                what: side,
                found,
                expected,
            } => format!("{function}: {found} group keys for {expected} {side}"),
            GroupError::Search(error) => error.message(function, what),
        }
    }
}

/// The rows of one group, gathered without copying their numbers.
enum Gathered<'a> {
    F64(Vec<Option<&'a [f64]>>),
    F32(Vec<Option<&'a [f32]>>),
    F16(Vec<Option<&'a [F16]>>),
    I8(Vec<Option<&'a [i8]>>),
    U8(Vec<Option<&'a [u8]>>),
    Bits(Vec<Option<&'a [u8]>>),
}

impl<'a> Gathered<'a> {
    fn of(corpus: Corpus<'a>, positions: &[u32]) -> Self {
        fn pick<'a, T>(rows: &[Option<&'a [T]>], positions: &[u32]) -> Vec<Option<&'a [T]>> {
            positions
                .iter()
                .map(|&p| rows.get(p as usize).copied().flatten())
                .collect()
        }
        match corpus {
            Corpus::F64(rows) => Gathered::F64(pick(rows, positions)),
            Corpus::F32(rows) => Gathered::F32(pick(rows, positions)),
            Corpus::F16(rows) => Gathered::F16(pick(rows, positions)),
            Corpus::I8(rows) => Gathered::I8(pick(rows, positions)),
            Corpus::U8(rows) => Gathered::U8(pick(rows, positions)),
            Corpus::Bits(rows) => Gathered::Bits(pick(rows, positions)),
        }
    }

    fn corpus(&self) -> Corpus<'_> {
        match self {
            Gathered::F64(rows) => Corpus::F64(rows),
            Gathered::F32(rows) => Corpus::F32(rows),
            Gathered::F16(rows) => Corpus::F16(rows),
            Gathered::I8(rows) => Corpus::I8(rows),
            Gathered::U8(rows) => Corpus::U8(rows),
            Gathered::Bits(rows) => Corpus::Bits(rows),
        }
    }
}

fn corpus_len(corpus: Corpus<'_>) -> usize {
    match corpus {
        Corpus::F64(rows) => rows.len(),
        Corpus::F32(rows) => rows.len(),
        Corpus::F16(rows) => rows.len(),
        Corpus::I8(rows) => rows.len(),
        Corpus::U8(rows) | Corpus::Bits(rows) => rows.len(),
    }
}

/// The `k` best rows of each query among the rows at `positions` (in
/// corpus order), as corpus positions: [`search`] on those rows alone, so
/// a filter's cost grows with the rows that pass.
pub fn search_among(
    corpus: Corpus<'_>,
    request: &Request<'_>,
    positions: &[u32],
) -> Result<Found, SearchError> {
    let gathered = Gathered::of(corpus, positions);
    search_gathered(gathered.corpus(), request, positions)
}

/// [`search`] on `rows`, the rows at `positions` of a corpus gathered in
/// order, with the results (and a width error's row) numbered as in the
/// corpus.
pub fn search_gathered(
    rows: Corpus<'_>,
    request: &Request<'_>,
    positions: &[u32],
) -> Result<Found, SearchError> {
    let corpus_row = |local: usize| positions.get(local).map_or(local, |&p| p as usize);
    let found = search(rows, request).map_err(|error| match error {
        SearchError::Width {
            row,
            found,
            expected,
        } => SearchError::Width {
            row: corpus_row(row),
            found,
            expected,
        },
        other => other,
    })?;
    Ok(found
        .into_iter()
        .map(|best| {
            best.into_iter()
                .map(|(local, score)| (corpus_row(local as usize) as u32, score))
                .collect()
        })
        .collect())
}

/// The `k` best rows of each query among the rows of its group, best
/// first, as corpus positions: [`search`] run on each group's rows alone
/// (groups in parallel, each with the queries of that group).
pub fn search_grouped(
    corpus: Corpus<'_>,
    request: &Request<'_>,
    groups: Groups<'_>,
) -> Result<Found, GroupError> {
    let (m, d) = (request.m, request.d);
    let lengths = [
        ("rows", groups.rows.len(), corpus_len(corpus)),
        ("queries", groups.queries.len(), m),
    ];
    for (what, found, expected) in lengths {
        if found != expected {
            return Err(GroupError::Lengths {
                what,
                found,
                expected,
            });
        }
    }
    // Dense numbers for the groups that have queries; rows of other groups
    // are never read.
    let mut dense: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut members: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
    for (q, &group) in groups.queries.iter().enumerate() {
        if group == NO_GROUP {
            continue;
        }
        let slot = *dense.entry(group).or_insert_with(|| {
            members.push((Vec::new(), Vec::new()));
            members.len() - 1
        });
        members[slot].1.push(q);
    }
    for (row, group) in groups.rows.iter().enumerate() {
        if let Some(&slot) = group.and_then(|g| dense.get(&g)) {
            members[slot].0.push(row as u32);
        }
    }
    let searched: Vec<Result<Found, SearchError>> = members
        .par_iter()
        .map(|(rows, queries)| {
            let mut own = Vec::with_capacity(queries.len() * d);
            for &q in queries {
                own.extend_from_slice(request.queries.get(q * d..(q + 1) * d).unwrap_or(&[]));
            }
            let sub = Request {
                queries: &own,
                m: queries.len(),
                ..*request
            };
            search_among(corpus, &sub, rows)
        })
        .collect();
    let mut found: Found = vec![Vec::new(); m];
    for ((_, queries), result) in members.iter().zip(searched) {
        for (&q, best) in queries.iter().zip(result?) {
            if let Some(slot) = found.get_mut(q) {
                *slot = best;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::search::{Metric, SearchMetric};

    fn rows(n: usize, d: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| {
                (0..d)
                    .map(|j| (((i * 31 + j * 17) % 97) as f32 - 48.0) / 48.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn each_group_is_searched_as_a_frame_of_its_own() {
        let (n, d, k) = (500, 24, 5);
        let data = rows(n, d);
        let mut slices: Vec<Option<&[f32]>> = data.iter().map(|r| Some(&r[..])).collect();
        slices[7] = None;
        let row_groups: Vec<Option<u32>> = (0..n)
            .map(|i| {
                if i % 11 == 0 {
                    None
                } else {
                    Some((i % 3) as u32)
                }
            })
            .collect();
        let query_groups = [0, 2, NO_GROUP, 1, 2, 9];
        let m = query_groups.len();
        let queries: Vec<f64> = (0..m * d)
            .map(|i| ((i * 13 % 29) as f64 - 14.0) / 7.0)
            .collect();
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let request = Request {
                queries: &queries,
                m,
                d,
                k,
                metric: SearchMetric::Float(metric),
            };
            let groups = Groups {
                rows: &row_groups,
                queries: &query_groups,
            };
            let found = search_grouped(Corpus::F32(&slices), &request, groups).unwrap();
            for (q, &group) in query_groups.iter().enumerate() {
                // The frame of the group alone, searched for this query.
                let positions: Vec<u32> = (0..n as u32)
                    .filter(|&i| row_groups[i as usize] == Some(group) && group != NO_GROUP)
                    .collect();
                let own: Vec<Option<&[f32]>> =
                    positions.iter().map(|&p| slices[p as usize]).collect();
                let one = Request {
                    queries: &queries[q * d..(q + 1) * d],
                    m: 1,
                    ..request
                };
                let alone = search(Corpus::F32(&own), &one).unwrap();
                let expected: Vec<(u32, u64)> = alone[0]
                    .iter()
                    .map(|&(p, s)| (positions[p as usize], s.to_bits()))
                    .collect();
                let got: Vec<(u32, u64)> =
                    found[q].iter().map(|&(p, s)| (p, s.to_bits())).collect();
                assert_eq!(got, expected, "query {q}, {metric:?}");
            }
        }
    }

    #[test]
    fn mismatched_group_lengths_are_errors() {
        let data = rows(3, 4);
        let slices: Vec<Option<&[f32]>> = data.iter().map(|r| Some(&r[..])).collect();
        let queries = [0.0; 4];
        let request = Request {
            queries: &queries,
            m: 1,
            d: 4,
            k: 1,
            metric: SearchMetric::Float(Metric::Dot),
        };
        let groups = Groups {
            rows: &[Some(0), Some(0)],
            queries: &[0],
        };
        assert!(matches!(
            search_grouped(Corpus::F32(&slices), &request, groups),
            Err(GroupError::Lengths { what: "rows", .. })
        ));
    }

    #[test]
    fn a_width_error_names_the_corpus_row() {
        let data = rows(6, 4);
        let mut slices: Vec<Option<&[f32]>> = data.iter().map(|r| Some(&r[..])).collect();
        slices[4] = Some(&data[4][..3]);
        let queries = [1.0; 4];
        let request = Request {
            queries: &queries,
            m: 1,
            d: 4,
            k: 2,
            metric: SearchMetric::Float(Metric::Dot),
        };
        let row_groups = [None, Some(1), None, Some(1), Some(1), None];
        let groups = Groups {
            rows: &row_groups,
            queries: &[1],
        };
        let error = search_grouped(Corpus::F32(&slices), &request, groups).unwrap_err();
        assert_eq!(
            error,
            GroupError::Search(SearchError::Width {
                row: 4,
                found: 3,
                expected: 4
            })
        );
    }
}
