//! Tracks through a video's sampled frames, and the temporal checks that tell annotators which
//! kept frames to look at first.
//!
//! One picture cannot say whether a box is real; the frames around it can. A box no track carries
//! on is likely a false positive, a track that crosses a frame without a box there points at a
//! likely missed object, and a track whose class or score wavers is uncertain. The checks run on
//! the detections alone (after the label filters, the boxes annotators see), so they can be tested
//! on synthetic detections without a model.
//!
//! The tracker is `trackforge`'s ByteTrack (two-stage association: high-score boxes first, then
//! low-score ones against the tracks left, with a Kalman filter predicting each track): a
//! maintained crate, small, whose only dependency is nalgebra. `edgefirst-tracker` was read too:
//! its tracks live by wall-clock nanoseconds and carry UUIDs, where sampled frames of a video want
//! frame counts and small ids. trackforge associates greedily by IoU rather than by an optimal
//! assignment; at a few frames a second of people and cars the two rarely differ.
//!
//! trackforge hides its lost tracks, so the predicted box of a track that crosses a frame without
//! a box there (the `missed` suggestion) is made here by replaying the track's own boxes through
//! the same Kalman filter: predict each frame, correct where the track has a box, and take the
//! prediction at the frame.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use trackforge::trackers::byte_track::{ByteTrack, ByteTrackParams};
use trackforge::trackers::common::{CommonParams, KalmanTrack};
use trackforge::utils::geometry::tlwh_to_xyah;
use trackforge::utils::kalman::KalmanFilter;

/// Each track, one JSON line, in the output folder.
pub const TRACKS_FILE: &str = "tracks.jsonl";
/// The kept frames in the order to review them, in the output folder.
pub const REVIEW_FILE: &str = "review.json";

/// One detection of a frame: class index, score and box (x, y, width, height in pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Det {
    pub class: usize,
    pub score: f32,
    pub bbox: [f32; 4],
}

/// A sampled frame of a video, in order: its detections, and whether it is a kept frame (the
/// frames the checks look at).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub dets: Vec<Det>,
    pub kept: bool,
}

/// The tracker's settings, in sampled frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Boxes scored at least this are matched first; the others only continue tracks (ByteTrack's
    /// second stage).
    pub high: f32,
    /// An unmatched high-score box starts a track from this score.
    pub start: f32,
    /// Smallest IoU of a box with a track's predicted box for them to match.
    pub match_iou: f32,
    /// Sampled frames a track lives on without a box (so it can cross a missed frame).
    pub buffer: usize,
    /// The detector's confidence threshold: boxes scored just above it weigh in the priority.
    pub confidence: f32,
}

impl Params {
    /// ByteTrack's settings for `fps` frames a second and the detector's `confidence`. ByteTrack's
    /// own 0.5 / 0.6 (second stage below, new tracks above) suit strong detectors; small ones
    /// score people far away lower, and their boxes could then never start a track and would all
    /// be flagged lonely. So: 0.1 above the threshold (within 0.4 to 0.6), and 0.05 more to start
    /// a track. On the sample video with YOLOX-nano (threshold 0.3) at 5 frames/s, 89 % of the
    /// kept frames' boxes belong to tracks seen in 3 frames or more with 0.5 / 0.6, 97 % with
    /// 0.4 / 0.45. A lost track is kept for a second of video (at least 2 frames: one missed frame
    /// must be crossed).
    pub fn new(fps: f64, confidence: f32) -> Self {
        let high = (confidence + 0.1).clamp(0.4, 0.6);
        Params {
            high,
            start: high + 0.05,
            match_iou: 0.2,
            buffer: (fps.round() as usize).max(2),
            confidence,
        }
    }
}

/// A track: its boxes, as (frame position, detection index) in frame order.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub seen: Vec<(usize, usize)>,
    /// The class most of its boxes have (ties: the higher summed score, then the lower index).
    pub class: usize,
}

