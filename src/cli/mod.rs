//! The command line: the only place that knows about clap. Raw arguments are turned into validated
//! stage configurations here, so the library never sees a value that cannot work, and every bad value
//! is reported as one line naming the option, before any file is touched.
// The options' doc comments are the text `--help` prints, as written: `[@REVISION]` and `<reason>`
// there are not links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

mod commands;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

pub use commands::run;

use crate::error::{Error, Result};
use crate::extract::ExtractConfig;
use crate::extract::naming::{DEFAULT_TEMPLATE, NameTemplate};
use crate::extract::picture::{Output, ResizeMode};
use crate::extract::quality::Thresholds;
use crate::extract::sample::{Rate, Sampling, parse_time};

#[derive(Debug, Parser)]
#[command(
    name = "framelabel",
    version,
    about = "Turn raw video into a curated, pseudo-labelled object-detection dataset"
)]
#[command(
    after_help = "Exit codes: 0 all inputs processed (warnings allowed); 1 some input could not be processed; 2 bad usage or configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode videos, sample frames, reject bad ones, write JPEGs and frames.jsonl.
    Extract(Box<ExtractArgs>),
    /// Embed the kept frames of an output folder and remove near-duplicates.
    Dedup(Box<DedupArgs>),
    /// Run a COCO-pretrained detector over the kept frames of an output folder and write COCO JSON.
    Label(Box<LabelArgs>),
    /// Do everything in one streaming, resumable pass: extract, deduplicate, label, export.
    Run(Box<RunArgs>),
    /// Join the shards of one job (`run --shard`) into the output one run over all inputs makes.
    Merge(Box<MergeArgs>),
    /// Write the labels of an output folder in the formats annotation and training tools import
    /// (yolo, coco, voc, cvat, label-studio, coco-results; after `run --track` also cvat-video,
    /// mot).
    Export(Box<ExportArgs>),
    /// Write DIR/report/: an HTML page with counts, per-class statistics, plots, annotated frames
    /// and rejected frames, and summary.json with every number of the page.
    Report(Box<ReportArgs>),
    /// List the built-in models or download them for offline use.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the built-in models: task, input size, download size, licence, and whether cached.
    List {
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Download models into the cache (FRAMELABEL_CACHE) and verify their sha256.
    Fetch {
        /// Built-in model names (see `framelabel models list`).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Never touch the network: only check what is cached (also FRAMELABEL_OFFLINE=1).
        #[arg(long)]
        offline: bool,
    },
    /// Resolve a model spec, load it and show what framelabel makes of it: file, sha256, inputs,
    /// outputs, detector family and classes or embedding output, pre-processing.
    Info(Box<ModelInfoArgs>),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskArg {
    Detector,
    Embedder,
}

#[derive(Debug, Clone, Args)]
pub struct ModelInfoArgs {
    /// A built-in name, a local .onnx file, or hf:OWNER/REPO[/PATH.onnx][@REVISION].
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// Read the model as this task [default: the built-in table's, else detector, then embedder].
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Detector output family, when it cannot be recognised from the output shapes.
    #[arg(long, value_name = "yolox|yolo|detr")]
    pub family: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print the description as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LabelArgs {
    /// An output folder made by `framelabel extract`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub detect: DetectOptions,
    /// Frames per inference call when the model's batch axis is dynamic (original --batch_size).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        allow_negative_numbers = true
    )]
    pub batch_size: i64,
    /// Re-apply the filters to predictions.json without running the detector.
    #[arg(long, help_heading = "Filters")]
    pub refilter: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// No progress bar and no summary lines (errors and warnings still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The detector and what becomes a box: the options of `label` and `run`.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DetectOptions {
    /// Detector: a built-in name (see `framelabel models list`), a local .onnx file, or
    /// hf:OWNER/REPO[/PATH.onnx][@REVISION] (the original tool's --model_type).
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "yolox-s",
        help_heading = "Detection"
    )]
    pub detector: String,
    /// Detector output family when it cannot be recognised from the output shapes.
    #[arg(long, value_name = "yolox|yolo|detr", help_heading = "Detection")]
    pub family: Option<String>,
    /// Minimum detection score (original --model_confidence).
    #[arg(
        long,
        value_name = "C",
        default_value_t = 0.3,
        allow_negative_numbers = true,
        help_heading = "Detection"
    )]
    pub confidence: f64,
    /// IoU above which NMS drops the lower-scoring box of the same class.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.45,
        allow_negative_numbers = true,
        help_heading = "Detection"
    )]
    pub nms_iou: f64,
    /// At most N boxes per image.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 300,
        allow_negative_numbers = true,
        help_heading = "Detection"
    )]
    pub max_detections: i64,
    #[command(flatten)]
    #[serde(flatten)]
    pub boxes: BoxFilterArgs,
    /// Move frames left with no box out of the dataset, to rejected/empty/ (the original's
    /// behaviour; by default they stay as negatives).
    #[arg(long, help_heading = "Filters")]
    pub drop_empty: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DedupArgs {
    /// An output folder made by `framelabel extract`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub dedup: DedupOptions,
    /// Frames per inference call when the model's batch axis is dynamic.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        allow_negative_numbers = true
    )]
    pub batch_size: i64,
    /// Move duplicates to DIR/rejected/duplicate/ instead of deleting them.
    #[arg(long)]
    pub keep_rejected: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// No progress bar and no summary line (errors and warnings still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The embedder and the duplicate rule: the options of `dedup` and `run`.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DedupOptions {
    /// Image embedder: a built-in name, a local .onnx file, or hf:OWNER/REPO[/PATH.onnx][@REVISION].
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "clip-vit-b32",
        help_heading = "Deduplication"
    )]
    pub embedder: String,
    /// Cosine similarity at or above which two frames are duplicates (original --clip_dup_threshold).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 0.95,
        allow_negative_numbers = true,
        help_heading = "Deduplication"
    )]
    pub threshold: f64,
    /// Also treat frames of one video closer than this many seconds to a kept frame as duplicates.
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = "Deduplication"
    )]
    pub min_gap: Option<f64>,
    /// Also write DIR/embeddings.npy (float32 N x D, L2-normalised) and DIR/embeddings.json (file names).
    #[arg(long, help_heading = "Deduplication")]
    pub save_embeddings: bool,
    /// Above this many frames, compare each frame only with the kept frames an approximate index
    /// (LSH) proposes: far faster on large runs, may keep a few borderline duplicates.
    #[arg(
        long,
        value_name = "N",
        default_value_t = crate::embed::dedup::DEFAULT_EXACT_LIMIT,
        help_heading = "Deduplication"
    )]
    pub exact_limit: usize,
}

