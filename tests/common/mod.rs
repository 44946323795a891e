//! Helpers shared by the integration tests: a runner for the built binary, ffmpeg to make videos,
//! and the reference tools (Python with OpenCV, ffprobe).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `framelabel ARGS...`.
pub fn framelabel<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    framelabel_env(args, &[])
}

/// Runs `framelabel ARGS...` with extra environment variables (an empty value removes one).
pub fn framelabel_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_framelabel"));
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.args(args).output().expect("run framelabel");
    Run {
        code: out
            .status
            .code()
            .expect("framelabel was killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `framelabel extract INPUTS... --out OUT EXTRA...`.
pub fn extract(inputs: &[&Path], out: &Path, extra: &[&str]) -> Run {
    let mut a: Vec<std::ffi::OsString> = vec!["extract".into()];
    a.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    a.extend(["--out".into(), out.as_os_str().to_owned()]);
    a.extend(extra.iter().map(Into::into));
    framelabel(a)
}

/// Runs ffmpeg with the given arguments (quiet, overwriting), panicking with its message on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a `seconds`-long testsrc2 clip at `size` and `rate` with the given codec arguments.
pub fn make_clip(path: &Path, size: &str, rate: u32, seconds: f64, codec: &[&str]) {
    let src = format!("testsrc2=size={size}:rate={rate}:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(codec);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

/// The shared sample video (OpenCV's vtest.avi).
pub fn vtest() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media/vtest.avi");
    assert!(
        p.exists(),
        "{} is missing: the tests need the shared sample video",
        p.display()
    );
    p
}

/// The sample video's path as framelabel records it: absolute, without the `..` of [`vtest`].
pub fn vtest_normalised() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    root.join("shared/media/vtest.avi")
        .to_str()
        .unwrap()
        .to_string()
}

/// A model file of `../shared/models/`.
pub fn shared_model(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: the tests need the shared models",
        p.display()
    );
    p
}

/// The Python interpreter with OpenCV and NumPy (scripts/setup.sh makes it).
pub fn python() -> PathBuf {
    let p = std::env::var_os("FRAMELABEL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (or set FRAMELABEL_PYTHON)",
        p.display()
    );
    p
}

/// Runs `tests/py/SCRIPT ARGS...` with the test Python; its stdout, or a panic with its stderr.
pub fn run_py<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Vec<u8> {
    let out = Command::new(python())
        .arg(py_script(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The shared YOLOX-Nano detector, as a spec.
pub fn nano() -> String {
    shared_model("yolox_nano_coco.onnx")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Parses JSON lines.
pub fn parse_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    parse_jsonl(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Presentation times of every frame ffprobe decodes from the first video stream (NaN for a frame
/// it gives none).
pub fn ffprobe_frame_times(video: &Path) -> Vec<f64> {
    ffprobe_frames(video).into_iter().map(|(_, t)| t).collect()
}

/// ffprobe's frames of the first video stream, in output order: (key frame, presentation seconds,
/// or NaN where it gives none, as for the last frame of an AVI with B-frames).
pub fn ffprobe_frames(video: &Path) -> Vec<(bool, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_frames"])
        .args([
            "-show_entries",
            "frame=key_frame,best_effort_timestamp_time",
        ])
        .args(["-of", "json"])
        .arg(video)
        .output()
        .expect("ffprobe");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let t = f["best_effort_timestamp_time"].as_str();
            (
                f["key_frame"] == 1,
                t.map_or(f64::NAN, |t| t.parse().unwrap()),
            )
        })
        .collect()
}

/// Size of a JPEG from its header.
pub fn jpeg_size(path: &Path) -> (usize, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = turbojpeg::read_header(&bytes)
        .unwrap_or_else(|e| panic!("{}: not a JPEG: {e}", path.display()));
    (h.width, h.height)
}

/// The JPEG files in a folder, sorted by name.
pub fn jpegs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".jpg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Builds an argument list from strings and paths alike.
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        vec![$(std::ffi::OsString::from(AsRef::<std::ffi::OsStr>::as_ref(&$x))),*]
    };
}

/// The shared MobileNetV2 embedder (1280-d), as a spec.
pub fn embedder() -> String {
    shared_model("mobilenetv2-12-int8-emb.onnx")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Embedding rows by file name, from embeddings.npy and embeddings.json (1280-d MobileNetV2).
pub fn embeddings(dir: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    embeddings_of(dir, 1280)
}

/// Embedding rows of `dims` values by file name, from embeddings.npy and embeddings.json.
pub fn embeddings_of(dir: &Path, dims: usize) -> std::collections::HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(dir.join("embeddings.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let data: Vec<f32> = npy.into_vec().unwrap();
    let names: Vec<String> =
        serde_json::from_value(read_json(&dir.join("embeddings.json"))).unwrap();
    assert_eq!(shape, [names.len() as u64, dims as u64]);
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, data[i * dims..(i + 1) * dims].to_vec()))
        .collect()
}

/// A JSON array of numbers (a COCO `bbox`, a reference `box`) as f64 values.
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

/// The file name of a record's relative path.
pub fn base(file: &str) -> String {
    Path::new(file)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// `framelabel run` as the tests run it: the shared models, 2 frames per second.
pub fn run_args(inputs: &[&Path], out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(inputs.iter().map(|p| p.to_str().unwrap().to_string()));
    a.extend(
        [
            "--out",
            out.to_str().unwrap(),
            "--fps",
            "2",
            "--embedder",
            &embedder(),
            "--detector",
            &nano(),
            "--save-embeddings",
        ]
        .map(String::from),
    );
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// A COCO file's image ids and file names.
pub fn image_names(coco: &Value) -> std::collections::HashMap<u64, String> {
    id_map(coco, "images", "file_name")
}

/// The `field` of every entry of a COCO file's `section` (`images`, `categories`), by its id.
pub fn id_map(coco: &Value, section: &str, field: &str) -> std::collections::HashMap<u64, String> {
    coco[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_u64().unwrap(),
                e[field].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The sample's first frame held for 6 s, then 10 s of the sample, at half size (H.264): a scene
/// where nothing moves, then people walking.
pub fn held_clip(dir: &Path) -> PathBuf {
    let path = dir.join("held.mp4");
    ffmpeg(&[
        "-t",
        "10",
        "-i",
        vtest().to_str().unwrap(),
        "-vf",
        "tpad=start_duration=6:start_mode=clone,scale=384:288",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    path
}

/// A record without its still-frame measure (`change`), which depends on the frames sampled before
/// it: what two runs that sample differently must agree on.
pub fn without_change(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(m) = r.as_object_mut() {
        m.remove("change");
    }
    r
}

/// Starts a run and kills it (SIGKILL) once `ready(dir)` holds; false when it finished first.
pub fn kill_when(args: &[String], dir: &Path, ready: impl Fn(&Path) -> bool) -> bool {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_framelabel"))
        .args(args)
        .arg("-q")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            eprintln!("the run ended ({status}) before the kill point");
            return false;
        }
        if ready(dir) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(300));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}
