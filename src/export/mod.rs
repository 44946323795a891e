//! `framelabel export`: the pseudo labels of `annotations.json` in the formats annotation and training
//! tools import as they are.
//!
//! Every format is written from one typed view of the labelled dataset ([`Labels`]), so a box means
//! the same thing everywhere and the class and size filters apply once. Each export goes to a fresh
//! folder that replaces the previous export only when complete: a failed or interrupted export never
//! leaves a half-written dataset that a training run would silently accept. A folder framelabel did
//! not write is never replaced.

mod coco;
mod cvat;
mod label_studio;
pub mod split;
mod track_formats;
mod voc;
mod yolo;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, write_json_atomic};
use crate::detect::label::{ANNOTATIONS_FILE, Filters, class_filter};
use crate::error::{Error, Result};
pub use split::{Shares, Split, SplitBy, SplitConfig, Subset};

/// The file that marks a folder as an export framelabel may replace.
const MARKER: &str = ".framelabel-export";

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Ultralytics layout: `images/`, `labels/*.txt`, `data.yaml`.
    Yolo,
    /// A COCO dataset as CVAT and Datumaro lay it out: `images/`, `annotations/instances_*.json`.
    Coco,
    /// Pascal VOC: `Annotations/*.xml`, `JPEGImages/`, `ImageSets/Main/default.txt`, `labelmap.txt`.
    Voc,
    /// CVAT for images 1.1: `annotations.xml` (+ `labels.json` for the task's label constructor).
    Cvat,
    /// Label Studio tasks with predictions: `tasks.json` + `labeling_config.xml`.
    LabelStudio,
    /// The COCO results list: `results.json`.
    CocoResults,
    /// `run --track`'s tracks as CVAT for video 1.1: `VIDEO/annotations.xml`.
    CvatVideo,
    /// `run --track`'s tracks as MOT Challenge ground truth: `VIDEO/gt/gt.txt`, `gt/labels.txt`.
    Mot,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Yolo,
        Format::Coco,
        Format::Voc,
        Format::Cvat,
        Format::LabelStudio,
        Format::CocoResults,
        Format::CvatVideo,
        Format::Mot,
    ];

    /// Formats of `run --track`'s tracks, one folder per video (no split).
    pub fn of_tracks(self) -> bool {
        matches!(self, Format::CvatVideo | Format::Mot)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yolo => "yolo",
            Format::Coco => "coco",
            Format::Voc => "voc",
            Format::Cvat => "cvat",
            Format::LabelStudio => "label-studio",
            Format::CocoResults => "coco-results",
            Format::CvatVideo => "cvat-video",
            Format::Mot => "mot",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s || (s == "labelstudio" && *f == Format::LabelStudio))
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("'{s}' is not an export format; valid: {}", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportConfig {
    /// The labelled output folder.
    pub dir: PathBuf,
    pub formats: Vec<Format>,
    /// The export folder for one format, or the parent of one folder per format when there are
    /// several [default: DIR/export/FORMAT].
    pub out: Option<PathBuf>,
    /// Class subset and box-size bounds, applied on top of those of `annotations.json`.
    pub filters: Filters,
    /// YOLO: a sixth column with the score.
    pub with_scores: bool,
    /// Label Studio: the URL prefix of the image files [default: `/data/local-files/?d=images/`].
    pub image_root: Option<String>,
    /// Training, validation and test subsets; `None`: one set of every image.
    pub split: Option<SplitConfig>,
}

/// What one format's export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub format: Format,
    pub path: PathBuf,
    pub images: usize,
    pub boxes: usize,
    pub classes: usize,
    /// Images per subset of a split export.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub subsets: BTreeMap<Subset, usize>,
}

/// One class of the export; `index` is its position in the class list (YOLO's class number).
#[derive(Debug, Clone)]
pub struct Class {
    pub coco_id: u32,
    pub name: String,
    pub supercategory: String,
}

/// One box in pixels of the written JPEG.
#[derive(Debug, Clone)]
pub struct BoxLabel {
    /// Index into [`Labels::classes`].
    pub class: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub score: f64,
    /// With `run --track`: its track, and why the review flagged it (none for most boxes).
    pub track_id: Option<u64>,
    pub reasons: Vec<String>,
}

/// A box a track expects where the detector gave none (`run --track`'s `missed`): never a label.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// Index into [`Labels::classes`]; `None` for a class the export leaves out.
    pub class: Option<usize>,
    pub track_id: u64,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// What the review of `run --track` says of an image.
#[derive(Debug, Clone, Default)]
pub struct Review {
    pub priority: f64,
    pub reasons: Vec<String>,
    pub suggestions: Vec<Suggestion>,
}

