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
        // The path as the user would read it: `vtest()` is `.../main/../shared/media/vtest.avi`.
        assert_eq!(r["video"], vtest_normalised());
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
    assert_eq!(v["video"], vtest_normalised());
    assert_eq!(
        v["given"],
        vtest().to_str().unwrap(),
        "the path as typed is kept"
    );
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
        if opts.contains(&"--max-frames") {
            // Decoding stops at the last frame taken.
            let decoded = &read_json(&out.join("run.json"))["videos"][0]["decoded"];
            assert_eq!(decoded.as_u64(), Some(want.last().unwrap() + 1), "{opts:?}");
        }
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

/// Per-channel mean difference (ours − reference) and mean absolute difference of two RGB24
/// pictures of the same size.
fn colour_error(ours: &[u8], reference: &[u8]) -> ([f64; 3], [f64; 3]) {
    assert_eq!(ours.len(), reference.len());
    let (mut bias, mut mad) = ([0f64; 3], [0f64; 3]);
    for (i, (&a, &b)) in ours.iter().zip(reference).enumerate() {
        let d = a as f64 - b as f64;
        bias[i % 3] += d;
        mad[i % 3] += d.abs();
    }
    let n = (ours.len() / 3) as f64;
    (bias.map(|v| v / n), mad.map(|v| v / n))
}

/// Written JPEGs keep the source's colours and geometry, whichever way they are made: from the
/// decoder's 4:2:0 planes (video or full range, scaled or not, odd sizes) or, for other pixel
/// formats, from RGB. The reference is FFmpeg's accurate BT.601 conversion of the same frames to the
/// same size (`accurate_rnd+full_chroma_int`).
#[test]
fn written_pictures_keep_the_source_colours() {
    let dir = tempfile::tempdir().unwrap();
    // Natural pictures: testsrc2's saturated bars clip in RGB, where any two chroma filters differ.
    let vtest = vtest();
    let clip = |name: &str, codec: &[&str]| {
        let path = dir.path().join(name);
        let mut args = vec!["-i", vtest.to_str().unwrap(), "-frames:v", "3"];
        args.extend_from_slice(codec);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
        path
    };
    let mjpeg = clip(
        "full range.avi",
        &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "2"],
    );
    let yuv444 = clip("yuv444.mkv", &["-c:v", "ffv1", "-pix_fmt", "yuv444p"]);
    let odd = clip(
        "odd.mkv",
        &[
            "-vf",
            "scale=321:241",
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    // (video, --size, output size); the last is not 4:2:0 and is written from RGB.
    let cases: [(&Path, Option<&str>, (usize, usize)); 6] = [
        (&vtest, None, (768, 576)),
        (&vtest, Some("481x271"), (481, 271)),
        (&mjpeg, Some("200x150"), (200, 150)),
        (&odd, None, (321, 241)),
        (&odd, Some("640x480"), (640, 480)),
        (&yuv444, Some("200x150"), (200, 150)),
    ];
    for (i, (video, size, (w, h))) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut extra = vec![
            "--max-frames",
            "3",
            "--min-sharpness",
            "0",
            "--max-noise",
            "1",
        ];
        extra.extend([
            "--max-entropy",
            "1",
            "--resize",
            "stretch",
            "--jpeg-quality",
            "95",
        ]);
        if let Some(s) = size {
            extra.extend(["--size", s]);
        }
        let run = extract(&[video], &out, &extra);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let reference = dir.path().join(format!("ref{i}.rgb"));
        let filter =
            format!("scale={w}:{h}:flags=bilinear+accurate_rnd+full_chroma_int,format=rgb24");
        let v = video.to_str().unwrap();
        let r = reference.to_str().unwrap();
        ffmpeg(&[
            "-i",
            v,
            "-vf",
            &filter,
            "-frames:v",
            "3",
            "-f",
            "rawvideo",
            r,
        ]);
        let reference = std::fs::read(&reference).unwrap();
        let images = jpegs(&out.join("images"));
        assert_eq!(images.len(), 3, "case {i}: {images:?}");
        for (k, name) in images.iter().enumerate() {
            let bytes = std::fs::read(out.join("images").join(name)).unwrap();
            let img: turbojpeg::Image<Vec<u8>> =
                turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB).unwrap();
            assert_eq!((img.width, img.height), (w, h), "case {i} {name}");
            let frame = &reference[k * w * h * 3..(k + 1) * w * h * 3];
            let (bias, mad) = colour_error(&img.pixels, frame);
            let what = format!(
                "case {i} ({} {size:?}) {name}: bias {bias:.3?}, mad {mad:.3?}",
                v
            );
            // FFmpeg's fast 4:2:0 to RGB path is 0.9 to 1.4 levels dark on vtest: too much here.
            assert!(bias.iter().all(|b| b.abs() < 0.5), "{what}");
            // JPEG at q95 and another chroma filter cost a few levels (up to 3.2 measured at a
            // 0.26× shrink); a shifted, swapped or mis-strided plane costs tens.
            assert!(mad.iter().all(|m| *m < 4.0), "{what}");
        }
    }
}

