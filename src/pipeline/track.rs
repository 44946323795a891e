//! `run --track`: the detector on the sampled frames around the kept ones, tracks through them,
//! and the review of every kept frame (`crate::track`), written into the run's outputs.
//!
//! It runs after the run-wide dedup decision, when the kept frames are final: the frames between
//! them are decoded again from their videos (their pictures were never kept, and holding them
//! through the run would cost memory the run does not have), rendered as a kept frame's JPEG is
//! (same size, same padding: box coordinates compare), and detected as they come out of the
//! decoder. Their detections are cached like a kept frame's, so a killed run loses none; tracking
//! and the checks themselves take milliseconds and are computed again from the caches.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use super::RunConfig;
use super::cache::TrackFrames;
use crate::coco::CocoCategory;
use crate::dataset::{Dataset, FrameRecord, FrameStatus, write_json_atomic};
use crate::detect::Detector;
use crate::detect::decode::{DecodeParams, decode};
use crate::detect::label::{self, Item, Labelled};
use crate::error::{Error, Result};
use crate::extract::Input;
use crate::extract::decode::{BufferPool, VideoSource};
use crate::extract::picture::render;
use crate::extract::sample::Decision;
use crate::runtime::batch::run_images;
use crate::track::{self, Det, Frame, Params, REVIEW_FILE, Reason, TRACKS_FILE};

/// `--track-fps` when not given: the sampling rate, at most this many frames a second. The
/// detector then runs on at most this many frames per second of video, whatever the video's rate.
pub const DEFAULT_TRACK_FPS: f64 = 5.0;

/// `run --track`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackConfig {
    /// Sampled frames per second the tracker sees (`--track-fps`); `None`: the sampling rate, at
    /// most [`DEFAULT_TRACK_FPS`].
    pub fps: Option<f64>,
}

impl TrackConfig {
    pub fn fps(&self) -> f64 {
        self.fps.unwrap_or(DEFAULT_TRACK_FPS)
    }
}

/// What the track pass did (`run.json` `track`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackSummary {
    /// At most this many sampled frames per second went to the tracker.
    pub fps: f64,
    /// Sampled frames the tracker saw, kept ones included.
    pub frames: u64,
    /// Frames the detector ran on for the tracks (not kept frames), and those an earlier attempt
    /// had detected.
    pub detected: u64,
    pub detections_reused: u64,
    /// Frames that could not be decoded again (skipped).
    pub missing: u64,
    pub tracks: u64,
    /// Tracks seen in at least 3 sampled frames.
    pub tracks_3: u64,
    /// Boxes of kept frames, and how many belong to tracks seen in at least 3 sampled frames.
    pub boxes: u64,
    pub boxes_in_tracks_3: u64,
    pub kept_frames: u64,
    /// Kept frames with each reason.
    pub frames_flagged: BTreeMap<String, u64>,
    /// Kept frames with any reason.
    pub frames_flagged_any: u64,
    /// Boxes with each reason (`missed`: suggestions).
    pub boxes_flagged: BTreeMap<String, u64>,
    /// Seconds decoding and detecting the frames between kept ones (one pass, overlapped), and
    /// seconds of tracking and checks.
    pub detect_s: f64,
    pub tracker_s: f64,
}

/// What the outputs take from the track pass.
pub struct Tracking {
    /// Per label item, per detection (the item's `Labelled` order): the box's attributes in
    /// `annotations.json`.
    pub attributes: Vec<Vec<Option<serde_json::Value>>>,
    pub summary: TrackSummary,
}

/// A frame the tracker sees: a kept frame (its label item), or one decoded for the tracks.
struct Seen {
    frame: u64,
    pts: f64,
    /// Its record, when it is a sampled frame.
    record: Option<usize>,
    item: Option<usize>,
}

/// The `1/fps` slot of video time a frame falls in.
fn slot(pts: f64, fps: f64) -> i64 {
    (pts * fps + 1e-6).floor() as i64
}

