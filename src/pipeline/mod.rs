//! `framelabel run`: every stage in one pass, streaming, and resumable after a crash or a kill.
//!
//! ```text
//!  main thread ── extract (decode ▶ quality ▶ embedder input) ─▶ kept frames ─▶ embed thread ─▶ survivors ─▶ write thread ─▶ detect thread
//!                 .framelabel/frames.jsonl                          + picture     embeddings.bin   (early, per video)   (JPEG)     detections.jsonl
//!                                                                                      └─ survivors whose picture was dropped ─▶ again thread ─┘
//! ```
//!
//! The stages overlap on their own threads joined by bounded channels, so memory stays flat. The
//! embedder sees the decoded frame, prepared by the frame workers while it is in memory: reading
//! every JPEG back cost more than the embedding model itself. The expensive detector sees the frames
//! that survive deduplication: those that will very likely survive as soon as the frames around them
//! are embedded (`early.rs`), the others of their video at its end. The dedup rule of the `dedup`
//! stage needs every embedding (it walks frames in order of quality), so the final decision is taken
//! once, over the whole run, at the end: a frame it keeps that was not labelled yet is labelled then,
//! and frames labelled but then dropped are counted. Extraction and detection are those of `extract`
//! and `label`; the dedup stage embeds the JPEGs instead of the frames, so near the threshold the
//! two may decide a frame differently (the README has the figures).
//!
//! A kept frame's JPEG is written only once the frame is likely to survive (unless duplicates are
//! kept aside): its picture travels with it, within a budget ([`crate::extract::unwritten`]), and is
//! dropped when the early verdict finds it a duplicate. Survivors whose picture was dropped are
//! decoded again from their video, by the again thread, or at the end for the run-wide rule.
//!
//! Everything a run computes is written under `DIR/.framelabel/` as it goes (records, embeddings,
//! detections, finished videos), each line or row flushed when done. A killed run started again
//! with the same parameters skips finished videos, restarts the one it was in, reuses every
//! embedding and detection it has, and then writes the same output an uninterrupted run writes. The
//! output files themselves are written only at the end, from those records alone, so writing them
//! again after an interruption gives the same result.

mod cache;
mod early;
pub mod merge;
pub mod plan;
mod track;

pub use track::{DEFAULT_TRACK_FPS, TrackConfig, TrackSummary};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::coco;
use crate::dataset::{Dataset, FrameRecord, FrameStatus, RecordWriter, write_json_atomic};
use crate::detect::Detector;
use crate::detect::decode::{DecodeParams, decode};
use crate::detect::label::{self, LabelConfig, LabelSummary, Labelled};
use crate::embed::Embedder;
use crate::embed::dedup::{self, DedupConfig, DedupSummary};
use crate::embed::similar::{Decision, normalise};
use crate::error::{Error, Result};
use crate::export::{ExportConfig, Exported, Format};
use crate::extract::decode::{DecodedFrame, Keyframe};
use crate::extract::picture::{Encoder, Output, placement, render};
use crate::extract::unwritten::{Deferral, Unwritten, write_again};
use crate::extract::{self, ExtractConfig, Input, KeptFrameHook, RunSummary, VideoSummary};
use crate::models::spec::ResolvedModel;
use crate::progress::Progress;
use crate::runtime::batch::run_pictures;
use crate::runtime::preprocess::Preprocess;
use crate::state::Embeddings;
use cache::{Detections, StateDir, VideoKeyframes};
use early::Early;

/// Decoded pictures of kept frames held until deduplication judges them, at most (bytes): 145
/// frames of the sample video (4:2:0 planes), 30 of 1080p, 3 of 4K 10-bit (RGB). Past it, JPEGs
/// are written at once: none of the sample's frames on a 2-core AMD EPYC, 4 to 6 of its 795 on a
/// 2-core Xeon with AVX-512 (where the embedder is faster next to the rest). 4K frames need more
/// than this holds (8 s of 4K at 30 frames/s: 192 of 240 written at once).
const DEFER_BYTES: u64 = 96 << 20;

/// A survivor on its way to the detector, with its picture when its JPEG is not written yet.
type Survivor = (FrameRecord, Option<Unwritten>);

/// Survivors of a video (its path) whose pictures were dropped as likely duplicates, and the key
/// frames its decoding met (to decode them again from the nearest).
type Again = (PathBuf, Vec<FrameRecord>, Vec<Keyframe>);

/// Embeddings are flushed to the run's cache at least every this many frames; the queue to the
/// embed thread holds twice as many.
const EMBED_CHUNK: usize = 32;

/// A validated `run` configuration: the stage configurations, all on one output folder.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub extract: ExtractConfig,
    pub dedup: DedupConfig,
    pub label: LabelConfig,
    pub exports: Vec<Format>,
    pub export_with_scores: bool,
    pub export_image_root: Option<String>,
    /// Training, validation and test subsets of the exports.
    pub export_split: Option<crate::export::SplitConfig>,
    /// Write the report at the end, with this many annotated frames.
    pub report: Option<usize>,
    /// Stop after deduplication (`--no-label`): the output is what `extract` and `dedup` write.
    pub no_label: bool,
    /// Label every kept frame, without deduplicating (`--no-dedup`).
    pub no_dedup: bool,
    /// Take one shard of the job (`--shard`): its units of [`plan::Plan`].
    pub shard: Option<plan::ShardRun>,
    /// Track objects and review the kept frames (`--track`).
    pub track: Option<TrackConfig>,
    /// The options the run was started with, as `--config` reads them: a shard records them for
    /// `merge`.
    #[serde(skip)]
    pub options: Option<String>,
}

/// What `run` did: `run.json` holds the same (the extract summary at the top, one entry per stage).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub extract: RunSummary,
    /// `None` with `--no-dedup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup: Option<DedupSummary>,
    /// `None` with `--no-label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelSummary>,
    pub exports: Vec<Exported>,
    pub report: Option<crate::report::Written>,
    /// `None` without `--track`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackSummary>,
    pub run: RunStats,
}

/// The run as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    /// Whether an earlier, unfinished run in the same folder was continued.
    pub resumed: bool,
    /// Videos an earlier run had finished, not decoded again.
    pub videos_skipped: u64,
    /// Embeddings and detections taken from an earlier run instead of computed.
    pub embeddings_reused: u64,
    pub detections_reused: u64,
    /// Frames the detector ran on (survivors, early or at the end of their video, and frames kept
    /// only by the run-wide rule).
    pub detected: u64,
    /// Of those, frames the final rule then found duplicates (of a sharper frame further away in
    /// their video, or of a frame of another video).
    pub detected_then_duplicate: u64,
    /// Kept frames whose JPEGs were written from a second decoding of their video: their pictures
    /// had been dropped as likely duplicates (or a killed run had not written them yet).
    pub decoded_again: u64,
    pub elapsed_s: f64,
    /// Decoded frames per second of wall time.
    pub frames_per_s: f64,
    /// Seconds the embedder spent working (its sessions' inference, averaged over the sessions, and
    /// the dedup decisions) and the detect thread (reading, pre-processing, inference), not waiting
    /// for frames.
    pub embed_s: f64,
    pub detect_s: f64,
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        self.extract.exit_code()
    }
}

