//! What a run has computed, kept under `DIR/.framelabel/` so that a killed run loses nothing it
//! finished: the parameters, the extract records, the finished videos, one embedding per kept
//! frame and the detections per labelled frame. Each file is appended and flushed as work is done;
//! a record torn by a kill is cut off when the file is opened again.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, FrameRecord, write_json_atomic};
use crate::detect::decode::Detection;
use crate::detect::label::Labelled;
use crate::error::{Error, Result};
use crate::extract::VideoSummary;
use crate::state::{STATE_DIR, appender, truncate};

/// The state folder of a run.
pub struct StateDir {
    dir: PathBuf,
    /// An earlier run with the same parameters is being continued.
    pub resumed: bool,
}

/// What `--force` and a fresh run remove besides what `extract` writes.
const RUN_OUTPUTS: &[&str] = &[
    "annotations.json",
    "predictions.json",
    "embeddings.npy",
    "embeddings.json",
    "export",
    "report",
    crate::track::TRACKS_FILE,
    crate::track::REVIEW_FILE,
    STATE_DIR,
];

/// The input whose content changed, when that is all that differs between two runs' parameters.
fn changed_input(old: &serde_json::Value, new: &serde_json::Value) -> Option<String> {
    let (o, n) = (old.as_object()?, new.as_object()?);
    let others_equal = n
        .iter()
        .all(|(k, v)| k == "input_contents" || o.get(k) == Some(v));
    if !others_equal || o.len() != n.len() {
        return None;
    }
    let (of, nf) = (
        o.get("input_contents")?.as_array()?,
        n["input_contents"].as_array()?,
    );
    let inputs = n.get("inputs")?.as_array()?;
    (0..inputs.len())
        .find(|&i| of.get(i) != nf.get(i))
        .and_then(|i| Some(inputs[i].as_str()?.to_string()))
}