/// What [`track`] found in a video's frames.
#[derive(Debug, Clone, Default)]
pub struct Tracked {
    /// In the order they started.
    pub tracks: Vec<Track>,
    /// For each frame, the track (index into `tracks`) of each detection, if any.
    pub of_det: Vec<Vec<Option<usize>>>,
}

/// Links the detections of consecutive sampled frames into tracks.
pub fn track(frames: &[Frame], p: &Params) -> Tracked {
    let mut tracker = ByteTrack::from_params(ByteTrackParams {
        common: CommonParams {
            max_age: p.buffer,
            min_hits: 1,
        },
        track_thresh: p.high,
        match_thresh: 1.0 - p.match_iou,
        det_thresh: p.start,
        second_match_thresh: 0.5,
    });
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut seen: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut of_det = Vec::with_capacity(frames.len());
    for (pos, f) in frames.iter().enumerate() {
        let input = f
            .dets
            .iter()
            .map(|d| (d.bbox, d.score, d.class as i64))
            .collect();
        let mut here = vec![None; f.dets.len()];
        for t in tracker.update(input) {
            let Some(det) = t.det_ind else { continue };
            let k = *index.entry(t.track_id).or_insert_with(|| {
                seen.push(Vec::new());
                seen.len() - 1
            });
            seen[k].push((pos, det));
            here[det] = Some(k);
        }
        of_det.push(here);
    }
    let tracks = seen
        .into_iter()
        .map(|seen| {
            let mut votes: BTreeMap<usize, (usize, f32)> = BTreeMap::new();
            for &(pos, det) in &seen {
                let d = &frames[pos].dets[det];
                let v = votes.entry(d.class).or_default();
                v.0 += 1;
                v.1 += d.score;
            }
            let class = votes
                .iter()
                .max_by(|a, b| {
                    (a.1.0, a.1.1)
                        .partial_cmp(&(b.1.0, b.1.1))
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(b.0.cmp(a.0))
                })
                .map_or(0, |(&c, _)| c);
            Track { seen, class }
        })
        .collect();
    Tracked { tracks, of_det }
}

/// Why a kept frame is worth a look, in the order of [`Reason::weight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A track crosses the frame with no box in it: a likely missed object.
    Missed,
    /// A box no track seen in at least two sampled frames carries: a likely false positive.
    Lonely,
    /// A box whose class is not its track's.
    ClassFlip,
    /// A box scored far below its track's median score.
    ScoreDip,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::Missed,
        Reason::Lonely,
        Reason::ClassFlip,
        Reason::ScoreDip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missed => "missed",
            Reason::Lonely => "lonely",
            Reason::ClassFlip => "class_flip",
            Reason::ScoreDip => "score_dip",
        }
    }

    /// What one instance adds to a frame's priority: a missed object and a false positive each
    /// teach a detector the wrong thing outright; a wavering class is often right; a dip in
    /// score least of all.
    pub fn weight(self) -> f64 {
        match self {
            Reason::Missed => 1.0,
            Reason::Lonely => 1.0,
            Reason::ClassFlip => 0.8,
            Reason::ScoreDip => 0.5,
        }
    }
}

/// A track's predicted box overlapped this much by a box of its class in the frame is not missed.
pub const COVERED_IOU: f32 = 0.5;
/// A box is a dip when scored below this share of its track's median score.
pub const SCORE_DIP: f32 = 0.5;
/// Tracks shorter than this have no median or majority worth comparing against.
pub const MIN_TRACK_FOR_VOTES: usize = 3;
/// Boxes scored within this of the confidence threshold weigh in the priority, more the closer.
pub const NEAR_THRESHOLD: f32 = 0.2;
/// The weight of a box at the confidence threshold itself.
pub const NEAR_WEIGHT: f64 = 0.3;

/// A box the tracker expects in a frame where the detector gave none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The track (index into [`Tracked::tracks`]).
    pub track: usize,
    pub class: usize,
    pub bbox: [f32; 4],
}