/// The parameters that decide a run's output; a folder is resumed only with equal ones. Threads,
/// device and batch size change speed, not results, so they may differ between attempts.
#[derive(Debug, Serialize)]
struct Params {
    version: &'static str,
    inputs: Vec<String>,
    /// [`fingerprint`] of each input, in the same order.
    input_contents: Vec<String>,
    extract: serde_json::Value,
    /// `None` with `--no-dedup`.
    embedder: Option<(String, String)>,
    threshold: f32,
    min_gap: Option<f64>,
    exact_limit: usize,
    keep_rejected: bool,
    save_embeddings: bool,
    /// `None` with `--no-label`.
    detector: Option<(String, String)>,
    family: Option<String>,
    confidence: f32,
    nms_iou: f32,
    max_detections: usize,
    filters: serde_json::Value,
    exports: Vec<Format>,
    export_with_scores: bool,
    export_image_root: Option<String>,
    export_split: Option<crate::export::SplitConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<plan::ShardRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    track: Option<TrackConfig>,
}

/// A kept frame on its way to the embedder, or the end of a video.
enum ToEmbed {
    /// The record, the embedder's input made from the decoded frame (none for frames of a video
    /// an earlier run finished: their embeddings are cached), and its picture when its JPEG is
    /// not written yet.
    Frame(Box<FrameRecord>, Option<Vec<f32>>, Option<Unwritten>),
    /// The end of a video, with its path and the key frames its decoding met (none when an
    /// earlier run decoded it).
    VideoDone(PathBuf, Vec<Keyframe>),
}

/// Counters the progress line shows.
#[derive(Default)]
struct Counts {
    kept: AtomicU64,
    embedded: AtomicU64,
    duplicates: AtomicU64,
    labelled: AtomicU64,
}

pub fn run(
    cfg: &RunConfig,
    progress: Progress,
    on_video: &mut dyn FnMut(&VideoSummary),
) -> Result<RunOutcome> {
    run_from(cfg, None, progress, on_video)
}

/// `framelabel merge`: the run of `cfg` (the shards' own options, on the merged folder) continued
/// from the shards' work.
pub fn merge(
    cfg: &RunConfig,
    shards: &merge::Shards,
    progress: Progress,
    on_video: &mut dyn FnMut(&VideoSummary),
) -> Result<RunOutcome> {
    let outcome = run_from(cfg, Some(shards), progress, on_video)?;
    let dataset = Dataset::new(&cfg.extract.out);
    let entry: Vec<serde_json::Value> = shards
        .dirs
        .iter()
        .zip(&shards.entries)
        .map(|(dir, (shard, run))| {
            serde_json::json!({
                "dir": dir,
                "index": shard["index"],
                "host": shard["host"],
                "elapsed_s": run["elapsed_s"],
            })
        })
        .collect();
    dataset.set_run_entry("merge", &serde_json::json!({ "shards": entry }))?;
    Ok(outcome)
}

