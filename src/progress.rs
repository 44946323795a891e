//! Progress on a terminal, and nothing anywhere else: bars on stderr when it is a terminal and the
//! user did not ask for `--quiet`, so logs and pipes stay clean.
//!
//! Every bar of a command and every line printed while they show go through one
//! [`MultiProgress`]: a line written to stderr behind its back lands in the middle of the drawn
//! bars, which then redraw below it and leave their old copies on the screen.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Decides once whether bars are drawn and makes them; clones share one display.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars are shown when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        Progress {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn hidden() -> Self {
        Progress { multi: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.multi.is_some()
    }

    /// Prints `line` on stderr above the bars (plainly when none are shown).
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) if m.println(line).is_ok() => {}
            _ => eprintln!("{line}"),
        }
    }

    /// A bar for one video; `total` frames when the container says how many there are.
    pub fn video(&self, name: &str, total: Option<u64>) -> ProgressBar {
        self.bar(name, total, "frames")
    }

    /// A bar counting `unit`s. A bar of length 0 (work not known yet) says `waiting` instead of
    /// showing a full bar. Rates are given for frames only: videos of very different lengths make
    /// a rate of videos meaningless, so a bar of videos shows the count alone.
    pub fn bar(&self, name: &str, total: Option<u64>, unit: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let frames = unit.contains("frames") || unit == "survivors";
        let template = match total {
            Some(_) => "{prefix:.bold} {progress} {msg}",
            None => "{prefix:.bold} {spinner} {pos} {unit}{rate} {msg}",
        };
        let unit = unit.to_string();
        let style = ProgressStyle::with_template(template)
            .expect("static template")
            .with_key("unit", {
                let unit = unit.clone();
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{unit}");
                }
            })
            .with_key(
                "rate",
                move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    if frames {
                        let _ = write!(w, ", {:.0} frames/s", s.per_sec());
                    }
                },
            )
            .with_key(
                "progress",
                move |s: &ProgressState, w: &mut dyn std::fmt::Write| draw(s, &unit, frames, w),
            );
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let bar = multi.add(bar.with_style(style));
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// `[=====>    ] 12/40 frames, 85 frames/s, ETA 3s`, or `waiting` while the length is 0.
fn draw(s: &ProgressState, unit: &str, frames: bool, w: &mut dyn std::fmt::Write) {
    const WIDTH: u64 = 30;
    let len = s.len().unwrap_or(0);
    if len == 0 {
        let _ = write!(w, "waiting");
        return;
    }
    let pos = s.pos().min(len);
    let filled = (pos * WIDTH / len) as usize;
    let mut bar = "=".repeat(filled);
    if filled < WIDTH as usize {
        bar.push('>');
    }
    let _ = write!(
        w,
        "[{bar:<30}] {pos}/{len} {unit}",
        bar = bar,
        pos = pos,
        len = len
    );
    if frames {
        let _ = write!(w, ", {:.0} frames/s", s.per_sec());
        if pos > 0 && pos < len {
            let _ = write!(w, ", ETA {}", humantime::format_duration(rounded(s.eta())));
        }
    }
}

fn rounded(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}
