//! Hugging Face models fed and decoded as transformers does it, checked against what transformers
//! itself gave (`../shared/models/hf-parity/`: tiny random-weight DETR, RT-DETR and CLIP models with
//! their processors' tensors and post-processed detections on a few frames).

use std::path::{Path, PathBuf};

use framelabel::models::config::ModelConfig;
use framelabel::runtime::batch::read_rgb;
use framelabel::runtime::preprocess::Preprocess;
use serde_json::Value;

use crate::common::*;

fn fixture(p: &str) -> PathBuf {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models/hf-parity")
        .join(p);
    assert!(
        f.exists(),
        "{} is missing: the tests need the shared fixtures",
        f.display()
    );
    f
}

/// The frames every model has references for; CLIP's also have `odd_704x576`, whose centre crop
/// offset rounds.
const FRAMES: [&str; 4] = [
    "vtest_000000",
    "vtest_000265",
    "vtest_000530",
    "wide_640x360",
];
const CLIP_FRAMES: [&str; 5] = [
    "vtest_000000",
    "vtest_000265",
    "vtest_000530",
    "wide_640x360",
    "odd_704x576",
];

/// One detection of transformers' `post_process_object_detection`, its box clipped to the frame
/// as framelabel documents.
struct Reference {
    label_id: usize,
    label: String,
    score: f64,
    corners: [f64; 4],
}

/// `model`'s reference detections on `stem` at `threshold` (0.3 or 0.05), with the frame's
/// (width, height); boxes the clipping leaves empty are dropped, as framelabel drops them.
fn reference(model: &str, stem: &str, threshold: f32) -> (Vec<Reference>, (f64, f64)) {
    let r = read_json(&fixture(&format!("{model}/ref/{stem}.json")));
    let size = (
        r["target_size_hw"][1].as_f64().unwrap(),
        r["target_size_hw"][0].as_f64().unwrap(),
    );
    let list = r[&format!("threshold_{threshold}")]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b = f64s(&d["box"]);
            Reference {
                label_id: d["label_id"].as_u64().unwrap() as usize,
                label: d["label"].as_str().unwrap().to_string(),
                score: d["score"].as_f64().unwrap(),
                corners: [
                    b[0].clamp(0.0, size.0),
                    b[1].clamp(0.0, size.1),
                    b[2].clamp(0.0, size.0),
                    b[3].clamp(0.0, size.1),
                ],
            }
        })
        .filter(|d| d.corners[2] > d.corners[0] && d.corners[3] > d.corners[1])
        .collect();
    (list, size)
}

/// A float32 or uint8 `.npy` as f32 values with its shape.
fn npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().to_vec();
    let data = match f.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Uint => f
            .into_vec::<u8>()
            .unwrap()
            .into_iter()
            .map(f32::from)
            .collect(),
        _ => f.into_vec::<f32>().unwrap(),
    };
    (shape, data)
}

/// The pre-processing a Hugging Face repo's two JSON files give, on `base`.
fn hf_preprocess(
    model: &str,
    pre_file: &str,
    base: Preprocess,
    input: Option<(u32, u32)>,
) -> Preprocess {
    let config: Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{model}/config.json"))).unwrap())
            .unwrap();
    let pre: Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{model}/{pre_file}"))).unwrap())
            .unwrap();
    ModelConfig::from_hf(Some(&config), Some(&pre))
        .unwrap_or_else(|e| panic!("{model}/{pre_file}: {e}"))
        .preprocess(base, input)
        .unwrap_or_else(|e| panic!("{model}/{pre_file}: {e}"))
}

/// Compares a tensor with transformers' value by value: the share of values equal to float
/// rounding, and the largest difference in 8-bit levels before normalisation.
fn compare(ours: &[f32], want: &[f32], pre: &Preprocess, what: &str) -> f64 {
    assert_eq!(ours.len(), want.len(), "{what}: tensor size");
    let plane = ours.len() / 3;
    let mut equal = 0usize;
    let mut worst = 0f64;
    for (i, (a, b)) in ours.iter().zip(want).enumerate() {
        let levels = ((a - b).abs() * pre.std[i / plane]) as f64 * 255.0;
        worst = worst.max(levels);
        if levels < 1e-3 {
            equal += 1;
        }
    }
    let share = equal as f64 / ours.len() as f64;
    eprintln!(
        "{what}: {:.4} % of values equal, at most {worst:.4} levels off",
        share * 100.0
    );
    assert!(
        share >= 0.995,
        "{what}: only {:.3} % of values equal",
        share * 100.0
    );
    assert!(worst <= 1.0 + 1e-3, "{what}: a value is {worst} levels off");
    share
}

