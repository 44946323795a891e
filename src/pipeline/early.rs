//! Which frames to label before their video ends.
//!
//! The dedup rule walks a video's frames in order of sharpness, so whether a frame survives is known
//! for certain only when the video is over. Waiting that long leaves the detector idle for the whole
//! of a single-video run and then makes everyone wait for it. But a frame's fate is nearly always
//! decided by its neighbours in time: once the next [`LOOKAHEAD`] frames are embedded, a frame with no
//! sharper near-copy among the frames around it, nor among the frames already sent, nearly always
//! survives. Those predicted survivors are labelled right away; the exact rule still decides the
//! output at the end, frames it keeps that were not sent are labelled then, and the few that were
//! sent and then dropped are counted (`detected_then_duplicate`). On the sample video, every frame:
//! 98 labelled for 97 kept, 51 decoded again at the end; at 2 frames/s, 71 for 67.
//!
//! The prediction leans towards holding back: a frame with a sharper near-copy nearby is held even
//! when the rule run on the window alone would keep it (because that near-copy is in turn a copy of
//! another), since whether it survives depends on frames further away. Running the window's rule
//! instead sent 106 frames for 97 (9 wasted detections, 11 decoded again) and took 7.1 s against
//! 5.6 s for this rule with YOLOX-Nano on 2 cores: a detection costs more than decoding again.

use std::cmp::Ordering;

use crate::dataset::FrameRecord;
use crate::embed::dedup::quality_order;
use crate::embed::similar::dot;

/// Frames embedded after a frame (and looked at before it) when it is judged.
pub const LOOKAHEAD: usize = 32;

/// Frames sent earlier that a judged frame is also compared with, the latest first. Footage that
/// returns to a scene (a CCTV camera's empty street, a loop) returns long after it was sent: on the
/// sample video looped four times, with the last 64 only, 365 frames were labelled early and 246 of
/// them dropped in the end; with these, 105 and 8 (98 and 1 with the prediction of this file). A
/// frame judged new costs this many dot products at most (5 MB of embeddings read at 1280
/// dimensions), against some 20 ms of a core for its embedding.
const ANCHORS: usize = 1024;

/// The frames of one video judged so far.
pub struct Early {
    threshold: f32,
    min_gap: Option<f64>,
    judged: usize,
    sent: Vec<usize>,
}

impl Early {
    pub fn new(threshold: f32, min_gap: Option<f64>) -> Self {
        Early {
            threshold,
            min_gap,
            judged: 0,
            sent: Vec::new(),
        }
    }

    /// Forgets the video (the next one starts).
    pub fn reset(&mut self) {
        self.judged = 0;
        self.sent.clear();
    }

    /// How many judged frames were held back: likely duplicates (the progress display's estimate
    /// until the video's own decision).
    pub fn held_back(&self) -> usize {
        self.judged - self.sent.len()
    }

    /// How many frames, from the first, have been judged.
    pub fn judged(&self) -> usize {
        self.judged
    }

    /// Whether frame `i` of the video was sent early.
    pub fn was_sent(&self, i: usize) -> bool {
        self.sent.binary_search(&i).is_ok()
    }

