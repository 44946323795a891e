//! Which decoded frames become records. Decided from the frame index and timestamp alone, before any
//! pixel conversion, so frames that are not sampled cost only their decoding.

use serde::{Deserialize, Serialize};

/// How frames are picked from the decoder's output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rate {
    /// Every Nth decoded frame (1 = every frame).
    Every(u64),
    /// F frames per second of video time, by timestamp.
    Fps(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub rate: Rate,
    /// Seconds; frames before are skipped.
    pub start: Option<f64>,
    /// Seconds; frames at or after end stop the video.
    pub end: Option<f64>,
    /// At most this many sampled frames per video.
    pub max_frames: Option<u64>,
    /// Key frames alone are sampled (the rate then bounds how many).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyframes: bool,
    /// Where the `--fps` slots are counted from when it is not `start`: a slice of a sharded run
    /// counts them from the run's start, so it takes the frames the whole run takes.
    #[serde(skip)]
    pub origin: Option<f64>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            rate: Rate::Every(1),
            start: None,
            end: None,
            max_frames: None,
            keyframes: false,
            origin: None,
        }
    }
}

/// What to do with one decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Take,
    /// Take this frame, the last one `--max-frames` allows: stop decoding after it.
    TakeLast,
    Skip,
    /// No later frame of this video can be taken: stop decoding.
    Stop,
}

/// The per-video sampling state.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: Sampling,
    taken: u64,
    /// With `Rate::Fps`: the next slot (in units of 1/F seconds from `start`) to fill.
    next_slot: i64,
}

impl Sampler {
    pub fn new(cfg: Sampling) -> Self {
        Sampler {
            cfg,
            taken: 0,
            next_slot: 0,
        }
    }

    /// `pts` is taken to the microsecond, as records state it, so that the slice a record's time
    /// falls in is the slice that sampled it.
    pub fn decide(&mut self, index: u64, pts: f64) -> Decision {
        let pts = (pts * 1e6).round() / 1e6;
        if self.cfg.max_frames.is_some_and(|m| self.taken >= m) {
            return Decision::Stop;
        }
        if self.cfg.end.is_some_and(|e| pts >= e) {
            return Decision::Stop;
        }
        let origin = self.cfg.origin.or(self.cfg.start).unwrap_or(0.0);
        let slot = |f: f64| ((pts - origin) * f + 1e-6).floor() as i64;
        if self.cfg.start.is_some_and(|s| pts < s) {
            // Frames before a slice fill their slots as the whole run would take them.
            if let Rate::Fps(f) = self.cfg.rate {
                self.next_slot = self.next_slot.max(slot(f) + 1);
            }
            return Decision::Skip;
        }
        let take = match self.cfg.rate {
            Rate::Every(n) => index % n == 0,
            Rate::Fps(f) => {
                // Small tolerance so a frame stamped 0.19999999 is not a slot late.
                let slot = slot(f);
                if slot >= self.next_slot {
                    self.next_slot = slot + 1;
                    true
                } else {
                    false
                }
            }
        };
        if take {
            self.taken += 1;
            if self.cfg.max_frames.is_some_and(|m| self.taken >= m) {
                Decision::TakeLast
            } else {
                Decision::Take
            }
        } else {
            Decision::Skip
        }
    }
}

/// Parses a time as seconds (`12.5`) or `[HH:]MM:SS[.mmm]`.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}' is not a time: use seconds (12.5) or HH:MM:SS[.mmm]");
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let mut total = 0.0;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let v: f64 = if last {
            p.parse().map_err(|_| bad())?
        } else {
            p.parse::<u64>().map_err(|_| bad())? as f64
        };
        if !v.is_finite() || v < 0.0 || (i > 0 && v >= 60.0) {
            return Err(bad());
        }
        total = total * 60.0 + v;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: Sampling, frames: &[(u64, f64)]) -> Vec<u64> {
        let mut s = Sampler::new(cfg);
        let mut out = vec![];
        for &(i, t) in frames {
            match s.decide(i, t) {
                Decision::Take => out.push(i),
                Decision::TakeLast => {
                    out.push(i);
                    // Nothing after the last frame is decoded, so nothing is asked.
                    assert!(s.clone().decide(i + 1, t) == Decision::Stop);
                    break;
                }
                Decision::Skip => {}
                Decision::Stop => break,
            }
        }
        out
    }

    fn at_25fps(n: u64) -> Vec<(u64, f64)> {
        (0..n).map(|i| (i, i as f64 / 25.0)).collect()
    }

    #[test]
    fn every_nth() {
        let cfg = Sampling {
            rate: Rate::Every(10),
            ..Default::default()
        };
        assert_eq!(run(cfg, &at_25fps(35)), vec![0, 10, 20, 30]);
    }

    #[test]
    fn fps_by_timestamp() {
        let cfg = Sampling {
            rate: Rate::Fps(5.0),
            ..Default::default()
        };
        assert_eq!(run(cfg, &at_25fps(26)), vec![0, 5, 10, 15, 20, 25]);
        // Irregular timestamps: one frame per 0.5 s slot, the first in each slot.
        let frames = [
            (0, 0.0),
            (1, 0.1),
            (2, 0.7),
            (3, 0.8),
            (4, 1.6),
            (5, 1.61),
            (6, 3.0),
        ];
        let cfg = Sampling {
            rate: Rate::Fps(2.0),
            ..Default::default()
        };
        assert_eq!(run(cfg, &frames), vec![0, 2, 4, 6]);
    }

    #[test]
    fn start_end_and_max_frames() {
        let cfg = Sampling {
            start: Some(1.0),
            end: Some(2.0),
            ..Default::default()
        };
        assert_eq!(run(cfg, &at_25fps(100)), (25..50).collect::<Vec<_>>());
        let cfg = Sampling {
            rate: Rate::Every(2),
            max_frames: Some(3),
            ..Default::default()
        };
        assert_eq!(run(cfg, &at_25fps(100)), vec![0, 2, 4]);
        let cfg = Sampling {
            rate: Rate::Fps(1.0),
            start: Some(0.5),
            ..Default::default()
        };
        assert_eq!(run(cfg, &at_25fps(75)), vec![13, 38, 63]);
    }

    #[test]
    fn slices_take_what_the_whole_run_takes() {
        // 1/0.7 s slots straddle the cuts at 2 s and 4 s; the frames before a slice fill them.
        let frames = at_25fps(150);
        for rate in [Rate::Fps(0.7), Rate::Fps(3.0), Rate::Every(7)] {
            let whole = Sampling {
                rate,
                start: Some(0.5),
                ..Default::default()
            };
            let mut sliced = Vec::new();
            for (a, b) in [
                (Some(0.5), Some(2.0)),
                (Some(2.0), Some(4.0)),
                (Some(4.0), None),
            ] {
                let slice = Sampling {
                    start: a,
                    end: b,
                    origin: Some(0.5),
                    ..whole
                };
                // A slice is decoded from a key frame before it: here one second before.
                let from = ((a.unwrap() - 1.0).max(0.0) * 25.0) as usize;
                sliced.extend(run(slice, &frames[from..]));
            }
            assert_eq!(sliced, run(whole, &frames), "{rate:?}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("12.5"), Ok(12.5));
        assert_eq!(parse_time("01:02:03.250"), Ok(3723.25));
        assert_eq!(parse_time("2:30"), Ok(150.0));
        assert!(parse_time("1:75").is_err());
        assert!(parse_time("-3").is_err());
        assert!(parse_time("abc").is_err());
        assert!(parse_time("1::2").is_err());
    }
}
