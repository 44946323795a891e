//! `run --track` on the sample video with the shared models: tracks hold the kept frames' boxes, the
//! annotations, records, tracks and review queue agree with each other, tracking changes nothing
//! else of the output, and a run killed while detecting the frames between kept ones resumes to the
//! same output.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use crate::common::*;

const EXPORTS: &str = "label-studio,cvat,cvat-video,mot";

/// The output with what `--track` adds taken out: records without `tracks` and `review`,
/// annotations without `attributes`.
fn without_tracks(dir: &Path) -> (Vec<Value>, Value) {
    let mut records = read_jsonl(&dir.join("frames.jsonl"));
    for r in &mut records {
        let r = r.as_object_mut().unwrap();
        r.remove("tracks");
        r.remove("review");
    }
    let mut coco = read_json(&dir.join("annotations.json"));
    coco["info"].as_object_mut().unwrap().remove("date_created");
    for a in coco["annotations"].as_array_mut().unwrap() {
        a.as_object_mut().unwrap().remove("attributes");
    }
    (records, coco)
}

fn tracked_output(dir: &Path) -> (String, Value, Vec<Value>, Value) {
    let mut coco = read_json(&dir.join("annotations.json"));
    coco["info"].as_object_mut().unwrap().remove("date_created");
    (
        std::fs::read_to_string(dir.join("tracks.jsonl")).unwrap(),
        read_json(&dir.join("review.json")),
        read_jsonl(&dir.join("frames.jsonl")),
        coco,
    )
}

