//! Long footage: `--keyframes` and `--start` reach frames without decoding all before them, and
//! still give each frame the index, name, record and pixels a decoding of every frame gives it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// 16 s of the sample (160 frames at 10 frames/s) at half its size, in `codec`.
fn clip(dir: &Path, name: &str, codec: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let sample = vtest();
    let mut a = vec![
        "-i",
        sample.to_str().unwrap(),
        "-t",
        "16",
        "-vf",
        "scale=384:288",
    ];
    a.extend_from_slice(codec);
    a.push(path.to_str().unwrap());
    ffmpeg(&a);
    path
}

/// The clips: H.264 with B-frames, HEVC with open GOPs (leading pictures after each key frame
/// that show before it), MPEG-4 Part 2 in AVI, and MPEG-4 Part 2 with B-frames in AVI, whose
/// packets carry no presentation time.
fn clips(dir: &Path) -> Vec<PathBuf> {
    vec![
        clip(
            dir,
            "h264.mp4",
            &[
                "-c:v", "libx264", "-g", "50", "-bf", "2", "-pix_fmt", "yuv420p",
            ],
        ),
        clip(
            dir,
            "hevc.mp4",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "keyint=40:open-gop=1:bframes=3:log-level=error",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        clip(
            dir,
            "mpeg4.avi",
            &["-c:v", "mpeg4", "-g", "30", "-q:v", "5"],
        ),
        clip(
            dir,
            "mpeg4_bframes.avi",
            &["-c:v", "mpeg4", "-g", "30", "-bf", "2", "-q:v", "5"],
        ),
    ]
}

/// Extracts `video` into `out` (quality checks as usual) and returns its records and its
/// `run.json` entry.
fn extract_with(video: &Path, out: &Path, extra: &[&str]) -> (Vec<Value>, Value) {
    let run = extract(&[video], out, &[&["-q", "--force"], extra].concat());
    assert_eq!(run.code, 0, "{}: {}", video.display(), run.stderr);
    let records = read_jsonl(&out.join("frames.jsonl"));
    let summary = read_json(&out.join("run.json"));
    (records, summary["videos"][0].clone())
}

/// Each record of `part` equals the record of the same frame in `full`, and its picture is the
/// same file byte for byte. The still-frame measure (`change`) is left out: it compares a frame
/// with the last one sampled before it that passed, which depends on what was sampled (the tests
/// of the gate check it against the README's definition).
fn assert_same_frames(video: &Path, part: (&Path, &[Value]), full: (&Path, &[Value])) {
    let by_frame: std::collections::HashMap<u64, &Value> = full
        .1
        .iter()
        .map(|r| (r["frame"].as_u64().unwrap(), r))
        .collect();
    for r in part.1 {
        let f = r["frame"].as_u64().unwrap();
        let whole = by_frame
            .get(&f)
            .unwrap_or_else(|| panic!("{}: frame {f} not in a full decoding", video.display()));
        assert_eq!(
            without_change(r),
            without_change(whole),
            "{}: frame {f}'s record differs",
            video.display()
        );
        if let Some(file) = r["file"].as_str() {
            let a = std::fs::read(part.0.join(file)).unwrap();
            let b = std::fs::read(full.0.join(file)).unwrap();
            assert!(
                a == b,
                "{}: {file} differs from a full decoding's",
                video.display()
            );
        }
    }
}

#[test]
fn keyframes_are_those_ffprobe_marks_with_the_pictures_of_a_full_decoding() {
    let dir = tempfile::tempdir().unwrap();
    for video in clips(dir.path()) {
        let frames = ffprobe_frames(&video);
        let keys: Vec<u64> = (0..frames.len() as u64)
            .filter(|&i| frames[i as usize].0)
            .collect();
        assert!(keys.len() >= 4, "{}: key frames {keys:?}", video.display());
        let full_dir = dir.path().join("full");
        let (full, _) = extract_with(&video, &full_dir, &[]);
        assert_eq!(full.len(), frames.len());

        let out = dir.path().join("keyframes");
        let (records, summary) = extract_with(&video, &out, &["--keyframes"]);
        let taken: Vec<u64> = records
            .iter()
            .map(|r| r["frame"].as_u64().unwrap())
            .collect();
        assert_eq!(taken, keys, "{}", video.display());
        assert!(records.iter().any(|r| r["status"] == "kept"));
        assert_same_frames(&video, (&out, &records), (&full_dir, &full));
        // Where packets carry their timestamps the decoder skipped every other frame; where they
        // do not, every frame was decoded and the key frames picked.
        let stamped = !video.ends_with("mpeg4_bframes.avi");
        let (sampler, decoded) = if stamped {
            ("skip", keys.len())
        } else {
            ("full", frames.len())
        };
        assert_eq!(summary["sampler"], sampler, "{}", video.display());
        assert_eq!(summary["decoded"], decoded as u64, "{}", video.display());
        let gap = keys.windows(2).map(|w| w[1] - w[0]).max().unwrap() as f64 / 10.0;
        assert!(
            summary["keyframe_gap_s"].as_f64().unwrap() >= gap,
            "{}: {summary}",
            video.display()
        );

        // --fps bounds them: the first key frame of each 7-second slot.
        let (bounded, _) = extract_with(&video, &out, &["--keyframes", "--fps", "0.142857142857"]);
        let mut expected = Vec::new();
        let mut next_slot = 0;
        for &k in &keys {
            let slot = (frames[k as usize].1 / 7.0 + 1e-6).floor() as i64;
            if slot >= next_slot {
                expected.push(k);
                next_slot = slot + 1;
            }
        }
        let taken: Vec<u64> = bounded
            .iter()
            .map(|r| r["frame"].as_u64().unwrap())
            .collect();
        assert_eq!(taken, expected, "{}", video.display());
        assert!(expected.len() < keys.len());
    }
}

#[test]
fn start_seeks_to_the_key_frame_before_it_and_frames_keep_their_indices() {
    let dir = tempfile::tempdir().unwrap();
    let start = 7.3;
    for video in clips(dir.path()) {
        let frames = ffprobe_frames(&video);
        let full_dir = dir.path().join("full");
        let (full, _) = extract_with(&video, &full_dir, &[]);
        let after: Vec<Value> = full
            .iter()
            .filter(|r| r["pts"].as_f64().unwrap() >= start)
            .cloned()
            .collect();
        assert!(after.len() > 80, "{}", video.display());

        let out = dir.path().join("start");
        let (records, summary) = extract_with(&video, &out, &["--start", "7.3"]);
        let frame = |r: &Value| r["frame"].as_u64().unwrap();
        assert_eq!(
            records.iter().map(frame).collect::<Vec<_>>(),
            after.iter().map(frame).collect::<Vec<_>>(),
            "{}",
            video.display()
        );
        assert_same_frames(&video, (&out, &records), (&full_dir, &full));
        // Decoding began at the last key frame at or before 7.3 s, unless the packets carry no
        // timestamps to count the frames before it by: then at the start.
        let key_before = (0..frames.len())
            .rfind(|&i| frames[i].0 && frames[i].1 <= start)
            .unwrap() as u64;
        assert!(key_before > 0);
        if video.ends_with("mpeg4_bframes.avi") {
            assert!(summary.get("sought_to").is_none(), "{summary}");
            assert_eq!(summary["decoded"], frames.len() as u64);
        } else {
            assert_eq!(summary["sought_to"], key_before, "{}", video.display());
            assert_eq!(
                summary["decoded"],
                frames.len() as u64 - key_before,
                "{}",
                video.display()
            );
        }
        assert!(
            summary["warnings"].as_array().unwrap().is_empty(),
            "{summary}"
        );

        // With --keyframes too: the key frames from 7.3 s on.
        let (keyed, _) = extract_with(&video, &out, &["--start", "7.3", "--keyframes"]);
        let taken: Vec<u64> = keyed.iter().map(|r| r["frame"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (0..frames.len() as u64)
            .filter(|&i| frames[i as usize].0 && frames[i as usize].1 >= start)
            .collect();
        assert_eq!(taken, expected, "{}", video.display());
        assert_same_frames(&video, (&out, &keyed), (&full_dir, &full));
    }
}

/// The README's measure and gate, replayed by `tests/py/still_reference.py` on frames OpenCV
/// decodes: every record's `change` agrees within 1e-5 and `still_of` exactly.
fn assert_gate_as_defined(video: &Path, out: &Path, d: &str) {
    let records = read_jsonl(&out.join("frames.jsonl"));
    let theirs = parse_jsonl(&String::from_utf8_lossy(&run_py(
        "still_reference.py",
        &[video, &out.join("frames.jsonl"), Path::new(d)],
    )));
    assert_eq!(records.len(), theirs.len());
    for (a, b) in records.iter().zip(&theirs) {
        let f = &a["frame"];
        assert_eq!(f, &b["frame"]);
        assert_eq!(a["still_of"], b["still_of"], "frame {f} (D {d})");
        match (a["change"].as_f64(), b["change"].as_f64()) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-5, "frame {f}: change {x} vs {y}"),
            (x, y) => assert_eq!(x, y, "frame {f}: change"),
        }
    }
}

#[test]
fn still_gate_keeps_held_frames_away_and_every_moving_frame_through() {
    let dir = tempfile::tempdir().unwrap();
    let video = held_clip(dir.path());
    let off_dir = dir.path().join("off");
    let (off, off_summary) = extract_with(&video, &off_dir, &["--fps", "2"]);
    let on_dir = dir.path().join("on");
    let (on, on_summary) = extract_with(
        &video,
        &on_dir,
        &["--fps", "2", "--min-change", "0.002", "--keep-rejected"],
    );
    assert_eq!(off.len(), 32);
    assert_eq!(on.len(), off.len());
    assert_gate_as_defined(&video, &off_dir, "off");
    assert_gate_as_defined(&video, &on_dir, "0.002");

    // Without the gate: a measure for every frame but the first, nothing still.
    assert!(off[0]["change"].is_null());
    assert!(off[1..].iter().all(|r| r["change"].is_f64()));
    assert!(off.iter().all(|r| r["status"] == "kept"));
    // With it: the held frames (up to and with the sample's first frame at 6 s, the same picture)
    // are still and point at the first; every later frame, where people walk, passes.
    for r in &on {
        let (pts, f) = (r["pts"].as_f64().unwrap(), &r["frame"]);
        if pts == 0.0 {
            assert_eq!(r["status"], "kept");
        } else if pts <= 6.0 {
            assert_eq!(r["status"], "still", "frame {f}");
            assert_eq!(r["still_of"], 0, "frame {f}");
            assert!(r["change"].as_f64().unwrap() < 0.002);
            assert!(
                r["file"].is_null(),
                "frame {f}: a still frame is not written"
            );
        } else {
            assert_eq!(r["status"], "kept", "frame {f}: {}", r["change"]);
        }
    }
    let still = on.iter().filter(|r| r["status"] == "still").count() as u64;
    assert_eq!(still, 12);
    assert_eq!(on_summary["rejected"]["still"], still);
    assert_eq!(
        jpegs(&on_dir.join("images")).len(),
        on.len() - still as usize
    );
    assert!(!on_dir.join("rejected/still").exists());
    // The frames that pass are the same frames, with the same pictures, as without the gate.
    let passed: Vec<Value> = on
        .iter()
        .filter(|r| r["status"] == "kept")
        .cloned()
        .collect();
    assert_same_frames(&video, (&on_dir, &passed), (&off_dir, &off));

    // Every run counts what a few values of D skip; the gate's own value counts what it did.
    let probes = &off_summary["still_at"];
    assert_eq!(probes, &on_summary["still_at"]);
    let at = |d: f64| {
        probes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["min_change"] == d)
            .unwrap_or_else(|| panic!("no probe at {d}: {probes}"))["still"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(at(0.002), still);
    assert!(at(0.05) > at(0.002));

    // The report: the measure's histogram and the table of D values.
    let r = framelabel(args!["report", &on_dir]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = read_json(&on_dir.join("report/summary.json"));
    let curve = &s["curves"]["still"];
    assert_eq!(curve["min_change"], 0.002);
    assert_eq!(curve["checked"], on.len() as u64);
    assert!(
        curve["points"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!([0.002, still]))
    );
    let h = s["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "change")
        .expect("a histogram of the change");
    let counted: u64 = h["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, on.len() as u64 - 1);
    assert_eq!(s["totals"]["rejected"]["still"], still);
}
