//! The approximate path of near-duplicate selection, for runs too large to compare every frame
//! with every kept frame (1 M frames with 100 k kept is 10¹¹ comparisons).
//!
//! Random-hyperplane LSH (SimHash): each frame gets `TABLES` codes of `BITS` signs of projections
//! on random directions. Two vectors at angle θ agree on a sign with probability 1 − θ/π, so a pair
//! at the default threshold (cos 0.95, θ = 18°) shares a whole code with probability 0.9^16 = 0.18
//! per table, and at least one of 24 codes with probability 0.992; unrelated frames (θ ≈ 90°) share a
//! code with probability 2⁻¹⁶. A frame is compared, exactly, only with the kept frames that share a
//! code with it. Closer pairs are found more surely (cos 0.97: 0.9996), so the pairs missed are the
//! borderline ones. The projections are one matrix product ([`dots`]), in fixed chunks, so
//! codes and decisions do not depend on the thread count.
//!
//! Why not an HNSW crate (an earlier attempt with hnsw_rs was reverted): the greedy rule needs an
//! index that grows by one kept frame at a time, in a fixed visiting order, and answers before the
//! next insertion; graph insertion is the expensive part of HNSW and is fast only in parallel
//! batches, whose result depends on thread timing. Hash tables insert in constant time, in order.

use rayon::prelude::*;

use super::similar::{Decision, better, dot, dots, duplicate};

/// Hash tables, and sign bits per code (a code indexes a table of 2^BITS buckets).
pub const TABLES: usize = 24;
pub const BITS: usize = 16;
/// Rows projected per task: fixed, so results do not depend on the thread count.
const CHUNK: usize = 2048;

/// Random unit-variance directions, `TABLES * BITS` rows of `dim`, the same for every run.
fn planes(dim: usize) -> Vec<f32> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..TABLES * BITS * dim)
        .map(|_| (0..4).map(|_| uniform()).sum::<f32>() - 2.0)
        .collect()
}

/// The codes of every row: `codes[i * TABLES + t]` is row i's code in table t.
pub fn codes(embeddings: &[f32], dim: usize) -> Vec<u16> {
    let n = embeddings.len() / dim;
    let planes = planes(dim);
    let m = TABLES * BITS;
    let mut out = vec![0u16; n * TABLES];
    out.par_chunks_mut(CHUNK * TABLES)
        .enumerate()
        .for_each(|(c, codes)| {
            let rows = codes.len() / TABLES;
            let a = &embeddings[c * CHUNK * dim..(c * CHUNK + rows) * dim];
            let mut proj = vec![0f32; rows * m];
            dots(a, &planes, dim, &mut proj);
            for (r, code_row) in codes.chunks_exact_mut(TABLES).enumerate() {
                let p = &proj[r * m..(r + 1) * m];
                for (t, code) in code_row.iter_mut().enumerate() {
                    *code = p[t * BITS..(t + 1) * BITS]
                        .iter()
                        .enumerate()
                        .fold(0u16, |c, (b, &v)| c | (((v > 0.0) as u16) << b));
                }
            }
        });
    out
}

/// Sign bits in which two codes differ, over all tables.
#[inline]
fn mismatches(a: &[u16], b: &[u16]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// The most differing sign bits a pair at cosine `threshold` shows, with 8 standard deviations of
/// margin: each of the `TABLES * BITS` bits differs with probability θ/π, independently (random
/// planes), so a pair at or above the threshold exceeds this with probability below 10⁻¹⁴, while
/// unrelated frames (θ ≈ 90°, half the bits) are far above it.
fn mismatch_limit(threshold: f32) -> u32 {
    let bits = (TABLES * BITS) as f64;
    let p = (threshold.clamp(-1.0, 1.0) as f64).acos() / std::f64::consts::PI;
    let limit = bits * p + 8.0 * (bits * p * (1.0 - p)).sqrt();
    limit.ceil().min(bits) as u32
}

/// [`super::similar::select`]'s rule, with each frame compared only with the kept frames that
/// share an LSH code with it.
pub fn select(
    embeddings: &[f32],
    dim: usize,
    order: &[usize],
    threshold: f32,
    mut extra: impl FnMut(usize, &[usize]) -> Option<usize>,
) -> Vec<Decision> {
    let n = embeddings.len() / dim;
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    let codes = codes(embeddings, dim);
    let bucket = |i: usize, t: usize| (t << BITS) | codes[i * TABLES + t] as usize;
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); TABLES << BITS];
    let code = |i: usize| &codes[i * TABLES..(i + 1) * TABLES];
    let far = mismatch_limit(threshold);
    let mut decisions = vec![Decision::Kept; n];
    let mut kept: Vec<usize> = Vec::new();
    // The last query that compared each kept frame: a frame in several shared buckets counts once.
    let mut seen: Vec<u32> = Vec::new();
    for (step, &i) in order.iter().enumerate() {
        let stamp = step as u32 + 1;
        let q = row(i);
        let mut best = (usize::MAX, f32::NEG_INFINITY);
        for t in 0..TABLES {
            for &pos in &buckets[bucket(i, t)] {
                let pos = pos as usize;
                if seen[pos] != stamp {
                    seen[pos] = stamp;
                    // Most candidates are chance collisions: their codes (48 bytes) tell, without
                    // reading their embeddings (2 KB each, from anywhere in memory).
                    if mismatches(code(kept[pos]), code(i)) <= far {
                        best = better(best, (pos, dot(row(kept[pos]), q)));
                    }
                }
            }
        }
        if let Some(d) = duplicate(i, best, threshold, &kept, &mut extra, |a, b| {
            dot(row(a), row(b))
        }) {
            decisions[i] = d;
            continue;
        }
        let pos = kept.len() as u32;
        kept.push(i);
        seen.push(0);
        for t in 0..TABLES {
            buckets[bucket(i, t)].push(pos);
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::similar::normalise;

    #[test]
    fn codes_agree_with_the_angle_and_not_with_the_chunking() {
        let dim = 64;
        let mut a: Vec<f32> = (0..dim).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        normalise(&mut a);
        let mut b = a.clone();
        b[0] += 0.05;
        normalise(&mut b);
        let mut c: Vec<f32> = (0..dim).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        normalise(&mut c);
        let rows: Vec<f32> = [&a, &b, &c]
            .iter()
            .flat_map(|r| r.iter().copied())
            .collect();
        let k = codes(&rows, dim);
        let same = |x: usize, y: usize| {
            (0..TABLES)
                .filter(|&t| k[x * TABLES + t] == k[y * TABLES + t])
                .count()
        };
        assert!(same(0, 1) >= TABLES / 2, "near copies share most codes");
        assert!(same(0, 2) <= 1, "unrelated vectors share almost none");
        // Row 1 alone, or after CHUNK other rows, gets the same codes.
        let mut many = vec![0f32; CHUNK * dim];
        many.extend_from_slice(&b);
        let k2 = codes(&many, dim);
        assert_eq!(&k2[CHUNK * TABLES..], &k[TABLES..2 * TABLES]);
    }

    #[test]
    fn finds_the_duplicates_the_exact_rule_finds() {
        let dim = 32;
        let e = crate::embed::similar::clusters(200, 5, dim, 0.03, 7);
        let order: Vec<usize> = (0..1000).collect();
        let exact = crate::embed::similar::select(&e, dim, &order, 0.95, |_, _| None);
        let approx = select(&e, dim, &order, 0.95, |_, _| None);
        assert_eq!(exact, approx);
    }
}
