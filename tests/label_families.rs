//! The YOLO (v5, v8) and DETR (softmax, sigmoid) decoders, value by value, on tiny ONNX detectors
//! the test builds with the `onnx` package: their outputs are constants chosen to exercise the
//! threshold, class-aware NMS, clipping and each family's coordinate convention.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// (category name, score, bbox) of every annotation of image 1.
fn first_image_boxes(dir: &Path) -> Vec<(String, f64, [f64; 4])> {
    let coco = read_json(&dir.join("annotations.json"));
    let names = id_map(&coco, "categories", "name");
    let mut v: Vec<(String, f64, [f64; 4])> = coco["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["image_id"] == 1)
        .map(|a| {
            let b: Vec<f64> = a["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            (
                names[&a["category_id"].as_u64().unwrap()].clone(),
                a["score"].as_f64().unwrap(),
                [b[0], b[1], b[2], b[3]],
            )
        })
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// A box as the tests state it: class name, score, COCO bbox.
type Expected<'a> = (&'a str, f64, [f64; 4]);

fn assert_boxes(got: &[(String, f64, [f64; 4])], want: &[Expected], model: &str) {
    assert_eq!(got.len(), want.len(), "{model}: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "{model}: {got:?}");
        assert!(
            (g.1 - w.1).abs() < 1e-4,
            "{model}: score {} vs {}",
            g.1,
            w.1
        );
        for k in 0..4 {
            assert!(
                (g.2[k] - w.2[k]).abs() <= 0.011,
                "{model}: bbox {:?} vs {:?}",
                g.2,
                w.2
            );
        }
    }
}

#[test]
fn yolo_and_detr_outputs_decode_to_the_known_boxes() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    run_py("make_detectors.py", &[&models]);
    let clip = tmp.path().join("clip.mp4");
    make_clip(&clip, "128x96", 5, 1.0, &["-c:v", "mpeg4", "-q:v", "2"]);

    // 128x96 letterboxed centred into 64x64: scale 0.5, 8 rows of padding on top.
    let cases: [(&str, Vec<Expected>); 4] = [
        ("yolov8", cases_v8()),
        ("yolov5", vec![("dog", 0.4, [44.0, 38.0, 40.0, 20.0])]),
        // Stretched to 64x64: relative boxes scale to 128x96 directly.
        (
            "detr",
            vec![(
                "dog",
                5f64.exp() / (5f64.exp() + 3.0),
                [48.0, 24.0, 32.0, 48.0],
            )],
        ),
        (
            "rtdetr",
            vec![("bird", 1.0 / (1.0 + (-2f64).exp()), [0.0, 48.0, 64.0, 48.0])],
        ),
    ];
    for (name, want) in cases {
        let dir = tmp.path().join(name);
        let r = extract(&[&clip], &dir, &["--quiet"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let model = models.join(format!("{name}.onnx"));
        let r = framelabel([
            "label",
            dir.to_str().unwrap(),
            "--detector",
            model.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let s: Value = serde_json::from_str(&r.stdout).unwrap();
        assert!(s["images"].as_u64().unwrap() >= 1, "{name}: {s}");
        let family = if name.contains("detr") {
            "detr"
        } else {
            "yolo"
        };
        assert_eq!(s["detector"]["family"], family);
        assert_boxes(&first_image_boxes(&dir), &want, name);
        let coco = read_json(&dir.join("annotations.json"));
        let cats: Vec<&str> = coco["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cats, ["cat", "dog", "bird"]);
        assert_eq!(coco["categories"][0]["id"], 1);
    }

    // A batch axis left dynamic: frames go through in batches of 4 (and a last short one), and
    // every picture of a batch gets its own boxes.
    let dir = tmp.path().join("batch");
    let r = extract(&[&clip], &dir, &["--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let model = models.join("yolov8_batch.onnx");
    let r = framelabel([
        "label",
        dir.to_str().unwrap(),
        "--detector",
        model.to_str().unwrap(),
        "--batch-size",
        "4",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    let images = s["images"].as_u64().unwrap();
    assert!(images >= 5, "{s}");
    assert_eq!(s["annotations"].as_u64().unwrap(), 3 * images);
    assert_boxes(&first_image_boxes(&dir), &cases_v8(), "yolov8_batch");
}

/// What the YOLOv8 graph's constant outputs decode to on a 128x96 picture.
fn cases_v8() -> Vec<Expected<'static>> {
    vec![
        ("dog", 0.9, [44.0, 38.0, 40.0, 20.0]),
        ("bird", 0.7, [46.0, 38.0, 40.0, 20.0]),
        ("cat", 0.5, [90.0, 34.0, 38.0, 60.0]),
    ]
}
