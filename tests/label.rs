//! `framelabel label` on real frames of the sample video with the real YOLOX-Nano: boxes checked
//! against an independent implementation of the official YOLOX demo (OpenCV + NumPy + onnxruntime),
//! the COCO files loaded by pycocotools, filters, --refilter, --drop-empty and bad input.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Runs `framelabel label DIR --detector <yolox nano> EXTRA... --json`.
fn label(dir: &Path, extra: &[&str]) -> Run {
    let n = nano();
    let mut a = vec!["label", dir.to_str().unwrap(), "--detector", &n, "--json"];
    a.extend_from_slice(extra);
    framelabel(a)
}

/// Frames 0, 40, 80, ... of the sample video, extracted at source size.
fn dataset(dir: &Path) {
    let r = extract(&[&vtest()], dir, &["--every", "40", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Boxes per file name from annotations.json: [x0, y0, x1, y1, score, class index].
fn boxes_by_file(coco: &Value) -> std::collections::HashMap<String, Vec<[f64; 6]>> {
    let cats: Vec<u64> = coco["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    let names = image_names(coco);
    let mut out: std::collections::HashMap<String, Vec<[f64; 6]>> = Default::default();
    for a in coco["annotations"].as_array().unwrap() {
        let b = f64s(&a["bbox"]);
        let class = cats
            .iter()
            .position(|&c| c == a["category_id"].as_u64().unwrap())
            .unwrap();
        out.entry(names[&a["image_id"].as_u64().unwrap()].clone())
            .or_default()
            .push([
                b[0],
                b[1],
                b[0] + b[2],
                b[1] + b[3],
                a["score"].as_f64().unwrap(),
                class as f64,
            ]);
    }
    out
}

fn iou(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn yolox_boxes_match_the_official_demo_and_coco_tools_load_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    dataset(&dir);
    let r = label(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["images"], 20);

    // The reference: the official demo's pre-processing, decoding and class-aware NMS in Python.
    let jpegs: Vec<String> = jpegs(&dir.join("images"))
        .iter()
        .map(|f| dir.join("images").join(f).to_str().unwrap().to_string())
        .collect();
    let mut args = vec![nano(), "0.3".into(), "0.45".into()];
    args.extend(jpegs);
    let reference: Value = serde_json::from_slice(&run_py("yolox_reference.py", &args)).unwrap();
    let coco = read_json(&dir.join("annotations.json"));
    let ours = boxes_by_file(&coco);
    let mut checked = 0;
    for (path, rb) in reference.as_object().unwrap() {
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        let rb: Vec<[f64; 6]> = rb
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let v: Vec<f64> = b
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                [v[0], v[1], v[2], v[3], v[4], v[5]]
            })
            .collect();
        let ob = ours.get(name).cloned().unwrap_or_default();
        for (side, a, others) in [("reference", &rb, &ob), ("framelabel", &ob, &rb)] {
            for x in a.iter().filter(|x| x[4] >= 0.35) {
                checked += 1;
                let partner = others
                    .iter()
                    .filter(|y| y[5] == x[5])
                    .find(|y| iou(x, y) >= 0.95 && (x[4] - y[4]).abs() <= 0.02);
                assert!(
                    partner.is_some(),
                    "{side} box {x:?} in {name} has no partner in {others:?}"
                );
            }
        }
    }
    assert!(checked >= 300, "only {checked} boxes compared");

    // The COCO files: official ids, boxes inside the image, ids from 1, what pycocotools reads.
    let images = coco["images"].as_array().unwrap();
    assert_eq!(images[0]["id"], 1);
    assert_eq!(
        (images[0]["width"].as_u64(), images[0]["height"].as_u64()),
        (Some(768), Some(576))
    );
    assert!(images.iter().all(|i| {
        dir.join("images")
            .join(i["file_name"].as_str().unwrap())
            .is_file()
    }));
    let cats = coco["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 80);
    let car = cats.iter().find(|c| c["name"] == "car").unwrap();
    assert_eq!(
        (car["id"].as_u64(), car["supercategory"].as_str()),
        (Some(3), Some("vehicle"))
    );
    assert_eq!(cats.last().unwrap()["id"], 90);
    let anns = coco["annotations"].as_array().unwrap();
    assert_eq!(anns[0]["id"], 1);
    for a in anns {
        let b = f64s(&a["bbox"]);
        assert!(
            b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= 768.01 && b[1] + b[3] <= 576.01,
            "{a}"
        );
        assert!(
            (a["area"].as_f64().unwrap() - b[2] * b[3]).abs() < 0.05,
            "{a}"
        );
        assert_eq!(a["iscrowd"], 0);
    }
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let per_frame: u64 = records
        .iter()
        .filter_map(|r| r["detections"].as_u64())
        .sum();
    assert_eq!(per_frame, anns.len() as u64);
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["command"], "extract", "the extract record stays");
    assert_eq!(
        run["label"]["detector"]["sha256"],
        "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"
    );
    assert_eq!(run["label"]["detector"]["family"], "yolox");
    let stdout = run_py(
        "coco_check.py",
        &[dir.join("annotations.json"), dir.join("predictions.json")],
    );
    let loaded: Value =
        serde_json::from_slice(stdout.rsplit(|&b| b == b'\n').nth(1).unwrap()).unwrap();
    assert_eq!(loaded["images"], 20);
    assert_eq!(loaded["annotations"], anns.len());
    assert_eq!(
        loaded["results"],
        anns.len(),
        "no filter: predictions = annotations"
    );
    assert!(
        loaded["person_annotations"].as_u64().unwrap() >= 60,
        "{loaded}"
    );
}

#[test]
fn filters_refilter_and_drop_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    dataset(&dir);
    let r = label(&dir, &["--classes", "person", "--min-box-area", "0.005"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let coco = read_json(&dir.join("annotations.json"));
    let anns = coco["annotations"].as_array().unwrap();
    assert!(!anns.is_empty());
    assert!(anns.iter().all(|a| a["category_id"] == 1));
    assert!(
        anns.iter()
            .all(|a| a["area"].as_f64().unwrap() >= 0.005 * 768.0 * 576.0)
    );
    let preds: Vec<Value> =
        serde_json::from_value(read_json(&dir.join("predictions.json"))).unwrap();
    assert!(
        preds.len() > anns.len(),
        "predictions keep what the filters dropped"
    );
    assert!(
        preds.iter().any(|p| p["category_id"] == 3),
        "cars are predicted"
    );
    let small = preds
        .iter()
        .filter(|p| p["category_id"] == 1)
        .filter(|p| {
            let b = p["bbox"].as_array().unwrap();
            b[2].as_f64().unwrap() * b[3].as_f64().unwrap() < 0.005 * 768.0 * 576.0
        })
        .count();
    assert!(small > 0, "the size filter was exercised");

    // Re-filtering without the model (a detector that does not exist is never looked at) matches
    // a fresh run with the same filters.
    let r = framelabel([
        "label",
        dir.to_str().unwrap(),
        "--refilter",
        "--classes",
        "car,person",
        "--max-box-area",
        "2000px",
        "--detector",
        "/nonexistent.onnx",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let refiltered = read_json(&dir.join("annotations.json"));
    let fresh_dir = tmp.path().join("fresh");
    dataset(&fresh_dir);
    let r = label(
        &fresh_dir,
        &["--classes", "car,person", "--max-box-area", "2000px"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fresh = read_json(&fresh_dir.join("annotations.json"));
    assert_eq!(refiltered["annotations"], fresh["annotations"]);
    assert!(
        refiltered["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["area"].as_f64().unwrap() <= 2000.0)
    );
    let run = read_json(&dir.join("run.json"));
    assert_eq!(
        run["label"]["detector"]["family"], "yolox",
        "refilter keeps the detector record"
    );

    // No bus in the sample: with --drop-empty every frame leaves images/ for rejected/empty/, and a
    // refilter without it brings them back.
    let r = label(&dir, &["--classes", "bus", "--drop-empty"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["dropped"], 20);
    assert!(jpegs(&dir.join("images")).is_empty());
    assert_eq!(jpegs(&dir.join("rejected/empty")).len(), 20);
    let coco = read_json(&dir.join("annotations.json"));
    assert!(coco["images"].as_array().unwrap().is_empty());
    let records = read_jsonl(&dir.join("frames.jsonl"));
    assert_eq!(
        records.iter().filter(|r| r["status"] == "empty").count(),
        20
    );
    assert!(
        records
            .iter()
            .filter(|r| r["status"] == "empty")
            .all(|r| dir.join(r["file"].as_str().unwrap()).is_file())
    );
    let r = framelabel(["label", dir.to_str().unwrap(), "--refilter", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(jpegs(&dir.join("images")).len(), 20);
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let kept: Vec<&Value> = records.iter().filter(|r| r["status"] == "kept").collect();
    assert_eq!(kept.len(), 20);
    assert!(
        kept.iter()
            .all(|r| dir.join(r["file"].as_str().unwrap()).is_file())
    );
    // Without filters every prediction is an annotation.
    let n_preds = read_json(&dir.join("predictions.json"))
        .as_array()
        .unwrap()
        .len();
    let coco = read_json(&dir.join("annotations.json"));
    assert_eq!(coco["annotations"].as_array().unwrap().len(), n_preds);
    assert_eq!(coco["images"].as_array().unwrap().len(), 20);
}

#[test]
fn bad_input_is_reported_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    dataset(&dir);
    let before = std::fs::read(dir.join("frames.jsonl")).unwrap();

    // Unknown class: usage error listing the valid names, nothing written.
    let r = label(&dir, &["--classes", "persn"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("'persn'") && r.stderr.contains("person, bicycle"),
        "{}",
        r.stderr
    );
    // A detector that is missing or is not a detector: refused before any work.
    let r = framelabel([
        "label",
        dir.to_str().unwrap(),
        "--detector",
        "/nonexistent/det.onnx",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/det.onnx"), "{}", r.stderr);
    let emb = shared_model("mobilenetv2-12-int8-emb.onnx");
    let r = framelabel([
        "label",
        dir.to_str().unwrap(),
        "--detector",
        emb.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("match no detector family"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(dir.join("frames.jsonl")).unwrap(), before);
    assert!(!dir.join("annotations.json").exists());
    for (opt, v) in [
        ("--confidence", "1.5"),
        ("--min-box-area", "2"),
        ("--min-box-area", "-3px"),
        ("--batch-size", "0"),
    ] {
        let r = label(&dir, &[opt, v]);
        assert_eq!(r.code, 2, "{opt} {v}");
        assert!(r.stderr.contains(opt), "{}", r.stderr);
    }

    // A frame deleted between stages: a warning, the frame skipped and counted, the rest labelled.
    std::fs::remove_file(dir.join("images/vtest_000040.jpg")).unwrap();
    let r = label(&dir, &["--batch-size", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("vtest_000040.jpg") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (s["images"].as_u64(), s["missing"].as_u64()),
        (Some(19), Some(1))
    );
    let coco = read_json(&dir.join("annotations.json"));
    assert_eq!(coco["images"].as_array().unwrap().len(), 19);
    let rec = read_jsonl(&dir.join("frames.jsonl"));
    assert_eq!(rec.iter().filter(|r| r["status"] == "missing").count(), 1);

    // A dataset with no kept frame: a valid, empty COCO file and exit 0.
    let empty = tmp.path().join("empty");
    let r = extract(
        &[&vtest()],
        &empty,
        &[
            "--every",
            "200",
            "--min-brightness",
            "0.98",
            "--max-brightness",
            "0.99",
            "--quiet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = label(&empty, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let coco = read_json(&empty.join("annotations.json"));
    assert!(coco["images"].as_array().unwrap().is_empty());
    assert_eq!(coco["categories"].as_array().unwrap().len(), 80);
    run_py(
        "coco_check.py",
        &[
            empty.join("annotations.json"),
            empty.join("predictions.json"),
        ],
    );
    // Not an output folder at all.
    let r = label(tmp.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("frames.jsonl") && r.stderr.contains("framelabel extract"),
        "{}",
        r.stderr
    );
}