impl StateDir {
    /// Opens the state of the run in `dataset` for `params`: continues an earlier run with the same
    /// parameters, starts over with `force`, and refuses anything else.
    pub fn open(dataset: &Dataset, params: &serde_json::Value, force: bool) -> Result<Self> {
        let root = dataset.root();
        let dir = root.join(STATE_DIR);
        let params_path = dir.join("params.json");
        let earlier: Option<serde_json::Value> = fs::read_to_string(&params_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        match earlier {
            Some(old) if old == *params && !force => {
                return Ok(StateDir { dir, resumed: true });
            }
            Some(old) if !force => {
                if let Some(video) = changed_input(&old, params) {
                    return Err(Error::output(
                        root,
                        format!(
                            "holds a run of {video} as it was before the file changed; choose another --out, or pass --force to start over"
                        ),
                    ));
                }
                let mut differ = Vec::new();
                differing_keys("all", &old, params, &mut differ);
                return Err(Error::output(
                    root,
                    format!(
                        "holds a run with other parameters ({}); repeat its options to continue it, choose another --out, or pass --force to start over",
                        differ.join(", ")
                    ),
                ));
            }
            None if dataset.has_records() && !force => {
                return Err(Error::output(
                    root,
                    "already holds a dataset that `framelabel run` did not make; choose another --out or pass --force to replace it",
                ));
            }
            _ => {}
        }
        dataset.prepare(true)?;
        for name in RUN_OUTPUTS {
            let p = root.join(name);
            let r = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            match r {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&p, e));
                }
                _ => {}
            }
        }
        fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e.to_string()))?;
        write_json_atomic(&params_path, params)?;
        Ok(StateDir {
            dir,
            resumed: false,
        })
    }

    pub fn frames_path(&self) -> PathBuf {
        self.dir.join("frames.jsonl")
    }

    pub fn videos_path(&self) -> PathBuf {
        self.dir.join("videos.jsonl")
    }

    pub fn embeddings_path(&self) -> PathBuf {
        self.dir.join("embeddings.bin")
    }

    pub fn detections_path(&self) -> PathBuf {
        self.dir.join("detections.jsonl")
    }

    /// The key frames each finished video's decoding met, so that a continued run (or a merge)
    /// decodes a frame again from the nearest one rather than from the start of a long video.
    /// Detections of the frames between kept ones (`run --track`): [`TrackFrames`].
    pub fn track_frames_path(&self) -> PathBuf {
        self.dir.join("track-frames.jsonl")
    }

    pub fn keyframes_path(&self) -> PathBuf {
        self.dir.join("keyframes.jsonl")
    }

    pub fn read_keyframes(&self) -> Result<Vec<VideoKeyframes>> {
        read_records(&self.keyframes_path(), "a key frame list")
    }

    /// The extract records, as the run wrote them (before dedup and label changed any status).
    pub fn read_frames(&self) -> Result<Vec<FrameRecord>> {
        // The records file has the layout of a dataset's frames.jsonl.
        read_records(&self.frames_path(), "a frame record")
    }

    pub fn rewrite_frames(&self, records: &[FrameRecord]) -> Result<()> {
        rewrite_lines(&self.frames_path(), records)
    }

    /// Videos an earlier attempt finished, in the order it did them.
    pub fn finished_videos(&self) -> Result<Vec<VideoSummary>> {
        read_records(&self.videos_path(), "a video summary")
    }

    pub fn rewrite_videos(&self, videos: &[VideoSummary]) -> Result<()> {
        rewrite_lines(&self.videos_path(), videos)
    }

    pub fn mark_complete(&self) -> Result<()> {
        crate::dataset::write_atomic(&self.dir.join("complete"), b"ok\n")
    }

    /// The state of the run in the folder `root`, to read (a shard's, for `merge`).
    pub fn of(root: &Path) -> Self {
        StateDir {
            dir: root.join(STATE_DIR),
            resumed: true,
        }
    }

    /// Whether the run finished: every stage ran and the outputs are written.
    pub fn is_complete(&self) -> bool {
        self.dir.join("complete").is_file()
    }

    /// The parameters the run was made with.
    pub fn params(&self) -> Option<serde_json::Value> {
        let text = fs::read_to_string(self.dir.join("params.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Fills this (fresh) state with the work of finished shards, as if this run had done it:
    /// `records` and `videos` in the order a run of all inputs makes them, the shards'
    /// embeddings and detections (streams of self-contained records, so the files are joined).
    /// Done once: a merge started again after it finds the mark and goes on from there.
    pub fn seed(
        &self,
        shards: &[StateDir],
        records: &[FrameRecord],
        videos: &[VideoSummary],
    ) -> Result<()> {
        let mark = self.dir.join("seeded");
        if mark.is_file() {
            return Ok(());
        }
        for (target, of) in [
            (
                self.embeddings_path(),
                StateDir::embeddings_path as fn(&StateDir) -> PathBuf,
            ),
            (self.detections_path(), StateDir::detections_path),
        ] {
            let mut joined = Vec::new();
            for s in shards {
                match fs::read(of(s)) {
                    Ok(b) => joined.extend_from_slice(&b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(of(s), e)),
                }
            }
            crate::dataset::write_atomic(&target, &joined)?;
        }
        // The key frames of the slices of a video, as one list for the whole video.
        let mut joined: Vec<VideoKeyframes> = Vec::new();
        for s in shards {
            for k in s.read_keyframes()? {
                match joined.iter_mut().find(|j| j.video == k.video) {
                    Some(j) => j.keyframes.extend(k.keyframes),
                    None => joined.push(VideoKeyframes { slice: None, ..k }),
                }
            }
        }
        for j in &mut joined {
            j.keyframes.sort_by_key(|k| k.index);
            j.keyframes.dedup_by_key(|k| k.index);
        }
        rewrite_lines(&self.keyframes_path(), &joined)?;
        self.rewrite_frames(records)?;
        self.rewrite_videos(videos)?;
        crate::dataset::write_atomic(&mark, b"ok\n")
    }
}

/// One line of `keyframes.jsonl`: a finished video (or slice) and the key frames its decoding met.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VideoKeyframes {
    pub video: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<(Option<f64>, Option<f64>)>,
    pub keyframes: Vec<crate::extract::decode::Keyframe>,
}

/// Replaces a JSON-lines file with `items`, one per line, atomically.
fn rewrite_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let mut text = String::new();
    for item in items {
        text.push_str(&serde_json::to_string(item).expect("records serialise"));
        text.push('\n');
    }
    crate::dataset::write_atomic(path, text.as_bytes())
}

/// The records of a JSON-lines file (`what` each line must be, for the message when one is not).
fn read_records<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    read_lines(path)?
        .iter()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::output(path, format!("not {what} ({e})")))
        })
        .collect()
}

