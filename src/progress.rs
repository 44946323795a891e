//! Progress on a terminal, and nothing anywhere else: a bar per video on stderr when it is a
//! terminal and the user did not ask for `--quiet`, so logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Decides once whether bars are drawn and makes them; bars of one run share one display.
#[derive(Debug, Clone)]
pub struct Progress {
    enabled: bool,
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars are shown when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Self {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            multi: None,
        }
    }

    pub fn hidden() -> Self {
        Progress {
            enabled: false,
            multi: None,
        }
    }

    /// The same, with every bar drawn in one display (the stages of `run`, one above the other).
    pub fn grouped(&self) -> Self {
        Progress {
            enabled: self.enabled,
            multi: self.enabled.then(MultiProgress::new),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// A bar for one video; `total` frames when the container says how many there are.
    pub fn video(&self, name: &str, total: Option<u64>) -> ProgressBar {
        self.bar(name, total, "frames")
    }

    /// A bar counting `unit`s.
    pub fn bar(&self, name: &str, total: Option<u64>, unit: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(&format!(
                        "{{prefix:.bold}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{fps}}/s, ETA {{eta}} {{msg}}"
                    ))
                    .expect("static template")
                    .progress_chars("=> ")
                    .with_key("fps", fps),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix:.bold}} {{spinner}} {{pos}} {unit}, {{fps}}/s {{msg}}"
                ))
                .expect("static template")
                .with_key("fps", fps),
            ),
        };
        bar.set_prefix(name.to_string());
        let bar = match &self.multi {
            Some(m) => m.add(bar),
            None => bar,
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

fn fps(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0}", state.per_sec());
}
