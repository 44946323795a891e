//! Models from the Hugging Face hub, through the `hf-hub` client: its cache layout is the one Python's
//! `huggingface_hub` uses (so a folder shared with Python tools is reused), it resumes interrupted
//! downloads and it honours `HF_ENDPOINT` mirrors. What it does not do is check what it fetched, so the
//! sha256 that the hub publishes as the ETag of every LFS file is checked here before a file is used.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, Result};

/// `hf:OWNER/REPO[/PATH.onnx][@REVISION]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpec {
    pub repo: String,
    /// The ONNX file inside the repo; `None` tries `onnx/model.onnx`, then `model.onnx`.
    pub file: Option<String>,
    pub revision: String,
}

impl HubSpec {
    /// Parses the part after `hf:`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "'hf:{s}' is not a hub spec: use hf:OWNER/REPO[/PATH.onnx][@REVISION], such as hf:Xenova/detr-resnet-50/onnx/model.onnx"
            )
        };
        let (path, revision) = match s.rsplit_once('@') {
            Some((p, r)) if !r.is_empty() => (p, r.to_string()),
            Some(_) => return Err(bad()),
            None => (s, "main".to_string()),
        };
        let mut parts = path.splitn(3, '/');
        let (Some(owner), Some(name)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        if owner.is_empty() || name.is_empty() {
            return Err(bad());
        }
        let file = parts.next().filter(|f| !f.is_empty()).map(str::to_string);
        if file.as_deref().is_some_and(|f| !f.ends_with(".onnx")) {
            return Err(bad());
        }
        Ok(HubSpec {
            repo: format!("{owner}/{name}"),
            file,
            revision,
        })
    }

    fn repo(&self) -> Repo {
        Repo::with_revision(self.repo.clone(), RepoType::Model, self.revision.clone())
    }
}

/// The hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `<framelabel cache>/huggingface`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return p.into();
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    super::cache_dir().join("huggingface")
}

/// The endpoint: `HF_ENDPOINT` (a mirror, or a test server), else huggingface.co.
fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into())
        .trim_end_matches('/')
        .to_string()
}

/// Files obtained for one hub model.
#[derive(Debug, Clone)]
pub struct HubFiles {
    pub model: PathBuf,
    /// The file name inside the repo.
    pub file: String,
    pub config: Option<serde_json::Value>,
    pub preprocessor: Option<serde_json::Value>,
}

