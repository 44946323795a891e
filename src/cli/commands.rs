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
            let progress = Progress::new(quiet);
            let summary = crate::extract(&cfg, progress.clone(), &mut |v| {
                print_video(&progress, v, quiet)
            })?;
            print_failures(&summary);
            if args.common.json {
                print_json(&summary);
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
                print_json(&rows);
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
        Command::Dedup(args) => {
            let cfg = args.to_config()?;
            let summary = crate::embed::dedup::dedup(&cfg, Progress::new(args.quiet))?;
            for w in &summary.warnings {
                eprintln!("framelabel: warning: {w}");
            }
            if args.json {
                print_json(&summary);
            } else if !args.quiet && summary.frames > 0 {
                eprintln!(
                    "{} frames: {} kept, {} duplicates{} at similarity >= {}{}, {} missing, {:.1} frames/s",
                    summary.frames,
                    summary.kept,
                    summary.duplicates,
                    if summary.too_close > 0 {
                        format!(" ({} by --min-gap)", summary.too_close)
                    } else {
                        String::new()
                    },
                    cfg.threshold,
                    if cfg.keep_rejected {
                        " (moved to rejected/duplicate/)"
                    } else {
                        " (deleted)"
                    },
                    summary.missing,
                    summary.frames_per_s
                );
            }
            Ok(crate::EXIT_OK)
        }
        Command::Run(args) => {
            let args = match &args.config {
                Some(file) => {
                    let argv = super::with_config_file(std::env::args_os().collect(), file)?;
                    match <Cli as clap::Parser>::try_parse_from(argv) {
                        Ok(Cli {
                            command: Command::Run(a),
                        }) => a,
                        Ok(_) => unreachable!("the run command was parsed before"),
                        Err(e) => {
                            let msg = e.to_string();
                            let first = msg.lines().next().unwrap_or_default();
                            return Err(crate::Error::usage(
                                "--config",
                                format!(
                                    "{}: {}",
                                    file.display(),
                                    first.trim_start_matches("error: ")
                                ),
                            ));
                        }
                    }
                }
                None => args,
            };
            if args.print_config {
                print!("{}", args.to_toml());
                return Ok(crate::EXIT_OK);
            }
            let cfg = args.to_config()?;
            if args.print_plan {
                let this = cfg.shard.filter(|_| args.shard.is_some()).map(|s| s.shard);
                print_plan(&crate::pipeline::plan(&cfg)?, this, args.json);
                return Ok(crate::EXIT_OK);
            }
            let mut cfg = cfg;
            cfg.options = Some(args.to_toml());
            let quiet = args.quiet;
            let progress = Progress::new(quiet);
            let outcome = crate::pipeline::run(&cfg, progress.clone(), &mut |v| {
                print_video(&progress, v, quiet)
            })?;
            Ok(print_run(&cfg, &outcome, quiet, args.json))
        }
        Command::Merge(m) => {
            let mut shards = crate::pipeline::merge::Shards::open(&m.shards)?;
            shards.move_pictures = m.move_pictures;
            let cfg = m.run_args(&shards.options)?.to_config()?;
            let quiet = m.common.quiet;
            let progress = Progress::new(quiet);
            let outcome = crate::pipeline::merge(&cfg, &shards, progress.clone(), &mut |v| {
                print_video(&progress, v, quiet)
            })?;
            Ok(print_run(&cfg, &outcome, quiet, m.common.json))
        }
        Command::Report(args) => {
            let cfg = args.to_config()?;
            let summary = crate::report::report(&cfg)?;
            if args.json {
                print_json(&summary);
            } else if !args.quiet {
                print_report(&crate::report::Written::of(&summary));
            }
            Ok(crate::EXIT_OK)
        }
        Command::Export(args) => {
            let cfg = args.to_config()?;
            let done = crate::export::export(&cfg)?;
            warn_exports(&done);
            if args.json {
                print_json(&done);
            } else if !args.quiet {
                print_exports(&done);
            }
            Ok(crate::EXIT_OK)
        }
        Command::Label(args) => {
            let cfg = args.to_config()?;
            let summary = crate::detect::label::label(&cfg, Progress::new(args.quiet))?;
            for w in &summary.warnings {
                eprintln!("framelabel: warning: {w}");
            }
            if args.json {
                print_json(&summary);
            } else if !args.quiet {
                let classes: Vec<String> = summary
                    .per_class
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                eprintln!(
                    "{} images, {} boxes ({} before filters), {} without boxes{}, {} missing, {:.1} frames/s{}",
                    summary.images,
                    summary.annotations,
                    summary.predictions,
                    summary.empty_images,
                    if cfg.filters.drop_empty {
                        " (dropped)"
                    } else {
                        ""
                    },
                    summary.missing,
                    summary.frames_per_s,
                    if classes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", classes.join(", "))
                    }
                );
                eprintln!(
                    "COCO in {}",
                    cfg.dir
                        .join(crate::detect::label::ANNOTATIONS_FILE)
                        .display()
                );
            }
            Ok(crate::EXIT_OK)
        }
        Command::Models(ModelsCommand::Info(args)) => model_info(&args),
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

