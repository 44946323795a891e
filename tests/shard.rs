//! `run --shard I/N` (issue 25, first step): the plan cuts long videos into slices and spreads the
//! units over the shards, and the shards together extract exactly the frames one run extracts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// The sample (79.5 s, cut into slices of 30 s), two test-pattern clips of 15 s and 30 s, and a
/// file that is not a video.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![vtest()];
    for (name, seconds) in [("a.mp4", 15.0), ("b.mp4", 30.0)] {
        let p = dir.join(name);
        make_clip(
            &p,
            "320x240",
            25,
            seconds,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        v.push(p);
    }
    let bad = dir.join("bad.mp4");
    std::fs::write(&bad, b"not a video").unwrap();
    v.push(bad);
    v
}

fn run_extract(inputs: &[PathBuf], out: &Path, extra: &[&str]) -> Run {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(inputs.iter().map(|p| p.to_str().unwrap().to_string()));
    a.extend(
        [
            "--out",
            out.to_str().unwrap(),
            "--fps",
            "0.7",
            "--slice",
            "30",
            "--no-dedup",
            "--no-label",
            "--no-report",
            "-q",
        ]
        .map(String::from),
    );
    a.extend(extra.iter().map(|s| s.to_string()));
    framelabel(&a)
}

#[test]
fn shards_extract_the_frames_of_one_run_with_slices_cut_at_their_times() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());

    // The plan: the sample in three slices, [0, 30), [30, 60), [60, end); every unit once.
    let r = framelabel(
        [
            vec!["run".to_string()],
            inputs
                .iter()
                .map(|p| p.to_str().unwrap().to_string())
                .collect(),
            [
                "--out",
                "x",
                "--slice",
                "30",
                "--shards",
                "3",
                "--print-plan",
                "--json",
            ]
            .map(String::from)
            .to_vec(),
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let units = plan["plan"]["units"].as_array().unwrap();
    let sample: Vec<(Value, Value)> = units
        .iter()
        .filter(|u| u["video"] == vtest_normalised())
        .map(|u| (u["start"].clone(), u["end"].clone()))
        .collect();
    assert_eq!(
        sample,
        [
            (Value::Null, 30.0.into()),
            (30.0.into(), 60.0.into()),
            (60.0.into(), Value::Null)
        ]
    );
    assert_eq!(units.len(), 6);
    // Longest first to the least loaded: 30, 30, 30 to shards 0, 1, 2, then 19.5 to 0 and 15 to 1.
    let loads: Vec<f64> = plan["loads_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_f64().unwrap())
        .collect();
    assert_eq!(loads.len(), 3);
    assert!((loads.iter().sum::<f64>() - 124.5).abs() < 0.2, "{loads:?}");
    assert!(
        loads.iter().cloned().fold(0.0, f64::max) < 50.0,
        "{loads:?}"
    );

    // One run, then the three shards.
    let whole = tmp.path().join("whole");
    let r = run_extract(&inputs, &whole, &[]);
    assert_eq!(r.code, 1, "the bad input fails: {}", r.stderr);
    let mut sharded: HashMap<(String, u64), (Value, PathBuf)> = HashMap::new();
    let mut failed = 0;
    for i in 0..3 {
        let out = tmp.path().join(format!("shard{i}"));
        let r = run_extract(&inputs, &out, &["--shard", &format!("{i}/3")]);
        let summary = read_json(&out.join("run.json"));
        assert_eq!(summary["shard"]["index"], i);
        assert_eq!(summary["shard"]["count"], 3);
        assert_eq!(
            summary["shard"]["plan"]["units"].as_array().unwrap().len(),
            6
        );
        failed += summary["failed"].as_array().unwrap().len();
        assert_eq!(
            r.code,
            if summary["failed"].as_array().unwrap().is_empty() {
                0
            } else {
                1
            }
        );
        for rec in read_jsonl(&out.join("frames.jsonl")) {
            let k = (
                rec["video"].as_str().unwrap().to_string(),
                rec["frame"].as_u64().unwrap(),
            );
            assert!(
                sharded.insert(k.clone(), (rec, out.clone())).is_none(),
                "{k:?} taken twice"
            );
        }
        // Run again: finished, it resumes and changes nothing.
        let before = read_jsonl(&out.join("frames.jsonl"));
        let r = run_extract(&inputs, &out, &["--shard", &format!("{i}/3"), "--json"]);
        let s: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(s["run"]["resumed"], true);
        assert_eq!(read_jsonl(&out.join("frames.jsonl")), before);
    }
    assert_eq!(failed, 1, "the bad input fails in one shard");

    // The same frames, records and pictures; `change` differs only where a slice begins (measured
    // from nothing there).
    let records = read_jsonl(&whole.join("frames.jsonl"));
    assert!(records.len() > 60);
    assert_eq!(records.len(), sharded.len());
    let mut measured_from_nothing = 0;
    for a in &records {
        let k = (
            a["video"].as_str().unwrap().to_string(),
            a["frame"].as_u64().unwrap(),
        );
        let (b, dir) = sharded
            .get(&k)
            .unwrap_or_else(|| panic!("{k:?} in no shard"));
        let strip = |r: &Value| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("change");
            r
        };
        assert_eq!(strip(a), strip(b), "{k:?}");
        if a["change"] != b["change"] {
            assert!(b["change"].is_null(), "{k:?}");
            measured_from_nothing += 1;
        }
        let file = a["file"].as_str().unwrap();
        assert!(
            std::fs::read(whole.join(file)).unwrap() == std::fs::read(dir.join(file)).unwrap(),
            "{file} differs"
        );
    }
    // The second and third slices of the sample.
    assert_eq!(measured_from_nothing, 2);
}