impl DedupArgs {
    pub fn to_config(&self) -> Result<crate::embed::dedup::DedupConfig> {
        let batch_size = batch_size(self.batch_size)?;
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        self.dedup.to_config(
            &self.dir,
            &self.model,
            self.model.threads()?,
            batch_size,
            self.keep_rejected,
        )
    }
}

impl DedupOptions {
    pub fn to_config(
        &self,
        dir: &std::path::Path,
        model: &ModelArgs,
        threads: usize,
        batch_size: usize,
        keep_rejected: bool,
    ) -> Result<crate::embed::dedup::DedupConfig> {
        let threshold = self.threshold;
        if !(threshold.is_finite() && threshold > -1.0 && threshold <= 1.0) {
            return Err(Error::usage(
                "--threshold",
                format!(
                    "{threshold} is not a cosine similarity: give a value above -1 and at most 1, such as 0.95"
                ),
            ));
        }
        if let Some(g) = self.min_gap
            && !(g.is_finite() && g >= 0.0)
        {
            return Err(Error::usage(
                "--min-gap",
                format!("{g} is not a number of seconds >= 0"),
            ));
        }
        Ok(crate::embed::dedup::DedupConfig {
            dir: dir.to_path_buf(),
            embedder: self.embedder.clone(),
            resolve: model.resolve_options(),
            device: model.device,
            threads,
            batch_size,
            threshold: threshold as f32,
            save_embeddings: self.save_embeddings,
            keep_rejected,
            min_gap: self.min_gap,
            exact_limit: self.exact_limit,
        })
    }
}

fn batch_size(n: i64) -> Result<usize> {
    if n < 1 {
        return Err(Error::usage("--batch-size", "must be at least 1"));
    }
    Ok(n as usize)
}

/// Parses a box-area bound: a fraction in (0, 1] or pixels with a `px` suffix.
pub fn parse_area(option: &str, s: &str) -> Result<crate::detect::label::Area> {
    use crate::detect::label::Area;
    let bad = || {
        Error::usage(
            option,
            format!(
                "'{s}' is not an area: use a fraction of the image area such as 0.001, or pixels such as 400px"
            ),
        )
    };
    if let Some(px) = s.trim().strip_suffix("px") {
        let v: f64 = px.trim().parse().map_err(|_| bad())?;
        return (v.is_finite() && v >= 0.0)
            .then_some(Area::Pixels(v))
            .ok_or_else(bad);
    }
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    (v.is_finite() && (0.0..=1.0).contains(&v))
        .then_some(Area::Fraction(v))
        .ok_or_else(bad)
}

impl LabelArgs {
    pub fn to_config(&self) -> Result<crate::detect::label::LabelConfig> {
        let batch_size = batch_size(self.batch_size)?;
        let mut cfg =
            self.detect
                .to_config(&self.dir, &self.model, self.model.threads()?, batch_size)?;
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        cfg.refilter = self.refilter;
        Ok(cfg)
    }
}

impl DetectOptions {
    pub fn to_config(
        &self,
        dir: &std::path::Path,
        model: &ModelArgs,
        threads: usize,
        batch_size: usize,
    ) -> Result<crate::detect::label::LabelConfig> {
        let family = self
            .family
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|m| Error::usage("--family", m))?;
        let confidence = unit_interval("--confidence", self.confidence)?;
        let nms_iou = unit_interval("--nms-iou", self.nms_iou)?;
        if self.max_detections < 1 {
            return Err(Error::usage("--max-detections", "must be at least 1"));
        }
        let filters = crate::detect::label::Filters {
            drop_empty: self.drop_empty,
            ..self.boxes.to_filters()?
        };
        Ok(crate::detect::label::LabelConfig {
            dir: dir.to_path_buf(),
            detector: self.detector.clone(),
            family,
            resolve: model.resolve_options(),
            device: model.device,
            threads,
            batch_size,
            confidence: confidence as f32,
            nms_iou: nms_iou as f32,
            max_detections: self.max_detections as usize,
            filters,
            refilter: false,
        })
    }
}

