//! `framelabel dedup`: near-duplicate frames leave the dataset.
//!
//! Consecutive video frames are nearly identical; kept together they leak between train and test
//! splits and cost annotators the same work twice. Every kept frame is embedded, then the greedy,
//! order-independent selection of [`super::similar`] keeps the sharpest frame of each group.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Embedder;
use super::similar::{Decision, dot, dots, normalise, select_with};
use crate::dataset::{Dataset, FrameRecord, FrameStatus, write_atomic, write_json_atomic};
use crate::error::{Error, Result};
use crate::models::spec::ResolveOptions;
use crate::progress::Progress;
use crate::runtime::Device;
use crate::runtime::batch::run_pictures;

pub const EMBEDDINGS_FILE: &str = "embeddings.npy";
pub const EMBEDDINGS_NAMES_FILE: &str = "embeddings.json";

#[derive(Debug, Clone, Serialize)]
pub struct DedupConfig {
    pub dir: PathBuf,
    pub embedder: String,
    #[serde(skip)]
    pub resolve: ResolveOptions,
    #[serde(serialize_with = "crate::extract::serialize_display")]
    pub device: Device,
    pub threads: usize,
    pub batch_size: usize,
    /// Cosine similarity at or above which two frames are duplicates.
    pub threshold: f32,
    pub save_embeddings: bool,
    /// Move duplicates to `rejected/duplicate/` instead of deleting them.
    pub keep_rejected: bool,
    /// Frames of one video closer than this (seconds) to a kept frame are duplicates too.
    pub min_gap: Option<f64>,
    /// Above this many frames, candidates come from the approximate index ([`super::lsh`]).
    pub exact_limit: usize,
}

/// Kept frames tried first on each side in time, before all kept frames are compared.
const NEIGHBOURS: usize = 2;

/// Frames compared exactly with every kept frame by default; above, the approximate index.
pub const DEFAULT_EXACT_LIMIT: usize = 50_000;

/// The embedder as `run.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedderRecord {
    pub spec: String,
    pub file: PathBuf,
    pub sha256: String,
    pub device: String,
    pub output: String,
    pub dim: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DedupSummary {
    pub embedder: Option<EmbedderRecord>,
    pub parameters: DedupConfig,
    /// Kept frames considered.
    pub frames: u64,
    pub kept: u64,
    pub duplicates: u64,
    /// Of the duplicates, those only closer than --min-gap.
    pub too_close: u64,
    pub missing: u64,
    pub elapsed_s: f64,
    pub frames_per_s: f64,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

pub fn dedup(cfg: &DedupConfig, progress: Progress) -> Result<DedupSummary> {
    let started = Instant::now();
    let dataset = Dataset::open_existing(&cfg.dir)?;
    let mut records = dataset.read_frames()?;
    let items: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].status == FrameStatus::Kept && records[i].file.is_some())
        .collect();
    let mut summary = DedupSummary {
        embedder: None,
        parameters: cfg.clone(),
        frames: items.len() as u64,
        kept: 0,
        duplicates: 0,
        too_close: 0,
        missing: 0,
        elapsed_s: 0.0,
        frames_per_s: 0.0,
        warnings: Vec::new(),
    };
    if items.is_empty() {
        summary.warnings.push(format!(
            "{}: no kept frames to deduplicate; nothing changed",
            cfg.dir.display()
        ));
        return Ok(summary);
    }
    let Embedder {
        mut models, setup, ..
    } = {
        let e = Embedder::load(&cfg.embedder, &cfg.resolve, cfg.threads, cfg.device, true)?;
        summary.embedder = Some(e.record());
        e
    };
    let paths: Vec<PathBuf> = items
        .iter()
        .map(|&i| dataset.file_path(&records[i]))
        .collect();
    let dim = setup.dim;
    let mut emb = vec![0f32; items.len() * dim];
    let bar = progress.video("embed", Some(items.len() as u64));
    let read = run_pictures(
        &paths,
        &setup.preprocess,
        &mut models,
        cfg.batch_size,
        (cfg.threads / 2).clamp(1, 4),
        &bar,
        |outputs, b, pic| {
            let out = outputs
                .iter()
                .find(|o| o.name == setup.output)
                .expect("the output chosen at load time is produced");
            let row = &mut emb[pic.index * dim..(pic.index + 1) * dim];
            row.copy_from_slice(&out.data[b * dim..(b + 1) * dim]);
            normalise(row);
        },
    )?;
    bar.finish_and_clear();

    // Only frames that were read take part; the others are reported missing.
    let present: Vec<usize> = (0..items.len()).filter(|&k| read[k]).collect();
    for k in (0..items.len()).filter(|&k| !read[k]) {
        let rec = &mut records[items[k]];
        summary.missing += 1;
        summary.warnings.push(format!(
            "{}: frame file missing or unreadable; skipped",
            paths[k].display()
        ));
        rec.status = FrameStatus::Missing;
    }
    let decisions = decide(
        &records,
        &items,
        &present,
        &emb,
        dim,
        cfg.threshold,
        cfg.min_gap,
        cfg.exact_limit,
        cfg.threads,
    )?;
    let applied = apply(
        &dataset,
        &mut records,
        &items,
        &paths,
        &present,
        &decisions,
        cfg.threshold,
        cfg.keep_rejected,
    );
    summary.kept = applied.kept;
    summary.duplicates = applied.duplicates;
    summary.too_close = applied.too_close;
    let (moves, deletes) = (applied.moves, applied.deletes);

    if cfg.save_embeddings {
        save_embeddings(&dataset, &emb, dim, &present, &paths)?;
    }
    // Moved files first (nothing is lost if the run stops here), then the records, then deletions.
    dataset.move_files(&moves)?;
    dataset.rewrite_frames(&records)?;
    for f in &deletes {
        std::fs::remove_file(f).map_err(|e| Error::io(f, e))?;
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.frames_per_s = present.len() as f64 / summary.elapsed_s.max(1e-9);
    dataset.set_run_entry("dedup", &summary)?;
    Ok(summary)
}

