//! Near-duplicate selection at scale on synthetic clustered embeddings (512-d): groups of near-copies
//! around random directions, visited in a shuffled order. Prints time, kept count, how many of the
//! planted groups were found whole, and the peak memory of the process.
//!
//!   cargo run --release --example dedup_scale -- N [GROUP_SIZE] [THRESHOLD]

use std::time::Instant;

use framelabel::embed::similar::{Decision, normalise, select};

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
            // Noise of norm ~0.15 around the centre: members are ~0.99 alike, groups ~0 alike.
            for (r, c) in row.iter_mut().zip(&centre) {
                *r = c + rng.normal() * 0.15 / (dim as f32 / 3.0).sqrt();
            }
            normalise(row);
        }
    }
    // Visit in a shuffled order (a permutation by a multiplier coprime with n).
    let step = (0..).map(|k| 7919 + k).find(|s| gcd(*s, n) == 1).unwrap();
    let order: Vec<usize> = (0..n).map(|i| (i * step) % n).collect();
    let start = Instant::now();
    let d = select(&emb, dim, &order, threshold, |_, _| None);
    let secs = start.elapsed().as_secs_f64();
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
        "n {n}  dim {dim}  groups {groups}  threads {}  time {secs:.2} s  kept {kept}  groups found whole {:.2}%  peak RSS {:.0} MB",
        rayon::current_num_threads(),
        100.0 * whole as f64 / groups as f64,
        peak_rss_mb()
    );
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
