//! From raw output tensors to boxes on the picture: each family's decoding, then class-aware NMS.
//! Boxes leave here in pixels of the picture that was fed in (not of the model input), clipped to it.

use super::{DetectorSetup, Family, Head};
use crate::runtime::Output;
use crate::runtime::preprocess::Transform;

/// One detection on a picture: corners in pixels, class index into the detector's labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class: usize,
    pub score: f32,
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
}

/// Thresholds of decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    pub confidence: f32,
    pub nms_iou: f32,
    pub max_detections: usize,
}

/// More candidates than this before NMS are cut to the best-scoring ones (a model gone wild on a
/// picture of noise must not make NMS quadratic in 8400).
const MAX_CANDIDATES: usize = 30_000;

/// Decodes picture `b` of a batch. `picture` is the (width, height) of the picture fed in.
pub fn decode(
    setup: &DetectorSetup,
    outputs: &[Output],
    b: usize,
    t: &Transform,
    picture: (u32, u32),
    p: &DecodeParams,
) -> Vec<Detection> {
    let find = |name: &str| {
        outputs
            .iter()
            .find(|o| o.name == name)
            .expect("the outputs recognised at load time are produced")
    };
    let input = setup.preprocess.input_size(picture);
    let input = (input.0 as f32, input.1 as f32);
    let mut cands = match setup.head {
        Head::Rows {
            objectness,
            transposed,
            ..
        } => {
            let out = find(&setup.outputs[0]);
            rows(
                setup.family,
                out,
                b,
                objectness,
                transposed,
                input,
                p.confidence,
            )
        }
        Head::Queries { softmax, .. } => {
            let logits = find(&setup.outputs[0]);
            let boxes = find(&setup.outputs[1]);
            queries(logits, boxes, b, softmax, setup.top_k, input, p.confidence)
        }
    };
    for d in &mut cands {
        let (x0, y0) = t.to_source(d.x0 as f64, d.y0 as f64);
        let (x1, y1) = t.to_source(d.x1 as f64, d.y1 as f64);
        (d.x0, d.y0, d.x1, d.y1) = (x0 as f32, y0 as f32, x1 as f32, y1 as f32);
    }
    let mut kept = if setup.family == Family::Detr {
        // Set prediction: one query per object, no duplicates to suppress.
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        cands.truncate(p.max_detections);
        cands
    } else {
        // As each family's own code: on the boxes as predicted (clipping comes after), YOLOX's
        // demo counting areas in whole pixels (x1 − x0 + 1), Ultralytics (torchvision) not.
        let pixel = setup.family == Family::Yolox;
        nms(cands, p.nms_iou, p.max_detections, pixel)
    };
    let (w, h) = (picture.0 as f32, picture.1 as f32);
    for d in &mut kept {
        d.x0 = d.x0.clamp(0.0, w);
        d.y0 = d.y0.clamp(0.0, h);
        d.x1 = d.x1.clamp(0.0, w);
        d.y1 = d.y1.clamp(0.0, h);
    }
    kept.retain(|d| d.width() > 0.0 && d.height() > 0.0);
    kept
}

