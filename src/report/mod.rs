//! `framelabel report`: what the dataset holds and what was thrown away, on one page.
//!
//! Thresholds are tuned by looking: the page puts every count next to the frames and boxes behind
//! it, draws the recorded metrics with the thresholds that cut them, and shows how many frames or
//! boxes each other threshold would have kept. Everything comes from the records the stages wrote
//! (`frames.jsonl`, `run.json`, `annotations.json`, `predictions.json`, saved embeddings): no model
//! runs again, so a report of a large run takes seconds. `summary.json` holds every number the
//! page shows, so scripts (and the tests) can check the page against the records.

mod draw;
mod html;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::{Dataset, FrameRecord, FrameStatus, write_atomic, write_json_atomic};
use crate::detect::label::{ANNOTATIONS_FILE, Filters, PREDICTIONS_FILE};
use crate::embed::dedup::{EMBEDDINGS_FILE, EMBEDDINGS_NAMES_FILE, decide, kept_counts};
use crate::embed::similar::Decision;
use crate::error::{Error, Result};
use crate::export::{Image, Labels};
use crate::rows::NamedRows;

/// The report's folder inside the output folder.
pub const REPORT_DIR: &str = "report";
/// Annotated previews by default.
pub const DEFAULT_PREVIEW: usize = 50;
/// Rejected frames shown per reason.
const REJECTED_SHOWN: usize = 12;
/// Heat-maps drawn (the classes with most boxes).
const HEATMAP_CLASSES: usize = 12;
/// Cells per side of a heat-map.
const HEATMAP_GRID: usize = 20;
/// Above this many embedded frames the dedup curve is estimated from the recorded similarities
/// instead of replaying the rule at every threshold.
const EXACT_CURVE_MAX: usize = 100_000;
/// Up to this many, every pair's similarity is computed once (16 MB) and the rule replayed on them.
const GRAM_CURVE_MAX: usize = 2_048;
/// Above that, the replays stop before one expected to compare more pairs than this (about a second
/// or two on 2 cores with 1280-d embeddings).
const REPLAY_BUDGET: u64 = 10_000_000;
/// COCO's size classes: box area below 32² is small, below 96² medium, else large.
const SMALL_AREA: f64 = 32.0 * 32.0;
const MEDIUM_AREA: f64 = 96.0 * 96.0;

/// The frame statuses other than `kept`, in the order the page lists them.
pub const REASONS: [FrameStatus; 8] = [
    FrameStatus::Dark,
    FrameStatus::Bright,
    FrameStatus::Noisy,
    FrameStatus::Blurry,
    FrameStatus::Still,
    FrameStatus::Duplicate,
    FrameStatus::Empty,
    FrameStatus::Missing,
];

#[derive(Debug, Clone, Serialize)]
pub struct ReportConfig {
    /// The output folder to report on.
    pub dir: PathBuf,
    /// Annotated previews to draw.
    pub preview: usize,
}

/// Every number of the page; written to `report/summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tool: &'static str,
    pub version: &'static str,
    pub generated_at: String,
    /// The output folder reported on.
    pub dir: PathBuf,
    /// The command that made the folder (`extract` or `run`).
    pub command: Option<String>,
    pub models: Models,
    pub parameters: Parameters,
    pub videos: Vec<VideoCounts>,
    pub totals: VideoCounts,
    /// How frames were sampled, in words.
    pub sampler: String,
    /// What the user should know before trusting the numbers below.
    pub warnings: Vec<String>,
    /// Whether `annotations.json` exists.
    pub labelled: bool,
    /// Boxes of `annotations.json` (after the label filters).
    pub boxes: u64,
    /// Detections before the filters (`predictions.json`).
    pub predictions: Option<u64>,
    pub classes: Vec<ClassStats>,
    pub histograms: Vec<Histogram>,
    pub curves: Curves,
    pub previews: Vec<Preview>,
    pub rejected: Vec<RejectedGroup>,
    pub plots: Vec<Plot>,
    /// The review queue of `run --track`; `None` without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSection>,
}

/// What the temporal checks of `run --track` found, and the frames to look at first.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewSection {
    pub kept_frames: u64,
    /// Kept frames with at least one reason.
    pub flagged_frames: u64,
    pub tracks: u64,
    /// Per reason (in the order of the review's weights): kept frames with it, and boxes with it
    /// (for `missed`, the tracks' suggestions).
    pub reasons: Vec<ReasonCount>,
    /// The frames of the highest priority, drawn.
    pub top: Vec<ReviewFrame>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub frames: u64,
    pub boxes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewFrame {
    /// The drawn picture, relative to the report folder.
    pub file: String,
    /// The frame's picture, relative to the output folder.
    pub source: String,
    pub video: String,
    pub frame: u64,
    pub priority: f64,
    pub reasons: Vec<String>,
    pub flagged_boxes: u64,
    pub suggestions: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Models {
    pub embedder: Option<Value>,
    pub detector: Option<Value>,
}

/// The stage parameters as `run.json` recorded them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Parameters {
    pub extract: Value,
    pub dedup: Value,
    pub label: Value,
}

/// What happened to the frames of one video (or of all, in `totals`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VideoCounts {
    pub video: String,
    /// Frames the decoder output (`run.json`; absent for a video it does not list).
    pub decoded: Option<u64>,
    /// Frames that got a record in `frames.jsonl`.
    pub sampled: u64,
    /// Frames per final status other than kept (every reason listed, 0 included).
    pub rejected: BTreeMap<String, u64>,
    pub kept: u64,
    /// Kept frames with at least one box.
    pub labelled: u64,
    pub boxes: u64,
    /// With `--keyframes`: `skip` (the decoder skipped other frames) or `full` (it decoded every
    /// frame; the file's packets carry no timestamps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
    /// The longest time between two key frames decoding met, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe_gap_s: Option<f64>,
}