/// A track of `tracks.jsonl`: its boxes in pixels of the written JPEGs.
#[derive(Debug, Clone, Deserialize)]
pub struct Track {
    pub id: u64,
    pub video: String,
    pub category_id: u32,
    pub frames: Vec<u64>,
    pub pts: Vec<f64>,
    pub boxes: Vec<[f64; 4]>,
    pub scores: Vec<f64>,
}

/// A video of the run, as the track exports need it.
#[derive(Debug, Clone)]
pub struct Video {
    /// As records name it.
    pub video: String,
    /// The `{video}` of file names: unique per video.
    pub key: String,
    /// Upright width and height of the video's frames.
    pub size: (u32, u32),
    pub fps: f64,
    /// Frames the decoder gave.
    pub frames: u64,
}

/// The tracks of `run --track`, and how to take their boxes back to the videos' pixels.
#[derive(Debug, Clone)]
pub struct Tracks {
    pub tracks: Vec<Track>,
    pub videos: Vec<Video>,
    pub output: crate::extract::picture::Output,
}

impl Tracks {
    /// A box (x, y, width, height in pixels of the written JPEGs) of `video` in the video's own
    /// pixels: the resize and padding of `--size` undone.
    pub fn to_source(&self, video: &Video, b: [f64; 4]) -> [f64; 4] {
        let p = crate::extract::picture::placement(video.size, &self.output);
        let sx = video.size.0 as f64 / p.scaled.0 as f64;
        let sy = video.size.1 as f64 / p.scaled.1 as f64;
        let (ox, oy) = (p.offset.0 as f64, p.offset.1 as f64);
        [(b[0] - ox) * sx, (b[1] - oy) * sy, b[2] * sx, b[3] * sy]
    }
}

#[derive(Debug, Clone)]
pub struct Image {
    /// The COCO image id of `annotations.json`.
    pub id: u64,
    /// File name inside `DIR/images/`.
    pub file_name: String,
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub boxes: Vec<BoxLabel>,
    /// The video the frame comes from (normalised path), its frame index and time in seconds.
    pub video: String,
    pub frame: u64,
    pub pts: f64,
    /// With `run --track`.
    pub review: Option<Review>,
}

