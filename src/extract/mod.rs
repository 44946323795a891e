//! The extract stage: videos in, quality-checked JPEG frames and their records out.
//!
//! Per video, three kinds of threads: one decodes (FFmpeg) and samples, workers compute quality
//! metrics, resize and encode in parallel, and the calling thread writes records in decode order.
//! Bounded channels between them keep memory flat whatever the video length, and the reorder buffer
//! never holds more than the frames in flight.

pub mod decode;
pub mod naming;
pub mod picture;
pub mod quality;
pub mod sample;
pub mod still;
pub mod unwritten;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::dataset::{
    Dataset, FrameRecord, FrameStatus, RecordWriter, write_atomic, write_json_atomic,
};
use crate::error::{Error, Result};
use crate::progress::Progress;
use decode::{BufferPool, DecodeStats, DecodedFrame, VideoInfo, VideoSource};
use naming::NameTemplate;
use picture::{Encoder, Output};
use quality::{Metrics, Thresholds};
use sample::{Sampler, Sampling};
use still::{Gate, Thumbnail};
use unwritten::{Deferral, Unwritten};

/// File extensions taken when a folder is given as input.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "m2ts", "mts", "wmv", "flv",
    "3gp", "ogv", "mxf", "dv", "y4m", "h264", "264", "hevc", "h265", "vob", "asf",
];

/// A validated extract configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractConfig {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub sampling: Sampling,
    pub quality: Thresholds,
    pub output: Output,
    #[serde(serialize_with = "serialize_display")]
    pub name: NameTemplate,
    pub keep_rejected: bool,
    /// The still-frame gate: a kept frame whose thumbnail changed less than this from the last
    /// frame that passed becomes `still`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_change: Option<f64>,
    /// Worker threads for per-frame work (decoding has its own thread).
    pub threads: usize,
    pub force: bool,
}

pub(crate) fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What happened to one input.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct VideoSummary {
    /// The video's normalised absolute path, as records name it.
    pub video: String,
    /// Its path as given on the command line or found in a folder given there.
    #[serde(default)]
    pub given: String,
    /// The `{video}` value used in file names.
    pub key: String,
    /// `ok` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<VideoInfo>,
    pub decoded: u64,
    pub sampled: u64,
    pub kept: u64,
    pub rejected: BTreeMap<String, u64>,
    /// Frames given a JPEG file. In `run` without `--keep-rejected`, a kept frame's JPEG is
    /// written only if deduplication is likely to keep it (or keeps it in the end).
    pub written: u64,
    pub decode_errors: u64,
    pub corrupt_frames: u64,
    pub read_errors: u64,
    pub truncated: bool,
    pub warnings: Vec<String>,
    pub elapsed_s: f64,
    /// Decoded frames per second of wall time.
    pub fps: f64,
    /// How key frames alone were taken (`--keyframes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<decode::KeyframeMode>,
    /// The longest stretch between two key frames decoding met, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_gap_s: Option<f64>,
    /// The index of the key frame `--start` sought to; none when decoding began at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sought_to: Option<u64>,
    /// The part of the video's time this entry covers, in a sharded run that cut it into slices:
    /// `[start, end)` seconds, either open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<(Option<f64>, Option<f64>)>,
    /// How many frames each of a few values of `--min-change` skipped or would have skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_at: Vec<still::Probe>,
    /// The key frames decoding met, for `run` to decode kept frames again from the nearest one.
    #[serde(skip)]
    pub keyframes: Vec<decode::Keyframe>,
}