impl VideoCounts {
    fn new(video: String, decoded: Option<u64>) -> Self {
        VideoCounts {
            video,
            decoded,
            sampled: 0,
            rejected: REASONS
                .iter()
                .map(|r| (r.as_str().to_string(), 0))
                .collect(),
            kept: 0,
            labelled: 0,
            boxes: 0,
            sampler: None,
            keyframe_gap_s: None,
        }
    }

    fn add(&mut self, o: &VideoCounts) {
        self.decoded = match (self.decoded, o.decoded) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.sampled += o.sampled;
        for (k, n) in &o.rejected {
            *self.rejected.entry(k.clone()).or_default() += n;
        }
        self.kept += o.kept;
        self.labelled += o.labelled;
        self.boxes += o.boxes;
    }
}

/// One class of `annotations.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ClassStats {
    /// The COCO category id.
    pub id: u32,
    pub name: String,
    pub boxes: u64,
    /// Images with at least one box of the class.
    pub images: u64,
    /// COCO's size classes by box area in pixels of the written image: < 32², < 96², the rest.
    pub small: u64,
    pub medium: u64,
    pub large: u64,
    pub mean_score: Option<f64>,
    /// The class's heat-map of box centres, relative to the report folder.
    pub heatmap: Option<String>,
}

/// Counts of a metric in equal bins over `[lo, hi]`; values outside are counted in the end bins.
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    /// Values below `lo`, included in the first bin.
    pub below: u64,
    /// Values above `hi`, included in the last bin.
    pub above: u64,
    pub thresholds: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Curves {
    pub dedup: Option<DedupCurve>,
    pub confidence: Option<ConfidenceCurve>,
    pub still: Option<StillCurve>,
}

/// Frames the still-frame gate skipped, or would have, at a few values of `--min-change`.
#[derive(Debug, Clone, Serialize)]
pub struct StillCurve {
    /// The value the run used, if the gate was on.
    pub min_change: Option<f64>,
    /// Frames the quality checks kept: those the gate looks at.
    pub checked: u64,
    /// Each value of D, with the frames it makes `still` (summed over the videos).
    pub points: Vec<(f64, u64)>,
}

/// Frames dedup would keep at other thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct DedupCurve {
    /// The threshold the run used.
    pub threshold: f64,
    /// The embeddings file: the dedup rule replayed on them at every threshold (exact, unless it
    /// says the approximate index or, on long runs, where the replays stopped and the estimate
    /// took over); `similarities`: kept frames plus the duplicates less similar than each
    /// threshold, from `frames.jsonl` (an estimate, and only for thresholds above the one used).
    pub source: String,
    pub points: Vec<(f64, u64)>,
}

/// Detections, boxes and labelled images at confidence thresholds from the one used up.
#[derive(Debug, Clone, Serialize)]
pub struct ConfidenceCurve {
    pub threshold: f64,
    pub points: Vec<ConfidencePoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfidencePoint {
    pub threshold: f64,
    /// Detections before the class and size filters (`predictions.json`).
    pub detections: u64,
    /// Boxes after the filters (`annotations.json`).
    pub boxes: u64,
    /// Images with at least one box.
    pub images: u64,
}

/// An annotated kept frame.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The drawn picture, relative to the report folder.
    pub file: String,
    /// The frame's picture, relative to the output folder.
    pub source: String,
    pub video: String,
    pub frame: u64,
    pub boxes: u64,
    pub max_score: Option<f64>,
    pub min_score: Option<f64>,
    /// `most confident`, `least confident` or `no boxes`.
    pub why: String,
}

/// The rejected frames of one reason, those nearest the threshold first.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedGroup {
    pub reason: String,
    pub count: u64,
    pub shown: Vec<RejectedFrame>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RejectedFrame {
    pub video: String,
    pub frame: u64,
    pub pts: f64,
    /// The picture relative to the report folder, when it was kept (`--keep-rejected`).
    pub image: Option<String>,
    pub sharpness: f64,
    pub entropy: f64,
    pub noise: f64,
    pub brightness: f64,
    pub similarity: Option<f64>,
    pub duplicate_of: Option<String>,
    pub change: Option<f64>,
    pub still_of: Option<u64>,
}

/// Where a report went, for `run`'s summary.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// `DIR/report/index.html`.
    pub page: PathBuf,
    pub plots: usize,
    pub previews: usize,
}

