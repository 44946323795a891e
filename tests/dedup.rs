//! `framelabel dedup` on real frames of the sample video with the real MobileNetV2 embedder: the three
//! guarantees (kept frames pairwise below the threshold, duplicates at or above it with a kept frame,
//! the result independent of threads and file order and stable when run again), a re-encoded frame,
//! other videos, and bad input.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

const T: f64 = 0.95;

fn dedup(dir: &Path, extra: &[&str]) -> Run {
    let e = embedder();
    let mut a = vec![
        "dedup",
        dir.to_str().unwrap(),
        "--embedder",
        &e,
        "--threshold",
        "0.95",
        "--json",
    ];
    a.extend_from_slice(extra);
    framelabel(a)
}

/// Rewrites `frames.jsonl` in another order (reversed, two lines swapped): dedup must not depend on it.
fn reorder_records(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("frames.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    lines.swap(3, 40);
    std::fs::write(dir.join("frames.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// File names of the kept frames.
fn kept(dir: &Path) -> HashSet<String> {
    read_jsonl(&dir.join("frames.jsonl"))
        .iter()
        .filter(|r| r["status"] == "kept")
        .map(|r| base(r["file"].as_str().unwrap()))
        .collect()
}

#[test]
fn kept_frames_are_distinct_duplicates_are_close_and_the_result_is_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let r = extract(&[&vtest()], &a, &["--every", "10", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = tmp.path().join("b");
    copy_dir(&a, &b);

    let r = dedup(
        &a,
        &["--save-embeddings", "--keep-rejected", "--threads", "2"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    let (n_kept, n_dup) = (
        s["kept"].as_u64().unwrap(),
        s["duplicates"].as_u64().unwrap(),
    );
    assert_eq!(n_kept + n_dup, 80);
    assert!(
        n_kept >= 10 && n_dup >= 10,
        "a threshold that exercises both: {s}"
    );
    let emb = embeddings(&a);
    assert_eq!(emb.len(), 80);
    for v in emb.values() {
        assert!((dot(v, v) - 1.0).abs() < 1e-4, "L2-normalised");
    }
    // (1) Kept frames are pairwise below the threshold.
    let k: Vec<String> = kept(&a).into_iter().collect();
    assert_eq!(k.len() as u64, n_kept);
    for i in 0..k.len() {
        for j in i + 1..k.len() {
            let s = dot(&emb[&k[i]], &emb[&k[j]]);
            assert!(s < T, "kept {} and {} have similarity {s}", k[i], k[j]);
        }
    }
    // (2) Every duplicate names a kept frame at or above it, with the similarity recorded.
    let records = read_jsonl(&a.join("frames.jsonl"));
    let dups: Vec<&Value> = records
        .iter()
        .filter(|r| r["status"] == "duplicate")
        .collect();
    assert_eq!(dups.len() as u64, n_dup);
    for d in &dups {
        let me = base(d["file"].as_str().unwrap());
        assert!(
            a.join(d["file"].as_str().unwrap()).is_file(),
            "moved to rejected/duplicate/"
        );
        assert!(
            d["file"]
                .as_str()
                .unwrap()
                .starts_with("rejected/duplicate/")
        );
        let of = base(d["duplicate_of"].as_str().unwrap());
        assert!(
            k.contains(&of),
            "{me} is a duplicate of {of}, which is not kept"
        );
        let s = dot(&emb[&me], &emb[&of]);
        assert!(s >= T - 1e-6, "{me} ~ {of}: {s}");
        assert!((d["similarity"].as_f64().unwrap() - s).abs() < 1e-3);
    }
    assert_eq!(jpegs(&a.join("images")).len() as u64, n_kept);
    let run = read_json(&a.join("run.json"));
    assert_eq!(run["dedup"]["embedder"]["output"], "embedding");
    assert_eq!(
        run["dedup"]["embedder"]["sha256"].as_str().unwrap().len(),
        64
    );
    assert_eq!(
        run["dedup"]["parameters"]["threshold"].as_f64().unwrap() as f32,
        0.95
    );

    // (3) One thread and the records in another order give the same frames; running again changes nothing.
    reorder_records(&b);
    let r = dedup(&b, &["--threads", "1", "--batch-size", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(kept(&b), kept(&a));
    let before = kept(&a);
    let r = dedup(&a, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["duplicates"], 0, "{s}");
    assert_eq!(kept(&a), before);
    assert_eq!(
        jpegs(&b.join("images")).len(),
        before.len(),
        "duplicates deleted"
    );
    assert!(!b.join("rejected/duplicate").exists());
}

#[test]
fn a_reencoded_frame_is_a_duplicate_and_another_video_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let pattern = tmp.path().join("pattern.mp4");
    make_clip(
        &pattern,
        "768x576",
        10,
        3.0,
        &["-c:v", "libx264", "-crf", "18"],
    );
    let dir = tmp.path().join("ds");
    let r = extract(&[&vtest(), &pattern], &dir, &["--every", "40", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The sharpest frame (visited first, so always kept) again, as another video's frame,
    // re-encoded at a much lower JPEG quality.
    let mut records = read_jsonl(&dir.join("frames.jsonl"));
    let sharpest = records
        .iter()
        .filter(|r| r["status"] == "kept")
        .max_by(|a, b| {
            a["sharpness"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["sharpness"].as_f64().unwrap())
        })
        .unwrap();
    let original = base(sharpest["file"].as_str().unwrap());
    let original = original.as_str();
    ffmpeg(&[
        "-i",
        dir.join("images").join(original).to_str().unwrap(),
        "-q:v",
        "12",
        dir.join("images/copy_000000.jpg").to_str().unwrap(),
    ]);
    let mut copy = records
        .iter()
        .find(|r| r["file"] == format!("images/{original}"))
        .unwrap()
        .clone();
    copy["video"] = "copy.mp4".into();
    copy["frame"] = 0.into();
    copy["file"] = "images/copy_000000.jpg".into();
    copy["sharpness"] = 0.0.into();
    records.push(copy);
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(dir.join("frames.jsonl"), text).unwrap();

    let r = dedup(&dir, &["--save-embeddings"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let c = records.iter().find(|r| r["video"] == "copy.mp4").unwrap();
    let emb = embeddings(&dir);
    assert_eq!(c["status"], "duplicate", "{c}");
    assert_eq!(c["duplicate_of"], format!("images/{original}"), "{c}");
    assert!(dot(&emb["copy_000000.jpg"], &emb[original]) >= T);
    // The test pattern is nothing like the street: no pattern frame is a duplicate of a street frame.
    for r in records
        .iter()
        .filter(|r| r["video"].as_str().unwrap().ends_with("pattern.mp4"))
    {
        if r["status"] == "duplicate" {
            let of = r["duplicate_of"].as_str().unwrap();
            assert!(
                of.contains("pattern"),
                "{r} duplicates a frame of another video"
            );
        }
    }
    let pattern_rows: Vec<&String> = emb.keys().filter(|k| k.starts_with("pattern")).collect();
    assert!(!pattern_rows.is_empty());
    for p in &pattern_rows {
        for (name, v) in emb.iter().filter(|(n, _)| n.starts_with("vtest")) {
            assert!(dot(&emb[*p], v) < T, "{p} ~ {name}");
        }
    }
}

#[test]
fn bad_embedders_and_empty_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    let r = extract(&[&vtest()], &dir, &["--every", "200", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = std::fs::read(dir.join("frames.jsonl")).unwrap();
    let r = framelabel([
        "dedup",
        dir.to_str().unwrap(),
        "--embedder",
        "/nonexistent/emb.onnx",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/emb.onnx"), "{}", r.stderr);
    let det = shared_model("yolox_nano_coco.onnx");
    let r = framelabel([
        "dedup",
        dir.to_str().unwrap(),
        "--embedder",
        det.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not an embedding"), "{}", r.stderr);
    let r = dedup(&dir, &["--threshold", "1.5"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--threshold"), "{}", r.stderr);
    assert_eq!(std::fs::read(dir.join("frames.jsonl")).unwrap(), before);

    // No kept frame: a clear message, exit 0, nothing touched, no model needed.
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
    let r = framelabel([
        "dedup",
        empty.to_str().unwrap(),
        "--embedder",
        "/nonexistent.onnx",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no kept frames"), "{}", r.stderr);
}

#[test]
fn min_gap_spaces_kept_frames_in_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    let r = extract(
        &[&vtest()],
        &dir,
        &["--every", "10", "--max-frames", "30", "--quiet"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A threshold nothing reaches: only the time gap makes duplicates.
    let e = embedder();
    let r = framelabel([
        "dedup",
        dir.to_str().unwrap(),
        "--embedder",
        &e,
        "--threshold",
        "1.0",
        "--min-gap",
        "2.5",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(s["too_close"].as_u64().unwrap() > 0, "{s}");
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let pts = |file: &str| {
        records
            .iter()
            .find(|r| r["status"] == "kept" && r["file"] == file)
            .map(|r| r["pts"].as_f64().unwrap())
    };
    let kept: Vec<f64> = records
        .iter()
        .filter(|r| r["status"] == "kept")
        .map(|r| r["pts"].as_f64().unwrap())
        .collect();
    for i in 0..kept.len() {
        for j in i + 1..kept.len() {
            assert!(
                (kept[i] - kept[j]).abs() >= 2.5,
                "kept at {} and {}",
                kept[i],
                kept[j]
            );
        }
    }
    for d in records.iter().filter(|r| r["status"] == "duplicate") {
        let of = pts(d["duplicate_of"].as_str().unwrap()).expect("names a kept frame");
        assert!((of - d["pts"].as_f64().unwrap()).abs() < 2.5, "{d}");
    }
}

#[test]
fn the_approximate_index_finds_the_duplicates_of_the_exact_rule_on_real_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let exact = tmp.path().join("exact");
    let r = extract(&[&vtest()], &exact, &["--every", "2", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    copy_dir(&exact, &one);
    copy_dir(&exact, &two);
    // The records of `two` in another order: the index must not depend on it.
    reorder_records(&two);

    let r = dedup(&exact, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = dedup(&one, &["--exact-limit", "0", "--threads", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = dedup(&two, &["--exact-limit", "0", "--threads", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kept(&one),
        kept(&two),
        "thread count or record order changed the result"
    );
    let run = read_json(&one.join("run.json"));
    assert_eq!(run["dedup"]["parameters"]["exact_limit"], 0);

    let duplicates = |dir: &Path| -> Vec<(String, String, f64)> {
        read_jsonl(&dir.join("frames.jsonl"))
            .iter()
            .filter(|r| r["status"] == "duplicate")
            .map(|r| {
                (
                    r["frame"].to_string(),
                    base(r["duplicate_of"].as_str().unwrap()),
                    r["similarity"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let approx = duplicates(&one);
    let kept_one = kept(&one);
    for (frame, of, s) in &approx {
        assert!(kept_one.contains(of), "frame {frame}: {of} not kept");
        assert!(*s >= T - 1e-6, "frame {frame}: similarity {s}");
    }
    let exact_dups = duplicates(&exact);
    assert!(exact_dups.len() > 100, "{}", exact_dups.len());
    let found: HashSet<&String> = approx.iter().map(|d| &d.0).collect();
    let also = exact_dups.iter().filter(|d| found.contains(&d.0)).count();
    assert!(
        also as f64 >= 0.99 * exact_dups.len() as f64,
        "the index found {also} of the {} duplicates of the exact rule",
        exact_dups.len()
    );
}