/// `--save-embeddings`: the rows of the frames `present` as `embeddings.npy`, their file names in
/// `embeddings.json`.
pub fn save_embeddings(
    dataset: &Dataset,
    emb: &[f32],
    dim: usize,
    present: &[usize],
    paths: &[PathBuf],
) -> Result<()> {
    let rows: Vec<f32> = present
        .iter()
        .flat_map(|&k| emb[k * dim..(k + 1) * dim].iter().copied())
        .collect();
    let names: Vec<String> = present
        .iter()
        .map(|&k| {
            paths[k]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    write_npy(
        &dataset.root().join(EMBEDDINGS_FILE),
        &rows,
        present.len(),
        dim,
    )?;
    write_json_atomic(&dataset.root().join(EMBEDDINGS_NAMES_FILE), &names)
}

/// The order the rule visits frames in: sharpest first, ties by video then frame.
pub fn quality_order(a: &FrameRecord, b: &FrameRecord) -> std::cmp::Ordering {
    b.sharpness
        .total_cmp(&a.sharpness)
        .then_with(|| a.video.cmp(&b.video))
        .then_with(|| a.frame.cmp(&b.frame))
}

/// How many frames [`decide`] keeps at each of `thresholds`, from every pair's similarity computed
/// once (`items.len()`² floats: for the report's curve over a few thousand frames, where replaying
/// the rule at 31 thresholds cost more than the rest of the report). Every frame is embedded
/// (`emb` holds row `k` for `items[k]`).
pub fn kept_counts(
    records: &[FrameRecord],
    items: &[usize],
    emb: &[f32],
    dim: usize,
    thresholds: &[f32],
    min_gap: Option<f64>,
    threads: usize,
) -> Vec<u64> {
    let n = items.len();
    let row = |k: usize| &emb[k * dim..(k + 1) * dim];
    // One matrix product, in row blocks side by side. A pair this close to a threshold is
    // measured again with `dot`, as the rule measures it.
    const NEAR: f32 = 1e-5;
    let mut sims = vec![0f32; n * n];
    let per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (c, block) in sims.chunks_mut(per * n).enumerate() {
            s.spawn(move || {
                let rows = block.len() / n;
                dots(&emb[c * per * dim..(c * per + rows) * dim], emb, dim, block);
            });
        }
    });
    let similar = |i: usize, k: usize, t: f32| {
        let s = sims[i * n + k];
        if (s - t).abs() <= NEAR {
            dot(row(i), row(k)) >= t
        } else {
            s >= t
        }
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| quality_order(&records[items[a]], &records[items[b]]));
    let too_close = |a: usize, b: usize| {
        let (ra, rb) = (&records[items[a]], &records[items[b]]);
        min_gap.is_some_and(|g| ra.video == rb.video && (ra.pts - rb.pts).abs() < g)
    };
    let mut kept = Vec::with_capacity(n);
    thresholds
        .iter()
        .map(|&t| {
            kept.clear();
            for &i in &order {
                if !kept.iter().any(|&k| similar(i, k, t) || too_close(i, k)) {
                    kept.push(i);
                }
            }
            kept.len() as u64
        })
        .collect()
}