/// The temporal checks of one kept frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Review {
    pub priority: f64,
    /// Each reason once, in the order of [`Reason::ALL`].
    pub reasons: Vec<Reason>,
    /// For each detection, its reasons (none for most).
    pub dets: Vec<Vec<Reason>>,
    pub suggestions: Vec<Suggestion>,
}

/// The checks of every kept frame (`None` for the others).
pub fn review(frames: &[Frame], tracked: &Tracked, p: &Params) -> Vec<Option<Review>> {
    let medians: Vec<f32> = tracked
        .tracks
        .iter()
        .map(|t| {
            let mut s: Vec<f32> = t
                .seen
                .iter()
                .map(|&(f, d)| frames[f].dets[d].score)
                .collect();
            s.sort_by(f32::total_cmp);
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            }
        })
        .collect();
    // Per track: its frames (sorted: tracks are built in frame order) and its boxes per class.
    let spans: Vec<Vec<usize>> = tracked
        .tracks
        .iter()
        .map(|t| t.seen.iter().map(|&(f, _)| f).collect())
        .collect();
    let votes: Vec<HashMap<usize, usize>> = tracked
        .tracks
        .iter()
        .map(|t| {
            let mut v = HashMap::new();
            for &(f, d) in &t.seen {
                *v.entry(frames[f].dets[d].class).or_default() += 1;
            }
            v
        })
        .collect();
    let kf = KalmanFilter::default();
    frames
        .iter()
        .enumerate()
        .map(|(pos, f)| {
            if !f.kept {
                return None;
            }
            let mut r = Review {
                dets: vec![Vec::new(); f.dets.len()],
                ..Review::default()
            };
            let mut near = 0.0;
            for (i, d) in f.dets.iter().enumerate() {
                let why = &mut r.dets[i];
                match tracked.of_det[pos][i].map(|k| (k, &tracked.tracks[k])) {
                    Some((k, t)) if t.seen.len() >= 2 => {
                        let votes = |c: usize| votes[k].get(&c).copied().unwrap_or(0);
                        if d.class != t.class && votes(t.class) > votes(d.class) {
                            why.push(Reason::ClassFlip);
                        }
                        if t.seen.len() >= MIN_TRACK_FOR_VOTES && d.score < SCORE_DIP * medians[k] {
                            why.push(Reason::ScoreDip);
                        }
                    }
                    _ => why.push(Reason::Lonely),
                }
                let closeness = 1.0 - (d.score - p.confidence) / NEAR_THRESHOLD;
                near += NEAR_WEIGHT * closeness.clamp(0.0, 1.0) as f64;
            }
            for (k, t) in tracked.tracks.iter().enumerate() {
                let span = &spans[k];
                let (first, last) = (span[0], span[span.len() - 1]);
                if first < pos && pos < last && span.binary_search(&pos).is_err() {
                    let bbox = predicted(frames, t, pos, &kf);
                    // A box of the class where the track expects one: the object is there, carried
                    // by another track (two tracks for one object), not missed.
                    let covered = f
                        .dets
                        .iter()
                        .any(|d| d.class == t.class && iou(&d.bbox, &bbox) >= COVERED_IOU);
                    if !covered {
                        r.suggestions.push(Suggestion {
                            track: k,
                            class: t.class,
                            bbox,
                        });
                    }
                }
            }
            let mut priority = near;
            for why in &r.dets {
                priority += why.iter().map(|w| w.weight()).sum::<f64>();
            }
            priority += r.suggestions.len() as f64 * Reason::Missed.weight();
            r.priority = (priority * 1e4).round() / 1e4;
            r.reasons = Reason::ALL
                .into_iter()
                .filter(|&w| {
                    (w == Reason::Missed && !r.suggestions.is_empty())
                        || r.dets.iter().any(|why| why.contains(&w))
                })
                .collect();
            Some(r)
        })
        .collect()
}

