//! The shared real models run through the runtime with framelabel's pre-processing, and their outputs
//! mean what they should on real frames.

use std::path::Path;

use framelabel::extract::decode::{BufferPool, VideoSource};
use framelabel::extract::sample::Decision;
use framelabel::runtime::preprocess::Preprocess;
use framelabel::runtime::{Model, Runtime};

use crate::common::*;

/// Decoded RGB frames of a video at the given indexes.
fn frames(video: &Path, wanted: &[u64]) -> Vec<(Vec<u8>, u32, u32)> {
    let mut out = Vec::new();
    let last = *wanted.iter().max().unwrap();
    VideoSource::open(video).unwrap().run(
        &BufferPool::new(2),
        |i, _| {
            if i > last {
                Decision::Stop
            } else if wanted.contains(&i) {
                Decision::Take
            } else {
                Decision::Skip
            }
        },
        |f| {
            out.push((f.rgb, f.width, f.height));
            true
        },
    );
    assert_eq!(out.len(), wanted.len());
    out
}

fn load(name: &str) -> Model {
    Runtime::get()
        .expect("ONNX Runtime (scripts/setup.sh installs it)")
        .load_model(&shared_model(name), 2)
        .unwrap()
}

/// Persons found by the official YOLOX decoding (strides 8/16/32, score = objectness × class,
/// threshold 0.3, greedy NMS at IoU 0.45) — written here independently of the label stage.
fn yolox_persons(model: &mut Model, rgb: &[u8], w: u32, h: u32) -> Vec<[f32; 5]> {
    let pre = Preprocess::yolox(416);
    let mut batch = Vec::new();
    pre.apply(rgb, w, h, &mut batch);
    let out = model.run(&batch, 1, 416, 416).unwrap();
    assert_eq!(out[0].shape, [1, 3549, 85]);
    let p = &out[0].data;
    let mut boxes = Vec::new();
    let mut row = 0;
    for stride in [8usize, 16, 32] {
        let n = 416 / stride;
        for gy in 0..n {
            for gx in 0..n {
                let a = &p[row * 85..(row + 1) * 85];
                row += 1;
                let score = a[4] * a[5];
                if score < 0.3 {
                    continue;
                }
                let cx = (a[0] + gx as f32) * stride as f32;
                let cy = (a[1] + gy as f32) * stride as f32;
                let (bw, bh) = (a[2].exp() * stride as f32, a[3].exp() * stride as f32);
                boxes.push([
                    cx - bw / 2.0,
                    cy - bh / 2.0,
                    cx + bw / 2.0,
                    cy + bh / 2.0,
                    score,
                ]);
            }
        }
    }
    boxes.sort_by(|a, b| b[4].total_cmp(&a[4]));
    let iou = |a: &[f32; 5], b: &[f32; 5]| {
        let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let inter = iw * ih;
        inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
    };
    let mut kept: Vec<[f32; 5]> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| iou(k, &b) < 0.45) {
            kept.push(b);
        }
    }
    kept
}

#[test]
fn yolox_nano_finds_the_pedestrians_of_the_sample_video() {
    let mut model = load("yolox_nano_coco.onnx");
    assert_eq!(model.input_size(), Some((416, 416)));
    assert!(!model.dynamic_batch());
    let mut counts = Vec::new();
    for (rgb, w, h) in frames(&vtest(), &[0, 200, 400, 600]) {
        let persons = yolox_persons(&mut model, &rgb, w, h);
        assert!(
            persons
                .iter()
                .all(|b| b[0] > -5.0 && b[2] < 421.0 && b[1] > -5.0 && b[3] < 421.0)
        );
        counts.push(persons.len());
    }
    eprintln!("persons per frame (0, 200, 400, 600): {counts:?}");
    // PROVENANCE: 4–9 persons per frame; frame 400 shows at least three people walking.
    assert!(counts.iter().all(|&n| (2..=12).contains(&n)), "{counts:?}");
    assert!(counts.iter().sum::<usize>() >= 12, "{counts:?}");
    // A black picture has no one in it.
    let black = vec![0u8; 768 * 576 * 3];
    assert!(yolox_persons(&mut model, &black, 768, 576).is_empty());
}