/// The complete lines of a JSON-lines file; a torn last line is cut off the file.
fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        truncate(path, complete as u64)?;
    }
    Ok(text[..complete]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// A detection as the state files hold it: class, score, x0, y0, x1, y1.
type Packed = (usize, f32, f32, f32, f32, f32);

fn pack(d: &Detection) -> Packed {
    (d.class, d.score, d.x0, d.y0, d.x1, d.y1)
}

fn unpack(&(class, score, x0, y0, x1, y1): &Packed) -> Detection {
    Detection {
        class,
        score,
        x0,
        y0,
        x1,
        y1,
    }
}

/// Detections (all above the confidence threshold, before filters) by frame file name.
pub struct Detections {
    path: PathBuf,
    found: HashMap<String, Labelled>,
    out: BufWriter<File>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DetectionLine {
    file: String,
    size: (u32, u32),
    d: Vec<Packed>,
}

impl Detections {
    pub fn open(path: &Path) -> Result<Self> {
        let mut found = HashMap::new();
        for l in read_lines(path)? {
            let line: DetectionLine = serde_json::from_str(&l)
                .map_err(|e| Error::output(path, format!("not a detection record ({e})")))?;
            let detections = line.d.iter().map(unpack).collect();
            found.insert(
                line.file,
                Labelled {
                    size: Some(line.size),
                    detections,
                },
            );
        }
        Ok(Detections {
            path: path.to_path_buf(),
            found,
            out: appender(path)?,
        })
    }

    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.found.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&Labelled> {
        self.found.get(name)
    }

    pub fn insert(&mut self, name: &str, l: Labelled) -> Result<()> {
        let line = DetectionLine {
            file: name.to_string(),
            size: l.size.unwrap_or_default(),
            d: l.detections.iter().map(pack).collect(),
        };
        let mut text = serde_json::to_string(&line).expect("detections serialise");
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        self.found.insert(name.to_string(), l);
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Detections of the frames `run --track` decodes between kept frames, by video and frame index,
/// and the videos whose frames are all in.
pub struct TrackFrames {
    path: PathBuf,
    frames: HashMap<String, std::collections::BTreeMap<u64, (f64, Labelled)>>,
    done: std::collections::HashSet<String>,
    out: BufWriter<File>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TrackFrameLine {
    video: String,
    /// A frame, or the end of the video (`done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame: Option<(u64, f64, (u32, u32))>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    d: Vec<Packed>,
}

impl TrackFrames {
    pub fn open(path: &Path) -> Result<Self> {
        let mut found = TrackFrames {
            path: path.to_path_buf(),
            frames: HashMap::new(),
            done: Default::default(),
            out: appender(path)?,
        };
        for line in read_records::<TrackFrameLine>(path, "a track frame record")? {
            let Some((frame, pts, size)) = line.frame else {
                found.done.insert(line.video);
                continue;
            };
            let detections = line.d.iter().map(unpack).collect();
            let l = Labelled {
                size: Some(size),
                detections,
            };
            found
                .frames
                .entry(line.video)
                .or_default()
                .insert(frame, (pts, l));
        }
        Ok(found)
    }

    /// Whether every frame of `video` the tracker needs is in.
    pub fn is_done(&self, video: &str) -> bool {
        self.done.contains(video)
    }

    pub fn get(&self, video: &str, frame: u64) -> Option<&Labelled> {
        self.frames.get(video)?.get(&frame).map(|(_, l)| l)
    }

    /// The frames of `video` in: index, timestamp and detections, in frame order.
    pub fn of_video(&self, video: &str) -> impl Iterator<Item = (u64, f64, &Labelled)> {
        self.frames
            .get(video)
            .into_iter()
            .flatten()
            .map(|(&f, (pts, l))| (f, *pts, l))
    }

    fn write(&mut self, line: &TrackFrameLine) -> Result<()> {
        let mut text = serde_json::to_string(line).expect("detections serialise");
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }

    pub fn insert(&mut self, video: &str, frame: u64, pts: f64, l: Labelled) -> Result<()> {
        let size = l.size.unwrap_or_default();
        self.write(&TrackFrameLine {
            video: video.to_string(),
            frame: Some((frame, pts, size)),
            d: l.detections.iter().map(pack).collect(),
        })?;
        self.frames
            .entry(video.to_string())
            .or_default()
            .insert(frame, (pts, l));
        Ok(())
    }

    /// Records that every frame of `video` is in, once the lines before are on disk.
    pub fn finish(&mut self, video: &str) -> Result<()> {
        self.flush()?;
        self.write(&TrackFrameLine {
            video: video.to_string(),
            frame: None,
            d: Vec::new(),
        })?;
        self.flush()?;
        self.done.insert(video.to_string());
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// The names of the settings that differ between two runs' parameters: the innermost keys whose
/// values differ (`min-change`, `fps`), as options spell them, or `name` for values that are not
/// both objects.
pub(crate) fn differing_keys(
    name: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (old.as_object(), new.as_object()) {
        (Some(o), Some(n)) => {
            let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                let (a, b) = (o.get(k), n.get(k));
                if a != b {
                    let null = serde_json::Value::Null;
                    differing_keys(k, a.unwrap_or(&null), b.unwrap_or(&null), out);
                }
            }
        }
        _ => {
            let name = name.replace('_', "-");
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
}
