//! What a model file does not say about itself: how pictures must be prepared, which output family it
//! speaks and what its classes are called. These come in layers — built-in knowledge of a family, then
//! the Hugging Face `config.json`/`preprocessor_config.json` of a hub repo, then a sidecar `NAME.json`,
//! then `--model-config` — each later layer overriding only the fields it sets. Unknown fields are
//! errors, so a misspelt key is caught instead of silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::preprocess::{Channels, Fit, Preprocess, Resample};

/// How pictures are fitted to the input, by name (the config file spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeKind {
    /// Keep the aspect ratio, pad right and bottom (YOLOX).
    Letterbox,
    /// Keep the aspect ratio, pad evenly on both sides (Ultralytics).
    LetterboxCentred,
    Stretch,
    /// Shorter side to `shorter`, centre crop to the input size (ImageNet, CLIP).
    ShorterSideCrop,
    /// Keep the aspect ratio: shorter side to `shortest_edge`, longer side at most about
    /// `longest_edge` (DETR); the input size follows each picture's.
    KeepAspect,
    /// No resize: the picture as it is.
    None,
}

/// Everything a config layer may set; `None` leaves the lower layer's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Output family of a detector: `yolox`, `yolo` or `detr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Input width and height, needed when the model's input size is dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_size: Option<[u32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<ResizeKind>,
    /// Letterbox fill value, 0–255.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pad: Option<u8>,
    /// Shorter side before the centre crop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shorter: Option<u32>,
    /// `keep_aspect`: the shorter side's length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortest_edge: Option<u32>,
    /// `keep_aspect`: the longest the longer side may be (transformers' rounding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longest_edge: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Channels>,
    /// `linear` (OpenCV INTER_LINEAR), `antialiased` (PIL bilinear) or `bicubic` (PIL bicubic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resample: Option<Resample>,
    /// Pixel values 0–255 are multiplied by this (1/255 for 0–1 input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<[f32; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<[f32; 3]>,
    /// Class names in the order of the model's class scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// The output holding the embedding (embedders with several outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Sigmoid DETR-style detectors: how many of the best (query, class) pairs are kept before the
    /// threshold [default: the number of queries, as RT-DETR; Deformable and Conditional DETR's
    /// processors keep 100].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
}

impl ModelConfig {
    /// `base` with what this config sets applied; `model_input` is the model's fixed (W, H), if
    /// any, and wins over a configured size that contradicts it.
    pub fn preprocess(
        &self,
        base: Preprocess,
        model_input: Option<(u32, u32)>,
    ) -> std::result::Result<Preprocess, String> {
        let mut p = base;
        if let Some([w, h]) = self.input_size {
            if w == 0 || h == 0 {
                return Err(format!("input_size {w}x{h} is empty"));
            }
            p.size = (w, h);
        }
        if let Some(fixed) = model_input {
            if self.input_size.is_some_and(|[w, h]| (w, h) != fixed)
                && self.resize != Some(ResizeKind::ShorterSideCrop)
            {
                return Err(format!(
                    "the config says input_size {:?} but the model's input is fixed at {}x{}",
                    self.input_size.unwrap_or_default(),
                    fixed.0,
                    fixed.1
                ));
            }
            p.size = fixed;
        }
        let pad = self.pad.unwrap_or(match p.fit {
            Fit::Letterbox { pad, .. } => pad,
            _ => 114,
        });
        match self.resize {
            Some(ResizeKind::Letterbox) => {
                p.fit = Fit::Letterbox {
                    pad,
                    centred: false,
                }
            }
            Some(ResizeKind::LetterboxCentred) => p.fit = Fit::Letterbox { pad, centred: true },
            Some(ResizeKind::Stretch) => p.fit = Fit::Stretch,
            Some(ResizeKind::ShorterSideCrop) => {
                let shorter = self.shorter.unwrap_or(p.size.0.min(p.size.1));
                p.fit = Fit::ShorterSideCrop { shorter };
            }
            Some(ResizeKind::KeepAspect) => {
                let shortest = self.shortest_edge.ok_or(
                    "resize keep_aspect needs shortest_edge (and optionally longest_edge)",
                )?;
                if shortest == 0 || self.longest_edge.is_some_and(|l| l < shortest) {
                    return Err(format!(
                        "keep_aspect sizes shortest_edge {shortest}, longest_edge {:?} cannot work",
                        self.longest_edge
                    ));
                }
                if let Some((w, h)) = model_input {
                    return Err(format!(
                        "resize keep_aspect gives each picture its own input size, but the model's input is fixed at {w}x{h}: use stretch or a letterbox"
                    ));
                }
                p.fit = Fit::KeepAspect {
                    shortest,
                    longest: self.longest_edge,
                };
            }
            Some(ResizeKind::None) => {
                if let Some((w, h)) = model_input {
                    return Err(format!(
                        "resize none feeds each picture at its own size, but the model's input is fixed at {w}x{h}"
                    ));
                }
                p.fit = Fit::Native;
            }
            None => {
                if let Fit::Letterbox { centred, .. } = p.fit {
                    p.fit = Fit::Letterbox { pad, centred };
                }
                if let (Fit::ShorterSideCrop { .. }, Some(shorter)) = (p.fit, self.shorter) {
                    p.fit = Fit::ShorterSideCrop { shorter };
                }
            }
        }
        if let Fit::ShorterSideCrop { shorter } = p.fit
            && shorter < p.size.0.min(p.size.1)
        {
            return Err(format!(
                "shorter side {shorter} is smaller than the {}x{} crop",
                p.size.0, p.size.1
            ));
        }
        if let Some(c) = self.channels {
            p.channels = c;
        }
        if let Some(r) = self.resample {
            p.resample = r;
        }
        if let Some(s) = self.scale {
            p.scale = s;
        }
        if let Some(m) = self.mean {
            p.mean = m;
        }
        if let Some(s) = self.std {
            if s.contains(&0.0) {
                return Err("std has a zero".into());
            }
            p.std = s;
        }
        Ok(p)
    }