/// framelabel's tensor for each of `stems` against `model`'s stored `pixel_values` of `shape`.
fn stored_tensors_match(
    model: &str,
    pre: &Preprocess,
    stems: &[&str],
    shape: [u64; 4],
    what: &str,
) {
    for stem in stems {
        let (rgb, w, h) = read_rgb(&fixture(&format!("frames/{stem}.jpg"))).unwrap();
        let mut ours = Vec::new();
        pre.apply(&rgb, w, h, &mut ours);
        let (stored, want) = npy(&fixture(&format!("{model}/ref/{stem}.pixel_values.npy")));
        assert_eq!(stored, shape, "{what} {stem}");
        compare(&ours, &want, pre, &format!("{what} {stem}"));
    }
}

#[test]
fn clip_input_tensors_are_transformers_pil_processor_s() {
    for pre_file in [
        "preprocessor_config.json",
        "preprocessor_config.legacy.json",
    ] {
        let pre = hf_preprocess(
            "clip-tiny",
            pre_file,
            Preprocess::imagenet(),
            Some((224, 224)),
        );
        stored_tensors_match(
            "clip-tiny",
            &pre,
            &CLIP_FRAMES,
            [1, 3, 224, 224],
            &format!("clip {pre_file}"),
        );
    }
}

#[test]
fn rtdetr_input_tensors_are_transformers_pil_processor_s() {
    let base = Preprocess {
        fit: framelabel::runtime::preprocess::Fit::Stretch,
        ..Preprocess::imagenet()
    };
    let pre = hf_preprocess(
        "rtdetr-tiny",
        "preprocessor_config.json",
        base,
        Some((640, 640)),
    );
    assert_eq!(
        (pre.mean, pre.std),
        ([0.0; 3], [1.0; 3]),
        "do_normalize false"
    );
    stored_tensors_match("rtdetr-tiny", &pre, &FRAMES, [1, 3, 640, 640], "rt-detr");
}

/// framelabel's decoding of the stored ONNX outputs of `model` on `stem` at `threshold`, as
/// (label id, score, corners) in pixels of the frame.
fn decode_stored(
    model: &str,
    stem: &str,
    softmax: bool,
    top_k: Option<usize>,
    threshold: f32,
) -> Vec<(usize, f32, [f32; 4])> {
    use framelabel::detect::decode::{DecodeParams, decode};
    use framelabel::detect::{DetectorSetup, Family, Head};
    use framelabel::runtime::Output;
    use framelabel::runtime::preprocess::Transform;
    let reference = read_json(&fixture(&format!("{model}/ref/{stem}.json")));
    let (h, w) = (
        reference["target_size_hw"][0].as_u64().unwrap() as u32,
        reference["target_size_hw"][1].as_u64().unwrap() as u32,
    );
    let input = &reference["pixel_values_shape"];
    let (ih, iw) = (
        input[2].as_u64().unwrap() as u32,
        input[3].as_u64().unwrap() as u32,
    );
    let output = |name: &str| {
        let (shape, data) = npy(&fixture(&format!("{model}/ref/{stem}.{name}.npy")));
        Output {
            name: name.into(),
            shape: shape.iter().map(|&d| d as usize).collect(),
            data,
        }
    };
    let outputs = vec![output("logits"), output("pred_boxes")];
    let setup = DetectorSetup {
        family: Family::Detr,
        head: Head::Queries {
            logits: 0,
            boxes: 1,
            softmax,
        },
        outputs: vec!["logits".into(), "pred_boxes".into()],
        labels: Vec::new(),
        preprocess: Preprocess {
            size: (iw, ih),
            ..Preprocess::imagenet()
        },
        top_k,
    };
    let t = Transform {
        scale: (iw as f64 / w as f64, ih as f64 / h as f64),
        offset: (0.0, 0.0),
    };
    let params = DecodeParams {
        confidence: threshold,
        nms_iou: 0.45,
        max_detections: 300,
    };
    decode(&setup, &outputs, 0, &t, (w, h), &params)
        .into_iter()
        .map(|d| (d.class, d.score, [d.x0, d.y0, d.x1, d.y1]))
        .collect()
}