impl VideoSummary {
    fn failed(input: &Input, err: &Error) -> Self {
        VideoSummary {
            video: input.shown.clone(),
            given: input.given.clone(),
            key: input.key.clone(),
            status: "failed".into(),
            error: Some(err.to_string()),
            ..Default::default()
        }
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: FAILED: {e}", self.video);
        }
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let damaged = self.decode_errors + self.corrupt_frames + self.read_errors;
        format!(
            "{}: {} decoded, {} sampled, {} kept, {} rejected{}{}{}, {:.1} s ({:.0} frames/s)",
            self.video,
            self.decoded,
            self.sampled,
            self.kept,
            self.rejected.values().sum::<u64>(),
            if rejected.is_empty() {
                String::new()
            } else {
                format!(" ({})", rejected.join(", "))
            },
            if damaged > 0 {
                format!(", {damaged} damaged skipped")
            } else {
                String::new()
            },
            if self.truncated { ", truncated" } else { "" },
            self.elapsed_s,
            self.fps
        )
    }
}

/// Totals over all inputs.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    pub videos: u64,
    pub failed: u64,
    pub decoded: u64,
    pub sampled: u64,
    pub kept: u64,
    pub rejected: BTreeMap<String, u64>,
    pub written: u64,
    pub decode_errors: u64,
}

/// `run.json` and the `--json` summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed_s: f64,
    pub output: PathBuf,
    pub parameters: ExtractConfig,
    pub videos: Vec<VideoSummary>,
    pub totals: Totals,
    /// Inputs that could not be processed.
    pub failed: Vec<String>,
}

impl RunSummary {
    pub fn refresh_totals(&mut self) {
        let mut t = Totals::default();
        for v in &self.videos {
            t.videos += 1;
            t.failed += (v.status == "failed") as u64;
            t.decoded += v.decoded;
            t.sampled += v.sampled;
            t.kept += v.kept;
            t.written += v.written;
            t.decode_errors += v.decode_errors + v.corrupt_frames + v.read_errors;
            for (k, n) in &v.rejected {
                *t.rejected.entry(k.clone()).or_default() += n;
            }
        }
        self.failed = self
            .videos
            .iter()
            .filter(|v| v.status == "failed")
            .map(|v| v.video.clone())
            .collect();
        self.totals = t;
    }

    pub fn exit_code(&self) -> i32 {
        if self.failed.is_empty() {
            crate::error::EXIT_OK
        } else {
            crate::error::EXIT_INPUT_FAILED
        }
    }
}

/// One input to process: the path to open, the string recorded and shown for it (its normalised
/// absolute path), and the path as the user gave it.
#[derive(Debug, Clone)]
struct InputVideo {
    path: PathBuf,
    shown: String,
    given: String,
}

impl InputVideo {
    fn new(path: PathBuf) -> Self {
        InputVideo {
            shown: normalised(&path).display().to_string(),
            given: path.display().to_string(),
            path,
        }
    }
}

/// `path` made absolute (from the current folder) with `.` and `..` folded away, as the user would
/// write it: `/data/x/../videos/a.mp4` is `/data/videos/a.mp4`. Symbolic links are not resolved,
/// so a path keeps the names the user knows.
fn normalised(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Expands folders into the video files below them (sorted, so runs are reproducible). Paths that do
/// not exist are kept: they fail, with a clear message, when opened.
fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<InputVideo>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(input)
                .follow_links(true)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file() && is_video_name(e.path()))
                .map(|e| e.into_path())
                .collect();
            if found.is_empty() {
                return Err(Error::input(
                    input,
                    format!(
                        "folder holds no video files (looked for .{})",
                        VIDEO_EXTENSIONS[..6].join(", .")
                    ),
                ));
            }
            found.sort();
            out.extend(found.into_iter().map(InputVideo::new));
        } else {
            out.push(InputVideo::new(input.clone()));
        }
    }
    Ok(out)
}

fn is_video_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| v.eq_ignore_ascii_case(e)))
}

/// One input video as a run processes it.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// The string recorded for it (`video` in records): its normalised absolute path.
    pub shown: String,
    /// The path as the user gave it (`given` in `run.json`).
    pub given: String,
    /// The `{video}` value of its file names.
    pub key: String,
}