impl Image {
    /// The file name without its extension: the name of the per-image label file.
    pub fn stem(&self) -> &str {
        Path::new(&self.file_name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(&self.file_name)
    }
}

/// The labelled dataset as every format sees it: images in file-name order, classes in the order
/// of `annotations.json`'s categories.
#[derive(Debug, Clone)]
pub struct Labels {
    pub images: Vec<Image>,
    pub classes: Vec<Class>,
    /// The detector that made the boxes, as Label Studio's model picker shows it
    /// (`model_version`): see [`model_version`].
    pub detector: String,
    /// With `run --track`.
    pub tracks: Option<Tracks>,
}

/// A detector named for people: the model's name (a built-in name, a hub repo, or a local file's
/// stem, never its full path) and the first 8 hex digits of its sha256, e.g. `yolox-s 3c7f2a1b`.
pub fn model_version(spec: Option<&str>, sha256: Option<&str>) -> String {
    let Some(spec) = spec else {
        return "framelabel".into();
    };
    let name = if let Some(repo) = spec.strip_prefix("hf:") {
        let repo = repo.split('@').next().unwrap_or(repo);
        repo.splitn(3, '/').take(2).collect::<Vec<_>>().join("/")
    } else if spec.contains('/') || spec.ends_with(".onnx") {
        Path::new(spec)
            .file_stem()
            .map_or(spec.to_string(), |s| s.to_string_lossy().into_owned())
    } else {
        spec.to_string()
    };
    match sha256 {
        Some(h) if h.len() >= 8 => format!("{name} {}", &h[..8]),
        _ => name,
    }
}

impl Labels {
    /// Reads `DIR/annotations.json` and applies `filters` (classes default to those `label` kept).
    pub fn load(dataset: &Dataset, filters: &Filters) -> Result<Labels> {
        let path = dataset.root().join(ANNOTATIONS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::usage(
                "DIR",
                format!(
                    "{}: cannot read ({e}); run `framelabel label {}` first",
                    path.display(),
                    dataset.root().display()
                ),
            )
        })?;
        let coco: CocoIn = serde_json::from_str(&text).map_err(|e| {
            Error::output(
                &path,
                format!("not a COCO file framelabel wrote ({e}); run `framelabel label` again"),
            )
        })?;
        let names: Vec<String> = coco.categories.iter().map(|c| c.name.clone()).collect();
        let mut keep = class_filter(filters, &names)?;
        if keep.is_none() {
            // The subset `label --classes` chose: the export lists only those classes.
            let chosen: Option<Vec<String>> = serde_json::from_value(
                dataset.run_json()["label"]["parameters"]["filters"]["classes"].clone(),
            )
            .ok()
            .flatten();
            if let Some(c) = chosen {
                let f = Filters {
                    classes: Some(c),
                    ..Filters::default()
                };
                keep = class_filter(&f, &names).ok().flatten();
            }
        }
        let mut index = BTreeMap::new();
        let mut classes = Vec::new();
        for (i, c) in coco.categories.iter().enumerate() {
            if keep.as_ref().is_none_or(|k| k[i]) {
                index.insert(c.id, classes.len());
                classes.push(Class {
                    coco_id: c.id,
                    name: c.name.clone(),
                    supercategory: c.supercategory.clone(),
                });
            }
        }
        let mut images: Vec<Image> = Vec::with_capacity(coco.images.len());
        let mut by_id = BTreeMap::new();
        for im in coco.images {
            let file = dataset.images_dir().join(&im.file_name);
            if !file.is_file() {
                return Err(Error::output(
                    &path,
                    format!(
                        "lists {} which is not in images/ (frames changed after labelling); run `framelabel label {}` again",
                        im.file_name,
                        dataset.root().display()
                    ),
                ));
            }
            by_id.insert(im.id, images.len());
            images.push(Image {
                id: im.id,
                file_name: im.file_name,
                path: file,
                width: im.width,
                height: im.height,
                boxes: Vec::new(),
                video: im.video,
                frame: im.frame,
                pts: im.pts,
                review: None,
            });
        }
        for a in coco.annotations {
            let (Some(&i), Some(&class)) = (by_id.get(&a.image_id), index.get(&a.category_id))
            else {
                continue;
            };
            let im = &mut images[i];
            let area = a.bbox[2] * a.bbox[3];
            let image_area = im.width as f64 * im.height as f64;
            if filters
                .min_area
                .is_some_and(|m| area < m.pixels(image_area))
                || filters
                    .max_area
                    .is_some_and(|m| area > m.pixels(image_area))
            {
                continue;
            }
            im.boxes.push(BoxLabel {
                class,
                x: a.bbox[0],
                y: a.bbox[1],
                w: a.bbox[2],
                h: a.bbox[3],
                score: a.score.unwrap_or(1.0),
                track_id: a.attributes.track_id,
                reasons: a.attributes.reasons,
            });
        }
        let tracks = load_tracks(dataset)?;
        if tracks.is_some() {
            for (id, review) in load_review(dataset, &index)? {
                if let Some(&i) = by_id.get(&id) {
                    images[i].review = Some(review);
                }
            }
        }
        images.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        let detector = model_version(
            coco.info["detector"].as_str(),
            coco.info["detector_sha256"].as_str(),
        );
        Ok(Labels {
            images,
            classes,
            detector,
            tracks,
        })
    }

    pub fn boxes(&self) -> usize {
        self.images.iter().map(|i| i.boxes.len()).sum()
    }
}

#[derive(Deserialize)]
struct CocoIn {
    #[serde(default)]
    info: serde_json::Value,
    images: Vec<CocoImageIn>,
    annotations: Vec<CocoAnnotationIn>,
    categories: Vec<CocoCategoryIn>,
}

#[derive(Deserialize)]
struct CocoImageIn {
    id: u64,
    file_name: String,
    width: u32,
    height: u32,
    #[serde(default)]
    video: String,
    #[serde(default)]
    frame: u64,
    #[serde(default)]
    pts: f64,
}

#[derive(Deserialize)]
struct CocoAnnotationIn {
    image_id: u64,
    category_id: u32,
    bbox: [f64; 4],
    score: Option<f64>,
    #[serde(default)]
    attributes: AttributesIn,
}

/// What `run --track` adds to an annotation.
#[derive(Deserialize, Default)]
struct AttributesIn {
    track_id: Option<u64>,
    #[serde(default)]
    reasons: Vec<String>,
}

