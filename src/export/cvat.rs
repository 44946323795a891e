//! CVAT for images 1.1: `annotations.xml` beside `images/`, the layout of a CVAT dataset export, so
//! the zipped folder imports as a dataset into a CVAT project (pictures and boxes in one step), and
//! the XML alone uploads as annotations into a task made from the same pictures (matched by file
//! name). `labels.json` goes into the project's label constructor ("Raw") so the labels and the
//! `score` attribute exist before the import. Boxes are
//! marked `source="auto"`, which CVAT shows as automatic annotation; the score is a read-only text
//! attribute, because CVAT checks number attributes against a step that detector scores do not follow.

use std::path::Path;

use quick_xml::events::BytesText;

use super::xml::{self, leaf};
use super::{Labels, create_dir, hex_colour, link_image, r2, write_file};
use crate::dataset::write_json_atomic;
use crate::error::{Error, Result};

pub(super) fn write(labels: &Labels, dir: &Path) -> Result<()> {
    let images = dir.join("images");
    create_dir(&images)?;
    for im in &labels.images {
        link_image(&im.path, &images.join(&im.file_name))?;
    }
    let path = dir.join("annotations.xml");
    let bytes = document(labels).map_err(|e| Error::io(&path, e))?;
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
                "attributes": [{
                    "name": "score", "mutable": false, "input_type": "text",
                    "default_value": "", "values": [""],
                }],
            })
        })
        .collect();
    write_json_atomic(&dir.join("labels.json"), &constructor)
}

fn document(labels: &Labels) -> std::io::Result<Vec<u8>> {
    let mut w = xml::writer();
    w.create_element("annotations").write_inner_content(|w| {
        leaf(w, "version", "1.1")?;
        w.create_element("meta").write_inner_content(|w| {
            w.create_element("task").write_inner_content(|w| {
                leaf(
                    w,
                    "name",
                    &format!("framelabel pseudo labels ({})", labels.detector),
                )?;
                leaf(w, "size", &labels.images.len().to_string())?;
                leaf(w, "mode", "annotation")?;
                leaf(w, "overlap", "0")?;
                w.create_element("labels").write_inner_content(|w| {
                    for (i, c) in labels.classes.iter().enumerate() {
                        w.create_element("label").write_inner_content(|w| {
                            leaf(w, "name", &c.name)?;
                            leaf(w, "color", &hex_colour(i))?;
                            leaf(w, "type", "rectangle")?;
                            w.create_element("attributes").write_inner_content(|w| {
                                w.create_element("attribute").write_inner_content(|w| {
                                    leaf(w, "name", "score")?;
                                    leaf(w, "mutable", "False")?;
                                    leaf(w, "input_type", "text")?;
                                    leaf(w, "default_value", "")?;
                                    leaf(w, "values", "")
                                })?;
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
            leaf(
                w,
                "dumped",
                &humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            )
        })?;
        for (id, im) in labels.images.iter().enumerate() {
            let (iw, ih) = (im.width as f64, im.height as f64);
            w.create_element("image")
                .with_attributes([
                    ("id", id.to_string().as_str()),
                    ("name", im.file_name.as_str()),
                    ("width", im.width.to_string().as_str()),
                    ("height", im.height.to_string().as_str()),
                ])
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