impl Written {
    pub fn of(s: &Summary) -> Self {
        Written {
            page: s.dir.join(REPORT_DIR).join("index.html"),
            plots: s.plots.len(),
            previews: s.previews.len(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plot {
    /// The PNG, relative to the report folder.
    pub file: String,
    pub title: String,
}

/// Reads the records of `cfg.dir` and writes `report/` (page, plots, previews, summary.json).
pub fn report(cfg: &ReportConfig) -> Result<Summary> {
    let dataset = Dataset::open_existing(&cfg.dir)?;
    let records = dataset.read_frames()?;
    let run = dataset.run_json();
    let labels = if dataset.root().join(ANNOTATIONS_FILE).is_file() {
        Some(Labels::load(&dataset, &Filters::default())?)
    } else {
        None
    };
    let out = dataset.root().join(REPORT_DIR);
    for sub in ["plots", "annotated"] {
        let d = out.join(sub);
        // Pictures of an earlier report (another sample) go; the folder holds only ours.
        if d.is_dir() {
            std::fs::remove_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }

    let by_name: HashMap<&str, &Image> = labels
        .iter()
        .flat_map(|l| l.images.iter())
        .map(|im| (im.file_name.as_str(), im))
        .collect();
    let (videos, totals) = video_counts(&run, &records, &by_name);
    let sampling = &run["parameters"]["sampling"];
    let warnings = keyframe_warnings(sampling, &videos);
    let classes = labels.as_ref().map(class_stats).unwrap_or_default();
    let predictions = read_prediction_scores(&dataset)?;
    let confidence = threshold(&run["label"]["parameters"]["confidence"]);

    // The previews (pictures decoded, drawn and encoded again: most of the work) are drawn while
    // the numbers and plots are worked out, which keep one core busy at most.
    let (summary, drawn) = rayon::join(
        || -> Result<Summary> {
            let mut summary = Summary {
                tool: "framelabel",
                version: env!("CARGO_PKG_VERSION"),
                generated_at: crate::extract::now_rfc3339(),
                dir: dataset.root().to_path_buf(),
                command: run["command"].as_str().map(str::to_string),
                models: Models {
                    embedder: non_null(&run["dedup"]["embedder"]),
                    detector: non_null(&run["label"]["detector"]),
                },
                parameters: Parameters {
                    extract: run["parameters"].clone(),
                    dedup: run["dedup"]["parameters"].clone(),
                    label: run["label"]["parameters"].clone(),
                },
                videos,
                totals,
                sampler: sampler_words(sampling),
                warnings,
                labelled: labels.is_some(),
                boxes: labels.as_ref().map_or(0, |l| l.boxes() as u64),
                predictions: predictions.as_ref().map(|p| p.len() as u64),
                classes,
                histograms: histograms(&run, &records, labels.as_ref(), confidence),
                curves: Curves {
                    dedup: dedup_curve(&dataset, &run, &records)?,
                    confidence: labels
                        .as_ref()
                        .zip(confidence)
                        .map(|(l, c)| confidence_curve(l, predictions.as_deref(), c)),
                    still: still_curve(&run, &records),
                },
                previews: Vec::new(),
                rejected: rejected_groups(&run, &records),
                plots: Vec::new(),
                review: None,
            };
            draw::plots(&out, &mut summary, labels.as_ref())?;
            Ok(summary)
        },
        || -> Result<(Vec<Preview>, Option<ReviewSection>)> {
            let Some(l) = labels.as_ref() else {
                return Ok((Vec::new(), None));
            };
            Ok((
                previews(&out, l, &records, cfg.preview)?,
                review_section(&out, l, cfg.preview)?,
            ))
        },
    );
    let mut summary = summary?;
    (summary.previews, summary.review) = drawn?;
    write_json_atomic(&out.join("summary.json"), &summary)?;
    write_atomic(&out.join("index.html"), html::page(&summary).as_bytes())?;
    Ok(summary)
}

/// Key frames further apart than this are more than a user of `--keyframes` likely expects.
const KEYFRAME_GAP_WARNING_S: f64 = 10.0;

/// The sampling of `run.json`'s parameters in words.
fn sampler_words(sampling: &Value) -> String {
    let rate = match (&sampling["rate"]["every"], &sampling["rate"]["fps"]) {
        (Value::Number(n), _) if n.as_u64() == Some(1) => None,
        (Value::Number(n), _) => Some(format!("one frame in {n}")),
        (_, Value::Number(f)) => Some(format!("{f} frames/s")),
        _ => None,
    };
    match (sampling["keyframes"].as_bool().unwrap_or(false), rate) {
        (true, Some(r)) => format!("key frames only, at most {r}"),
        (true, None) => "key frames only".into(),
        (false, Some(r)) => r,
        (false, None) => "every frame".into(),
    }
}

/// A warning for each video whose key frames were far apart or could not be skipped to, when
/// key frames alone were taken.
fn keyframe_warnings(sampling: &Value, videos: &[VideoCounts]) -> Vec<String> {
    if !sampling["keyframes"].as_bool().unwrap_or(false) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for v in videos {
        if let Some(gap) = v.keyframe_gap_s.filter(|&g| g > KEYFRAME_GAP_WARNING_S) {
            out.push(format!(
                "{}: key frames are up to {gap:.0} s apart, so --keyframes took one frame per {gap:.0} s there; --fps samples evenly",
                v.video
            ));
        }
        if v.sampler.as_deref() == Some("full") {
            out.push(format!(
                "{}: its packets carry no timestamps, so every frame was decoded to find the key frames (no time saved)",
                v.video
            ));
        }
    }
    out
}

fn non_null(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

/// The file name of a record's picture: the key of `annotations.json`'s images.
fn base_name(r: &FrameRecord) -> Option<&str> {
    r.file.as_deref().and_then(|f| f.rsplit('/').next())
}

fn video_counts(
    run: &Value,
    records: &[FrameRecord],
    by_name: &HashMap<&str, &Image>,
) -> (Vec<VideoCounts>, VideoCounts) {
    #[derive(Deserialize)]
    struct Decoded {
        video: String,
        decoded: u64,
        #[serde(default)]
        sampler: Option<String>,
        #[serde(default)]
        keyframe_gap_s: Option<f64>,
    }
    let listed: Vec<Decoded> = serde_json::from_value(run["videos"].clone()).unwrap_or_default();
    let mut videos: Vec<VideoCounts> = listed
        .into_iter()
        .map(|v| VideoCounts {
            sampler: v.sampler,
            keyframe_gap_s: v.keyframe_gap_s,
            ..VideoCounts::new(v.video, Some(v.decoded))
        })
        .collect();
    let mut index: HashMap<String, usize> = videos
        .iter()
        .enumerate()
        .map(|(i, v)| (v.video.clone(), i))
        .collect();
    for r in records {
        let i = *index.entry(r.video.clone()).or_insert_with(|| {
            videos.push(VideoCounts::new(r.video.clone(), None));
            videos.len() - 1
        });
        let v = &mut videos[i];
        v.sampled += 1;
        if r.status == FrameStatus::Kept {
            v.kept += 1;
            let boxes = base_name(r)
                .and_then(|n| by_name.get(n))
                .map_or(0, |im| im.boxes.len() as u64);
            v.labelled += (boxes > 0) as u64;
            v.boxes += boxes;
        } else {
            *v.rejected.entry(r.status.as_str().to_string()).or_default() += 1;
        }
    }
    let mut totals = VideoCounts::new("all videos".into(), None);
    for v in &videos {
        totals.add(v);
    }
    (videos, totals)
}

fn class_stats(labels: &Labels) -> Vec<ClassStats> {
    let mut stats: Vec<ClassStats> = labels
        .classes
        .iter()
        .map(|c| ClassStats {
            id: c.coco_id,
            name: c.name.clone(),
            boxes: 0,
            images: 0,
            small: 0,
            medium: 0,
            large: 0,
            mean_score: None,
            heatmap: None,
        })
        .collect();
    let mut score_sum = vec![0.0; stats.len()];
    for im in &labels.images {
        let mut seen = vec![false; stats.len()];
        for b in &im.boxes {
            let s = &mut stats[b.class];
            s.boxes += 1;
            if !seen[b.class] {
                seen[b.class] = true;
                s.images += 1;
            }
            let area = b.w * b.h;
            if area < SMALL_AREA {
                s.small += 1;
            } else if area < MEDIUM_AREA {
                s.medium += 1;
            } else {
                s.large += 1;
            }
            score_sum[b.class] += b.score;
        }
    }
    for (s, sum) in stats.iter_mut().zip(score_sum) {
        s.mean_score = (s.boxes > 0).then(|| round(sum / s.boxes as f64, 4));
    }
    // Classes the run chose but never saw stay listed (a zero is news); of all 80 COCO classes,
    // only those with boxes.
    let chosen = labels.classes.len() < 80;
    stats.retain(|s| chosen || s.boxes > 0);
    stats.sort_by(|a, b| b.boxes.cmp(&a.boxes).then(a.id.cmp(&b.id)));
    stats
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

/// The scores of `predictions.json`, when it exists.
fn read_prediction_scores(dataset: &Dataset) -> Result<Option<Vec<f64>>> {
    #[derive(Deserialize)]
    struct Detection {
        score: f64,
    }
    let path = dataset.root().join(PREDICTIONS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let d: Vec<Detection> = serde_json::from_str(&text).map_err(|e| {
        Error::output(
            &path,
            format!("not a COCO results list ({e}); run `framelabel label` again"),
        )
    })?;
    Ok(Some(d.into_iter().map(|d| d.score).collect()))
}

/// Counts `values` in `bins` equal bins over `[lo, hi]`, those outside in the end bins.
fn histogram(
    name: &str,
    values: &[f64],
    (lo, hi): (f64, f64),
    bins: usize,
    thresholds: Vec<(String, f64)>,
) -> Histogram {
    let mut counts = vec![0u64; bins];
    let (mut below, mut above) = (0, 0);
    let width = (hi - lo).max(f64::MIN_POSITIVE);
    for &v in values.iter().filter(|v| v.is_finite()) {
        below += (v < lo) as u64;
        above += (v > hi) as u64;
        let i = (((v - lo) / width) * bins as f64)
            .floor()
            .clamp(0.0, (bins - 1) as f64);
        counts[i as usize] += 1;
    }
    Histogram {
        name: name.into(),
        lo,
        hi,
        counts,
        below,
        above,
        thresholds,
    }
}

/// The range a histogram shows: the middle 99% of the values and every threshold, with a margin,
/// within `bounds` (a long tail would squeeze the rest into one bin).
fn range(values: &[f64], thresholds: &[(String, f64)], bounds: (f64, f64)) -> (f64, f64) {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let at = |share: f64| {
        v.get(((v.len().max(1) - 1) as f64 * share).round() as usize)
            .copied()
    };
    let ts = thresholds.iter().map(|t| t.1);
    let lo = at(0.005)
        .into_iter()
        .chain(ts.clone())
        .fold(f64::INFINITY, f64::min);
    let hi = at(0.995)
        .into_iter()
        .chain(ts)
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return bounds;
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (lo, hi) = ((lo - pad).max(bounds.0), (hi + pad).min(bounds.1));
    if hi > lo { (lo, hi) } else { bounds }
}

/// A threshold of `run.json`, which the stages hold as f32, as the user wrote it (0.95, not
/// 0.949999988).
fn threshold(v: &Value) -> Option<f64> {
    v.as_f64()
        .map(|x| (x as f32).to_string().parse().unwrap_or(x))
}

fn histograms(
    run: &Value,
    records: &[FrameRecord],
    labels: Option<&Labels>,
    confidence: Option<f64>,
) -> Vec<Histogram> {
    let q = &run["parameters"]["quality"];
    let t = |key: &str, name: &str| q[key].as_f64().map(|v| (name.to_string(), v));
    let mut out = Vec::new();
    /// Name, value, thresholds, the bounds of its values.
    type Metric = (
        &'static str,
        fn(&FrameRecord) -> f64,
        Vec<(String, f64)>,
        (f64, f64),
    );
    let metrics: [Metric; 4] = [
        (
            "sharpness",
            |r| r.sharpness,
            t("min_sharpness", "--min-sharpness").into_iter().collect(),
            (0.0, f64::INFINITY),
        ),
        (
            "entropy",
            |r| r.entropy,
            t("max_entropy", "--max-entropy").into_iter().collect(),
            (0.0, 1.0),
        ),
        (
            "noise",
            |r| r.noise,
            t("max_noise", "--max-noise").into_iter().collect(),
            (0.0, 1.0),
        ),
        (
            "brightness",
            |r| r.brightness,
            t("min_brightness", "--min-brightness")
                .into_iter()
                .chain(t("max_brightness", "--max-brightness"))
                .collect(),
            (0.0, 1.0),
        ),
    ];
    for (name, value, thresholds, bounds) in metrics {
        let values: Vec<f64> = records.iter().map(value).collect();
        let r = range(&values, &thresholds, bounds);
        out.push(histogram(name, &values, r, 40, thresholds));
    }
    let changes: Vec<f64> = records.iter().filter_map(|r| r.change).collect();
    if !changes.is_empty() {
        let d: Vec<(String, f64)> = run["parameters"]["min_change"]
            .as_f64()
            .map(|d| ("--min-change".to_string(), d))
            .into_iter()
            .collect();
        let r = range(&changes, &d, (0.0, 1.0));
        out.push(histogram("change", &changes, r, 40, d));
    }
    if let Some(l) = labels {
        let boxes = || l.images.iter().flat_map(|im| im.boxes.iter());
        let scores: Vec<f64> = boxes().map(|b| b.score).collect();
        let conf: Vec<(String, f64)> = confidence
            .map(|c| ("--confidence".to_string(), c))
            .into_iter()
            .collect();
        out.push(histogram("score", &scores, (0.0, 1.0), 20, conf));
        let sides: Vec<f64> = boxes().map(|b| (b.w * b.h).sqrt()).collect();
        let sizes = vec![("small/medium".into(), 32.0), ("medium/large".into(), 96.0)];
        let r = range(&sides, &sizes, (0.0, f64::INFINITY));
        out.push(histogram("box size", &sides, r, 40, sizes));
    }
    out
}

/// Embeddings saved by `dedup --save-embeddings` or kept by `run` for resuming, by file name.
/// Rows by frame file name, and where they came from.
type Saved = (String, NamedRows);

fn saved_embeddings(dataset: &Dataset) -> Result<Option<Saved>> {
    let npy = dataset.root().join(EMBEDDINGS_FILE);
    let names = dataset.root().join(EMBEDDINGS_NAMES_FILE);
    if npy.is_file() && names.is_file() {
        let bad = |e: String| Error::output(&npy, format!("{e}; run `framelabel dedup` again"));
        let file = std::fs::File::open(&npy).map_err(|e| Error::io(&npy, e))?;
        let arr =
            npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
        let shape = arr.shape().to_vec();
        let rows: Vec<f32> = arr.into_vec().map_err(|e| bad(e.to_string()))?;
        let names: Vec<String> =
            serde_json::from_slice(&std::fs::read(&names).map_err(|e| Error::io(&names, e))?)
                .map_err(|e| bad(e.to_string()))?;
        let dim = shape.get(1).copied().unwrap_or(0) as usize;
        if shape.len() != 2 || names.len() as u64 != shape[0] || dim == 0 {
            return Err(bad(format!(
                "holds {shape:?} rows for {} names",
                names.len()
            )));
        }
        return Ok(Some((
            EMBEDDINGS_FILE.into(),
            NamedRows::from_block(names, rows, dim),
        )));
    }
    let cache = dataset
        .root()
        .join(crate::state::STATE_DIR)
        .join("embeddings.bin");
    if cache.is_file() {
        let map = crate::state::read_embeddings(&cache)?;
        return Ok(Some((
            format!("{}/embeddings.bin", crate::state::STATE_DIR),
            map,
        )));
    }
    Ok(None)
}

/// The file name a frame's picture has or had: duplicates removed from the dataset lost their
/// `file`, but their name follows from the `--name` template and the video's key in `run.json`.
fn picture_names(run: &Value) -> impl Fn(&FrameRecord) -> Option<String> {
    let template = run["parameters"]["name"]
        .as_str()
        .and_then(|t| crate::extract::naming::NameTemplate::parse(t).ok());
    let keys: HashMap<String, String> = run["videos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["video"].as_str()?.into(), v["key"].as_str()?.into())))
        .collect();
    move |r: &FrameRecord| match base_name(r) {
        Some(n) => Some(n.to_string()),
        None => Some(
            template
                .as_ref()?
                .render(keys.get(&r.video)?, r.frame, r.pts),
        ),
    }
}

fn dedup_curve(
    dataset: &Dataset,
    run: &Value,
    records: &[FrameRecord],
) -> Result<Option<DedupCurve>> {
    let params = &run["dedup"]["parameters"];
    let Some(threshold) = threshold(&params["threshold"]) else {
        return Ok(None);
    };
    let min_gap = params["min_gap"].as_f64();
    let exact_limit = params["exact_limit"]
        .as_u64()
        .map_or(crate::embed::dedup::DEFAULT_EXACT_LIMIT, |l| l as usize);
    // The frames dedup looked at: kept by it, duplicates, and those `label --drop-empty` removed.
    let seen: Vec<usize> = (0..records.len())
        .filter(|&i| {
            matches!(
                records[i].status,
                FrameStatus::Kept | FrameStatus::Duplicate | FrameStatus::Empty
            )
        })
        .collect();
    let grid: Vec<f64> = (70..=100).map(|p| p as f64 / 100.0).collect();
    if seen.len() <= EXACT_CURVE_MAX
        && let Some((source, map)) = saved_embeddings(dataset)?
    {
        let name = picture_names(run);
        let names: Vec<Option<String>> = seen.iter().map(|&i| name(&records[i])).collect();
        let (emb, held) = map.gather(&names);
        let dim = map.dim();
        if dim > 0 && held.len() == seen.len() {
            let present: Vec<usize> = (0..seen.len()).collect();
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            // The rule as dedup ran it: above its exact limit, with the approximate index.
            let mut source = if seen.len() > exact_limit {
                format!("{source} (replayed with the approximate index)")
            } else {
                source
            };
            let points = if seen.len() <= GRAM_CURVE_MAX {
                let ts: Vec<f32> = grid.iter().map(|&t| t as f32).collect();
                let counts = kept_counts(records, &seen, &emb, dim, &ts, min_gap, threads);
                grid.iter().copied().zip(counts).collect()
            } else {
                // From the lowest threshold up. A replay compares every frame with
                // the frames kept so far, so it costs about frames × frames kept: little at low
                // thresholds, and at the high ones, on long footage that is alike throughout,
                // hours (nearly every frame is kept). The replays stop before one that would
                // pass the budget, judged by how fast the count grew from the threshold before;
                // the rest are estimated from the recorded similarities, as without embeddings.
                let mut points = replayed_counts(&grid, seen.len(), REPLAY_BUDGET, |t| {
                    let d = decide(
                        records,
                        &seen,
                        &present,
                        &emb,
                        dim,
                        t as f32,
                        min_gap,
                        exact_limit,
                        threads,
                    )?;
                    Ok(d.iter().filter(|d| matches!(d, Decision::Kept)).count() as u64)
                })?;
                if let Some(&(last, _)) = points.last().filter(|_| points.len() < grid.len()) {
                    let estimate = estimated_curve(records, &seen, threshold, &grid);
                    points.extend(estimate.into_iter().filter(|&(t, _)| t > last + 1e-9));
                    source = format!(
                        "{source}, up to {last:.2}; above, estimated from the similarities in \
                         frames.jsonl"
                    );
                }
                points
            };
            return Ok(Some(DedupCurve {
                threshold,
                source,
                points,
            }));
        }
    }
    let points = estimated_curve(records, &seen, threshold, &grid);
    Ok(Some(DedupCurve {
        threshold,
        source: "similarities".into(),
        points,
    }))
}

/// `replay(t)` (frames kept at threshold `t`) at the thresholds of `grid` from the lowest up, while
/// the next is expected to compare at most `budget` pairs: `n` frames times the count expected,
/// the last count grown as much as it grew from the one before.
fn replayed_counts(
    grid: &[f64],
    n: usize,
    budget: u64,
    mut replay: impl FnMut(f64) -> Result<u64>,
) -> Result<Vec<(f64, u64)>> {
    let mut points: Vec<(f64, u64)> = Vec::new();
    for &t in grid {
        let expected = match points[..] {
            [.., (_, a), (_, b)] => b.saturating_mul(b.div_ceil(a.max(1)).max(1)),
            [.., (_, b)] => b,
            [] => 0,
        };
        if (n as u64).saturating_mul(expected) > budget {
            break;
        }
        points.push((t, replay(t)?));
    }
    Ok(points)
}

/// Frames kept at each of `grid` at or above the `threshold` used: those kept, plus the duplicates
/// less similar to their kept frame than it (an estimate: a frame kept at a higher threshold may
/// hold back others).
fn estimated_curve(
    records: &[FrameRecord],
    seen: &[usize],
    threshold: f64,
    grid: &[f64],
) -> Vec<(f64, u64)> {
    let kept = seen
        .iter()
        .filter(|&&i| records[i].status != FrameStatus::Duplicate)
        .count() as u64;
    let sims: Vec<f64> = seen
        .iter()
        .filter(|&&i| records[i].status == FrameStatus::Duplicate)
        .filter_map(|&i| records[i].extra.get("similarity").and_then(Value::as_f64))
        .collect();
    grid.iter()
        .filter(|&&t| t >= threshold - 1e-9)
        .map(|&t| (t, kept + sims.iter().filter(|&&s| s < t).count() as u64))
        .collect()
}

fn confidence_curve(labels: &Labels, predictions: Option<&[f64]>, used: f64) -> ConfidenceCurve {
    let mut grid = vec![used];
    let mut t = (used * 20.0).floor() / 20.0 + 0.05;
    while t < 0.999 {
        if t > used + 1e-9 {
            grid.push(round(t, 2));
        }
        t += 0.05;
    }
    let points = grid
        .into_iter()
        .map(|t| ConfidencePoint {
            threshold: t,
            detections: predictions.map_or(0, |p| p.iter().filter(|&&s| s >= t).count() as u64),
            boxes: labels
                .images
                .iter()
                .flat_map(|im| im.boxes.iter())
                .filter(|b| b.score >= t)
                .count() as u64,
            images: labels
                .images
                .iter()
                .filter(|im| im.boxes.iter().any(|b| b.score >= t))
                .count() as u64,
        })
        .collect();
    ConfidenceCurve {
        threshold: used,
        points,
    }
}

fn rejected_groups(run: &Value, records: &[FrameRecord]) -> Vec<RejectedGroup> {
    let q = &run["parameters"]["quality"];
    let max_entropy = q["max_entropy"].as_f64().unwrap_or(1.0).max(1e-9);
    let max_noise = q["max_noise"].as_f64().unwrap_or(1.0).max(1e-9);
    let similarity = |r: &FrameRecord| r.extra.get("similarity").and_then(Value::as_f64);
    REASONS
        .iter()
        .map(|&reason| {
            let mut of: Vec<&FrameRecord> = records.iter().filter(|r| r.status == reason).collect();
            // Nearest the threshold first: those are the frames a user would want back.
            let key = |r: &FrameRecord| -> f64 {
                match reason {
                    FrameStatus::Dark => -r.brightness,
                    FrameStatus::Bright => r.brightness,
                    FrameStatus::Noisy => (r.entropy / max_entropy).max(r.noise / max_noise),
                    FrameStatus::Blurry => -r.sharpness,
                    FrameStatus::Duplicate => similarity(r).unwrap_or(1.0),
                    FrameStatus::Still => -r.change.unwrap_or(0.0),
                    _ => 0.0,
                }
            };
            of.sort_by(|a, b| key(a).total_cmp(&key(b)));
            RejectedGroup {
                reason: reason.as_str().into(),
                count: of.len() as u64,
                shown: of
                    .iter()
                    .take(REJECTED_SHOWN)
                    .map(|r| RejectedFrame {
                        video: r.video.clone(),
                        frame: r.frame,
                        pts: r.pts,
                        image: r.file.as_ref().map(|p| format!("../{p}")),
                        sharpness: r.sharpness,
                        entropy: r.entropy,
                        noise: r.noise,
                        brightness: r.brightness,
                        similarity: similarity(r),
                        duplicate_of: r
                            .extra
                            .get("duplicate_of")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        change: r.change,
                        still_of: r.still_of,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What `run.json` says each video's probes of the still-frame gate counted, summed, with the
/// count at the value the run used when it is not one of them. None for folders made before the
/// measure existed.
fn still_curve(run: &Value, records: &[FrameRecord]) -> Option<StillCurve> {
    let min_change = run["parameters"]["min_change"].as_f64();
    let mut points: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    let mut any = false;
    for v in run["videos"].as_array().into_iter().flatten() {
        let probes: Vec<crate::extract::still::Probe> =
            serde_json::from_value(v["still_at"].clone()).unwrap_or_default();
        for p in probes {
            any = true;
            points
                .entry(p.min_change.to_bits())
                .or_insert((p.min_change, 0))
                .1 += p.still;
        }
    }
    if !any {
        return None;
    }
    if let Some(d) = min_change {
        let still = records
            .iter()
            .filter(|r| r.status == FrameStatus::Still)
            .count() as u64;
        points.insert(d.to_bits(), (d, still));
    }
    let mut points: Vec<(f64, u64)> = points.into_values().collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Frames the quality checks kept; later stages may have turned them into duplicates or empty.
    let checked = records
        .iter()
        .filter(|r| !FrameStatus::QUALITY_REJECTIONS.contains(&r.status))
        .count() as u64;
    Some(StillCurve {
        min_change,
        checked,
        points,
    })
}

/// Draws the boxes on a sample of kept frames: the most confident, the least, then frames with
/// none (negatives need review too).
fn previews(
    out: &Path,
    labels: &Labels,
    records: &[FrameRecord],
    n: usize,
) -> Result<Vec<Preview>> {
    let max = |im: &Image| im.boxes.iter().map(|b| b.score).fold(f64::NAN, f64::max);
    let min = |im: &Image| im.boxes.iter().map(|b| b.score).fold(f64::NAN, f64::min);
    let mut with: Vec<&Image> = labels
        .images
        .iter()
        .filter(|im| !im.boxes.is_empty())
        .collect();
    let mut chosen: Vec<(&Image, &str)> = Vec::new();
    with.sort_by(|a, b| {
        max(b)
            .total_cmp(&max(a))
            .then(a.file_name.cmp(&b.file_name))
    });
    for im in with.iter().take(n.div_ceil(2)) {
        chosen.push((im, "most confident"));
    }
    with.sort_by(|a, b| {
        min(a)
            .total_cmp(&min(b))
            .then(a.file_name.cmp(&b.file_name))
    });
    for im in &with {
        if chosen.len() >= n {
            break;
        }
        if !chosen.iter().any(|(c, _)| c.id == im.id) {
            chosen.push((im, "least confident"));
        }
    }
    for im in labels.images.iter().filter(|im| im.boxes.is_empty()) {
        if chosen.len() >= n {
            break;
        }
        chosen.push((im, "no boxes"));
    }
    let by_name: HashMap<&str, &FrameRecord> = records
        .iter()
        .filter_map(|r| Some((base_name(r)?, r)))
        .collect();
    let dir = out.join("annotated");
    chosen
        .par_iter()
        .map(|&(im, why)| {
            let dest = dir.join(&im.file_name);
            draw::annotate(&im.path, &dest, &im.boxes, &[], &labels.classes)?;
            let r = by_name.get(im.file_name.as_str());
            Ok(Preview {
                file: format!("annotated/{}", im.file_name),
                source: format!("images/{}", im.file_name),
                video: r.map(|r| r.video.clone()).unwrap_or_default(),
                frame: r.map_or(0, |r| r.frame),
                boxes: im.boxes.len() as u64,
                max_score: (!im.boxes.is_empty()).then(|| round(max(im), 4)),
                min_score: (!im.boxes.is_empty()).then(|| round(min(im), 4)),
                why: why.into(),
            })
        })
        .collect()
}

/// The review of `run --track`: counts per reason, and the `n` frames of the highest priority
/// drawn with their flagged boxes and suggestions.
fn review_section(out: &Path, labels: &Labels, n: usize) -> Result<Option<ReviewSection>> {
    let Some(tracks) = &labels.tracks else {
        return Ok(None);
    };
    let reviewed: Vec<(&Image, &crate::export::Review)> = labels
        .images
        .iter()
        .filter_map(|im| Some((im, im.review.as_ref()?)))
        .collect();
    let reasons = crate::track::Reason::ALL
        .iter()
        .map(|r| {
            let r = r.as_str();
            let has = |v: &[String]| v.iter().any(|x| x == r);
            ReasonCount {
                reason: r.to_string(),
                frames: reviewed.iter().filter(|(_, v)| has(&v.reasons)).count() as u64,
                boxes: reviewed
                    .iter()
                    .map(|(im, v)| {
                        if r == "missed" {
                            v.suggestions.len()
                        } else {
                            im.boxes.iter().filter(|b| has(&b.reasons)).count()
                        }
                    })
                    .sum::<usize>() as u64,
            }
        })
        .collect();
    let mut first: Vec<&(&Image, &crate::export::Review)> =
        reviewed.iter().filter(|(_, v)| v.priority > 0.0).collect();
    first.sort_by(|a, b| {
        b.1.priority
            .total_cmp(&a.1.priority)
            .then(a.0.file_name.cmp(&b.0.file_name))
    });
    first.truncate(n);
    let dir = out.join("annotated");
    let top = first
        .par_iter()
        .map(|&&(im, v)| {
            let name = format!("review_{}", im.file_name);
            draw::annotate(
                &im.path,
                &dir.join(&name),
                &im.boxes,
                &v.suggestions,
                &labels.classes,
            )?;
            Ok(ReviewFrame {
                file: format!("annotated/{name}"),
                source: format!("images/{}", im.file_name),
                video: im.video.clone(),
                frame: im.frame,
                priority: v.priority,
                reasons: v.reasons.clone(),
                flagged_boxes: im.boxes.iter().filter(|b| !b.reasons.is_empty()).count() as u64,
                suggestions: v.suggestions.len() as u64,
            })
        })
        .collect::<Result<Vec<ReviewFrame>>>()?;
    Ok(Some(ReviewSection {
        kept_frames: reviewed.len() as u64,
        flagged_frames: reviewed
            .iter()
            .filter(|(_, v)| !v.reasons.is_empty())
            .count() as u64,
        tracks: tracks.tracks.len() as u64,
        reasons,
        top,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_stop_before_one_expected_to_pass_the_budget() {
        let grid: Vec<f64> = (0..10).map(|i| 0.90 + i as f64 / 100.0).collect();
        // Counts that double from threshold to threshold, for 1000 frames.
        let count = |t: f64| 1u64 << ((t - 0.90) * 100.0).round() as u32;
        let mut asked = Vec::new();
        let points = replayed_counts(&grid, 1000, 50_000, |t| {
            asked.push(t);
            Ok(count(t))
        })
        .unwrap();
        // After 16, 32 is expected: 32 000 pairs. After 32, 64: 64 000, past the budget.
        assert_eq!(points.len(), 6);
        assert_eq!(asked.len(), 6, "no replay past the stop");
        assert!(points.iter().all(|&(t, n)| n == count(t)));
        // With room for all, every threshold is replayed.
        let all = replayed_counts(&grid, 1000, u64::MAX, |t| Ok(count(t))).unwrap();
        assert_eq!(all.len(), grid.len());
    }

    #[test]
    fn histogram_counts_every_value_once_and_those_outside_in_the_end_bins() {
        let h = histogram(
            "x",
            &[-1.0, 0.0, 0.25, 0.5, 0.99, 1.0, 7.0, f64::NAN],
            (0.0, 1.0),
            4,
            vec![],
        );
        assert_eq!(h.counts, vec![2, 1, 1, 3]);
        assert_eq!((h.below, h.above), (1, 1));
    }

    #[test]
    fn range_holds_the_thresholds_and_the_middle_of_the_values() {
        let values: Vec<f64> = (0..1000).map(|i| 0.5 + i as f64 / 10_000.0).collect();
        let (lo, hi) = range(&values, &[("t".into(), 0.1)], (0.0, 1.0));
        assert!((0.0..0.1).contains(&lo), "{lo}");
        assert!((0.59..0.65).contains(&hi), "{hi}");
        // Nothing to show: the natural bounds.
        assert_eq!(range(&[], &[], (0.0, 1.0)), (0.0, 1.0));
    }

    #[test]
    fn thresholds_read_as_written() {
        assert_eq!(threshold(&serde_json::json!(0.949999988079071)), Some(0.95));
        assert_eq!(
            threshold(&serde_json::json!(0.30000001192092896)),
            Some(0.3)
        );
        assert_eq!(threshold(&Value::Null), None);
    }
}