fn embed(model: &mut Model, pictures: &[(Vec<u8>, u32, u32)]) -> Vec<Vec<f32>> {
    let pre = Preprocess::imagenet();
    let mut batch = Vec::new();
    for (rgb, w, h) in pictures {
        pre.apply(rgb, *w, *h, &mut batch);
    }
    let out = model.run(&batch, pictures.len(), 224, 224).unwrap();
    let emb = out
        .iter()
        .find(|o| o.name == "embedding")
        .expect("an embedding output");
    assert_eq!(emb.shape, [pictures.len(), 1280]);
    emb.data
        .chunks(1280)
        .map(|v| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn mobilenet_embeddings_tell_near_duplicates_from_other_scenes() {
    let mut model = load("mobilenetv2-12-int8-emb.onnx");
    assert!(model.dynamic_batch());
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.mp4");
    make_clip(
        &other,
        "640x480",
        10,
        1.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let mut pics = frames(&vtest(), &[100, 101]);
    pics.extend(frames(&other, &[5]));
    let e = embed(&mut model, &pics);
    let (near, far) = (cosine(&e[0], &e[1]), cosine(&e[0], &e[2]));
    eprintln!("cosine: consecutive vtest frames {near}, vtest vs testsrc2 {far}");
    // PROVENANCE: consecutive vtest frames 0.94–0.99; frames of different videos 0.39–0.59.
    assert!(near > 0.93, "consecutive frames: {near}");
    assert!(far < 0.7, "different videos: {far}");
    // Batch 1 and batch 3 give the same embedding.
    let single = embed(&mut model, &pics[..1]);
    assert!(cosine(&single[0], &e[0]) > 0.9999);
}

#[test]
fn unusable_model_files_are_clear_errors() {
    let rt = Runtime::get().expect("ONNX Runtime");
    assert!(rt.library().to_string_lossy().contains("libonnxruntime"));
    let dir = tempfile::tempdir().unwrap();
    let missing = rt
        .load_model(&dir.path().join("nope.onnx"), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        missing.contains("nope.onnx") && missing.contains("no such model file"),
        "{missing}"
    );
    let text = dir.path().join("notes.onnx");
    std::fs::write(&text, "not a model").unwrap();
    let e = rt.load_model(&text, 1).err().unwrap();
    assert_eq!(e.exit_code(), framelabel::EXIT_USAGE);
    assert!(e.to_string().contains("not an ONNX model"), "{e}");
}

/// framelabel's bilinear resize gives OpenCV's `cv2.resize(INTER_LINEAR)` bytes exactly, shrinking
/// and enlarging, at the sizes the detectors use and at odd ones.
#[test]
fn linear_resize_equals_opencv_to_the_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (rgb, w, h) = frames(&vtest(), &[120]).remove(0);
    let src = dir.path().join("in.rgb");
    std::fs::write(&src, &rgb).unwrap();
    for (dw, dh) in [(640, 480), (416, 312), (333, 251), (1001, 777), (768, 300)] {
        let ours = framelabel::runtime::preprocess::resize_linear_opencv(&rgb, w, h, dw, dh);
        let out = dir.path().join(format!("{dw}x{dh}.rgb"));
        let size = [w, h, dw, dh].map(|v| v.to_string());
        let mut args = vec![src.to_str().unwrap().to_string()];
        args.extend(size);
        args.push(out.to_str().unwrap().to_string());
        run_py("cv2_resize.py", &args);
        let theirs = std::fs::read(&out).unwrap();
        assert_eq!(ours.len(), theirs.len());
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{dw}x{dh}: {differ} of {} bytes differ",
            ours.len()
        );
    }
}

/// The two letterboxes give their references' tensors exactly, and map boxes back as they do, on
/// sizes where truncating and rounding a side differ (720x528 into 416: 415.99 px wide; 700x501:
/// 297.74 px high): YOLOX's demo truncates, Ultralytics' `LetterBox` rounds.
#[test]
fn letterboxes_follow_the_yolox_demo_and_ultralytics_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (rgb, w, h) = frames(&vtest(), &[120]).remove(0);
    for (sw, sh) in [(720u32, 528u32), (700, 501)] {
        let pic = framelabel::runtime::preprocess::resize_linear_opencv(&rgb, w, h, sw, sh);
        let src = dir.path().join(format!("{sw}x{sh}.rgb"));
        std::fs::write(&src, &pic).unwrap();
        for (kind, size) in [
            ("yolox", 416u32),
            ("ultralytics", 416),
            ("ultralytics", 640),
        ] {
            let p = if kind == "yolox" {
                Preprocess::yolox(size)
            } else {
                Preprocess::yolo(size)
            };
            let mut ours = Vec::new();
            let t = p.apply(&pic, sw, sh, &mut ours);
            let out = dir.path().join(format!("{kind}{size}.f32"));
            let args = [
                kind.to_string(),
                src.to_str().unwrap().to_string(),
                sw.to_string(),
                sh.to_string(),
                size.to_string(),
                out.to_str().unwrap().to_string(),
            ];
            let geometry: serde_json::Value =
                serde_json::from_slice(&run_py("letterbox_reference.py", &args)).unwrap();
            let theirs: Vec<f32> = std::fs::read(&out)
                .unwrap()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let case = format!("{kind} {sw}x{sh} into {size}");
            assert_eq!(ours.len(), theirs.len(), "{case}");
            // Equal to float rounding: Ultralytics divides by 255 where framelabel multiplies by
            // 1/255, which can differ in the last bit; a pixel level is 0.0039 (or 1 for YOLOX).
            let differ = ours
                .iter()
                .zip(&theirs)
                .filter(|(a, b)| (*a - *b).abs() > 1e-6 * b.abs().max(1.0))
                .count();
            assert_eq!(
                differ,
                0,
                "{case}: {differ} of {} values differ",
                ours.len()
            );
            let g = |k: &str, i: usize| geometry[k][i].as_f64().unwrap();
            // A model-space point maps back to the picture as the reference maps it.
            let (mx, my) = (301.7, 203.2);
            let (x, y) = t.to_source(mx, my);
            let want = (
                (mx - g("offset", 0)) / g("scale", 0),
                (my - g("offset", 1)) / g("scale", 1),
            );
            assert!(
                (x - want.0).abs() < 1e-9 && (y - want.1).abs() < 1e-9,
                "{case}: ({x}, {y}) vs {want:?}"
            );
        }
    }
}