fn run_from(
    cfg: &RunConfig,
    merging: Option<&merge::Shards>,
    progress: Progress,
    on_video: &mut dyn FnMut(&VideoSummary),
) -> Result<RunOutcome> {
    let started = Instant::now();
    let inputs = extract::plan_inputs(&cfg.extract)?;
    let (units, shard_entry) = work_units(cfg, &inputs);
    // Both models load, and every option is checked against them, before any file is touched.
    // Their threads sleep when idle: the two sessions and the extract workers share the cores.
    // They load side by side (a third of a second one after the other).
    let (embedder, detector) = std::thread::scope(|s| {
        let detector = s.spawn(|| {
            (!cfg.no_label)
                .then(|| {
                    Detector::load(
                        &cfg.label.detector,
                        &cfg.label.resolve,
                        cfg.label.threads,
                        cfg.label.device,
                        cfg.label.family,
                        false,
                    )
                })
                .transpose()
        });
        let embedder = (!cfg.no_dedup)
            .then(|| {
                Embedder::load(
                    &cfg.dedup.embedder,
                    &cfg.dedup.resolve,
                    cfg.dedup.threads,
                    cfg.dedup.device,
                    false,
                )
            })
            .transpose();
        (embedder, detector.join().expect("model loading panicked"))
    });
    let (embedder, detector) = (embedder?, detector?);
    if let Some(d) = &detector {
        label::class_filter(&cfg.label.filters, &d.setup.labels)?;
    }
    let params = params(
        cfg,
        &inputs,
        embedder.as_ref().map(|e| &e.resolved),
        detector.as_ref().map(|d| &d.resolved),
    );
    tracing::debug!(
        elapsed_s = started.elapsed().as_secs_f64(),
        rss_mb = rss_mb(),
        "models loaded"
    );

    let dataset = Dataset::new(&cfg.extract.out);
    let state = StateDir::open(&dataset, &params, cfg.extract.force)?;
    if let Some(shards) = merging {
        shards.seed(&state, &dataset, &params, &inputs)?;
    }
    extract::create_rejected_dirs(&cfg.extract, &dataset)?;
    let resumed = state.resumed;
    let mut embeddings = Embeddings::open(&state.embeddings_path())?;
    let mut detections = Detections::open(&state.detections_path())?;
    let reused = (embeddings.len() as u64, detections.len() as u64);
    let mut earlier = state.read_frames()?;
    // A video is finished when every kept frame of it has its embedding: embeddings are made from
    // the decoded frames, so a video whose embeddings were cut short is decoded again.
    let mut finished: Vec<VideoSummary> = state.finished_videos()?;
    // (Without an embedder, JPEGs are written as frames are decoded, each before its record.)
    finished.retain(|v| {
        embedder.is_none()
            || earlier
                .iter()
                .filter(|r| covers(v, r) && r.status == FrameStatus::Kept && r.file.is_some())
                .all(|r| embeddings.get(&key(r)).is_some())
    });
    state.rewrite_videos(&finished)?;
    let done = |r: &FrameRecord| finished.iter().any(|v| covers(v, r));
    // Records of finished videos stay; a video that was cut short starts again from its first frame.
    let partial: Vec<FrameRecord> = earlier.iter().filter(|r| !done(r)).cloned().collect();
    for r in &partial {
        if let Some(f) = &r.file {
            let _ = std::fs::remove_file(dataset.root().join(f));
        }
    }
    earlier.retain(|r| done(r));
    state.rewrite_frames(&earlier)?;
    let mut writer = RecordWriter::append(state.frames_path())?;
    let mut video_log = RecordWriter::append(state.videos_path())?;
    let mut keyframe_log = RecordWriter::append(state.keyframes_path())?;
    let known_keyframes = state.read_keyframes()?;

    let overall = progress.bar("run", Some(units.len() as u64), "videos");
    let bar_if = |on: bool, name: &str, unit: &str| {
        if on {
            progress.bar(name, Some(0), unit)
        } else {
            ProgressBar::hidden()
        }
    };
    let embed_bar = bar_if(embedder.is_some(), "embed", "kept frames");
    let detect_bar = bar_if(detector.is_some(), "label", "survivors");
    let counts = Counts::default();

    let mut summary = RunSummary::new("run", &cfg.extract);
    let mut embed_s = 0.0;
    let mut detect_s = 0.0;
    let mut decoded_again = 0u64;
    let prepare = embedder
        .as_ref()
        .map(|e| embed_input(e.setup.preprocess, cfg.extract.output));
    // Duplicates' JPEGs are needed only when they are kept aside; without dedup every kept frame
    // stays, so its JPEG is written at once.
    let deferral =
        (!cfg.dedup.keep_rejected && embedder.is_some()).then(|| Deferral::new(DEFER_BYTES));
    let (mut embedder, mut detector) = (embedder, detector);
    std::thread::scope(|scope| -> Result<()> {
        // Each queued frame holds its embedder input (600 kB for 224×224).
        let (frame_tx, frame_rx) = crossbeam_channel::bounded::<ToEmbed>(2 * EMBED_CHUNK);
        let (surv_tx, surv_rx) = crossbeam_channel::bounded::<Vec<Survivor>>(256);
        let (label_tx, label_rx) = crossbeam_channel::bounded::<Vec<FrameRecord>>(256);
        let (again_tx, again_rx) = crossbeam_channel::unbounded::<Again>();
        let again_thread = {
            let (label_tx, dataset) = (label_tx.clone(), &dataset);
            std::thread::Builder::new()
                .name("again".into())
                .spawn_scoped(scope, move || {
                    write_survivors_again(cfg, dataset, again_rx, label_tx)
                })
                .expect("spawn again thread")
        };
        let write_thread = {
            let dataset = &dataset;
            std::thread::Builder::new()
                .name("write".into())
                .spawn_scoped(scope, move || {
                    write_survivors(cfg, dataset, surv_rx, label_tx)
                })
                .expect("spawn write thread")
        };
        let embed_thread = {
            let (embedder, embeddings, counts, bar) =
                (&mut embedder, &mut embeddings, &counts, &embed_bar);
            std::thread::Builder::new()
                .name("embed".into())
                .spawn_scoped(scope, move || {
                    let links = EmbedLinks {
                        rx: frame_rx,
                        tx: surv_tx,
                        again_tx,
                        counts,
                        bar,
                    };
                    match embedder.as_mut() {
                        Some(embedder) => embed_stage(cfg, embedder, embeddings, links),
                        None => pass_stage(links),
                    }
                })
                .expect("spawn embed thread")
        };
        let detect_thread = {
            let (detector, detections, counts, bar, dataset) = (
                &mut detector,
                &mut detections,
                &counts,
                &detect_bar,
                &dataset,
            );
            std::thread::Builder::new()
                .name("detect".into())
                .spawn_scoped(scope, move || {
                    match detector.as_mut() {
                        Some(detector) => {
                            detect_stage(cfg, dataset, detector, detections, label_rx, counts, bar)
                        }
                        None => {
                            // Survivors' JPEGs are written on the way here; nothing labels them.
                            for _ in label_rx {}
                            Ok(0.0)
                        }
                    }
                })
                .expect("spawn detect thread")
        };

        let feed = |frame_tx: &crossbeam_channel::Sender<ToEmbed>,
                    r: &FrameRecord,
                    input: Option<Vec<f32>>,
                    unwritten: Option<Unwritten>|
         -> Result<()> {
            if r.status == FrameStatus::Kept && r.file.is_some() {
                counts.kept.fetch_add(1, Ordering::Relaxed);
                embed_bar.inc_length(1);
                overall.set_message(status_line(&counts));
                frame_tx
                    .send(ToEmbed::Frame(Box::new(r.clone()), input, unwritten))
                    .map_err(|_| stage_stopped())?;
            }
            Ok(())
        };
        let extracted = (|| -> Result<()> {
            for &(input, slice) in &units {
                let keyframes;
                if let Some(v) = finished
                    .iter()
                    .find(|v| v.video == input.shown && v.slice == slice)
                {
                    keyframes = known_keyframes
                        .iter()
                        .rfind(|k| k.video == v.video && k.slice == v.slice)
                        .map(|k| k.keyframes.clone())
                        .unwrap_or_default();
                    for r in earlier.iter().filter(|r| covers(v, r)) {
                        feed(&frame_tx, r, None, None)?;
                    }
                    summary.push(VideoSummary {
                        keyframes: keyframes.clone(),
                        ..v.clone()
                    });
                } else {
                    let sliced;
                    let extract_cfg = match slice {
                        Some((start, end)) => {
                            sliced = slice_config(&cfg.extract, start, end);
                            &sliced
                        }
                        None => &cfg.extract,
                    };
                    let mut v = extract::extract_video(
                        extract_cfg,
                        &dataset,
                        &mut writer,
                        input,
                        progress.clone(),
                        extract::FrameSink {
                            hook: prepare.as_ref().map(|p| p as KeptFrameHook),
                            on_record: &mut |r, input, unwritten| {
                                feed(&frame_tx, r, input, unwritten)
                            },
                            defer: deferral.as_ref(),
                        },
                    )?;
                    v.slice = slice;
                    keyframe_log.write(&VideoKeyframes {
                        video: v.video.clone(),
                        slice,
                        keyframes: v.keyframes.clone(),
                    })?;
                    video_log.write(&v)?;
                    on_video(&v);
                    keyframes = v.keyframes.clone();
                    summary.push(v);
                }
                frame_tx
                    .send(ToEmbed::VideoDone(input.path.clone(), keyframes))
                    .map_err(|_| stage_stopped())?;
                overall.inc(1);
                overall.set_message(status_line(&counts));
            }
            Ok(())
        })();
        drop(frame_tx);
        let embedded = embed_thread.join().expect("embed thread panicked");
        let again = again_thread.join().expect("again thread panicked");
        let written = write_thread.join().expect("write thread panicked");
        let detected = detect_thread.join().expect("detect thread panicked");
        embed_s = *embedded.as_ref().unwrap_or(&0.0);
        detect_s = *detected.as_ref().unwrap_or(&0.0);
        decoded_again = *again.as_ref().unwrap_or(&0);
        // The first real cause: a stage that stopped makes the others fail to send.
        let results = [
            extracted,
            embedded.map(|_| ()),
            again.map(|_| ()),
            written,
            detected.map(|_| ()),
        ];
        let mut errors = results
            .into_iter()
            .filter_map(|r| r.err())
            .collect::<Vec<_>>();
        match errors.iter().position(|e| !is_stage_stopped(e)) {
            Some(i) => Err(errors.swap_remove(i)),
            None => errors.into_iter().next().map_or(Ok(()), Err),
        }
    })?;
    overall.finish_and_clear();
    embed_bar.finish_and_clear();
    let (held_back, written_at_once) = deferral.as_ref().map_or((0, 0), Deferral::counts);
    tracing::debug!(
        elapsed_s = started.elapsed().as_secs_f64(),
        rss_mb = rss_mb(),
        embed_s,
        detect_s,
        held_back,
        written_at_once,
        "videos done"
    );

    // The run-wide decisions, from the records and caches alone.
    let mut records = state.read_frames()?;
    let items: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].status == FrameStatus::Kept && records[i].file.is_some())
        .collect();
    let paths: Vec<PathBuf> = items
        .iter()
        .map(|&i| dataset.file_path(&records[i]))
        .collect();
    let dim = embedder.as_ref().map_or(0, |e| e.setup.dim);
    let names: Vec<Option<String>> = items.iter().map(|&i| Some(key(&records[i]))).collect();
    let (emb, present) = if embedder.is_some() {
        embeddings.gather(&names)
    } else {
        // Without dedup every kept frame whose JPEG is there stays.
        let present = (0..items.len()).filter(|&k| paths[k].is_file()).collect();
        (Default::default(), present)
    };
    let mut warnings = Vec::new();
    let mut held = present.iter().copied().peekable();
    for (k, &i) in items.iter().enumerate() {
        if held.next_if_eq(&k).is_none() {
            warnings.push(format!(
                "{}: frame file missing or unreadable; skipped",
                paths[k].display()
            ));
            records[i].status = FrameStatus::Missing;
        }
    }
    let decisions = if embedder.is_some() {
        dedup::decide(
            &records,
            &items,
            &present,
            &emb,
            dim,
            cfg.dedup.threshold,
            cfg.dedup.min_gap,
            cfg.dedup.exact_limit,
            cfg.dedup.threads,
        )?
    } else {
        vec![Decision::Kept; items.len()]
    };
    // Frames the run-wide rule keeps whose pictures were dropped as likely duplicates, or whose
    // JPEGs a killed run had not written yet: decoded again from their videos, labelled below.
    let again = Instant::now();
    let mut at_end = 0u64;
    for input in &inputs {
        let frames: Vec<&FrameRecord> = present
            .iter()
            .copied()
            .filter(|&k| matches!(decisions[k], Decision::Kept) && !paths[k].is_file())
            .map(|k| &records[items[k]])
            .filter(|r| r.video == input.shown)
            .collect();
        if frames.is_empty() {
            continue;
        }
        at_end += frames.len() as u64;
        // The key frames of a video decoded by this run (not one an earlier run finished), from
        // every slice of it.
        let mut keyframes: Vec<Keyframe> = summary
            .videos
            .iter()
            .filter(|v| v.video == input.shown)
            .flat_map(|v| v.keyframes.iter().copied())
            .collect();
        keyframes.sort_by_key(|k| k.index);
        keyframes.dedup_by_key(|k| k.index);
        let again = write_again(
            &cfg.extract.output,
            &dataset,
            &input.path,
            &frames,
            &keyframes,
        )?;
        tracing::debug!(
            video = input.shown,
            frames = frames.len(),
            decoded = again.decoded,
            "decoded again at the end"
        );
        if let Some(r) = again.lost.first() {
            return Err(Error::Input {
                path: input.path.clone(),
                message: format!(
                    "frame {} (at {:.3} s) is no longer in the video: was it changed during the run? \
                     Run again with --force to start over",
                    r.frame, r.pts
                ),
            });
        }
    }
    if at_end > 0 {
        tracing::debug!(
            frames = at_end,
            elapsed_s = again.elapsed().as_secs_f64(),
            "kept frames decoded again at the end"
        );
    }
    decoded_again += at_end;
    // Frames kept only by the run-wide rule are labelled now.
    let revived: Vec<usize> = present
        .iter()
        .copied()
        .filter(|&k| matches!(decisions[k], Decision::Kept))
        .filter(|&k| !detections.contains(&key(&records[items[k]])))
        .collect();
    if let Some(detector) = detector.as_mut()
        && !revived.is_empty()
    {
        let t = Instant::now();
        let recs: Vec<FrameRecord> = revived.iter().map(|&k| records[items[k]].clone()).collect();
        detect_frames(cfg, &dataset, detector, &mut detections, &recs, &detect_bar)?;
        detect_s += t.elapsed().as_secs_f64();
    }
    detect_bar.finish_and_clear();
    tracing::debug!(
        elapsed_s = started.elapsed().as_secs_f64(),
        rss_mb = rss_mb(),
        revived = revived.len(),
        "run-wide dedup decided"
    );
    let detected_then_duplicate = present
        .iter()
        .filter(|&&k| matches!(decisions[k], Decision::Duplicate { .. }))
        .filter(|&&k| detections.contains(&key(&records[items[k]])))
        .count() as u64;
    let applied = dedup::apply(
        &dataset,
        &mut records,
        &items,
        &paths,
        &present,
        &decisions,
        cfg.dedup.threshold,
        cfg.dedup.keep_rejected,
    );

    // The output folder, written from what was computed: run.json first (the stages add entries).
    summary.finish(started.elapsed().as_secs_f64());
    write_json_atomic(&dataset.run_path(), &summary)?;
    let dedup_summary = embedder.as_ref().map(|embedder| DedupSummary {
        embedder: Some(embedder.record()),
        parameters: cfg.dedup.clone(),
        frames: items.len() as u64,
        kept: applied.kept,
        duplicates: applied.duplicates,
        too_close: applied.too_close,
        missing: (items.len() - present.len()) as u64,
        elapsed_s: embed_s,
        frames_per_s: present.len() as f64 / embed_s.max(1e-9),
        warnings,
    });
    if cfg.dedup.save_embeddings && embedder.is_some() {
        dedup::save_embeddings(&dataset, &emb, dim, &present, &paths)?;
    }
    dataset.move_files(&applied.moves)?;
    if let Some(d) = &dedup_summary {
        dataset.set_run_entry("dedup", d)?;
    }

    let label_items = label::items(&dataset, &records);
    let results: Vec<Labelled> = label_items
        .iter()
        .map(|it| {
            detections
                .get(&key(&records[it.record]))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let tracking = match (&cfg.track, detector.as_mut()) {
        (Some(tc), Some(detector)) => {
            let mut cache = cache::TrackFrames::open(&state.track_frames_path())?;
            let bar = progress.bar("track", Some(0), "frames");
            let categories = coco::categories(&detector.setup.labels);
            Some(track::track_pass(
                cfg,
                tc,
                &dataset,
                &inputs,
                detector,
                &mut cache,
                &mut records,
                &label_items,
                &results,
                &categories,
                &bar,
            )?)
        }
        _ => None,
    };
    let label_summary = match &detector {
        Some(detector) => {
            let labels = detector.setup.labels.clone();
            let mut s = label::write_labels(
                &cfg.label,
                &dataset,
                &mut records,
                &label_items,
                &results,
                &coco::categories(&labels),
                &labels,
                Some(detector.record()),
                tracking.as_ref().map(|t| &t.attributes[..]),
                Instant::now(),
            )?;
            s.elapsed_s = detect_s;
            s.frames_per_s = s.images as f64 / detect_s.max(1e-9);
            dataset.set_run_entry("label", &s)?;
            Some(s)
        }
        None => {
            // `write_labels` rewrites the records; without it, they are written here.
            dataset.rewrite_frames(&records)?;
            None
        }
    };
    let track_summary = match tracking {
        Some(t) => {
            track::write_review(&dataset, &records)?;
            dataset.set_run_entry("track", &t.summary)?;
            Some(t.summary)
        }
        None => None,
    };
    for f in &applied.deletes {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(f, e)),
        }
    }

    let exports = if cfg.exports.is_empty() {
        Vec::new()
    } else {
        let done = crate::export::export(&ExportConfig {
            dir: dataset.root().to_path_buf(),
            formats: cfg.exports.clone(),
            out: None,
            filters: Default::default(),
            with_scores: cfg.export_with_scores,
            image_root: cfg.export_image_root.clone(),
            split: cfg.export_split.clone(),
        })?;
        dataset.set_run_entry("export", &done)?;
        done
    };

    let elapsed_s = started.elapsed().as_secs_f64();
    tracing::debug!(elapsed_s, rss_mb = rss_mb(), "output written");
    let stats = RunStats {
        resumed,
        videos_skipped: finished.len() as u64,
        embeddings_reused: reused.0,
        detections_reused: reused.1,
        detected: detections.len() as u64 - reused.1,
        detected_then_duplicate,
        decoded_again,
        elapsed_s,
        frames_per_s: summary.totals.decoded as f64 / elapsed_s.max(1e-9),
        embed_s,
        detect_s,
    };
    dataset.set_run_entry("run", &stats)?;
    if let Some(entry) = &shard_entry {
        dataset.set_run_entry("shard", entry)?;
    }
    // The report reads everything back from the folder: on a long run the embeddings (5 kB a
    // frame for 1280-d ones) and the sessions would only add to its own memory.
    drop(emb);
    drop((embeddings, detections, records, results, embedder, detector));
    let report = match cfg.report {
        Some(preview) => Some(crate::report::Written::of(&crate::report::report(
            &crate::report::ReportConfig {
                dir: dataset.root().to_path_buf(),
                preview,
            },
        )?)),
        None => None,
    };
    tracing::debug!(
        elapsed_s = started.elapsed().as_secs_f64(),
        rss_mb = rss_mb(),
        "report written"
    );
    state.mark_complete()?;
    Ok(RunOutcome {
        extract: summary,
        dedup: dedup_summary,
        label: label_summary,
        exports,
        report,
        track: track_summary,
        run: stats,
    })
}

