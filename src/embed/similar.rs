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

/// Every row of `a` with every row of `b` (both row-major, rows of `dim`) as one matrix product:
/// `out[i * rows_of_b + j]` is row i of `a` times row j of `b`. Several times faster than pair by
/// pair, but its sums run in another order than [`dot`]'s, so a result can differ from it in the
/// last bits.
pub fn dots(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    let (m, n) = (a.len() / dim.max(1), b.len() / dim.max(1));
    assert!(
        dim > 0 && a.len() == m * dim && b.len() == n * dim && out.len() == m * n,
        "dots: matrices do not match"
    );
    // SAFETY: a is m × dim and b n × dim (row-major; b is read as its transpose, dim × n), out is
    // m × n, as checked above: every pointer covers exactly the extent its strides describe.
    unsafe {
        matrixmultiply::sgemm(
            m,
            dim,
            n,
            1.0,
            a.as_ptr(),
            dim as isize,
            1,
            b.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Dot product with 32 independent accumulators, which the compiler turns into four SIMD registers
/// (AVX2 when the CPU has it). Every comparison of a run goes through this one function, so the same
/// pair always gets the same similarity, whatever the thread count.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { dot_avx2(a, b) };
    }
    dot_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..L {
            acc[k] += x[k] * y[k];
        }
    }
    // Pairwise, in a fixed order.
    let mut w = L;
    while w > 1 {
        w /= 2;
        for k in 0..w {
            acc[k] += acc[k + w];
        }
    }
    acc[0] + tail
}

/// The scan of one block of kept rows against a block of queries.
fn scan_rows(
    rows: &[f32],
    first: usize,
    dim: usize,
    queries: &[&[f32]],
    best: &mut [(usize, f32)],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { scan_rows_avx2(rows, first, dim, queries, best) };
    }
    scan_rows_body(rows, first, dim, queries, best)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_rows_avx2(
    rows: &[f32],
    first: usize,
    dim: usize,
    queries: &[&[f32]],
    best: &mut [(usize, f32)],
) {
    scan_rows_body(rows, first, dim, queries, best)
}

