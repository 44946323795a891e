//! The still-frame gate (`--min-change D`): a sampled frame that looks like the last frame that
//! passed the gate is kept away from writing and the models.
//!
//! CCTV of a quiet scene is mostly frames where nothing moves; deduplication would drop them too,
//! but only after each has been written and embedded. A 64×36 thumbnail compared with one other is
//! a few microseconds, so every sampled frame gets the measure, gate or not, and the report can tell
//! what other values of D would have skipped without another run.
//!
//! The decision depends on every earlier frame (which passed is a chain), while frames are checked
//! in parallel. A worker hands its frame's thumbnail and quality verdict to [`Gate`]; whichever
//! worker completes the run of frames handed in decides them in order. With the gate on, a worker
//! then waits for its frame's verdict before writing it: jobs leave the queue in order, so an
//! earlier frame is always with a worker that is not waiting on a later one, and nothing can
//! deadlock. With it off nobody waits; the record thread reads the measure when it writes.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};

/// Thumbnail columns and rows: the frame divided into a 64×36 grid (16:9, whatever the frame's
/// shape).
pub const THUMB_W: usize = 64;
pub const THUMB_H: usize = 36;

/// The values of D whose skipped frames every run counts, for the report.
pub const PROBES: [f64; 6] = [0.002, 0.005, 0.01, 0.02, 0.03, 0.05];

/// Each grid cell's mean grey level (0-255).
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail(Box<[f32; THUMB_W * THUMB_H]>);

impl Thumbnail {
    /// The thumbnail of a grey image of `width` × `height` (row-major, no padding): cell (x, y)
    /// averages columns `⌊x·W/64⌋ ..< ⌊(x+1)·W/64⌋` and rows `⌊y·H/36⌋ ..< ⌊(y+1)·H/36⌋` (at least
    /// one of each, for images smaller than the grid).
    pub fn of_grey(grey: &[u8], width: usize, height: usize) -> Self {
        assert!(width > 0 && height > 0 && grey.len() == width * height);
        // i < cells, so a < n, and a + 1 <= n.
        let span = |i: usize, n: usize, cells: usize| {
            let a = i * n / cells;
            (a, ((i + 1) * n / cells).max(a + 1))
        };
        let cols: Vec<(usize, usize)> = (0..THUMB_W).map(|x| span(x, width, THUMB_W)).collect();
        let mut cells = Box::new([0f32; THUMB_W * THUMB_H]);
        let mut sums = vec![0u32; THUMB_W];
        for y in 0..THUMB_H {
            let (y0, y1) = span(y, height, THUMB_H);
            sums.fill(0);
            for row in grey.chunks_exact(width).take(y1).skip(y0) {
                for (s, &(x0, x1)) in sums.iter_mut().zip(&cols) {
                    *s += row[x0..x1].iter().map(|&g| g as u32).sum::<u32>();
                }
            }
            for (x, (s, &(x0, x1))) in sums.iter().zip(&cols).enumerate() {
                cells[y * THUMB_W + x] = *s as f32 / ((x1 - x0) * (y1 - y0)) as f32;
            }
        }
        Thumbnail(cells)
    }

    /// The change from `other`: the mean absolute difference of the cells, over 255 (0 for equal
    /// pictures, 1 for black against white).
    pub fn change(&self, other: &Thumbnail) -> f64 {
        let sum: f64 = self
            .0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a - b).abs() as f64)
            .sum();
        sum / (THUMB_W * THUMB_H) as f64 / 255.0
    }
}

/// What the gate says of one sampled frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Verdict {
    /// The change from the last frame that passed the gate; none for the first.
    pub change: Option<f64>,
    /// The frame index of that frame when this one is still (below `--min-change`).
    pub still_of: Option<u64>,
}

/// How many frames a value of D skipped or would have skipped in one video.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub min_change: f64,
    pub still: u64,
}

/// The in-order state: the last frame that passed (with the gate's D and with each probe).
struct Chain {
    min_change: Option<f64>,
    passed: Option<(u64, Thumbnail)>,
    probes: Vec<(f64, Option<Thumbnail>, u64)>,
}

impl Chain {
    fn new(min_change: Option<f64>) -> Self {
        Chain {
            min_change,
            passed: None,
            probes: PROBES.iter().map(|&d| (d, None, 0)).collect(),
        }
    }

    /// Decides the next frame in decode order: `kept` is the quality checks' verdict (a rejected
    /// frame gets its measure but never passes the gate).
    fn decide(&mut self, frame: u64, kept: bool, thumb: Thumbnail) -> Verdict {
        let change = self.passed.as_ref().map(|(_, t)| thumb.change(t));
        if kept {
            for (d, last, still) in &mut self.probes {
                match last {
                    Some(t) if thumb.change(t) < *d => *still += 1,
                    _ => *last = Some(thumb.clone()),
                }
            }
        }
        let still = kept && matches!((change, self.min_change), (Some(c), Some(d)) if c < d);
        let still_of = if still {
            self.passed.as_ref().map(|(i, _)| *i)
        } else {
            if kept {
                self.passed = Some((frame, thumb));
            }
            None
        };
        Verdict { change, still_of }
    }
}

/// The frames of one video as workers hand them in, decided in decode order. Workers wait for
/// their verdicts only while the gate is on; the record thread takes every verdict, in order, when
/// each frame's predecessors are handed in already.
pub struct Gate {
    min_change: Option<f64>,
    state: Mutex<GateState>,
    decided_cv: Condvar,
}

struct GateState {
    chain: Chain,
    /// The sequence number of the next frame to decide.
    next: u64,
    /// Frames handed in ahead of `next`: frame index, quality verdict, thumbnail.
    waiting: BTreeMap<u64, (u64, bool, Option<Thumbnail>)>,
    /// Verdicts not yet taken by their workers.
    verdicts: BTreeMap<u64, Verdict>,
}