/// Peak resident memory (kB) of `framelabel extract VIDEO --out OUT EXTRA...`.
fn extract_peak_kb(video: &Path, out: &Path, extra: &[&str]) -> u64 {
    let mut args = vec![
        env!("CARGO_BIN_EXE_framelabel").to_string(),
        "extract".into(),
        video.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let text = String::from_utf8(run_py("peak_rss.py", &args)).unwrap();
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(v[0], 0, "framelabel extract failed on {}", video.display());
    v[1]
}

/// Decoding holds on to nothing per packet: a video ten times longer needs no more memory. Raw
/// video makes the packets large (115 kB each), so keeping them would add the whole 100 MB of the
/// longer file.
#[test]
fn memory_does_not_grow_with_video_length() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = (dir.path().join("short.nut"), dir.path().join("long.nut"));
    make_clip(
        &short,
        "320x240",
        25,
        4.0,
        &["-c:v", "rawvideo", "-pix_fmt", "yuv420p"],
    );
    make_clip(
        &long,
        "320x240",
        25,
        40.0,
        &["-c:v", "rawvideo", "-pix_fmt", "yuv420p"],
    );
    let grown = std::fs::metadata(&long).unwrap().len() - std::fs::metadata(&short).unwrap().len();
    let every = ["--every", "100000", "-q"];
    let a = extract_peak_kb(&short, &dir.path().join("a"), &every);
    let b = extract_peak_kb(&long, &dir.path().join("b"), &every);
    assert!(
        b < a + grown / 1024 / 4,
        "peak {a} kB for the short video, {b} kB for the long one ({} kB more input)",
        grown / 1024
    );
}

/// `run` writes some kept frames late, by decoding their video again ([`write_again`]), starting at
/// the key frame before them. The JPEGs must be those extraction wrote, byte for byte, whether the
/// seek lands right, or is given a key frame that is not one (then the timestamps disagree and
/// decoding starts over from the first frame).
#[test]
fn frames_decoded_again_from_a_key_frame_are_the_frames_extracted() {
    use framelabel::dataset::Dataset;
    use framelabel::extract::decode::{BufferPool, Keyframe, VideoSource};
    use framelabel::extract::picture::Output;
    use framelabel::extract::sample::Decision;
    use framelabel::extract::unwritten::write_again;

    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    // H.264 with B-frames (output order differs from decoding order), a key frame every 12.
    make_clip(
        &clip,
        "320x240",
        24,
        3.0,
        &[
            "-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p",
        ],
    );
    let out = dir.path().join("out");
    let run = extract(&[&clip], &out, &["--every", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let keyframes = VideoSource::open(&clip)
        .unwrap()
        .run(&BufferPool::new(2), |_, _| Decision::Skip, |_| true)
        .keyframes;
    let indices: Vec<u64> = keyframes.iter().map(|k| k.index).collect();
    assert_eq!(indices, vec![0, 12, 24, 36, 48, 60], "key frames met");

    let ds = Dataset::new(&out);
    let records = ds.read_frames().unwrap();
    let wanted: Vec<_> = records
        .iter()
        .filter(|r| [5, 30, 31, 47, 62].contains(&r.frame) && r.file.is_some())
        .collect();
    assert_eq!(wanted.len(), 5, "the frames chosen were kept");
    let originals: Vec<Vec<u8>> = wanted
        .iter()
        .map(|r| std::fs::read(ds.file_path(r)).unwrap())
        .collect();
    let bogus = Keyframe {
        // Frame 24's number with frame 20's timestamp: not a key frame of the video.
        index: 24,
        ts: keyframes[1].ts + (keyframes[2].ts - keyframes[1].ts) * 8 / 12,
    };
    // From the start: frames 0 to 62. From key frames: 0–5, 24–31, 36–47 and 60–62. With the
    // bogus key frame: 0–5; then frames 20 to 26, numbered 24 to 30, where frame 26's timestamp is
    // not frame 30's; then 0–62 from the start.
    let given = [
        (vec![], 63),
        (keyframes.clone(), 6 + 8 + 12 + 3),
        (vec![keyframes[0], keyframes[1], bogus], 6 + 7 + 63),
    ];
    for (keys, frames_decoded) in given {
        for r in &wanted {
            std::fs::remove_file(ds.file_path(r)).unwrap();
        }
        let again = write_again(&Output::default(), &ds, &clip, &wanted, &keys).unwrap();
        assert!(again.lost.is_empty(), "frames lost: {:?}", again.lost);
        assert_eq!(
            again.decoded, frames_decoded,
            "frames decoded with key frames {keys:?}"
        );
        for (r, bytes) in wanted.iter().zip(&originals) {
            let again = std::fs::read(ds.file_path(r)).unwrap();
            assert!(
                &again == bytes,
                "frame {} written again differs from its extraction (key frames {keys:?})",
                r.frame
            );
        }
    }
}