/// What `run.json` says of a sharded run: the shard and the whole plan, which every shard of the
/// job computes alike.
#[derive(Debug, Clone, Serialize)]
pub struct ShardEntry {
    #[serde(flatten)]
    pub shard: plan::Shard,
    pub host: String,
    pub plan: plan::Plan,
    /// The run's options (TOML), for `merge`.
    pub options: Option<String>,
}

/// The extractions of this run, in order: each input whole, or in a sharded run the units of its
/// shard (a slice as its `[start, end)`, or none for a whole video).
type Units<'a> = Vec<(&'a Input, Option<(Option<f64>, Option<f64>)>)>;

/// The plan of a sharded run (or of one shard, for `--print-plan` without `--shard`).
pub fn plan(cfg: &RunConfig) -> Result<plan::Plan> {
    let inputs = extract::plan_inputs(&cfg.extract)?;
    let sr = cfg.shard.unwrap_or(plan::ShardRun {
        shard: plan::Shard { index: 0, count: 1 },
        slice_s: plan::DEFAULT_SLICE_S,
    });
    let s = &cfg.extract.sampling;
    Ok(plan::Plan::new(
        &plan::durations(&inputs),
        (s.start, s.end),
        plan_slice(cfg, sr.slice_s),
        sr.shard.count,
    ))
}