#[inline(always)]
fn scan_rows_body(
    rows: &[f32],
    first: usize,
    dim: usize,
    queries: &[&[f32]],
    best: &mut [(usize, f32)],
) {
    for (i, r) in rows.chunks_exact(dim).enumerate() {
        for (b, q) in best.iter_mut().zip(queries) {
            *b = better(*b, (first + i, dot_body(r, q)));
        }
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Rows of kept frames handled by one task when searching in parallel.
const BLOCK: usize = 512;

/// Queries compared together: each kept row is read once per block of queries, not once per query,
/// so the scan runs from cache instead of memory.
const QUERIES: usize = 64;

/// The better of two (position, similarity) candidates: higher similarity, then lower position.
#[inline]
pub(crate) fn better(a: (usize, f32), b: (usize, f32)) -> (usize, f32) {
    if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
        b
    } else {
        a
    }
}

/// For each query (rows of `queries`), the most similar row of `kept`: (position, similarity), or
/// `(usize::MAX, -inf)` when `kept` is empty.
fn most_similar_block(kept: &[f32], dim: usize, queries: &[&[f32]]) -> Vec<(usize, f32)> {
    let none = (usize::MAX, f32::NEG_INFINITY);
    let scan = |(block, rows): (usize, &[f32])| -> Vec<(usize, f32)> {
        let mut best = vec![none; queries.len()];
        scan_rows(rows, block * BLOCK, dim, queries, &mut best);
        best
    };
    let merge = |a: Vec<(usize, f32)>, b: Vec<(usize, f32)>| {
        a.into_iter().zip(b).map(|(x, y)| better(x, y)).collect()
    };
    if kept.len() / dim <= BLOCK {
        return scan((0, kept));
    }
    kept.par_chunks(BLOCK * dim)
        .enumerate()
        .map(scan)
        .reduce(|| vec![none; queries.len()], merge)
}

/// The rule for frame `i`, given the most similar kept frame found (its position in `kept` and the
/// similarity): a duplicate of it at or above the threshold, else of the frame `extra` names (with
/// the similarity `sim` gives), else `None`: the frame is kept.
pub(crate) fn duplicate(
    i: usize,
    best: (usize, f32),
    threshold: f32,
    kept: &[usize],
    extra: &mut impl FnMut(usize, &[usize]) -> Option<usize>,
    sim: impl Fn(usize, usize) -> f32,
) -> Option<Decision> {
    if best.0 != usize::MAX && best.1 >= threshold {
        return Some(Decision::Duplicate {
            of: kept[best.0],
            similarity: best.1,
        });
    }
    extra(i, kept).map(|of| Decision::Duplicate {
        of,
        similarity: sim(i, of),
    })
}

/// Decides every frame. `order` lists the input indexes best first; `extra` may declare a frame a
/// duplicate of a kept one for other reasons (a minimum time gap), given the kept indexes so far.
pub fn select(
    embeddings: &[f32],
    dim: usize,
    order: &[usize],
    threshold: f32,
    extra: impl FnMut(usize, &[usize]) -> Option<usize>,
) -> Vec<Decision> {
    select_with(embeddings, dim, order, threshold, extra, |_, _| Vec::new())
}

/// The similarity to a kept frame above which no other kept frame can be more similar: kept frames
/// are at least acos(threshold) apart, so a frame within half that angle of one is nearer to it
/// than to any other (with a margin far above rounding errors).
pub fn sure_bound(threshold: f32) -> f32 {
    ((threshold.clamp(-1.0, 1.0) as f64).acos() / 2.0).cos() as f32 + 1e-4
}

/// [`select`], trying first the kept frames `near(i, kept)` proposes (positions in `kept`: the
/// frames next to it in its video). When one of them is within [`sure_bound`], it is the most
/// similar kept frame, and the scan of all kept frames is skipped; the decisions are the same.
pub fn select_with(
    embeddings: &[f32],
    dim: usize,
    order: &[usize],
    threshold: f32,
    mut extra: impl FnMut(usize, &[usize]) -> Option<usize>,
    mut near: impl FnMut(usize, &[usize]) -> Vec<usize>,
) -> Vec<Decision> {
    let n = embeddings.len() / dim;
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    let sure = sure_bound(threshold);
    let mut decisions = vec![Decision::Kept; n];
    let mut kept_rows: Vec<f32> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    for block in order.chunks(QUERIES) {
        let before = kept.len();
        // Neighbours in time first: most frames of a video are settled by one of them...
        let settled: Vec<Option<(usize, f32)>> = block
            .iter()
            .map(|&i| {
                near(i, &kept)
                    .into_iter()
                    .map(|pos| (pos, dot(row(kept[pos]), row(i))))
                    .filter(|b| b.1 >= sure)
                    .reduce(better)
            })
            .collect();
        // ...the others against everything kept before this block, all queries at once...
        let open: Vec<&[f32]> = block
            .iter()
            .zip(&settled)
            .filter(|(_, s)| s.is_none())
            .map(|(&i, _)| row(i))
            .collect();
        let mut best = most_similar_block(&kept_rows, dim, &open).into_iter();
        // ...then, in order, against what this block itself kept.
        for (&i, settled) in block.iter().zip(settled) {
            let b = match settled {
                Some(b) => b,
                None => {
                    let mut b = best.next().expect("one result per open query");
                    let q = row(i);
                    for (pos, &k) in kept.iter().enumerate().skip(before) {
                        b = better(b, (pos, dot(row(k), q)));
                    }
                    b
                }
            };
            match duplicate(i, b, threshold, &kept, &mut extra, |a, b| {
                dot(row(a), row(b))
            }) {
                Some(d) => decisions[i] = d,
                None => {
                    kept.push(i);
                    kept_rows.extend_from_slice(row(i));
                }
            }
        }
    }
    decisions
}

/// `groups` × `size` unit vectors of `dim`, each group spread by `noise` around a random centre
/// (a fixed generator: the same vectors every run), group by group.
#[cfg(test)]
pub(crate) fn clusters(groups: usize, size: usize, dim: usize, noise: f32, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut r = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut e = Vec::with_capacity(groups * size * dim);
    for _ in 0..groups {
        let centre: Vec<f32> = (0..dim).map(|_| r()).collect();
        for _ in 0..size {
            let mut v: Vec<f32> = centre.iter().map(|c| c + r() * noise).collect();
            normalise(&mut v);
            e.extend(v);
        }
    }
    e
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
    fn neighbours_settle_frames_without_changing_any_decision() {
        // Groups of near-copies in a random order; `near` proposes every kept frame of the group.
        let dim = 16;
        let e = clusters(100, 8, dim, 0.08, 11);
        let order: Vec<usize> = (0..800).map(|i| (i * 7919) % 800).collect();
        for t in [0.9f32, 0.95, 0.99] {
            let plain = select(&e, dim, &order, t, |_, _| None);
            let (mut asked, mut settled) = (0, 0);
            let row = |i: usize| &e[i * dim..(i + 1) * dim];
            let hinted = select_with(
                &e,
                dim,
                &order,
                t,
                |_, _| None,
                |i, kept| {
                    let near: Vec<usize> =
                        (0..kept.len()).filter(|&p| kept[p] / 8 == i / 8).collect();
                    asked += 1;
                    settled += near
                        .iter()
                        .any(|&p| dot(row(kept[p]), row(i)) >= sure_bound(t))
                        as usize;
                    near
                },
            );
            assert_eq!(plain, hinted, "threshold {t}");
            assert_eq!(asked, 800);
            // The shortcut was taken, and often (not a test of the full scan only); at 0.99 the
            // bound (0.9976) is above most of these pairs.
            assert!(
                t >= 0.99 || settled > 200,
                "threshold {t}: {settled} settled"
            );
        }
        assert!(sure_bound(0.95) > 0.987 && sure_bound(0.95) < 0.989);
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
        let (pos, s) = most_similar_block(&rows, dim, &[q])[0];
        let serial = rows
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (i, dot(r, q)))
            .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
        assert_eq!((pos, s), serial);
    }
}
