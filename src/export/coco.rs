//! COCO as CVAT exports it and Datumaro imports it: the pictures in `images/` and the boxes in
//! `annotations/instances_default.json`; split, `images/SUBSET/` and one
//! `annotations/instances_SUBSET.json` per subset, the layout of COCO's own
//! `train2017`/`instances_train2017.json`. Image and category ids are those of `annotations.json`,
//! so a results file and an annotations file of the same run always match.
//!
//! `coco-results` is the list `pycocotools`' `COCO.loadRes` and FiftyOne's results importer take;
//! split, one `results_SUBSET.json` per subset, because `loadRes` refuses results for images its
//! annotations file does not list.

use std::path::Path;

use super::{Labels, Split, create_dir, link_image, members, parts, subset_dir};
use crate::dataset::write_json_atomic;
use crate::error::Result;

pub(super) fn write(labels: &Labels, split: Option<&Split>, dir: &Path) -> Result<()> {
    let ann_dir = dir.join("annotations");
    create_dir(&ann_dir)?;
    let categories: Vec<serde_json::Value> = labels
        .classes
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.coco_id,
                "name": c.name,
                "supercategory": c.supercategory,
            })
        })
        .collect();
    let mut next_id = 1u64;
    for subset in parts(split) {
        let images_dir = subset_dir(&dir.join("images"), subset);
        create_dir(&images_dir)?;
        let mut images = Vec::new();
        let mut annotations = Vec::new();
        for im in members(labels, split, subset) {
            link_image(&im.path, &images_dir.join(&im.file_name))?;
            images.push(serde_json::json!({
                "id": im.id,
                "file_name": im.file_name,
                "width": im.width,
                "height": im.height,
                "video": im.video,
                "pts": im.pts,
            }));
            for b in &im.boxes {
                annotations.push(serde_json::json!({
                    "id": next_id,
                    "image_id": im.id,
                    "category_id": labels.classes[b.class].coco_id,
                    "bbox": [b.x, b.y, b.w, b.h],
                    "area": (b.w * b.h * 100.0).round() / 100.0,
                    // Boxes only: COCO tools expect the key, CVAT writes it empty.
                    "segmentation": [],
                    "iscrowd": 0,
                    "score": b.score,
                }));
                next_id += 1;
            }
        }
        let name = subset.map_or("default", |s| s.name());
        let doc = serde_json::json!({
            "info": {
                "description": format!("framelabel pseudo labels ({})", labels.detector),
                "subset": name,
            },
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        });
        write_json_atomic(&ann_dir.join(format!("instances_{name}.json")), &doc)?;
    }
    Ok(())
}

pub(super) fn write_results(labels: &Labels, split: Option<&Split>, dir: &Path) -> Result<()> {
    for subset in parts(split) {
        let results: Vec<serde_json::Value> = members(labels, split, subset)
            .flat_map(|im| {
                im.boxes.iter().map(|b| {
                    serde_json::json!({
                        "image_id": im.id,
                        "category_id": labels.classes[b.class].coco_id,
                        "bbox": [b.x, b.y, b.w, b.h],
                        "score": b.score,
                    })
                })
            })
            .collect();
        let file = match subset {
            Some(s) => format!("results_{s}.json"),
            None => "results.json".into(),
        };
        write_json_atomic(&dir.join(file), &results)?;
    }
    Ok(())
}
