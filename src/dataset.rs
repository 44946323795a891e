//! The output folder is the contract between stages and with users: later stages (dedup, label,
//! report) and outside tools read `frames.jsonl`, `images/` and `run.json` without knowing how they
//! were made. Keeping its layout and record types in one place keeps every stage agreeing on it, and
//! the write helpers here are the only way files land in it, so a killed run never leaves a
//! half-written JSON file or a record pointing at a missing image.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const FRAMES_FILE: &str = "frames.jsonl";
pub const RUN_FILE: &str = "run.json";
pub const IMAGES_DIR: &str = "images";
pub const REJECTED_DIR: &str = "rejected";

/// Why a sampled frame was kept or dropped. Later stages add their own statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameStatus {
    Kept,
    Dark,
    Bright,
    Noisy,
    Blurry,
    /// Too like the last frame that passed the still-frame gate (`--min-change`): not written.
    Still,
    Duplicate,
    /// No box left after the label filters, with --drop-empty.
    Empty,
    /// The frame's file was gone when a later stage looked for it.
    Missing,
}

impl FrameStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameStatus::Kept => "kept",
            FrameStatus::Dark => "dark",
            FrameStatus::Bright => "bright",
            FrameStatus::Noisy => "noisy",
            FrameStatus::Blurry => "blurry",
            FrameStatus::Still => "still",
            FrameStatus::Duplicate => "duplicate",
            FrameStatus::Empty => "empty",
            FrameStatus::Missing => "missing",
        }
    }

    /// The rejection reasons of the quality stage, in the order they are checked.
    pub const QUALITY_REJECTIONS: [FrameStatus; 4] = [
        FrameStatus::Dark,
        FrameStatus::Bright,
        FrameStatus::Noisy,
        FrameStatus::Blurry,
    ];
}

/// One line of `frames.jsonl`: one sampled frame, whatever happened to it.
///
/// Unknown fields written by later stages are kept in `extra` so that a stage rewriting the file
/// never drops what another stage added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// The input path as the user gave it (or as found under a folder they gave).
    pub video: String,
    /// 0-based index of the frame among those the decoder output.
    pub frame: u64,
    /// Presentation time in seconds from the start of the stream.
    pub pts: f64,
    /// Source width and height, before any resize.
    pub width: u32,
    pub height: u32,
    pub sharpness: f64,
    pub entropy: f64,
    pub noise: f64,
    pub brightness: f64,
    pub status: FrameStatus,
    /// The still-frame measure: how much the frame's 64×36 grey thumbnail differs from that of the
    /// last frame of the video that passed the gate (mean absolute difference / 255); none for the
    /// first frame checked, and in folders made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// With status `still`: the frame index of that frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_of: Option<u64>,
    /// Path of the written JPEG relative to the output folder, when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The output folder of a run.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
}

impl Dataset {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Dataset { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn frames_path(&self) -> PathBuf {
        self.root.join(FRAMES_FILE)
    }

    pub fn run_path(&self) -> PathBuf {
        self.root.join(RUN_FILE)
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join(IMAGES_DIR)
    }

    pub fn rejected_dir(&self, status: FrameStatus) -> PathBuf {
        self.root.join(REJECTED_DIR).join(status.as_str())
    }

    /// Whether the folder already holds the records of an earlier run.
    pub fn has_records(&self) -> bool {
        fs::metadata(self.frames_path())
            .map(|m| m.len() > 0)
            .unwrap_or(false)
            || self.run_path().exists()
    }

    /// Creates the folder for a new run and proves it can be written to, before any work is done.
    ///
    /// An existing dataset is an error unless `force`, which removes only what this tool writes
    /// (records, `images/`, `rejected/`) and leaves anything else in the folder alone.
    pub fn prepare(&self, force: bool) -> Result<()> {
        let root = &self.root;
        if root.exists() && !root.is_dir() {
            return Err(Error::output(
                root,
                "exists and is not a folder; choose another --out",
            ));
        }
        if self.has_records() {
            if !force {
                return Err(Error::output(
                    root,
                    "already holds a dataset (frames.jsonl/run.json); choose another --out or pass --force to replace it",
                ));
            }
            for file in [self.frames_path(), self.run_path()] {
                remove_if_exists(&file)?;
            }
            for dir in [self.images_dir(), root.join(REJECTED_DIR)] {
                if dir.exists() {
                    fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                }
            }
        }
        fs::create_dir_all(self.images_dir()).map_err(|e| {
            Error::output(
                root,
                format!("cannot create the output folder ({e}); choose a writable --out"),
            )
        })?;
        let probe = root.join(".framelabel-write-test");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(|e| {
                Error::output(
                    root,
                    format!("cannot write to the output folder ({e}); choose a writable --out"),
                )
            })?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    /// Opens `frames.jsonl` for appending records one by one.
    pub fn frame_writer(&self) -> Result<RecordWriter> {
        RecordWriter::append(self.frames_path())
    }

    /// Reads every record of `frames.jsonl`. A torn last line (a run killed mid-write) is ignored.
    pub fn read_frames(&self) -> Result<Vec<FrameRecord>> {
        let path = self.frames_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut records = Vec::new();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<FrameRecord>(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => {
                    return Err(Error::output(
                        &path,
                        format!("line {}: not a frame record ({e})", i + 1),
                    ));
                }
            }
        }
        Ok(records)
    }
}

impl Dataset {
    /// Opens the output folder of an earlier `extract` for a later stage: an error naming the fix
    /// when it has no `frames.jsonl`.
    pub fn open_existing(root: impl Into<PathBuf>) -> Result<Self> {
        let dataset = Dataset::new(root);
        if !dataset.frames_path().is_file() {
            return Err(Error::output(
                &dataset.root,
                "has no frames.jsonl: not a framelabel output folder; run `framelabel extract VIDEO --out DIR` first",
            ));
        }
        Ok(dataset)
    }

