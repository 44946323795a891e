//! `framelabel merge`: the shards of one job, made into the folder one `run` over all inputs makes.
//!
//! A shard's folder holds everything its run computed (records, embeddings, detections, pictures),
//! but its dedup decision saw only its own frames. So `merge` does not combine outputs: it seeds a
//! fresh run's state with the shards' work, as if that run had extracted every video and been
//! killed, and lets `run` continue it. The continued run decides dedup once over all embeddings,
//! labels the frames only that decision keeps, decodes again the pictures a shard dropped as likely
//! duplicates, and writes the outputs, the report and the exports, exactly as after any resume.
//! The options come from the shards themselves (each records its own), so they cannot drift.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cache::{StateDir, differing_keys};
use super::plan::Shard;
use crate::dataset::{Dataset, FrameRecord};
use crate::error::{Error, Result};
use crate::extract::{Input, VideoSummary};

/// The finished shards of one job, in shard order.
pub struct Shards {
    pub dirs: Vec<PathBuf>,
    states: Vec<StateDir>,
    /// Their common parameters, without the shard.
    params: Value,
    /// What each shard's `run.json` says of it (`shard` entry) and of its run (`run` entry).
    pub entries: Vec<(Value, Value)>,
    /// The run options the shards were started with (TOML, as `--config` reads them).
    pub options: String,
    /// Move the pictures out of the shards rather than hard-link them (`--move`).
    pub move_pictures: bool,
}

impl Shards {
    /// Reads and checks the shard folders: shards 0..N-1 of one plan, each present once and
    /// finished, made with the same parameters.
    pub fn open(dirs: &[PathBuf]) -> Result<Self> {
        let mut found: BTreeMap<usize, (PathBuf, Value, Value, Value)> = BTreeMap::new();
        let mut count = None;
        for dir in dirs {
            let run = Dataset::new(dir).run_json();
            let entry = &run["shard"];
            let shard: Shard = serde_json::from_value(entry.clone()).map_err(|_| {
                Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{} is not a shard's folder (its run.json names no shard): give the --out folders of `run --shard`",
                        dir.display()
                    ),
                )
            })?;
            let state = StateDir::of(dir);
            if !state.is_complete() {
                return Err(Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{}: shard {} has not finished; run it again (it resumes), then merge",
                        dir.display(),
                        shard.index
                    ),
                ));
            }
            if count.is_some_and(|c| c != shard.count) {
                return Err(Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{} is shard {} of {}, the others are of {}: shards of another job?",
                        dir.display(),
                        shard.index,
                        shard.count,
                        count.unwrap_or_default()
                    ),
                ));
            }
            count = Some(shard.count);
            let mut params = state.params().unwrap_or_default();
            if let Some(m) = params.as_object_mut() {
                m.remove("shard");
            }
            if let Some((other, ..)) = found.get(&shard.index) {
                return Err(Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{} and {} are both shard {}",
                        other.display(),
                        dir.display(),
                        shard.index
                    ),
                ));
            }
            found.insert(
                shard.index,
                (dir.clone(), params, entry.clone(), run["run"].clone()),
            );
        }
        let count = count.ok_or_else(|| Error::usage("SHARD_DIR", "no shard folders given"))?;
        let missing: Vec<String> = (0..count)
            .filter(|i| !found.contains_key(i))
            .map(|i| i.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(Error::usage(
                "SHARD_DIR",
                format!(
                    "shard(s) {} of {count} missing: give every shard's folder",
                    missing.join(", ")
                ),
            ));
        }
        let (first_dir, first_params, first_entry, _) = &found[&0];
        for (dir, params, entry, _) in found.values() {
            if params != first_params {
                let mut differ = Vec::new();
                differing_keys("all", first_params, params, &mut differ);
                return Err(Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{} was made with other parameters than {} ({}): shards of another job?",
                        dir.display(),
                        first_dir.display(),
                        differ.join(", ")
                    ),
                ));
            }
            if entry["plan"] != first_entry["plan"] {
                return Err(Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{} planned the job otherwise than {} (were the inputs changed?)",
                        dir.display(),
                        first_dir.display()
                    ),
                ));
            }
        }
        let options = first_entry["options"]
            .as_str()
            .ok_or_else(|| {
                Error::usage(
                    "SHARD_DIR",
                    format!(
                        "{}: run.json does not record the run's options",
                        first_dir.display()
                    ),
                )
            })?
            .to_string();
        let params = first_params.clone();
        let mut out = Shards {
            dirs: Vec::new(),
            states: Vec::new(),
            params,
            entries: Vec::new(),
            options,
            move_pictures: false,
        };
        for (dir, _, entry, run) in found.into_values() {
            out.states.push(StateDir::of(&dir));
            out.dirs.push(dir);
            out.entries.push((entry, run));
        }
        Ok(out)
    }

    /// Seeds the fresh state of the merged run (whose parameters are `params`) with the shards'
    /// work, and links their pictures into its `images/`.
    pub(super) fn seed(
        &self,
        state: &StateDir,
        dataset: &Dataset,
        params: &Value,
        inputs: &[Input],
    ) -> Result<()> {
        if *params != self.params {
            let mut differ = Vec::new();
            differing_keys("all", &self.params, params, &mut differ);
            return Err(Error::usage(
                "SHARD_DIR",
                format!(
                    "the shards were made with other models or inputs than this machine finds ({})",
                    differ.join(", ")
                ),
            ));
        }
        let order: HashMap<&str, usize> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (input.shown.as_str(), i))
            .collect();
        let position = |video: &str| order.get(video).copied().unwrap_or(usize::MAX);
        let mut records: Vec<FrameRecord> = Vec::new();
        let mut slices: Vec<VideoSummary> = Vec::new();
        for (dir, s) in self.dirs.iter().zip(&self.states) {
            records.extend(s.read_frames()?);
            slices.extend(s.finished_videos()?);
            link_pictures(
                &Dataset::new(dir).images_dir(),
                &dataset.images_dir(),
                self.move_pictures,
            )?;
        }
        records.sort_by_key(|r| (position(&r.video), r.frame));
        slices.sort_by(|a, b| {
            (position(&a.video), a.slice.and_then(|s| s.0).unwrap_or(0.0))
                .partial_cmp(&(position(&b.video), b.slice.and_then(|s| s.0).unwrap_or(0.0)))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut videos: Vec<VideoSummary> = Vec::new();
        for v in slices {
            match videos.last_mut() {
                Some(last) if last.video == v.video => join(last, v),
                _ => videos.push(VideoSummary { slice: None, ..v }),
            }
        }
        state.seed(&self.states, &records, &videos)
    }
}

