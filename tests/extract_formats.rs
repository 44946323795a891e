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

/// The first frame as the `ffmpeg` program shows it (which turns it upright), as packed RGB.
fn ffmpeg_first_frame(video: &Path) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", video.to_str().unwrap()])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn portrait_phone_video_is_turned_upright() {
    let tmp = tempfile::tempdir().unwrap();
    let coded = tmp.path().join("coded.mp4");
    make_clip(
        &coded,
        "320x240",
        5,
        1.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    for turn in ["90", "180", "270"] {
        // What phones do: the picture stored as the sensor sees it, a display matrix to turn it.
        let video = tmp.path().join(format!("turned{turn}.mp4"));
        let v = video.to_str().unwrap();
        let tag = format!("rotate={turn}");
        ffmpeg(&[
            "-i",
            coded.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &tag,
            v,
        ]);
        let out = tmp.path().join(format!("out{turn}"));
        assert_eq!(extract(&[&video], &out, &["-q"]).code, 0);
        let jpeg = out.join(format!("images/turned{turn}_000000.jpg"));
        let (w, h) = jpeg_size(&jpeg);
        let upright = if turn == "180" {
            (320, 240)
        } else {
            (240, 320)
        };
        assert_eq!((w, h), upright, "turn {turn}");
        let record = &read_jsonl(&out.join("frames.jsonl"))[0];
        assert_eq!(
            (record["width"].as_u64(), record["height"].as_u64()),
            (Some(w as u64), Some(h as u64))
        );
        let summary = read_json(&out.join("run.json"));
        // The rotation as ffprobe reports the display matrix.
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["stream_side_data=rotation", "-of", "csv=p=0", v])
            .output()
            .unwrap();
        let probed: i64 = String::from_utf8_lossy(&probe.stdout)
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            summary["videos"][0]["info"]["rotation"].as_i64(),
            Some(probed.rem_euclid(360)),
            "turn {turn}"
        );
        // The pixels are ffmpeg's upright picture, up to JPEG loss; another turn is far off.
        let ours =
            turbojpeg::decompress(&std::fs::read(&jpeg).unwrap(), turbojpeg::PixelFormat::RGB)
                .unwrap()
                .pixels;
        let diff = |a: &[u8], b: &[u8]| {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(&x, &y)| x.abs_diff(y) as f64)
                .sum::<f64>()
                / a.len() as f64
        };
        let theirs = ffmpeg_first_frame(&video);
        let d = diff(&ours, &theirs);
        assert!(
            d < 6.0,
            "turn {turn}: mean difference {d:.2} from ffmpeg's upright frame"
        );
        if turn == "180" {
            let d = diff(&ours, &ffmpeg_first_frame(&coded));
            assert!(d > 30.0, "the frame as coded differs by only {d:.2}");
        }
    }
}