/// The videos of `cfg.inputs` (folders expanded, sorted) with their name keys; refuses a name
/// template that would make several videos write the same files.
pub fn plan_inputs(cfg: &ExtractConfig) -> Result<Vec<Input>> {
    let videos = expand_inputs(&cfg.inputs)?;
    if videos.len() > 1 && !cfg.name.has_video() {
        return Err(Error::usage(
            "--name",
            format!(
                "'{}' has no {{video}}, so frames of the {} input videos would overwrite each other",
                cfg.name,
                videos.len()
            ),
        ));
    }
    let keys = naming::video_keys(&videos.iter().map(|v| &v.path).collect::<Vec<_>>());
    Ok(videos
        .into_iter()
        .zip(keys)
        .map(|(v, key)| Input {
            path: v.path,
            shown: v.shown,
            given: v.given,
            key,
        })
        .collect())
}

/// Creates the `rejected/` folders that `--keep-rejected` writes into.
pub fn create_rejected_dirs(cfg: &ExtractConfig, dataset: &Dataset) -> Result<()> {
    if cfg.keep_rejected {
        for status in FrameStatus::QUALITY_REJECTIONS {
            let dir = dataset.rejected_dir(status);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::output(&dir, format!("cannot create ({e})")))?;
        }
    }
    Ok(())
}

/// Runs the extract stage. Errors that stop the run before any work (bad configuration, an output
/// folder that cannot be written) are returned as `Err`; a failing input is recorded in the summary
/// and the others go on.
pub fn extract(
    cfg: &ExtractConfig,
    progress: Progress,
    on_video: &mut dyn FnMut(&VideoSummary),
) -> Result<RunSummary> {
    let started = Instant::now();
    let inputs = plan_inputs(cfg)?;
    let dataset = Dataset::new(&cfg.out);
    dataset.prepare(cfg.force)?;
    create_rejected_dirs(cfg, &dataset)?;
    let mut writer = dataset.frame_writer()?;
    let mut summary = RunSummary::new("extract", cfg);
    for input in &inputs {
        let v = extract_video(
            cfg,
            &dataset,
            &mut writer,
            input,
            progress.clone(),
            FrameSink {
                hook: None,
                on_record: &mut |_, _, _| Ok(()),
                defer: None,
            },
        )?;
        on_video(&v);
        summary.videos.push(v);
        summary.refresh_totals();
        summary.elapsed_s = started.elapsed().as_secs_f64();
        write_json_atomic(&dataset.run_path(), &summary)?;
    }
    summary.finished_at = Some(now_rfc3339());
    summary.elapsed_s = started.elapsed().as_secs_f64();
    write_json_atomic(&dataset.run_path(), &summary)?;
    Ok(summary)
}

impl RunSummary {
    pub fn new(command: &'static str, cfg: &ExtractConfig) -> Self {
        RunSummary {
            tool: "framelabel",
            version: env!("CARGO_PKG_VERSION"),
            command,
            started_at: now_rfc3339(),
            finished_at: None,
            elapsed_s: 0.0,
            output: cfg.out.clone(),
            parameters: cfg.clone(),
            videos: Vec::new(),
            totals: Totals::default(),
            failed: Vec::new(),
        }
    }

    /// Adds a video's summary and recomputes the totals.
    pub fn push(&mut self, v: VideoSummary) {
        self.videos.push(v);
        self.refresh_totals();
    }

    pub fn finish(&mut self, elapsed_s: f64) {
        self.finished_at = Some(now_rfc3339());
        self.elapsed_s = elapsed_s;
    }
}

/// Work a caller adds to the frame workers for each kept frame, while its decoded pixels are still
/// in memory; its result goes with the frame's record to `on_record`. `run` prepares the embedder's
/// input this way instead of reading every JPEG back.
pub type KeptFrameHook<'a> = &'a (dyn Fn(&DecodedFrame) -> Vec<f32> + Sync);