    /// Reads a config file (a sidecar `NAME.json` or `--model-config`).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            message: format!(
                "not a valid model config ({e}); keys: family, input_size, resize, pad, shorter, shortest_edge, longest_edge, channels, resample, scale, mean, std, labels, output, top_k"
            ),
        })
    }

    /// `self` with every field `over` sets replaced.
    pub fn overlay(mut self, over: &ModelConfig) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f.clone(); } )* };
        }
        take!(
            family,
            input_size,
            resize,
            pad,
            shorter,
            shortest_edge,
            longest_edge,
            channels,
            resample,
            scale,
            mean,
            std,
            labels,
            output,
            top_k
        );
        self
    }

    /// The layer a Hugging Face repo's `config.json` and `preprocessor_config.json` give: every
    /// field of the image processors framelabel knows that changes the input tensor, as that
    /// processor applies it. A processor type it does not know, or a field it cannot apply, is an
    /// error naming it: a silently different tensor gives silently worse boxes.
    pub fn from_hf(
        config: Option<&serde_json::Value>,
        pre: Option<&serde_json::Value>,
    ) -> std::result::Result<Self, String> {
        let mut c = ModelConfig::default();
        if let Some(map) = config
            .and_then(|v| v.get("id2label"))
            .and_then(|v| v.as_object())
        {
            let ids: BTreeMap<usize, String> = map
                .iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                .collect();
            if let Some(&max) = ids.keys().next_back() {
                c.labels = Some(
                    (0..=max)
                        .map(|i| ids.get(&i).cloned().unwrap_or_default())
                        .collect(),
                );
            }
        }
        let Some(p) = pre else { return Ok(c) };
        let kind = p
            .get("image_processor_type")
            .or_else(|| p.get("feature_extractor_type"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        // The processors whose steps are resize, centre crop, rescale, normalise (and, for the
        // detectors, padding a batch, which one picture at a time never needs).
        let stem = kind
            .trim_end_matches("Fast")
            .trim_end_matches("Pil")
            .trim_end_matches("ImageProcessor")
            .trim_end_matches("FeatureExtractor");
        const KNOWN: [&str; 12] = [
            "Detr",
            "ConditionalDetr",
            "DeformableDetr",
            "Yolos",
            "RTDetr",
            "RTDetrV2",
            "DFine",
            "RfDetr",
            "CLIP",
            "ViT",
            "Siglip",
            "BitImage",
        ];
        if kind.is_empty() {
            return Err(
                "preprocessor_config.json names no image_processor_type, so how it prepares pictures is unknown; describe the pre-processing in a sidecar NAME.json or --model-config".into(),
            );
        }
        if !KNOWN.contains(&stem) {
            return Err(format!(
                "preprocessor_config.json: image processor '{kind}' is not one framelabel reproduces (known: {}); describe the pre-processing in a sidecar NAME.json or --model-config",
                KNOWN.map(|k| format!("{k}ImageProcessor")).join(", ")
            ));
        }
        // Their `post_process_object_detection` keeps the best 100 pairs (`top_k=100`).
        if matches!(stem, "DeformableDetr" | "ConditionalDetr") {
            c.top_k = Some(100);
        }
        let flag = |k: &str| p.get(k).and_then(|v| v.as_bool());
        for key in ["crop_pct", "size_divisor", "do_reduce_labels"] {
            if p.get(key).is_some_and(|v| !v.is_null()) {
                return Err(format!(
                    "preprocessor_config.json: '{key}' changes the input in a way framelabel does not reproduce; describe the pre-processing in --model-config"
                ));
            }
        }
        if flag("do_pad") == Some(true) && p.get("pad_size").is_some_and(|v| !v.is_null()) {
            return Err(
                "preprocessor_config.json: do_pad with a pad_size pads every picture to a fixed size, which framelabel does not reproduce".into(),
            );
        }
        let num = |v: &serde_json::Value| v.as_u64().map(|x| x as u32);
        let size = p.get("size");
        let field = |k: &str| size.and_then(|s| s.get(k)).and_then(num);
        // `size` is an int (the shorter side; with `max_size`, the legacy DETR form), or
        // {"shortest_edge"[, "longest_edge"]}, or {"height", "width"}.
        let shortest = field("shortest_edge").or_else(|| size.and_then(num));
        let longest = field("longest_edge").or_else(|| p.get("max_size").and_then(num));
        let hw = field("width").zip(field("height")).map(|(w, h)| [w, h]);
        if field("max_height").is_some() || field("max_width").is_some() {
            return Err(
                "preprocessor_config.json: size {max_height, max_width} is not a resize framelabel reproduces".into(),
            );
        }
        let crop = p.get("crop_size").and_then(|s| {
            num(s)
                .map(|n| [n, n])
                .or_else(|| Some([num(s.get("width")?)?, num(s.get("height")?)?]))
        });
        let do_crop = flag("do_center_crop").unwrap_or(crop.is_some()) && crop.is_some();
        if flag("do_resize") == Some(false) {
            c.resize = Some(ResizeKind::None);
            if do_crop {
                return Err(
                    "preprocessor_config.json: a centre crop without a resize is not a pre-processing framelabel reproduces".into(),
                );
            }
        } else if let (Some(shorter), Some(crop), true, None) = (shortest, crop, do_crop, longest) {
            c.resize = Some(ResizeKind::ShorterSideCrop);
            c.shorter = Some(shorter);
            c.input_size = Some(crop);
        } else if let Some(hw) = hw {
            c.resize = Some(ResizeKind::Stretch);
            c.input_size = Some(hw);
        } else if let Some(shortest) = shortest {
            c.resize = Some(ResizeKind::KeepAspect);
            c.shortest_edge = Some(shortest);
            c.longest_edge = longest;
        } else if size.is_some() {
            return Err(format!(
                "preprocessor_config.json: size {} is not a form framelabel knows",
                size.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
        if do_crop && c.resize != Some(ResizeKind::ShorterSideCrop) {
            return Err(
                "preprocessor_config.json: a centre crop after this resize is not a pre-processing framelabel reproduces".into(),
            );
        }
        c.channels = Some(Channels::Rgb);
        // PIL's resample codes: 2 bilinear, 3 bicubic (the processors' default is bilinear).
        c.resample = Some(match p.get("resample").and_then(|v| v.as_u64()) {
            None | Some(2) => Resample::Antialiased,
            Some(3) => Resample::Bicubic,
            Some(r) => {
                return Err(format!(
                    "preprocessor_config.json: resample {r} (PIL's code) is not bilinear (2) or bicubic (3), the filters framelabel reproduces"
                ));
            }
        });
        let rescale = flag("do_rescale").unwrap_or(true);
        c.scale = Some(if rescale {
            p.get("rescale_factor")
                .and_then(|v| v.as_f64())
                .unwrap_or(1.0 / 255.0)
        } else {
            1.0
        });
        let triple = |k: &str| -> Option<[f32; 3]> {
            let a = p.get(k)?.as_array()?;
            (a.len() == 3).then(|| {
                [
                    a[0].as_f64().unwrap_or(0.0) as f32,
                    a[1].as_f64().unwrap_or(0.0) as f32,
                    a[2].as_f64().unwrap_or(0.0) as f32,
                ]
            })
        };
        if flag("do_normalize") == Some(false) {
            // No normalisation is a choice of its own, not "leave the family's mean and std".
            c.mean = Some([0.0; 3]);
            c.std = Some([1.0; 3]);
        } else {
            c.mean = triple("image_mean");
            c.std = triple("image_std");
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clip_preprocessor_config_gives_shorter_side_crop() {
        let pre = json!({"crop_size": 224, "do_center_crop": true, "do_normalize": true,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224});
        let c = ModelConfig::from_hf(None, Some(&pre)).unwrap();
        assert_eq!(c.resize, Some(ResizeKind::ShorterSideCrop));
        assert_eq!(c.shorter, Some(224));
        assert_eq!(c.input_size, Some([224, 224]));
        assert_eq!(c.mean, Some([0.48145466, 0.4578275, 0.40821073]));
        assert!((c.scale.unwrap() - 1.0 / 255.0).abs() < 1e-9);
    }

    #[test]
    fn id2label_fills_gaps_and_overlay_keeps_unset_fields() {
        let cfg = json!({"id2label": {"0": "N/A", "1": "person", "3": "car"}});
        let pre = json!({"size": {"height": 800, "width": 800}, "do_normalize": false,
            "image_processor_type": "RTDetrImageProcessor"});
        let c = ModelConfig::from_hf(Some(&cfg), Some(&pre)).unwrap();
        assert_eq!(c.labels.as_deref().unwrap(), ["N/A", "person", "", "car"]);
        assert_eq!(c.resize, Some(ResizeKind::Stretch));
        assert_eq!(c.input_size, Some([800, 800]));
        assert_eq!((c.mean, c.std), (Some([0.0; 3]), Some([1.0; 3])));
        assert_eq!(c.top_k, None);
        let deformable = json!({"size": {"shortest_edge": 800, "longest_edge": 1333},
            "image_processor_type": "DeformableDetrImageProcessor"});
        let d = ModelConfig::from_hf(None, Some(&deformable)).unwrap();
        assert_eq!(
            (d.resize, d.top_k),
            (Some(ResizeKind::KeepAspect), Some(100))
        );
        for (bad, why) in [
            (json!({"size": 224}), "image_processor_type"),
            (
                json!({"image_processor_type": "LlavaImageProcessor"}),
                "LlavaImageProcessor",
            ),
            (
                json!({"image_processor_type": "ConvNextImageProcessor", "crop_pct": 0.875}),
                "ConvNext",
            ),
            (
                json!({"image_processor_type": "ViTImageProcessor", "resample": 1}),
                "resample 1",
            ),
        ] {
            let e = ModelConfig::from_hf(None, Some(&bad)).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let over = ModelConfig {
            pad: Some(0),
            labels: Some(vec!["a".into()]),
            ..Default::default()
        };
        let m = c.clone().overlay(&over);
        // Every key a layer sets is applied, resample included.
        let bicubic = ModelConfig {
            resample: Some(Resample::Bicubic),
            ..Default::default()
        };
        let p = c
            .clone()
            .overlay(&bicubic)
            .preprocess(Preprocess::imagenet(), None)
            .unwrap();
        assert_eq!(p.resample, Resample::Bicubic);
        assert_eq!(m.labels.as_deref().unwrap(), ["a"]);
        assert_eq!(m.pad, Some(0));
        assert_eq!(m.input_size, c.input_size);
    }
}