/// `framelabel models info`: everything framelabel would do with a model short of running it on frames.
fn model_info(args: &super::ModelInfoArgs) -> crate::Result<i32> {
    use crate::models::spec::{ModelSpec, resolve};
    let spec = ModelSpec::parse("models info", &args.spec)?;
    let family = args
        .family
        .as_deref()
        .map(str::parse::<crate::detect::Family>)
        .transpose()
        .map_err(|m| crate::Error::usage("--family", m))?;
    let resolved = resolve(&args.spec, &spec, &args.model.resolve_options())?;
    let rt = crate::runtime::Runtime::get()?;
    let model = rt.load_model_on(&resolved.file, args.model.threads()?, args.model.device)?;
    let task = args.task.or(match resolved.task {
        Some(crate::models::Task::Detector) => Some(super::TaskArg::Detector),
        Some(crate::models::Task::Embedder) => Some(super::TaskArg::Embedder),
        None => None,
    });
    let as_detector = || crate::detect::DetectorSetup::new(&resolved, &model, family);
    let as_embedder = || crate::embed::EmbedderSetup::new(&resolved, &model);
    let mut role = match task {
        Some(super::TaskArg::Detector) => serde_json::json!({"detector": as_detector()?}),
        Some(super::TaskArg::Embedder) => serde_json::json!({"embedder": as_embedder()?}),
        None => match as_detector() {
            Ok(d) => serde_json::json!({"detector": d}),
            Err(de) => match as_embedder() {
                Ok(e) => serde_json::json!({"embedder": e}),
                Err(_) => return Err(de),
            },
        },
    };
    // A fit that follows each picture's size has no one input size to show.
    for key in ["detector", "embedder"] {
        if let Some(p) = role.get_mut(key).and_then(|r| r.get_mut("preprocess"))
            && matches!(p["fit"]["kind"].as_str(), Some("keep_aspect" | "native"))
        {
            p["size"] = "per picture".into();
        }
    }
    let mut info = serde_json::json!({
        "spec": resolved.spec, "file": resolved.file, "sha256": resolved.sha256,
        "config_files": resolved.config_files, "config_origins": resolved.origins,
        "device": model.device().to_string(),
        "runtime": rt.library(),
        "input": {"name": model.input().name, "shape": model.input().shape},
        "outputs": model.outputs().iter().map(|o| serde_json::json!({"name": o.name, "shape": o.shape})).collect::<Vec<_>>(),
    });
    info.as_object_mut()
        .expect("an object")
        .extend(role.as_object().expect("an object").clone());
    if args.json {
        print_json(&info);
        return Ok(crate::EXIT_OK);
    }
    println!("file     {}", resolved.file.display());
    println!("sha256   {}", resolved.sha256);
    println!("device   {}", model.device());
    println!("input    {} {:?}", model.input().name, model.input().shape);
    for o in model.outputs() {
        println!("output   {} {:?}", o.name, o.shape);
    }
    if !resolved.config_files.is_empty() {
        println!("config   {}", resolved.config_files.join(", "));
    }
    // Which layer set each value; the rest is the family's default.
    let mut by_layer: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (k, layer) in &resolved.origins {
        by_layer.entry(layer).or_default().push(k);
    }
    for (layer, keys) in by_layer {
        println!("from     {layer}: {}", keys.join(", "));
    }
    if let Some(d) = info.get("detector") {
        let labels = d["labels"].as_array().map_or(0, |l| l.len());
        println!(
            "detector {} ({labels} classes)",
            d["family"].as_str().unwrap_or("?")
        );
        println!("prepare  {}", d["preprocess"]);
    }
    if let Some(e) = info.get("embedder") {
        println!(
            "embedder output {} of {} values",
            e["output"].as_str().unwrap_or("?"),
            e["dim"]
        );
        println!("prepare  {}", e["preprocess"]);
    }
    Ok(crate::EXIT_OK)
}

/// A video's line and its warnings, printed above the progress bars so that they do not break the display.
fn print_video(progress: &Progress, v: &crate::extract::VideoSummary, quiet: bool) {
    if let Some(e) = &v.error {
        progress.println(&format!("framelabel: error: {e}"));
    }
    for w in &v.warnings {
        progress.println(&format!("framelabel: warning: {}: {w}", v.video));
    }
    if v.error.is_none() && !quiet {
        progress.println(&v.line());
    }
}