/// Adds the counts of a later slice of the same video to `into`.
fn join(into: &mut VideoSummary, v: VideoSummary) {
    into.decoded += v.decoded;
    into.sampled += v.sampled;
    into.kept += v.kept;
    for (k, n) in v.rejected {
        *into.rejected.entry(k).or_default() += n;
    }
    into.written += v.written;
    into.decode_errors += v.decode_errors;
    into.corrupt_frames += v.corrupt_frames;
    into.read_errors += v.read_errors;
    into.truncated |= v.truncated;
    for w in v.warnings {
        if !into.warnings.contains(&w) {
            into.warnings.push(w);
        }
    }
    into.elapsed_s += v.elapsed_s;
    into.fps = if into.elapsed_s > 0.0 {
        into.decoded as f64 / into.elapsed_s
    } else {
        0.0
    };
    into.keyframe_gap_s = match (into.keyframe_gap_s, v.keyframe_gap_s) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for p in v.still_at {
        match into
            .still_at
            .iter_mut()
            .find(|q| q.min_change == p.min_change)
        {
            Some(q) => q.still += p.still,
            None => into.still_at.push(p),
        }
    }
    if into.status == "ok" && v.status != "ok" {
        into.status = v.status;
        into.error = v.error;
    }
}

/// Hard-links (or moves) every picture of a shard's `images/` into the merged folder's (a copy
/// where they are on different file systems).
fn link_pictures(from: &Path, to: &Path, move_them: bool) -> Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(from, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io(from, e))?;
        let dest = to.join(e.file_name());
        if dest.exists() {
            continue;
        }
        let done = if move_them {
            std::fs::rename(e.path(), &dest)
        } else {
            std::fs::hard_link(e.path(), &dest)
        };
        if done.is_err() {
            std::fs::copy(e.path(), &dest).map_err(|err| Error::io(&dest, err))?;
            if move_them {
                std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
            }
        }
    }
    Ok(())
}