#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
#[command(
    args_override_self = true,
    after_help = "Every option can also come from --config FILE (TOML, keys named as the options: `fps = 2`, `classes = [\"person\", \"car\"]`, `inputs = [\"a.mp4\"]`); the command line wins. An interrupted run continues when started again with the same options."
)]
pub struct RunArgs {
    /// Video files, or folders searched recursively for video files.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing; an unfinished run there with the same options continues).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Start over in a folder that holds another run or another dataset.
    #[arg(long)]
    #[serde(skip)]
    pub force: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub frames: FrameArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub dedup: DedupOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub detect: DetectOptions,
    /// Frames per inference call of both models when their batch axis is dynamic.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        allow_negative_numbers = true,
        help_heading = "Models"
    )]
    pub batch_size: i64,
    /// Threads for inference and for per-frame work [default: all cores].
    #[arg(long, value_name = "N", help_heading = "Models")]
    pub threads: Option<usize>,
    /// Where inference runs: cpu, cuda, cuda:N, or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu", value_parser = parse_device, help_heading = "Models")]
    #[serde(serialize_with = "crate::extract::serialize_display")]
    pub device: crate::runtime::Device,
    /// Never download models; use only what is cached (also FRAMELABEL_OFFLINE=1).
    #[arg(long, help_heading = "Models")]
    pub offline: bool,
    /// JSON file describing the embedder (see `framelabel dedup --model-config`).
    #[arg(long, value_name = "FILE", help_heading = "Models")]
    pub embedder_config: Option<PathBuf>,
    /// JSON file describing the detector (see `framelabel label --model-config`).
    #[arg(long, value_name = "FILE", help_heading = "Models")]
    pub detector_config: Option<PathBuf>,
    /// Also export the labels in these formats (yolo, coco, voc, cvat, label-studio,
    /// coco-results; with --track also cvat-video, mot) to DIR/export/FORMAT.
    #[arg(long, value_name = "F", value_delimiter = ',', help_heading = "Export")]
    pub export: Vec<String>,
    /// yolo export: the score as a sixth column.
    #[arg(long, help_heading = "Export")]
    pub with_scores: bool,
    /// label-studio export: URL prefix of the images [default: /data/local-files/?d=images/].
    #[arg(long, value_name = "URL", help_heading = "Export")]
    pub image_root: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub split: SplitArgs,
    /// Stop after deduplication: curated frames to label by hand (what `extract` then `dedup`
    /// write; no detector runs, no annotations.json).
    #[arg(long, help_heading = "Stages")]
    pub no_label: bool,
    /// Label every kept frame: no embedder runs and no frame is dropped as a duplicate.
    #[arg(long, help_heading = "Stages")]
    pub no_dedup: bool,
    /// Track objects through the sampled frames (ByteTrack; the detector also runs on the
    /// sampled frames between kept ones) and flag kept frames for review: tracks.jsonl,
    /// review.json, track ids and reasons in annotations.json.
    #[arg(long, help_heading = "Review")]
    pub track: bool,
    /// Sampled frames per second the detector and tracker see with --track [default: the
    /// sampling rate, at most 5].
    #[arg(long, value_name = "F", help_heading = "Review")]
    pub track_fps: Option<f64>,
    /// Do not write the HTML report (DIR/report/) at the end.
    #[arg(long, help_heading = "Report")]
    pub no_report: bool,
    /// Annotated frames in the report.
    #[arg(long, value_name = "N", default_value_t = crate::report::DEFAULT_PREVIEW, help_heading = "Report")]
    pub preview: usize,
    /// Take shard I of N of the job (0-based), or `auto`: the index of a Slurm array task
    /// (SLURM_ARRAY_TASK_ID) or of a Kubernetes indexed Job's pod (JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "I/N|auto", help_heading = "Cluster")]
    pub shard: Option<String>,
    /// The number of shards: with --shard auto on Kubernetes (or FRAMELABEL_SHARDS), and for
    /// --print-plan.
    #[arg(long, value_name = "N", help_heading = "Cluster")]
    pub shards: Option<usize>,
    /// Cut videos longer than S seconds into slices of S seconds of video time, each a unit of
    /// work (not with --max-frames or --min-change, which run along a whole video).
    #[arg(long, value_name = "S", default_value_t = crate::pipeline::plan::DEFAULT_SLICE_S, allow_negative_numbers = true, help_heading = "Cluster")]
    pub slice: f64,
    /// Print the plan (every unit of work, its duration and its shard) and exit.
    #[arg(long, help_heading = "Cluster")]
    #[serde(skip)]
    pub print_plan: bool,
    /// Read options from this TOML file; options on the command line win.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML (usable as --config) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// No progress display and no per-video lines (errors and warnings still go to stderr).
    #[arg(long, short)]
    #[serde(skip)]
    pub quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl RunArgs {
    /// Validates every option and builds the configuration of each stage.
    pub fn to_config(&self) -> Result<crate::pipeline::RunConfig> {
        let out = self.out.clone().ok_or_else(|| {
            Error::usage(
                "--out",
                "no output folder: give --out DIR (or `out` in --config)",
            )
        })?;
        if self.inputs.is_empty() {
            return Err(Error::usage(
                "INPUT",
                "no videos: give video files or folders (or `inputs` in --config)",
            ));
        }
        let threads = threads(self.threads)?;
        let batch_size = batch_size(self.batch_size)?;
        let model = |config: &Option<PathBuf>| ModelArgs {
            device: self.device,
            threads: Some(threads),
            model_config: config.clone(),
            offline: self.offline,
        };
        let extract =
            self.frames
                .to_config(self.inputs.clone(), out.clone(), threads, self.force)?;
        let dedup = self.dedup.to_config(
            &out,
            &model(&self.embedder_config),
            threads,
            batch_size,
            self.frames.keep_rejected,
        )?;
        let label =
            self.detect
                .to_config(&out, &model(&self.detector_config), threads, batch_size)?;
        let mut exports = Vec::new();
        for f in self.export.iter().filter(|f| !f.trim().is_empty()) {
            let f: crate::export::Format = f.parse().map_err(|m| Error::usage("--export", m))?;
            if !exports.contains(&f) {
                exports.push(f);
            }
        }
        if self.no_label && !exports.is_empty() {
            return Err(Error::usage(
                "--export",
                "exports need labels, and --no-label runs no detector: drop one of the two",
            ));
        }
        let split = self.split.to_config()?;
        if split.is_some() && exports.is_empty() {
            return Err(Error::usage(
                "--split",
                "the split applies to exports: give --export FORMAT too",
            ));
        }
        if !(self.slice.is_finite() && self.slice >= 1.0) {
            return Err(Error::usage(
                "--slice",
                format!(
                    "{} is not a slice length: give seconds, at least 1, such as 600",
                    self.slice
                ),
            ));
        }
        if self.shards == Some(0) {
            return Err(Error::usage("--shards", "0: give at least 1"));
        }
        let shard = match &self.shard {
            Some(spec) => Some(crate::pipeline::plan::ShardRun {
                shard: crate::pipeline::plan::shard(spec, self.shards, &|k| std::env::var(k).ok())?,
                slice_s: self.slice,
            }),
            None if self.print_plan => Some(crate::pipeline::plan::ShardRun {
                shard: crate::pipeline::plan::Shard {
                    index: 0,
                    count: self.shards.unwrap_or(1),
                },
                slice_s: self.slice,
            }),
            None => None,
        };
        if let Some(f) = self.track_fps
            && !(f.is_finite() && f > 0.0)
        {
            return Err(Error::usage(
                "--track-fps",
                format!("{f} is not a rate: give frames per second above 0, such as 5"),
            ));
        }
        if let Some(f) = exports.iter().find(|f| f.of_tracks())
            && !self.track
        {
            return Err(Error::usage(
                "--export",
                format!("{f} exports tracks, which --track makes: give --track too"),
            ));
        }
        let track = match (self.track, self.track_fps) {
            (false, Some(_)) => {
                return Err(Error::usage(
                    "--track-fps",
                    "sets the rate of --track: give --track too",
                ));
            }
            (true, _) if self.no_label => {
                return Err(Error::usage(
                    "--track",
                    "tracks are made of the detector's boxes, and --no-label runs no detector: drop one of the two",
                ));
            }
            (true, _) if shard.as_ref().is_some_and(|s| s.shard.count > 1) => {
                return Err(Error::usage(
                    "--track",
                    "not with --shard yet: slices would cut tracks; run --track on one machine",
                ));
            }
            (true, fps) => Some(crate::pipeline::TrackConfig { fps }),
            (false, None) => None,
        };
        Ok(crate::pipeline::RunConfig {
            extract,
            dedup,
            label,
            exports,
            export_with_scores: self.with_scores,
            export_image_root: self.image_root.clone(),
            export_split: split,
            report: (!self.no_report).then_some(self.preview),
            no_label: self.no_label,
            no_dedup: self.no_dedup,
            shard,
            track,
            options: None,
        })
    }

    /// The effective options as TOML, in the form --config reads.
    pub fn to_toml(&self) -> String {
        let mut v = serde_json::to_value(self).expect("options serialise");
        if let Some(m) = v.as_object_mut() {
            m.retain(|_, x| !x.is_null());
        }
        let table: toml::Table = serde_json::from_value(v).expect("plain values");
        toml::to_string(&table).expect("a flat table")
    }
}

