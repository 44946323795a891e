//! The report's pictures: charts as PNG and boxes drawn on frames, with plotters on plain RGB
//! buffers. Text uses the DejaVu Sans font built into the binary, so a report looks the same on a
//! server without fonts as on a desktop.

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Histogram, Plot, Summary};
use crate::dataset::write_atomic;
use crate::error::{Error, Result};
use crate::export::{BoxLabel, Class, Labels, Suggestion, class_colour};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = std::result::Result<(), Box<dyn StdError>>;

const FONT: &str = "sans-serif";
const BAR: RGBColor = RGBColor(70, 110, 190);
const LINES: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Both are valid TrueType files shipped in the `dejavu` crate: registering cannot fail.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Draws on a white `w`×`h` canvas and writes it as a PNG.
fn chart(path: &Path, (w, h): (u32, u32), draw: impl FnOnce(&Area) -> DrawResult) -> Result<()> {
    register_font();
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|e| Error::output(path, format!("cannot draw the chart: {e}")))?;
    }
    write_png(path, &rgb, w, h)
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<()> {
    let mut bytes = Vec::new();
    let err = |e: png::EncodingError| Error::output(path, format!("cannot encode the PNG: {e}"));
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // The fast deflate: charts twice the bytes (300 kB for the sample's 15), but the charts are
        // drawn on one core while the previews take the other, and the default deflate made them
        // the report's longest part (0.6 s of wall time down to 0.3 s on the sample).
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    write_atomic(path, &bytes)
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Writes every chart of the report into `out/plots/` and lists them in `summary.plots`.
pub fn plots(out: &Path, summary: &mut Summary, labels: Option<&Labels>) -> Result<()> {
    let dir = out.join("plots");
    let mut plots = Vec::new();
    let mut add = |file: String, title: String| plots.push(Plot { file, title });

    let with_boxes: Vec<(String, u64, [u8; 3])> = labels
        .map(|l| {
            summary
                .classes
                .iter()
                .filter(|c| c.boxes > 0)
                .map(|c| {
                    let index = l
                        .classes
                        .iter()
                        .position(|k| k.coco_id == c.id)
                        .unwrap_or(0);
                    (c.name.clone(), c.boxes, class_colour(index))
                })
                .collect()
        })
        .unwrap_or_default();
    if !with_boxes.is_empty() {
        class_bars(&dir.join("boxes_per_class.png"), &with_boxes)?;
        add("plots/boxes_per_class.png".into(), "Boxes per class".into());
    }
    for h in &summary.histograms {
        let file = format!("{}.png", h.name.replace(' ', "_"));
        let (title, x, y) = match h.name.as_str() {
            "score" => ("Box scores", "score", "boxes"),
            "box size" => ("Box sizes", "√(box area) in pixels", "boxes"),
            "sharpness" => ("Sharpness of sampled frames", "sharpness", "frames"),
            "entropy" => ("Entropy of sampled frames", "entropy", "frames"),
            "noise" => ("Noise of sampled frames", "noise", "frames"),
            "change" => (
                "Change from the last frame that passed the still-frame gate",
                "change (mean |difference| of 64×36 grey thumbnails / 255)",
                "frames",
            ),
            _ => ("Brightness of sampled frames", "brightness", "frames"),
        };
        histogram(&dir.join(&file), title, x, y, h)?;
        add(format!("plots/{file}"), title.into());
    }
    if let Some(c) = &summary.curves.dedup
        && !c.points.is_empty()
    {
        let title = if c.source == "similarities" {
            "Frames kept by dedup at each threshold (estimate)"
        } else if c.source.contains("estimated") {
            "Frames kept by dedup at each threshold (estimated at the high ones)"
        } else {
            "Frames kept by dedup at each threshold"
        };
        curves(
            &dir.join("dedup_threshold.png"),
            title,
            "--threshold (cosine similarity)",
            "frames kept",
            &[(
                "kept frames",
                c.points.iter().map(|&(t, n)| (t, n as f64)).collect(),
            )],
            Some(("used", c.threshold)),
        )?;
        add("plots/dedup_threshold.png".into(), title.into());
    }
    if let Some(c) = &summary.curves.confidence {
        let series = |f: fn(&super::ConfidencePoint) -> u64| -> Vec<(f64, f64)> {
            c.points
                .iter()
                .map(|p| (p.threshold, f(p) as f64))
                .collect()
        };
        curves(
            &dir.join("confidence_threshold.png"),
            "Boxes and images at each confidence threshold",
            "--confidence",
            "count",
            &[
                ("detections (before filters)", series(|p| p.detections)),
                ("boxes (after filters)", series(|p| p.boxes)),
                ("images with boxes", series(|p| p.images)),
            ],
            Some(("used", c.threshold)),
        )?;
        add(
            "plots/confidence_threshold.png".into(),
            "Boxes and images at each confidence threshold".into(),
        );
    }
    if let Some(l) = labels {
        let names: Vec<&str> = with_boxes.iter().map(|c| c.0.as_str()).collect();
        for name in names.into_iter().take(super::HEATMAP_CLASSES) {
            let Some(class) = l.classes.iter().position(|c| c.name == name) else {
                continue;
            };
            let g = super::HEATMAP_GRID;
            let mut grid = vec![0u64; g * g];
            for im in &l.images {
                for b in im.boxes.iter().filter(|b| b.class == class) {
                    let cx = (b.x + b.w / 2.0) / im.width.max(1) as f64;
                    let cy = (b.y + b.h / 2.0) / im.height.max(1) as f64;
                    let i = ((cx * g as f64) as usize).min(g - 1);
                    let j = ((cy * g as f64) as usize).min(g - 1);
                    grid[j * g + i] += 1;
                }
            }
            let file = format!("heatmap_{}.png", file_safe(name));
            let title = format!("Box centres: {name} (colour: √count)");
            heatmap(&dir.join(&file), &title, &grid, g)?;
            if let Some(c) = summary.classes.iter_mut().find(|c| c.name == name) {
                c.heatmap = Some(format!("plots/{file}"));
            }
            add(format!("plots/{file}"), title);
        }
    }
    summary.plots = plots;
    Ok(())
}

/// A class name as a file name part ("traffic light" → "traffic-light").
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn histogram(path: &Path, title: &str, x_desc: &str, y_desc: &str, h: &Histogram) -> Result<()> {
    chart(path, (640, 360), |root| {
        root.fill(&WHITE)?;
        let top = h.counts.iter().copied().max().unwrap_or(0).max(1);
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(h.lo..h.hi, 0u64..top + top / 10 + 1)?;
        c.configure_mesh()
            .disable_x_mesh()
            .max_light_lines(2)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 12))
            .draw()?;
        let width = (h.hi - h.lo) / h.counts.len() as f64;
        c.draw_series(h.counts.iter().enumerate().map(|(i, &n)| {
            let x = h.lo + i as f64 * width;
            let mut r = Rectangle::new([(x, 0), (x + width, n)], BAR.filled());
            r.set_margin(0, 0, 1, 1);
            r
        }))?;
        for (k, (name, x)) in h.thresholds.iter().enumerate() {
            let x = x.clamp(h.lo, h.hi);
            let line = LINES[k % LINES.len()].stroke_width(2);
            mark(&mut c, name, x, (0, top + top / 10), line)?;
        }
        if !h.thresholds.is_empty() {
            legend(&mut c)?;
        }
        Ok(())
    })
}