/// Every detection transformers' `post_process_object_detection` gave, with its box clipped to the
/// frame as framelabel documents (boxes left empty by the clipping dropped), is decoded with the
/// same label, a box within 0.01 px and a score within 1e-5, and nothing else is.
#[test]
fn detr_and_rtdetr_outputs_decode_as_transformers_post_processing() {
    for (model, softmax) in [("detr-tiny", true), ("rtdetr-tiny", false)] {
        for stem in FRAMES {
            for threshold in [0.3f32, 0.05] {
                let (mut want, _) = reference(model, stem, threshold);
                let got = decode_stored(model, stem, softmax, None, threshold);
                let what = format!("{model} {stem} at {threshold}");
                assert_eq!(got.len(), want.len(), "{what}: detections");
                for g in &got {
                    let i = want
                        .iter()
                        .position(|r| {
                            r.label_id == g.0
                                && (r.score - g.1 as f64).abs() <= 1e-5
                                && (0..4).all(|k| (r.corners[k] - g.2[k] as f64).abs() <= 0.01)
                        })
                        .unwrap_or_else(|| panic!("{what}: {g:?} is not in transformers' list"));
                    want.swap_remove(i);
                }
                eprintln!("{what}: {} detections as transformers", got.len());
            }
        }
    }
    // Deformable and Conditional DETR's processors keep the best 100 pairs: the best 100 of
    // transformers' 300 (near-ties at the cut aside).
    for stem in FRAMES {
        let (want, _) = reference("rtdetr-tiny", stem, 0.05);
        let got = decode_stored("rtdetr-tiny", stem, false, Some(100), 0.05);
        assert_eq!(got.len(), 100, "{stem}");
        let mut scores: Vec<f64> = want.iter().map(|r| r.score).collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        assert!(
            got.iter().all(|g| g.1 as f64 >= scores[100] - 1e-5),
            "{stem}"
        );
    }
}

/// The DETR processor resizes keeping the aspect ratio (shortest edge 800, longest 1333, in its
/// modern and legacy `size` forms alike): the input size follows each frame's, and the tensor is
/// the one rebuilt from the processor's stored 8-bit image by its documented rescale and normalise.
#[test]
fn detr_input_tensors_are_transformers_pil_processor_s() {
    let base = Preprocess {
        fit: framelabel::runtime::preprocess::Fit::Stretch,
        ..Preprocess::imagenet()
    };
    for pre_file in [
        "preprocessor_config.json",
        "preprocessor_config.legacy.json",
    ] {
        let pre = hf_preprocess("detr-tiny", pre_file, base, None);
        for stem in FRAMES {
            let (rgb, w, h) = read_rgb(&fixture(&format!("frames/{stem}.jpg"))).unwrap();
            let (shape, u8s) = npy(&fixture(&format!(
                "detr-tiny/ref/{stem}.pixel_values_u8.npy"
            )));
            assert_eq!(
                pre.input_size((w, h)),
                (shape[3] as u32, shape[2] as u32),
                "{pre_file} {stem}: input size"
            );
            let plane = (shape[2] * shape[3]) as usize;
            let mean = [0.485f32, 0.456, 0.406];
            let std = [0.229f32, 0.224, 0.225];
            let want: Vec<f32> = u8s
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = i / plane;
                    ((v as f64 * 0.00392156862745098) as f32 - mean[c]) / std[c]
                })
                .collect();
            let mut ours = Vec::new();
            pre.apply(&rgb, w, h, &mut ours);
            compare(&ours, &want, &pre, &format!("detr {pre_file} {stem}"));
        }
    }
}

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A dataset folder holding the fixture frames as kept frames, as `extract` would leave it.
fn frames_dataset(dir: &Path, stems: &[&str]) {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut lines = String::new();
    for (i, stem) in stems.iter().enumerate() {
        let file = format!("{stem}.jpg");
        std::fs::copy(
            fixture(&format!("frames/{file}")),
            dir.join("images").join(&file),
        )
        .unwrap();
        let (_, w, h) = read_rgb(&dir.join("images").join(&file)).unwrap();
        let record = serde_json::json!({
            "video": format!("/footage/{stem}.mp4"), "frame": i, "pts": i as f64,
            "width": w, "height": h, "sharpness": 0.1, "entropy": 0.5, "noise": 0.01,
            "brightness": 0.5, "status": "kept", "file": format!("images/{file}"),
        });
        lines.push_str(&format!("{record}\n"));
    }
    std::fs::write(dir.join("frames.jsonl"), lines).unwrap();
}

