//! The `framelabel` binary: parse arguments, run the command, map the outcome to an exit code.

use clap::Parser;

use framelabel::cli::{Cli, Command};
use framelabel::progress::Progress;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FRAMELABEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("framelabel: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> framelabel::Result<i32> {
    match cli.command {
        Command::Extract(args) => {
            let cfg = args.to_config()?;
            let quiet = args.common.quiet;
            let mut on_video = |v: &framelabel::extract::VideoSummary| {
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
            let summary = framelabel::extract(&cfg, Progress::new(quiet), &mut on_video)?;
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
    }
}
