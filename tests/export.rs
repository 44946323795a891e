//! `framelabel export` on real labels (the sample video through YOLOX-Nano): each format read back
//! by the importer of the tool that consumes it (tests/py/export_check.py: Datumaro, the library
//! CVAT imports with; label-studio-sdk; pycocotools; XML schemas; a strict YOLO parser), and every
//! box compared with annotations.json within half a pixel; split exports read back with the subset
//! each consumer sees for each image.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

const FORMATS: [&str; 6] = [
    "yolo",
    "coco",
    "voc",
    "cvat",
    "label-studio",
    "coco-results",
];

/// Frames 0, 40, 80, ... of the sample video labelled by YOLOX-Nano with `label_args`.
fn labelled(dir: &Path, label_args: &[&str]) {
    let r = extract(&[&vtest()], dir, &["--every", "40", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let nano = shared_model("yolox_nano_coco.onnx");
    let mut a = vec![
        "label",
        dir.to_str().unwrap(),
        "--detector",
        nano.to_str().unwrap(),
        "--quiet",
    ];
    a.extend_from_slice(label_args);
    let r = framelabel(a);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// One box as an importer read it: label, corners, score where the format has one.
type ReadBox = (String, [f64; 4], Option<f64>);

/// What the consumer's importer read: the class list, the boxes and the subset per file name.
struct Read {
    classes: Vec<String>,
    images: HashMap<String, Vec<ReadBox>>,
    subsets: HashMap<String, String>,
    raw: Value,
}

fn check(format: &str, path: &Path, dataset: &Path, extra: &[&str]) -> Result<Read, String> {
    let out = Command::new(python())
        .arg(py_script("export_check.py"))
        .args([format, path.to_str().unwrap(), dataset.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let classes = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let images = v["images"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, rows)| {
            let rows = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let f = |i: usize| r[i].as_f64().unwrap();
                    (
                        r[0].as_str().unwrap().to_string(),
                        [f(1), f(2), f(3), f(4)],
                        r[5].as_f64(),
                    )
                })
                .collect();
            (k.clone(), rows)
        })
        .collect();
    let subsets = v["subsets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), s.as_str().unwrap().to_string()))
        .collect();
    Ok(Read {
        classes,
        images,
        subsets,
        raw: v,
    })
}

/// Boxes of annotations.json per file name, filtered by `keep(label, bbox, image size)`.
type Expected = HashMap<String, Vec<(String, [f64; 4], f64)>>;

fn expected(dataset: &Path, keep: impl Fn(&str, &[f64; 4], (f64, f64)) -> bool) -> Expected {
    let coco = read_json(&dataset.join("annotations.json"));
    let cats = id_map(&coco, "categories", "name");
    let mut images: HashMap<u64, (String, (f64, f64))> = HashMap::new();
    let mut out = Expected::new();
    for i in coco["images"].as_array().unwrap() {
        let name = i["file_name"].as_str().unwrap().to_string();
        let size = (i["width"].as_f64().unwrap(), i["height"].as_f64().unwrap());
        images.insert(i["id"].as_u64().unwrap(), (name.clone(), size));
        out.insert(name, Vec::new());
    }
    for a in coco["annotations"].as_array().unwrap() {
        let b = f64s(&a["bbox"]);
        let (name, size) = &images[&a["image_id"].as_u64().unwrap()];
        let label = &cats[&a["category_id"].as_u64().unwrap()];
        let corners = [b[0], b[1], b[0] + b[2], b[1] + b[3]];
        if keep(label, &[b[0], b[1], b[2], b[3]], *size) {
            out.get_mut(name)
                .unwrap()
                .push((label.clone(), corners, a["score"].as_f64().unwrap()));
        }
    }
    out
}

/// Every expected box is read back with its class within half a pixel (and its score where the
/// format carries one), and nothing else is.
fn assert_round_trip(format: &str, want: &Expected, got: &Read) {
    assert_eq!(
        got.images.len(),
        want.len(),
        "{format}: images read back: {:?}",
        got.images.keys().collect::<Vec<_>>()
    );
    let mut boxes = 0;
    for (file, want_boxes) in want {
        let read = got
            .images
            .get(file)
            .unwrap_or_else(|| panic!("{format}: {file} not read back"));
        assert_eq!(
            read.len(),
            want_boxes.len(),
            "{format}: {file}: {read:?} vs {want_boxes:?}"
        );
        let mut used = vec![false; read.len()];
        for (label, corners, score) in want_boxes {
            let hit = read.iter().enumerate().position(|(i, (l, c, _))| {
                !used[i] && l == label && (0..4).all(|k| (c[k] - corners[k]).abs() <= 0.5)
            });
            let i = hit.unwrap_or_else(|| {
                panic!("{format}: {file}: {label} {corners:?} not within 0.5 px in {read:?}")
            });
            used[i] = true;
            if let Some(s) = read[i].2 {
                assert!(
                    (s - score).abs() <= 1e-5,
                    "{format}: {file}: score {s} vs {score}"
                );
            }
            boxes += 1;
        }
    }
    eprintln!("{format}: {boxes} boxes round-tripped");
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_format_reads_back_in_its_consumer_with_the_same_boxes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    labelled(&dir, &[]);
    let r = framelabel([
        "export",
        dir.to_str().unwrap(),
        "--format",
        &FORMATS.join(","),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    let coco = read_json(&dir.join("annotations.json"));
    let n_boxes = coco["annotations"].as_array().unwrap().len();
    assert!(n_boxes > 50, "the sample should give boxes: {n_boxes}");
    let want = expected(&dir, |_, _, _| true);
    let categories = names(&coco["categories"]);
    for (format, s) in FORMATS.iter().zip(summary.as_array().unwrap()) {
        assert_eq!(s["format"], *format);
        assert_eq!(s["images"], 20);
        assert_eq!(s["boxes"], n_boxes as u64);
        let path = dir.join("export").join(format);
        assert_eq!(Path::new(s["path"].as_str().unwrap()), path);
        let got = check(format, &path, &dir, &[]).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(got.classes, categories, "{format}: class list");
        assert_round_trip(format, &want, &got);
        // Unsplit: one set (Datumaro names a CVAT task's after its file, the others "default").
        let sets: std::collections::HashSet<&String> = got.subsets.values().collect();
        assert_eq!(sets.len(), 1, "{format}: {sets:?}");
    }
    // The pictures of the folder formats are the dataset's, byte for byte.
    for (format, sub) in [
        ("yolo", "images"),
        ("coco", "images"),
        ("voc", "JPEGImages"),
        ("cvat", "images"),
    ] {
        for file in want.keys() {
            let a = std::fs::read(dir.join("images").join(file)).unwrap();
            let b = std::fs::read(dir.join("export").join(format).join(sub).join(file))
                .unwrap_or_else(|e| panic!("{format}/{sub}/{file}: {e}"));
            assert!(a == b, "{format}/{sub}/{file} differs");
        }
    }
    // Label Studio: image URLs under the default local-files prefix; one prediction per image.
    let ls = check("label-studio", &dir.join("export/label-studio"), &dir, &[]).unwrap();
    for u in ls.raw["urls"].as_array().unwrap() {
        assert!(
            u.as_str()
                .unwrap()
                .starts_with("/data/local-files/?d=images/"),
            "{u}"
        );
    }
    // Label Studio's model picker shows the model by name and short sha256, not by file path.
    let tasks = read_json(&dir.join("export/label-studio/tasks.json"));
    for t in tasks.as_array().unwrap() {
        for p in t["predictions"].as_array().unwrap() {
            assert_eq!(p["model_version"], "yolox_nano_coco d39bee73", "{p}");
        }
    }
}

#[test]
fn class_subsets_and_size_filters_apply_as_in_annotations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    labelled(&dir, &["--classes", "person,car"]);
    let d = dir.to_str().unwrap();

    // The label run's class subset is the export's class list: YOLO numbers them 0 and 1.
    let r = framelabel(["export", d, "-f", "yolo,voc,cvat,label-studio", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let yaml = std::fs::read_to_string(dir.join("export/yolo/data.yaml")).unwrap();
    assert!(
        yaml.contains("nc: 2\nnames:\n  0: \"person\"\n  1: \"car\"\n"),
        "{yaml}"
    );
    let want = expected(&dir, |_, _, _| true);
    assert!(want.values().flatten().any(|b| b.0 == "car"));
    assert!(want.values().flatten().any(|b| b.0 == "person"));
    for format in ["yolo", "voc", "cvat", "label-studio"] {
        let got = check(format, &dir.join("export").join(format), &dir, &[]).unwrap();
        assert_eq!(got.classes, ["person", "car"], "{format}");
        assert_round_trip(format, &want, &got);
    }

    // A subset of that, a size bound, scores in the YOLO file, into a folder of one's choice.
    let out = tmp.path().join("cars");
    let r = framelabel([
        "export",
        d,
        "-f",
        "yolo",
        "--classes",
        "car",
        "--min-box-area",
        "0.005",
        "--with-scores",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = expected(&dir, |l, b, (w, h)| {
        l == "car" && b[2] * b[3] >= 0.005 * w * h
    });
    let kept: usize = want.values().map(Vec::len).sum();
    let all_cars = expected(&dir, |l, _, _| l == "car");
    assert!(
        kept > 0 && kept < all_cars.values().map(Vec::len).sum::<usize>(),
        "the bound should keep some cars and drop others: {kept}"
    );
    let got = check("yolo", &out, &dir, &["--with-scores"]).unwrap();
    assert_eq!(got.classes, ["car"]);
    assert_round_trip("yolo", &want, &got);
    assert!(got.images.values().flatten().all(|b| b.2.is_some()));

    // No box left at all: still a valid export of every format, with every image a negative.
    let r = framelabel([
        "export",
        d,
        "-f",
        &FORMATS.join(","),
        "--min-box-area",
        "0.9",
        "--out",
        tmp.path().join("none").to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for format in FORMATS {
        let got = check(format, &tmp.path().join("none").join(format), &dir, &[])
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(got.images.len(), 20, "{format}");
        assert!(got.images.values().all(Vec::is_empty), "{format}");
    }
}

#[test]
fn exports_replace_only_their_own_folders_and_bad_input_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    labelled(&dir, &[]);
    let d = dir.to_str().unwrap();

    // A folder that holds something else is left alone.
    let foreign = tmp.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let r = framelabel(["export", d, "-f", "voc", "--out", foreign.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a framelabel export"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // An earlier export is replaced whole: nothing stale survives.
    let r = framelabel(["export", d, "-f", "yolo", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stale = dir.join("export/yolo/labels/stale.txt");
    std::fs::write(&stale, "0 0.5 0.5 0.1 0.1\n").unwrap();
    let r = framelabel(["export", d, "-f", "yolo", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!stale.exists());
    assert!(check("yolo", &dir.join("export/yolo"), &dir, &[]).is_ok());
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("export"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["yolo"], "temporary folders left behind");

    // The checkers fail on broken files (so their passing above means something).
    let voc = dir.join("export/voc");
    assert_eq!(framelabel(["export", d, "-f", "voc", "-q"]).code, 0);
    let first = std::fs::read_dir(voc.join("Annotations"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let xml = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, xml.replacen("<depth>3</depth>", "", 1)).unwrap();
    let e = check("voc", &voc, &dir, &[]).err().expect("schema check");
    assert!(e.contains("depth"), "{e}");
    let label = std::fs::read_dir(dir.join("export/yolo/labels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let text = std::fs::read_to_string(&label).unwrap();
    std::fs::write(&label, text.replacen('\n', " 0.9\n", 1)).unwrap();
    let e = check("yolo", &dir.join("export/yolo"), &dir, &[])
        .err()
        .expect("six columns");
    assert!(e.contains("6 columns, want 5"), "{e}");

    // Bad input: one line naming the cause and the fix, exit code 2.
    let r = framelabel(["export", d, "-f", "darknet"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("valid: yolo, coco, voc, cvat, label-studio, coco-results"),
        "{}",
        r.stderr
    );
    let r = framelabel(["export", d, "-f", "yolo", "--classes", "dragon"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("'dragon'") && r.stderr.contains("person"));
    let unlabelled = tmp.path().join("raw");
    let r = extract(&[&vtest()], &unlabelled, &["--every", "200", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = framelabel(["export", unlabelled.to_str().unwrap(), "-f", "yolo"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("annotations.json") && r.stderr.contains("framelabel label"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    // Frames removed after labelling: the COCO file is stale, and the user is told to relabel.
    let gone = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&gone).unwrap();
    let r = framelabel(["export", d, "-f", "coco-results"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("run `framelabel label"), "{}", r.stderr);
}

/// The subset of every image a consumer read: each of the `n` images once (the checker refuses an
/// image read in two subsets).
fn subsets_read(format: &str, got: &Read, n: usize) -> HashMap<String, String> {
    assert_eq!(
        got.subsets.len(),
        n,
        "{format}: every image once: {:?}",
        got.subsets
    );
    got.subsets.clone()
}

#[test]
fn splits_keep_each_video_or_block_in_one_subset_for_every_consumer() {
    let tmp = tempfile::tempdir().unwrap();
    // Five videos: stretches of the sample, cut without re-encoding.
    let clips: Vec<std::path::PathBuf> = (0..5)
        .map(|i| {
            let clip = tmp.path().join(format!("clip{i}.avi"));
            let start = (i * 16).to_string();
            ffmpeg(&[
                "-ss",
                &start,
                "-t",
                "16",
                "-i",
                vtest().to_str().unwrap(),
                "-c",
                "copy",
                clip.to_str().unwrap(),
            ]);
            clip
        })
        .collect();
    let dir = tmp.path().join("ds");
    let inputs: Vec<&Path> = clips.iter().map(|c| c.as_path()).collect();
    let r = extract(&inputs, &dir, &["--every", "10", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = framelabel(["label", dir.to_str().unwrap(), "--detector", &nano(), "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let coco = read_json(&dir.join("annotations.json"));
    let video_of: HashMap<String, String> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["file_name"].as_str().unwrap().to_string(),
                i["video"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let n = video_of.len();
    let want = expected(&dir, |_, _, _| true);

    let d = dir.to_str().unwrap();
    let split_args = ["--split", "val=0.2,test=0.2", "--seed", "7"];
    let mut a = vec![
        "export",
        d,
        "-f",
        "yolo,coco,voc,cvat,label-studio,coco-results",
        "--json",
    ];
    a.extend(split_args);
    let r = framelabel(a);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    let export = dir.join("export");
    let split = read_json(&export.join("yolo/split.json"));
    assert_eq!(
        split["by"], "video",
        "several videos split by video: {split}"
    );
    assert_eq!(split["seed"], 7);
    assert_eq!(split["units"].as_array().unwrap().len(), 5);
    // The recorded split: the same in every format, each video once, the asked shares within
    // the size of one video.
    let largest = split["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["images"].as_u64().unwrap())
        .max()
        .unwrap() as f64;
    for (subset, share) in [("train", 0.6), ("val", 0.2), ("test", 0.2)] {
        let got = split["subsets"][subset]["images"].as_u64().unwrap() as f64;
        assert!(
            got > 0.0 && (got - share * n as f64).abs() <= largest,
            "{subset}: {got} of {n}"
        );
    }
    let recorded: HashMap<String, String> = split["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["video"].as_str().unwrap().to_string(),
                u["subset"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(recorded.len(), 5, "a video in two units: {split}");
    let coco_export = export.join("coco");
    for (format, s) in FORMATS.iter().zip(summary.as_array().unwrap()) {
        let counts: serde_json::Map<String, Value> = ["train", "val", "test"]
            .iter()
            .map(|k| (k.to_string(), split["subsets"][k]["images"].clone()))
            .collect();
        assert_eq!(s["subsets"], Value::Object(counts), "{format}");
        assert_eq!(
            read_json(&export.join(format).join("split.json")),
            split,
            "{format}"
        );
        let extra: Vec<&str> = if *format == "coco-results" {
            vec!["--coco", coco_export.to_str().unwrap()]
        } else {
            vec![]
        };
        let got = check(format, &export.join(format), &dir, &extra)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_round_trip(format, &want, &got);
        let subsets = subsets_read(format, &got, n);
        // Each image in the subset of its video, as split.json says.
        for (file, subset) in &subsets {
            assert_eq!(subset, &recorded[&video_of[file]], "{format}: {file}");
        }
    }
    // Ultralytics' data.yaml names the subsets' folders.
    let yaml = std::fs::read_to_string(export.join("yolo/data.yaml")).unwrap();
    assert!(
        yaml.contains("train: images/train\nval: images/val\ntest: images/test\n"),
        "{yaml}"
    );
    // The same seed gives the same split.
    let again = tmp.path().join("again");
    let mut a = vec![
        "export",
        d,
        "-f",
        "yolo",
        "-q",
        "--out",
        again.to_str().unwrap(),
    ];
    a.extend(split_args);
    assert_eq!(framelabel(a).code, 0);
    assert_eq!(read_json(&again.join("split.json")), split);

    // One video: blocks of consecutive time, chosen by default; `run` splits its exports.
    let out = tmp.path().join("run");
    let r = framelabel(run_args(
        &[&vtest()],
        &out,
        &[
            "--no-dedup",
            "--export",
            "yolo,voc",
            "--split",
            "val=0.25",
            "--block-seconds",
            "10",
            "-q",
        ],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let coco = read_json(&out.join("annotations.json"));
    let pts_of: HashMap<String, f64> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["file_name"].as_str().unwrap().to_string(),
                i["pts"].as_f64().unwrap(),
            )
        })
        .collect();
    let split = read_json(&out.join("export/yolo/split.json"));
    assert_eq!(split["by"], "block", "{split}");
    assert_eq!(split["block_seconds"], 10.0);
    let blocks = split["units"].as_array().unwrap();
    assert_eq!(blocks.len(), 8, "79.5 s in blocks of 10 s: {split}");
    let val = split["subsets"]["val"]["images"].as_u64().unwrap() as f64;
    let per_block = pts_of.len() as f64 / 8.0;
    assert!(
        (val - 0.25 * pts_of.len() as f64).abs() <= per_block + 1.0,
        "{split}"
    );
    for format in ["yolo", "voc"] {
        let got = check(format, &out.join("export").join(format), &out, &[]).unwrap();
        let subsets = subsets_read(format, &got, pts_of.len());
        let mut block_subset: HashMap<i64, &str> = HashMap::new();
        for (file, subset) in &subsets {
            let block = (pts_of[file] / 10.0).floor() as i64;
            let first = *block_subset.entry(block).or_insert(subset.as_str());
            assert_eq!(
                first, subset,
                "{format}: block {block} in {first} and {subset}"
            );
            let unit = &blocks[block as usize];
            assert_eq!(
                unit["subset"],
                subset.as_str(),
                "{format}: {file} vs {unit}"
            );
        }
        assert_eq!(
            subsets.values().filter(|s| *s == "val").count() as f64,
            val,
            "{format}"
        );
    }
    // A split that cannot be made is one line with the fix.
    let r = framelabel([
        "export",
        out.to_str().unwrap(),
        "-f",
        "yolo",
        "--split",
        "val=0.25",
        "--split-by",
        "video",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--split-by block"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
}