/// Which frames of a video the tracker sees: every kept frame, and in each `1/fps` slot of video
/// time the first sampled frame in it, or the first decoded frame where none was sampled.
struct Choice {
    video: String,
    /// Sampled frames (not kept) the tracker sees: frame index to record.
    sampled: HashMap<u64, usize>,
    /// Slots holding a sampled frame: no frame is decoded for them.
    slots: std::collections::HashSet<i64>,
    /// Kept frames: record and label item.
    kept: Vec<(usize, usize)>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn track_pass(
    cfg: &RunConfig,
    tc: &TrackConfig,
    dataset: &Dataset,
    inputs: &[Input],
    detector: &mut Detector,
    cache: &mut TrackFrames,
    records: &mut [FrameRecord],
    items: &[Item],
    results: &[Labelled],
    categories: &[Option<CocoCategory>],
    bar: &ProgressBar,
) -> Result<Tracking> {
    let fps = tc.fps();
    let mut summary = TrackSummary {
        fps,
        ..TrackSummary::default()
    };
    let item_of: HashMap<usize, usize> = items
        .iter()
        .enumerate()
        .map(|(k, it)| (it.record, k))
        .collect();
    let index: HashMap<&str, usize> = inputs
        .iter()
        .enumerate()
        .map(|(k, i)| (i.shown.as_str(), k))
        .collect();
    let mut choices: Vec<Choice> = inputs
        .iter()
        .map(|i| Choice {
            video: i.shown.clone(),
            sampled: HashMap::new(),
            slots: Default::default(),
            kept: Vec::new(),
        })
        .collect();
    for (i, r) in records.iter().enumerate() {
        let Some(&k) = index.get(r.video.as_str()) else {
            continue;
        };
        if r.status == FrameStatus::Missing {
            continue;
        }
        let c = &mut choices[k];
        let item = item_of.get(&i).copied();
        if c.slots.insert(slot(r.pts, fps)) && item.is_none() {
            c.sampled.insert(r.frame, i);
        }
        if let Some(item) = item {
            c.kept.push((i, item));
        }
    }
    choices.retain(|c| !c.slots.is_empty());

    // Decode and detect what the cache does not hold.
    let t = Instant::now();
    let reused: usize = choices
        .iter()
        .map(|c| cache.of_video(&c.video).count())
        .sum();
    let (start, end) = (cfg.extract.sampling.start, cfg.extract.sampling.end);
    for c in &choices {
        if cache.is_done(&c.video) {
            continue;
        }
        let input = inputs
            .iter()
            .find(|i| i.shown == c.video)
            .expect("an input");
        detect_decoded(cfg, &input.path, c, fps, (start, end), detector, cache, bar)?;
        cache.finish(&c.video)?;
    }
    summary.detections_reused = reused as u64;
    summary.detected = choices
        .iter()
        .map(|c| cache.of_video(&c.video).count())
        .sum::<usize>() as u64
        - reused as u64;
    summary.detect_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // Track and check each video; ids run on through the videos.
    let t = Instant::now();
    let classes = label::class_filter(&cfg.label.filters, &detector.setup.labels)?;
    let mut attributes: Vec<Vec<Option<serde_json::Value>>> = results
        .iter()
        .map(|l| vec![None; l.detections.len()])
        .collect();
    let mut lines = String::new();
    let mut next_id = 1u64;
    for c in &choices {
        let video = &c.video;
        let mut seen: Vec<Seen> = cache
            .of_video(video)
            .map(|(frame, pts, _)| Seen {
                frame,
                pts,
                record: c.sampled.get(&frame).copied(),
                item: None,
            })
            .collect();
        for &(record, item) in &c.kept {
            let r = &records[record];
            seen.push(Seen {
                frame: r.frame,
                pts: r.pts,
                record: Some(record),
                item: Some(item),
            });
        }
        seen.sort_by_key(|s| (s.frame, s.item.is_none()));
        seen.dedup_by_key(|s| s.frame);
        // Each frame's detections as annotations hold them (label filters applied), and where
        // each came from in its `Labelled`.
        let mut frames: Vec<Frame> = Vec::new();
        let mut origin: Vec<(&Seen, Vec<usize>)> = Vec::new();
        for s in &seen {
            let labelled = match s.item {
                Some(k) => Some(&results[k]),
                None => cache.get(video, s.frame),
            };
            let Some(Labelled {
                size: Some((w, h)),
                detections,
            }) = labelled
            else {
                continue;
            };
            let area = *w as f64 * *h as f64;
            let (mut dets, mut from) = (Vec::new(), Vec::new());
            for (k, d) in detections.iter().enumerate() {
                if categories[d.class].is_none()
                    || !label::passes(&cfg.label.filters, classes.as_deref(), d, area)
                {
                    continue;
                }
                dets.push(Det {
                    class: d.class,
                    score: d.score,
                    bbox: [d.x0, d.y0, d.width(), d.height()],
                });
                from.push(k);
            }
            frames.push(Frame {
                dets,
                kept: s.item.is_some(),
            });
            origin.push((s, from));
        }
        // The tracker's frame rate: what it was given of this video.
        let span = match (origin.first(), origin.last()) {
            (Some(a), Some(b)) => b.0.pts - a.0.pts,
            _ => 0.0,
        };
        let rate = if span > 0.0 {
            (origin.len() - 1) as f64 / span
        } else {
            fps
        };
        let params = Params::new(rate, cfg.label.confidence);
        let tracked = track::track(&frames, &params);
        let reviews = track::review(&frames, &tracked, &params);
        summary.frames += frames.len() as u64;

        // Ids: the tracker's tracks in the order they started, then a track of its own for each
        // box of a kept frame that none carries.
        let ids: Vec<u64> = (next_id..).take(tracked.tracks.len()).collect();
        next_id += ids.len() as u64;
        let own: Vec<Vec<Option<u64>>> = frames
            .iter()
            .zip(&tracked.of_det)
            .map(|(f, of)| {
                of.iter()
                    .map(|t| {
                        (f.kept && t.is_none()).then(|| {
                            next_id += 1;
                            next_id - 1
                        })
                    })
                    .collect()
            })
            .collect();
        let name = |c: usize| categories[c].as_ref().map(|c| (c.id, c.name.clone()));
        for (k, t) in tracked.tracks.iter().enumerate() {
            summary.tracks += 1;
            summary.tracks_3 += (t.seen.len() >= 3) as u64;
            lines.push_str(&track_line(
                ids[k],
                video,
                name(t.class),
                t.seen.iter().map(|&(pos, d)| {
                    (origin[pos].0.frame, origin[pos].0.pts, &frames[pos].dets[d])
                }),
                &name,
            ));
        }
        for (pos, f) in frames.iter().enumerate() {
            for (d, det) in f.dets.iter().enumerate() {
                if let Some(id) = own[pos][d] {
                    summary.tracks += 1;
                    lines.push_str(&track_line(
                        id,
                        video,
                        name(det.class),
                        std::iter::once((origin[pos].0.frame, origin[pos].0.pts, det)),
                        &name,
                    ));
                }
            }
        }

        // Records and annotations.
        for (pos, f) in frames.iter().enumerate() {
            let (seen, from) = &origin[pos];
            let Some(record) = seen.record else {
                continue;
            };
            // A box's track: the tracker's, or for a kept frame's box none carries its own.
            let track_of =
                |d: usize| own[pos][d].or_else(|| tracked.of_det[pos][d].map(|k| ids[k]));
            let id_of = |d: usize| track_of(d).expect("every box of a kept frame has a track");
            let mut present: Vec<u64> = (0..f.dets.len()).filter_map(track_of).collect();
            present.sort_unstable();
            let r = &mut records[record];
            r.extra.insert("tracks".into(), present.into());
            let (Some(review), Some(item)) = (&reviews[pos], seen.item) else {
                continue;
            };
            summary.kept_frames += 1;
            for (d, why) in review.dets.iter().enumerate() {
                let in_3 =
                    tracked.of_det[pos][d].is_some_and(|k| tracked.tracks[k].seen.len() >= 3);
                summary.boxes += 1;
                summary.boxes_in_tracks_3 += in_3 as u64;
                let mut a = serde_json::json!({ "track_id": id_of(d) });
                if !why.is_empty() {
                    a["reasons"] = serde_json::json!(why);
                }
                for w in why {
                    *summary.boxes_flagged.entry(w.as_str().into()).or_default() += 1;
                }
                attributes[item][from[d]] = Some(a);
            }
            for w in &review.reasons {
                *summary.frames_flagged.entry(w.as_str().into()).or_default() += 1;
            }
            summary.frames_flagged_any += (!review.reasons.is_empty()) as u64;
            *summary
                .boxes_flagged
                .entry(Reason::Missed.as_str().into())
                .or_default() += review.suggestions.len() as u64;
            let suggestions: Vec<serde_json::Value> = review
                .suggestions
                .iter()
                .map(|s| {
                    let (category_id, category) = name(s.class).unwrap_or_default();
                    serde_json::json!({
                        "track_id": ids[s.track],
                        "category_id": category_id,
                        "category": category,
                        "bbox": s.bbox,
                        "source": "track",
                    })
                })
                .collect();
            r.extra.insert(
                "review".into(),
                serde_json::json!({
                    "priority": review.priority,
                    "reasons": review.reasons,
                    "suggestions": suggestions,
                }),
            );
        }
    }
    summary.tracker_s = t.elapsed().as_secs_f64();
    crate::dataset::write_atomic(&dataset.root().join(TRACKS_FILE), lines.as_bytes())?;
    Ok(Tracking {
        attributes,
        summary,
    })
}

fn track_line<'a>(
    id: u64,
    video: &str,
    class: Option<(u32, String)>,
    boxes: impl Iterator<Item = (u64, f64, &'a Det)>,
    name: &dyn Fn(usize) -> Option<(u32, String)>,
) -> String {
    let (mut frames, mut pts, mut bbox, mut scores, mut cats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (frame, at, d) in boxes {
        frames.push(frame);
        pts.push(at);
        bbox.push(d.bbox.map(|v| (v as f64 * 100.0).round() / 100.0));
        scores.push((d.score as f64 * 1e5).round() / 1e5);
        cats.push(name(d.class).map(|c| c.1).unwrap_or_default());
    }
    let (category_id, category) = class.unwrap_or_default();
    let mut line = serde_json::json!({
        "id": id,
        "video": video,
        "category_id": category_id,
        "category": category,
        "frames": frames,
        "pts": pts,
        "boxes": bbox,
        "scores": scores,
        "categories": cats,
    })
    .to_string();
    line.push('\n');
    line
}

/// Decodes the video at `path` again and detects, as a kept frame's JPEG would be, each frame of
/// `c` the tracker sees and the cache does not hold yet; frames that do not decode are left out.
#[allow(clippy::too_many_arguments)]
fn detect_decoded(
    cfg: &RunConfig,
    path: &std::path::Path,
    c: &Choice,
    fps: f64,
    (start, end): (Option<f64>, Option<f64>),
    detector: &mut Detector,
    cache: &mut TrackFrames,
    bar: &ProgressBar,
) -> Result<()> {
    let params = DecodeParams {
        confidence: cfg.label.confidence,
        nms_iou: cfg.label.nms_iou,
        max_detections: cfg.label.max_detections,
    };
    let output = cfg.extract.output;
    let (tx, rx) = crossbeam_channel::bounded::<(usize, (Vec<u8>, u32, u32))>(8);
    // The frames sent, by job index: frame index and timestamp.
    let sent = std::sync::Mutex::new(Vec::<(u64, f64)>::new());
    let setup = &detector.setup;
    let models = &mut detector.models;
    let held: std::collections::HashSet<u64> = cache.of_video(&c.video).map(|f| f.0).collect();
    let wanted = |index: u64, pts: f64, last: &mut Option<i64>| -> bool {
        let pts = (pts * 1e6).round() / 1e6;
        if start.is_some_and(|s| pts < s) || end.is_some_and(|e| pts >= e) {
            return false;
        }
        let k = slot(pts, fps);
        let first = *last != Some(k);
        *last = Some(k);
        let take = c.sampled.contains_key(&index) || (first && !c.slots.contains(&k));
        take && !held.contains(&index)
    };
    let mut failed = None;
    std::thread::scope(|s| -> Result<()> {
        let decoding = s.spawn(|| -> Result<()> {
            let tx = tx;
            let mut resizer = fast_image_resize::Resizer::new();
            let (mut resized, mut canvas) = (Vec::new(), Vec::new());
            let source = VideoSource::open(path)?;
            let mut failed = None;
            let mut last = None;
            source.run(
                &BufferPool::new(2),
                |index, pts| {
                    if end.is_some_and(|e| pts >= e) {
                        Decision::Stop
                    } else if wanted(index, pts, &mut last) {
                        Decision::Take
                    } else {
                        Decision::Skip
                    }
                },
                |frame| {
                    let size = (frame.width, frame.height);
                    match render(
                        &mut resizer,
                        &frame.rgb,
                        size,
                        &output,
                        &mut resized,
                        &mut canvas,
                    ) {
                        Ok((rgb, p)) => {
                            let job = {
                                let mut sent = sent.lock().expect("no panic");
                                // To the microsecond, as records hold it.
                                sent.push((frame.index, (frame.pts * 1e6).round() / 1e6));
                                sent.len() - 1
                            };
                            bar.inc_length(1);
                            tx.send((job, (rgb.to_vec(), p.canvas.0, p.canvas.1)))
                                .is_ok()
                        }
                        Err(e) => {
                            failed = Some(e);
                            false
                        }
                    }
                },
            );
            failed.map_or(Ok(()), Err)
        });
        let ran = run_images(
            rx,
            &|_, picture| Some(picture),
            &setup.preprocess,
            models,
            cfg.label.batch_size,
            (cfg.label.threads / 2).clamp(1, 4),
            bar,
            |outputs, b, pic| {
                let l = Labelled {
                    size: Some(pic.size),
                    detections: decode(setup, outputs, b, &pic.transform, pic.size, &params),
                };
                let (frame, pts) = sent.lock().expect("no panic")[pic.index];
                // Each on disk as it comes: a killed run keeps what was detected.
                if failed.is_none()
                    && let Err(e) = cache
                        .insert(&c.video, frame, pts, l)
                        .and_then(|()| cache.flush())
                {
                    failed = Some(e);
                }
            },
        );
        let decoded = decoding.join().expect("decoding panicked");
        ran?;
        decoded
    })?;
    failed.map_or(Ok(()), Err)
}

/// `review.json`: the kept frames of `annotations.json` with their review, highest priority
/// first (ties in frame order), each with its flagged boxes (annotation ids) and suggestions.
pub(super) fn write_review(dataset: &Dataset, records: &[FrameRecord]) -> Result<usize> {
    let path = dataset.root().join(crate::detect::label::ANNOTATIONS_FILE);
    let coco: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).map_err(|e| Error::io(&path, e))?)
            .map_err(|e| Error::output(&path, format!("not JSON ({e})")))?;
    let names: HashMap<u64, &str> = coco["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["id"].as_u64()?, c["name"].as_str()?)))
        .collect();
    let mut flagged: HashMap<u64, Vec<serde_json::Value>> = HashMap::new();
    for a in coco["annotations"].as_array().into_iter().flatten() {
        let Some(reasons) = a["attributes"].get("reasons") else {
            continue;
        };
        let image = a["image_id"].as_u64().unwrap_or_default();
        flagged.entry(image).or_default().push(serde_json::json!({
            "annotation_id": a["id"],
            "track_id": a["attributes"]["track_id"],
            "category_id": a["category_id"],
            "category": a["category_id"].as_u64().and_then(|c| names.get(&c)),
            "bbox": a["bbox"],
            "score": a["score"],
            "reasons": reasons,
        }));
    }
    let mut frames: Vec<(f64, usize, serde_json::Value)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let (Some(review), Some(image)) = (r.extra.get("review"), r.extra.get("image_id")) else {
            continue;
        };
        if r.status != FrameStatus::Kept {
            continue;
        }
        let priority = review["priority"].as_f64().unwrap_or_default();
        let image = image.as_u64().unwrap_or_default();
        frames.push((
            priority,
            i,
            serde_json::json!({
                "image_id": image,
                "file": r.file,
                "video": r.video,
                "frame": r.frame,
                "pts": r.pts,
                "priority": priority,
                "reasons": review["reasons"],
                "boxes": flagged.remove(&image).unwrap_or_default(),
                "suggestions": review["suggestions"],
            }),
        ));
    }
    frames.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = frames.len();
    let list: Vec<serde_json::Value> = frames.into_iter().map(|f| f.2).collect();
    write_json_atomic(&dataset.root().join(REVIEW_FILE), &list)?;
    Ok(n)
}