/// `framelabel merge`: the options come from the shards.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output folders: every shard of the job, in any order.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Output folder (created if missing; an unfinished merge there continues).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Start over in a folder that holds another run or another dataset.
    #[arg(long)]
    pub force: bool,
    /// Move the shards' pictures instead of hard-linking them (copies where the folders are on
    /// different file systems; moved, they are gone from the shards).
    #[arg(long = "move")]
    pub move_pictures: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl MergeArgs {
    /// The `run` options of the shards (`options`, TOML), on this merge's folder and threads, as
    /// one run over all inputs.
    pub fn run_args(&self, options: &str) -> Result<RunArgs> {
        let bad = |m: String| Error::usage("SHARD_DIR", format!("the shards' options: {m}"));
        let mut table: toml::Table = options
            .parse()
            .map_err(|e: toml::de::Error| bad(e.message().to_string()))?;
        for k in ["out", "shard", "shards", "threads"] {
            table.remove(k);
        }
        let file =
            std::env::temp_dir().join(format!("framelabel-merge-{}.toml", std::process::id()));
        std::fs::write(&file, toml::to_string(&table).expect("a flat table"))
            .map_err(|e| Error::io(&file, e))?;
        let mut argv: Vec<std::ffi::OsString> = vec![
            "framelabel".into(),
            "run".into(),
            "--out".into(),
            self.out.clone().into(),
        ];
        if let Some(n) = self.common.threads {
            argv.extend(["--threads".into(), n.to_string().into()]);
        }
        if self.force {
            argv.push("--force".into());
        }
        let merged = with_config_file(argv, &file);
        let _ = std::fs::remove_file(&file);
        match Cli::try_parse_from(merged?) {
            Ok(Cli {
                command: Command::Run(a),
            }) => Ok(*a),
            Ok(_) => unreachable!("a run command line"),
            Err(e) => Err(bad(e
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string())),
        }
    }
}

