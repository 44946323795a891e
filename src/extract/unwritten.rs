//! Kept frames whose JPEG is written later, or never.
//!
//! In `run`, most kept frames turn out to be near-duplicates (698 of the sample video's 795), and
//! their JPEGs are deleted at the end: encoding them was the largest cost of the run after the two
//! models. So `run` may hold a kept frame's decoded picture until deduplication has judged it, write
//! it when the frame is likely to stay, and drop it otherwise. Held pictures are bounded in bytes
//! ([`Deferral`]): past the budget, frames are written at once, as `extract` writes them. A frame
//! that was dropped and that the final rule keeps after all is decoded again from its video
//! ([`write_again`]): decoding is deterministic, so its JPEG has the same bytes either way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dataset::{Dataset, FrameRecord, write_atomic};
use crate::error::Result;
use crate::extract::decode::{BufferPool, DecodedFrame, VideoSource};
use crate::extract::picture::{Encoder, Output, placement};
use crate::extract::sample::Decision;

/// A budget of bytes for pictures held back; clones share it.
#[derive(Debug, Clone)]
pub struct Deferral {
    limit: u64,
    held: Arc<AtomicU64>,
    /// Frames held back, and frames written at once for want of room.
    counts: Arc<[AtomicU64; 2]>,
}

impl Deferral {
    pub fn new(limit: u64) -> Self {
        Deferral {
            limit,
            held: Arc::new(AtomicU64::new(0)),
            counts: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// How many frames were held back, and how many were written at once, the budget being full.
    pub fn counts(&self) -> (u64, u64) {
        let [held, refused] = &*self.counts;
        (
            held.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
        )
    }

    /// Holds `frame` back when the budget has room for what writing it needs (its 4:2:0 planes
    /// when the JPEG is made from them, else its RGB picture), taking the frame's RGB buffer when
    /// that is what is kept. `None` leaves the frame to be written now.
    pub(crate) fn hold(
        &self,
        frame: &mut DecodedFrame,
        output: &Output,
        path: PathBuf,
    ) -> Option<Unwritten> {
        let p = placement((frame.width, frame.height), output);
        let planes = frame.yuv.is_some() && p.canvas == p.scaled;
        let (w, h) = (frame.width as u64, frame.height as u64);
        let bytes = if planes { w * h * 3 / 2 } else { w * h * 3 };
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            if held + bytes > self.limit {
                self.counts[1].fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.held.compare_exchange_weak(
                held,
                held + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => held = now,
            }
        }
        self.counts[0].fetch_add(1, Ordering::Relaxed);
        let rgb = if planes {
            Vec::new()
        } else {
            std::mem::take(&mut frame.rgb)
        };
        Some(Unwritten {
            frame: DecodedFrame {
                index: frame.index,
                pts: frame.pts,
                width: frame.width,
                height: frame.height,
                rgb,
                yuv: if planes { frame.yuv.take() } else { None },
            },
            path,
            bytes,
            budget: self.clone(),
        })
    }
}

/// A kept frame's picture, not written yet. Dropping it gives its bytes back to the budget.
pub struct Unwritten {
    frame: DecodedFrame,
    path: PathBuf,
    bytes: u64,
    budget: Deferral,
}

impl Unwritten {
    /// Encodes the JPEG and writes it where the frame's record says it is.
    pub fn write(self, encoder: &mut Encoder) -> Result<()> {
        let (jpeg, _) = encoder.encode_frame(&self.frame)?;
        write_atomic(&self.path, jpeg)
    }
}

impl Drop for Unwritten {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Decodes `video` again, from its start, and writes the JPEGs of `frames` (its records, naming
/// their files) exactly as extraction would have. Returns the records whose frame the video no
/// longer has (it was changed or cut since).
pub fn write_again<'a>(
    output: &Output,
    dataset: &Dataset,
    video: &std::path::Path,
    frames: &[&'a FrameRecord],
) -> Result<Vec<&'a FrameRecord>> {
    let mut wanted: HashMap<u64, &FrameRecord> = frames
        .iter()
        .filter(|r| r.file.is_some())
        .map(|r| (r.frame, *r))
        .collect();
    let mut indices: Vec<u64> = wanted.keys().copied().collect();
    indices.sort_unstable();
    let Some(&last) = indices.last() else {
        return Ok(Vec::new());
    };
    let mut encoder = Encoder::new(*output)?;
    let mut failed = None;
    VideoSource::open(video)?.run(
        &BufferPool::new(2),
        |index, _| match index {
            i if i == last => Decision::TakeLast,
            i if i > last => Decision::Stop,
            i if indices.binary_search(&i).is_ok() => Decision::Take,
            _ => Decision::Skip,
        },
        |frame| {
            let Some(r) = wanted.remove(&frame.index) else {
                return true;
            };
            let written = encoder
                .encode_frame(&frame)
                .and_then(|(jpeg, _)| write_atomic(&dataset.file_path(r), jpeg));
            match written {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    let mut lost: Vec<&FrameRecord> = wanted.into_values().collect();
    lost.sort_by_key(|r| r.frame);
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64) -> DecodedFrame {
        DecodedFrame {
            index,
            pts: index as f64,
            width: 4,
            height: 2,
            rgb: vec![index as u8; 4 * 2 * 3],
            yuv: None,
        }
    }

    #[test]
    fn pictures_are_held_within_the_budget_and_given_back_when_dropped() {
        // Room for two 24-byte RGB pictures.
        let budget = Deferral::new(50);
        let out = Output::default();
        let mut frames: Vec<DecodedFrame> = (0..3).map(frame).collect();
        let a = budget.hold(&mut frames[0], &out, "a.jpg".into());
        let b = budget.hold(&mut frames[1], &out, "b.jpg".into());
        assert!(a.is_some() && b.is_some());
        // The held frames' pixels moved into their holders.
        assert!(frames[0].rgb.is_empty());
        assert_eq!(a.as_ref().unwrap().frame.rgb, vec![0; 24]);
        assert_eq!(budget.held(), 48);
        // Full: the third is left to be written at once, with its pixels.
        assert!(budget.hold(&mut frames[2], &out, "c.jpg".into()).is_none());
        assert_eq!(frames[2].rgb.len(), 24);
        assert_eq!(budget.counts(), (2, 1));
        drop(a);
        assert_eq!(budget.held(), 24);
        assert!(budget.hold(&mut frames[2], &out, "c.jpg".into()).is_some());
        assert_eq!(budget.counts(), (3, 1));
    }
}
