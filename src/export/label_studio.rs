//! Label Studio: `tasks.json` (one task per image, the boxes as a prediction so annotators start from
//! them and Label Studio can sort tasks by score) and `labeling_config.xml`, whose control and object
//! names (`label`, `image`) are the `from_name`/`to_name` of every prediction. Box positions are
//! percentages of the image size, as Label Studio stores them. Images without boxes are tasks too:
//! an empty prediction still needs a reviewer's "nothing here". A split export names each task's
//! subset in `data.subset`, a column of Label Studio's data manager to filter on.
//!
//! After `run --track` the tasks are the review queue: highest priority first, `data.priority` and
//! `data.reasons` columns to sort and filter on, each box's track and reasons in its region's meta
//! text, and the tracks' suggestions for missed objects as a second prediction, never among the
//! detector's boxes.

use std::path::Path;

use super::xml::{self};
use super::{Labels, Split, hex_colour, write_file};
use crate::dataset::write_json_atomic;
use crate::error::{Error, Result};

/// Where Label Studio's local-files storage serves `DIR/images/` when its document root is `DIR`.
pub const DEFAULT_IMAGE_ROOT: &str = "/data/local-files/?d=images/";

pub(super) fn write(
    labels: &Labels,
    split: Option<&Split>,
    dir: &Path,
    image_root: Option<&str>,
) -> Result<()> {
    let mut root = image_root.unwrap_or(DEFAULT_IMAGE_ROOT).to_string();
    if !(root.is_empty() || root.ends_with('/') || root.ends_with('=')) {
        root.push('/');
    }
    let pct = |v: f64, size: u32| (v / size as f64 * 100.0 * 1e6).round() / 1e6;
    let rectangle = |id: String, im: &super::Image, class: usize, b: [f64; 4]| {
        serde_json::json!({
            "id": id,
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": im.width,
            "original_height": im.height,
            "image_rotation": 0,
            "value": {
                "x": pct(b[0], im.width),
                "y": pct(b[1], im.height),
                "width": pct(b[2], im.width),
                "height": pct(b[3], im.height),
                "rotation": 0,
                "rectanglelabels": [labels.classes[class].name],
            },
        })
    };
    // With a review, the annotators' queue: highest priority first.
    let mut order: Vec<usize> = (0..labels.images.len()).collect();
    order.sort_by(|&a, &b| {
        let p = |i: usize| labels.images[i].review.as_ref().map_or(0.0, |r| r.priority);
        p(b).total_cmp(&p(a))
    });
    let tasks: Vec<serde_json::Value> = order
        .into_iter()
        .map(|i| {
            let im = &labels.images[i];
            let result: Vec<serde_json::Value> = im
                .boxes
                .iter()
                .enumerate()
                .map(|(k, b)| {
                    let mut r = rectangle(format!("fl{}_{k}", im.id), im, b.class, [b.x, b.y, b.w, b.h]);
                    r["score"] = b.score.into();
                    if let Some(t) = b.track_id {
                        let mut text = format!("track {t}");
                        if !b.reasons.is_empty() {
                            text = format!("{}: {text}", b.reasons.join(", "));
                        }
                        r["meta"] = serde_json::json!({ "text": [text] });
                    }
                    r
                })
                .collect();
            let mean = if im.boxes.is_empty() {
                0.0
            } else {
                im.boxes.iter().map(|b| b.score).sum::<f64>() / im.boxes.len() as f64
            };
            let mut data = serde_json::json!({
                "image": format!("{root}{}", im.file_name),
                "coco_image_id": im.id,
            });
            if let Some(s) = split {
                data["subset"] = s.of_image[i].name().into();
            }
            let mut predictions = vec![serde_json::json!({
                "model_version": labels.detector,
                "score": (mean * 1e5).round() / 1e5,
                "result": result,
            })];
            if let Some(r) = &im.review {
                data["priority"] = r.priority.into();
                data["reasons"] = r.reasons.join(", ").into();
                // Suggestions apart from the detections: a prediction of their own.
                let suggested: Vec<serde_json::Value> = r
                    .suggestions
                    .iter()
                    .enumerate()
                    .filter_map(|(k, s)| {
                        let mut r = rectangle(format!("fl{}_s{k}", im.id), im, s.class?, [s.x, s.y, s.w, s.h]);
                        r["meta"] = serde_json::json!({ "text": [format!("missed: track {}", s.track_id)] });
                        Some(r)
                    })
                    .collect();
                if !suggested.is_empty() {
                    predictions.push(serde_json::json!({
                        "model_version": format!("{} track suggestions", labels.detector),
                        "result": suggested,
                    }));
                }
            }
            serde_json::json!({
                "data": data,
                "predictions": predictions,
            })
        })
        .collect();
    write_json_atomic(&dir.join("tasks.json"), &tasks)?;
    let path = dir.join("labeling_config.xml");
    let bytes = config(labels).map_err(|e| Error::io(&path, e))?;
    // The config is pasted into Label Studio's code editor, which wants no XML declaration.
    let text = String::from_utf8_lossy(&bytes);
    let body = text
        .split_once("?>")
        .map_or(&*text, |(_, b)| b)
        .trim_start();
    write_file(&path, body.as_bytes())
}

fn config(labels: &Labels) -> std::io::Result<Vec<u8>> {
    let mut w = xml::writer();
    w.create_element("View").write_inner_content(|w| {
        w.create_element("Image")
            .with_attributes([
                ("name", "image"),
                ("value", "$image"),
                ("zoom", "true"),
                ("zoomControl", "true"),
            ])
            .write_empty()?;
        w.create_element("RectangleLabels")
            .with_attributes([("name", "label"), ("toName", "image")])
            .write_inner_content(|w| {
                for (i, c) in labels.classes.iter().enumerate() {
                    w.create_element("Label")
                        .with_attributes([
                            ("value", c.name.as_str()),
                            ("background", hex_colour(i).as_str()),
                        ])
                        .write_empty()?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(xml::finish(w))
}
