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

/// The options of every run here: 0.7 frames/s (slots that straddle the cuts), slices of 30 s,
/// extraction alone (what the shards must agree on before `merge` exists).
const OPTIONS: [&str; 8] = [
    "--fps",
    "0.7",
    "--slice",
    "30",
    "--no-dedup",
    "--no-label",
    "--no-report",
    "-q",
];

fn run_extract(inputs: &[PathBuf], out: &Path, extra: &[&str]) -> Run {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(inputs.iter().map(|p| p.to_str().unwrap().to_string()));
    a.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    a.extend(OPTIONS.iter().chain(extra).map(|s| s.to_string()));
    framelabel(&a)
}

/// The shards' records together are the records of `whole`, each frame in one shard, with the
/// same pictures; `change` differs only at the first frame of `slice_starts` slices, measured from
/// nothing there.
fn assert_shards_make_the_run(whole: &Path, shards: &[PathBuf], slice_starts: usize) {
    let mut sharded: HashMap<(String, u64), (Value, &PathBuf)> = HashMap::new();
    for dir in shards {
        for rec in read_jsonl(&dir.join("frames.jsonl")) {
            let k = (
                rec["video"].as_str().unwrap().to_string(),
                rec["frame"].as_u64().unwrap(),
            );
            assert!(
                sharded.insert(k.clone(), (rec, dir)).is_none(),
                "{k:?} taken twice"
            );
        }
    }
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
        assert_eq!(without_change(a), without_change(b), "{k:?}");
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
    assert_eq!(measured_from_nothing, slice_starts);
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
    let mut failed = 0;
    let mut dirs = Vec::new();
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
        let failures = summary["failed"].as_array().unwrap().len();
        failed += failures;
        assert_eq!(r.code, if failures == 0 { 0 } else { 1 }, "{}", r.stderr);
        // Run again: finished, it resumes and changes nothing.
        let before = read_jsonl(&out.join("frames.jsonl"));
        let r = run_extract(&inputs, &out, &["--shard", &format!("{i}/3"), "--json"]);
        let s: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(s["run"]["resumed"], true);
        assert_eq!(read_jsonl(&out.join("frames.jsonl")), before);
        dirs.push(out);
    }
    assert_eq!(failed, 1, "the bad input fails in one shard");

    // The second and third slices of the sample begin in the middle of it.
    assert_shards_make_the_run(&whole, &dirs, 2);
}

/// Stops the one-node Slurm cluster of a test when it ends, however it ends.
struct Cluster(PathBuf);

impl Cluster {
    fn start(dir: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local.sh");
        let out = std::process::Command::new(&script)
            .arg("start")
            .env("SLURM_LOCAL_DIR", dir)
            .output()
            .unwrap();
        // Whatever started is stopped when the guard goes, even if the start failed.
        let cluster = Cluster(dir.to_path_buf());
        assert!(
            out.status.success(),
            "scripts/slurm-local.sh start (it needs root to install and start Slurm): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local.sh");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .env("SLURM_LOCAL_DIR", &self.0)
            .status();
    }
}

/// A real Slurm cluster (one node, started for the test): `deploy/slurm/submit.sh --wait 3` runs
/// an array whose tasks each take their shard (`run --shard auto`), then the merge job after them;
/// the merged folder is the output of one run, and the damaged input makes the merge (and so
/// `submit.sh`) exit 1.
#[test]
fn slurm_submit_makes_the_output_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, whole) = one_run(tmp.path());

    let _cluster = Cluster::start(&tmp.path().join("slurm"));
    let job = tmp.path().join("job");
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/submit.sh");
    // The options after `--`: those of the one run, less its inputs and folder.
    let options: Vec<String> = run_args(&[], Path::new("-"), &["--slice", "30", "-q"])
        .into_iter()
        .skip(3)
        .collect();
    let out = std::process::Command::new(&submit)
        .env("SLURM_CONF", tmp.path().join("slurm/slurm.conf"))
        .env("SBATCH_ARGS", "--cpus-per-task=1 --mem=1G")
        .env("FRAMELABEL", env!("CARGO_BIN_EXE_framelabel"))
        .args(["--wait", "3"])
        .arg(&job)
        .args(&inputs)
        .arg("--")
        .args(&options)
        .output()
        .unwrap();
    let logs: String = (0..3)
        .map(|i| job.join(format!("shards/task-{i}.out")))
        .chain([job.join("merge.out")])
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}\n{logs}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("array job ") && stdout.contains("merge job "),
        "{stdout}"
    );
    for i in 0..3 {
        let s = read_json(&job.join(format!("shards/{i}/run.json")));
        assert_eq!(s["shard"]["index"], i, "{logs}");
        assert_eq!(s["shard"]["count"], 3);
        // --cpus-per-task=1 became --threads 1.
        assert_eq!(s["parameters"]["threads"], 1);
    }
    assert!(logs.contains("bad.mp4"), "{logs}");
    assert_same_output(&whole, &job, 2);
}

