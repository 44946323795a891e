//! `framelabel run` end to end on the sample video with the shared models: the output agrees with
//! that of `extract`, `dedup` and `label` run one after the other; the COCO file, the images and the
//! records agree; a run killed with SIGKILL and started again gives the output of an uninterrupted run; a
//! corrupt video fails alone; other parameters on an existing folder are refused; --config.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// What must be equal between two runs: the records, the COCO file without its date, the images.
fn output(dir: &Path) -> (Vec<Value>, Value, Vec<String>) {
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let mut coco = read_json(&dir.join("annotations.json"));
    coco["info"].as_object_mut().unwrap().remove("date_created");
    (records, coco, jpegs(&dir.join("images")))
}

fn assert_same_output(a: &Path, b: &Path) {
    let (ra, ca, ia) = output(a);
    let (rb, cb, ib) = output(b);
    assert_eq!(ia, ib, "images differ");
    assert_eq!(ra.len(), rb.len(), "record counts differ");
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x, y, "records differ");
    }
    assert!(ca == cb, "annotations.json differs");
}

/// A copy of the first 20 s of the sample re-encoded as H.264: the same scene, other pixels.
fn reencoded(dir: &Path) -> PathBuf {
    let p = dir.join("again.mp4");
    ffmpeg(&[
        "-i",
        vtest().to_str().unwrap(),
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-crf",
        "28",
        "-pix_fmt",
        "yuv420p",
        p.to_str().unwrap(),
    ]);
    p
}

/// `run` embeds the decoded frames, the `dedup` stage reads their JPEGs back: everything else is the
/// same work on the same pictures, and the embeddings of a frame agree up to the compression.
fn assert_agrees_with_stages(run: &Path, stages: &Path) {
    let (ra, ca, _) = output(run);
    let (rb, cb, _) = output(stages);
    assert_eq!(ra.len(), rb.len(), "record counts differ");
    let quality = ["dark", "bright", "noisy", "blurry"];
    for (x, y) in ra.iter().zip(&rb) {
        for k in [
            "video",
            "frame",
            "pts",
            "width",
            "height",
            "sharpness",
            "entropy",
            "noise",
            "brightness",
        ] {
            assert_eq!(x[k], y[k], "{k}: {x} / {y}");
        }
        if let (Some(a), Some(b)) = (x["file"].as_str(), y["file"].as_str()) {
            assert_eq!(base(a), base(b));
        }
        let (sx, sy) = (x["status"].as_str().unwrap(), y["status"].as_str().unwrap());
        if quality.contains(&sx) || quality.contains(&sy) {
            assert_eq!(sx, sy, "{x} / {y}");
        }
    }
    // The int8 MobileNetV2 is sensitive to small changes of its input: a frame and its JPEG at
    // quality 95 measure 0.97-0.99 (as does a frame and the same frame one level brighter). A frame
    // must still be a duplicate of itself at the default threshold.
    let (ea, eb) = (embeddings(run), embeddings(stages));
    assert_eq!(ea.len(), eb.len());
    let cos: Vec<f64> = ea.iter().map(|(k, v)| dot(v, &eb[k])).collect();
    let min = cos.iter().copied().fold(1.0, f64::min);
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    eprintln!(
        "run / dedup stage embeddings of the same frames: cosine min {min:.4}, mean {mean:.4}"
    );
    assert!(min >= 0.95 && mean >= 0.97, "min {min}, mean {mean}");
    // So frames near the threshold may go either way, but dedup removes as much in both.
    let kept = |r: &[Value]| r.iter().filter(|r| r["status"] == "kept").count();
    let (ka, kb) = (kept(&ra), kept(&rb));
    eprintln!("kept frames: run {ka}, stages {kb}, of {}", ra.len());
    assert!(ka.abs_diff(kb) * 5 <= kb, "run keeps {ka}, the stages {kb}");
    // The detector reads the same JPEGs: a frame both keep has the same boxes.
    let boxes = |coco: &Value| -> HashMap<String, Vec<String>> {
        let names = image_names(coco);
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for a in coco["annotations"].as_array().unwrap() {
            let v = serde_json::json!([a["category_id"], a["bbox"], a["score"]]);
            m.entry(names[&a["image_id"].as_u64().unwrap()].clone())
                .or_default()
                .push(v.to_string());
        }
        m
    };
    let (ba, bb) = (boxes(&ca), boxes(&cb));
    let mut both = 0;
    for (f, a) in &ba {
        if let Some(b) = bb.get(f) {
            assert_eq!(a, b, "{f}");
            both += 1;
        }
    }
    assert!(
        both * 2 > ba.len(),
        "{both} of {} labelled frames in both",
        ba.len()
    );
}

