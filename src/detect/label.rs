//! `framelabel label`: the detector over the kept frames of an output folder, written as COCO.
//!
//! Every detection above the confidence threshold is kept in `predictions.json` before any class or
//! size filter, so changing the filters (`--refilter`) costs seconds, not another pass of the model.
//! JPEG reading and pre-processing run on worker threads while the model runs, so on a CPU the stage
//! costs little more than inference itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::decode::{DecodeParams, Detection, decode};
use super::{Detector, DetectorSetup, Family};
use crate::coco::{self, CocoCategory};
use crate::dataset::{Dataset, FrameRecord, FrameStatus, write_json_atomic};
use crate::error::{Error, Result};
use crate::models::spec::ResolveOptions;
use crate::progress::Progress;
use crate::runtime::Device;
use crate::runtime::batch::run_pictures;

pub const ANNOTATIONS_FILE: &str = "annotations.json";
pub const PREDICTIONS_FILE: &str = "predictions.json";

/// A box-area bound: a fraction of the image area, or pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Fraction(f64),
    Pixels(f64),
}

impl Area {
    pub fn pixels(self, image_area: f64) -> f64 {
        match self {
            Area::Fraction(f) => f * image_area,
            Area::Pixels(p) => p,
        }
    }
}

/// Which detections become annotations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    /// Class names to keep (all when `None`).
    pub classes: Option<Vec<String>>,
    pub min_area: Option<Area>,
    pub max_area: Option<Area>,
    /// Frames left without boxes leave the dataset (to `rejected/empty/`).
    pub drop_empty: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelConfig {
    pub dir: PathBuf,
    pub detector: String,
    pub family: Option<Family>,
    #[serde(skip)]
    pub resolve: ResolveOptions,
    #[serde(serialize_with = "crate::extract::serialize_display")]
    pub device: Device,
    pub threads: usize,
    pub batch_size: usize,
    pub confidence: f32,
    pub nms_iou: f32,
    pub max_detections: usize,
    pub filters: Filters,
    /// Re-apply the filters to `predictions.json` without running the model.
    pub refilter: bool,
}

/// The model as `run.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRecord {
    pub spec: String,
    pub file: PathBuf,
    pub sha256: String,
    pub device: String,
    pub family: String,
    pub config_files: Vec<String>,
}

/// What a label run did; also the `label` entry of `run.json` and the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct LabelSummary {
    pub detector: Option<ModelRecord>,
    pub parameters: LabelConfig,
    /// Frames labelled (kept frames found on disk).
    pub images: u64,
    /// Frames whose file was missing: skipped.
    pub missing: u64,
    /// Detections above the confidence threshold (predictions.json).
    pub predictions: u64,
    /// Detections that passed the filters (annotations.json).
    pub annotations: u64,
    /// Images with no annotation after the filters.
    pub empty_images: u64,
    /// Images moved out of the dataset by --drop-empty.
    pub dropped: u64,
    pub per_class: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub frames_per_s: f64,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// One image to label, in frames.jsonl order.
pub struct Item {
    /// Index of its record.
    pub record: usize,
    /// Its COCO image id.
    pub id: u64,
    pub path: PathBuf,
}

/// The result for one image.
#[derive(Debug, Default, Clone)]
pub struct Labelled {
    /// Width and height of the picture; `None` when it could not be read.
    pub size: Option<(u32, u32)>,
    /// Every detection above the confidence threshold, before filters.
    pub detections: Vec<Detection>,
}

/// The frames `label` works on: kept ones, and those an earlier `--drop-empty` set aside.
pub fn items(dataset: &Dataset, records: &[FrameRecord]) -> Vec<Item> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.status, FrameStatus::Kept | FrameStatus::Empty))
        .filter_map(|(i, r)| Some((i, dataset.root().join(r.file.as_ref()?))))
        .enumerate()
        .map(|(n, (record, path))| Item {
            record,
            id: n as u64 + 1,
            path,
        })
        .collect()
}

