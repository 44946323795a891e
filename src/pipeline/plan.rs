//! How one job is split across a cluster's nodes (`run --shard I/N`).
//!
//! There is no coordinator: each node is started by the cluster's own scheduler (a Slurm array
//! task, a Kubernetes indexed pod) knowing only its index, so every node computes the whole plan
//! from the same inputs and takes its share. The plan therefore depends on nothing but the sorted
//! inputs, their durations as the containers state them, and the options. Long videos are cut into
//! slices of video time so that one long file does not leave the other nodes idle; units go to
//! shards longest first, each to the least loaded one (LPT), which is within 4/3 of the best
//! balance and needs no search.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::extract::Input;
use crate::extract::decode::VideoSource;

/// Videos longer than this (seconds) are cut into slices of this length unless `--slice` says
/// otherwise.
pub const DEFAULT_SLICE_S: f64 = 600.0;

/// One unit of work: a video, or the slice `[start, end)` of its time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    /// The video's normalised path (`video` in records).
    pub video: String,
    /// Seconds of video time; none: from the start or the `--start` of the run.
    pub start: Option<f64>,
    /// None: to the end or the `--end` of the run.
    pub end: Option<f64>,
    /// Seconds of video time the unit covers (0 when the container does not say).
    pub duration: f64,
    /// The shard that takes it, 0-based.
    pub shard: usize,
}

/// The units of a job and the shard of each.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub shards: usize,
    pub slice_s: f64,
    /// In input order, slices of a video in time order.
    pub units: Vec<Unit>,
}

impl Plan {
    /// Cuts the videos (normalised path, duration if known) into units and assigns them to
    /// `shards` shards. `range` is the run's `--start`/`--end`: slices are cut at multiples of
    /// `slice_s` from the video's start, and only those meeting the range are units.
    pub fn new(
        videos: &[(String, Option<f64>)],
        range: (Option<f64>, Option<f64>),
        slice_s: f64,
        shards: usize,
    ) -> Self {
        let mut units = Vec::new();
        for (video, duration) in videos {
            let from = range.0.unwrap_or(0.0);
            let to = match (range.1, *duration) {
                (Some(e), Some(d)) => Some(e.min(d)),
                (e, d) => e.or(d),
            };
            let whole = |duration| Unit {
                video: video.clone(),
                start: range.0,
                end: range.1,
                duration,
                shard: 0,
            };
            match to {
                Some(to) if to - from > slice_s => {
                    let first = (from / slice_s).floor() as u64;
                    let last = ((to / slice_s).ceil() as u64).max(first + 1);
                    for k in first..last {
                        let (a, b) = (k as f64 * slice_s, (k + 1) as f64 * slice_s);
                        let start = (k > first).then_some(a).or(range.0);
                        let end = (k + 1 < last).then_some(b).or(range.1);
                        units.push(Unit {
                            video: video.clone(),
                            start,
                            end,
                            duration: b.min(to) - a.max(from),
                            shard: 0,
                        });
                    }
                }
                Some(to) => units.push(whole((to - from).max(0.0))),
                None => units.push(whole(0.0)),
            }
        }
        // Longest first (ties: plan order), each to the least loaded shard (ties: lowest index).
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.sort_by(|&a, &b| units[b].duration.total_cmp(&units[a].duration));
        let mut load = vec![0.0f64; shards.max(1)];
        for i in order {
            let s = (0..load.len())
                .min_by(|&a, &b| load[a].total_cmp(&load[b]))
                .expect("at least one shard");
            load[s] += units[i].duration;
            units[i].shard = s;
        }
        Plan {
            shards: shards.max(1),
            slice_s,
            units,
        }
    }

    /// Seconds of video time each shard takes.
    pub fn loads(&self) -> Vec<f64> {
        let mut load = vec![0.0; self.shards];
        for u in &self.units {
            load[u.shard] += u.duration;
        }
        load
    }

    /// The longest shard's load over the mean load (1 is a perfect balance).
    pub fn imbalance(&self) -> f64 {
        let load = self.loads();
        let mean = load.iter().sum::<f64>() / load.len() as f64;
        if mean > 0.0 {
            load.iter().cloned().fold(0.0, f64::max) / mean
        } else {
            1.0
        }
    }
}

