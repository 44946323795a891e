//! Greedy near-duplicate selection over L2-normalised embeddings, exact, without an N×N matrix.
//!
//! Frames are visited best first; each is compared with every frame kept so far and becomes a
//! duplicate of the most similar one when that similarity reaches the threshold. Visiting in a fixed
//! order and breaking ties by position makes the result independent of thread count and file order,
//! and guarantees what users rely on: kept frames are pairwise below the threshold, and every
//! duplicate names a kept frame at or above it. Memory is the embeddings plus the kept rows.

use rayon::prelude::*;

/// What happened to one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Kept,
    /// A duplicate of frame `of` (an index into the input), with its similarity to it.
    Duplicate {
        of: usize,
        similarity: f32,
    },
}

/// Dot product with eight independent accumulators, which the compiler turns into SIMD.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Rows of kept frames handled by one task when searching in parallel.
const BLOCK: usize = 2048;

/// The most similar row of `kept` (row-major, `dim` wide) to `q`: (position, similarity); the lowest
/// position wins ties.
fn most_similar(kept: &[f32], dim: usize, q: &[f32]) -> Option<(usize, f32)> {
    let better = |a: (usize, f32), b: (usize, f32)| {
        if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
            b
        } else {
            a
        }
    };
    let scan = |(block, rows): (usize, &[f32])| {
        rows.chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (block * BLOCK + i, dot(r, q)))
            .reduce(better)
    };
    if kept.len() / dim <= BLOCK {
        return scan((0, kept));
    }
    kept.par_chunks(BLOCK * dim)
        .enumerate()
        .filter_map(scan)
        .reduce_with(better)
}

/// Decides every frame. `order` lists the input indexes best first; `extra` may declare a frame a
/// duplicate of a kept one for other reasons (a minimum time gap), given the kept indexes so far.
pub fn select(
    embeddings: &[f32],
    dim: usize,
    order: &[usize],
    threshold: f32,
    mut extra: impl FnMut(usize, &[usize]) -> Option<usize>,
) -> Vec<Decision> {
    let n = embeddings.len() / dim;
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    let mut decisions = vec![Decision::Kept; n];
    let mut kept_rows: Vec<f32> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    for &i in order {
        let q = row(i);
        match most_similar(&kept_rows, dim, q) {
            Some((pos, s)) if s >= threshold => {
                decisions[i] = Decision::Duplicate {
                    of: kept[pos],
                    similarity: s,
                };
                continue;
            }
            _ => {}
        }
        if let Some(of) = extra(i, &kept) {
            decisions[i] = Decision::Duplicate {
                of,
                similarity: dot(q, row(of)),
            };
            continue;
        }
        kept.push(i);
        kept_rows.extend_from_slice(q);
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_name_the_most_similar_kept_frame() {
        // Three directions in 2-D: a, a slightly turned (dup of a), b orthogonal, c between.
        let mut e = vec![1.0, 0.0, 0.99, 0.141, 0.0, 1.0, 0.6, 0.8];
        for r in e.chunks_exact_mut(2) {
            normalise(r);
        }
        let d = select(&e, 2, &[0, 1, 2, 3], 0.95, |_, _| None);
        assert_eq!(d[0], Decision::Kept);
        assert!(matches!(d[1], Decision::Duplicate { of: 0, similarity } if similarity > 0.98));
        assert_eq!(d[2], Decision::Kept);
        assert_eq!(d[3], Decision::Kept); // 0.6 to a, 0.8 to b: below 0.95
        // Visiting c first changes what is kept, never the guarantees.
        let d = select(&e, 2, &[3, 0, 1, 2], 0.5, |_, _| None);
        assert_eq!(d[3], Decision::Kept);
        assert!(matches!(d[0], Decision::Duplicate { of: 3, .. }));
        assert!(matches!(d[2], Decision::Duplicate { of: 3, .. }));
    }

    #[test]
    fn dot_handles_tails_and_blocks_agree() {
        let a: Vec<f32> = (0..21).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..21).map(|i| (i * i) as f32).sum::<f32>());
        // Parallel blocks give the same answer as one scan.
        let dim = 4;
        let rows: Vec<f32> = (0..(3 * BLOCK + 5) * dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let q = &rows[(2 * BLOCK + 3) * dim..(2 * BLOCK + 4) * dim];
        let (pos, s) = most_similar(&rows, dim, q).unwrap();
        let serial = rows
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (i, dot(r, q)))
            .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
        assert_eq!((pos, s), serial);
    }
}