/// Runs the stage on `cfg.dir`.
pub fn label(cfg: &LabelConfig, progress: Progress) -> Result<LabelSummary> {
    let started = Instant::now();
    let dataset = Dataset::open_existing(&cfg.dir)?;
    let mut records = dataset.read_frames()?;
    let items = items(&dataset, &records);
    let (categories, labels, results, detector) = if cfg.refilter {
        let p = read_previous(&dataset, &items)?;
        (p.categories, p.labels, p.results, None)
    } else {
        let mut d = Detector::load(
            &cfg.detector,
            &cfg.resolve,
            cfg.threads,
            cfg.device,
            cfg.family,
            true,
        )?;
        tracing::debug!(
            elapsed_s = started.elapsed().as_secs_f64(),
            sessions = d.models.len(),
            "detector loaded"
        );
        let record = d.record();
        let cats = coco::categories(&d.setup.labels);
        let results = infer(cfg, &d.setup, &mut d.models, &items, progress)?;
        tracing::debug!(
            elapsed_s = started.elapsed().as_secs_f64(),
            "frames labelled"
        );
        (cats, d.setup.labels.clone(), results, Some(record))
    };
    write_labels(
        cfg,
        &dataset,
        &mut records,
        &items,
        &results,
        &categories,
        &labels,
        detector,
        None,
        started,
    )
}

/// Applies the filters to the detections of `items`, writes `predictions.json`,
/// `annotations.json`, the records and the `label` entry of `run.json`, and moves frames for
/// `--drop-empty`.
#[allow(clippy::too_many_arguments)]
pub fn write_labels(
    cfg: &LabelConfig,
    dataset: &Dataset,
    records: &mut [FrameRecord],
    items: &[Item],
    results: &[Labelled],
    categories: &[Option<CocoCategory>],
    labels: &[String],
    detector: Option<ModelRecord>,
    attributes: Option<&[Vec<Option<serde_json::Value>>]>,
    started: Instant,
) -> Result<LabelSummary> {
    let class_filter = class_filter(&cfg.filters, labels)?;
    let mut warnings = Vec::new();

    let mut summary = LabelSummary {
        detector,
        parameters: cfg.clone(),
        images: 0,
        missing: 0,
        predictions: 0,
        annotations: 0,
        empty_images: 0,
        dropped: 0,
        per_class: BTreeMap::new(),
        elapsed_s: 0.0,
        frames_per_s: 0.0,
        warnings: Vec::new(),
    };
    let mut images = Vec::new();
    let mut annotations = Vec::new();
    let mut predictions = Vec::new();
    let mut moves = Vec::new();
    for (n, (item, res)) in items.iter().zip(results).enumerate() {
        let rec = &mut records[item.record];
        let Some((w, h)) = res.size else {
            summary.missing += 1;
            warnings.push(format!(
                "{}: frame file missing or unreadable; skipped",
                item.path.display()
            ));
            rec.status = FrameStatus::Missing;
            rec.extra.remove("detections");
            rec.extra.remove("image_id");
            continue;
        };
        summary.images += 1;
        let image_area = w as f64 * h as f64;
        let mut count = 0u64;
        for (k, d) in res.detections.iter().enumerate() {
            let Some(cat) = categories[d.class].as_ref() else {
                continue; // a class the detector's label list marks as unused ("N/A")
            };
            let bbox = [
                round2(d.x0),
                round2(d.y0),
                round2(d.width()),
                round2(d.height()),
            ];
            let score = (d.score as f64 * 1e5).round() / 1e5;
            predictions.push(Prediction {
                image_id: item.id,
                category_id: cat.id,
                bbox,
                score,
            });
            let area = bbox[2] * bbox[3];
            if passes(&cfg.filters, class_filter.as_deref(), d, image_area) {
                count += 1;
                *summary.per_class.entry(cat.name.clone()).or_default() += 1;
                annotations.push(Annotation {
                    id: annotations.len() as u64 + 1,
                    image_id: item.id,
                    category_id: cat.id,
                    bbox,
                    area: (area * 100.0).round() / 100.0,
                    iscrowd: 0,
                    score,
                    attributes: attributes.and_then(|a| a[n].get(k).cloned().flatten()),
                });
            }
        }
        summary.predictions += res.detections.len() as u64;
        summary.annotations += count;
        summary.empty_images += (count == 0) as u64;
        let drop = count == 0 && cfg.filters.drop_empty;
        let want = if drop {
            FrameStatus::Empty
        } else {
            FrameStatus::Kept
        };
        let name = item
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if rec.status != want {
            let to = if drop {
                dataset.rejected_dir(FrameStatus::Empty).join(&name)
            } else {
                dataset.images_dir().join(&name)
            };
            rec.file = Some(dataset.relative(&to));
            moves.push((item.path.clone(), to));
            rec.status = want;
        }
        summary.dropped += drop as u64;
        rec.extra.insert("image_id".into(), item.id.into());
        rec.extra.insert("detections".into(), count.into());
        if !drop {
            images.push(CocoImage {
                id: item.id,
                file_name: name,
                width: w,
                height: h,
                video: rec.video.clone(),
                frame: rec.frame,
                pts: rec.pts,
            });
        }
    }
    let dropped_ids: std::collections::HashSet<u64> = items
        .iter()
        .filter(|i| records[i.record].status == FrameStatus::Empty)
        .map(|i| i.id)
        .collect();
    annotations.retain(|a| !dropped_ids.contains(&a.image_id));

    // Predictions first (the expensive result), then the dataset, then the files and records.
    write_json_atomic(&dataset.root().join(PREDICTIONS_FILE), &predictions)?;
    let detector = summary
        .detector
        .clone()
        .or_else(|| previous_record(dataset));
    let info = serde_json::json!({
        "description": "pseudo labels by framelabel: a first draft for review",
        "version": env!("CARGO_PKG_VERSION"),
        "date_created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "tool": format!("framelabel {}", env!("CARGO_PKG_VERSION")),
        "detector": detector.as_ref().map(|d| d.spec.clone()),
        "detector_sha256": detector.as_ref().map(|d| d.sha256.clone()),
    });
    let coco = Coco {
        info,
        licenses: Vec::new(),
        images,
        annotations,
        categories: categories.iter().flatten().cloned().collect(),
    };
    write_json_atomic(&dataset.root().join(ANNOTATIONS_FILE), &coco)?;
    dataset.move_files(&moves)?;
    dataset.rewrite_frames(records)?;

    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.frames_per_s = summary.images as f64 / summary.elapsed_s.max(1e-9);
    if cfg.refilter {
        // Keep the detector record of the run that made the predictions.
        summary.detector = previous_record(dataset);
    }
    dataset.set_run_entry("label", &summary)?;
    summary.warnings = warnings;
    Ok(summary)
}