/// A sharded run: which shard, and how long videos are cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShardRun {
    pub shard: Shard,
    pub slice_s: f64,
}

/// The inputs' durations as their containers state them: none for a file that cannot be opened
/// (it is a unit of its own, and fails in its shard as in a run on one machine).
pub fn durations(inputs: &[Input]) -> Vec<(String, Option<f64>)> {
    inputs
        .iter()
        .map(|i| {
            let d = VideoSource::open(&i.path)
                .ok()
                .and_then(|s| s.info().duration);
            (i.shown.clone(), d)
        })
        .collect()
}

/// Which shard this process is, and of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Reads `--shard I/N`, or `--shard auto` from the scheduler's environment (`env` looks a variable
/// up): a Slurm array task, or a Kubernetes indexed Job's pod (`JOB_COMPLETION_INDEX`). The count
/// is `--shards N` or `FRAMELABEL_SHARDS` when given, and then a Slurm task's index is its
/// `SLURM_ARRAY_TASK_ID` (so one failed task can be run again alone, `--array=I`); otherwise the
/// count is the array's (`SLURM_ARRAY_TASK_COUNT`, or `MAX - MIN + 1`) and the index counts from
/// `SLURM_ARRAY_TASK_MIN`.
pub fn shard(
    spec: &str,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Shard> {
    let bad = |m: String| Error::usage("--shard", m);
    let number = |name: &str, v: &str| -> Result<usize> {
        v.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("{name}={v} is not a whole number")))
    };
    let shards = match (shards, env("FRAMELABEL_SHARDS")) {
        (Some(n), _) => Some(n),
        (None, Some(n)) => Some(number("FRAMELABEL_SHARDS", &n)?),
        (None, None) => None,
    };
    let (index, count) = if spec == "auto" {
        if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
            let id = number("SLURM_ARRAY_TASK_ID", &id)?;
            if let Some(n) = shards {
                return checked(id, n, None);
            }
            let min = env("SLURM_ARRAY_TASK_MIN")
                .map(|v| number("SLURM_ARRAY_TASK_MIN", &v))
                .transpose()?
                .unwrap_or(0);
            let count = match (env("SLURM_ARRAY_TASK_COUNT"), env("SLURM_ARRAY_TASK_MAX")) {
                (Some(c), _) => number("SLURM_ARRAY_TASK_COUNT", &c)?,
                (None, Some(max)) => (number("SLURM_ARRAY_TASK_MAX", &max)? + 1)
                    .checked_sub(min)
                    .ok_or_else(|| {
                        bad("SLURM_ARRAY_TASK_MAX is below SLURM_ARRAY_TASK_MIN".into())
                    })?,
                (None, None) => {
                    return Err(bad(
                        "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX: submit with sbatch --array=0-N".into(),
                    ));
                }
            };
            let index = id.checked_sub(min).ok_or_else(|| {
                bad(format!(
                    "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })?;
            (index, count)
        } else if let Some(i) = env("JOB_COMPLETION_INDEX") {
            let index = number("JOB_COMPLETION_INDEX", &i)?;
            let count = shards.ok_or_else(|| {
                bad("JOB_COMPLETION_INDEX is set but not the number of shards: pass --shards N (the Job's completions) or set FRAMELABEL_SHARDS".into())
            })?;
            (index, count)
        } else {
            return Err(bad(
                "auto, but neither SLURM_ARRAY_TASK_ID (a Slurm array job) nor JOB_COMPLETION_INDEX (a Kubernetes indexed Job) is set: give the shard as I/N".into(),
            ));
        }
    } else {
        let (i, n) = spec.split_once('/').ok_or_else(|| {
            bad(format!(
                "'{spec}' is not a shard: give I/N (0-based, such as 0/4) or auto"
            ))
        })?;
        (number("I", i)?, number("N", n)?)
    };
    checked(index, count, shards)
}

fn checked(index: usize, count: usize, shards: Option<usize>) -> Result<Shard> {
    let bad = |m: String| Error::usage("--shard", m);
    if count == 0 || index >= count {
        return Err(bad(format!(
            "shard {index} of {count} does not exist: the index runs from 0 to the count less one"
        )));
    }
    if let Some(n) = shards.filter(|&n| n != count) {
        return Err(bad(format!(
            "shard {index}/{count} disagrees with --shards {n} (or FRAMELABEL_SHARDS)"
        )));
    }
    Ok(Shard { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, d: Option<f64>) -> (String, Option<f64>) {
        (name.to_string(), d)
    }

    #[test]
    fn long_videos_are_cut_at_multiples_of_the_slice_and_short_ones_stay_whole() {
        let p = Plan::new(
            &[v("a", Some(250.0)), v("b", Some(90.0)), v("c", None)],
            (None, None),
            100.0,
            2,
        );
        let cuts: Vec<(&str, Option<f64>, Option<f64>, f64)> = p
            .units
            .iter()
            .map(|u| (u.video.as_str(), u.start, u.end, u.duration))
            .collect();
        assert_eq!(
            cuts,
            [
                ("a", None, Some(100.0), 100.0),
                ("a", Some(100.0), Some(200.0), 100.0),
                ("a", Some(200.0), None, 50.0),
                ("b", None, None, 90.0),
                ("c", None, None, 0.0),
            ]
        );
        // Within --start 50 --end 230: the slice grid stays that of the video.
        let p = Plan::new(&[v("a", Some(250.0))], (Some(50.0), Some(230.0)), 100.0, 2);
        let cuts: Vec<(Option<f64>, Option<f64>, f64)> = p
            .units
            .iter()
            .map(|u| (u.start, u.end, u.duration))
            .collect();
        assert_eq!(
            cuts,
            [
                (Some(50.0), Some(100.0), 50.0),
                (Some(100.0), Some(200.0), 100.0),
                (Some(200.0), Some(230.0), 30.0),
            ]
        );
    }

    #[test]
    fn longest_units_go_first_to_the_least_loaded_shard() {
        let videos: Vec<_> = [70.0, 50.0, 40.0, 30.0, 30.0, 20.0]
            .iter()
            .enumerate()
            .map(|(i, &d)| v(&format!("{i}"), Some(d)))
            .collect();
        let p = Plan::new(&videos, (None, None), 1000.0, 3);
        let shards: Vec<usize> = p.units.iter().map(|u| u.shard).collect();
        // 70 → 0; 50 → 1; 40 → 2; 30 → 2 (40 < 50); 30 → 1 (50 < 70); 20 → 0 (70, as 2: the lower).
        assert_eq!(shards, [0, 1, 2, 2, 1, 0]);
        assert_eq!(p.loads(), [90.0, 80.0, 70.0]);
        assert!((p.imbalance() - 90.0 / 80.0).abs() < 1e-12);
        // The same inputs give the same plan.
        assert_eq!(Plan::new(&videos, (None, None), 1000.0, 3).units, p.units);
    }

    #[test]
    fn shards_come_from_the_option_or_the_scheduler() {
        let none = |_: &str| None;
        assert_eq!(
            shard("1/3", None, &none).unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "x/2", "1", "0/0"] {
            assert!(shard(bad, None, &none).is_err(), "{bad}");
        }
        assert!(
            shard("auto", None, &none)
                .unwrap_err()
                .to_string()
                .contains("I/N")
        );
        let slurm = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some("5".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("4".to_string()),
            "SLURM_ARRAY_TASK_MAX" => Some("6".to_string()),
            _ => None,
        };
        assert_eq!(
            shard("auto", None, &slurm).unwrap(),
            Shard { index: 1, count: 3 }
        );
        // With the job's count given, a task's own index (one task run again alone, --array=5).
        assert_eq!(
            shard("auto", Some(8), &slurm).unwrap(),
            Shard { index: 5, count: 8 }
        );
        let again = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" | "SLURM_ARRAY_TASK_MIN" | "SLURM_ARRAY_TASK_MAX" => {
                Some("5".to_string())
            }
            "FRAMELABEL_SHARDS" => Some("8".to_string()),
            _ => None,
        };
        assert_eq!(
            shard("auto", None, &again).unwrap(),
            Shard { index: 5, count: 8 }
        );
        assert!(shard("auto", Some(4), &slurm).is_err());
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "2".to_string());
        assert!(
            shard("auto", None, &k8s)
                .unwrap_err()
                .to_string()
                .contains("--shards")
        );
        assert_eq!(
            shard("auto", Some(4), &k8s).unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!(shard("auto", Some(2), &k8s).is_err());
    }
}