#[test]
fn a_model_with_large_external_weights_gets_one_session() {
    let tmp = tempfile::tempdir().unwrap();
    let runtime = Runtime::get().expect("ONNX Runtime (scripts/setup.sh installs it)");
    // 4 kB and 80 MB of weights, each behind an `.onnx` of a few hundred bytes.
    for (floats, sessions) in [(1024, 2), (20_000_000, 1)] {
        let dir = tmp.path().join(format!("m{floats}"));
        run_py(
            "external_data.py",
            &[dir.to_str().unwrap(), &floats.to_string()],
        );
        let model = dir.join("model.onnx");
        assert!(std::fs::metadata(&model).unwrap().len() < 4096);
        let weights = std::fs::metadata(dir.join("weights.bin")).unwrap().len();
        assert!(weights >= floats * 4, "{weights} bytes of weights");
        let models = runtime
            .load_sessions(&model, 2, framelabel::runtime::Device::Cpu, false)
            .unwrap();
        assert_eq!(models.len(), sessions, "{floats} floats of weights");
    }
}

/// ORT_DYLIB_PATH, when set, is the only place looked at: a wrong one is an error naming it (exit
/// 2), never a silent fall-back to another library; unset, the project's .venv is found.
#[test]
fn the_runtime_library_is_found_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let r = extract(&[&vtest()], &out, &["--every", "400", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let detector = nano();
    let args = [
        "label",
        out.to_str().unwrap(),
        "--detector",
        &detector,
        "-q",
    ];
    let missing = dir.path().join("libonnxruntime.so.9");
    let r = framelabel_env(args, &[("ORT_DYLIB_PATH", missing.to_str().unwrap())]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ORT_DYLIB_PATH=") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = framelabel_env(args, &[("ORT_DYLIB_PATH", "")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let coco = read_json(&out.join("annotations.json"));
    assert_eq!(coco["images"].as_array().unwrap().len(), 2);
}