/// Rows of `cx, cy, w, h, [objectness], scores...` (columns when `transposed`), in model-input
/// pixels; YOLOX's raw grid offsets are decoded over strides 8, 16 and 32 when the export left them raw.
fn rows(
    family: Family,
    out: &Output,
    b: usize,
    objectness: bool,
    transposed: bool,
    input: (f32, f32),
    conf: f32,
) -> Vec<Detection> {
    let (n, len) = if transposed {
        (out.shape[2], out.shape[1])
    } else {
        (out.shape[1], out.shape[2])
    };
    let data = &out.data[b * n * len..(b + 1) * n * len];
    let at = |i: usize, k: usize| {
        if transposed {
            data[k * n + i]
        } else {
            data[i * len + k]
        }
    };
    let first = if objectness { 5 } else { 4 };
    // Raw YOLOX exports give offsets within a grid cell (about −1…2); decoded ones give pixels.
    let grid = (family == Family::Yolox && (0..n).all(|i| at(i, 0).abs() < 8.0))
        .then(|| grid_cells(input, n))
        .flatten();
    let mut v = Vec::new();
    for i in 0..n {
        let obj = if objectness { at(i, 4) } else { 1.0 };
        if obj < conf {
            continue;
        }
        // Every class scoring above the threshold is a candidate (class-aware NMS follows), as in
        // YOLOX's class-aware multiclass_nms: a box may be both "car" and "truck" for review.
        let classes: Vec<(usize, f32)> = (0..len - first)
            .map(|c| (c, obj * at(i, first + c)))
            .filter(|&(_, s)| s >= conf)
            .collect();
        if classes.is_empty() {
            continue;
        }
        let (mut cx, mut cy, mut w, mut h) = (at(i, 0), at(i, 1), at(i, 2), at(i, 3));
        if let Some(cells) = &grid {
            let (gx, gy, s) = cells[i];
            cx = (cx + gx) * s;
            cy = (cy + gy) * s;
            w = w.exp() * s;
            h = h.exp() * s;
        }
        for (class, score) in classes {
            v.push(Detection {
                class,
                score,
                x0: cx - w / 2.0,
                y0: cy - h / 2.0,
                x1: cx + w / 2.0,
                y1: cy + h / 2.0,
            });
        }
    }
    v
}

/// (x, y, stride) of each anchor point for strides 8, 16, 32, row-major; `None` if `n` is not the
/// number of points of that grid.
fn grid_cells(input: (f32, f32), n: usize) -> Option<Vec<(f32, f32, f32)>> {
    let mut cells = Vec::with_capacity(n);
    for s in [8u32, 16, 32] {
        let (gw, gh) = (input.0 as u32 / s, input.1 as u32 / s);
        for y in 0..gh {
            for x in 0..gw {
                cells.push((x as f32, y as f32, s as f32));
            }
        }
    }
    (cells.len() == n).then_some(cells)
}

/// DETR-style queries: relative (cx, cy, w, h) of the model input, scored as each family's
/// `post_process_object_detection` in transformers scores them:
/// - softmax (DETR, YOLOS: a last "no object" class): softmax over every class, the no-object one
///   dropped, one label per query;
/// - sigmoid (RT-DETR, D-FINE, Deformable DETR, RF-DETR): every (query, class) pair scored alone,
///   the best `top_k` pairs kept (as many as there are queries unless the processor says
///   otherwise), so one query can carry several labels.
///
/// Either keeps a score strictly above the threshold, as transformers does. Sigmoid pairs come out
/// best first, softmax queries in query order.
fn queries(
    logits: &Output,
    boxes: &Output,
    b: usize,
    softmax: bool,
    top_k: Option<usize>,
    input: (f32, f32),
    conf: f32,
) -> Vec<Detection> {
    let (q, c) = (logits.shape[1], logits.shape[2]);
    let l = &logits.data[b * q * c..(b + 1) * q * c];
    let bx = &boxes.data[b * q * 4..(b + 1) * q * 4];
    let detection = |i: usize, class: usize, score: f32| {
        let r = &bx[i * 4..i * 4 + 4];
        let (cx, cy, w, h) = (
            r[0] * input.0,
            r[1] * input.1,
            r[2] * input.0,
            r[3] * input.1,
        );
        Detection {
            class,
            score,
            x0: cx - w / 2.0,
            y0: cy - h / 2.0,
            x1: cx + w / 2.0,
            y1: cy + h / 2.0,
        }
    };
    if softmax {
        let mut v = Vec::new();
        for i in 0..q {
            let row = &l[i * c..(i + 1) * c];
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let sum: f32 = row.iter().map(|x| (x - max).exp()).sum();
            // The first of equal maxima, as torch's max.
            let (k, best) = row[..c - 1]
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |a, (k, &x)| if x > a.1 { (k, x) } else { a });
            let score = (best - max).exp() / sum;
            if score > conf {
                v.push(detection(i, k, score));
            }
        }
        return v;
    }
    // The top k of all pairs, then the threshold: the same as the threshold first, then the top k.
    let mut pairs: Vec<(f32, usize)> = l
        .iter()
        .enumerate()
        .map(|(k, &x)| (1.0 / (1.0 + (-x).exp()), k))
        .filter(|&(s, _)| s > conf)
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    pairs.truncate(top_k.unwrap_or(q));
    pairs
        .into_iter()
        .map(|(score, k)| detection(k / c, k % c, score))
        .collect()
}

