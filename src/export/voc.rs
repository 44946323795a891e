//! Pascal VOC as CVAT and Datumaro import it: `Annotations/<stem>.xml` per image, the pictures in
//! `JPEGImages/`, the image list in `ImageSets/Main/default.txt` (split: `train.txt`, `val.txt`,
//! `test.txt`, which Datumaro and CVAT read as subsets) and the classes in `labelmap.txt`
//! (without it, importers assume VOC's 20 classes and reject the others). Box corners are whole
//! pixels from the image's top-left edge, the convention of CVAT and Datumaro (not the 1-based
//! pixel indices of the 2007 devkit): rounding moves a corner by at most half a pixel.

use std::fmt::Write as _;
use std::path::Path;

use super::xml::{self, leaf};
use super::{Labels, Split, class_colour, create_dir, link_image, members, parts, write_file};
use crate::error::{Error, Result};

pub(super) fn write(labels: &Labels, split: Option<&Split>, dir: &Path) -> Result<()> {
    let (ann, jpeg, sets) = (
        dir.join("Annotations"),
        dir.join("JPEGImages"),
        dir.join("ImageSets").join("Main"),
    );
    for d in [&ann, &jpeg, &sets] {
        create_dir(d)?;
    }
    for im in &labels.images {
        link_image(&im.path, &jpeg.join(&im.file_name))?;
        let path = ann.join(format!("{}.xml", im.stem()));
        let bytes = annotation(labels, im, &labels.detector).map_err(|e| Error::io(&path, e))?;
        write_file(&path, &bytes)?;
    }
    for subset in parts(split) {
        let mut list = String::new();
        for im in members(labels, split, subset) {
            list.push_str(im.stem());
            list.push('\n');
        }
        let name = subset.map_or("default", |s| s.name());
        write_file(&sets.join(format!("{name}.txt")), list.as_bytes())?;
    }
    let mut map = String::from("# label:color_rgb:parts:actions\n");
    for (i, c) in labels.classes.iter().enumerate() {
        let [r, g, b] = class_colour(i);
        let _ = writeln!(map, "{}:{r},{g},{b}::", c.name);
    }
    write_file(&dir.join("labelmap.txt"), map.as_bytes())
}

fn annotation(labels: &Labels, im: &super::Image, detector: &str) -> std::io::Result<Vec<u8>> {
    let mut w = xml::writer();
    w.create_element("annotation").write_inner_content(|w| {
        leaf(w, "folder", "JPEGImages")?;
        leaf(w, "filename", &im.file_name)?;
        w.create_element("source").write_inner_content(|w| {
            leaf(w, "database", "framelabel")?;
            leaf(w, "annotation", &format!("pseudo labels by {detector}"))
        })?;
        w.create_element("size").write_inner_content(|w| {
            leaf(w, "width", &im.width.to_string())?;
            leaf(w, "height", &im.height.to_string())?;
            leaf(w, "depth", "3")
        })?;
        leaf(w, "segmented", "0")?;
        let (iw, ih) = (im.width as f64, im.height as f64);
        for b in &im.boxes {
            let xmin = b.x.clamp(0.0, iw).round();
            let ymin = b.y.clamp(0.0, ih).round();
            let xmax = (b.x + b.w).clamp(0.0, iw).round();
            let ymax = (b.y + b.h).clamp(0.0, ih).round();
            // VOC's "truncated": the object runs out of the picture, seen here as a box on its edge.
            let truncated = xmin <= 0.0 || ymin <= 0.0 || xmax >= iw || ymax >= ih;
            w.create_element("object").write_inner_content(|w| {
                leaf(w, "name", &labels.classes[b.class].name)?;
                leaf(w, "pose", "Unspecified")?;
                leaf(w, "truncated", if truncated { "1" } else { "0" })?;
                leaf(w, "difficult", "0")?;
                w.create_element("bndbox").write_inner_content(|w| {
                    leaf(w, "xmin", &format!("{xmin}"))?;
                    leaf(w, "ymin", &format!("{ymin}"))?;
                    leaf(w, "xmax", &format!("{xmax}"))?;
                    leaf(w, "ymax", &format!("{ymax}"))
                })?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(xml::finish(w))
}
