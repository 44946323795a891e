//! Quality metrics against OpenCV (the original tool's implementation) on the same decoded frames,
//! and the keep/reject rule on a video whose every segment has a known verdict.

use std::path::Path;

use crate::common::*;

/// Runs framelabel and the OpenCV reference on `video`, and checks every frame's metrics agree:
/// sharpness and noise within 1 % relative, entropy and brightness within 0.002 absolute.
fn assert_parity_with_opencv(video: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = framelabel(args!["extract", video, "--out", out, "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ours = read_jsonl(&out.join("frames.jsonl"));

    let theirs = parse_jsonl(&String::from_utf8_lossy(&run_py(
        "opencv_metrics.py",
        &[video],
    )));

    assert_eq!(
        ours.len(),
        theirs.len(),
        "{}: framelabel and OpenCV read different frame counts",
        video.display()
    );
    assert!(!ours.is_empty());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a["frame"], b["frame"]);
        for key in ["sharpness", "noise"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            let ok = (x - y).abs() <= 0.01 * y.abs() || (x - y).abs() < 1e-9;
            assert!(
                ok,
                "{} frame {}: {key} {x} vs OpenCV {y}",
                video.display(),
                a["frame"]
            );
        }
        for key in ["entropy", "brightness"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 0.002,
                "{} frame {}: {key} {x} vs OpenCV {y}",
                video.display(),
                a["frame"]
            );
        }
    }
}

#[test]
fn metrics_match_opencv_on_the_sample_video() {
    assert_parity_with_opencv(&vtest());
}

/// Ten frames each, in order: sharp test pattern, the same blurred, white noise, milder noise that
/// entropy alone misses, black, white.
fn make_quality_video(path: &Path, codec: &[&str]) {
    let s = "size=320x240:rate=10:duration=1";
    let inputs = [
        format!("testsrc2={s}"),
        format!("testsrc2={s},gblur=sigma=20"),
        format!("nullsrc={s},geq=lum='random(1)*255':cb=128:cr=128"),
        format!("nullsrc={s},geq=lum='68+random(1)*120':cb=128:cr=128"),
        format!("color=black:{s}"),
        format!("color=white:{s}"),
    ];
    let mut args: Vec<&str> = Vec::new();
    for i in &inputs {
        args.extend(["-f", "lavfi", "-i", i]);
    }
    args.extend([
        "-filter_complex",
        "[0][1][2][3][4][5]concat=n=6:v=1,format=yuv420p",
    ]);
    args.extend_from_slice(codec);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

const EXPECTED: [&str; 6] = ["kept", "blurry", "noisy", "noisy", "dark", "bright"];

fn assert_quality_statuses(video: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = framelabel(args!["extract", video, "--out", out, "--keep-rejected"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_jsonl(&out.join("frames.jsonl"));
    assert_eq!(records.len(), 60);
    for r in &records {
        let i = r["frame"].as_u64().unwrap() as usize;
        assert_eq!(
            r["status"],
            EXPECTED[i / 10],
            "{} frame {i}: {r}",
            video.display()
        );
    }
    // Kept frames in images/, each rejected one under rejected/<reason>/, as the records say.
    assert_eq!(jpegs(&out.join("images")).len(), 10);
    for (reason, n) in [("blurry", 10), ("noisy", 20), ("dark", 10), ("bright", 10)] {
        assert_eq!(
            jpegs(&out.join("rejected").join(reason)).len(),
            n,
            "{reason}"
        );
    }
    for r in &records {
        let file = r["file"]
            .as_str()
            .expect("every frame was written with --keep-rejected");
        assert!(out.join(file).is_file(), "{file}");
        let status = r["status"].as_str().unwrap();
        assert!(
            file.starts_with(if status == "kept" {
                "images/"
            } else {
                "rejected/"
            }),
            "{file}"
        );
    }
    // The x264 noise segment is what entropy misses and the noise estimate catches.
    let mild = &records[35];
    assert!(
        mild["entropy"].as_f64().unwrap() < 0.975 && mild["noise"].as_f64().unwrap() > 0.1,
        "{mild}"
    );
    let summary = read_json(&out.join("run.json"));
    let v = &summary["videos"][0];
    assert_eq!(v["kept"], 10);
    assert_eq!(v["rejected"]["noisy"], 20);
    assert_eq!(v["rejected"]["dark"], 10);
}

#[test]
fn synthetic_segments_get_the_right_status_h264() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("quality.mp4");
    make_quality_video(&v, &["-c:v", "libx264", "-crf", "18"]);
    assert_quality_statuses(&v);
    assert_parity_with_opencv(&v);
}

#[test]
fn synthetic_segments_get_the_right_status_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("quality.mkv");
    make_quality_video(&v, &["-c:v", "ffv1"]);
    assert_quality_statuses(&v);
    assert_parity_with_opencv(&v);
}
