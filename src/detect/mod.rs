//! Pseudo labels from COCO-pretrained detectors.
//!
//! Detector exports differ in the layout of their outputs far more than in anything else, so the
//! family is recognised from the output shapes once, when the model is loaded, and a model whose
//! outputs match no family (or whose class names do not match its class count) is refused before
//! any frame is read — never discovered as garbage boxes after an hour of inference.

pub mod decode;
pub mod label;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::models::spec::ResolvedModel;
use crate::runtime::preprocess::{Fit, Preprocess};
use crate::runtime::{Model, TensorInfo};

/// The output conventions framelabel decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Megvii YOLOX: [B, N, 5+C], objectness and class scores after sigmoid.
    Yolox,
    /// Ultralytics YOLO: [B, N, 5+C] (v5) or [B, 4+C, N] (v8, v11).
    Yolo,
    /// DETR-style `logits` [B, Q, C] and `pred_boxes` [B, Q, 4] (cx, cy, w, h relative).
    Detr,
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yolox" => Ok(Family::Yolox),
            "yolo" | "yolov5" | "yolov8" | "yolo11" | "ultralytics" => Ok(Family::Yolo),
            "detr" | "rtdetr" | "rt-detr" => Ok(Family::Detr),
            _ => Err(format!("unknown family '{s}': use yolox, yolo or detr")),
        }
    }
}

/// Where a family's numbers sit in the model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "layout", rename_all = "snake_case")]
pub enum Head {
    /// Rows of `4 box + [objectness] + C scores`; `transposed` when the rows are columns
    /// ([B, 4+C, N]).
    Rows {
        output: usize,
        objectness: bool,
        transposed: bool,
    },
    /// Query logits and relative boxes; `softmax` when the last logit is a no-object class.
    Queries {
        logits: usize,
        boxes: usize,
        softmax: bool,
    },
}

/// Anchor points of a YOLO-style grid with strides 8, 16 and 32.
fn grid_points(w: i64, h: i64) -> i64 {
    [8, 16, 32].iter().map(|s| (w / s) * (h / s)).sum()
}

