//! The progress display as a person sees it: `run` over two videos in a real terminal (tmux, 120x30),
//! its screen captured as it goes. Every screen shows each bar at most once, no bar is drawn full
//! before it has work, and the final screen holds each video's line once, then the summary.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("tmux (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_draws_each_bar_once_in_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.mp4"), tmp.path().join("b.mp4"));
    for (v, size) in [(&a, "320x240"), (&b, "352x288")] {
        make_clip(
            v,
            size,
            10,
            12.0,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
    }
    let out = tmp.path().join("out");
    let exe = env!("CARGO_BIN_EXE_framelabel");
    let command = format!(
        "{exe} run {} {} --out {} --fps 5 --embedder {} --detector {} --no-report; echo FINI\"\"SHED $?",
        a.display(),
        b.display(),
        out.display(),
        embedder(),
        nano()
    );
    let socket = format!("framelabel-test-{}", std::process::id());
    tmux(
        &socket,
        &["new-session", "-d", "-s", "t", "-x", "120", "-y", "30"],
    );
    tmux(&socket, &["send-keys", "-t", "t", &command, "Enter"]);
    let started = Instant::now();
    let mut screens = Vec::new();
    let last = loop {
        let screen = tmux(&socket, &["capture-pane", "-p", "-J", "-t", "t"]);
        if screen.contains("FINISHED ") || started.elapsed() > Duration::from_secs(300) {
            break screen;
        }
        screens.push(screen);
        std::thread::sleep(Duration::from_millis(250));
    };
    tmux(&socket, &["kill-server"]);
    assert!(last.contains("FINISHED 0"), "{last}");
    let bars_seen = screens
        .iter()
        .filter(|s| s.lines().any(|l| l.starts_with("embed ")))
        .count();
    assert!(bars_seen > 0, "no screen showed the bars: {screens:?}");
    for screen in screens.iter().chain([&last]) {
        for prefix in ["run [", "embed ", "label ", &format!("{} [", a.display())] {
            let n = screen.lines().filter(|l| l.starts_with(prefix)).count();
            assert!(n <= 1, "'{prefix}' drawn {n} times:\n{screen}");
        }
        assert!(
            !screen.contains("] 0/0"),
            "a full bar with no work:\n{screen}"
        );
        assert!(!screen.contains("videos, 0/s"), "{screen}");
    }
    // The final screen: each video's line once, then the summary, and no bar left behind.
    let lines: Vec<&str> = last.lines().collect();
    let line_of = |needle: &str| {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(needle))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "'{needle}' on {} lines:\n{last}",
            found.len()
        );
        found[0]
    };
    let va = line_of(&format!("{}: 120 decoded", a.display()));
    let vb = line_of(&format!("{}: 120 decoded", b.display()));
    let summary = line_of("2 videos: 240 frames decoded");
    assert!(va < vb && vb < summary, "{last}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("] ") && l.contains('/') && l.contains('[')),
        "a bar left on the final screen:\n{last}"
    );
}