/// A Hugging Face cache (`HF_HUB_CACHE`) holding `acme/MODEL` for each fixture model, laid out as
/// `huggingface_hub` leaves it: refs/main, and the files under snapshots/COMMIT/.
fn hub_cache(dir: &Path, models: &[&str]) {
    for m in models {
        let repo = dir.join(format!("models--acme--{m}"));
        let snap = repo.join("snapshots").join(COMMIT);
        std::fs::create_dir_all(snap.join("onnx")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
        std::fs::copy(
            fixture(&format!("{m}/model.onnx")),
            snap.join("onnx/model.onnx"),
        )
        .unwrap();
        for f in ["config.json", "preprocessor_config.json"] {
            std::fs::copy(fixture(&format!("{m}/{f}")), snap.join(f)).unwrap();
        }
    }
}

/// The share of transformers' detections at 0.3 that `label` found in `dir` (same image and label,
/// box corners within 1 px after clipping, score within 1e-3), and how many `label` found.
fn share_found(dir: &Path, model: &str, stems: &[&str]) -> (f64, usize, usize) {
    let coco = read_json(&dir.join("annotations.json"));
    let names = image_names(&coco);
    let cats = id_map(&coco, "categories", "name");
    let got: Vec<(String, String, f64, [f64; 4])> = coco["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let b = f64s(&a["bbox"]);
            (
                names[&a["image_id"].as_u64().unwrap()].clone(),
                cats[&a["category_id"].as_u64().unwrap()].clone(),
                a["score"].as_f64().unwrap(),
                [b[0], b[1], b[0] + b[2], b[1] + b[3]],
            )
        })
        .collect();
    let (mut want, mut found) = (0, 0);
    for stem in stems {
        // `label` writes no box of a placeholder class ("N/A" of DETR's id list).
        for d in reference(model, stem, 0.3)
            .0
            .iter()
            .filter(|d| d.label != "N/A")
        {
            want += 1;
            let file = format!("{stem}.jpg");
            if got.iter().any(|g| {
                g.0 == file
                    && g.1 == d.label
                    && (g.2 - d.score).abs() <= 1e-3
                    && (0..4).all(|k| (g.3[k] - d.corners[k]).abs() <= 1.0)
            }) {
                found += 1;
            }
        }
    }
    (found as f64 / want.max(1) as f64, found, got.len())
}

