//! Every common container and codec decodes, each frame exactly once, with the timestamps FFmpeg's
//! own tools report.

use std::path::Path;

use crate::common::*;

fn assert_frames_match_ffprobe(video: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = framelabel(args!["extract", video, "--out", out, "-q"]);
    assert_eq!(run.code, 0, "{}: {}", video.display(), run.stderr);
    let records = read_jsonl(&out.join("frames.jsonl"));
    let times = ffprobe_frame_times(video);
    assert_eq!(
        records.len(),
        times.len(),
        "{}: frame count differs from ffprobe",
        video.display()
    );
    let first = times[0];
    for (i, (r, t)) in records.iter().zip(&times).enumerate() {
        assert_eq!(r["frame"], i as u64);
        let pts = r["pts"].as_f64().unwrap();
        assert!(
            (pts - (t - first)).abs() < 1e-3,
            "{} frame {i}: pts {pts} vs ffprobe {t}",
            video.display()
        );
    }
    let summary = read_json(&out.join("run.json"));
    assert_eq!(summary["videos"][0]["decoded"], times.len() as u64);
    assert_eq!(
        jpegs(&out.join("images")).len(),
        records.iter().filter(|r| r["status"] == "kept").count()
    );
}

#[test]
fn common_containers_and_codecs() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 8] = [
        (
            "h264.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2"],
        ),
        ("mpeg4.avi", &["-c:v", "mpeg4", "-q:v", "3"]),
        ("msmpeg4.avi", &["-c:v", "msmpeg4", "-q:v", "3"]),
        ("cinepak.avi", &["-c:v", "cinepak"]),
        ("h264.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        (
            "vp9.webm",
            &[
                "-c:v",
                "libvpx-vp9",
                "-b:v",
                "300k",
                "-deadline",
                "realtime",
            ],
        ),
        ("vp8.webm", &["-c:v", "libvpx", "-b:v", "300k"]),
        ("mjpeg.mov", &["-c:v", "mjpeg", "-q:v", "3"]),
    ];
    for (name, codec) in cases {
        let v = dir.path().join(name);
        make_clip(&v, "160x120", 10, 2.0, codec);
        assert_frames_match_ffprobe(&v);
    }
}

#[test]
fn variable_frame_rate_gives_each_decoded_frame_once() {
    // 9 pictures kept from a 25 fps source with gaps, timestamps passed through: a reader that
    // resamples to a constant rate would invent frames in the gaps.
    let dir = tempfile::tempdir().unwrap();
    for name in ["vfr.mp4", "vfr.mkv"] {
        let v = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25:duration=3",
            "-vf",
            "select='lt(mod(n\\,25)\\,3)'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            v.to_str().unwrap(),
        ]);
        assert_eq!(ffprobe_frame_times(&v).len(), 9);
        assert_frames_match_ffprobe(&v);
    }
}
