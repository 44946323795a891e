//! `framelabel report` and the report `run` writes: every number checked against the records by an
//! independent script (tests/py/report_check.py), the page opened in headless Chromium (no missing
//! picture, a screenshot that is not blank), and the edge cases: no kept frame, no box, no report.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// Opens `page` in headless Chromium: the number of pictures that did not load (as the page's own
/// script counts them after the load event), and a full-width screenshot.
fn open_in_chromium(page: &Path, scratch: &Path) -> (String, PathBuf) {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let profile = scratch.join("chromium-profile");
    let chromium = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                &format!("--user-data-dir={}", profile.display()),
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let dom = String::from_utf8(chromium(&["--virtual-time-budget=10000", "--dump-dom"])).unwrap();
    let broken = dom
        .split("data-broken=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("no body")
        .to_string();
    let shot = scratch.join("screenshot.png");
    chromium(&[
        "--window-size=1280,2400",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(shot.is_file(), "no screenshot written");
    (broken, shot)
}

/// The report of `dir` agrees with its records, loads completely in Chromium and is not blank.
pub fn check_report(dir: &Path, scratch: &Path) -> Value {
    let checked: Value =
        serde_json::from_slice(&run_py("report_check.py", &[dir.to_str().unwrap()])).unwrap();
    let (broken, shot) = open_in_chromium(&dir.join("report/index.html"), scratch);
    assert_eq!(broken, "0", "pictures missing in Chromium");
    run_py("report_check.py", &["--screenshot", shot.to_str().unwrap()]);
    checked
}

#[test]
fn report_of_a_run_agrees_with_its_records_and_loads_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    // Every reason present: a brightness window and a sharpness floor that reject part of vtest,
    // duplicates at 2 frames/s of a fixed camera, and rejected pictures kept for the gallery.
    let r = framelabel(run_args(
        &[&vtest()],
        &out,
        &[
            "--keep-rejected",
            "--min-sharpness",
            "0.142",
            "--preview",
            "12",
            "--json",
        ],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let outcome: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        outcome["report"]["page"].as_str().unwrap(),
        out.join("report/index.html").to_str().unwrap()
    );

    let summary = read_json(&out.join("report/summary.json"));
    let t = &summary["totals"];
    assert_eq!(t["decoded"], 795);
    assert!(t["rejected"]["blurry"].as_u64().unwrap() > 0, "{t}");
    assert!(t["rejected"]["duplicate"].as_u64().unwrap() > 0, "{t}");
    assert!(t["kept"].as_u64().unwrap() > 0 && t["boxes"].as_u64().unwrap() > 0);
    let person = summary["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "person")
        .expect("vtest shows people");
    assert_eq!(person["id"], 1);
    assert!(
        person["heatmap"]
            .as_str()
            .unwrap()
            .ends_with("heatmap_person.png")
    );
    // The embeddings were saved: the curve replays the rule exactly.
    assert_eq!(summary["curves"]["dedup"]["source"], "embeddings.npy");
    assert_eq!(summary["previews"].as_array().unwrap().len(), 12);
    let blurry = summary["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["reason"] == "blurry")
        .unwrap();
    let shown = blurry["shown"].as_array().unwrap();
    assert!(
        shown.iter().all(|f| f["image"].is_string()),
        "--keep-rejected pictures shown"
    );
    // Nearest the threshold first.
    let sharp: Vec<f64> = shown
        .iter()
        .map(|f| f["sharpness"].as_f64().unwrap())
        .collect();
    assert!(
        sharp.windows(2).all(|w| w[0] >= w[1]) && sharp[0] < 0.142,
        "{sharp:?}"
    );

    let checked = check_report(&out, tmp.path());
    assert!(checked["plots"].as_u64().unwrap() >= 10, "{checked}");
    assert_eq!(checked["previews"], 12);

    // The command alone writes the same numbers; --json prints the summary.
    let r = framelabel(["report", o, "--preview", "3", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again: Value = serde_json::from_str(&r.stdout).unwrap();
    for k in [
        "videos",
        "totals",
        "classes",
        "histograms",
        "curves",
        "rejected",
    ] {
        assert_eq!(again[k], summary[k], "{k}");
    }
    assert_eq!(again["previews"].as_array().unwrap().len(), 3);
    assert_eq!(
        jpegs(&out.join("report/annotated")).len(),
        3,
        "old previews removed"
    );
    check_report(&out, tmp.path());

    // A JSON the report reads that is not what framelabel wrote: one line, exit code.
    std::fs::write(out.join("predictions.json"), "{").unwrap();
    let r = framelabel(["report", o]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("predictions.json") && r.stderr.lines().count() == 1,
        "{}",
        r.stderr
    );
    let r = framelabel(["report", tmp.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn report_without_kept_frames_or_boxes_is_still_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    ffmpeg(&[
        "-i",
        vtest().to_str().unwrap(),
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);

    // Every frame too dark: extract only, nothing kept, nothing labelled.
    let dark = tmp.path().join("dark");
    let r = extract(
        &[&clip],
        &dark,
        &["--min-brightness", "0.9", "--every", "5"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = framelabel(["report", dark.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = read_json(&dark.join("report/summary.json"));
    assert_eq!(s["totals"]["kept"], 0);
    assert_eq!(s["totals"]["rejected"]["dark"], s["totals"]["sampled"]);
    assert_eq!(s["labelled"], false);
    check_report(&dark, tmp.path());

    // No box above the confidence: a run without its report, then the report.
    let none = tmp.path().join("none");
    let r = framelabel(run_args(
        &[&clip],
        &none,
        &["--confidence", "0.999", "--no-report"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!none.join("report").exists(), "--no-report wrote a report");
    // Without embeddings.npy the curve replays the rule on the embeddings the run keeps.
    std::fs::remove_file(none.join("embeddings.npy")).unwrap();
    let r = framelabel(["report", none.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = read_json(&none.join("report/summary.json"));
    assert_eq!(s["boxes"], 0);
    assert!(s["totals"]["kept"].as_u64().unwrap() > 0);
    let previews = s["previews"].as_array().unwrap();
    assert!(!previews.is_empty() && previews.iter().all(|p| p["why"] == "no boxes"));
    // The dedup curve comes from the run's own embeddings.
    assert_eq!(s["curves"]["dedup"]["source"], ".framelabel/embeddings.bin");
    check_report(&none, tmp.path());
}