/// `tracks.jsonl`, the videos and the output setting of `run.json`; `None` without `--track`.
fn load_tracks(dataset: &Dataset) -> Result<Option<Tracks>> {
    let path = dataset.root().join(crate::track::TRACKS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let bad = |e: serde_json::Error| {
        Error::output(
            &path,
            format!("not a tracks file framelabel wrote ({e}); run `framelabel run --track` again"),
        )
    };
    let tracks = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(bad))
        .collect::<Result<Vec<Track>>>()?;
    let run = dataset.run_json();
    let output = serde_json::from_value(run["parameters"]["output"].clone()).unwrap_or_default();
    let videos = run["videos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let info = &v["info"];
            let (w, h) = (
                info["width"].as_u64()? as u32,
                info["height"].as_u64()? as u32,
            );
            let turned = matches!(info["rotation"].as_u64(), Some(90 | 270));
            Some(Video {
                video: v["video"].as_str()?.to_string(),
                key: v["key"].as_str()?.to_string(),
                size: if turned { (h, w) } else { (w, h) },
                fps: info["fps"].as_f64().unwrap_or(25.0),
                frames: v["decoded"].as_u64().unwrap_or_default(),
            })
        })
        .collect::<Vec<Video>>();
    // A sliced video is listed once per slice: once is enough here.
    let mut seen = std::collections::HashSet::new();
    let videos = videos
        .into_iter()
        .filter(|v| seen.insert(v.video.clone()))
        .collect();
    Ok(Some(Tracks {
        tracks,
        videos,
        output,
    }))
}

/// The reviews of `review.json` by image id; `index` maps category ids to classes.
fn load_review(dataset: &Dataset, index: &BTreeMap<u32, usize>) -> Result<Vec<(u64, Review)>> {
    let path = dataset.root().join(crate::track::REVIEW_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| Error::output(&path, format!("not a review file framelabel wrote ({e})")))?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some(s.as_str()?.to_string()))
            .collect()
    };
    Ok(list
        .iter()
        .filter_map(|r| {
            let suggestions = r["suggestions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    let b = &s["bbox"];
                    Some(Suggestion {
                        class: index.get(&(s["category_id"].as_u64()? as u32)).copied(),
                        track_id: s["track_id"].as_u64()?,
                        x: b[0].as_f64()?,
                        y: b[1].as_f64()?,
                        w: b[2].as_f64()?,
                        h: b[3].as_f64()?,
                    })
                })
                .collect();
            let review = Review {
                priority: r["priority"].as_f64()?,
                reasons: strings(&r["reasons"]),
                suggestions,
            };
            Some((r["image_id"].as_u64()?, review))
        })
        .collect())
}

#[derive(Deserialize)]
struct CocoCategoryIn {
    id: u32,
    name: String,
    #[serde(default)]
    supercategory: String,
}

/// Writes every requested format; returns what each wrote.
pub fn export(cfg: &ExportConfig) -> Result<Vec<Exported>> {
    let dataset = Dataset::open_existing(&cfg.dir)?;
    let labels = Labels::load(&dataset, &cfg.filters)?;
    let split = cfg
        .split
        .as_ref()
        .map(|s| split::split(&labels.images, s))
        .transpose()?;
    let split = split.as_ref();
    let mut done = Vec::new();
    for &format in &cfg.formats {
        let dest = match (&cfg.out, cfg.formats.len()) {
            (Some(o), 1) => o.clone(),
            (Some(o), _) => o.join(format.name()),
            (None, _) => dataset.root().join("export").join(format.name()),
        };
        write_folder(&dest, format, |tmp| {
            match format {
                Format::Yolo => yolo::write(&labels, split, tmp, cfg.with_scores),
                Format::Coco => coco::write(&labels, split, tmp),
                Format::Voc => voc::write(&labels, split, tmp),
                Format::Cvat => cvat::write(&labels, split, tmp),
                Format::LabelStudio => {
                    label_studio::write(&labels, split, tmp, cfg.image_root.as_deref())
                }
                Format::CocoResults => coco::write_results(&labels, split, tmp),
                Format::CvatVideo => track_formats::write_cvat_video(&labels, tmp),
                Format::Mot => track_formats::write_mot(&labels, tmp),
            }?;
            match split.filter(|_| !format.of_tracks()) {
                Some(s) => write_json_atomic(&tmp.join(split::SPLIT_FILE), s),
                None => Ok(()),
            }
        })?;
        let mut subsets = BTreeMap::new();
        if let Some(s) = split {
            for (k, c) in &s.subsets {
                subsets.insert(*k, c.images);
            }
        }
        done.push(Exported {
            format,
            path: dest,
            images: labels.images.len(),
            boxes: labels.boxes(),
            classes: labels.classes.len(),
            subsets,
        });
    }
    Ok(done)
}

/// The images of one subset (every image without a split), in [`Labels::images`] order.
fn members<'a>(
    labels: &'a Labels,
    split: Option<&'a Split>,
    subset: Option<Subset>,
) -> impl Iterator<Item = &'a Image> + 'a {
    labels
        .images
        .iter()
        .enumerate()
        .filter(move |(i, _)| split.zip(subset).is_none_or(|(s, k)| s.of_image[*i] == k))
        .map(|(_, im)| im)
}

