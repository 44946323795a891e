//! CVAT for images 1.1: `annotations.xml` beside `images/`, the layout of a CVAT dataset export, so
//! the zipped folder imports as a dataset into a CVAT project (pictures and boxes in one step), and
//! the XML alone uploads as annotations into a task made from the same pictures (matched by file
//! name). `labels.json` goes into the project's label constructor ("Raw") so the labels and the
//! `score` attribute exist before the import. Boxes are
//! marked `source="auto"`, which CVAT shows as automatic annotation; the score is a read-only text
//! attribute, because CVAT checks number attributes against a step that detector scores do not follow.
//! A split export is a project export instead: `<meta><project>` with one task per subset, each
//! `<image>` naming its `subset`, the pictures in `images/SUBSET/`; a CVAT project imports it as
//! one task per subset.

use std::path::Path;

use quick_xml::events::BytesText;

use super::xml::{self, leaf};
use super::{
    Labels, Split, create_dir, hex_colour, link_image, members, parts, r2, subset_dir, write_file,
};
use crate::dataset::write_json_atomic;
use crate::error::{Error, Result};

pub(super) fn write(labels: &Labels, split: Option<&Split>, dir: &Path) -> Result<()> {
    for subset in parts(split) {
        let images = subset_dir(&dir.join("images"), subset);
        create_dir(&images)?;
        for im in members(labels, split, subset) {
            link_image(&im.path, &images.join(&im.file_name))?;
        }
    }
    let path = dir.join("annotations.xml");
    let bytes = document(labels, split).map_err(|e| Error::io(&path, e))?;
    write_file(&path, &bytes)?;
    let constructor: Vec<serde_json::Value> = labels
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({
                "name": c.name,
                "color": hex_colour(i),
                "type": "rectangle",
                "attributes": attribute_names(labels).iter().map(|name| serde_json::json!({
                    "name": name, "mutable": false, "input_type": "text",
                    "default_value": "", "values": [""],
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    write_json_atomic(&dir.join("labels.json"), &constructor)
}

fn document(labels: &Labels, split: Option<&Split>) -> std::io::Result<Vec<u8>> {
    let name = format!("framelabel pseudo labels ({})", labels.detector);
    let mut w = xml::writer();
    w.create_element("annotations").write_inner_content(|w| {
        leaf(w, "version", "1.1")?;
        w.create_element("meta").write_inner_content(|w| {
            match split {
                None => {
                    w.create_element("task").write_inner_content(|w| {
                        task_head(w, &name, labels.images.len())?;
                        label_list(w, labels)
                    })?;
                }
                Some(s) => {
                    w.create_element("project").write_inner_content(|w| {
                        leaf(w, "name", &name)?;
                        label_list(w, labels)?;
                        w.create_element("tasks").write_inner_content(|w| {
                            for k in s.subsets() {
                                w.create_element("task").write_inner_content(|w| {
                                    let n = s.subsets.get(&k).map_or(0, |c| c.images);
                                    task_head(w, &format!("{name} {k}"), n)?;
                                    leaf(w, "subset", k.name())
                                })?;
                            }
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                }
            }
            xml::dumped(w)
        })?;
        for (id, im) in labels.images.iter().enumerate() {
            let (iw, ih) = (im.width as f64, im.height as f64);
            let mut attributes = vec![("id", id.to_string()), ("name", im.file_name.clone())];
            if let Some(s) = split {
                attributes.push(("subset", s.of_image[id].name().to_string()));
            }
            attributes.push(("width", im.width.to_string()));
            attributes.push(("height", im.height.to_string()));
            w.create_element("image")
                .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
                .write_inner_content(|w| {
                    for b in &im.boxes {
                        let corner = |v: f64, max: f64| format!("{:.2}", r2(v.clamp(0.0, max)));
                        w.create_element("box")
                            .with_attributes([
                                ("label", labels.classes[b.class].name.as_str()),
                                ("source", "auto"),
                                ("occluded", "0"),
                                ("xtl", corner(b.x, iw).as_str()),
                                ("ytl", corner(b.y, ih).as_str()),
                                ("xbr", corner(b.x + b.w, iw).as_str()),
                                ("ybr", corner(b.y + b.h, ih).as_str()),
                                ("z_order", "0"),
                            ])
                            .write_inner_content(|w| {
                                w.create_element("attribute")
                                    .with_attribute(("name", "score"))
                                    .write_text_content(BytesText::new(&format!(
                                        "{:.5}",
                                        b.score
                                    )))?;
                                if labels.tracks.is_some() {
                                    let track = b.track_id.map_or(String::new(), |t| t.to_string());
                                    for (name, value) in
                                        [("track_id", track), ("reasons", b.reasons.join(","))]
                                    {
                                        w.create_element("attribute")
                                            .with_attribute(("name", name))
                                            .write_text_content(BytesText::new(&value))?;
                                    }
                                }
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    })?;
    Ok(xml::finish(w))
}

fn task_head(w: &mut xml::W, name: &str, size: usize) -> std::io::Result<()> {
    leaf(w, "name", name)?;
    leaf(w, "size", &size.to_string())?;
    leaf(w, "mode", "annotation")?;
    leaf(w, "overlap", "0")
}

/// The read-only text attributes of every box: the score, and after `run --track` the box's track
/// and the review's reasons (comma-separated, empty for most boxes).
fn attribute_names(labels: &Labels) -> &'static [&'static str] {
    if labels.tracks.is_some() {
        &["score", "track_id", "reasons"]
    } else {
        &["score"]
    }
}

/// The labels with their read-only attributes.
fn label_list(w: &mut xml::W, labels: &Labels) -> std::io::Result<()> {
    labels_with(w, labels, attribute_names(labels))
}

/// The labels, each with the read-only text attributes `names`.
pub(super) fn labels_with(w: &mut xml::W, labels: &Labels, names: &[&str]) -> std::io::Result<()> {
    w.create_element("labels").write_inner_content(|w| {
        for (i, c) in labels.classes.iter().enumerate() {
            w.create_element("label").write_inner_content(|w| {
                leaf(w, "name", &c.name)?;
                leaf(w, "color", &hex_colour(i))?;
                leaf(w, "type", "rectangle")?;
                w.create_element("attributes").write_inner_content(|w| {
                    for &name in names {
                        w.create_element("attribute").write_inner_content(|w| {
                            leaf(w, "name", name)?;
                            leaf(w, "mutable", "False")?;
                            leaf(w, "input_type", "text")?;
                            leaf(w, "default_value", "")?;
                            leaf(w, "values", "")
                        })?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(())
}