/// The command line of `run` with the options of a --config file in front of the user's, so that
/// clap checks them alike and the user's win (the run command lets a later option override).
pub fn with_config_file(
    args: Vec<std::ffi::OsString>,
    file: &std::path::Path,
) -> Result<Vec<std::ffi::OsString>> {
    use clap::CommandFactory;
    let bad = |m: String| Error::usage("--config", format!("{}: {m}", file.display()));
    let text = std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read ({e})")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("not valid TOML ({})", e.message())))?;
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").expect("run is a subcommand");
    let known: Vec<String> = run
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| !["config", "print-config", "help", "force"].contains(&l.as_str()))
        .collect();
    let at = args
        .iter()
        .position(|a| a == "run")
        .ok_or_else(|| bad("the config file is for `framelabel run`".into()))?;
    let (head, user) = args.split_at(at + 1);
    let user_inputs = {
        let m = Cli::try_parse_from(args.iter()).ok();
        matches!(m, Some(Cli { command: Command::Run(r) }) if !r.inputs.is_empty())
    };
    let mut from_file: Vec<std::ffi::OsString> = Vec::new();
    let mut inputs: Vec<std::ffi::OsString> = Vec::new();
    let scalar = |k: &str, v: &toml::Value| -> Result<String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(bad(format!(
                "'{k}' must be a string or a number, not {}",
                other.type_str()
            ))),
        }
    };
    for (k, v) in &table {
        if k == "inputs" {
            let list = match v {
                toml::Value::Array(a) => {
                    a.iter().map(|x| scalar(k, x)).collect::<Result<Vec<_>>>()?
                }
                x => vec![scalar(k, x)?],
            };
            inputs.extend(list.into_iter().map(Into::into));
            continue;
        }
        if !known.contains(k) {
            return Err(bad(format!(
                "unknown option '{k}'; valid: inputs, {}",
                known.join(", ")
            )));
        }
        match v {
            toml::Value::Boolean(true) => from_file.push(format!("--{k}").into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(a) if a.is_empty() => {}
            toml::Value::Array(a) => {
                let items = a.iter().map(|x| scalar(k, x)).collect::<Result<Vec<_>>>()?;
                from_file.push(format!("--{k}={}", items.join(",")).into());
            }
            x => from_file.push(format!("--{k}={}", scalar(k, x)?).into()),
        }
    }
    let mut out: Vec<std::ffi::OsString> = head.to_vec();
    out.extend(from_file);
    out.extend(user.iter().cloned());
    if !user_inputs {
        out.push("--".into());
        out.extend(inputs);
    }
    Ok(out)
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// An output folder of `extract`, `dedup`, `label` or `run`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Annotated frames to draw (the most and the least confident, then frames without boxes).
    #[arg(long, value_name = "N", default_value_t = crate::report::DEFAULT_PREVIEW)]
    pub preview: usize,
    /// No summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print every number of the report (summary.json) on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ReportArgs {
    pub fn to_config(&self) -> Result<crate::report::ReportConfig> {
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        Ok(crate::report::ReportConfig {
            dir: self.dir.clone(),
            preview: self.preview,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// An output folder labelled by `framelabel label`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Formats, comma-separated: yolo, coco, voc, cvat, label-studio, coco-results, and for a
    /// folder of `run --track` cvat-video, mot.
    #[arg(long, short, value_name = "F", value_delimiter = ',', required = true)]
    pub format: Vec<String>,
    /// The export folder; with several formats, the folder holding one folder per format
    /// [default: DIR/export/FORMAT].
    #[arg(long, short, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// yolo: add the score as a sixth column (for review tools; `yolo train` wants five).
    #[arg(long)]
    pub with_scores: bool,
    /// label-studio: URL prefix of the image files [default: /data/local-files/?d=images/].
    #[arg(long, value_name = "URL")]
    pub image_root: Option<String>,
    #[command(flatten)]
    pub boxes: BoxFilterArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// No summary lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ExportArgs {
    pub fn to_config(&self) -> Result<crate::export::ExportConfig> {
        let mut formats = Vec::new();
        for f in &self.format {
            let f: crate::export::Format = f.parse().map_err(|m| Error::usage("--format", m))?;
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
        let filters = self.boxes.to_filters()?;
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        Ok(crate::export::ExportConfig {
            dir: self.dir.clone(),
            formats,
            out: self.out.clone(),
            filters,
            with_scores: self.with_scores,
            image_root: self.image_root.clone(),
            split: self.split.to_config()?,
        })
    }
}

/// The training, validation and test subsets of `export` and `run --export`.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SplitArgs {
    /// Split the images into train, val and test subsets with these shares, e.g.
    /// val=0.2,test=0.1 (the rest is train). No video, or block of one, is in two subsets.
    #[arg(long, value_name = "SHARES", help_heading = "Split")]
    pub split: Option<String>,
    /// What goes whole to one subset: video, or block (--block-seconds of one video) [default:
    /// video when the frames come from several videos, else block].
    #[arg(long, value_name = "UNIT", help_heading = "Split")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_by: Option<String>,
    /// Seed of the split: the same seed and frames give the same subsets.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Split")]
    pub seed: u64,
    /// Length of the blocks of --split-by block, in seconds.
    #[arg(long, value_name = "S", default_value_t = crate::export::split::DEFAULT_BLOCK_SECONDS, help_heading = "Split")]
    pub block_seconds: f64,
}

impl SplitArgs {
    pub fn to_config(&self) -> Result<Option<crate::export::SplitConfig>> {
        let Some(shares) = &self.split else {
            if self.split_by.is_some() {
                return Err(Error::usage(
                    "--split-by",
                    "there is no split to make: give --split val=SHARE too",
                ));
            }
            return Ok(None);
        };
        let shares = shares.parse().map_err(|m| Error::usage("--split", m))?;
        let by = self
            .split_by
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|m| Error::usage("--split-by", m))?;
        if !(self.block_seconds.is_finite() && self.block_seconds > 0.0) {
            return Err(Error::usage(
                "--block-seconds",
                format!("{} is not a positive number of seconds", self.block_seconds),
            ));
        }
        Ok(Some(crate::export::SplitConfig {
            shares,
            by,
            seed: self.seed,
            block_seconds: self.block_seconds,
        }))
    }
}

/// The class and box-size filters of `label` and `export`.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BoxFilterArgs {
    /// Keep only these classes, comma-separated (original --classes_of_interest).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        help_heading = "Filters"
    )]
    pub classes: Option<Vec<String>>,
    /// Drop boxes smaller than A: a fraction of the image area (0.001), or pixels with px (400px).
    #[arg(
        long,
        value_name = "A",
        allow_hyphen_values = true,
        help_heading = "Filters"
    )]
    pub min_box_area: Option<String>,
    /// Drop boxes larger than A: a fraction of the image area (0.5), or pixels with px.
    #[arg(
        long,
        value_name = "A",
        allow_hyphen_values = true,
        help_heading = "Filters"
    )]
    pub max_box_area: Option<String>,
}