fn work_units<'a>(cfg: &RunConfig, inputs: &'a [Input]) -> (Units<'a>, Option<ShardEntry>) {
    let Some(sr) = cfg.shard else {
        return (inputs.iter().map(|i| (i, None)).collect(), None);
    };
    let s = &cfg.extract.sampling;
    let plan = plan::Plan::new(
        &plan::durations(inputs),
        (s.start, s.end),
        plan_slice(cfg, sr.slice_s),
        sr.shard.count,
    );
    let units = plan
        .units
        .iter()
        .filter(|u| u.shard == sr.shard.index)
        .filter_map(|u| {
            let input = inputs.iter().find(|i| i.shown == u.video)?;
            let whole = u.start == s.start && u.end == s.end;
            Some((input, (!whole).then_some((u.start, u.end))))
        })
        .collect();
    let entry = ShardEntry {
        shard: sr.shard,
        host: hostname(),
        plan,
        options: cfg.options.clone(),
    };
    (units, Some(entry))
}

/// The slice length a plan uses: videos stay whole when a per-video rule runs along them, which a
/// slice could not continue (`--max-frames` counts, the still-frame gate's last frame).
pub fn plan_slice(cfg: &RunConfig, slice_s: f64) -> f64 {
    if cfg.extract.sampling.max_frames.is_some() || cfg.extract.min_change.is_some() {
        f64::INFINITY
    } else {
        slice_s
    }
}

/// The extract configuration of one slice: its time range, with `--fps` slots still counted from
/// the run's start.
fn slice_config(cfg: &ExtractConfig, start: Option<f64>, end: Option<f64>) -> ExtractConfig {
    let mut c = cfg.clone();
    c.sampling.origin = Some(cfg.sampling.start.unwrap_or(0.0));
    c.sampling.start = start;
    c.sampling.end = end;
    c
}

/// Whether `v` (a video, or a slice of one) holds the frame of `r`.
fn covers(v: &VideoSummary, r: &FrameRecord) -> bool {
    v.video == r.video
        && v.slice
            .is_none_or(|(a, b)| a.is_none_or(|a| r.pts >= a) && b.is_none_or(|b| r.pts < b))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// Makes the embedder's input from a decoded frame, as [`Preprocess::apply`] would from its JPEG:
/// the model's window is placed on the picture as written, and the pixels resampled from the frame
/// in one step (with `--resize pad`, the padded picture is drawn first). The picture then differs
/// from the JPEG only by the compression, and reading and decoding every kept JPEG again is saved.
fn embed_input(pre: Preprocess, output: Output) -> impl Fn(&DecodedFrame) -> Vec<f32> + Sync {
    /// A resizer, and for padded output the resized picture and its canvas.
    type Scratch = (fast_image_resize::Resizer, Vec<u8>, Vec<u8>);
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
    }
    move |f: &DecodedFrame| {
        let src = (f.width, f.height);
        let p = placement(src, &output);
        let mut t = Vec::with_capacity((pre.size.0 * pre.size.1 * 3) as usize);
        SCRATCH.with_borrow_mut(|(r, resized, canvas)| {
            if p.canvas == p.scaled {
                pre.apply_as(&f.rgb, src, p.scaled, &mut t);
                return;
            }
            // The bars of `--resize pad` are part of the picture `dedup` embeds: draw them, the
            // way the JPEG is drawn, then sample (two resamples, for this mode only).
            match render(r, &f.rgb, src, &output, resized, canvas) {
                Ok((pixels, p)) => {
                    pre.apply(pixels, p.canvas.0, p.canvas.1, &mut t);
                }
                Err(_) => {
                    pre.apply_as(&f.rgb, src, p.scaled, &mut t);
                }
            }
        });
        t
    }
}

/// Resident memory in MB, for the debug log of the run's phases (0 where /proc is absent).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

