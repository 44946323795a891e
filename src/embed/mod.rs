//! Image embeddings for near-duplicate removal.
//!
//! Embedders come as whole networks with several outputs (CLIP's vision model gives the projected
//! `image_embeds` and the per-patch `last_hidden_state`), so which output is the embedding is settled
//! once at load time, by config or by well-known names, and a model without a usable one is refused
//! before any frame is read.

pub mod dedup;
pub mod lsh;
pub mod similar;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::models::spec::{ModelSpec, ResolveOptions, ResolvedModel, resolve};
use crate::runtime::preprocess::Preprocess;
use crate::runtime::{Device, Model, Runtime};

/// Output names that hold a pooled image embedding in common exports, in order of preference.
const EMBEDDING_NAMES: &[&str] = &["embedding", "embeddings", "image_embeds", "pooler_output"];

/// An embedder ready to run: which output, its width and the pre-processing.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedderSetup {
    pub output: String,
    pub dim: usize,
    pub preprocess: Preprocess,
}

impl EmbedderSetup {
    pub fn new(resolved: &ResolvedModel, model: &Model) -> Result<Self> {
        let err = |m: String| Error::Model {
            path: resolved.file.clone(),
            message: m,
        };
        let outs = model.outputs();
        let listed = || {
            outs.iter()
                .map(|o| format!("{} {:?}", o.name, o.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = match &resolved.config.output {
            Some(name) => outs.iter().find(|o| &o.name == name).ok_or_else(|| {
                err(format!(
                    "the config names output '{name}' but the model has {}",
                    listed()
                ))
            })?,
            None => EMBEDDING_NAMES
                .iter()
                .find_map(|n| outs.iter().find(|o| o.name == *n))
                .or(match outs {
                    [only] => Some(only),
                    _ => None,
                })
                .ok_or_else(|| {
                    err(format!(
                        "cannot tell which output is the embedding among {}; name it as \"output\" in a sidecar NAME.json or --model-config",
                        listed()
                    ))
                })?,
        };
        let dim = match chosen.shape.as_slice() {
            [_, d] if *d > 0 => *d as usize,
            [_, d, 1, 1] if *d > 0 => *d as usize,
            s => {
                return Err(err(format!(
                    "output '{}' has shape {s:?}, not an embedding [N, D]",
                    chosen.name
                )));
            }
        };
        let preprocess = resolved
            .config
            .preprocess(Preprocess::imagenet(), model.input_size())
            .map_err(err)?;
        if !preprocess.fixed_size() {
            return Err(err(
                "an embedder needs one input size for every picture; its config keeps each picture's aspect ratio (keep_aspect or no resize): give input_size and resize stretch or shorter_side_crop".into(),
            ));
        }
        Ok(EmbedderSetup {
            output: chosen.name.clone(),
            dim,
            preprocess,
        })
    }
}

/// An embedder resolved from its spec, loaded, and set up.
pub struct Embedder {
    pub resolved: ResolvedModel,
    /// Sessions of the model, run side by side ([`Runtime::load_sessions`]).
    pub models: Vec<Model>,
    pub setup: EmbedderSetup,
}

impl Embedder {
    pub fn load(
        spec: &str,
        options: &ResolveOptions,
        threads: usize,
        device: Device,
        spin: bool,
    ) -> Result<Self> {
        let parsed = ModelSpec::parse("--embedder", spec)?;
        let resolved = resolve(spec, &parsed, options)?;
        let models = Runtime::get()?.load_sessions(&resolved.file, threads, device, spin)?;
        let setup = EmbedderSetup::new(&resolved, &models[0])?;
        Ok(Embedder {
            resolved,
            models,
            setup,
        })
    }

    /// The embedder as `run.json` records it.
    pub fn record(&self) -> dedup::EmbedderRecord {
        dedup::EmbedderRecord {
            spec: self.resolved.spec.clone(),
            file: self.resolved.file.clone(),
            sha256: self.resolved.sha256.clone(),
            device: self.models[0].device().to_string(),
            output: self.setup.output.clone(),
            dim: self.setup.dim,
        }
    }
}
