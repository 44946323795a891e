//! Integration tests: the built binary on real videos (the shared sample and videos the tests make
//! with ffmpeg), checked against OpenCV and ffprobe as independent references.

#[macro_use]
mod common;
mod dedup;
mod export;
mod extract_bad_input;
mod extract_formats;
mod extract_long;
mod extract_output;
mod extract_quality;
mod hf_parity;
mod label;
mod label_families;
mod layers;
mod models_download;
mod models_spec;
mod progress;
mod report;
mod run;
mod runtime_models;
mod shard;
mod track;
