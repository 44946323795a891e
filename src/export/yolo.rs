//! Ultralytics' layout: `images/` beside `labels/` (Ultralytics finds each label file by replacing
//! `images` with `labels` in the image path), one `class cx cy w h` line per box, normalised to the
//! image size, and `data.yaml` naming the classes. `data.yaml` has no `path:` key, so Ultralytics
//! takes the folder of the YAML file and the export can be moved or copied as a whole. Split, each
//! subset has its own `images/SUBSET/` and `labels/SUBSET/`, which `data.yaml` names.

use std::fmt::Write as _;
use std::path::Path;

use super::{Labels, Split, create_dir, link_image, members, parts, subset_dir, write_file};
use crate::error::Result;

pub(super) fn write(
    labels: &Labels,
    split: Option<&Split>,
    dir: &Path,
    with_scores: bool,
) -> Result<()> {
    for subset in parts(split) {
        let images = subset_dir(&dir.join("images"), subset);
        let label_dir = subset_dir(&dir.join("labels"), subset);
        create_dir(&images)?;
        create_dir(&label_dir)?;
        for im in members(labels, split, subset) {
            link_image(&im.path, &images.join(&im.file_name))?;
            write_file(
                &label_dir.join(format!("{}.txt", im.stem())),
                label_file(im, with_scores).as_bytes(),
            )?;
        }
    }
    let mut yaml = String::from(
        "# Ultralytics dataset written by framelabel: pseudo labels, a first draft to review.\n\
         # Paths are relative to this file's folder.\n",
    );
    match split {
        Some(s) => {
            let _ = writeln!(
                yaml,
                "# Split by {0} with seed {1}: each {0} is in one subset (split.json lists them).",
                s.by, s.seed
            );
            for k in s.subsets() {
                let _ = writeln!(yaml, "{k}: images/{k}");
            }
        }
        None => yaml.push_str(
            "# Validation uses the training images: split with `framelabel export --split`.\n\
             train: images\nval: images\n",
        ),
    }
    let _ = writeln!(yaml, "nc: {}\nnames:", labels.classes.len());
    for (i, c) in labels.classes.iter().enumerate() {
        // A JSON string is a valid double-quoted YAML scalar, whatever the name holds.
        let _ = writeln!(yaml, "  {i}: {}", serde_json::Value::from(c.name.as_str()));
    }
    write_file(&dir.join("data.yaml"), yaml.as_bytes())
}

/// One `class cx cy w h [score]` line per box; an empty file marks a negative image (reviewed,
/// nothing to find).
fn label_file(im: &super::Image, with_scores: bool) -> String {
    let (w, h) = (im.width as f64, im.height as f64);
    let mut text = String::new();
    for b in &im.boxes {
        let x0 = b.x.clamp(0.0, w);
        let y0 = b.y.clamp(0.0, h);
        let x1 = (b.x + b.w).clamp(0.0, w);
        let y1 = (b.y + b.h).clamp(0.0, h);
        let _ = write!(
            text,
            "{} {:.6} {:.6} {:.6} {:.6}",
            b.class,
            (x0 + x1) / 2.0 / w,
            (y0 + y1) / 2.0 / h,
            (x1 - x0) / w,
            (y1 - y0) / h
        );
        if with_scores {
            let _ = write!(text, " {:.5}", b.score);
        }
        text.push('\n');
    }
    text
}