/// Takes each written record in decode order, with what the hook made of it if it is kept, and
/// its picture if its JPEG was held back.
pub type OnRecord<'a> =
    dyn FnMut(&FrameRecord, Option<Vec<f32>>, Option<Unwritten>) -> Result<()> + 'a;

/// What a caller does with the frames of a video as they are extracted.
pub struct FrameSink<'a, 'b> {
    pub hook: Option<KeptFrameHook<'a>>,
    pub on_record: &'b mut OnRecord<'a>,
    /// Hold kept frames' pictures back within this budget instead of writing their JPEGs: the
    /// caller writes them, or drops those it does not keep.
    pub defer: Option<&'a Deferral>,
}

/// Extracts one video, appending its records to `writer` and handing each written record to
/// `on_record` in decode order, with what `hook` made of a kept frame (an `Err` from `on_record`
/// stops the video). A video that cannot be read is a failed summary, not an error; errors are what
/// stops the whole run (the output folder).
pub fn extract_video(
    cfg: &ExtractConfig,
    dataset: &Dataset,
    writer: &mut RecordWriter,
    input: &Input,
    progress: Progress,
    sink: FrameSink,
) -> Result<VideoSummary> {
    let video = InputVideo {
        path: input.path.clone(),
        shown: input.shown.clone(),
        given: input.given.clone(),
    };
    match process_video(cfg, dataset, writer, &video, &input.key, progress, sink) {
        Ok(v) => Ok(v),
        Err(e) if matches!(e, Error::Input { .. }) => Ok(VideoSummary::failed(input, &e)),
        Err(e) => Err(e),
    }
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A sampled frame on its way to a worker.
struct Job {
    seq: u64,
    frame: DecodedFrame,
}

/// A worker's answer for one frame.
struct Done {
    seq: u64,
    record: FrameRecord,
    hooked: Option<Vec<f32>>,
    unwritten: Option<Unwritten>,
}

/// What a worker needs that is the same for every frame of a video.
struct FrameContext<'a> {
    cfg: &'a ExtractConfig,
    dataset: &'a Dataset,
    video: &'a str,
    key: &'a str,
    hook: Option<KeptFrameHook<'a>>,
    defer: Option<&'a Deferral>,
    gate: &'a Gate,
}