/// Gets the model file (and its two config files when the repo has them) from the cache, downloading
/// what is missing unless `offline`.
pub fn fetch(spec: &HubSpec, offline: bool) -> Result<HubFiles> {
    let cache = Cache::new(cache_dir());
    let shown = format!("hf:{}@{}", spec.repo, spec.revision);
    let err = |m: String| Error::Model {
        path: PathBuf::from(&shown),
        message: m,
    };
    let api = if offline {
        None
    } else {
        Some(
            ApiBuilder::from_cache(cache.clone())
                .with_endpoint(endpoint())
                .with_token(std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()))
                .with_progress(false)
                .build()
                .map_err(|e| err(format!("cannot set up the hub client: {e}")))?,
        )
    };
    let candidates: Vec<String> = match &spec.file {
        Some(f) => vec![f.clone()],
        None => vec!["onnx/model.onnx".into(), "model.onnx".into()],
    };
    let get = |file: &str| -> std::result::Result<PathBuf, GetError> {
        if let Some(p) = cache.repo(spec.repo()).get(file) {
            match verify(&p) {
                Ok(()) => return Ok(p),
                Err(m) if offline => return Err(GetError::Other(m)),
                Err(_) => {}
            }
        }
        let Some(api) = &api else {
            return Err(GetError::Missing);
        };
        let p = api
            .repo(spec.repo())
            .download(file)
            .map_err(|e| classify(&e))?;
        verify(&p).map_err(GetError::Other)?;
        Ok(p)
    };
    let mut model = None;
    let mut last = None;
    for f in &candidates {
        match get(f) {
            Ok(p) => {
                model = Some((p, f.clone()));
                break;
            }
            Err(e @ (GetError::Missing | GetError::NotFound)) => last = Some(e),
            Err(GetError::Other(m)) => return Err(err(m)),
        }
    }
    let Some((model, file)) = model else {
        let files = candidates.join(" or ");
        return Err(err(match last {
            Some(GetError::Missing) => format!(
                "{files} is not in the hub cache ({}) and --offline (or FRAMELABEL_OFFLINE) forbids downloading it; run once with network access, or use a local .onnx path",
                cache_dir().display()
            ),
            _ if spec.file.is_some() => format!(
                "the repo has no {files} at revision {}; name the ONNX file: hf:{}/PATH.onnx",
                spec.revision, spec.repo
            ),
            _ => format!(
                "the repo has no {files} at revision {}: framelabel runs ONNX files, and a PyTorch-only repo (such as facebook/detr-resnet-50) has none; name its ONNX file as hf:{}/PATH.onnx, use a repo of ONNX exports of the model (such as Xenova/detr-resnet-50), or export it with `optimum-cli export onnx --model {} OUT/` and give OUT/model.onnx",
                spec.revision, spec.repo, spec.repo
            ),
        }));
    };
    let json = |name: &str| -> Result<Option<serde_json::Value>> {
        let path = match get(name) {
            Ok(p) => p,
            Err(GetError::Missing | GetError::NotFound) => return Ok(None),
            Err(GetError::Other(m)) => return Err(err(m)),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| err(format!("{name} is not valid JSON ({e})")))
    };
    Ok(HubFiles {
        config: json("config.json")?,
        preprocessor: json("preprocessor_config.json")?,
        model,
        file,
    })
}

enum GetError {
    /// Not cached and offline.
    Missing,
    /// The hub says the file does not exist.
    NotFound,
    Other(String),
}

fn classify(e: &ApiError) -> GetError {
    if let ApiError::RequestError(r) = e {
        match r.as_ref() {
            ureq::Error::Status(404, _) => return GetError::NotFound,
            ureq::Error::Status(401 | 403, _) => {
                return GetError::Other(format!(
                    "the hub refused access ({e}); for a gated or private repo set HF_TOKEN"
                ));
            }
            ureq::Error::Transport(_) => {
                return GetError::Other(format!(
                    "cannot reach {} ({e}); check the network or HF_ENDPOINT, or use --offline with a cached copy",
                    endpoint()
                ));
            }
            _ => {}
        }
    }
    GetError::Other(format!("download failed ({e}); run again to resume"))
}

/// Checks a cached hub file against its blob name, which for LFS files is the sha256 of the content.
/// A mismatching blob is deleted so the next attempt downloads it again.
fn verify(pointer: &Path) -> std::result::Result<(), String> {
    let blob = std::fs::canonicalize(pointer).map_err(|e| format!("{}: {e}", pointer.display()))?;
    let name = blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(()); // small git files have a git-sha1 ETag, not a content hash
    }
    let got = super::sha256_file(&blob).map_err(|e| e.to_string())?;
    if got == name.to_ascii_lowercase() {
        return Ok(());
    }
    let _ = std::fs::remove_file(&blob);
    let _ = std::fs::remove_file(pointer);
    Err(format!(
        "{} has sha256 {got}, not the {name} the hub published; the corrupt copy was removed, run again to fetch it",
        pointer.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s = HubSpec::parse("Xenova/detr-resnet-50/onnx/model.onnx@v1").unwrap();
        assert_eq!(s.repo, "Xenova/detr-resnet-50");
        assert_eq!(s.file.as_deref(), Some("onnx/model.onnx"));
        assert_eq!(s.revision, "v1");
        let s = HubSpec::parse("Xenova/clip-vit-base-patch32").unwrap();
        assert_eq!((s.file, s.revision.as_str()), (None, "main"));
        for bad in ["", "owner", "owner/", "/repo", "o/r/config.json", "o/r@"] {
            assert!(HubSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
