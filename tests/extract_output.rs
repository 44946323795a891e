//! The output folder contract: records, names, counts, sampling, sizes, and determinism.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn frames_of(out: &Path) -> Vec<u64> {
    read_jsonl(&out.join("frames.jsonl"))
        .iter()
        .map(|r| r["frame"].as_u64().unwrap())
        .collect()
}

#[test]
fn sample_video_default_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = extract(&[&vtest()], &out, &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_jsonl(&out.join("frames.jsonl"));
    assert_eq!(records.len(), 795);
    let images = jpegs(&out.join("images"));
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], i as u64);
        assert!((r["pts"].as_f64().unwrap() - i as f64 / 10.0).abs() < 1e-6);
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(768), Some(576))
        );
        assert!(r["video"].as_str().unwrap().ends_with("vtest.avi"));
        if r["status"] == "kept" {
            assert_eq!(r["file"], format!("images/vtest_{i:06}.jpg"));
        } else {
            assert!(r.get("file").is_none());
        }
    }
    let kept = records.iter().filter(|r| r["status"] == "kept").count();
    assert_eq!(images.len(), kept);
    assert_eq!(jpeg_size(&out.join("images").join(&images[0])), (768, 576));

    let summary = read_json(&out.join("run.json"));
    let stdout: Value = serde_json::from_str(&run.stdout).expect("--json prints the summary");
    assert_eq!(stdout["totals"], summary["totals"]);
    let v = &summary["videos"][0];
    assert_eq!(v["decoded"], 795);
    assert_eq!(v["sampled"], 795);
    assert_eq!(v["kept"], kept as u64);
    let rejected: u64 = v["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(kept as u64 + rejected, 795);
    assert_eq!(v["info"]["codec"], "msmpeg4v3");
    assert_eq!(summary["parameters"]["quality"]["min_sharpness"], 0.005);
    assert!(summary["finished_at"].is_string());
    // The per-video summary line.
    assert!(
        run.stderr.contains("795 decoded, 795 sampled"),
        "{}",
        run.stderr
    );
}

#[test]
fn sampling_options() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("clip.mp4");
    make_clip(
        &v,
        "160x120",
        25,
        4.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let cases: [(&[&str], Vec<u64>); 5] = [
        (&["--every", "10"], (0..100).step_by(10).collect()),
        (&["--fps", "5"], (0..100).step_by(5).collect()),
        (&["--start", "1", "--end", "00:00:02"], (25..50).collect()),
        (
            &["--every", "3", "--max-frames", "7"],
            (0..21).step_by(3).collect(),
        ),
        (
            &["--fps", "2", "--start", "00:00:01.5"],
            vec![38, 50, 63, 75, 88],
        ),
    ];
    for (i, (opts, want)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let run = extract(&[&v], &out, opts);
        assert_eq!(run.code, 0, "{opts:?}: {}", run.stderr);
        assert_eq!(&frames_of(&out), want, "{opts:?}");
    }
}

#[test]
fn resize_modes_and_name_template() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, size) in [
        ("stretch", (960, 544)),
        ("fit", (725, 544)),
        ("pad", (960, 544)),
    ] {
        let out = dir.path().join(mode);
        let run = extract(
            &[&vtest()],
            &out,
            &["--max-frames", "2", "--size", "960x544", "--resize", mode],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let images = jpegs(&out.join("images"));
        assert_eq!(images.len(), 2);
        assert_eq!(
            jpeg_size(&out.join("images").join(&images[1])),
            size,
            "{mode}"
        );
    }
    let out = dir.path().join("named");
    let run = extract(
        &[&vtest()],
        &out,
        &[
            "--every",
            "5",
            "--max-frames",
            "3",
            "--name",
            "{video}-{time_ms:07}",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        jpegs(&out.join("images")),
        [
            "vtest-0000000.jpg",
            "vtest-0000500.jpg",
            "vtest-0001000.jpg"
        ]
    );
}

#[test]
fn same_stems_spaces_unicode_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("cam a");
    let b = dir.path().join("cäm b/sub");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    make_clip(
        &a.join("clip ü.mp4"),
        "160x120",
        10,
        1.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    make_clip(
        &b.join("clip ü.avi"),
        "160x120",
        10,
        1.5,
        &["-c:v", "mpeg4"],
    );
    std::fs::write(b.join("notes.txt"), "not a video").unwrap();
    let out = dir.path().join("out put");
    // A file and a folder searched recursively; both videos have the stem "clip ü".
    let run = extract(
        &[&a.join("clip ü.mp4"), &dir.path().join("cäm b")],
        &out,
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let images = jpegs(&out.join("images"));
    assert_eq!(images.len(), 25, "{images:?}");
    assert!(images.contains(&"clip ü_000009.jpg".to_string()));
    assert!(images.contains(&"clip ü-2_000014.jpg".to_string()));
    let summary = read_json(&out.join("run.json"));
    assert_eq!(summary["totals"]["videos"], 2);
    assert_eq!(summary["videos"][1]["key"], "clip ü-2");
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "3"] {
        let out = dir.path().join(threads);
        let run = extract(
            &[&vtest()],
            &out,
            &["--every", "4", "--size", "320x240", "--threads", threads],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        outputs.push(std::fs::read_to_string(out.join("frames.jsonl")).unwrap());
        let names = jpegs(&out.join("images"));
        assert_eq!(names.len(), 199);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn existing_dataset_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(extract(&[&vtest()], &out, &["--max-frames", "3"]).code, 0);
    std::fs::write(out.join("mine.txt"), "user file").unwrap();
    let again = extract(&[&vtest()], &out, &["--max-frames", "2"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already holds a dataset") && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        frames_of(&out),
        [0, 1, 2],
        "a refused run must not touch the dataset"
    );
    let forced = extract(&[&vtest()], &out, &["--max-frames", "2", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(frames_of(&out), [0, 1]);
    assert_eq!(jpegs(&out.join("images")).len(), 2);
    assert!(
        out.join("mine.txt").exists(),
        "--force removes only what framelabel wrote"
    );
}
