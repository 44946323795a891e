//! Training, validation and test subsets that do not leak.
//!
//! Frames next to each other in a video are near-duplicates, so a random split by image puts the
//! same scene in training and validation and every metric comes out better than the model is.
//! The split therefore assigns whole *units* to one subset: whole videos (`--split-by video`), or,
//! within a video, consecutive stretches of [`DEFAULT_BLOCK_SECONDS`] seconds (`--split-by block`),
//! so near-duplicate neighbours share a subset and only frames on either side of a boundary between
//! two subsets can resemble each other.
//!
//! Units are shuffled by a seeded ChaCha8 generator (portable: the same seed gives the same split on
//! every machine and version of the generator), then each goes to the subset whose share it brings
//! closest to the asked one; of 64 such orders, the one closest to the asked shares wins. With a
//! few videos of unequal length the closest split may be the only one, whatever the seed. The
//! result is written into every export (`split.json`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::Image;
use crate::error::{Error, Result};

/// Length of a block of `--split-by block`. Long beside the ~3 s over which sampled frames stay
/// near-duplicates (measured in docs/design.md), so most frames of a block are far from its edges;
/// short enough that a few minutes of video give enough blocks for a 10 % subset.
pub const DEFAULT_BLOCK_SECONDS: f64 = 30.0;

/// The record of a split, written as `split.json` into every export folder.
pub const SPLIT_FILE: &str = "split.json";

/// One subset of a split export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subset {
    Train,
    Val,
    Test,
}

impl Subset {
    pub const ALL: [Subset; 3] = [Subset::Train, Subset::Val, Subset::Test];

    /// The name every format uses for the subset (folder, list file, attribute).
    pub fn name(self) -> &'static str {
        match self {
            Subset::Train => "train",
            Subset::Val => "val",
            Subset::Test => "test",
        }
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The asked shares of validation and test images: `--split val=0.2[,test=0.1]`; the rest is
/// training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shares {
    pub val: f64,
    #[serde(skip_serializing_if = "is_zero")]
    pub test: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Shares {
    fn of(&self, s: Subset) -> f64 {
        match s {
            Subset::Train => 1.0 - self.val - self.test,
            Subset::Val => self.val,
            Subset::Test => self.test,
        }
    }

    /// The subsets the split makes, training first.
    pub fn subsets(&self) -> Vec<Subset> {
        Subset::ALL
            .into_iter()
            .filter(|&s| s != Subset::Test || self.test > 0.0)
            .collect()
    }
}

impl fmt::Display for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "val={}", self.val)?;
        if self.test > 0.0 {
            write!(f, ",test={}", self.test)?;
        }
        Ok(())
    }
}

impl FromStr for Shares {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut shares = Shares {
            val: 0.0,
            test: 0.0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not NAME=SHARE (e.g. val=0.2,test=0.1)"))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| *v > 0.0 && *v < 1.0)
                .ok_or_else(|| format!("'{part}': the share must be a number between 0 and 1"))?;
            match name.trim() {
                "val" => shares.val = value,
                "test" => shares.test = value,
                other => {
                    return Err(format!(
                        "'{other}' is not a subset; name val and optionally test (the rest is train)"
                    ));
                }
            }
        }
        if shares.val == 0.0 {
            return Err(
                "no val share: give val=SHARE (e.g. val=0.2), optionally test=SHARE".into(),
            );
        }
        if shares.val + shares.test >= 1.0 {
            return Err(format!(
                "val and test take {} of the images and leave none for training",
                shares.val + shares.test
            ));
        }
        Ok(shares)
    }
}

/// What goes to one subset as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// Whole videos.
    Video,
    /// Consecutive stretches of one video.
    Block,
}

impl fmt::Display for SplitBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitBy::Video => "video",
            SplitBy::Block => "block",
        })
    }
}

impl FromStr for SplitBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "video" => Ok(SplitBy::Video),
            "block" => Ok(SplitBy::Block),
            _ => Err(format!("'{s}' is not a split unit; valid: video, block")),
        }
    }
}

/// How to split an export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitConfig {
    pub shares: Shares,
    /// `None`: by video when the images come from several videos, else by block.
    pub by: Option<SplitBy>,
    pub seed: u64,
    pub block_seconds: f64,
}

/// One unit of the split and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub video: String,
    /// The stretch of the video the unit covers, in seconds (the whole video: `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    pub images: usize,
    pub subset: Subset,
}

