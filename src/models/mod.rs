//! Where models come from: built-in names with pinned sources and checksums, a local cache, and
//! verified, resumable downloads.
//!
//! A model file is only ever used after its sha256 was checked (when the publisher gives one), and
//! lands in the cache by rename, so an interrupted or corrupt download is never mistaken for a model.
//! `--offline` (or `FRAMELABEL_OFFLINE=1`) never touches the network.

pub mod config;
pub mod hub;
pub mod spec;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Detector,
    Embedder,
}

/// A model framelabel knows by name.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltinModel {
    pub name: &'static str,
    pub task: Task,
    pub url: &'static str,
    /// The file name in the cache.
    pub file: &'static str,
    /// The publisher's sha256, when it gives one.
    pub sha256: Option<&'static str>,
    pub size: Option<u64>,
    pub licence: &'static str,
    /// Input size (square) the model was exported for.
    pub input: u32,
}

/// A file of the official YOLOX release 0.1.1rc0.
macro_rules! yolox_release {
    ($file:literal) => {
        concat!(
            "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/",
            $file
        )
    };
}

/// The built-in models. YOLOX: the official release ONNX files (Apache-2.0), checksums as published
/// with release 0.1.1rc0 where known. CLIP: the vision encoder of `Xenova/clip-vit-base-patch32`.
pub const BUILTIN: &[BuiltinModel] = &[
    BuiltinModel {
        name: "yolox-nano",
        task: Task::Detector,
        url: yolox_release!("yolox_nano.onnx"),
        file: "yolox_nano.onnx",
        sha256: Some("c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"),
        size: Some(3_659_407),
        licence: "Apache-2.0",
        input: 416,
    },
    BuiltinModel {
        name: "yolox-tiny",
        task: Task::Detector,
        url: yolox_release!("yolox_tiny.onnx"),
        file: "yolox_tiny.onnx",
        sha256: Some("427cc366d34e27ff7a03e2899b5e3671425c262ea2291f88bb942bc1cc70b0f7"),
        size: Some(20_219_662),
        licence: "Apache-2.0",
        input: 416,
    },
    BuiltinModel {
        name: "yolox-s",
        task: Task::Detector,
        url: yolox_release!("yolox_s.onnx"),
        file: "yolox_s.onnx",
        sha256: Some("c5c2d13e59ae883e6af3b45daea64af4833a4951c92d116ec270d9ddbe998063"),
        size: Some(35_858_002),
        licence: "Apache-2.0",
        input: 640,
    },
    BuiltinModel {
        name: "yolox-m",
        task: Task::Detector,
        url: yolox_release!("yolox_m.onnx"),
        file: "yolox_m.onnx",
        sha256: None,
        size: None,
        licence: "Apache-2.0",
        input: 640,
    },
    BuiltinModel {
        name: "yolox-l",
        task: Task::Detector,
        url: yolox_release!("yolox_l.onnx"),
        file: "yolox_l.onnx",
        sha256: None,
        size: None,
        licence: "Apache-2.0",
        input: 640,
    },
    BuiltinModel {
        name: "yolox-x",
        task: Task::Detector,
        url: yolox_release!("yolox_x.onnx"),
        file: "yolox_x.onnx",
        sha256: None,
        size: None,
        licence: "Apache-2.0",
        input: 640,
    },
    BuiltinModel {
        name: "clip-vit-b32",
        task: Task::Embedder,
        url: "https://huggingface.co/Xenova/clip-vit-base-patch32/resolve/main/onnx/vision_model.onnx",
        file: "clip_vit_b32_vision.onnx",
        sha256: None,
        size: None,
        licence: "MIT",
        input: 224,
    },
];

pub fn builtin(name: &str) -> Option<&'static BuiltinModel> {
    BUILTIN.iter().find(|m| m.name == name)
}

/// The model cache folder: `FRAMELABEL_CACHE`, else `$XDG_CACHE_HOME/framelabel`, else
/// `~/.cache/framelabel`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FRAMELABEL_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("framelabel")
}

/// Whether `FRAMELABEL_OFFLINE` asks for offline mode.
pub fn offline_from_env() -> bool {
    std::env::var("FRAMELABEL_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A file to obtain: where from, what it must hash to, where it lives in the cache.
#[derive(Debug, Clone)]
pub struct Download<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub sha256: Option<&'a str>,
    pub dest: PathBuf,
}

impl BuiltinModel {
    pub fn download(&self, cache: &Path) -> Download<'static> {
        Download {
            name: self.name,
            url: self.url,
            sha256: self.sha256,
            dest: cache.join(self.name).join(self.file),
        }
    }
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns the verified cached file, downloading it first unless `offline`. A cached file whose hash
/// does not match is deleted and fetched again. Interrupted downloads resume from `<dest>.part`.
pub fn fetch(d: &Download, offline: bool) -> Result<PathBuf> {
    let err = |m: String| Error::Model {
        path: d.dest.clone(),
        message: m,
    };
    if d.dest.is_file() {
        match d.sha256 {
            Some(want) if sha256_file(&d.dest)? != want => {
                fs::remove_file(&d.dest).map_err(|e| Error::io(&d.dest, e))?;
                if offline {
                    return Err(err(format!(
                        "the cached '{}' was corrupt and was removed; fetch it again without --offline",
                        d.name
                    )));
                }
            }
            _ => return Ok(d.dest.clone()),
        }
    }
    if offline {
        return Err(err(format!(
            "model '{}' is not in the cache and --offline (or FRAMELABEL_OFFLINE) forbids downloading it; run `framelabel models fetch {}` with network access, or copy the file there",
            d.name, d.name
        )));
    }
    let dir = d.dest.parent().expect("cache paths have a parent");
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let part = d.dest.with_extension("part");
    download_resuming(d.url, &part).map_err(|m| {
        err(format!(
            "download from {} failed: {m}; run again to resume",
            d.url
        ))
    })?;
    let got = sha256_file(&part)?;
    if let Some(want) = d.sha256
        && got != want
    {
        let _ = fs::remove_file(&part);
        return Err(err(format!(
            "download from {} has sha256 {got}, not the published {want}; nothing was kept (the source may have changed or been tampered with)",
            d.url
        )));
    }
    fs::rename(&part, &d.dest).map_err(|e| Error::io(&d.dest, e))?;
    Ok(d.dest.clone())
}

/// Downloads `url` into `part`, continuing from what `part` already holds when the server honours
/// a Range request.
fn download_resuming(url: &str, part: &Path) -> std::result::Result<(), String> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(20))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = req.call().map_err(|e| e.to_string())?;
    let resumed = resp.status() == 206;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .map_err(|e| e.to_string())?;
    if resumed {
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| e.to_string())?;
    } else {
        file.set_len(0).map_err(|e| e.to_string())?;
    }
    let expected = resp
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("connection lost after {written} bytes ({e})"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        written += n as u64;
    }
    file.sync_data().map_err(|e| e.to_string())?;
    if let Some(len) = expected
        && written < len
    {
        return Err(format!("connection closed after {written} of {len} bytes"));
    }
    Ok(())
}