/// The rule's decisions for the items `present` (indexes into `items`, record indexes), whose
/// L2-normalised embeddings are rows of `emb`: frames in order of quality (sharpest first, ties by
/// video then frame), each a duplicate of the most similar kept frame at or above `threshold` (or,
/// with `min_gap`, of the nearest kept frame of its video closer in time), else kept. Above
/// `exact_limit` frames, each is compared only with the kept frames the approximate index proposes.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    records: &[FrameRecord],
    items: &[usize],
    present: &[usize],
    emb: &[f32],
    dim: usize,
    threshold: f32,
    min_gap: Option<f64>,
    exact_limit: usize,
    threads: usize,
) -> Result<Vec<Decision>> {
    let mut order = present.to_vec();
    order.sort_by(|&a, &b| quality_order(&records[items[a]], &records[items[b]]));
    let gap = |k: usize, kept: &[usize]| -> Option<usize> {
        let g = min_gap?;
        let r = &records[items[k]];
        kept.iter()
            .copied()
            .filter(|&j| records[items[j]].video == r.video)
            .map(|j| (j, (records[items[j]].pts - r.pts).abs()))
            .filter(|&(_, d)| d < g)
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(j, _)| j)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::usage("--threads", e.to_string()))?;
    // The kept frames of each video by frame number, grown as frames are kept.
    let mut by_video: HashMap<&str, BTreeMap<u64, usize>> = HashMap::new();
    let mut known = 0;
    let near = |k: usize, kept: &[usize]| -> Vec<usize> {
        for (pos, &j) in kept.iter().enumerate().skip(known) {
            let r = &records[items[j]];
            by_video.entry(&r.video).or_default().insert(r.frame, pos);
        }
        known = kept.len();
        let r = &records[items[k]];
        by_video
            .get(r.video.as_str())
            .map_or_else(Vec::new, |frames| {
                let before = frames.range(..r.frame).rev().take(NEIGHBOURS);
                let after = frames.range(r.frame..).take(NEIGHBOURS);
                before.chain(after).map(|(_, &pos)| pos).collect()
            })
    };
    Ok(pool.install(|| {
        if order.len() > exact_limit {
            super::lsh::select(emb, dim, &order, threshold, gap)
        } else {
            select_with(emb, dim, &order, threshold, gap, near)
        }
    }))
}

/// What [`apply`] changed, and the file operations it leaves to the caller (moves before the
/// records are rewritten, deletions after, so a stopped run loses nothing).
pub struct Applied {
    pub kept: u64,
    pub duplicates: u64,
    pub too_close: u64,
    pub moves: Vec<(PathBuf, PathBuf)>,
    pub deletes: Vec<PathBuf>,
}

