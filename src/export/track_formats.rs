//! The tracks of `run --track` for the tools that review or score video: CVAT for video 1.1 and the
//! MOT Challenge layout, one folder per video (the `{video}` of file names).
//!
//! Both address the video itself, not the written JPEGs: frame numbers are the video's own frame
//! indices (0-based in CVAT, 1-based in MOT) and boxes are in the video's pixels (`--size` undone),
//! so a CVAT task made from the video file takes the XML as it is, and MOT tools align with the
//! video's frames. A track's boxes are CVAT key frames; CVAT interpolates between them (the frames
//! the tracker did not see) and the track ends with an `outside` key frame after its last box.
//! Tracks of a class the export leaves out are left out; the area filters apply to single
//! pictures, not to tracks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::xml::{self, leaf};
use super::{Labels, Track, Tracks, Video, create_dir, r2, write_file};
use crate::error::{Error, Result};

/// The tracks of each video that the export keeps, with their class indices.
fn per_video<'a>(
    labels: &'a Labels,
    tracks: &'a Tracks,
) -> Vec<(&'a Video, Vec<(usize, &'a Track)>)> {
    let index: BTreeMap<u32, usize> = labels
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.coco_id, i))
        .collect();
    tracks
        .videos
        .iter()
        .map(|v| {
            let list = tracks
                .tracks
                .iter()
                .filter(|t| t.video == v.video)
                .filter_map(|t| Some((*index.get(&t.category_id)?, t)))
                .collect();
            (v, list)
        })
        .collect()
}

fn needs_tracks(labels: &Labels) -> Result<&Tracks> {
    labels.tracks.as_ref().ok_or_else(|| {
        Error::usage(
            "--format",
            "cvat-video and mot export tracks, which `framelabel run --track` makes: run it with --track",
        )
    })
}

/// A box in the video's pixels, inside the picture.
fn in_video(tracks: &Tracks, v: &Video, b: [f64; 4]) -> [f64; 4] {
    let [x, y, w, h] = tracks.to_source(v, b);
    let (vw, vh) = (v.size.0 as f64, v.size.1 as f64);
    let (x0, y0) = (x.clamp(0.0, vw), y.clamp(0.0, vh));
    let (x1, y1) = ((x + w).clamp(0.0, vw), (y + h).clamp(0.0, vh));
    [r2(x0), r2(y0), r2(x1 - x0), r2(y1 - y0)]
}

pub(super) fn write_cvat_video(labels: &Labels, dir: &Path) -> Result<()> {
    let tracks = needs_tracks(labels)?;
    for (v, list) in per_video(labels, tracks) {
        let folder = dir.join(&v.key);
        create_dir(&folder)?;
        let path = folder.join("annotations.xml");
        let bytes = cvat_document(labels, tracks, v, &list).map_err(|e| Error::io(&path, e))?;
        write_file(&path, &bytes)?;
    }
    Ok(())
}