#[test]
fn tracks_hold_the_kept_frames_boxes_and_the_review_queue_agrees_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tracked");
    let args = run_args(
        &[&vtest()],
        &dir,
        &["--track", "--json", "--export", EXPORTS],
    );
    let r = framelabel(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    let t = &summary["track"];
    assert_eq!(t, &read_json(&dir.join("run.json"))["track"]);

    // Tracks: one line each, unique ids, frames in order, one box, score and class per frame.
    let tracks: HashMap<u64, Value> = read_jsonl(&dir.join("tracks.jsonl"))
        .into_iter()
        .map(|t| (t["id"].as_u64().unwrap(), t))
        .collect();
    assert_eq!(tracks.len() as u64, t["tracks"].as_u64().unwrap());
    for (id, tr) in &tracks {
        let frames: Vec<u64> = tr["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect();
        assert!(
            frames.windows(2).all(|w| w[0] < w[1]),
            "track {id}: {frames:?}"
        );
        for k in ["pts", "boxes", "scores", "categories"] {
            assert_eq!(
                tr[k].as_array().unwrap().len(),
                frames.len(),
                "track {id} {k}"
            );
        }
        // Its class is the one most of its boxes have.
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for c in tr["categories"].as_array().unwrap() {
            *votes.entry(c.as_str().unwrap()).or_default() += 1;
        }
        let best = votes.values().max().unwrap();
        assert_eq!(votes[tr["category"].as_str().unwrap()], *best, "track {id}");
    }

    // Every annotation names its track, which holds that very box at that frame.
    let coco = read_json(&dir.join("annotations.json"));
    let images: HashMap<u64, &Value> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_u64().unwrap(), i))
        .collect();
    let annotations = coco["annotations"].as_array().unwrap();
    let mut in_long = 0;
    for a in annotations {
        let id = a["attributes"]["track_id"].as_u64().expect("a track id");
        let tr = &tracks[&id];
        let frame = images[&a["image_id"].as_u64().unwrap()]["frame"]
            .as_u64()
            .unwrap();
        let at = tr["frames"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f.as_u64() == Some(frame))
            .unwrap_or_else(|| panic!("track {id} lacks frame {frame}"));
        let (b, want) = (f64s(&tr["boxes"][at]), f64s(&a["bbox"]));
        assert!(
            b.iter().zip(&want).all(|(x, y)| (x - y).abs() < 0.011),
            "{b:?} vs {want:?}"
        );
        assert_eq!(tr["scores"][at], a["score"]);
        let len = tr["frames"].as_array().unwrap().len();
        in_long += (len >= 3) as usize;
        // A box of a track seen once is lonely, and only such boxes are.
        let reasons = a["attributes"]["reasons"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            reasons.contains(&Value::from("lonely")),
            len < 2,
            "annotation {}",
            a["id"]
        );
    }
    // Measured: 671 of the 694 boxes (96.7 %) in tracks seen in 3 sampled frames or more.
    let share = in_long as f64 / annotations.len() as f64;
    eprintln!(
        "boxes in tracks of 3+ frames: {in_long} of {} ({share:.3})",
        annotations.len()
    );
    assert!(share >= 0.9, "{share}");
    assert_eq!(in_long as u64, t["boxes_in_tracks_3"].as_u64().unwrap());
    // The tracker saw 5 frames a second (the default), the sampled ones among them.
    let frames_seen = t["frames"].as_u64().unwrap();
    assert!((395..=400).contains(&frames_seen), "{frames_seen}");

    // Records: every sampled frame lists its tracks; every kept frame has its review.
    let records = read_jsonl(&dir.join("frames.jsonl"));
    let mut kept = 0;
    let mut per_reason: HashMap<String, u64> = HashMap::new();
    for r in &records {
        let present: Vec<u64> = r["tracks"]
            .as_array()
            .expect("tracks")
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        for id in &present {
            let f = r["frame"].as_u64().unwrap();
            assert!(
                tracks[id]["frames"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(f))
            );
        }
        if r["status"] == "kept" {
            kept += 1;
            let review = &r["review"];
            assert!(review["priority"].as_f64().unwrap() >= 0.0);
            let missed = !review["suggestions"].as_array().unwrap().is_empty();
            let reasons = review["reasons"].as_array().unwrap();
            assert_eq!(reasons.contains(&Value::from("missed")), missed);
            for s in review["suggestions"].as_array().unwrap() {
                assert_eq!(s["source"], "track");
                // A suggestion is of a track that crosses the frame without a box in it.
                let tr = &tracks[&s["track_id"].as_u64().unwrap()];
                let frames = tr["frames"].as_array().unwrap();
                let f = r["frame"].as_u64().unwrap();
                assert!(!frames.contains(&Value::from(f)));
                assert!(
                    frames[0].as_u64().unwrap() < f
                        && f < frames[frames.len() - 1].as_u64().unwrap()
                );
            }
            for w in reasons {
                *per_reason.entry(w.as_str().unwrap().into()).or_default() += 1;
            }
        } else {
            assert!(r.get("review").is_none());
        }
    }
    assert_eq!(kept, t["kept_frames"].as_u64().unwrap());
    let counted: HashMap<String, u64> = t["frames_flagged"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(per_reason, counted);

    // The review queue: every kept frame once, highest priority first, with its flagged boxes.
    let review = read_json(&dir.join("review.json"));
    let queue = review.as_array().unwrap();
    assert_eq!(queue.len(), kept as usize);
    let p: Vec<f64> = queue
        .iter()
        .map(|q| q["priority"].as_f64().unwrap())
        .collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");
    assert!(p[0] > 0.0);
    let ids: HashSet<u64> = queue
        .iter()
        .map(|q| q["image_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), queue.len());
    let flagged: usize = queue
        .iter()
        .map(|q| q["boxes"].as_array().unwrap().len())
        .sum();
    let with_reasons = annotations
        .iter()
        .filter(|a| a["attributes"].get("reasons").is_some())
        .count();
    assert_eq!(flagged, with_reasons);

    // The exports, as the tools that consume them read them.
    check_exports(&dir, &tracks, annotations, queue);

    // The report: "Review first" with the counts of run.json and the queue's first frames drawn,
    // checked against the records and opened in Chromium.
    let summary = read_json(&dir.join("report/summary.json"));
    let rv = &summary["review"];
    assert_eq!(rv["kept_frames"], t["kept_frames"]);
    assert_eq!(rv["flagged_frames"], t["frames_flagged_any"]);
    assert_eq!(rv["tracks"], t["tracks"]);
    for c in rv["reasons"].as_array().unwrap() {
        let reason = c["reason"].as_str().unwrap();
        let or0 = |v: &Value| v.as_u64().unwrap_or(0);
        assert_eq!(
            or0(&c["frames"]),
            or0(&t["frames_flagged"][reason]),
            "{reason}"
        );
        assert_eq!(
            or0(&c["boxes"]),
            or0(&t["boxes_flagged"][reason]),
            "{reason}"
        );
    }
    let top = rv["top"].as_array().unwrap();
    let wanted = queue
        .iter()
        .filter(|q| q["priority"].as_f64().unwrap() > 0.0)
        .count();
    // As many as previews (50 by default), of those with a reason or a low score.
    assert_eq!(top.len(), wanted.min(50));
    for (f, q) in top.iter().zip(queue) {
        assert_eq!(f["source"].as_str().unwrap(), q["file"].as_str().unwrap());
        assert_eq!(f["priority"], q["priority"]);
        assert!(
            dir.join("report")
                .join(f["file"].as_str().unwrap())
                .is_file()
        );
    }
    let page = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    assert!(page.contains("id=\"review\"") && page.contains("Review first"));
    crate::report::check_report(&dir, tmp.path());

    // Tracking changes nothing else.
    let plain = tmp.path().join("plain");
    let r = framelabel(run_args(&[&vtest()], &plain, &["--no-report"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        without_tracks(&dir) == without_tracks(&plain),
        "--track changed the output"
    );

    // Killed while detecting the frames between kept ones, it resumes to the same output.
    let killed = tmp.path().join("killed");
    let args = run_args(
        &[&vtest()],
        &killed,
        &["--track", "--no-report", "--export", EXPORTS],
    );
    let state = killed.join(".framelabel/track-frames.jsonl");
    assert!(
        kill_when(&args, &killed, |_| lines(&state) >= 60),
        "the run finished before it could be killed"
    );
    let r = framelabel(args.iter().chain(&["--json".to_string()]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(again["track"]["detections_reused"].as_u64().unwrap() >= 60);
    assert!(
        tracked_output(&killed) == tracked_output(&dir),
        "the resumed run differs"
    );
}

/// Each box of the tracks as (frame, track, class, x, y, w, h), in frame and track order.
type Row = (u64, u64, String, [f64; 4]);

fn close(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.011)
}

fn check_exports(dir: &Path, tracks: &HashMap<u64, Value>, annotations: &[Value], queue: &[Value]) {
    let export = dir.join("export");
    let mut want: Vec<Row> = Vec::new();
    for (id, t) in tracks {
        for (k, f) in t["frames"].as_array().unwrap().iter().enumerate() {
            let b = f64s(&t["boxes"][k]);
            want.push((
                f.as_u64().unwrap(),
                *id,
                t["category"].as_str().unwrap().to_string(),
                [b[0], b[1], b[2], b[3]],
            ));
        }
    }
    want.sort_by_key(|a| (a.0, a.1));
    let rows = |v: &Value, frame_base: u64| -> Vec<Row> {
        let mut r: Vec<Row> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let n = f64s(&Value::Array(r.as_array().unwrap()[2..6].to_vec()));
                (
                    r[0].as_u64().unwrap() - frame_base,
                    r[1].as_u64().unwrap(),
                    r[6].as_str().unwrap().to_string(),
                    [n[0], n[1], n[2], n[3]],
                )
            })
            .collect();
        r.sort_by_key(|a| (a.0, a.1));
        r
    };
    let same = |got: &[Row], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}: box count");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g.0 == w.0 && g.1 == w.1 && g.2 == w.2 && close(&g.3, &w.3),
                "{what}: {g:?} vs {w:?}"
            );
        }
    };

    // MOT: motmetrics reads every box of every track (it takes the MATLAB 1 off positions), and
    // scores the tracks against themselves perfectly and against themselves less a box with one miss.
    let mot: Value = serde_json::from_slice(&run_py(
        "track_check.py",
        &[Path::new("mot"), &export.join("mot")],
    ))
    .unwrap();
    let v = &mot["vtest"];
    let got = rows(&v["rows"], 1);
    same(&got, "mot");
    assert_eq!(v["scores"]["self"]["mota"], 1.0);
    assert_eq!(v["scores"]["self"]["num_switches"], 0.0);
    assert_eq!(v["scores"]["one_missing"]["num_misses"], 1.0);
    assert!(v["seqinfo"].as_str().unwrap().contains("seqLength=795"));

    // CVAT for video: Datumaro's CVAT importer reads the same boxes as key frames of the same
    // tracks, and each track that ends before the video does ends with an `outside` key frame.
    let cv: Value = serde_json::from_slice(&run_py(
        "track_check.py",
        &[Path::new("cvat-video"), &export.join("cvat-video")],
    ))
    .unwrap();
    let got: Vec<Row> = cv["vtest"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap(),
                r[1].as_u64().unwrap(),
                r[2].as_str().unwrap().to_string(),
                [
                    r[3].as_f64().unwrap(),
                    r[4].as_f64().unwrap(),
                    r[5].as_f64().unwrap(),
                    r[6].as_f64().unwrap(),
                ],
            )
        })
        .collect();
    same(&got, "cvat-video");
    let ending = tracks
        .values()
        .filter(|t| {
            t["frames"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_u64()
                .unwrap()
                + 1
                < 795
        })
        .count();
    assert_eq!(cv["vtest"]["outside"].as_u64().unwrap() as usize, ending);

    // CVAT for images: each box's track and reasons as attributes.
    let cvat: Value = serde_json::from_slice(&run_py(
        "track_check.py",
        &[Path::new("cvat"), &export.join("cvat")],
    ))
    .unwrap();
    let coco = read_json(&dir.join("annotations.json"));
    let names = image_names(&coco);
    let mut by_image: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for a in annotations {
        let reasons: Vec<&str> = a["attributes"]["reasons"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        by_image
            .entry(names[&a["image_id"].as_u64().unwrap()].clone())
            .or_default()
            .push((a["attributes"]["track_id"].to_string(), reasons.join(",")));
    }
    for (name, boxes) in cvat.as_object().unwrap() {
        let mut got: Vec<(String, String)> = boxes
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b[0].as_str().unwrap().to_string(),
                    b[1].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        got.sort();
        let mut want = by_image.remove(name).unwrap_or_default();
        want.sort();
        assert_eq!(got, want, "{name}");
    }

    // Label Studio: label-studio-sdk validates every prediction; the tasks come in the review's
    // order, with its priority and reasons, each box's reasons in its meta, the suggestions apart.
    let ls: Value = serde_json::from_slice(&run_py(
        "track_check.py",
        &[Path::new("label-studio"), &export.join("label-studio")],
    ))
    .unwrap();
    let tasks = ls.as_array().unwrap();
    assert_eq!(tasks.len(), queue.len());
    for (t, q) in tasks.iter().zip(queue) {
        assert_eq!(
            t["image"].as_str().unwrap(),
            base(q["file"].as_str().unwrap())
        );
        assert_eq!(t["priority"], q["priority"]);
        let reasons: Vec<&str> = q["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(t["reasons"].as_str().unwrap(), reasons.join(", "));
        let flagged = t["meta"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m.as_str().unwrap().contains(':'))
            .count();
        assert_eq!(flagged, q["boxes"].as_array().unwrap().len());
        assert_eq!(
            t["suggestions"].as_array().unwrap().len(),
            q["suggestions"].as_array().unwrap().len()
        );
    }
}

#[test]
fn track_options_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let v = vtest();
    for (extra, says) in [
        (&["--track", "--no-label"][..], "--no-label"),
        (&["--track-fps", "5"][..], "--track"),
        (&["--track", "--track-fps", "0"][..], "--track-fps"),
        (&["--track", "--shard", "0/2"][..], "--shard"),
        (&["--export", "mot"][..], "--track"),
    ] {
        let r = framelabel(run_args(&[&v], &out, extra));
        assert_eq!(r.code, 2, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
        assert!(!out.exists(), "{extra:?} touched the output folder");
    }
}