    /// Replaces `frames.jsonl` with `records`, atomically: for stages that change records in place.
    pub fn rewrite_frames(&self, records: &[FrameRecord]) -> Result<()> {
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r).expect("records serialise"));
            text.push('\n');
        }
        write_atomic(&self.frames_path(), text.as_bytes())
    }

    /// The parsed `run.json`, or an empty object when it is missing or unreadable.
    pub fn run_json(&self) -> serde_json::Value {
        fs::read_to_string(self.run_path())
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(|v| v.is_object())
            .unwrap_or_else(|| serde_json::json!({}))
    }

    /// Sets the entry `key` of `run.json` (one per later stage), keeping what other stages wrote.
    pub fn set_run_entry<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let mut run = self.run_json();
        run[key] = serde_json::to_value(value).expect("entries serialise");
        write_json_atomic(&self.run_path(), &run)
    }

    /// Moves files within the folder, creating target folders as needed. A move already done (the
    /// source gone, the target there) is skipped, so a stopped stage can be run again.
    pub fn move_files(&self, moves: &[(PathBuf, PathBuf)]) -> Result<()> {
        for (from, to) in moves {
            if !from.exists() && to.exists() {
                continue;
            }
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            fs::rename(from, to).map_err(|e| Error::io(from, e))?;
        }
        Ok(())
    }

    /// Where a record's frame file is (the folder itself for a record without one).
    pub fn file_path(&self, record: &FrameRecord) -> PathBuf {
        self.root.join(record.file.as_deref().unwrap_or_default())
    }

    /// `path` relative to the folder, as records store it.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Appends JSON lines and flushes each one, so a killed run keeps every finished record.
pub struct RecordWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RecordWriter {
    pub fn append(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(RecordWriter {
            path,
            out: BufWriter::new(file),
        })
    }

    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        serde_json::to_writer(&mut self.out, record).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(io)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers see
/// either the old file or the whole new one. Not synced to disk: for frames, where a crash may lose
/// the newest files but never leaves a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, bytes, false)
}

fn write_via_temp(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            if durable { f.sync_data() } else { Ok(()) }
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Serialises `value` as pretty JSON and writes it atomically and durably.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::io(path, e.into()))?;
    bytes.push(b'\n');
    write_via_temp(path, &bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_keeps_unknown_fields() {
        let line = r#"{"video":"a b/ü.mp4","frame":3,"pts":0.3,"width":4,"height":2,"sharpness":0.1,"entropy":0.5,"noise":0.01,"brightness":0.4,"status":"duplicate","file":"images/x.jpg","duplicate_of":"images/y.jpg","similarity":0.97}"#;
        let r: FrameRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.status, FrameStatus::Duplicate);
        assert_eq!(r.extra["duplicate_of"], "images/y.jpg");
        let back = serde_json::to_string(&r).unwrap();
        let again: FrameRecord = serde_json::from_str(&back).unwrap();
        assert_eq!(r, again);
    }

    #[test]
    fn torn_last_line_is_ignored_but_corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ds = Dataset::new(dir.path());
        let good = r#"{"video":"v","frame":0,"pts":0.0,"width":4,"height":2,"sharpness":0.1,"entropy":0.5,"noise":0.01,"brightness":0.4,"status":"kept"}"#;
        fs::write(ds.frames_path(), format!("{good}\n{{\"video\":\"v\",\"fra")).unwrap();
        assert_eq!(ds.read_frames().unwrap().len(), 1);
        fs::write(ds.frames_path(), format!("{good}\nnot json\n{good}\n")).unwrap();
        assert!(ds.read_frames().is_err());
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.json");
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json_atomic(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