fn cvat_document(
    labels: &Labels,
    tracks: &Tracks,
    v: &Video,
    list: &[(usize, &Track)],
) -> std::io::Result<Vec<u8>> {
    let name = Path::new(&v.video)
        .file_name()
        .map_or(v.key.clone(), |n| n.to_string_lossy().into_owned());
    let mut w = xml::writer();
    w.create_element("annotations").write_inner_content(|w| {
        leaf(w, "version", "1.1")?;
        w.create_element("meta").write_inner_content(|w| {
            w.create_element("task").write_inner_content(|w| {
                leaf(
                    w,
                    "name",
                    &format!("{name}: framelabel tracks ({})", labels.detector),
                )?;
                leaf(w, "size", &v.frames.to_string())?;
                leaf(w, "mode", "interpolation")?;
                leaf(w, "overlap", "0")?;
                leaf(w, "start_frame", "0")?;
                leaf(w, "stop_frame", &v.frames.saturating_sub(1).to_string())?;
                leaf(w, "frame_filter", "")?;
                super::cvat::labels_with(w, labels, &[])?;
                w.create_element("original_size").write_inner_content(|w| {
                    leaf(w, "width", &v.size.0.to_string())?;
                    leaf(w, "height", &v.size.1.to_string())
                })?;
                Ok(())
            })?;
            xml::dumped(w)?;
            leaf(w, "source", &name)
        })?;
        for (class, t) in list {
            let id = t.id.to_string();
            w.create_element("track")
                .with_attributes([
                    ("id", id.as_str()),
                    ("label", labels.classes[*class].name.as_str()),
                    ("source", "auto"),
                ])
                .write_inner_content(|w| {
                    let last = t.frames.len() - 1;
                    let mut boxes: Vec<(u64, [f64; 4], bool)> = t
                        .frames
                        .iter()
                        .zip(&t.boxes)
                        .map(|(&f, &b)| (f, in_video(tracks, v, b), false))
                        .collect();
                    // Ends after its last box, or CVAT would carry it to the end of the video.
                    if t.frames[last] + 1 < v.frames {
                        boxes.push((t.frames[last] + 1, boxes[last].1, true));
                    }
                    for (frame, [x, y, bw, bh], outside) in boxes {
                        let f = |v: f64| format!("{v:.2}");
                        w.create_element("box")
                            .with_attributes([
                                ("frame", frame.to_string().as_str()),
                                ("keyframe", "1"),
                                ("outside", if outside { "1" } else { "0" }),
                                ("occluded", "0"),
                                ("xtl", f(x).as_str()),
                                ("ytl", f(y).as_str()),
                                ("xbr", f(x + bw).as_str()),
                                ("ybr", f(y + bh).as_str()),
                                ("z_order", "0"),
                            ])
                            .write_empty()?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    })?;
    Ok(xml::finish(w))
}

/// MOT Challenge: `VIDEO/gt/gt.txt` (`frame,id,left,top,width,height,consider,class,visibility`;
/// frames and pixel positions from 1, the challenge's MATLAB convention that motmetrics undoes; every
/// box considered, fully visible; classes from 1 in `gt/labels.txt`, Datumaro's addition, which
/// reads positions as they are) and `seqinfo.ini`. The scores stay in `tracks.jsonl`: the seventh
/// column of a ground-truth file is a flag, and tools drop rows below 1.
pub(super) fn write_mot(labels: &Labels, dir: &Path) -> Result<()> {
    let tracks = needs_tracks(labels)?;
    let mut names = String::new();
    for c in &labels.classes {
        names.push_str(&c.name);
        names.push('\n');
    }
    for (v, list) in per_video(labels, tracks) {
        let gt = dir.join(&v.key).join("gt");
        create_dir(&gt)?;
        let mut rows: Vec<(u64, u64, String)> = Vec::new();
        for (class, t) in &list {
            for (&f, &b) in t.frames.iter().zip(&t.boxes) {
                let [x, y, w, h] = in_video(tracks, v, b);
                let (x, y) = (r2(x + 1.0), r2(y + 1.0));
                let line = format!("{},{},{x},{y},{w},{h},1,{},1\n", f + 1, t.id, class + 1);
                rows.push((f, t.id, line));
            }
        }
        rows.sort_by_key(|r| (r.0, r.1));
        let text: String = rows.into_iter().map(|r| r.2).collect();
        write_file(&gt.join("gt.txt"), text.as_bytes())?;
        write_file(&gt.join("labels.txt"), names.as_bytes())?;
        let mut ini = String::new();
        let _ = write!(
            ini,
            "[Sequence]\nname={}\nimDir=img1\nframeRate={}\nseqLength={}\nimWidth={}\nimHeight={}\nimExt=.jpg\n",
            v.key,
            (v.fps * 1000.0).round() / 1000.0,
            v.frames,
            v.size.0,
            v.size.1
        );
        write_file(&dir.join(&v.key).join("seqinfo.ini"), ini.as_bytes())?;
    }
    Ok(())
}