type Chart<'a, 'b, Y> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// A vertical line at threshold `x` from `y.0` to `y.1`, named in the legend with its value.
fn mark<Y: Ranged>(
    c: &mut Chart<'_, '_, Y>,
    name: &str,
    x: f64,
    y: (Y::ValueType, Y::ValueType),
    style: ShapeStyle,
) -> DrawResult
where
    Y::ValueType: Clone + 'static,
{
    c.draw_series(LineSeries::new([(x, y.0), (x, y.1)], style))?
        .label(format!("{name} {}", super::html::num(x)))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
    Ok(())
}

fn legend<'a, 'b: 'a, Y: Ranged>(c: &mut Chart<'a, 'b, Y>) -> DrawResult {
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

fn class_bars(path: &Path, classes: &[(String, u64, [u8; 3])]) -> Result<()> {
    let n = classes.len();
    let h = 90 + 26 * n as u32;
    chart(path, (640, h), |root| {
        root.fill(&WHITE)?;
        let top = classes.iter().map(|c| c.1).max().unwrap_or(0).max(1);
        // The largest class at the top.
        let row = |i: usize| n - 1 - i;
        let mut c = ChartBuilder::on(root)
            .caption("Boxes per class", (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(130)
            .build_cartesian_2d(0u64..top + top / 8 + 1, (0..n - 1).into_segmented())?;
        c.configure_mesh()
            .disable_y_mesh()
            .max_light_lines(2)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) if *r < n => classes[row(*r)].0.clone(),
                _ => String::new(),
            })
            .x_desc("boxes")
            .label_style((FONT, 12))
            .draw()?;
        c.draw_series(classes.iter().enumerate().map(|(i, (_, count, colour))| {
            let r = row(i);
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(r)),
                    (*count, SegmentValue::Exact(r + 1)),
                ],
                rgb(*colour).filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        c.draw_series(classes.iter().enumerate().map(|(i, (_, count, _))| {
            Text::new(
                count.to_string(),
                (*count, SegmentValue::CenterOf(row(i))),
                (FONT, 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
        Ok(())
    })
}

fn curves(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    used: Option<(&str, f64)>,
) -> Result<()> {
    chart(path, (640, 360), |root| {
        root.fill(&WHITE)?;
        let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
        let lo = xs.clone().fold(f64::INFINITY, f64::min);
        let hi = xs.fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() && hi > lo {
            (lo, hi)
        } else {
            (0.0, 1.0)
        };
        let top = series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .fold(1.0, f64::max);
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0f64..top * 1.1)?;
        c.configure_mesh()
            .max_light_lines(2)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&|v| super::html::num(v.round()))
            .label_style((FONT, 12))
            .draw()?;
        for (k, (name, points)) in series.iter().enumerate() {
            let colour = [BAR, LINES[0], LINES[2]][k % 3];
            c.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
            c.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        if let Some((name, x)) = used {
            let grey = RGBColor(90, 90, 90).stroke_width(1);
            mark(&mut c, name, x, (0.0, top * 1.1), grey)?;
        }
        legend(&mut c)?;
        Ok(())
    })
}

fn heatmap(path: &Path, title: &str, grid: &[u64], g: usize) -> Result<()> {
    chart(path, (360, 330), |root| {
        root.fill(&WHITE)?;
        let top = grid.iter().copied().max().unwrap_or(0).max(1) as f64;
        // Image coordinates: y grows downwards, as in the frames.
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(36)
            .build_cartesian_2d(0f64..1f64, 1f64..0f64)?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(5)
            .y_labels(5)
            .label_style((FONT, 11))
            .draw()?;
        let cell = 1.0 / g as f64;
        c.draw_series((0..g * g).map(|k| {
            let (i, j) = ((k % g) as f64, (k / g) as f64);
            // Square root: one spot that has a box in every frame does not hide the rest.
            let v = (grid[k] as f64 / top).sqrt();
            let colour = if grid[k] == 0 {
                RGBColor(245, 245, 245)
            } else {
                ViridisRGB.get_color(v)
            };
            Rectangle::new(
                [(i * cell, j * cell), ((i + 1.0) * cell, (j + 1.0) * cell)],
                colour.filled(),
            )
        }))?;
        Ok(())
    })
}

/// A box's top-left and bottom-right corners, in pixels.
type Corners = ((i32, i32), (i32, i32));

/// Where each box's label goes (its top-left corner), given the box and the label's size, in the
/// order the labels are drawn (the last on top). People walking side by side have boxes that touch,
/// and labels all set above their boxes' left edges covered each other's names and scores. So each
/// label takes the first place next to its box that is clear of the labels placed before it (above
/// the box, at its left or right end; inside its top; below it; inside its bottom), or, in a crowd,
/// the one it covers least of. The last drawn, the most confident, choose first. Every label stays
/// within the picture.
fn place_labels(spots: &[(Corners, (i32, i32))], (w, h): (i32, i32)) -> Vec<(i32, i32)> {
    let mut at = vec![(0, 0); spots.len()];
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::with_capacity(spots.len());
    for (i, &(((x0, y0), (x1, y1)), (tw, th))) in spots.iter().enumerate().rev() {
        let candidates = [
            (x0, y0 - th),
            (x1 - tw, y0 - th),
            (x0, y0),
            (x1 - tw, y0),
            (x0, y1),
            (x0, y1 - th),
        ];
        let covered = |(x, y): (i32, i32)| -> i64 {
            placed
                .iter()
                .map(|&(px, py, pw, ph)| {
                    let dx = (x + tw).min(px + pw) - x.max(px);
                    let dy = (y + th).min(py + ph) - y.max(py);
                    if dx > 0 && dy > 0 {
                        dx as i64 * dy as i64
                    } else {
                        0
                    }
                })
                .sum()
        };
        let within =
            |(x, y): (i32, i32)| (x.clamp(0, (w - tw).max(0)), y.clamp(0, (h - th).max(0)));
        let mut best = (i64::MAX, (0, 0));
        for c in candidates.map(within) {
            let cover = covered(c);
            if cover < best.0 {
                best = (cover, c);
            }
            if cover == 0 {
                break;
            }
        }
        at[i] = best.1;
        placed.push((best.1.0, best.1.1, tw, th));
    }
    at
}

/// The frame drawn around a box the review flagged, outside its class colour.
const FLAG: [u8; 3] = [255, 0, 80];

/// What one label of a picture says and where its box is.
struct Mark {
    class: usize,
    corners: Corners,
    text: String,
    /// A flagged detection (drawn inside a red frame) or a suggestion (dashed, never solid).
    flagged: bool,
    suggested: bool,
}

/// Draws `boxes` with their class names and scores on the JPEG `src` and writes it to `dst`. Boxes
/// the review flagged get a red frame and their reasons; `suggestions` (boxes a track expects) are
/// dashed and marked `missed?`, so no one takes them for detections.
pub fn annotate(
    src: &Path,
    dst: &Path,
    boxes: &[BoxLabel],
    suggestions: &[Suggestion],
    classes: &[Class],
) -> Result<()> {
    register_font();
    let bytes = std::fs::read(src).map_err(|e| Error::io(src, e))?;
    let err = |e: turbojpeg::Error| Error::Image {
        context: src.display().to_string(),
        message: e.to_string(),
    };
    let img = turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB).map_err(err)?;
    let (w, h) = (img.width, img.height);
    let mut pixels = img.pixels;
    let corners = |x: f64, y: f64, bw: f64, bh: f64| -> Corners {
        (
            (x.round() as i32, y.round() as i32),
            ((x + bw).round() as i32, (y + bh).round() as i32),
        )
    };
    let name = |c: usize| classes.get(c).map_or("?", |c| c.name.as_str());
    let mut order: Vec<&BoxLabel> = boxes.iter().collect();
    // The most confident boxes drawn last, on top.
    order.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut items: Vec<Mark> = suggestions
        .iter()
        .filter_map(|s| {
            Some(Mark {
                class: s.class?,
                corners: corners(s.x, s.y, s.w, s.h),
                text: format!("missed? {} #{}", name(s.class?), s.track_id),
                flagged: false,
                suggested: true,
            })
        })
        .collect();
    items.extend(order.iter().map(|b| {
        let mut text = format!("{} {:.2}", name(b.class), b.score);
        if !b.reasons.is_empty() {
            text = format!("{text} {}", b.reasons.join(" "));
        }
        Mark {
            class: b.class,
            corners: corners(b.x, b.y, b.w, b.h),
            text,
            flagged: !b.reasons.is_empty(),
            suggested: false,
        }
    }));
    let thick = (h as u32 / 240).clamp(2, 5);
    let size = (h as f64 / 34.0).clamp(12.0, 26.0);
    let drawn = (|| -> DrawResult {
        let root =
            BitMapBackend::with_buffer(&mut pixels, (w as u32, h as u32)).into_drawing_area();
        for it in &items {
            let colour = rgb(class_colour(it.class));
            let (p0, p1) = it.corners;
            if it.suggested {
                dashed(&root, it.corners, WHITE.stroke_width(thick))?;
                continue;
            }
            if it.flagged {
                let t = thick as i32;
                let (q0, q1) = ((p0.0 - 2 * t, p0.1 - 2 * t), (p1.0 + 2 * t, p1.1 + 2 * t));
                root.draw(&Rectangle::new([q0, q1], rgb(FLAG).stroke_width(thick)))?;
            }
            root.draw(&Rectangle::new([p0, p1], colour.stroke_width(thick)))?;
        }
        let font = (FONT, size).into_font();
        let mut texts = Vec::with_capacity(items.len());
        for it in &items {
            let (tw, th) = root.estimate_text_size(&it.text, &TextStyle::from(font.clone()))?;
            texts.push((tw as i32 + 6, th as i32 + 4));
        }
        let spots: Vec<(Corners, (i32, i32))> = items
            .iter()
            .zip(&texts)
            .map(|(it, size)| (it.corners, *size))
            .collect();
        let at = place_labels(&spots, (w as i32, h as i32));
        for ((it, (tw, th)), &(x, y)) in items.iter().zip(texts).zip(&at) {
            let [r, g, bl] = match (it.flagged, it.suggested) {
                (true, _) => FLAG,
                (_, true) => [255, 255, 255],
                _ => class_colour(it.class),
            };
            root.draw(&Rectangle::new(
                [(x, y), (x + tw, y + th)],
                rgb([r, g, bl]).filled(),
            ))?;
            let luma = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * bl as f64;
            let ink = if luma > 140.0 { BLACK } else { WHITE };
            root.draw(&Text::new(
                it.text.clone(),
                (x + 3, y + 2),
                font.color(&ink),
            ))?;
        }
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| Error::Image {
        context: src.display().to_string(),
        message: format!("cannot draw the boxes: {e}"),
    })?;
    let image = turbojpeg::Image {
        pixels: pixels.as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2).map_err(err)?;
    write_atomic(dst, &jpeg)
}

/// A rectangle of dashes: a box the picture does not show but a track expects.
fn dashed<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    ((x0, y0), (x1, y1)): Corners,
    style: ShapeStyle,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (dash, gap) = (8, 6);
    let edges = [
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ];
    for ((ax, ay), (bx, by)) in edges {
        let len = (bx - ax).abs().max((by - ay).abs()).max(1);
        let (dx, dy) = ((bx - ax).signum(), (by - ay).signum());
        let mut t = 0;
        while t < len {
            let e = (t + dash).min(len);
            root.draw(&PathElement::new(
                [(ax + dx * t, ay + dy * t), (ax + dx * e, ay + dy * e)],
                style,
            ))?;
            t = e + gap;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: ((i32, i32), (i32, i32)), b: ((i32, i32), (i32, i32))) -> bool {
        let ((ax, ay), (aw, ah)) = a;
        let ((bx, by), (bw, bh)) = b;
        ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah
    }

    #[test]
    fn labels_of_boxes_side_by_side_do_not_cover_each_other() {
        // Three people walking abreast (boxes touching), labels wider than the boxes, and one box
        // at the picture's top-left corner, where the label cannot go above it.
        let size = (96, 21);
        let spots = [
            (((300, 200), (340, 300)), size),
            (((336, 204), (376, 302)), size),
            (((372, 198), (410, 298)), size),
            (((0, 0), (50, 120)), size),
        ];
        let at = place_labels(&spots, (768, 576));
        for (i, &a) in at.iter().enumerate() {
            let (x, y) = a;
            assert!(
                x >= 0 && y >= 0 && x + size.0 <= 768 && y + size.1 <= 576,
                "{a:?}"
            );
            for &b in &at[i + 1..] {
                assert!(
                    !overlap((a, size), (b, size)),
                    "{a:?} covers {b:?} in {at:?}"
                );
            }
            // Each label touches its own box (above, inside or below it).
            let (((x0, y0), (x1, y1)), _) = spots[i];
            assert!(
                x + size.0 > x0 && x < x1 && y + size.1 >= y0 && y <= y1,
                "{a:?}"
            );
        }
        // The most confident (drawn last) keeps the usual place, above its box at the left.
        assert_eq!(at[2], (372, 198 - 21));
        // A single box keeps it too, or its top inside when there is no room above.
        assert_eq!(place_labels(&spots[..1], (768, 576)), vec![(300, 179)]);
        assert_eq!(place_labels(&spots[3..], (768, 576)), vec![(0, 0)]);
    }

    #[test]
    fn a_crowd_spreads_its_labels_over_the_places_that_cover_least() {
        // More labels than free places: none is dropped, each is inside the picture, and the
        // covering is less than with every label in the same place.
        let size = (90, 20);
        let spots: Vec<_> = (0..8)
            .map(|k| (((200 + 4 * k, 100), (240 + 4 * k, 200)), size))
            .collect();
        let at = place_labels(&spots, (640, 480));
        assert_eq!(at.len(), 8);
        let pairs = |at: &[(i32, i32)]| {
            let mut n = 0;
            for (i, &a) in at.iter().enumerate() {
                n += at[i + 1..]
                    .iter()
                    .filter(|&&b| overlap((a, size), (b, size)))
                    .count();
            }
            n
        };
        let naive: Vec<_> = spots.iter().map(|&(((x, y), _), s)| (x, y - s.1)).collect();
        assert_eq!(pairs(&naive), 28);
        assert!(pairs(&at) < 28 / 2, "{at:?}");
    }
}
