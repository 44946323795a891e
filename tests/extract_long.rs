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
/// same file byte for byte.
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
        assert_eq!(r, *whole, "{}: frame {f}'s record differs", video.display());
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
        assert_eq!(records, after, "{}", video.display());
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
