//! framelabel turns raw video into a curated, pseudo-labelled object-detection dataset.
//!
//! ```text
//!  videos ──▶ extract ──────────────────────────▶ (dedup) ──▶ (label) ──▶ (export, report)
//!             decode ▶ sample ▶ quality ▶ JPEG
//!                 │                         │
//!                 ▼                         ▼
//!            frames.jsonl            images/*.jpg          (the output folder, `dataset`)
//! ```
//!
//! Stages communicate only through the output folder and its records ([`dataset`]); none imports
//! another. The command line ([`cli`]) turns arguments into a validated configuration per stage.

pub mod cli;
pub mod coco;
pub mod dataset;
pub mod detect;
pub mod embed;
pub mod error;
pub mod export;
pub mod extract;
pub mod models;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rows;
pub mod runtime;
pub mod state;
pub mod track;

pub use dataset::{Dataset, FrameRecord, FrameStatus};
pub use error::{EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE, Error, Result};
pub use extract::{ExtractConfig, RunSummary, extract};