    /// Judges every frame that now has [`LOOKAHEAD`] embedded frames after it, given the first
    /// `embedded` frames of `video` and their embeddings (`row(i)`), and returns those to label now.
    pub fn advance<'a>(
        &mut self,
        video: &[FrameRecord],
        embedded: usize,
        row: impl Fn(usize) -> &'a [f32],
    ) -> Vec<usize> {
        let mut now = Vec::new();
        while self.judged + LOOKAHEAD < embedded {
            let f = self.judged;
            self.judged += 1;
            if self.likely_kept(video, f, embedded, &row) {
                self.sent.push(f);
                now.push(f);
            }
        }
        now
    }

    fn likely_kept<'a>(
        &self,
        video: &[FrameRecord],
        f: usize,
        embedded: usize,
        row: &impl Fn(usize) -> &'a [f32],
    ) -> bool {
        let drops = |a: usize, b: usize| {
            dot(row(a), row(b)) >= self.threshold
                || self
                    .min_gap
                    .is_some_and(|g| (video[a].pts - video[b].pts).abs() < g)
        };
        // A sharper near-copy around `f`: whether it survives depends on frames further away, and
        // if it does, `f` does not. Holding `f` back costs a decode at the end if it survives after
        // all; sending it costs a detection if it does not, the dearer of the two.
        let around = f.saturating_sub(LOOKAHEAD)..(f + LOOKAHEAD + 1).min(embedded);
        if around
            .filter(|&i| i != f)
            .any(|i| quality_order(&video[i], &video[f]) == Ordering::Less && drops(i, f))
        {
            return false;
        }
        // A frame sent earlier that comes first and is a near-copy (the same scene, returned to).
        !self
            .sent
            .iter()
            .rev()
            .take(ANCHORS)
            .any(|&a| quality_order(&video[a], &video[f]) == Ordering::Less && drops(a, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64, sharpness: f64) -> FrameRecord {
        FrameRecord {
            video: "v".into(),
            frame: i,
            pts: i as f64 / 10.0,
            width: 8,
            height: 8,
            sharpness,
            entropy: 0.0,
            noise: 0.0,
            brightness: 0.0,
            status: crate::dataset::FrameStatus::Kept,
            change: None,
            still_of: None,
            file: None,
            extra: Default::default(),
        }
    }

    /// Scenes as unit vectors: frames of one scene are identical, scenes are orthogonal.
    fn run(scenes: &[usize], sharpness: &[f64], min_gap: Option<f64>) -> Vec<usize> {
        run_judged(scenes, sharpness, min_gap).0
    }

    /// As [`run`], with how many frames were judged.
    fn run_judged(
        scenes: &[usize],
        sharpness: &[f64],
        min_gap: Option<f64>,
    ) -> (Vec<usize>, usize) {
        let video: Vec<FrameRecord> = sharpness
            .iter()
            .enumerate()
            .map(|(i, &s)| frame(i as u64, s))
            .collect();
        let dims = scenes.iter().max().map_or(1, |&s| s + 1);
        let rows: Vec<Vec<f32>> = scenes
            .iter()
            .map(|&s| (0..dims).map(|d| if d == s { 1.0 } else { 0.0 }).collect())
            .collect();
        let mut early = Early::new(0.95, min_gap);
        let mut sent = Vec::new();
        for n in 1..=video.len() {
            sent.extend(early.advance(&video, n, |i| rows[i].as_slice()));
        }
        assert!(sent.iter().all(|&i| early.was_sent(i)));
        (sent, early.judged())
    }

    #[test]
    fn the_sharpest_frame_of_each_scene_is_sent_once_its_neighbours_are_seen() {
        // Scene 0 for 20 frames (sharpest at 7), scene 1 for 20 (sharpest at 30), scene 0 again.
        let mut scenes = vec![0; 20];
        scenes.extend([1; 20]);
        scenes.extend([0; 40]);
        let sharpness: Vec<f64> = (0..80)
            .map(|i| match i {
                7 | 30 => 100.0,
                45 => 50.0,
                _ => 10.0 + (i % 5) as f64,
            })
            .collect();
        // Frame 45 (scene 0 again) is the sharpest of its window but a near-copy of frame 7,
        // sent earlier and sharper; the last LOOKAHEAD frames are left for the end of the video.
        assert_eq!(run(&scenes, &sharpness, None), vec![7, 30]);
    }

    #[test]
    fn a_scene_returning_after_a_hundred_others_is_held_back() {
        // A hundred scenes of one frame each, all sent; then the first scene again, less sharp.
        let n = 124 + LOOKAHEAD;
        let scenes: Vec<usize> = (0..n).map(|i| if i < 100 { i } else { 0 }).collect();
        let sharpness: Vec<f64> = (0..n).map(|i| if i == 0 { 100.0 } else { 10.0 }).collect();
        let (sent, judged) = run_judged(&scenes, &sharpness, None);
        assert!(judged > 110, "frames after the return were judged");
        assert_eq!(sent, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_sharper_copy_arriving_within_the_lookahead_holds_a_frame_back() {
        let n = 2 * LOOKAHEAD + 8;
        let scenes = vec![0; n];
        let mut sharpness = vec![10.0; n];
        sharpness[3] = 20.0;
        sharpness[3 + LOOKAHEAD] = 30.0;
        assert_eq!(run(&scenes, &sharpness, None), vec![3 + LOOKAHEAD]);
    }

    #[test]
    fn min_gap_keeps_frames_apart_in_time() {
        // Eight scenes in turn, every tenth frame sharp; frames 0..24 are judged. With a 1 s gap
        // at 10 frames/s, one frame per second is sent.
        let n = 24 + LOOKAHEAD;
        let scenes: Vec<usize> = (0..n).map(|i| i % 8).collect();
        let sharpness: Vec<f64> = (0..n)
            .map(|i| if i % 10 == 0 { 50.0 } else { 1.0 })
            .collect();
        assert_eq!(run(&scenes, &sharpness, Some(1.0)), vec![0, 10, 20]);
        // Without it, the first frame of each scene the lookahead sees is sent too, unless a
        // sharper frame of its scene is within the lookahead: frame 6's is frame 30.
        let mut want = vec![0, 1, 3, 5, 6, 7, 10, 20];
        if 30 <= 6 + LOOKAHEAD {
            want.retain(|&f| f != 6);
        }
        assert_eq!(run(&scenes, &sharpness, None), want);
    }
}
