//! Near-duplicate selection at scale on synthetic clustered embeddings (512-d): groups of near-copies
//! around random directions, visited in a shuffled order. Runs the approximate path (LSH) and, up to
//! 200 k frames (or with EXACT=1), the exact one; prints their times, kept counts, how many planted
//! groups each found whole, the share of the exact path's duplicates the approximate one finds, an
//! estimate of the duplicates it missed (a sample of its kept frames checked exactly), and the peak
//! memory of the process.
//!
//!   cargo run --release --example dedup_scale -- N [GROUP_SIZE] [THRESHOLD] [SPREAD]

use std::time::Instant;

use framelabel::embed::lsh;
use framelabel::embed::similar::{Decision, dot, normalise, select};
use rayon::prelude::*;

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal (sum of uniforms).
    fn normal(&mut self) -> f32 {
        (0..4).map(|_| self.next()).sum::<f32>() - 2.0
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let group: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let threshold: f32 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0.95);
    // Noise norm around each group's centre: members are ~1/(1+s²) alike (0.15: 0.98, 0.2: 0.96).
    let spread: f32 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(0.15);
    // The exact rule too (for the share of its duplicates the index finds): by default up to 200 k.
    let exact = std::env::var("EXACT").map_or(n <= 200_000, |v| v == "1");
    let dim = 512;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let groups = n.div_ceil(group);
    let mut emb = vec![0f32; n * dim];
    let mut centre = vec![0f32; dim];
    for g in 0..groups {
        centre.iter_mut().for_each(|c| *c = rng.normal());
        normalise(&mut centre);
        for k in 0..group {
            let i = g * group + k;
            if i >= n {
                break;
            }
            let row = &mut emb[i * dim..(i + 1) * dim];
            for (r, c) in row.iter_mut().zip(&centre) {
                *r = c + rng.normal() * spread / (dim as f32 / 3.0).sqrt();
            }
            normalise(row);
        }
    }
    // Visit in a shuffled order (a permutation by a multiplier coprime with n).
    let step = (0..).map(|k| 7919 + k).find(|s| gcd(*s, n) == 1).unwrap();
    let order: Vec<usize> = (0..n).map(|i| (i * step) % n).collect();
    println!(
        "n {n}  dim {dim}  groups of {group}  spread {spread}  threshold {threshold}  threads {}",
        rayon::current_num_threads()
    );

    let start = Instant::now();
    let approx = lsh::select(&emb, dim, &order, threshold, |_, _| None);
    let approx_s = start.elapsed().as_secs_f64();
    report("approximate (LSH)", &approx, approx_s, groups, group, n);
    let missed = missed_share(&emb, dim, &order, &approx, threshold);
    println!(
        "  approximate: sampled kept frames with an earlier kept frame at or above the threshold: {:.3}% \
         -> share of duplicates found {:.2}%",
        100.0 * missed,
        100.0 * found_share(&approx, missed)
    );
    if exact {
        let start = Instant::now();
        let d = select(&emb, dim, &order, threshold, |_, _| None);
        let exact_s = start.elapsed().as_secs_f64();
        report("exact", &d, exact_s, groups, group, n);
        let dups: Vec<usize> = (0..n)
            .filter(|&i| matches!(d[i], Decision::Duplicate { .. }))
            .collect();
        let found = dups
            .iter()
            .filter(|&&i| matches!(approx[i], Decision::Duplicate { .. }))
            .count();
        println!(
            "  exact duplicates the approximate path also marks: {found} of {} = {:.2}%  speed-up {:.1}x",
            dups.len(),
            100.0 * found as f64 / dups.len().max(1) as f64,
            exact_s / approx_s
        );
    }
    println!("  peak RSS {:.0} MB", peak_rss_mb());
}

fn report(name: &str, d: &[Decision], secs: f64, groups: usize, group: usize, n: usize) {
    let kept = d.iter().filter(|x| matches!(x, Decision::Kept)).count();
    let whole = (0..groups)
        .filter(|g| {
            let members = (g * group..((g + 1) * group).min(n)).collect::<Vec<_>>();
            members
                .iter()
                .filter(|&&i| matches!(d[i], Decision::Kept))
                .count()
                == 1
                && members.iter().all(|&i| match d[i] {
                    Decision::Duplicate { of, .. } => of / group == *g,
                    Decision::Kept => true,
                })
        })
        .count();
    println!(
        "  {name}: time {secs:.2} s  kept {kept}  duplicates {}  planted groups found whole {:.2}%",
        n - kept,
        100.0 * whole as f64 / groups as f64
    );
}

/// Of a sample of kept frames, the share that have an earlier kept frame at or above the
/// threshold: each is a duplicate the approximate path missed (exact check against every frame
/// kept before it).
fn missed_share(emb: &[f32], dim: usize, order: &[usize], d: &[Decision], t: f32) -> f64 {
    let kept: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| matches!(d[i], Decision::Kept))
        .collect();
    let sample: Vec<usize> = (0..kept.len())
        .step_by((kept.len() / 1000).max(1))
        .collect();
    let row = |i: usize| &emb[i * dim..(i + 1) * dim];
    let missed = sample
        .par_iter()
        .filter(|&&k| kept[..k].iter().any(|&j| dot(row(j), row(kept[k])) >= t))
        .count();
    missed as f64 / sample.len().max(1) as f64
}

/// Duplicates found over duplicates there are, with the missed ones estimated from the sample.
fn found_share(d: &[Decision], missed_share: f64) -> f64 {
    let kept = d.iter().filter(|x| matches!(x, Decision::Kept)).count() as f64;
    let dups = d.len() as f64 - kept;
    dups / (dups + missed_share * kept).max(1.0)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