/// End to end, offline from a Hugging Face cache and from a local file with a sidecar: `models
/// info` shows the processor's pipeline, `label` finds transformers' detections, and `dedup`'s
/// CLIP embeddings are transformers' on every frame.
#[test]
fn hub_models_run_end_to_end_as_transformers_runs_them() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    hub_cache(&hub, &["detr-tiny", "rtdetr-tiny", "clip-tiny"]);
    let env = [
        ("HF_HUB_CACHE", hub.to_str().unwrap()),
        ("FRAMELABEL_OFFLINE", "1"),
    ];

    let info = framelabel_env(["models", "info", "hf:acme/detr-tiny", "--json"], &env);
    assert_eq!(info.code, 0, "{}", info.stderr);
    let v: Value = serde_json::from_str(&info.stdout).unwrap();
    let pre = &v["detector"]["preprocess"];
    assert_eq!(
        pre["fit"],
        serde_json::json!({"kind": "keep_aspect", "shortest": 800, "longest": 1333})
    );
    assert_eq!(pre["resample"], "antialiased");
    assert_eq!(pre["size"], "per picture");
    // Where each value came from.
    let origins = &v["config_origins"];
    assert_eq!(origins["labels"], "hf:acme/detr-tiny/config.json");
    for key in [
        "resize",
        "shortest_edge",
        "longest_edge",
        "resample",
        "mean",
        "std",
        "scale",
    ] {
        assert_eq!(
            origins[key], "hf:acme/detr-tiny/preprocessor_config.json",
            "{key}"
        );
    }
    let info = framelabel_env(["models", "info", "hf:acme/rtdetr-tiny", "--json"], &env);
    let v: Value = serde_json::from_str(&info.stdout).unwrap();
    let pre = &v["detector"]["preprocess"];
    assert_eq!(pre["fit"]["kind"], "stretch");
    assert_eq!(
        (pre["mean"].clone(), pre["std"].clone()),
        (
            serde_json::json!([0.0, 0.0, 0.0]),
            serde_json::json!([1.0, 1.0, 1.0])
        )
    );

    // A local copy of the DETR model, described by a sidecar instead of the hub's files.
    let local = tmp.path().join("detr.onnx");
    std::fs::copy(fixture("detr-tiny/model.onnx"), &local).unwrap();
    let config = read_json(&fixture("detr-tiny/config.json"));
    let labels: Vec<String> = (0..91)
        .map(|i| {
            config["id2label"][i.to_string()]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let sidecar = serde_json::json!({
        "family": "detr", "resize": "keep_aspect", "shortest_edge": 800, "longest_edge": 1333,
        "resample": "antialiased", "channels": "rgb", "scale": 0.00392156862745098,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "labels": labels,
    });
    std::fs::write(tmp.path().join("detr.json"), sidecar.to_string()).unwrap();
    let info = framelabel_env(["models", "info", local.to_str().unwrap(), "--json"], &env);
    assert_eq!(info.code, 0, "{}", info.stderr);
    let v: Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(
        v["detector"]["preprocess"]["fit"],
        serde_json::json!({"kind": "keep_aspect", "shortest": 800, "longest": 1333})
    );
    let sidecar_path = tmp.path().join("detr.json");
    assert_eq!(
        v["config_origins"]["resample"],
        sidecar_path.to_str().unwrap()
    );

    for (model, spec, floor) in [
        ("detr-tiny", "hf:acme/detr-tiny".to_string(), 0.95),
        ("detr-tiny", local.to_str().unwrap().to_string(), 0.95),
        ("rtdetr-tiny", "hf:acme/rtdetr-tiny".to_string(), 0.9),
    ] {
        let dir = tmp
            .path()
            .join(format!("ds-{}", spec.replace(['/', ':', '.'], "_")));
        frames_dataset(&dir, &FRAMES);
        let r = framelabel_env(
            [
                "label",
                dir.to_str().unwrap(),
                "--detector",
                &spec,
                "--confidence",
                "0.3",
                "-q",
            ],
            &env,
        );
        assert_eq!(r.code, 0, "{spec}: {}", r.stderr);
        let (share, found, total) = share_found(&dir, model, &FRAMES);
        eprintln!(
            "{spec}: {found} of transformers' detections found ({:.1} %), {total} in all",
            share * 100.0
        );
        assert!(
            share >= floor,
            "{spec}: only {:.1} % of transformers' detections",
            share * 100.0
        );
    }

    // CLIP through dedup: every frame kept, its saved (normalised) embedding transformers'.
    let dir = tmp.path().join("clip");
    frames_dataset(&dir, &CLIP_FRAMES);
    let r = framelabel_env(
        [
            "dedup",
            dir.to_str().unwrap(),
            "--embedder",
            "hf:acme/clip-tiny",
            "--threshold",
            "0.9999",
            "--save-embeddings",
            "-q",
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ours = embeddings_of(&dir, 32);
    for stem in CLIP_FRAMES {
        let reference = read_json(&fixture(&format!("clip-tiny/ref/{stem}.json")));
        let want: Vec<f32> = reference["image_embeds_l2_normalised"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = &ours[&format!("{stem}.jpg")];
        assert_eq!(got.len(), 32, "{stem}: image_embeds is the embedding");
        let cos = dot(got, &want);
        eprintln!("clip {stem}: cosine {cos:.8}");
        assert!(cos > 0.99999, "{stem}: cosine {cos}");
    }
}