#[test]
fn run_agrees_with_the_stages_one_after_another_and_its_records_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, stages) = (tmp.path().join("run"), tmp.path().join("stages"));
    let r = framelabel(run_args(
        &[&vtest()],
        &dir,
        &["--export", "yolo,coco-results", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();

    // The same work, one stage at a time.
    let e = embedder();
    let n = nano();
    assert_eq!(extract(&[&vtest()], &stages, &["--fps", "2", "-q"]).code, 0);
    let r = framelabel([
        "dedup",
        stages.to_str().unwrap(),
        "--embedder",
        &e,
        "--save-embeddings",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = framelabel(["label", stages.to_str().unwrap(), "--detector", &n, "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_agrees_with_stages(&dir, &stages);

    // Every record has a final status; kept frames are the COCO images, one to one, on disk.
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let coco = read_json(&dir.join("annotations.json"));
    let statuses: HashSet<&str> = records
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(statuses.is_subset(&HashSet::from([
        "kept",
        "duplicate",
        "dark",
        "bright",
        "noisy",
        "blurry"
    ])));
    let kept: Vec<&Value> = records.iter().filter(|r| r["status"] == "kept").collect();
    let coco_files: HashSet<String> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file_name"].as_str().unwrap().to_string())
        .collect();
    let kept_files: HashSet<String> = kept
        .iter()
        .map(|r| base(r["file"].as_str().unwrap()))
        .collect();
    assert_eq!(coco_files, kept_files);
    let on_disk: HashSet<String> = jpegs(&dir.join("images")).into_iter().collect();
    assert_eq!(on_disk, kept_files);
    for r in &kept {
        assert!(r["image_id"].as_u64().unwrap() >= 1);
    }

    // The counts of run.json add up.
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["command"], "run");
    let t = &run["totals"];
    let sampled = t["sampled"].as_u64().unwrap();
    let rejected: u64 = t["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(sampled, records.len() as u64);
    assert_eq!(t["kept"].as_u64().unwrap() + rejected, sampled);
    let d = &run["dedup"];
    assert_eq!(d["frames"], t["kept"]);
    assert_eq!(
        d["kept"].as_u64().unwrap() + d["duplicates"].as_u64().unwrap(),
        d["frames"].as_u64().unwrap()
    );
    assert_eq!(d["kept"].as_u64().unwrap(), kept.len() as u64);
    assert_eq!(
        d["duplicates"].as_u64().unwrap(),
        records
            .iter()
            .filter(|r| r["status"] == "duplicate")
            .count() as u64
    );
    let l = &run["label"];
    assert_eq!(l["images"].as_u64().unwrap(), kept.len() as u64);
    assert_eq!(
        l["annotations"].as_u64().unwrap(),
        coco["annotations"].as_array().unwrap().len() as u64
    );
    let per_class: u64 = l["per_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_class, l["annotations"].as_u64().unwrap());
    assert!(l["annotations"].as_u64().unwrap() > 100);
    assert_eq!(run["run"]["resumed"], false);
    assert_eq!(summary["run"]["resumed"], false);
    assert_eq!(summary["extract"]["totals"], run["totals"]);
    // The detector ran on every survivor once, and on few frames the final rule then dropped
    // (sent early, their near-copy further away in the video being sharper).
    let wasted = run["run"]["detected_then_duplicate"].as_u64().unwrap();
    eprintln!(
        "detected {} frames, {wasted} then duplicates",
        run["run"]["detected"]
    );
    assert_eq!(
        run["run"]["detected"].as_u64().unwrap(),
        kept.len() as u64 + wasted
    );
    assert!(
        wasted * 10 <= kept.len() as u64,
        "{wasted} of {}",
        kept.len()
    );
    assert!(kept.len() < records.len());

    // The dedup guarantees hold on the run's own embeddings.
    let emb = embeddings(&dir);
    let kept_rows: Vec<&Vec<f32>> = kept_files.iter().map(|f| &emb[f]).collect();
    for (i, a) in kept_rows.iter().enumerate() {
        for b in &kept_rows[i + 1..] {
            assert!(dot(a, b) < 0.95);
        }
    }
    for r in records.iter().filter(|r| r["status"] == "duplicate") {
        let of = base(r["duplicate_of"].as_str().unwrap());
        assert!(kept_files.contains(&of));
        // Deleted duplicates keep their name in embeddings.json: the template's vtest_FRAME.jpg.
        let name = format!("vtest_{:06}.jpg", r["frame"].as_u64().unwrap());
        let s = dot(&emb[&name], &emb[&of]);
        assert!(s >= 0.95 - 1e-6, "{r}: {s}");
        assert!((s - r["similarity"].as_f64().unwrap()).abs() < 1e-4);
    }

    // pycocotools loads the COCO file; the exports were written.
    run_py(
        "coco_check.py",
        &[dir.join("annotations.json"), dir.join("predictions.json")],
    );
    assert_eq!(
        jpegs(&dir.join("export/yolo/images")).len(),
        kept_files.len()
    );
    assert!(dir.join("export/coco-results/results.json").is_file());

    // Started again with the same options: nothing to redo, the same output.
    let snapshot = tmp.path().join("snapshot");
    copy_dir(&dir, &snapshot);
    let r = framelabel(run_args(
        &[&vtest()],
        &dir,
        &["--export", "yolo,coco-results", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(again["run"]["resumed"], true);
    assert_eq!(again["run"]["detected"], 0);
    assert_same_output(&dir, &snapshot);
}

#[test]
fn a_killed_run_started_again_gives_the_output_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let again = reencoded(tmp.path());
    let inputs = [vtest(), again];
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let reference = tmp.path().join("reference");
    let r = framelabel(run_args(&inputs, &reference, &["-q"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run = read_json(&reference.join("run.json"));
    // The second video films the same scene: its frames are duplicates of the first one's.
    let dups_of_first = read_jsonl(&reference.join("frames.jsonl"))
        .iter()
        .filter(|r| r["status"] == "duplicate" && r["video"].as_str().unwrap().ends_with(".mp4"))
        .filter(|r| r["duplicate_of"].as_str().unwrap().contains("vtest_"))
        .count();
    assert!(dups_of_first > 10, "{dups_of_first}");
    assert_eq!(run["totals"]["videos"], 2);

    type Ready = fn(&Path) -> bool;
    let points: [(&str, Ready); 3] = [
        ("while extracting the first video", |d| {
            lines(&d.join(".framelabel/frames.jsonl")) >= 30
                && std::fs::metadata(d.join(".framelabel/embeddings.bin"))
                    .is_ok_and(|m| m.len() > 0)
        }),
        ("after the first video", |d| {
            lines(&d.join(".framelabel/videos.jsonl")) >= 1
                && lines(&d.join(".framelabel/frames.jsonl")) >= 170
        }),
        ("while labelling", |d| {
            lines(&d.join(".framelabel/detections.jsonl")) >= 5
        }),
    ];
    for (when, ready) in points {
        let dir = tmp.path().join(when.replace(' ', "-"));
        let args = run_args(&inputs, &dir, &[]);
        if !kill_when(&args, &dir, ready) {
            panic!("{when}: the run finished before it could be killed");
        }
        assert!(!dir.join(".framelabel/complete").exists(), "{when}");
        let mut args = args;
        args.push("--json".into());
        let r = framelabel(&args);
        assert_eq!(r.code, 0, "{when}: {}", r.stderr);
        let s: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(s["run"]["resumed"], true, "{when}");
        assert!(
            s["run"]["embeddings_reused"].as_u64().unwrap() > 0,
            "{when}: {}",
            s["run"]
        );
        assert_same_output(&dir, &reference);
        eprintln!("{when}: same output; {}", s["run"]);
    }

    // Other parameters on that folder: refused, nothing touched; --force starts over.
    let dir = tmp.path().join("while-labelling");
    let before = output(&dir);
    let r = framelabel(run_args(&inputs, &dir, &["--threshold", "0.9"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("other parameters (threshold)") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(output(&dir) == before);
    let r = framelabel(run_args(
        &inputs,
        &dir,
        &["--threshold", "0.9", "--force", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["run"]["resumed"], false);
    assert!(s["dedup"]["duplicates"].as_u64() > run["dedup"]["duplicates"].as_u64());
    // A folder made by another command is not taken over either.
    let plain = tmp.path().join("plain");
    assert_eq!(
        extract(&[&vtest()], &plain, &["--every", "100", "-q"]).code,
        0
    );
    let r = framelabel(run_args(&[&vtest()], &plain, &[]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did not make"), "{}", r.stderr);
}

#[test]
fn a_corrupt_video_fails_alone_and_the_config_file_gives_options() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.mp4");
    std::fs::write(&bad, b"\x00\x00\x00\x18ftypisom not really a video at all").unwrap();
    let dir = tmp.path().join("out");
    let r = framelabel(run_args(&[&bad, &vtest()], &dir, &["--json"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 of 2 inputs failed") && r.stderr.contains("broken.mp4"),
        "{}",
        r.stderr
    );
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        s["extract"]["failed"],
        serde_json::json!([bad.to_str().unwrap()])
    );
    assert!(s["label"]["images"].as_u64().unwrap() > 10);
    let coco = read_json(&dir.join("annotations.json"));
    assert!(
        coco["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["video"] == vtest_normalised())
    );

    // Options from a TOML file; the command line wins; --print-config round-trips.
    let cfg = tmp.path().join("framelabel.toml");
    let out = tmp.path().join("from-config");
    std::fs::write(
        &cfg,
        format!(
            "inputs = [{:?}]\nout = {:?}\nevery = 50\nembedder = {:?}\ndetector = {:?}\nclasses = [\"person\"]\nconfidence = 0.5\n",
            vtest().to_str().unwrap(),
            out.to_str().unwrap(),
            embedder(),
            nano()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let r = framelabel([
        "run",
        "--config",
        c,
        "--confidence",
        "0.4",
        "--print-config",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let printed = r.stdout.clone();
    for line in [
        "every = 50\n",
        "confidence = 0.4\n",
        "classes = [\"person\"]\n",
        "threshold = 0.95\n",
    ] {
        assert!(printed.contains(line), "{line} in\n{printed}");
    }
    let printed_file = tmp.path().join("printed.toml");
    std::fs::write(&printed_file, &printed).unwrap();
    let r = framelabel([
        "run",
        "--config",
        printed_file.to_str().unwrap(),
        "--print-config",
    ]);
    assert_eq!(r.stdout, printed);
    let r = framelabel(["run", "--config", c, "--confidence", "0.4", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["extract"]["totals"]["sampled"], 16);
    let params = &s["label"]["parameters"];
    assert!((params["confidence"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    let coco = read_json(&out.join("annotations.json"));
    let scores: HashMap<u64, f64> = coco["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_u64().unwrap(), a["score"].as_f64().unwrap()))
        .collect();
    assert!(!scores.is_empty() && scores.values().all(|&s| s >= 0.4));
    assert!(
        coco["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["category_id"] == 1)
    );
    // A misspelt key is one line naming the file and the valid keys.
    std::fs::write(&cfg, "fsp = 2\n").unwrap();
    let r = framelabel(["run", "--config", c]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("framelabel.toml: unknown option 'fsp'") && r.stderr.contains("fps"),
        "{}",
        r.stderr
    );
}

/// A video replaced at the same path (a camera's file of the day) is not taken for the one the
/// folder's run finished: its frames would have the same names, and their cached embeddings and
/// boxes would be reused.
#[test]
fn a_changed_video_is_not_resumed_as_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("cam.mp4");
    let out = tmp.path().join("out");
    make_clip(&video, "320x240", 10, 3.0, &["-pix_fmt", "yuv420p"]);
    let r = framelabel(run_args(&[&video], &out, &["--no-report", "-q"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = std::fs::read(out.join("frames.jsonl")).unwrap();
    // Same path, same length and format, other pictures.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=320x240:rate=10",
        "-t",
        "3",
        "-pix_fmt",
        "yuv420p",
        video.to_str().unwrap(),
    ]);
    let r = framelabel(run_args(&[&video], &out, &["--no-report", "-q"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(video.to_str().unwrap())
            && r.stderr.contains("changed")
            && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(out.join("frames.jsonl")).unwrap(), before);
    let r = framelabel(run_args(
        &[&video],
        &out,
        &["--no-report", "--force", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["run"]["resumed"], false);
    assert_eq!(s["run"]["embeddings_reused"], 0);
    assert_ne!(std::fs::read(out.join("frames.jsonl")).unwrap(), before);
}

/// Without `--keep-rejected`, a kept frame's picture waits for deduplication's early verdict: its
/// JPEG is written only if the frame is likely to stay, and a survivor the early verdict dropped is
/// decoded again from the video. Every JPEG must still be the one written at once, byte for byte,
/// as `--keep-rejected` (which writes every frame as it is decoded) gives it, and so every box.
#[test]
fn jpegs_written_late_or_decoded_again_are_the_ones_written_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (late, at_once) = (tmp.path().join("late"), tmp.path().join("at-once"));
    let run = |dir: &Path, extra: &[&str]| -> Value {
        let mut extra = extra.to_vec();
        extra.extend(["--json", "--no-report"]);
        let mut args = run_args(&[&vtest()], dir, &extra);
        // At 3 frames/s the early verdict misses several survivors of the sample (6), at 2 one.
        let fps = args.iter().position(|a| a == "--fps").unwrap() + 1;
        args[fps] = "3".into();
        let r = framelabel(args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let a = run(&late, &[]);
    let b = run(&at_once, &["--keep-rejected"]);
    let again = a["run"]["decoded_again"].as_u64().unwrap();
    eprintln!("survivors decoded again: {again}");
    assert!(
        again >= 1,
        "no survivor was decoded again: the test shows nothing"
    );
    assert_eq!(b["run"]["decoded_again"], 0);
    let names = jpegs(&late.join("images"));
    assert_eq!(names, jpegs(&at_once.join("images")));
    assert!(names.len() >= 30, "{} images", names.len());
    for n in &names {
        let (x, y) = (
            std::fs::read(late.join("images").join(n)).unwrap(),
            std::fs::read(at_once.join("images").join(n)).unwrap(),
        );
        assert!(x == y, "{n}: the JPEGs differ");
    }
    let (_, ca, _) = output(&late);
    let (_, cb, _) = output(&at_once);
    assert!(ca == cb, "annotations.json differs");
}

/// `--no-label` stops after dedup: the records and images of a full run, without what labelling
/// adds, and no COCO file. `--no-dedup` labels every kept frame: each gets the boxes a full run
/// gives it. Both resume after a kill to the output of an uninterrupted run, and both are options
/// of `--print-config`.
#[test]
fn stopping_after_dedup_or_skipping_it_and_resuming() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |dir: &Path, extra: &[&str]| {
        let mut a = extra.to_vec();
        a.extend(["--no-report", "--json"]);
        let r = framelabel(run_args(&[&vtest()], dir, &a));
        assert_eq!(r.code, 0, "{extra:?}: {}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).unwrap()
    };
    let full = tmp.path().join("full");
    run(&full, &[]);
    let full_records = read_jsonl(&full.join("frames.jsonl"));

    let no_label = tmp.path().join("no-label");
    let s = run(&no_label, &["--no-label"]);
    assert!(s.get("label").is_none(), "{s}");
    assert!(s["dedup"]["duplicates"].as_u64().unwrap() > 10, "{s}");
    assert!(!no_label.join("annotations.json").exists());
    assert!(read_json(&no_label.join("run.json")).get("label").is_none());
    let records = read_jsonl(&no_label.join("frames.jsonl"));
    assert_eq!(records.len(), full_records.len());
    for (a, b) in records.iter().zip(&full_records) {
        for field in ["frame", "status", "file", "duplicate_of"] {
            assert_eq!(a.get(field), b.get(field), "{field}: {a} vs {b}");
        }
        assert!(a.get("detections").is_none(), "{a}");
    }
    assert_eq!(jpegs(&no_label.join("images")), jpegs(&full.join("images")));

    let no_dedup = tmp.path().join("no-dedup");
    let s = run(&no_dedup, &["--no-dedup"]);
    assert!(s.get("dedup").is_none(), "{s}");
    assert!(read_json(&no_dedup.join("run.json")).get("dedup").is_none());
    let records = read_jsonl(&no_dedup.join("frames.jsonl"));
    assert!(records.iter().all(|r| r["status"] != "duplicate"));
    let kept = records.iter().filter(|r| r["status"] == "kept").count();
    let full_kept = full_records
        .iter()
        .filter(|r| r["status"] == "kept" || r["status"] == "duplicate")
        .count();
    assert_eq!(kept, full_kept, "every frame kept by quality stays");
    assert_eq!(s["label"]["images"].as_u64().unwrap() as usize, kept);
    // Boxes by file name: a frame both runs label gets the same boxes.
    let boxes = |dir: &Path| {
        let coco = read_json(&dir.join("annotations.json"));
        let names = image_names(&coco);
        let mut by: HashMap<String, Vec<String>> = HashMap::new();
        for a in coco["annotations"].as_array().unwrap() {
            by.entry(names[&a["image_id"].as_u64().unwrap()].clone())
                .or_default()
                .push(format!("{} {} {}", a["category_id"], a["bbox"], a["score"]));
        }
        by
    };
    let (bf, bn) = (boxes(&full), boxes(&no_dedup));
    assert!(bn.len() > bf.len(), "{} vs {}", bn.len(), bf.len());
    for (file, b) in &bf {
        assert_eq!(Some(b), bn.get(file), "{file}");
    }

    // Killed and started again: the output of the uninterrupted runs.
    let killed = tmp.path().join("killed-no-dedup");
    let args = run_args(&[&vtest()], &killed, &["--no-dedup", "--no-report"]);
    assert!(
        kill_when(&args, &killed, |d| lines(
            &d.join(".framelabel/detections.jsonl")
        ) >= 5),
        "the run finished before it could be killed"
    );
    assert_eq!(framelabel(&args).code, 0);
    assert_same_output(&killed, &no_dedup);
    let killed = tmp.path().join("killed-no-label");
    let args = run_args(&[&vtest()], &killed, &["--no-label", "--no-report"]);
    assert!(
        kill_when(&args, &killed, |d| lines(
            &d.join(".framelabel/frames.jsonl")
        ) >= 30),
        "the run finished before it could be killed"
    );
    let r = framelabel(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_jsonl(&killed.join("frames.jsonl")),
        read_jsonl(&no_label.join("frames.jsonl"))
    );
    assert_eq!(
        jpegs(&killed.join("images")),
        jpegs(&no_label.join("images"))
    );

    // In --print-config, refused with exports, and another choice on the folder is refused.
    let r = framelabel(run_args(
        &[&vtest()],
        &no_label,
        &["--no-label", "--print-config"],
    ));
    assert!(r.stdout.contains("no-label = true"), "{}", r.stdout);
    let r = framelabel(run_args(
        &[&vtest()],
        &tmp.path().join("x"),
        &["--no-label", "--export", "yolo"],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = framelabel(run_args(&[&vtest()], &no_label, &["--no-report"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// `run --min-change`: still frames reach neither the embedder nor the detector, and the value is a
/// run parameter (another one on the folder is refused, naming it; the same one resumes).
#[test]
fn still_frames_are_not_embedded_or_labelled_and_min_change_is_a_run_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let video = held_clip(tmp.path());
    let dir = tmp.path().join("out");
    let r = framelabel(run_args(
        &[&video],
        &dir,
        &["--min-change", "0.002", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let still: Vec<&Value> = records.iter().filter(|r| r["status"] == "still").collect();
    // At 2 frames/s: the 12 held frames after the first (up to the sample's first frame at 6 s).
    assert_eq!(still.len(), 12);
    assert!(
        still
            .iter()
            .all(|r| r["pts"].as_f64().unwrap() <= 6.0 && r["file"].is_null())
    );
    // The embedder saw every other frame, and only those.
    let name = |r: &Value| format!("held_{:06}.jpg", r["frame"].as_u64().unwrap());
    let embedded = embeddings(&dir);
    let reached: HashSet<String> = records
        .iter()
        .filter(|r| r["status"] != "still")
        .map(name)
        .collect();
    assert_eq!(embedded.keys().cloned().collect::<HashSet<_>>(), reached);
    // The detector too: no held frame but the first among the labelled images.
    let coco = read_json(&dir.join("annotations.json"));
    let labelled: HashSet<String> = image_names(&coco).into_values().collect();
    for r in &still {
        assert!(!labelled.contains(&name(r)), "{} was labelled", name(r));
    }
    assert!(!labelled.is_empty());

    let before = output(&dir);
    let r = framelabel(run_args(&[&video], &dir, &["--min-change", "0.005"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("other parameters (min-change)"),
        "{}",
        r.stderr
    );
    assert!(output(&dir) == before);
    let r = framelabel(run_args(
        &[&video],
        &dir,
        &["--min-change", "0.002", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["run"]["resumed"], true);
    assert!(output(&dir) == before);
}