fn round2(x: f32) -> f64 {
    (x as f64 * 100.0).round() / 100.0
}

/// Whether the label filters keep detection `d` of a picture of `image_area` pixels (`classes`:
/// [`class_filter`]'s flags). The area is that of the box as written (to the hundredth).
pub fn passes(filters: &Filters, classes: Option<&[bool]>, d: &Detection, image_area: f64) -> bool {
    let area = round2(d.width()) * round2(d.height());
    classes.is_none_or(|k| k[d.class])
        && filters
            .min_area
            .is_none_or(|a| area >= a.pixels(image_area))
        && filters
            .max_area
            .is_none_or(|a| area <= a.pixels(image_area))
}

/// Per-class keep flags for `--classes`, checking every name against the detector's labels.
pub(crate) fn class_filter(f: &Filters, labels: &[String]) -> Result<Option<Vec<bool>>> {
    let Some(names) = &f.classes else {
        return Ok(None);
    };
    let mut keep = vec![false; labels.len()];
    for n in names {
        let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(n.trim())) else {
            let valid: Vec<&str> = labels
                .iter()
                .filter(|l| !l.is_empty() && *l != "N/A")
                .map(String::as_str)
                .collect();
            return Err(Error::usage(
                "--classes",
                format!(
                    "'{n}' is not a class of this detector; valid: {}",
                    valid.join(", ")
                ),
            ));
        };
        keep[i] = true;
    }
    Ok(Some(keep))
}