impl BoxFilterArgs {
    /// The checked filters (`drop_empty` off).
    pub fn to_filters(&self) -> Result<crate::detect::label::Filters> {
        let min_area = self
            .min_box_area
            .as_deref()
            .map(|s| parse_area("--min-box-area", s))
            .transpose()?;
        let max_area = self
            .max_box_area
            .as_deref()
            .map(|s| parse_area("--max-box-area", s))
            .transpose()?;
        let classes = self.classes.as_ref().map(|v| {
            v.iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        });
        if classes.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(Error::usage("--classes", "no class names given"));
        }
        Ok(crate::detect::label::Filters {
            classes,
            min_area,
            max_area,
            drop_empty: false,
        })
    }
}

/// Options of every command that runs a model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Where inference runs: cpu, cuda, cuda:N, or auto (CUDA 0 when the loaded ONNX Runtime has
    /// it, else the CPU).
    #[arg(long, value_name = "DEVICE", default_value = "cpu", value_parser = parse_device)]
    pub device: crate::runtime::Device,
    /// Inference threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// JSON file describing the model (input size, resize, channels, scale, mean, std, family,
    /// labels, output); overrides a sidecar NAME.json and a hub repo's configs.
    #[arg(long, value_name = "FILE")]
    pub model_config: Option<PathBuf>,
    /// Never download models; use only what is cached (also FRAMELABEL_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
}

impl ModelArgs {
    pub fn resolve_options(&self) -> crate::models::spec::ResolveOptions {
        crate::models::spec::ResolveOptions {
            offline: self.offline,
            config: self.model_config.clone(),
        }
    }