fn print_failures(summary: &crate::RunSummary) {
    if !summary.failed.is_empty() {
        eprintln!(
            "framelabel: {} of {} inputs failed: {}",
            summary.failed.len(),
            summary.videos.len(),
            summary.failed.join(", ")
        );
    }
}

/// Warns about exports some tools cannot read (printed even with --quiet).
fn warn_exports(done: &[crate::export::Exported]) {
    for e in done {
        if e.format == crate::export::Format::CocoResults && e.boxes == 0 {
            eprintln!(
                "framelabel: warning: {}: no boxes, so results.json is an empty list, which pycocotools' loadRes cannot load",
                e.path.display()
            );
        }
    }
}

fn print_exports(done: &[crate::export::Exported]) {
    for e in done {
        let subsets: Vec<String> = e.subsets.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let subsets = if subsets.is_empty() {
            String::new()
        } else {
            format!(" ({})", subsets.join(", "))
        };
        eprintln!(
            "{}: {} images{subsets}, {} boxes, {} classes in {}",
            e.format,
            e.images,
            e.boxes,
            e.classes,
            e.path.display()
        );
    }
}

fn print_report(r: &crate::report::Written) {
    eprintln!(
        "report: {} plots, {} annotated frames in {}",
        r.plots,
        r.previews,
        r.page.display()
    );
}

/// Prints a summary as pretty JSON on stdout (`--json`).
fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("summaries serialise")
    );
}

/// `run --print-plan`: one line per unit (shard, start, end, seconds, video; `*` marks those of
/// `this` shard), then each shard's load; or the plan as JSON.
fn print_plan(
    plan: &crate::pipeline::plan::Plan,
    this: Option<crate::pipeline::plan::Shard>,
    json: bool,
) {
    let loads = plan.loads();
    if json {
        let v = serde_json::json!({
            "plan": plan,
            "shard": this,
            "loads_s": loads,
            "imbalance": plan.imbalance(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("plan serialises")
        );
        return;
    }
    let time = |t: Option<f64>, open: &str| t.map_or_else(|| open.to_string(), |t| format!("{t}"));
    println!("shard\tstart\tend\tseconds\tvideo");
    for u in &plan.units {
        let mark = if this.is_some_and(|t| t.index == u.shard) {
            "*"
        } else {
            ""
        };
        println!(
            "{}{mark}\t{}\t{}\t{:.1}\t{}",
            u.shard,
            time(u.start, "start"),
            time(u.end, "end"),
            u.duration,
            u.video
        );
    }
    let loads: Vec<String> = loads.iter().map(|l| format!("{l:.0}")).collect();
    println!(
        "{} units in {} shards; seconds of video per shard: {}; longest / mean {:.2}",
        plan.units.len(),
        plan.shards,
        loads.join(", "),
        plan.imbalance()
    );
}

/// What `run` (and `merge`) print at the end; the exit code.
fn print_run(
    cfg: &crate::pipeline::RunConfig,
    outcome: &crate::pipeline::RunOutcome,
    quiet: bool,
    json: bool,
) -> i32 {
    print_failures(&outcome.extract);
    warn_exports(&outcome.exports);
    let dedup_warnings = outcome.dedup.iter().flat_map(|d| &d.warnings);
    for w in dedup_warnings.chain(outcome.label.iter().flat_map(|l| &l.warnings)) {
        eprintln!("framelabel: warning: {w}");
    }
    if json {
        print_json(&outcome);
    } else if !quiet {
        let t = &outcome.extract.totals;
        let dedup = match &outcome.dedup {
            Some(d) => format!(", {} duplicates", d.duplicates),
            None => String::new(),
        };
        let label = match &outcome.label {
            Some(l) => format!(
                ", {} images labelled, {} boxes ({} images without)",
                l.images, l.annotations, l.empty_images
            ),
            None => String::new(),
        };
        let still = match t.rejected.get("still") {
            Some(&n) if n > 0 => format!("{n} still, "),
            _ => String::new(),
        };
        eprintln!(
            "{} videos{}: {} frames decoded, {} sampled, {still}{} kept by quality{dedup}{label}, {:.1} s ({:.0} frames/s)",
            t.videos,
            if outcome.run.videos_skipped > 0 {
                format!(" ({} finished earlier)", outcome.run.videos_skipped)
            } else {
                String::new()
            },
            t.decoded,
            t.sampled,
            t.kept,
            outcome.run.elapsed_s,
            outcome.run.frames_per_s
        );
        if outcome.label.is_some() {
            eprintln!(
                "COCO in {}",
                cfg.extract
                    .out
                    .join(crate::detect::label::ANNOTATIONS_FILE)
                    .display()
            );
        } else {
            eprintln!("frames in {}", cfg.extract.out.join("images").display());
        }
        print_exports(&outcome.exports);
        if let Some(r) = &outcome.report {
            print_report(r);
        }
    }
    outcome.exit_code()
}
