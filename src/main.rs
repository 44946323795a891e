//! The `framelabel` binary: parse arguments, run the command, map the outcome to an exit code.

use clap::Parser;

use framelabel::cli::{Cli, run};

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
