//! What each command does with its validated configuration: call the library, print the per-input
//! lines and the summary. Kept apart from argument definitions so `main.rs` stays a few lines.

use super::{Cli, Command, ModelsCommand};
use crate::progress::Progress;

/// Runs the parsed command and returns the exit code; an `Err` ends the run before any input is done.
pub fn run(cli: Cli) -> crate::Result<i32> {
    match cli.command {
        Command::Extract(args) => {
            let cfg = args.to_config()?;
            let quiet = args.common.quiet;
            let mut on_video = |v: &crate::extract::VideoSummary| {
                if let Some(e) = &v.error {
                    eprintln!("framelabel: error: {e}");
                }
                for w in &v.warnings {
                    eprintln!("framelabel: warning: {}: {w}", v.video);
                }
                if v.error.is_none() && !quiet {
                    eprintln!("{}", v.line());
                }
            };
            let summary = crate::extract(&cfg, Progress::new(quiet), &mut on_video)?;
            if !summary.failed.is_empty() {
                eprintln!(
                    "framelabel: {} of {} inputs failed: {}",
                    summary.failed.len(),
                    summary.videos.len(),
                    summary.failed.join(", ")
                );
            }
            if args.common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("summary serialises")
                );
            } else if !quiet {
                eprintln!("frames in {}", cfg.out.join("images").display());
            }
            Ok(summary.exit_code())
        }
        Command::Models(ModelsCommand::List { json }) => {
            let cache = crate::models::cache_dir();
            let rows: Vec<serde_json::Value> = crate::models::BUILTIN
                .iter()
                .map(|m| {
                    let d = m.download(&cache);
                    serde_json::json!({
                        "name": m.name, "task": m.task, "input": m.input, "size": m.size,
                        "licence": m.licence, "url": m.url, "sha256": m.sha256,
                        "cached": d.dest.is_file(), "path": d.dest,
                    })
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).expect("rows serialise")
                );
            } else {
                println!(
                    "{:<14} {:<9} {:>5} {:>9} {:<11} {:<7} cached",
                    "name", "task", "input", "size", "licence", "sha256"
                );
                for (m, r) in crate::models::BUILTIN.iter().zip(&rows) {
                    let size = m
                        .size
                        .map(|s| format!("{:.1} MB", s as f64 / 1e6))
                        .unwrap_or_else(|| "?".into());
                    println!(
                        "{:<14} {:<9} {:>5} {:>9} {:<11} {:<7} {}",
                        m.name,
                        r["task"].as_str().unwrap_or_default(),
                        m.input,
                        size,
                        m.licence,
                        if m.sha256.is_some() { "pinned" } else { "-" },
                        if r["cached"] == true { "yes" } else { "no" }
                    );
                }
                println!("cache: {}", cache.display());
            }
            Ok(crate::EXIT_OK)
        }
        Command::Models(ModelsCommand::Fetch { names, offline }) => {
            let cache = crate::models::cache_dir();
            let offline = offline || crate::models::offline_from_env();
            let mut failed = 0;
            for name in &names {
                let Some(m) = crate::models::builtin(name) else {
                    let known: Vec<&str> = crate::models::BUILTIN.iter().map(|m| m.name).collect();
                    return Err(crate::Error::usage(
                        "models fetch",
                        format!("unknown model '{name}'; known: {}", known.join(", ")),
                    ));
                };
                match crate::models::fetch(&m.download(&cache), offline) {
                    Ok(path) => eprintln!("{name}: {}", path.display()),
                    Err(e) => {
                        eprintln!("framelabel: error: {e}");
                        failed += 1;
                    }
                }
            }
            Ok(if failed == 0 {
                crate::EXIT_OK
            } else {
                crate::EXIT_INPUT_FAILED
            })
        }
    }
}