/// Recognises the family and head of a detector from its outputs; returns the head and the number
/// of class scores it outputs.
pub fn recognise(
    outputs: &[TensorInfo],
    input: Option<(u32, u32)>,
    forced: Option<Family>,
) -> std::result::Result<(Family, Head, usize), String> {
    let shapes = || {
        outputs
            .iter()
            .map(|o| format!("{} {:?}", o.name, o.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rank3: Vec<(usize, &TensorInfo)> = outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_float_tensor && o.shape.len() == 3)
        .collect();
    // DETR: logits + pred_boxes (by name, else by shape).
    let by_name = |n: &str| rank3.iter().find(|(_, o)| o.name == n).map(|(i, _)| *i);
    let detr = match (by_name("logits"), by_name("pred_boxes")) {
        (Some(l), Some(b)) => Some((l, b)),
        _ if rank3.len() == 2 => {
            let (a, b) = (rank3[0], rank3[1]);
            match (a.1.shape[2], b.1.shape[2]) {
                (4, c) if c != 4 => Some((b.0, a.0)),
                (c, 4) if c != 4 => Some((a.0, b.0)),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some((l, b)) = detr
        && forced.is_none_or(|f| f == Family::Detr)
    {
        let c = outputs[l].shape[2];
        if c <= 0 || outputs[b].shape[2] != 4 {
            return Err(format!(
                "DETR-style outputs need logits [B, Q, C] and boxes [B, Q, 4]; this model has {}",
                shapes()
            ));
        }
        return Ok((
            Family::Detr,
            Head::Queries {
                logits: l,
                boxes: b,
                softmax: false,
            },
            c as usize,
        ));
    }
    let family_hint = "yolox [B, N, 5+C], yolo [B, 4+C, N] or [B, N, 5+C], detr logits [B, Q, C] + pred_boxes [B, Q, 4]";
    let [(idx, out)] = rank3.as_slice() else {
        return Err(format!(
            "its outputs ({}) match no detector family ({family_hint}); pass --family if it is one of them",
            shapes()
        ));
    };
    let (a, b) = (out.shape[1], out.shape[2]);
    let points = input.map(|(w, h)| grid_points(w as i64, h as i64));
    let rows = |objectness| Head::Rows {
        output: *idx,
        objectness,
        transposed: false,
    };
    let found = match (forced, points) {
        // Known input size: the number of rows tells the families apart.
        (None | Some(Family::Yolox), Some(p)) if a == p && b > 5 => {
            Some((Family::Yolox, rows(true), b - 5))
        }
        (Some(Family::Yolo), Some(p)) if a == p && b > 5 => Some((Family::Yolo, rows(true), b - 5)),
        (None | Some(Family::Yolo), Some(p)) if a == 3 * p && b > 5 => {
            Some((Family::Yolo, rows(true), b - 5))
        }
        (None | Some(Family::Yolo), Some(p)) if b == p && a > 4 => Some((
            Family::Yolo,
            Head::Rows {
                output: *idx,
                objectness: false,
                transposed: true,
            },
            a - 4,
        )),
        // Dynamic sizes: only with --family, by which axis is fixed.
        (Some(Family::Yolox), None) if b > 5 => Some((Family::Yolox, rows(true), b - 5)),
        (Some(Family::Yolo), None) if a > 4 && b < 0 => Some((
            Family::Yolo,
            Head::Rows {
                output: *idx,
                objectness: false,
                transposed: true,
            },
            a - 4,
        )),
        (Some(Family::Yolo), None) if b > 5 => Some((Family::Yolo, rows(true), b - 5)),
        _ => None,
    };
    found.map(|(f, h, c)| (f, h, c as usize)).ok_or_else(|| {
        let what = match forced {
            Some(f) => format!("--family {f:?}").to_lowercase(),
            None => format!("any detector family ({family_hint})"),
        };
        format!(
            "its output shapes ({}) for input {} do not match {what}",
            shapes(),
            input
                .map(|(w, h)| format!("{w}x{h}"))
                .unwrap_or_else(|| "of dynamic size".into())
        )
    })
}

/// A detector ready to run: its family, head, class names and pre-processing.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorSetup {
    pub family: Family,
    pub head: Head,
    /// The output names the head reads (rows; or logits then boxes).
    pub outputs: Vec<String>,
    /// Class names in score order.
    pub labels: Vec<String>,
    pub preprocess: Preprocess,
    /// Sigmoid DETR-style heads: the (query, class) pairs kept before the threshold (`None`: as
    /// many as there are queries).
    pub top_k: Option<usize>,
}

impl DetectorSetup {
    /// Checks a loaded model against its resolved config; every mismatch is an error naming the fix.
    pub fn new(resolved: &ResolvedModel, model: &Model, forced: Option<Family>) -> Result<Self> {
        let err = |m: String| Error::Model {
            path: resolved.file.clone(),
            message: m,
        };
        let forced = match forced {
            Some(f) => Some(f),
            None => resolved
                .config
                .family
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(err)?,
        };
        let input = model
            .input_size()
            .or(resolved.config.input_size.map(|[w, h]| (w, h)));
        let (family, mut head, classes) = recognise(model.outputs(), input, forced).map_err(err)?;
        let wrong_length = |n: usize, what: &str| {
            err(format!(
                "its config lists {n} class names ({}) but the model outputs {classes} {what}; fix \"labels\" in the sidecar NAME.json or --model-config",
                resolved.config_files.join(", ")
            ))
        };
        let labels = match (&resolved.config.labels, family, &mut head) {
            (Some(l), Family::Detr, Head::Queries { softmax, .. }) => {
                if l.len() + 1 == classes {
                    *softmax = true; // the extra last logit is "no object" (DETR, YOLOS)
                } else if l.len() != classes {
                    return Err(wrong_length(l.len(), "logits (C, or C+1 with no-object)"));
                }
                l.clone()
            }
            (Some(l), ..) if l.len() != classes => {
                return Err(wrong_length(l.len(), "class scores"));
            }
            (Some(l), ..) => l.clone(),
            (None, ..) if classes == 80 => {
                crate::coco::COCO80.iter().map(|c| c.name.into()).collect()
            }
            (None, ..) => {
                return Err(err(format!(
                    "the model outputs {classes} classes and no class names were given; list them as \"labels\" in a sidecar NAME.json or --model-config"
                )));
            }
        };
        let size = input.map(|(w, _)| w).unwrap_or(640);
        let base = match family {
            Family::Yolox => Preprocess::yolox(size),
            Family::Yolo => Preprocess::yolo(size),
            Family::Detr => Preprocess {
                fit: Fit::Stretch,
                ..Preprocess::imagenet()
            },
        };
        let mut base = base;
        if let Some((w, h)) = input {
            base.size = (w, h);
        }
        let preprocess = resolved
            .config
            .preprocess(base, model.input_size())
            .map_err(err)?;
        let name = |i: usize| model.outputs()[i].name.clone();
        let outputs = match head {
            Head::Rows { output, .. } => vec![name(output)],
            Head::Queries { logits, boxes, .. } => vec![name(logits), name(boxes)],
        };
        Ok(DetectorSetup {
            family,
            head,
            outputs,
            labels,
            preprocess,
            top_k: resolved.config.top_k,
        })
    }
}

/// A detector resolved from its spec, loaded, and set up.
pub struct Detector {
    pub resolved: ResolvedModel,
    /// Sessions of the model, run side by side ([`crate::runtime::Runtime::load_sessions`]).
    pub models: Vec<Model>,
    pub setup: DetectorSetup,
}

impl Detector {
    pub fn load(
        spec: &str,
        options: &crate::models::spec::ResolveOptions,
        threads: usize,
        device: crate::runtime::Device,
        family: Option<Family>,
        spin: bool,
    ) -> Result<Self> {
        let parsed = crate::models::spec::ModelSpec::parse("--detector", spec)?;
        let resolved = crate::models::spec::resolve(spec, &parsed, options)?;
        let runtime = crate::runtime::Runtime::get()?;
        let models = runtime.load_sessions(&resolved.file, threads, device, spin)?;
        let setup = DetectorSetup::new(&resolved, &models[0], family)?;
        Ok(Detector {
            resolved,
            models,
            setup,
        })
    }

    /// The detector as `run.json` records it.
    pub fn record(&self) -> label::ModelRecord {
        label::ModelRecord {
            spec: self.resolved.spec.clone(),
            file: self.resolved.file.clone(),
            sha256: self.resolved.sha256.clone(),
            device: self.models[0].device().to_string(),
            family: format!("{:?}", self.setup.family).to_lowercase(),
            config_files: self.resolved.config_files.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[i64]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            is_float_tensor: true,
        }
    }

    #[test]
    fn families_are_told_apart_by_shape() {
        let yolox = [t("output", &[1, 3549, 85])];
        assert_eq!(
            recognise(&yolox, Some((416, 416)), None).unwrap().0,
            Family::Yolox
        );
        let v5 = [t("output0", &[1, 25200, 85])];
        let (f, h, c) = recognise(&v5, Some((640, 640)), None).unwrap();
        assert_eq!((f, c), (Family::Yolo, 80));
        assert!(matches!(
            h,
            Head::Rows {
                objectness: true,
                transposed: false,
                ..
            }
        ));
        let v8 = [t("output0", &[1, 84, 8400])];
        let (f, h, c) = recognise(&v8, Some((640, 640)), None).unwrap();
        assert_eq!((f, c), (Family::Yolo, 80));
        assert!(matches!(
            h,
            Head::Rows {
                objectness: false,
                transposed: true,
                ..
            }
        ));
        let detr = [t("logits", &[1, 100, 92]), t("pred_boxes", &[1, 100, 4])];
        let (f, h, c) = recognise(&detr, None, None).unwrap();
        assert_eq!((f, c), (Family::Detr, 92));
        assert!(matches!(
            h,
            Head::Queries {
                logits: 0,
                boxes: 1,
                ..
            }
        ));
    }

    #[test]
    fn shapes_of_no_family_are_refused() {
        let classifier = [t("logits", &[1, 1000])];
        let e = recognise(&classifier, Some((224, 224)), None).unwrap_err();
        assert!(e.contains("match no detector family"), "{e}");
        let odd = [t("out", &[1, 1234, 85])];
        let e = recognise(&odd, Some((640, 640)), None).unwrap_err();
        assert!(e.contains("do not match any detector family"), "{e}");
        let e = recognise(&odd, Some((640, 640)), Some(Family::Yolox)).unwrap_err();
        assert!(e.contains("--family yolox"), "{e}");
    }
}