    /// The thread count, checked.
    pub fn threads(&self) -> Result<usize> {
        match self.threads {
            Some(0) => Err(Error::usage("--threads", "must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

/// The error for a stage's DIR argument that is not a folder.
fn not_a_folder(dir: &std::path::Path) -> Error {
    Error::usage(
        "DIR",
        format!(
            "{}: no such folder; give the --out folder of `framelabel extract`",
            dir.display()
        ),
    )
}

fn parse_device(s: &str) -> Result<crate::runtime::Device, String> {
    s.parse()
}

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeArg {
    /// Largest size inside WxH keeping the aspect ratio.
    Fit,
    /// Exactly WxH (the original tool's behaviour).
    Stretch,
    /// Letterbox to exactly WxH (black bars).
    Pad,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Worker threads for per-frame work [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bars and no per-video summary lines (errors and warnings still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// Video files, or folders searched recursively for video files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace a dataset already in --out.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub frames: FrameArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// How frames are sampled, checked and written: the options of `extract` and `run`.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FrameArgs {
    /// Take every Nth decoded frame.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "fps",
        allow_negative_numbers = true,
        help_heading = "Sampling"
    )]
    pub every: Option<i64>,
    /// Take F frames per second of video time (by timestamp).
    #[arg(
        long,
        value_name = "F",
        allow_negative_numbers = true,
        help_heading = "Sampling"
    )]
    pub fps: Option<f64>,
    /// Skip frames before this time (seconds or HH:MM:SS[.mmm]).
    #[arg(
        long,
        value_name = "T",
        allow_hyphen_values = true,
        help_heading = "Sampling"
    )]
    pub start: Option<String>,
    /// Stop at this time (seconds or HH:MM:SS[.mmm]).
    #[arg(
        long,
        value_name = "T",
        allow_hyphen_values = true,
        help_heading = "Sampling"
    )]
    pub end: Option<String>,
    /// Take key frames only; the decoder skips the others, so this costs a fraction of decoding
    /// every frame. With --fps F, at most F key frames per second of video.
    #[arg(long, conflicts_with = "every", help_heading = "Sampling")]
    pub keyframes: bool,
    /// At most N sampled frames per video (the original tool's --n_runs).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Sampling"
    )]
    pub max_frames: Option<i64>,

    /// Reject as blurry below this normalised Laplacian variance (original --focus_tol).
    #[arg(long, value_name = "S", default_value_t = Thresholds::default().min_sharpness, allow_negative_numbers = true, help_heading = "Quality")]
    pub min_sharpness: f64,
    /// Reject as noisy above this normalised histogram entropy (original --entropy_tol).
    #[arg(long, value_name = "E", default_value_t = Thresholds::default().max_entropy, allow_negative_numbers = true, help_heading = "Quality")]
    pub max_entropy: f64,
    /// Reject as noisy above this normalised noise estimate (Immerkær).
    #[arg(long, value_name = "N", default_value_t = Thresholds::default().max_noise, allow_negative_numbers = true, help_heading = "Quality")]
    pub max_noise: f64,
    /// Reject as dark below this mean brightness (0-1).
    #[arg(long, value_name = "B", default_value_t = Thresholds::default().min_brightness, allow_negative_numbers = true, help_heading = "Quality")]
    pub min_brightness: f64,
    /// Reject as bright above this mean brightness (0-1).
    #[arg(long, value_name = "B", default_value_t = Thresholds::default().max_brightness, allow_negative_numbers = true, help_heading = "Quality")]
    pub max_brightness: f64,
    /// Also write rejected frames to DIR/rejected/<reason>/.
    #[arg(long, help_heading = "Quality")]
    pub keep_rejected: bool,
    /// Still-frame gate: a frame whose 64x36 grey thumbnail differs from the last frame that passed
    /// by less than D (mean absolute difference / 255) is `still`: not written, embedded or
    /// labelled. 0.002 suits a fixed camera [default: off].
    #[arg(
        long,
        value_name = "D",
        allow_negative_numbers = true,
        help_heading = "Quality"
    )]
    pub min_change: Option<f64>,

    /// Output size WxH (original --image_size) [default: source size].
    #[arg(long, value_name = "WxH", help_heading = "Output images")]
    pub size: Option<String>,
    /// How --size is reached.
    #[arg(
        long,
        value_enum,
        default_value = "fit",
        help_heading = "Output images"
    )]
    pub resize: ResizeArg,
    /// JPEG quality, 1-100.
    #[arg(
        long,
        value_name = "Q",
        default_value_t = 95,
        allow_negative_numbers = true,
        help_heading = "Output images"
    )]
    pub jpeg_quality: i64,
    /// File name template; placeholders {video} (file stem), {frame} (decoded index, e.g. {frame:06}),
    /// {time_ms}.
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_TEMPLATE, help_heading = "Output images")]
    pub name: String,
}

/// Parses `WxH` into a non-zero size.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not a size: use WxH with both at least 1, such as 960x544");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(bad());
    }
    Ok((w, h))
}

fn unit_interval(option: &str, v: f64) -> Result<f64> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::usage(
            option,
            format!("{v} is out of range: give a value from 0 to 1"),
        ))
    }
}

impl ExtractArgs {
    /// Validates every option and builds the stage configuration.
    pub fn to_config(&self) -> Result<ExtractConfig> {
        self.frames.to_config(
            self.inputs.clone(),
            self.out.clone(),
            threads(self.common.threads)?,
            self.force,
        )
    }
}