/// Runs the detector over every item and decodes its boxes.
fn infer(
    cfg: &LabelConfig,
    setup: &DetectorSetup,
    models: &mut [crate::runtime::Model],
    items: &[Item],
    progress: Progress,
) -> Result<Vec<Labelled>> {
    let mut results = vec![Labelled::default(); items.len()];
    let params = DecodeParams {
        confidence: cfg.confidence,
        nms_iou: cfg.nms_iou,
        max_detections: cfg.max_detections,
    };
    let paths: Vec<PathBuf> = items.iter().map(|i| i.path.clone()).collect();
    let bar = progress.video("label", Some(items.len() as u64));
    run_pictures(
        &paths,
        &setup.preprocess,
        models,
        cfg.batch_size,
        (cfg.threads / 2).clamp(1, 4),
        &bar,
        |outputs, b, pic| {
            results[pic.index] = Labelled {
                size: Some(pic.size),
                detections: decode(setup, outputs, b, &pic.transform, pic.size, &params),
            };
        },
    )?;
    bar.finish_and_clear();
    Ok(results)
}

/// What `--refilter` starts from.
struct Previous {
    categories: Vec<Option<CocoCategory>>,
    labels: Vec<String>,
    results: Vec<Labelled>,
}

/// For `--refilter`: the categories and predictions of the last run, back as detections per item.
fn read_previous(dataset: &Dataset, items: &[Item]) -> Result<Previous> {
    let need = |name: &str| -> Result<serde_json::Value> {
        let p = dataset.root().join(name);
        let text = std::fs::read_to_string(&p).map_err(|_| {
            Error::usage(
                "--refilter",
                format!(
                    "{} is missing: run `framelabel label` without --refilter first",
                    p.display()
                ),
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::output(
                &p,
                format!("not valid JSON ({e}); label again without --refilter"),
            )
        })
    };
    let coco: serde_json::Value = need(ANNOTATIONS_FILE)?;
    let preds: Vec<Prediction> = serde_json::from_value(need(PREDICTIONS_FILE)?).map_err(|e| {
        Error::output(
            dataset.root().join(PREDICTIONS_FILE),
            format!("not a COCO results list ({e})"),
        )
    })?;
    let cats: Vec<CocoCategory> =
        serde_json::from_value(coco["categories"].clone()).map_err(|e| {
            Error::output(
                dataset.root().join(ANNOTATIONS_FILE),
                format!("categories unreadable ({e})"),
            )
        })?;
    let labels: Vec<String> = cats.iter().map(|c| c.name.clone()).collect();
    let by_id: BTreeMap<u32, usize> = cats.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let index: BTreeMap<u64, usize> = items.iter().enumerate().map(|(i, it)| (it.id, i)).collect();
    let mut results = vec![Labelled::default(); items.len()];
    for (i, it) in items.iter().enumerate() {
        results[i].size = std::fs::read(&it.path)
            .ok()
            .and_then(|b| turbojpeg::read_header(&b).ok())
            .map(|h| (h.width as u32, h.height as u32));
    }
    for p in preds {
        let (Some(&i), Some(&class)) = (index.get(&p.image_id), by_id.get(&p.category_id)) else {
            continue;
        };
        let [x, y, w, h] = p.bbox.map(|v| v as f32);
        results[i].detections.push(Detection {
            class,
            score: p.score as f32,
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        });
    }
    Ok(Previous {
        categories: cats.into_iter().map(Some).collect(),
        labels,
        results,
    })
}

fn previous_record(dataset: &Dataset) -> Option<ModelRecord> {
    serde_json::from_value(dataset.run_json()["label"]["detector"].clone()).ok()
}

/// One entry of `predictions.json` (the COCO results format).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prediction {
    image_id: u64,
    category_id: u32,
    bbox: [f64; 4],
    score: f64,
}

#[derive(Debug, Serialize)]
struct Annotation {
    id: u64,
    image_id: u64,
    category_id: u32,
    bbox: [f64; 4],
    area: f64,
    iscrowd: u8,
    score: f64,
    /// What `run --track` found of the box (track id, review reasons).
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct CocoImage {
    id: u64,
    file_name: String,
    width: u32,
    height: u32,
    video: String,
    frame: u64,
    pts: f64,
}

#[derive(Debug, Serialize)]
struct Coco {
    info: serde_json::Value,
    licenses: Vec<serde_json::Value>,
    images: Vec<CocoImage>,
    annotations: Vec<Annotation>,
    categories: Vec<CocoCategory>,
}