/// Intersection over union, sides counted with `pixel` added.
fn overlap(a: &Detection, b: &Detection, pixel: bool) -> f32 {
    let e = if pixel { 1.0 } else { 0.0 };
    let iw = (a.x1.min(b.x1) - a.x0.max(b.x0) + e).max(0.0);
    let ih = (a.y1.min(b.y1) - a.y0.max(b.y0) + e).max(0.0);
    let inter = iw * ih;
    let area = |d: &Detection| (d.width() + e) * (d.height() + e);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy class-aware non-maximum suppression: a box is dropped when a higher-scoring box of the same
/// class overlaps it by more than `iou`. Keeps at most `max` boxes, best first. With `pixel`, sides
/// are counted in whole pixels (x1 − x0 + 1), the convention of YOLOX's official demo.
pub fn nms(mut cands: Vec<Detection>, iou: f32, max: usize, pixel: bool) -> Vec<Detection> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(MAX_CANDIDATES);
    let mut kept: Vec<Detection> = Vec::new();
    for d in cands {
        if kept.len() >= max {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class != d.class || overlap(k, &d, pixel) <= iou)
        {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(class: usize, score: f32, x0: f32, y0: f32, x1: f32, y1: f32) -> Detection {
        Detection {
            class,
            score,
            x0,
            y0,
            x1,
            y1,
        }
    }

    #[test]
    fn nms_is_class_aware_and_capped() {
        let boxes = vec![
            d(0, 0.9, 0.0, 0.0, 10.0, 10.0),
            d(0, 0.8, 1.0, 0.0, 11.0, 10.0), // IoU 9/11 with the first: dropped
            d(1, 0.7, 1.0, 0.0, 11.0, 10.0), // other class: kept
            d(0, 0.6, 20.0, 20.0, 30.0, 30.0),
        ];
        let kept = nms(boxes.clone(), 0.45, 300, false);
        assert_eq!(
            kept.iter().map(|k| k.score).collect::<Vec<_>>(),
            [0.9, 0.7, 0.6]
        );
        assert_eq!(nms(boxes.clone(), 0.45, 2, false).len(), 2);
        let (a, b) = (
            d(0, 1.0, 0.0, 0.0, 10.0, 10.0),
            d(0, 1.0, 5.0, 0.0, 15.0, 10.0),
        );
        assert!((overlap(&a, &b, false) - 50.0 / 150.0).abs() < 1e-6);
        // Whole pixels: 6×11 shared of 11×11 each.
        assert!((overlap(&a, &b, true) - 66.0 / 176.0).abs() < 1e-6);
        // Two people side by side (vtest frame 240): IoU 0.44 as areas, 0.46 in whole pixels, so
        // YOLOX's demo drops the weaker box at 0.45 and torchvision keeps it.
        let boxes = vec![
            d(0, 0.79, 642.8, 117.9, 662.8, 180.1),
            d(0, 0.47, 650.6, 121.3, 667.8, 176.0),
        ];
        assert_eq!(nms(boxes.clone(), 0.45, 300, false).len(), 2);
        assert_eq!(nms(boxes, 0.45, 300, true).len(), 1);
    }

    #[test]
    fn yolox_grid_points_follow_strides() {
        let cells = grid_cells((416.0, 416.0), 3549).unwrap();
        assert_eq!(cells[0], (0.0, 0.0, 8.0));
        assert_eq!(cells[52 * 52], (0.0, 0.0, 16.0));
        assert_eq!(cells[3548], (12.0, 12.0, 32.0));
        assert!(grid_cells((416.0, 416.0), 3550).is_none());
    }
}