impl FrameArgs {
    /// Validates every option and builds the extract configuration.
    pub fn to_config(
        &self,
        inputs: Vec<PathBuf>,
        out: PathBuf,
        threads: usize,
        force: bool,
    ) -> Result<ExtractConfig> {
        let rate = match (self.every, self.fps) {
            (Some(n), _) if n < 1 => {
                return Err(Error::usage(
                    "--every",
                    format!("{n} is not a frame step: give a whole number of at least 1"),
                ));
            }
            (Some(n), _) => Rate::Every(n as u64),
            (None, Some(f)) if !(f.is_finite() && f > 0.0) => {
                return Err(Error::usage(
                    "--fps",
                    format!("{f} is not a frame rate: give a number above 0, such as 2 or 0.5"),
                ));
            }
            (None, Some(f)) => Rate::Fps(f),
            (None, None) => Rate::Every(1),
        };
        let time = |opt: &str, v: &Option<String>| -> Result<Option<f64>> {
            v.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|m| Error::usage(opt, m))
        };
        let start = time("--start", &self.start)?;
        let end = time("--end", &self.end)?;
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(Error::usage(
                "--end",
                format!("{e} s is not after --start {s} s"),
            ));
        }
        let max_frames = match self.max_frames {
            Some(n) if n < 1 => {
                return Err(Error::usage(
                    "--max-frames",
                    format!("{n}: give a whole number of at least 1"),
                ));
            }
            n => n.map(|n| n as u64),
        };
        let quality = Thresholds {
            min_sharpness: {
                let v = self.min_sharpness;
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::usage(
                        "--min-sharpness",
                        format!("{v}: give a number of at least 0"),
                    ));
                }
                v
            },
            max_entropy: unit_interval("--max-entropy", self.max_entropy)?,
            max_noise: unit_interval("--max-noise", self.max_noise)?,
            min_brightness: unit_interval("--min-brightness", self.min_brightness)?,
            max_brightness: unit_interval("--max-brightness", self.max_brightness)?,
        };
        if quality.min_brightness >= quality.max_brightness {
            return Err(Error::usage(
                "--min-brightness",
                format!(
                    "{} is not below --max-brightness {}",
                    quality.min_brightness, quality.max_brightness
                ),
            ));
        }
        let size = self
            .size
            .as_deref()
            .map(parse_size)
            .transpose()
            .map_err(|m| Error::usage("--size", m))?;
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(Error::usage(
                "--jpeg-quality",
                format!("{} is out of range: give 1 to 100", self.jpeg_quality),
            ));
        }
        let output = Output {
            size,
            resize: match self.resize {
                ResizeArg::Fit => ResizeMode::Fit,
                ResizeArg::Stretch => ResizeMode::Stretch,
                ResizeArg::Pad => ResizeMode::Pad,
            },
            jpeg_quality: self.jpeg_quality as u8,
        };
        let name = NameTemplate::parse(&self.name).map_err(|m| Error::usage("--name", m))?;
        Ok(ExtractConfig {
            inputs,
            out,
            sampling: Sampling {
                rate,
                start,
                end,
                max_frames,
                keyframes: self.keyframes,
                origin: None,
            },
            quality,
            output,
            name,
            keep_rejected: self.keep_rejected,
            min_change: match self.min_change {
                Some(d) if !(d.is_finite() && d > 0.0 && d <= 1.0) => {
                    return Err(Error::usage(
                        "--min-change",
                        format!(
                            "{d} is out of range: give a value above 0 and at most 1, such as 0.005"
                        ),
                    ));
                }
                d => d,
            },
            threads,
            force,
        })
    }
}

fn threads(n: Option<usize>) -> Result<usize> {
    match n {
        Some(0) => Err(Error::usage("--threads", "0: give at least 1")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> std::result::Result<ExtractConfig, String> {
        let mut v = vec!["framelabel", "extract", "in.mp4", "--out", "o"];
        v.extend_from_slice(extra);
        let cli = Cli::try_parse_from(v).map_err(|e| e.to_string())?;
        let Command::Extract(a) = cli.command else {
            unreachable!("extract was parsed")
        };
        a.to_config().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = args(&[]).unwrap();
        assert_eq!(c.sampling.rate, Rate::Every(1));
        assert_eq!(c.output.jpeg_quality, 95);
        assert_eq!(c.quality, Thresholds::default());
        assert_eq!(c.name.as_str(), DEFAULT_TEMPLATE);
    }

    #[test]
    fn nonsense_is_rejected_with_the_option_named() {
        for (extra, needle) in [
            (vec!["--size", "0x0"], "--size"),
            (vec!["--every", "0"], "--every"),
            (vec!["--fps", "-1"], "--fps"),
            (vec!["--name", "{video}_{bogus}"], "--name"),
            (vec!["--start", "10", "--end", "5"], "--end"),
            (vec!["--jpeg-quality", "0"], "--jpeg-quality"),
            (vec!["--max-frames", "0"], "--max-frames"),
            (vec!["--min-change", "0"], "--min-change"),
            (vec!["--min-change", "1.5"], "--min-change"),
            (
                vec!["--min-brightness", "0.9", "--max-brightness", "0.5"],
                "--min-brightness",
            ),
        ] {
            let e = args(&extra).unwrap_err();
            assert!(e.starts_with(needle), "{extra:?}: {e}");
        }
        assert_eq!(parse_size("960x544"), Ok((960, 544)));
    }
}
