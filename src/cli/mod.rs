//! The command line: the only place that knows about clap. Raw arguments are turned into validated
//! stage configurations here, so the library never sees a value that cannot work, and every bad value
//! is reported as one line naming the option, before any file is touched.

use std::path::PathBuf;

mod commands;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Write the labels of an output folder in the formats annotation and training tools import
    /// (yolo, voc, cvat, label-studio, coco-results).
    Export(Box<ExportArgs>),
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
    /// Detector: a built-in name (see `framelabel models list`), a local .onnx file, or
    /// hf:OWNER/REPO[/PATH.onnx][@REVISION] (the original tool's --model_type).
    #[arg(long, value_name = "SPEC", default_value = "yolox-s")]
    pub detector: String,
    /// Detector output family when it cannot be recognised from the output shapes.
    #[arg(long, value_name = "yolox|yolo|detr")]
    pub family: Option<String>,
    /// Minimum detection score (original --model_confidence).
    #[arg(
        long,
        value_name = "C",
        default_value_t = 0.3,
        allow_negative_numbers = true
    )]
    pub confidence: f64,
    /// IoU above which NMS drops the lower-scoring box of the same class.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.45,
        allow_negative_numbers = true
    )]
    pub nms_iou: f64,
    /// At most N boxes per image.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 300,
        allow_negative_numbers = true
    )]
    pub max_detections: i64,
    /// Frames per inference call when the model's batch axis is dynamic (original --batch_size).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        allow_negative_numbers = true
    )]
    pub batch_size: i64,

    #[command(flatten)]
    pub boxes: BoxFilterArgs,
    /// Move frames left with no box out of the dataset, to rejected/empty/ (the original's
    /// behaviour; by default they stay as negatives).
    #[arg(long, help_heading = "Filters")]
    pub drop_empty: bool,
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

#[derive(Debug, Clone, Args)]
pub struct DedupArgs {
    /// An output folder made by `framelabel extract`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Image embedder: a built-in name, a local .onnx file, or hf:OWNER/REPO[/PATH.onnx][@REVISION].
    #[arg(long, value_name = "SPEC", default_value = "clip-vit-b32")]
    pub embedder: String,
    /// Cosine similarity at or above which two frames are duplicates (original --clip_dup_threshold).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 0.95,
        allow_negative_numbers = true
    )]
    pub threshold: f64,
    /// Frames per inference call when the model's batch axis is dynamic.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        allow_negative_numbers = true
    )]
    pub batch_size: i64,
    /// Also write DIR/embeddings.npy (float32 N x D, L2-normalised) and DIR/embeddings.json (file names).
    #[arg(long)]
    pub save_embeddings: bool,
    /// Move duplicates to DIR/rejected/duplicate/ instead of deleting them.
    #[arg(long)]
    pub keep_rejected: bool,
    /// Also treat frames of one video closer than this many seconds to a kept frame as duplicates.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub min_gap: Option<f64>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// No progress bar and no summary line (errors and warnings still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl DedupArgs {
    pub fn to_config(&self) -> Result<crate::embed::dedup::DedupConfig> {
        let threshold = self.threshold;
        if !(threshold.is_finite() && threshold > -1.0 && threshold <= 1.0) {
            return Err(Error::usage(
                "--threshold",
                format!(
                    "{threshold} is not a cosine similarity: give a value above -1 and at most 1, such as 0.95"
                ),
            ));
        }
        if self.batch_size < 1 {
            return Err(Error::usage("--batch-size", "must be at least 1"));
        }
        if let Some(g) = self.min_gap
            && !(g.is_finite() && g >= 0.0)
        {
            return Err(Error::usage(
                "--min-gap",
                format!("{g} is not a number of seconds >= 0"),
            ));
        }
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        Ok(crate::embed::dedup::DedupConfig {
            dir: self.dir.clone(),
            embedder: self.embedder.clone(),
            resolve: self.model.resolve_options(),
            device: self.model.device,
            threads: self.model.threads()?,
            batch_size: self.batch_size as usize,
            threshold: threshold as f32,
            save_embeddings: self.save_embeddings,
            keep_rejected: self.keep_rejected,
            min_gap: self.min_gap,
        })
    }
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
        if self.batch_size < 1 {
            return Err(Error::usage("--batch-size", "must be at least 1"));
        }
        let filters = crate::detect::label::Filters {
            drop_empty: self.drop_empty,
            ..self.boxes.to_filters()?
        };
        if !self.dir.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        Ok(crate::detect::label::LabelConfig {
            dir: self.dir.clone(),
            detector: self.detector.clone(),
            family,
            resolve: self.model.resolve_options(),
            device: self.model.device,
            threads: self.model.threads()?,
            batch_size: self.batch_size as usize,
            confidence: confidence as f32,
            nms_iou: nms_iou as f32,
            max_detections: self.max_detections as usize,
            filters,
            refilter: self.refilter,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// An output folder labelled by `framelabel label`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Formats, comma-separated: yolo, voc, cvat, label-studio, coco-results.
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
        })
    }
}

/// The class and box-size filters of `label` and `export`.
#[derive(Debug, Clone, Args)]
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

#[derive(Debug, Clone, Copy, ValueEnum)]
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

    #[command(flatten)]
    pub common: CommonArgs,
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
            inputs: self.inputs.clone(),
            out: self.out.clone(),
            sampling: Sampling {
                rate,
                start,
                end,
                max_frames,
            },
            quality,
            output,
            name,
            keep_rejected: self.keep_rejected,
            threads: threads(self.common.threads)?,
            force: self.force,
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
