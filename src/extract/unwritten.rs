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
use crate::extract::decode::{BufferPool, DecodedFrame, Keyframe, VideoSource};
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

/// Decodes `video` again and writes the JPEGs of `frames` (its records, naming their files)
/// exactly as extraction would have.
///
/// `keyframes` are those the first decoding met ([`crate::extract::decode::DecodeStats::keyframes`];
/// none when it is not known): decoding then starts at the key frame before each group of frames,
/// instead of at the start of the video, which on an hour of video at the end of a run would be
/// the hour decoded a second time. A frame reached that way must show the timestamp recorded for
/// it; if it does not, or the container cannot seek, that group is decoded from the start.
pub fn write_again<'a>(
    output: &Output,
    dataset: &Dataset,
    video: &std::path::Path,
    frames: &[&'a FrameRecord],
    keyframes: &[Keyframe],
) -> Result<Rewritten<'a>> {
    let mut wanted: HashMap<u64, &FrameRecord> = frames
        .iter()
        .filter(|r| r.file.is_some())
        .map(|r| (r.frame, *r))
        .collect();
    let mut indices: Vec<u64> = wanted.keys().copied().collect();
    indices.sort_unstable();
    let mut encoder = Encoder::new(*output)?;
    let mut decoded = 0;
    for (from, group) in segments(&indices, keyframes) {
        if let Some(k) = from {
            match decode_group(
                video,
                Some(k),
                &group,
                &mut wanted,
                &mut encoder,
                dataset,
                &mut decoded,
            )? {
                Ok(()) => continue,
                Err(Misaligned) => {
                    let video = video.display();
                    tracing::debug!(%video, keyframe = k.index, "seek missed; from the start");
                }
            }
        }
        // Frames a missed attempt wrote before it missed were the right ones (same timestamps):
        // only those still wanted are taken.
        let _ = decode_group(
            video,
            None,
            &group,
            &mut wanted,
            &mut encoder,
            dataset,
            &mut decoded,
        )?;
    }
    let mut lost: Vec<&FrameRecord> = wanted.into_values().collect();
    lost.sort_by_key(|r| r.frame);
    Ok(Rewritten { lost, decoded })
}

/// What [`write_again`] did.
#[derive(Debug)]
pub struct Rewritten<'a> {
    /// The records whose frame the video no longer has (it was changed or cut since).
    pub lost: Vec<&'a FrameRecord>,
    /// Frames decoded (good ones, counted from the key frame each group started at).
    pub decoded: u64,
}

/// Decoding could not come back to the frames asked for after a seek.
struct Misaligned;

/// Splits sorted frame indices into groups decoded in one go, each with the key frame to start at
/// (`None`: the start of the video). A group starts anew where a key frame lies after the previous
/// frame wanted: going through the frames between would cost more than starting at it.
fn segments(indices: &[u64], keyframes: &[Keyframe]) -> Vec<(Option<Keyframe>, Vec<u64>)> {
    let mut out: Vec<(Option<Keyframe>, Vec<u64>)> = Vec::new();
    let mut previous: Option<u64> = None;
    for &i in indices {
        // Key frames are recorded in the order frames come out, so by index.
        let before = keyframes[..keyframes.partition_point(|k| k.index <= i)]
            .last()
            .copied()
            .filter(|k| k.index > 0);
        let new = match (previous, before) {
            (None, _) => true,
            (Some(p), Some(k)) => k.index > p,
            (Some(_), None) => false,
        };
        match out.last_mut() {
            Some((_, group)) if !new => group.push(i),
            _ => out.push((before, vec![i])),
        }
        previous = Some(i);
    }
    out
}

/// Decodes the frames `group` of `video` (from key frame `from`, or the start) and writes those
/// still `wanted`, removing them from it, and counts the frames decoded in `decoded`. The inner
/// result says whether a seek missed.
fn decode_group(
    video: &std::path::Path,
    from: Option<Keyframe>,
    group: &[u64],
    wanted: &mut HashMap<u64, &FrameRecord>,
    encoder: &mut Encoder,
    dataset: &Dataset,
    decoded: &mut u64,
) -> Result<std::result::Result<(), Misaligned>> {
    let Some(&last) = group.last() else {
        return Ok(Ok(()));
    };
    let mut source = VideoSource::open(video)?;
    if let Some(k) = from
        && !source.seek(k)
    {
        return Ok(Err(Misaligned));
    }
    let mut failed = None;
    let mut missed = false;
    let stats = source.run(
        &BufferPool::new(2),
        |index, _| {
            *decoded += 1;
            match index {
                i if i == last => Decision::TakeLast,
                i if i > last => Decision::Stop,
                i if group.binary_search(&i).is_ok() => Decision::Take,
                _ => Decision::Skip,
            }
        },
        |frame| {
            let Some(&r) = wanted.get(&frame.index) else {
                return true;
            };
            // After a seek, the frame must be the one recorded: same timestamp.
            if from.is_some() && (frame.pts - r.pts).abs() > 1e-6 {
                missed = true;
                return false;
            }
            let written = encoder
                .encode_frame(&frame)
                .and_then(|(jpeg, _)| write_atomic(&dataset.file_path(r), jpeg));
            match written {
                Ok(()) => {
                    wanted.remove(&frame.index);
                    true
                }
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
    if from.is_some() && (missed || stats.misaligned) {
        return Ok(Err(Misaligned));
    }
    Ok(Ok(()))
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
    fn frames_are_decoded_again_from_the_key_frame_before_each_group() {
        let k = |index: u64| Keyframe {
            index,
            ts: index as i64 * 10,
        };
        let keys = [k(0), k(50), k(100), k(150)];
        let got = segments(&[3, 40, 60, 70, 140, 160], &keys);
        assert_eq!(
            got,
            vec![
                // Before the first key frame after 0: from the start.
                (None, vec![3, 40]),
                // 60 has key frame 50 after 40: a seek. 70 follows on.
                (Some(k(50)), vec![60, 70]),
                (Some(k(100)), vec![140]),
                (Some(k(150)), vec![160]),
            ]
        );
        // Without key frames (unknown, or an earlier run's video): one pass from the start.
        assert_eq!(segments(&[3, 140], &[]), vec![(None, vec![3, 140])]);
        assert!(segments(&[], &keys).is_empty());
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
