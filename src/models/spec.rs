//! What `--detector` and `--embedder` accept, turned into a verified file on disk plus the config that
//! says how to use it. Resolution happens before any frame is touched, so a wrong name, a missing
//! download or a broken config stops the run at once with one line.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{ModelConfig, ResizeKind};
use super::hub::HubSpec;
use super::{BUILTIN, BuiltinModel, Task};
use crate::error::{Error, Result};
use crate::runtime::preprocess::{Channels, Resample};

/// A parsed model spec.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// A name from the built-in table (`yolox-s`, `clip-vit-b32`, ...).
    Builtin(&'static BuiltinModel),
    /// A local `.onnx` file.
    Local(PathBuf),
    /// `hf:OWNER/REPO[/PATH.onnx][@REVISION]`.
    Hub(HubSpec),
}

impl ModelSpec {
    /// Parses a spec; `option` names the flag in error messages.
    pub fn parse(option: &str, s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("hf:") {
            return HubSpec::parse(rest)
                .map(ModelSpec::Hub)
                .map_err(|m| Error::usage(option, m));
        }
        if let Some(b) = super::builtin(s) {
            return Ok(ModelSpec::Builtin(b));
        }
        let path = Path::new(s);
        if path.is_file() {
            return Ok(ModelSpec::Local(path.to_path_buf()));
        }
        let names: Vec<&str> = BUILTIN.iter().map(|m| m.name).collect();
        Err(Error::usage(
            option,
            format!(
                "'{s}' is neither a built-in model ({}), an existing .onnx file, nor hf:OWNER/REPO[/PATH.onnx]",
                names.join(", ")
            ),
        ))
    }
}

/// Options of resolution that come from the command line.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    pub offline: bool,
    /// `--model-config FILE`, the top config layer.
    pub config: Option<PathBuf>,
}

/// A model file ready to load, with its merged config and where each came from.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedModel {
    /// The spec as the user wrote it.
    pub spec: String,
    pub file: PathBuf,
    pub sha256: String,
    /// The task the built-in table gives, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    pub config: ModelConfig,
    /// The config files that were applied, lowest layer first.
    pub config_files: Vec<String>,
    /// Where each configured key's value came from (the built-in table or a config file); keys
    /// not listed take the family's default.
    pub origins: std::collections::BTreeMap<String, String>,
}

/// Notes `layer` as the origin of every key `config` sets.
fn note(
    origins: &mut std::collections::BTreeMap<String, String>,
    config: &ModelConfig,
    layer: &str,
) {
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(config) {
        for k in m.keys() {
            origins.insert(k.clone(), layer.to_string());
        }
    }
}

/// Obtains the model file (downloading built-in and hub models unless offline), verifies it and
/// merges its config layers.
pub fn resolve(spec_text: &str, spec: &ModelSpec, opts: &ResolveOptions) -> Result<ResolvedModel> {
    let offline = opts.offline || super::offline_from_env();
    let mut layers = Vec::new();
    let mut origins = std::collections::BTreeMap::new();
    let (file, mut config, task) = match spec {
        ModelSpec::Builtin(b) => {
            let file = super::fetch(&b.download(&super::cache_dir()), offline)?;
            let c = builtin_config(b);
            note(&mut origins, &c, "built-in");
            (file, c, Some(b.task))
        }
        ModelSpec::Local(p) => (p.clone(), ModelConfig::default(), None),
        ModelSpec::Hub(h) => {
            let files = super::hub::fetch(h, offline)?;
            if files.config.is_some() {
                layers.push(format!("hf:{}/config.json", h.repo));
            }
            if files.preprocessor.is_some() {
                layers.push(format!("hf:{}/preprocessor_config.json", h.repo));
            }
            let c = ModelConfig::from_hf(files.config.as_ref(), files.preprocessor.as_ref())
                .map_err(|m| Error::Model {
                    path: files.model.clone(),
                    message: format!("hf:{}: {m}", h.repo),
                })?;
            note(
                &mut origins,
                &c,
                &format!("hf:{}/preprocessor_config.json", h.repo),
            );
            if c.labels.is_some() {
                origins.insert("labels".into(), format!("hf:{}/config.json", h.repo));
            }
            (files.model, c, None)
        }
    };
    // The sidecar sits beside the file the user named (for hub models: beside the cached file).
    let named = match spec {
        ModelSpec::Local(p) => p.clone(),
        _ => file.clone(),
    };
    let sidecar = named.with_extension("json");
    if sidecar.is_file() {
        let c = ModelConfig::read(&sidecar)?;
        note(&mut origins, &c, &sidecar.display().to_string());
        config = config.overlay(&c);
        layers.push(sidecar.display().to_string());
    }
    if let Some(c) = &opts.config {
        if !c.is_file() {
            return Err(Error::usage(
                "--model-config",
                format!("{}: no such file", c.display()),
            ));
        }
        let layer = ModelConfig::read(c)?;
        note(&mut origins, &layer, &c.display().to_string());
        config = config.overlay(&layer);
        layers.push(c.display().to_string());
    }
    let sha256 = super::sha256_file(&file)?;
    Ok(ResolvedModel {
        spec: spec_text.to_string(),
        file,
        sha256,
        task,
        config,
        config_files: layers,
        origins,
    })
}

/// What framelabel knows about its built-in models without reading any file.
fn builtin_config(b: &BuiltinModel) -> ModelConfig {
    match b.task {
        Task::Detector => ModelConfig {
            family: Some("yolox".into()),
            labels: Some(
                crate::coco::COCO80
                    .iter()
                    .map(|c| c.name.to_string())
                    .collect(),
            ),
            ..Default::default()
        },
        // CLIP's preprocessor_config.json: shorter side 224 (bicubic), centre crop 224, CLIP mean/std.
        Task::Embedder => ModelConfig {
            resize: Some(ResizeKind::ShorterSideCrop),
            shorter: Some(b.input),
            input_size: Some([b.input, b.input]),
            channels: Some(Channels::Rgb),
            resample: Some(Resample::Bicubic),
            scale: Some(1.0 / 255.0),
            mean: Some([0.481_454_66, 0.457_827_5, 0.408_210_73]),
            std: Some([0.268_629_54, 0.261_302_6, 0.275_777_1]),
            output: Some("image_embeds".into()),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::preprocess::Preprocess;

    /// The built-in CLIP embedder is prepared as transformers' CLIP processor prepares it: the same
    /// pipeline as the openai/clip-vit-base-patch32 processor config (kept in the hf-parity
    /// fixtures, whose tensors `tests/hf_parity.rs` checks value by value).
    #[test]
    fn the_builtin_clip_is_prepared_as_its_processor_config_says() {
        let clip = BUILTIN
            .iter()
            .find(|m| m.name == "clip-vit-b32")
            .expect("the built-in embedder");
        let ours = builtin_config(clip)
            .preprocess(Preprocess::imagenet(), Some((224, 224)))
            .unwrap();
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/hf-parity/clip-tiny");
        for file in [
            "preprocessor_config.json",
            "preprocessor_config.legacy.json",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("the shared fixtures");
            let pre: serde_json::Value = serde_json::from_str(&text).unwrap();
            let theirs = ModelConfig::from_hf(None, Some(&pre))
                .unwrap()
                .preprocess(Preprocess::imagenet(), Some((224, 224)))
                .unwrap();
            assert_eq!(ours, theirs, "{file}");
        }
    }
}