/// The box the Kalman filter of track `t` predicts at frame `pos` from its boxes before it.
fn predicted(frames: &[Frame], t: &Track, pos: usize, kf: &KalmanFilter) -> [f32; 4] {
    let bbox = |(f, d): (usize, usize)| frames[f].dets[d].bbox;
    let mut state = KalmanTrack::initiate(&tlwh_to_xyah(&bbox(t.seen[0])), kf);
    let mut boxes = t.seen.iter().skip(1).peekable();
    let mut guess = bbox(t.seen[0]);
    for f in t.seen[0].0 + 1..=pos {
        guess = state.predict(kf);
        if let Some(&&seen) = boxes.peek()
            && seen.0 == f
        {
            state.update(&tlwh_to_xyah(&bbox(seen)), kf);
            boxes.next();
        }
    }
    guess.map(|v| (v * 100.0).round() / 100.0)
}

/// Intersection over union of two (x, y, width, height) boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = w.max(0.0) * h.max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        high: 0.5,
        start: 0.6,
        match_iou: 0.2,
        buffer: 3,
        confidence: 0.25,
    };

    /// Two people walking across 12 frames (one left to right, one down), and a car standing
    /// still: steady tracks, every frame kept.
    fn scene() -> Vec<Frame> {
        (0..12)
            .map(|i| {
                let i = i as f32;
                Frame {
                    kept: true,
                    dets: vec![
                        Det {
                            class: 0,
                            score: 0.9,
                            bbox: [100.0 + 8.0 * i, 200.0, 40.0, 100.0],
                        },
                        Det {
                            class: 0,
                            score: 0.8,
                            bbox: [400.0, 50.0 + 6.0 * i, 50.0, 120.0],
                        },
                        Det {
                            class: 2,
                            score: 0.85,
                            bbox: [600.0, 300.0, 150.0, 80.0],
                        },
                    ],
                }
            })
            .collect()
    }

    fn flagged(reviews: &[Option<Review>]) -> Vec<(usize, Vec<Reason>)> {
        reviews
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r.reasons.clone())))
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }

    #[test]
    fn a_steady_scene_makes_three_tracks_and_no_flag() {
        let frames = scene();
        let t = track(&frames, &P);
        assert_eq!(t.tracks.len(), 3);
        for (k, tr) in t.tracks.iter().enumerate() {
            assert_eq!(tr.seen.len(), 12, "track {k}");
            assert!(tr.seen.iter().all(|&(_, d)| d == k));
        }
        assert_eq!(t.tracks[2].class, 2);
        let reviews = review(&frames, &t, &P);
        assert_eq!(flagged(&reviews), vec![]);
        // Scores far from the threshold: nothing weighs.
        assert!(reviews.iter().flatten().all(|r| r.priority == 0.0));
    }

    #[test]
    fn a_box_removed_from_the_middle_of_a_track_is_missed_with_a_suggestion_where_it_was() {
        let mut frames = scene();
        let removed = frames[6].dets.remove(0);
        let t = track(&frames, &P);
        assert_eq!(t.tracks.len(), 3, "the walker's track crosses the gap");
        let reviews = review(&frames, &t, &P);
        assert_eq!(flagged(&reviews), vec![(6, vec![Reason::Missed])]);
        let r = reviews[6].as_ref().unwrap();
        assert_eq!(r.suggestions.len(), 1);
        let s = &r.suggestions[0];
        assert_eq!(s.class, 0);
        let overlap = iou(&s.bbox, &removed.bbox);
        assert!(overlap >= 0.5, "suggestion {:?} IoU {overlap}", s.bbox);
        assert_eq!(r.priority, 1.0);
    }

    #[test]
    fn a_track_whose_object_another_track_carries_is_not_missed() {
        // The walker's box of frame 6 went to a track of its own (a tracker's double track): the
        // walker's first track crosses frame 6, where that box covers its prediction.
        let mut frames = scene();
        frames[6].dets[0].bbox[0] += 10.0;
        let mut t = track(&scene(), &P);
        t.tracks[0].seen.retain(|&(f, _)| f != 6);
        t.tracks.push(Track {
            seen: vec![(6, 0)],
            class: 0,
        });
        t.of_det[6][0] = Some(3);
        let reviews = review(&frames, &t, &P);
        let r = reviews[6].as_ref().unwrap();
        assert!(r.suggestions.is_empty(), "{:?}", r.suggestions);
        // Its box is lonely, though: the review still sends an annotator there.
        assert_eq!(r.reasons, vec![Reason::Lonely]);
        // Moved further, the box no longer covers the prediction: the walker is missed there.
        frames[6].dets[0].bbox[0] += 30.0;
        let r = review(&frames, &t, &P)[6].clone().unwrap();
        assert_eq!(r.reasons, vec![Reason::Missed, Reason::Lonely]);
    }

    #[test]
    fn one_box_relabelled_is_a_class_flip() {
        let mut frames = scene();
        frames[5].dets[1].class = 1;
        let t = track(&frames, &P);
        assert_eq!(t.tracks.len(), 3);
        assert_eq!(t.tracks[1].class, 0);
        let reviews = review(&frames, &t, &P);
        assert_eq!(flagged(&reviews), vec![(5, vec![Reason::ClassFlip])]);
        assert_eq!(
            reviews[5].as_ref().unwrap().dets[1],
            vec![Reason::ClassFlip]
        );
    }

    #[test]
    fn an_isolated_box_is_lonely() {
        let mut frames = scene();
        frames[4].dets.push(Det {
            class: 0,
            score: 0.7,
            bbox: [1000.0, 600.0, 30.0, 60.0],
        });
        let t = track(&frames, &P);
        let reviews = review(&frames, &t, &P);
        assert_eq!(flagged(&reviews), vec![(4, vec![Reason::Lonely])]);
        assert_eq!(reviews[4].as_ref().unwrap().dets[3], vec![Reason::Lonely]);
        // A low-score box nothing continues is lonely too, and weighs as near the threshold.
        let mut frames = scene();
        frames[8].dets.push(Det {
            class: 0,
            score: 0.3,
            bbox: [1000.0, 600.0, 30.0, 60.0],
        });
        let reviews = review(&frames, &track(&frames, &P), &P);
        let r = reviews[8].as_ref().unwrap();
        assert_eq!(r.reasons, vec![Reason::Lonely]);
        let near = NEAR_WEIGHT * (1.0 - 0.05 / NEAR_THRESHOLD as f64);
        assert!((r.priority - (1.0 + near)).abs() < 1e-3, "{}", r.priority);
    }

    #[test]
    fn a_box_scored_far_below_its_track_is_a_score_dip() {
        let mut frames = scene();
        frames[7].dets[2].score = 0.3;
        let t = track(&frames, &P);
        assert_eq!(
            t.tracks.len(),
            3,
            "the low-score box continues the car's track"
        );
        let reviews = review(&frames, &t, &P);
        assert_eq!(flagged(&reviews), vec![(7, vec![Reason::ScoreDip])]);
    }

    #[test]
    fn only_kept_frames_are_reviewed_and_a_track_seen_once_is_lonely() {
        let mut frames = scene();
        for f in frames.iter_mut().step_by(2) {
            f.kept = false;
        }
        let reviews = review(&frames, &track(&frames, &P), &P);
        assert!(reviews.iter().step_by(2).all(Option::is_none));
        assert!(reviews.iter().skip(1).step_by(2).all(Option::is_some));
        // A box in one frame only starts a track that nothing continues.
        let frames = vec![
            Frame {
                kept: true,
                dets: vec![Det {
                    class: 3,
                    score: 0.9,
                    bbox: [10.0, 10.0, 20.0, 20.0],
                }],
            },
            Frame::default(),
        ];
        let t = track(&frames, &P);
        assert_eq!(t.tracks.len(), 1);
        let reviews = review(&frames, &t, &P);
        assert_eq!(reviews[0].as_ref().unwrap().reasons, vec![Reason::Lonely]);
    }
}