/// The images, units and share of one subset.
#[derive(Debug, Clone, Serialize)]
pub struct SubsetCount {
    pub images: usize,
    pub units: usize,
    pub share: f64,
}

/// A split as made: `split.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Split {
    pub by: SplitBy,
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_seconds: Option<f64>,
    pub asked: Shares,
    pub subsets: BTreeMap<Subset, SubsetCount>,
    pub units: Vec<Unit>,
    /// The subset of each image, in the order of [`super::Labels::images`].
    #[serde(skip)]
    pub of_image: Vec<Subset>,
}

impl Split {
    /// The subsets that hold images or were asked for, training first.
    pub fn subsets(&self) -> Vec<Subset> {
        self.asked.subsets()
    }
}

/// How many seeded orders of the units [`split`] tries.
const ORDERS: usize = 64;

/// Puts each unit, in `order`, into the subset it brings closest to its target; among equals, the
/// one furthest below its target, so subsets fill together rather than one after another. Returns
/// the subset of each unit and how many images in all the subsets miss their targets by.
fn fill(sizes: &[usize], order: &[usize], targets: &[(Subset, f64)]) -> (Vec<Subset>, f64) {
    let mut count = vec![0usize; targets.len()];
    let mut assigned = vec![Subset::Train; sizes.len()];
    for &u in order {
        let size = sizes[u] as f64;
        let k = (0..targets.len())
            .map(|k| {
                let deficit = targets[k].1 - count[k] as f64;
                let gain = deficit.abs() - (deficit - size).abs();
                (k, gain, deficit / targets[k].1.max(1e-9))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)))
            .map_or(0, |(k, _, _)| k);
        assigned[u] = targets[k].0;
        count[k] += sizes[u];
    }
    let miss = (0..targets.len())
        .map(|k| (count[k] as f64 - targets[k].1).abs())
        .sum();
    (assigned, miss)
}