/// Marks the duplicates among `present` in `records` (status, `duplicate_of`, `similarity`, file).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    dataset: &Dataset,
    records: &mut [FrameRecord],
    items: &[usize],
    paths: &[PathBuf],
    present: &[usize],
    decisions: &[Decision],
    threshold: f32,
    keep_rejected: bool,
) -> Applied {
    let mut a = Applied {
        kept: 0,
        duplicates: 0,
        too_close: 0,
        moves: Vec::new(),
        deletes: Vec::new(),
    };
    for &k in present {
        match decisions[k] {
            Decision::Kept => a.kept += 1,
            Decision::Duplicate { of, similarity } => {
                a.duplicates += 1;
                a.too_close += (similarity < threshold) as u64;
                let of_file = records[items[of]].file.clone().unwrap_or_default();
                let rec = &mut records[items[k]];
                rec.status = FrameStatus::Duplicate;
                rec.extra.insert("duplicate_of".into(), of_file.into());
                rec.extra.insert(
                    "similarity".into(),
                    ((similarity as f64 * 1e5).round() / 1e5).into(),
                );
                let from = paths[k].clone();
                if keep_rejected {
                    let name = from.file_name().unwrap_or_default().to_owned();
                    let to = dataset.rejected_dir(FrameStatus::Duplicate).join(name);
                    rec.file = Some(dataset.relative(&to));
                    a.moves.push((from, to));
                } else {
                    rec.file = None;
                    a.deletes.push(from);
                }
            }
        }
    }
    a
}

/// Writes a float32 `rows`×`dim` array in NumPy's .npy format, atomically.
fn write_npy(path: &std::path::Path, data: &[f32], rows: usize, dim: usize) -> Result<()> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, dim as u64])
        .writer(&mut buf)
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    w.extend(data.iter().copied())
        .map_err(|e| Error::io(path, e))?;
    w.finish().map_err(|e| Error::io(path, e))?;
    write_atomic(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of two videos drifting slowly through a few scenes, as 32-d unit vectors.
    fn frames() -> (Vec<FrameRecord>, Vec<f32>) {
        let dim = 32;
        let mut seed = 7u64;
        let mut noise = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let (mut records, mut emb) = (Vec::new(), Vec::new());
        for v in 0..2 {
            for f in 0..150u64 {
                let scene = (f / 25 + v) % 4;
                let mut row: Vec<f32> = (0..dim)
                    .map(|d| if d as u64 % 4 == scene { 1.0 } else { 0.0 } + 0.6 * noise())
                    .collect();
                normalise(&mut row);
                emb.extend(row);
                records.push(FrameRecord {
                    video: format!("v{v}"),
                    frame: f,
                    pts: f as f64 / 10.0,
                    width: 8,
                    height: 8,
                    sharpness: (50.0 + 40.0 * noise()).round() as f64,
                    entropy: 0.0,
                    noise: 0.0,
                    brightness: 0.0,
                    status: FrameStatus::Kept,
                    change: None,
                    still_of: None,
                    file: None,
                    extra: Default::default(),
                });
            }
        }
        (records, emb)
    }

    #[test]
    fn kept_counts_equal_the_rule_at_every_threshold() {
        let (records, emb) = frames();
        let items: Vec<usize> = (0..records.len()).collect();
        let mut ts: Vec<f32> = (70..=100).map(|p| p as f32 / 100.0).collect();
        // Thresholds exactly at a pair's similarity: the pair is a duplicate (>=) by either count.
        let row = |k: usize| &emb[k * 32..(k + 1) * 32];
        ts.extend((1..8).map(|k| dot(row(0), row(k))));
        for gap in [None, Some(1.5)] {
            let counts = kept_counts(&records, &items, &emb, 32, &ts, gap, 2);
            let rule: Vec<u64> = ts
                .iter()
                .map(|&t| {
                    decide(&records, &items, &items, &emb, 32, t, gap, 1000, 1)
                        .unwrap()
                        .iter()
                        .filter(|d| matches!(d, Decision::Kept))
                        .count() as u64
                })
                .collect();
            assert_eq!(counts, rule, "min gap {gap:?}");
            // The curve is not flat: the thresholds split groups differently.
            let steps = rule.windows(2).filter(|w| w[0] != w[1]).count();
            assert!(steps >= 5, "{rule:?}");
        }
    }
}
