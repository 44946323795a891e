//! Bad input never panics: one clear line naming the file and the cause, a documented exit code, and
//! the other inputs still processed.

use std::path::Path;

use crate::common::{Run, jpegs, make_clip, read_json, read_jsonl, vtest};

/// `framelabel extract ... -q`: only errors and warnings on stderr.
fn extract(inputs: &[&Path], out: &Path, extra: &[&str]) -> Run {
    let extra: Vec<&str> = ["-q"].iter().chain(extra).copied().collect();
    crate::common::extract(inputs, out, &extra)
}

/// The stderr line about `file`, which must exist and be a single line naming it.
fn error_line<'a>(run: &'a Run, file: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.starts_with("framelabel: error:") && l.contains(file))
        .unwrap_or_else(|| panic!("no error line naming {file} in: {}", run.stderr))
}

fn overwrite(path: &Path, at: &[f64], len: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    let mut x = 0x2545F491u32;
    for &frac in at {
        let start = (n as f64 * frac) as usize;
        for b in &mut bytes[start..(start + len).min(n)] {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn unreadable_files_fail_alone_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.mp4");
    make_clip(
        &good,
        "160x120",
        10,
        2.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    std::fs::write(d.join("empty.mp4"), b"").unwrap();
    std::fs::write(
        d.join("notes.mp4"),
        "these are my notes, not a video\n".repeat(50),
    )
    .unwrap();
    // An MP4 whose index (moov, written last) was cut off.
    let full = std::fs::read(&good).unwrap();
    std::fs::write(d.join("cut.mp4"), &full[..full.len() / 2]).unwrap();
    let missing = d.join("missing.mp4");

    let inputs = [
        d.join("empty.mp4"),
        d.join("notes.mp4"),
        d.join("cut.mp4"),
        missing.clone(),
        good.clone(),
    ];
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let out = d.join("out");
    let run = extract(&refs, &out, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
    assert!(error_line(&run, "empty.mp4").contains("the file is empty"));
    assert!(error_line(&run, "notes.mp4").contains("not a video FFmpeg can read"));
    assert!(error_line(&run, "cut.mp4").contains("truncated before its index"));
    assert!(error_line(&run, "missing.mp4").contains("no such file"));
    // The good one was processed in full, and the summary names the failures.
    assert_eq!(jpegs(&out.join("images")).len(), 20);
    let last = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains("inputs failed"))
        .expect("a summary of failures");
    assert!(
        last.contains("4 of 5 inputs failed") && last.contains("missing.mp4"),
        "{last}"
    );
    let summary = read_json(&out.join("run.json"));
    assert_eq!(summary["failed"].as_array().unwrap().len(), 4);
    assert_eq!(summary["videos"][4]["status"], "ok");
    assert_eq!(summary["videos"][0]["status"], "failed");
}

#[test]
fn truncated_mp4_with_index_at_front_decodes_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    make_clip(
        &full,
        "320x240",
        25,
        4.0,
        &[
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 45 / 100]).unwrap();
    let out = dir.path().join("out");
    let run = extract(&[&cut], &out, &[]);
    assert_eq!(run.code, 0, "warnings only: {}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("truncated"))
        .expect("a truncation warning");
    assert!(
        warning.starts_with("framelabel: warning:")
            && warning.contains("cut.mp4")
            && warning.contains("of the 100 frames")
    );
    let v = &read_json(&out.join("run.json"))["videos"][0];
    assert_eq!(v["truncated"], true);
    let decoded = v["decoded"].as_u64().unwrap();
    assert!(decoded > 20 && decoded < 100, "{decoded}");
    assert_eq!(
        read_jsonl(&out.join("frames.jsonl")).len() as u64,
        v["sampled"].as_u64().unwrap()
    );
}

#[test]
fn corrupt_bytes_in_the_middle_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let avi = dir.path().join("damaged vtest.avi");
    std::fs::copy(vtest(), &avi).unwrap();
    overwrite(&avi, &[0.33, 0.5, 0.66], 3000);
    let mp4 = dir.path().join("damaged.mp4");
    make_clip(
        &mp4,
        "640x480",
        25,
        8.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25"],
    );
    overwrite(&mp4, &[0.33, 0.5, 0.66], 2000);
    for (video, total) in [(&avi, 795u64), (&mp4, 200)] {
        let out = dir.path().join(format!(
            "out-{}",
            video.file_name().unwrap().to_string_lossy()
        ));
        let run = extract(&[video], &out, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let v = &read_json(&out.join("run.json"))["videos"][0];
        let damaged = v["decode_errors"].as_u64().unwrap() + v["corrupt_frames"].as_u64().unwrap();
        assert!(
            damaged > 0,
            "{}: damage went unnoticed: {v}",
            video.display()
        );
        let sampled = v["sampled"].as_u64().unwrap();
        assert!(
            sampled < total && sampled > total * 9 / 10,
            "{}: {sampled} of {total}",
            video.display()
        );
        assert!(
            run.stderr.contains("skipped damaged data"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn unwritable_output_folder_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a file");
    std::fs::write(&file, "x").unwrap();
    let run = extract(&[&vtest()], &file.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = error_line(&run, "a file/out");
    assert!(
        line.contains("cannot create the output folder") && line.contains("--out"),
        "{line}"
    );
    let run = extract(&[&vtest()], &file, &[]);
    assert_eq!(run.code, 2);
    assert!(error_line(&run, "a file").contains("not a folder"));
}

#[test]
fn nonsense_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (opts, needle) in [
        (&["--size", "0x0"][..], "--size: '0x0' is not a size"),
        (&["--every", "0"], "--every: 0 is not a frame step"),
        (&["--fps", "-1"], "--fps: -1 is not a frame rate"),
        (
            &["--name", "{video}_{frames}"],
            "--name: unknown placeholder '{frames}'",
        ),
        (&["--start", "abc"], "--start: 'abc' is not a time"),
    ] {
        let run = extract(&[&vtest()], &out, opts);
        assert_eq!(run.code, 2, "{opts:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "{opts:?}: one line: {}",
            run.stderr
        );
        assert!(run.stderr.contains(needle), "{opts:?}: {}", run.stderr);
        assert!(!out.exists(), "nothing is written for a usage error");
    }
    // Unknown flags are clap's usage errors, also exit 2.
    assert_eq!(extract(&[&vtest()], &out, &["--bogus"]).code, 2);
}

/// After a damaged region the decoder recovers at the next key frame, as FFmpeg's own program
/// does: at least 97 % of the frames ffprobe decodes from the damaged file are taken, each at a time
/// ffprobe shows, and the damage is counted. H.264 (with B-frames), HEVC and MPEG-4 Part 2, each
/// with a key frame every 50 frames, made from the sample video.
#[test]
fn decoding_recovers_after_a_damaged_middle() {
    let dir = tempfile::tempdir().unwrap();
    let src = vtest();
    let cases: [(&str, &[&str]); 3] = [
        (
            "h264.mp4",
            &["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"],
        ),
        (
            "hevc.mp4",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=50:log-level=error",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        ("mpeg4.avi", &["-c:v", "mpeg4", "-g", "50", "-q:v", "3"]),
    ];
    for (name, codec) in cases {
        let video = dir.path().join(name);
        let mut args = vec![
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            "400",
            "-vf",
            "scale=384:288",
        ];
        args.extend_from_slice(codec);
        args.push(video.to_str().unwrap());
        crate::common::ffmpeg(&args);
        // 48 KiB of random bytes in the middle (a bad sector, a broken copy).
        overwrite(&video, &[0.5], 48 << 10);
        let times = crate::common::ffprobe_frame_times(&video);
        let out = dir.path().join(format!("out-{name}"));
        let run = extract(&[&video], &out, &[]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let v = &read_json(&out.join("run.json"))["videos"][0];
        let damaged = v["decode_errors"].as_u64().unwrap() + v["corrupt_frames"].as_u64().unwrap();
        assert!(damaged > 0, "{name}: damage went unnoticed: {v}");
        let records = read_jsonl(&out.join("frames.jsonl"));
        let share = records.len() as f64 / times.len() as f64;
        eprintln!(
            "{name}: {} of ffprobe's {} frames ({:.1} %), {damaged} damaged",
            records.len(),
            times.len(),
            share * 100.0
        );
        assert!(
            share >= 0.97,
            "{name}: {} of {} frames",
            records.len(),
            times.len()
        );
        for r in &records {
            let pts = r["pts"].as_f64().unwrap();
            assert!(
                times.iter().any(|t| (t - pts).abs() < 1e-3),
                "{name}: frame {} at {pts} s is not one ffprobe shows",
                r["frame"]
            );
        }
    }
}