fn process_video(
    cfg: &ExtractConfig,
    dataset: &Dataset,
    writer: &mut RecordWriter,
    video: &InputVideo,
    key: &str,
    progress: Progress,
    sink: FrameSink,
) -> Result<VideoSummary> {
    let FrameSink {
        hook,
        on_record,
        defer,
    } = sink;
    let started = Instant::now();
    let open = || -> Result<(VideoSource, Option<decode::KeyframeMode>)> {
        let mut source = VideoSource::open(&video.path)?;
        let mode = cfg.sampling.keyframes.then(|| source.keyframes_only());
        Ok((source, mode))
    };
    let (mut source, keyframe_mode) = open()?;
    let sought = cfg
        .sampling
        .start
        .and_then(|t| source.keyframe_before(t, cfg.sampling.origin.is_some()))
        .filter(|&k| source.seek(k));
    let info = source.info().clone();
    let total = info
        .frames_indexed
        .or_else(|| Some((info.duration? * info.fps?).round() as u64));
    let bar = progress.video(&video.shown, total);
    let workers = cfg.threads.max(1);
    let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(workers * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Result<Done>>(workers * 2);
    let abort = AtomicBool::new(false);
    let pool = BufferPool::new(workers * 3 + 2);
    let gate = Gate::new(cfg.min_change);
    let ctx = FrameContext {
        cfg,
        dataset,
        video: &video.shown,
        key,
        hook,
        defer,
        gate: &gate,
    };

    let mut summary = VideoSummary {
        video: video.shown.clone(),
        given: video.given.clone(),
        key: key.to_string(),
        status: "ok".into(),
        ..Default::default()
    };
    for s in FrameStatus::QUALITY_REJECTIONS {
        summary.rejected.insert(s.as_str().into(), 0);
    }
    let mut first_error: Option<Error> = None;

    let (stats, retried): (DecodeStats, bool) = std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("decode".into())
            .spawn_scoped(scope, || {
                let mut sampler = Sampler::new(cfg.sampling);
                let mut seq = 0u64;
                let bar = bar.clone();
                let mut decide = |index: u64, pts| {
                    bar.set_position(index + 1);
                    sampler.decide(index, pts)
                };
                let mut emit = |frame| {
                    if abort.load(Ordering::Relaxed) {
                        return false;
                    }
                    let ok = job_tx.send(Job { seq, frame }).is_ok();
                    seq += 1;
                    ok
                };
                let stats = source.run(&pool, &mut decide, &mut emit);
                let retried = stats.misaligned;
                // The seek landed past its key frame, and nothing was taken: from the start.
                let stats = match retried.then(open) {
                    Some(Ok((source, _))) => {
                        tracing::debug!(video = %video.shown, "seek missed; decoding from the start");
                        source.run(&pool, &mut decide, &mut emit)
                    }
                    _ => stats,
                };
                drop(job_tx);
                (stats, retried)
            })
            .expect("spawn decode thread");
        for i in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let ctx = &ctx;
            let abort = &abort;
            let pool = &pool;
            std::thread::Builder::new()
                .name(format!("frames-{i}"))
                .spawn_scoped(scope, move || {
                    let mut encoder = match Encoder::new(ctx.cfg.output) {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = done_tx.send(Err(e));
                            return;
                        }
                    };
                    let mut grey = Vec::new();
                    for job in job_rx {
                        if abort.load(Ordering::Relaxed) {
                            ctx.gate.hand_in(job.seq, 0, false, None);
                            continue;
                        }
                        let result = process_frame(ctx, &mut encoder, &mut grey, job, pool);
                        if done_tx.send(result).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn frame worker");
        }
        drop(job_rx);
        drop(done_tx);

        // Records in decode order: hold early finishers until their predecessors arrive.
        let mut pending: HashMap<u64, Done> = HashMap::new();
        let mut next = 0u64;
        for done in done_rx {
            let done = match done {
                Ok(d) => d,
                Err(e) => {
                    abort.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            pending.insert(done.seq, done);
            while let Some(Done {
                mut record,
                hooked,
                unwritten,
                ..
            }) = pending.remove(&next)
            {
                let verdict = gate.wait(next, true);
                next += 1;
                if first_error.is_some() {
                    continue;
                }
                record.change = verdict.change.map(|c| (c * 1e6).round() / 1e6);
                record.still_of = verdict.still_of;
                summary.sampled += 1;
                match record.status {
                    FrameStatus::Kept => summary.kept += 1,
                    s => *summary.rejected.entry(s.as_str().into()).or_default() += 1,
                }
                summary.written += record.file.is_some() as u64;
                if let Err(e) = writer
                    .write(&record)
                    .and_then(|()| on_record(&record, hooked, unwritten))
                {
                    abort.store(true, Ordering::Relaxed);
                    first_error = Some(e);
                }
            }
        }
        decoder.join().expect("decode thread panicked")
    });
    bar.finish_and_clear();
    if let Some(e) = first_error {
        return Err(e);
    }
    summary.decoded = stats.decoded;
    summary.decode_errors = stats.decode_errors;
    summary.corrupt_frames = stats.corrupt_frames;
    summary.read_errors = stats.read_errors;
    summary.truncated = stats.truncated;
    summary.warnings = stats.warnings(&info);
    summary.keyframe_gap_s = keyframe_gap(&stats.keyframes, &info, !stats.stopped_early);
    summary.keyframes = stats.keyframes;
    summary.sampler = keyframe_mode;
    summary.sought_to = sought.filter(|_| !retried).map(|k| k.index);
    summary.still_at = gate.probes();
    summary.info = Some(info);
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.fps = if summary.elapsed_s > 0.0 {
        summary.decoded as f64 / summary.elapsed_s
    } else {
        0.0
    };
    Ok(summary)
}

/// The longest time between two consecutive key frames decoding met, or between the last and the
/// end of the video when decoding went through to it, from frame indices and the frame rate.
fn keyframe_gap(keyframes: &[decode::Keyframe], info: &VideoInfo, to_end: bool) -> Option<f64> {
    let fps = info.fps?;
    let tail = keyframes
        .last()
        .zip(info.duration.filter(|_| to_end))
        .map(|(k, d)| ((d * fps).round() as u64).saturating_sub(k.index));
    let gap = keyframes
        .windows(2)
        .map(|w| w[1].index.saturating_sub(w[0].index))
        .chain(tail)
        .max()?;
    Some((gap as f64 / fps * 1000.0).round() / 1000.0)
}

/// Metrics, status, and (for frames that are written) resize + JPEG for one frame, or the picture
/// held back when the sink defers writing; the frame's buffer goes back to `pool`.
fn process_frame(
    ctx: &FrameContext,
    encoder: &mut Encoder,
    grey: &mut Vec<u8>,
    job: Job,
    pool: &BufferPool,
) -> Result<Done> {
    let Job { seq, mut frame } = job;
    let (w, h) = (frame.width as usize, frame.height as usize);
    grey.resize(w * h, 0);
    quality::rgb_to_grey(&frame.rgb, grey);
    let m: Metrics = quality::metrics(grey, w, h);
    let mut status = ctx.cfg.quality.classify(&m);
    let thumb = Thumbnail::of_grey(grey, w, h);
    let kept = status == FrameStatus::Kept;
    ctx.gate.hand_in(seq, frame.index, kept, Some(thumb));
    if ctx.gate.is_on() && kept && ctx.gate.wait(seq, false).still_of.is_some() {
        status = FrameStatus::Still;
    }
    let hooked = match ctx.hook {
        Some(hook) if status == FrameStatus::Kept => Some(hook(&frame)),
        _ => None,
    };
    let dir = match status {
        FrameStatus::Kept => Some(ctx.dataset.images_dir()),
        FrameStatus::Still => None,
        s if ctx.cfg.keep_rejected => Some(ctx.dataset.rejected_dir(s)),
        _ => None,
    };
    let mut unwritten = None;
    let file = match dir {
        Some(dir) => {
            let name = ctx.cfg.name.render(ctx.key, frame.index, frame.pts);
            let path = dir.join(&name);
            let rel = path.strip_prefix(ctx.dataset.root()).unwrap_or(&path);
            let rel = rel.to_string_lossy().replace('\\', "/");
            unwritten = match ctx.defer {
                Some(d) if status == FrameStatus::Kept => {
                    d.hold(&mut frame, &ctx.cfg.output, path.clone())
                }
                _ => None,
            };
            if unwritten.is_none() {
                let (jpeg, _) = encoder.encode_frame(&frame)?;
                write_atomic(&path, jpeg)?;
            }
            Some(rel)
        }
        None => None,
    };
    let record = FrameRecord {
        video: ctx.video.to_string(),
        frame: frame.index,
        pts: (frame.pts * 1e6).round() / 1e6,
        width: frame.width,
        height: frame.height,
        sharpness: m.sharpness,
        entropy: m.entropy,
        noise: m.noise,
        brightness: m.brightness,
        status,
        // Set in decode order from the gate's verdict.
        change: None,
        still_of: None,
        file,
        extra: Default::default(),
    };
    if frame.rgb.capacity() > 0 {
        pool.give(frame.rgb);
    }
    Ok(Done {
        seq,
        record,
        hooked,
        unwritten,
    })
}