/// The subsets to write: each of the split, or one unnamed set.
fn parts(split: Option<&Split>) -> Vec<Option<Subset>> {
    match split {
        Some(s) => s.subsets().into_iter().map(Some).collect(),
        None => vec![None],
    }
}

/// `base/SUBSET` for a subset, `base` without a split.
fn subset_dir(base: &Path, subset: Option<Subset>) -> PathBuf {
    match subset {
        Some(s) => base.join(s.name()),
        None => base.to_path_buf(),
    }
}

/// Builds an export in a sibling temporary folder, then puts it in place of `dest`.
fn write_folder(
    dest: &Path,
    format: Format,
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let refuse = || {
        Error::output(
            dest,
            "exists and is not a framelabel export; give --out an empty or new folder",
        )
    };
    if dest.exists() {
        let empty = std::fs::read_dir(dest)
            .map_err(|_| refuse())?
            .next()
            .is_none();
        if !empty && !dest.join(MARKER).is_file() {
            return Err(refuse());
        }
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e.to_string()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::output(&tmp, e.to_string()))?;
    let result = build(&tmp).and_then(|()| {
        std::fs::write(tmp.join(MARKER), format!("{format}\n")).map_err(|e| Error::io(&tmp, e))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dest.exists() {
        std::fs::rename(dest, &old).map_err(|e| Error::output(dest, e.to_string()))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| Error::output(dest, e.to_string()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Puts a dataset image into an export folder: a hard link (no copy of the pixels) where the file
/// system allows it, else a copy.
fn link_image(src: &Path, dst: &Path) -> Result<()> {
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| Error::io(dst, e))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// A distinct colour per class (golden-angle hues), the same in every format.
pub fn class_colour(index: usize) -> [u8; 3] {
    let h = (index as f64 * 137.508) % 360.0;
    let (s, v) = (0.75, 0.95);
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|u| ((u + m) * 255.0).round() as u8)
}

pub fn hex_colour(index: usize) -> String {
    let [r, g, b] = class_colour(index);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Rounds a coordinate for text formats: two decimals are far below a pixel and keep files short.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// XML writing helpers shared by VOC, CVAT and the Label Studio config.
mod xml {
    use quick_xml::Writer;
    use quick_xml::events::{BytesDecl, BytesText, Event};

    pub type W = Writer<Vec<u8>>;

    pub fn writer() -> W {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
            .expect("writing to memory");
        w
    }

    /// `<name>text</name>`
    pub fn leaf(w: &mut W, name: &str, text: &str) -> std::io::Result<()> {
        w.create_element(name)
            .write_text_content(BytesText::new(text))?;
        Ok(())
    }

    /// `<dumped>` with the time now, as CVAT writes it in its exports.
    pub fn dumped(w: &mut W) -> std::io::Result<()> {
        leaf(
            w,
            "dumped",
            &humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        )
    }

    pub fn finish(w: W) -> Vec<u8> {
        let mut bytes = w.into_inner();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_version_names_the_model_not_its_path() {
        let sha = Some("d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a");
        assert_eq!(
            model_version(Some("/data/x/../models/yolox_nano.onnx"), sha),
            "yolox_nano d39bee73"
        );
        assert_eq!(model_version(Some("yolox-s"), sha), "yolox-s d39bee73");
        assert_eq!(
            model_version(
                Some("hf:onnx-community/rtdetr_r18vd/onnx/model.onnx@main"),
                sha
            ),
            "onnx-community/rtdetr_r18vd d39bee73"
        );
        assert_eq!(model_version(Some("yolox-s"), None), "yolox-s");
        assert_eq!(model_version(None, None), "framelabel");
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert_eq!(
            "Label_Studio".parse::<Format>().unwrap(),
            Format::LabelStudio
        );
        let e = "darknet".parse::<Format>().unwrap_err();
        assert!(
            e.contains("yolo, coco, voc, cvat, label-studio, coco-results"),
            "{e}"
        );
    }

    #[test]
    fn class_colours_differ_between_neighbours() {
        let c: Vec<[u8; 3]> = (0..80).map(class_colour).collect();
        for i in 1..80 {
            let d: i32 = (0..3)
                .map(|k| (c[i][k] as i32 - c[i - 1][k] as i32).abs())
                .sum();
            assert!(
                d > 60,
                "classes {} and {i}: {:?} {:?}",
                i - 1,
                c[i - 1],
                c[i]
            );
        }
        assert_eq!(hex_colour(0).len(), 7);
    }
}