/// The manifests of `deploy/k8s/` pass the Kubernetes API's schemas (strictly: no unknown
/// field), and their commands are ones `framelabel` accepts. Run in a shell as each pod would,
/// with `/data` made here, its index in JOB_COMPLETION_INDEX and the manifest's environment: with
/// `--print-plan`, pod I takes shard I of the Job's completions; with extraction alone (the
/// default models cannot be downloaded here), the pods write their shards and the merge Job's
/// command joins them.
#[test]
fn kubernetes_jobs_are_valid_and_their_commands_shard_and_merge() {
    let k8s = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let manifest = k8s.join("framelabel-shards.yaml");
    let validator = python().with_file_name("kubernetes-validate");
    let out = std::process::Command::new(&validator)
        .args(["--strict", "--no-warn"])
        .arg(&manifest)
        .arg(k8s.join("framelabel-merge.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs: Value = serde_json::from_slice(&run_py("k8s_job.py", &[&manifest])).unwrap();
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "framelabel-shards")
        .expect("the shards' Job");
    assert_eq!(job["completion_mode"], "Indexed");
    let n = job["completions"].as_u64().unwrap();
    assert_eq!(job["env"]["FRAMELABEL_SHARDS"], n.to_string());

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("videos")).unwrap();
    inputs(&data.join("videos"));
    std::fs::remove_file(data.join("videos/bad.mp4")).unwrap();
    std::os::unix::fs::symlink(vtest(), data.join("videos/vtest.avi")).unwrap();
    let command: Vec<String> = job["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().replace("/data", data.to_str().unwrap()))
        .collect();
    assert_eq!(command[..2], ["sh", "-c"]);
    let bin = Path::new(env!("CARGO_BIN_EXE_framelabel"))
        .parent()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let pod = |i: u64, extra: &str| {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{} {extra}", command[2]))
            .env("PATH", &path)
            .env("JOB_COMPLETION_INDEX", i.to_string());
        for (k, v) in job["env"].as_object().unwrap() {
            cmd.env(k, v.as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "pod {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut taken = 0;
    let mut records = 0;
    for i in 0..n {
        let plan: Value = serde_json::from_slice(&pod(i, "--print-plan --json")).unwrap();
        assert_eq!(plan["plan"]["shards"], n, "pod {i}");
        // The three test videos (the sample, cut in slices of 10 minutes: whole) in the plan.
        assert_eq!(plan["plan"]["units"].as_array().unwrap().len(), 3);
        taken += plan["shard"]["index"]
            .as_u64()
            .map_or(0, |s| (s == i) as u64);
        pod(i, "--no-dedup --no-label --no-report");
        let shard = data.join(format!("out/shards/{i}"));
        records += read_jsonl(&shard.join("frames.jsonl")).len();
    }
    assert_eq!(taken, n, "every pod took its own index");

    let jobs: Value =
        serde_json::from_slice(&run_py("k8s_job.py", &[k8s.join("framelabel-merge.yaml")]))
            .unwrap();
    let merge: Vec<String> = jobs[0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().replace("/data", data.to_str().unwrap()))
        .collect();
    assert_eq!(merge[..2], ["framelabel", "merge"]);
    let shards = merge.iter().filter(|a| a.contains("/out/shards/")).count();
    assert_eq!(shards as u64, n, "the merge Job names every shard");
    let r = framelabel(&merge[1..]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let merged = read_jsonl(&data.join("out/frames.jsonl"));
    assert!(merged.len() > 100);
    assert_eq!(merged.len(), records);
}

/// Three shards of a run with both models and `merge` give the output of one run: the same
/// records (statuses, duplicates and file names), the same COCO file (boxes and scores), the same
/// pictures; with a damaged input, which the shard holding it and `merge` report (exit 1).
/// `merge` refuses missing, unfinished and foreign shard folders in one line (exit 2), and run
/// again it changes nothing.
#[test]
fn merge_of_the_shards_is_the_output_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, whole) = one_run(tmp.path());
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| tmp.path().join(format!("shard{i}")))
        .collect();
    for (i, d) in dirs.iter().enumerate() {
        let shard = format!("{i}/3");
        let r = framelabel(run_args(
            &refs,
            d,
            &["--slice", "30", "-q", "--shard", &shard],
        ));
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    }
    let merge = |dirs: &[&Path], out: &Path| {
        let mut a: Vec<String> = vec!["merge".into(), "--out".into(), out.display().to_string()];
        a.extend(dirs.iter().map(|d| d.display().to_string()));
        a.push("-q".into());
        framelabel(&a)
    };
    let out = tmp.path().join("merged");
    let refused = |r: Run, needle: &str| {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    };
    refused(
        merge(&[&dirs[0], &dirs[1]], &out),
        "shard(s) 2 of 3 missing",
    );
    refused(merge(&[&dirs[0], &whole], &out), "is not a shard's folder");
    let complete = dirs[2].join(".framelabel/complete");
    std::fs::rename(&complete, tmp.path().join("complete")).unwrap();
    refused(
        merge(&[&dirs[0], &dirs[1], &dirs[2]], &out),
        "has not finished",
    );
    std::fs::rename(tmp.path().join("complete"), &complete).unwrap();
    assert!(!out.join("frames.jsonl").exists());

    let shards: Vec<&Path> = dirs.iter().rev().map(|d| d.as_path()).collect();
    let r = merge(&shards, &out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bad.mp4"), "{}", r.stderr);

    assert_same_output(&whole, &out, 2);
    let run = read_json(&out.join("run.json"));
    let listed: Vec<u64> = run["merge"]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [0, 1, 2]);
    eprintln!("merge: {}", run["run"]);

    // Again: it continues the finished merge and changes nothing.
    let before = (read_jsonl(&out.join("frames.jsonl")), coco(&out));
    let r = merge(&shards, &out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(before == (read_jsonl(&out.join("frames.jsonl")), coco(&out)));

    // --move: the same output, the pictures gone from the shards.
    let moved = tmp.path().join("moved");
    let mut a: Vec<String> = vec!["merge".into(), "--move".into(), "-q".into(), "--out".into()];
    a.push(moved.display().to_string());
    a.extend(shards.iter().map(|d| d.display().to_string()));
    let r = framelabel(&a);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_same_output(&whole, &moved, 2);
    for d in &dirs {
        assert!(jpegs(&d.join("images")).is_empty(), "{}", d.display());
    }
}

/// The test inputs in `dir`, and the folder of one run over them with both models (`run_args`,
/// slices of 30 s), which fails on the damaged input alone.
fn one_run(dir: &Path) -> (Vec<PathBuf>, PathBuf) {
    let inputs = inputs(dir);
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let whole = dir.join("whole");
    let r = framelabel(run_args(&refs, &whole, &["--slice", "30", "-q"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    (inputs, whole)
}

/// `annotations.json` without its date.
fn coco(dir: &Path) -> Value {
    let mut c = read_json(&dir.join("annotations.json"));
    c["info"].as_object_mut().unwrap().remove("date_created");
    c
}

/// A merged folder holds the output of one run: the same records (but `change` at the first frame
/// of `slice_starts` slices, measured from nothing there), the same COCO file, the same pictures.
fn assert_same_output(whole: &Path, out: &Path, slice_starts: usize) {
    let (a, b) = (
        read_jsonl(&whole.join("frames.jsonl")),
        read_jsonl(&out.join("frames.jsonl")),
    );
    assert_eq!(a.len(), b.len());
    let mut from_nothing = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(without_change(x), without_change(y));
        if x["change"] != y["change"] {
            assert!(y["change"].is_null(), "{y}");
            from_nothing += 1;
        }
    }
    assert_eq!(from_nothing, slice_starts);
    assert!(a.iter().any(|r| r["status"] == "duplicate"));
    assert!(coco(whole) == coco(out), "annotations.json differs");
    assert!(coco(out)["annotations"].as_array().unwrap().len() > 100);
    let names = jpegs(&whole.join("images"));
    assert_eq!(names, jpegs(&out.join("images")));
    for n in &names {
        let (x, y) = (whole.join("images").join(n), out.join("images").join(n));
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{n} differs"
        );
    }
}