impl Gate {
    pub fn new(min_change: Option<f64>) -> Self {
        Gate {
            min_change,
            state: Mutex::new(GateState {
                chain: Chain::new(min_change),
                next: 0,
                waiting: BTreeMap::new(),
                verdicts: BTreeMap::new(),
            }),
            decided_cv: Condvar::new(),
        }
    }

    /// Whether frames can be `still`: only then must a worker wait for its frame's verdict.
    pub fn is_on(&self) -> bool {
        self.min_change.is_some()
    }

    /// Hands in the `seq`-th sampled frame (frame index `frame`, `kept` by the quality checks), and
    /// decides every frame handed in up to the first one missing. A frame given up without
    /// checking (`thumb` none) is handed in too, so that later frames are not kept waiting; it
    /// never passes.
    pub fn hand_in(&self, seq: u64, frame: u64, kept: bool, thumb: Option<Thumbnail>) {
        let mut s = self.lock();
        s.waiting.insert(seq, (frame, kept, thumb));
        let mut advanced = false;
        loop {
            let next = s.next;
            let Some((index, kept, thumb)) = s.waiting.remove(&next) else {
                break;
            };
            let v = match thumb {
                Some(thumb) => s.chain.decide(index, kept, thumb),
                None => Verdict::default(),
            };
            s.verdicts.insert(next, v);
            s.next += 1;
            advanced = true;
        }
        if advanced {
            self.decided_cv.notify_all();
        }
    }

    /// The verdict of a frame handed in, once every earlier frame is; `take` removes it.
    pub fn wait(&self, seq: u64, take: bool) -> Verdict {
        let mut s = self.lock();
        loop {
            let v = if take {
                s.verdicts.remove(&seq)
            } else {
                s.verdicts.get(&seq).copied()
            };
            if let Some(v) = v {
                return v;
            }
            s = self.decided_cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many frames each probe value of D skipped or would have skipped.
    pub fn probes(&self) -> Vec<Probe> {
        self.lock()
            .chain
            .probes
            .iter()
            .map(|&(min_change, _, still)| Probe { min_change, still })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(level: u8, w: usize, h: usize) -> Vec<u8> {
        vec![level; w * h]
    }

    #[test]
    fn thumbnail_cells_are_the_means_of_their_blocks() {
        // 128×72: every cell is a 2×2 block; one block holds 0, 10, 20, 30.
        let (w, h) = (128, 72);
        let mut g = flat(100, w, h);
        g[0] = 0;
        g[1] = 10;
        g[w] = 20;
        g[w + 1] = 30;
        let t = Thumbnail::of_grey(&g, w, h);
        assert_eq!(t.0[0], 15.0);
        assert!(t.0[1..].iter().all(|&c| c == 100.0));
        // Against a flat 100: one cell of 2304 differs by 85.
        let c = t.change(&Thumbnail::of_grey(&flat(100, w, h), w, h));
        assert!((c - 85.0 / 2304.0 / 255.0).abs() < 1e-12, "{c}");
        assert_eq!(
            Thumbnail::of_grey(&flat(0, w, h), w, h).change(&Thumbnail::of_grey(
                &flat(255, w, h),
                w,
                h
            )),
            1.0
        );
    }

    #[test]
    fn frames_smaller_than_the_grid_still_fill_it() {
        let g: Vec<u8> = (0..6).collect();
        let t = Thumbnail::of_grey(&g, 3, 2);
        assert_eq!(t.0[0], 0.0);
        assert_eq!(t.0[THUMB_W - 1], 2.0);
        assert_eq!(t.0[THUMB_W * (THUMB_H - 1) + THUMB_W - 1], 5.0);
    }

    #[test]
    fn still_frames_point_at_the_last_that_passed_and_rejected_never_pass() {
        let thumb = |level: u8| Thumbnail::of_grey(&flat(level, 64, 36), 64, 36);
        let mut c = Chain::new(Some(0.02));
        let d = |level: u8| level as f64 / 255.0;
        // frame 0 passes; 1 is still (2 levels); 2 is rejected (never a reference, measured);
        // 3 moved 4 levels from 0 in two small steps: it passes, as the chain compares with 0.
        assert_eq!(c.decide(0, true, thumb(100)), Verdict::default());
        let v = c.decide(1, true, thumb(102));
        assert_eq!(v.still_of, Some(0));
        assert!((v.change.unwrap() - d(2)).abs() < 1e-9);
        let v = c.decide(2, false, thumb(200));
        assert_eq!(v.still_of, None);
        assert!((v.change.unwrap() - d(100)).abs() < 1e-9);
        assert_eq!(c.decide(3, true, thumb(106)).still_of, None);
        assert_eq!(c.decide(4, true, thumb(108)).still_of, Some(3));
        // Without a gate the same measures, nothing still; probes count what D would skip.
        let mut off = Chain::new(None);
        for (i, l) in [100u8, 102, 106, 108].into_iter().enumerate() {
            assert_eq!(off.decide(i as u64, true, thumb(l)).still_of, None);
        }
        let skipped = |ch: &Chain, d: f64| ch.probes.iter().find(|p| p.0 == d).unwrap().2;
        // 0.005 is 1.3 levels: all pass; 0.01 (2.6): 102 and 108 are still; 0.05 (12.8): all three.
        assert_eq!(skipped(&off, 0.005), 0);
        assert_eq!(skipped(&off, 0.01), 2);
        assert_eq!(skipped(&off, 0.05), 3);
        // The gate's own D counts what it did (frames 1 and 4; the rejected frame is not counted).
        assert_eq!(skipped(&c, 0.02), 2);
    }
}