/// The cache key of a frame: its file name, unique within a run.
fn key(r: &FrameRecord) -> String {
    r.file
        .as_deref()
        .and_then(|f| f.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

fn stage_stopped() -> Error {
    Error::Runtime {
        message: "a pipeline stage stopped".into(),
    }
}

fn is_stage_stopped(e: &Error) -> bool {
    matches!(e, Error::Runtime { message } if message == "a pipeline stage stopped")
}

fn status_line(c: &Counts) -> String {
    format!(
        "kept {}, embedded {}, duplicates {}, labelled {}",
        c.kept.load(Ordering::Relaxed),
        c.embedded.load(Ordering::Relaxed),
        c.duplicates.load(Ordering::Relaxed),
        c.labelled.load(Ordering::Relaxed)
    )
}

fn params(
    cfg: &RunConfig,
    inputs: &[Input],
    embedder: Option<&ResolvedModel>,
    detector: Option<&ResolvedModel>,
) -> serde_json::Value {
    let mut extract = serde_json::to_value(&cfg.extract).expect("config serialises");
    if let Some(m) = extract.as_object_mut() {
        for k in ["inputs", "out", "threads", "force"] {
            m.remove(k);
        }
    }
    let p = Params {
        version: env!("CARGO_PKG_VERSION"),
        inputs: inputs.iter().map(|i| i.shown.clone()).collect(),
        input_contents: inputs.iter().map(|i| fingerprint(&i.path)).collect(),
        extract,
        embedder: embedder.map(|e| (cfg.dedup.embedder.clone(), e.sha256.clone())),
        threshold: cfg.dedup.threshold,
        min_gap: cfg.dedup.min_gap,
        exact_limit: cfg.dedup.exact_limit,
        keep_rejected: cfg.dedup.keep_rejected,
        save_embeddings: cfg.dedup.save_embeddings,
        detector: detector.map(|d| (cfg.label.detector.clone(), d.sha256.clone())),
        family: cfg.label.family.map(|f| format!("{f:?}").to_lowercase()),
        confidence: cfg.label.confidence,
        nms_iou: cfg.label.nms_iou,
        max_detections: cfg.label.max_detections,
        filters: serde_json::to_value(&cfg.label.filters).expect("filters serialise"),
        exports: cfg.exports.clone(),
        export_with_scores: cfg.export_with_scores,
        export_image_root: cfg.export_image_root.clone(),
        export_split: cfg.export_split.clone(),
        shard: cfg.shard,
        track: cfg.track,
    };
    serde_json::to_value(&p).expect("params serialise")
}

/// What tells an input's content apart: its size and a hash of its first and last MiB. A video
/// replaced at the same path (a camera's file of the day) must not pass for the one an earlier run
/// finished, whose cached embeddings and detections carry the same frame names; hashing whole files
/// would read hours of video once more before any work. An unreadable file gets a mark of its own
/// (extracting it reports why).
fn fingerprint(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    const END: u64 = 1 << 20;
    let hash = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let size = f.metadata()?.len();
        let mut h = Sha256::new();
        let mut buf = Vec::new();
        (&mut f).take(END).read_to_end(&mut buf)?;
        h.update(&buf);
        if size > END {
            f.seek(SeekFrom::Start(size.saturating_sub(END).max(END)))?;
            buf.clear();
            f.take(END).read_to_end(&mut buf)?;
            h.update(&buf);
        }
        Ok(format!(
            "{size}:{}",
            crate::models::hex(&h.finalize()[..12])
        ))
    };
    hash().unwrap_or_else(|_| "unreadable".into())
}

/// The embed thread without an embedder (`--no-dedup`): every kept frame survives, as it comes.
fn pass_stage(links: EmbedLinks) -> Result<f64> {
    for item in links.rx {
        if let ToEmbed::Frame(record, _, unwritten) = item {
            links
                .tx
                .send(vec![(*record, unwritten)])
                .map_err(|_| stage_stopped())?;
        }
    }
    Ok(0.0)
}

/// The embed thread: embeds kept frames as they come (from the input the frame workers prepared),
/// sends the frames that will very likely survive to the detector as soon as their neighbours are
/// embedded ([`early`]), and at the end of each video the other frames the dedup rule keeps within it.
///
/// The embedder's sessions run on threads of their own, each taking the next batch as soon as it
/// is free. Batches handed to both sessions at once and awaited together left one session idle
/// whenever the other was slower (a core is shared with the detector and the frame workers), and
/// with it a core: the embedder is the run's longest stage.
fn embed_stage(
    cfg: &RunConfig,
    embedder: &mut Embedder,
    cache: &mut Embeddings,
    links: EmbedLinks,
) -> Result<f64> {
    let dim = embedder.setup.dim;
    let batch = if embedder.models[0].dynamic_batch() {
        cfg.dedup.batch_size.max(1)
    } else {
        1
    };
    let (w, h) = embedder.setup.preprocess.size;
    let (w, h) = (w as usize, h as usize);
    let output = embedder.setup.output.clone();
    let sessions = embedder.models.len();
    // One batch waiting per session: the embed thread blocks when all are taken.
    let (job_tx, job_rx) = crossbeam_channel::bounded::<(u64, usize, Vec<f32>)>(sessions);
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<(u64, Result<Vec<Vec<f32>>>)>();
    let session_ns = AtomicU64::new(0);
    std::thread::scope(|s| {
        for (i, model) in embedder.models.iter_mut().enumerate() {
            let (job_rx, res_tx, output, session_ns) =
                (job_rx.clone(), res_tx.clone(), &output, &session_ns);
            std::thread::Builder::new()
                .name(format!("embed-{i}"))
                .spawn_scoped(s, move || {
                    for (seq, n, input) in job_rx {
                        let t = Instant::now();
                        let ran = model.run(&input, n, h, w);
                        let rows = ran.map(|outputs| {
                            let out = outputs
                                .iter()
                                .find(|o| &o.name == output)
                                .expect("the output chosen at load time is produced");
                            (0..n)
                                .map(|b| {
                                    let mut row = out.data[b * dim..(b + 1) * dim].to_vec();
                                    normalise(&mut row);
                                    row
                                })
                                .collect()
                        });
                        session_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        if res_tx.send((seq, rows)).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn embed session thread");
        }
        drop((job_rx, res_tx));
        let mut batches = Batches {
            job_tx: Some(job_tx),
            res_rx,
            next: 0,
            inflight: VecDeque::new(),
            arrived: BTreeMap::new(),
            ready: Vec::new(),
        };
        let decided = embed_frames(cfg, dim, batch, &mut batches, cache, links);
        // The sessions stop when their queue closes.
        batches.job_tx = None;
        decided
            .map(|busy| busy + session_ns.load(Ordering::Relaxed) as f64 * 1e-9 / sessions as f64)
    })
}

/// A batch's frames (index in the video) and their embeddings.
type Embedded = (Vec<usize>, Vec<Vec<f32>>);

/// The embed thread's batches: being filled, with the sessions, and back from them out of order.
struct Batches {
    job_tx: Option<crossbeam_channel::Sender<(u64, usize, Vec<f32>)>>,
    res_rx: crossbeam_channel::Receiver<(u64, Result<Vec<Vec<f32>>>)>,
    next: u64,
    /// Batches handed to the sessions, in order: their number and the frames (index in the video).
    inflight: VecDeque<(u64, Vec<usize>)>,
    arrived: BTreeMap<u64, Vec<Vec<f32>>>,
    /// Frames waiting for the next batch, with their input.
    ready: Vec<(usize, Vec<f32>)>,
}

impl Batches {
    /// Hands the frames waiting to a session, their inputs in one tensor made here, off the
    /// sessions' threads (blocks while every session has one waiting).
    fn dispatch(&mut self) -> Result<()> {
        let n = self.ready.len();
        if n == 0 {
            return Ok(());
        }
        let mut frames = Vec::with_capacity(n);
        let mut input = Vec::with_capacity(if n > 1 { self.ready[0].1.len() * n } else { 0 });
        for (i, t) in self.ready.drain(..) {
            frames.push(i);
            if n == 1 {
                input = t;
            } else {
                input.extend_from_slice(&t);
            }
        }
        let seq = self.next;
        self.next += 1;
        self.inflight.push_back((seq, frames));
        self.job_tx
            .as_ref()
            .expect("sessions open while frames come")
            .send((seq, n, input))
            .map_err(|_| stage_stopped())
    }

    /// The next batch in order, with its frames' embeddings, when it is back: waits for it when
    /// `wait` (and one is out).
    fn take(&mut self, wait: bool) -> Result<Option<Embedded>> {
        loop {
            let Some(&(seq, _)) = self.inflight.front() else {
                return Ok(None);
            };
            if let Some(rows) = self.arrived.remove(&seq) {
                let (_, frames) = self.inflight.pop_front().expect("front seen above");
                return Ok(Some((frames, rows)));
            }
            let got = if wait {
                self.res_rx.recv().map_err(|_| stage_stopped())?
            } else {
                match self.res_rx.try_recv() {
                    Ok(got) => got,
                    Err(_) => return Ok(None),
                }
            };
            self.arrived.insert(got.0, got.1?);
        }
    }

    /// Frames of the video before the first one still without its embedding.
    fn embedded(&self, video_len: usize) -> usize {
        self.inflight
            .front()
            .and_then(|(_, f)| f.first().copied())
            .or(self.ready.first().map(|r| r.0))
            .unwrap_or(video_len)
    }
}

/// Where the embed thread's frames come from, where its survivors go, and what it shows.
struct EmbedLinks<'a> {
    rx: crossbeam_channel::Receiver<ToEmbed>,
    tx: crossbeam_channel::Sender<Vec<Survivor>>,
    again_tx: crossbeam_channel::Sender<Again>,
    counts: &'a Counts,
    bar: &'a ProgressBar,
}

/// The embed thread's loop over the frames (see [`embed_stage`]); returns the seconds it spent
/// deciding.
fn embed_frames(
    cfg: &RunConfig,
    dim: usize,
    batch: usize,
    batches: &mut Batches,
    cache: &mut Embeddings,
    links: EmbedLinks,
) -> Result<f64> {
    let EmbedLinks {
        rx,
        tx,
        again_tx,
        counts,
        bar,
    } = links;
    let dataset = Dataset::new(&cfg.extract.out);
    let mut busy = 0.0;
    let mut video: Vec<FrameRecord> = Vec::new();
    // Pictures of the current video's frames not judged yet, by index in `video`.
    let mut unwritten: HashMap<usize, Unwritten> = HashMap::new();
    let mut early = Early::new(cfg.dedup.threshold, cfg.dedup.min_gap);
    // The likely duplicates of the current video in `counts.duplicates`, replaced by the exact
    // number at its end: an hour-long video would otherwise show none until then.
    let mut estimated = 0u64;
    let mut unflushed = 0usize;
    // Stores the batches back from the sessions, in order; `wait` for all of them.
    let store = |video: &[FrameRecord],
                 batches: &mut Batches,
                 cache: &mut Embeddings,
                 unflushed: &mut usize,
                 wait: bool|
     -> Result<()> {
        while let Some((frames, rows)) = batches.take(wait)? {
            for (&i, row) in frames.iter().zip(&rows) {
                cache.insert(&key(&video[i]), row)?;
            }
            bar.inc(frames.len() as u64);
            counts
                .embedded
                .fetch_add(frames.len() as u64, Ordering::Relaxed);
            *unflushed += frames.len();
            if *unflushed >= EMBED_CHUNK {
                cache.flush()?;
                *unflushed = 0;
            }
        }
        Ok(())
    };
    for msg in rx {
        match msg {
            ToEmbed::Frame(r, input, picture) => {
                if let Some(p) = picture {
                    unwritten.insert(video.len(), p);
                }
                if cache.get(&key(&r)).is_some() {
                    bar.inc(1);
                    counts.embedded.fetch_add(1, Ordering::Relaxed);
                } else if let Some(t) = input {
                    batches.ready.push((video.len(), t));
                } else {
                    return Err(Error::Runtime {
                        message: format!("no embedding of {} in the run's cache", key(&r)),
                    });
                }
                video.push(*r);
                if batches.ready.len() >= batch {
                    batches.dispatch()?;
                }
                store(&video, batches, cache, &mut unflushed, false)?;
                let t = Instant::now();
                let embedded = batches.embedded(video.len());
                let now = early.advance(&video, embedded, |i| {
                    cache.get(&key(&video[i])).expect("embedded")
                });
                let held = early.held_back() as u64;
                counts
                    .duplicates
                    .fetch_add(held - estimated, Ordering::Relaxed);
                estimated = held;
                let frames: Vec<Survivor> = now
                    .into_iter()
                    .map(|i| (video[i].clone(), unwritten.remove(&i)))
                    .collect();
                // The others judged are likely duplicates: their JPEGs are not written.
                unwritten.retain(|&i, _| i >= early.judged());
                if !frames.is_empty() {
                    tx.send(frames).map_err(|_| stage_stopped())?;
                }
                busy += t.elapsed().as_secs_f64();
            }
            ToEmbed::VideoDone(path, keyframes) => {
                batches.dispatch()?;
                store(&video, batches, cache, &mut unflushed, true)?;
                let t = Instant::now();
                cache.flush()?;
                unflushed = 0;
                let names: Vec<Option<String>> = video.iter().map(|r| Some(key(r))).collect();
                let (emb, present) = cache.gather(&names);
                let all: Vec<usize> = (0..video.len()).collect();
                let decisions = dedup::decide(
                    &video,
                    &all,
                    &present,
                    &emb,
                    dim,
                    cfg.dedup.threshold,
                    cfg.dedup.min_gap,
                    cfg.dedup.exact_limit,
                    cfg.dedup.threads,
                )?;
                let survivors: Vec<usize> = present
                    .iter()
                    .copied()
                    .filter(|&i| matches!(decisions[i], Decision::Kept))
                    .collect();
                counts.duplicates.fetch_sub(estimated, Ordering::Relaxed);
                estimated = 0;
                counts
                    .duplicates
                    .fetch_add((present.len() - survivors.len()) as u64, Ordering::Relaxed);
                busy += t.elapsed().as_secs_f64();
                // Frames kept that were not sent: with their pictures, or already written, to the
                // detector; those whose pictures were dropped to be decoded again first.
                let (mut late, mut again) = (Vec::new(), Vec::new());
                for i in survivors.into_iter().filter(|&i| !early.was_sent(i)) {
                    let r = video[i].clone();
                    match unwritten.remove(&i) {
                        Some(p) => late.push((r, Some(p))),
                        None if dataset.file_path(&r).is_file() => late.push((r, None)),
                        None => again.push(r),
                    }
                }
                unwritten.clear();
                if !late.is_empty() {
                    tx.send(late).map_err(|_| stage_stopped())?;
                }
                if !again.is_empty() {
                    again_tx
                        .send((path, again, keyframes))
                        .map_err(|_| stage_stopped())?;
                }
                video.clear();
                early.reset();
            }
        }
    }
    Ok(busy)
}

/// The again thread: decodes a video again for its survivors whose pictures were dropped as
/// likely duplicates, writes their JPEGs and sends them to the detector, while the next video is
/// decoded (a frame the video no longer has is left to the end of the run, which names it).
/// Returns how many it wrote.
fn write_survivors_again(
    cfg: &RunConfig,
    dataset: &Dataset,
    rx: crossbeam_channel::Receiver<Again>,
    tx: crossbeam_channel::Sender<Vec<FrameRecord>>,
) -> Result<u64> {
    let mut written = 0;
    for (path, frames, keyframes) in rx {
        let refs: Vec<&FrameRecord> = frames.iter().collect();
        let again = write_again(&cfg.extract.output, dataset, &path, &refs, &keyframes)?;
        let (video, frames_again) = (path.display(), refs.len());
        tracing::debug!(%video, frames = frames_again, decoded = again.decoded, "decoded again");
        let lost: HashSet<u64> = again.lost.iter().map(|r| r.frame).collect();
        let survivors: Vec<FrameRecord> = frames
            .into_iter()
            .filter(|r| !lost.contains(&r.frame))
            .collect();
        written += survivors.len() as u64;
        if !survivors.is_empty() {
            tx.send(survivors).map_err(|_| stage_stopped())?;
        }
    }
    Ok(written)
}

/// The write thread: writes the JPEGs of survivors that come with their pictures, and passes the
/// survivors on to the detector. Writing them here, not in the detect thread, gives a picture's
/// bytes back to the budget of held pictures as soon as the frame is judged. Survivors waiting for
/// the detector (with their pictures) filled part of it, and frames decoded meanwhile were written at
/// once, most of them to be deleted as duplicates: 27 to 64 of the sample's 795 on a 2-core Xeon,
/// 4 to 6 since.
fn write_survivors(
    cfg: &RunConfig,
    dataset: &Dataset,
    rx: crossbeam_channel::Receiver<Vec<Survivor>>,
    tx: crossbeam_channel::Sender<Vec<FrameRecord>>,
) -> Result<()> {
    let mut encoder = None;
    for survivors in rx {
        let mut frames = Vec::with_capacity(survivors.len());
        for (r, picture) in survivors {
            if let Some(p) = picture {
                let encoder = match &mut encoder {
                    Some(e) => e,
                    None => encoder.insert(Encoder::new(cfg.extract.output)?),
                };
                p.write(encoder)?;
                frames.push(r);
            } else if dataset.file_path(&r).is_file() {
                frames.push(r);
            }
            // Else its picture was dropped as a likely duplicate: the end of the run writes and
            // labels it if the final rule keeps it.
        }
        if !frames.is_empty() {
            tx.send(frames).map_err(|_| stage_stopped())?;
        }
    }
    Ok(())
}

/// The detect thread: labels survivors as they come, their JPEGs written.
fn detect_stage(
    cfg: &RunConfig,
    dataset: &Dataset,
    detector: &mut Detector,
    cache: &mut Detections,
    rx: crossbeam_channel::Receiver<Vec<FrameRecord>>,
    counts: &Counts,
    bar: &ProgressBar,
) -> Result<f64> {
    let mut busy = 0.0;
    for frames in rx {
        let t = Instant::now();
        detect_frames(cfg, dataset, detector, cache, &frames, bar)?;
        busy += t.elapsed().as_secs_f64();
        counts
            .labelled
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
    }
    Ok(busy)
}

/// Runs the detector over the frames not in the cache, and caches what it finds.
fn detect_frames(
    cfg: &RunConfig,
    dataset: &Dataset,
    detector: &mut Detector,
    cache: &mut Detections,
    frames: &[FrameRecord],
    bar: &ProgressBar,
) -> Result<()> {
    bar.inc_length(frames.len() as u64);
    let todo: Vec<&FrameRecord> = frames.iter().filter(|r| !cache.contains(&key(r))).collect();
    bar.inc((frames.len() - todo.len()) as u64);
    if todo.is_empty() {
        return Ok(());
    }
    let paths: Vec<PathBuf> = todo.iter().map(|r| dataset.file_path(r)).collect();
    let params = DecodeParams {
        confidence: cfg.label.confidence,
        nms_iou: cfg.label.nms_iou,
        max_detections: cfg.label.max_detections,
    };
    let mut results = vec![None; todo.len()];
    let setup = &detector.setup;
    run_pictures(
        &paths,
        &setup.preprocess,
        &mut detector.models,
        cfg.label.batch_size,
        (cfg.label.threads / 2).clamp(1, 4),
        bar,
        |outputs, b, pic| {
            results[pic.index] = Some(Labelled {
                size: Some(pic.size),
                detections: decode(setup, outputs, b, &pic.transform, pic.size, &params),
            });
        },
    )?;
    for (r, l) in todo.iter().zip(results) {
        // A frame that could not be read is not cached: it is reported missing at the end.
        if let Some(l) = l {
            cache.insert(&key(r), l)?;
        }
    }
    cache.flush()
}

/// Whether `dir` holds the state of a `run` (for messages of the stage commands).
pub fn is_run_folder(dir: &Path) -> bool {
    dir.join(crate::state::STATE_DIR).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::picture::ResizeMode;

    /// A 640×360 picture of one grey level.
    fn frame(level: u8) -> DecodedFrame {
        DecodedFrame {
            index: 0,
            pts: 0.0,
            width: 640,
            height: 360,
            rgb: vec![level; 640 * 360 * 3],
            yuv: None,
        }
    }

    #[test]
    fn embedder_input_shows_the_bars_of_padded_output() {
        let pre = Preprocess::imagenet();
        let value = |v: u8| (v as f32 / 255.0 - 0.485) / 0.229;
        let output = |resize| Output {
            size: Some((320, 320)),
            resize,
            jpeg_quality: 95,
        };
        // Padded: 320×180 on a 320×320 canvas, bars of 70 rows; scaled by 0.8 and cropped by 16,
        // the model's window starts with 40 rows of bar.
        let padded = embed_input(pre, output(ResizeMode::Pad))(&frame(200));
        assert_eq!(padded.len(), 3 * 224 * 224);
        for row in [0, 20, 35, 223 - 35, 223] {
            assert_eq!(padded[row * 224 + 100], value(0), "bar row {row}");
        }
        for row in [50, 112, 170] {
            assert!(
                (padded[row * 224 + 100] - value(200)).abs() < 1e-4,
                "row {row}"
            );
        }
        // Fitted output has no bars: the window shows the picture only.
        let fitted = embed_input(pre, output(ResizeMode::Fit))(&frame(200));
        for row in [0, 112, 223] {
            assert!(
                (fitted[row * 224 + 100] - value(200)).abs() < 1e-4,
                "row {row}"
            );
        }
    }
}