/// Assigns every image to a subset.
pub fn split(images: &[Image], cfg: &SplitConfig) -> Result<Split> {
    let videos: std::collections::BTreeSet<&str> =
        images.iter().map(|im| im.video.as_str()).collect();
    let by = cfg.by.unwrap_or(if videos.len() > 1 {
        SplitBy::Video
    } else {
        SplitBy::Block
    });
    // Units in a fixed order (video, then time), so the seeded shuffle alone decides the split.
    let mut members: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
    for (i, im) in images.iter().enumerate() {
        let block = match by {
            SplitBy::Video => 0,
            SplitBy::Block => (im.pts / cfg.block_seconds).floor() as i64,
        };
        members.entry((&im.video, block)).or_default().push(i);
    }
    let units: Vec<((&str, i64), Vec<usize>)> = members.into_iter().collect();
    let subsets = cfg.shares.subsets();
    let total = images.len() as f64;
    let targets: Vec<(Subset, f64)> = subsets
        .iter()
        .map(|&s| (s, cfg.shares.of(s) * total))
        .collect();
    let sizes: Vec<usize> = units.iter().map(|(_, list)| list.len()).collect();
    // Greedy filling depends on the order of the units; the best of several seeded orders comes
    // within a unit of the asked shares where one order can miss by several.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..units.len()).collect();
    let mut best: Option<(f64, Vec<Subset>)> = None;
    for _ in 0..ORDERS {
        order.shuffle(&mut rng);
        let (assigned, miss) = fill(&sizes, &order, &targets);
        if best.as_ref().is_none_or(|(m, _)| miss < *m) {
            best = Some((miss, assigned));
        }
    }
    let unit_subset = best.map(|(_, a)| a).unwrap_or_default();

    let mut of_image = vec![Subset::Train; images.len()];
    let mut counts: BTreeMap<Subset, SubsetCount> = subsets
        .iter()
        .map(|&s| {
            (
                s,
                SubsetCount {
                    images: 0,
                    units: 0,
                    share: 0.0,
                },
            )
        })
        .collect();
    let mut records = Vec::with_capacity(units.len());
    for (u, ((video, block), list)) in units.iter().enumerate() {
        let s = unit_subset[u];
        for &i in list.iter() {
            of_image[i] = s;
        }
        let c = counts.get_mut(&s).expect("a subset of the split");
        c.images += list.len();
        c.units += 1;
        let (start, end) = match by {
            SplitBy::Video => (None, None),
            SplitBy::Block => (
                Some(*block as f64 * cfg.block_seconds),
                Some((*block + 1) as f64 * cfg.block_seconds),
            ),
        };
        records.push(Unit {
            video: video.to_string(),
            start,
            end,
            images: list.len(),
            subset: s,
        });
    }
    for c in counts.values_mut() {
        c.share = if total > 0.0 {
            (c.images as f64 / total * 1e4).round() / 1e4
        } else {
            0.0
        };
    }
    if let Some((s, _)) = counts.iter().find(|(_, c)| c.images == 0) {
        let what = match by {
            SplitBy::Video => format!("{} videos", records.len()),
            SplitBy::Block => format!("{} blocks of {} s", records.len(), cfg.block_seconds),
        };
        let fix = match by {
            SplitBy::Video => "give --split-by block, or more videos",
            SplitBy::Block => "give a shorter --block-seconds, or more footage",
        };
        return Err(Error::usage(
            "--split",
            format!(
                "{} images in {what} leave the {s} subset empty at {}: {fix}",
                images.len(),
                cfg.shares
            ),
        ));
    }
    Ok(Split {
        by,
        seed: cfg.seed,
        block_seconds: (by == SplitBy::Block).then_some(cfg.block_seconds),
        asked: cfg.shares,
        subsets: counts,
        units: records,
        of_image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(video: &str, pts: f64) -> Image {
        Image {
            id: 0,
            file_name: String::new(),
            path: Default::default(),
            width: 1,
            height: 1,
            boxes: Vec::new(),
            video: video.into(),
            frame: 0,
            pts,
            review: None,
        }
    }

    fn cfg(shares: &str, by: Option<SplitBy>, seed: u64) -> SplitConfig {
        SplitConfig {
            shares: shares.parse().unwrap(),
            by,
            seed,
            block_seconds: DEFAULT_BLOCK_SECONDS,
        }
    }

    #[test]
    fn shares_parse_and_refuse_what_cannot_work() {
        let s: Shares = "val=0.2, test=0.1".parse().unwrap();
        assert_eq!((s.val, s.test), (0.2, 0.1));
        assert_eq!(s.to_string(), "val=0.2,test=0.1");
        for bad in [
            "0.2",
            "val=1.5",
            "val=0",
            "train=0.5",
            "test=0.2",
            "val=0.6,test=0.4",
        ] {
            assert!(bad.parse::<Shares>().is_err(), "{bad}");
        }
    }

    #[test]
    fn units_never_straddle_subsets_and_shares_come_close() {
        // 40 videos of 10 to 49 images each.
        let images: Vec<Image> = (0..40)
            .flat_map(|v| (0..10 + v).map(move |k| image(&format!("v{v}"), k as f64)))
            .collect();
        let n = images.len() as f64;
        let c = cfg("val=0.2,test=0.1", None, 3);
        let s = split(&images, &c).unwrap();
        assert_eq!(s.by, SplitBy::Video);
        let mut seen: BTreeMap<&str, Subset> = BTreeMap::new();
        for (im, sub) in images.iter().zip(&s.of_image) {
            assert_eq!(*seen.entry(&im.video).or_insert(*sub), *sub, "{}", im.video);
        }
        for (sub, want) in [
            (Subset::Val, 0.2),
            (Subset::Test, 0.1),
            (Subset::Train, 0.7),
        ] {
            let got = s.subsets[&sub].images as f64 / n;
            assert!((got - want).abs() < 49.0 / n, "{sub}: {got} vs {want}");
        }
        // The same seed gives the same split; some other seed gives another.
        let again = split(&images, &c).unwrap();
        assert_eq!(again.of_image, s.of_image);
        assert!((4..20).any(|seed| {
            split(&images, &cfg("val=0.2,test=0.1", None, seed))
                .unwrap()
                .of_image
                != s.of_image
        }));
    }

    #[test]
    fn one_video_splits_by_block_and_a_lone_unit_is_refused() {
        let images: Vec<Image> = (0..600).map(|k| image("a.mp4", k as f64 * 0.5)).collect();
        let s = split(&images, &cfg("val=0.2", None, 0)).unwrap();
        assert_eq!(s.by, SplitBy::Block);
        assert_eq!(s.units.len(), 10);
        assert_eq!(s.subsets[&Subset::Val].images, 120);
        let e = split(&images, &cfg("val=0.2", Some(SplitBy::Video), 0)).unwrap_err();
        assert!(e.to_string().contains("--split-by block"), "{e}");
    }
}
