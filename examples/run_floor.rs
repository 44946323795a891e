//! The floors of `framelabel run` on a folder it finished: decoding the video alone (FFmpeg to RGB,
//! every frame), the embedder's session alone on the frames the run embedded (made from the video
//! decoded again, as the run makes them), and the detector's session alone on the frames it kept.
//! Pre-processing is done outside the timed calls.
//!
//!   cargo run --release --example run_floor -- DIR VIDEO EMBEDDER DETECTOR THREADS BATCH
//! prints `decoded decode_s embedded embed_s detected detect_s`.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use fast_image_resize::Resizer;
use framelabel::dataset::Dataset;
use framelabel::extract::decode::{BufferPool, VideoSource};
use framelabel::extract::sample::Decision;
use framelabel::models::spec::{ModelSpec, ResolveOptions, resolve};
use framelabel::runtime::preprocess::Preprocess;
use framelabel::runtime::{Model, Runtime};

/// Session time over `files`, `batch` at a time, tensors made before each timed call.
fn session_time(
    ds: &Dataset,
    files: &[String],
    model: &mut Model,
    pre: &Preprocess,
    batch: usize,
) -> anyhow::Result<Duration> {
    let (w, h) = pre.size;
    let batch = if model.dynamic_batch() { batch } else { 1 };
    let mut resizer = Resizer::new();
    let mut timed = Duration::ZERO;
    let mut warm = false;
    for chunk in files.chunks(batch) {
        let mut input = Vec::new();
        for f in chunk {
            let jpeg = std::fs::read(ds.root().join(f))?;
            let img = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB)?;
            let mut t = Vec::new();
            pre.apply(
                &mut resizer,
                &img.pixels,
                img.width as u32,
                img.height as u32,
                &mut t,
            );
            input.extend_from_slice(&t);
        }
        if !warm {
            model.run(&input, chunk.len(), h as usize, w as usize)?;
            warm = true;
        }
        let t0 = Instant::now();
        model.run(&input, chunk.len(), h as usize, w as usize)?;
        timed += t0.elapsed();
    }
    Ok(timed)
}

/// Session time over the frames of `video` numbered in `frames`, `batch` at a time, tensors made
/// from the decoded frames before each timed call.
fn embedder_time(
    video: &Path,
    frames: &HashSet<u64>,
    model: &mut Model,
    pre: &Preprocess,
    batch: usize,
) -> anyhow::Result<Duration> {
    let (w, h) = pre.size;
    let batch = if model.dynamic_batch() { batch } else { 1 };
    let mut resizer = Resizer::new();
    let mut timed = Duration::ZERO;
    let mut warm = false;
    let (mut input, mut n, mut failed) = (Vec::new(), 0, None);
    let mut run = |input: &mut Vec<f32>, n: &mut usize| -> anyhow::Result<()> {
        if *n == 0 {
            return Ok(());
        }
        if !warm {
            model.run(input, *n, h as usize, w as usize)?;
            warm = true;
        }
        let t0 = Instant::now();
        model.run(input, *n, h as usize, w as usize)?;
        timed += t0.elapsed();
        input.clear();
        *n = 0;
        Ok(())
    };
    let pool = BufferPool::new(4);
    VideoSource::open(video)?.run(
        &pool,
        |_, _| Decision::Take,
        |f| {
            if frames.contains(&f.index) {
                let mut t = Vec::new();
                pre.apply(&mut resizer, &f.rgb, f.width, f.height, &mut t);
                input.extend_from_slice(&t);
                n += 1;
                if n == batch {
                    if let Err(e) = run(&mut input, &mut n) {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            pool.give(f.rgb);
            true
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    run(&mut input, &mut n)?;
    Ok(timed)
}

fn load(spec: &str, task: &str, threads: usize) -> anyhow::Result<(Model, Preprocess)> {
    let resolved = resolve(
        spec,
        &ModelSpec::parse(task, spec)?,
        &ResolveOptions::default(),
    )?;
    let model = Runtime::get()?.load_model(&resolved.file, threads)?;
    let pre = if task == "--detector" {
        framelabel::detect::DetectorSetup::new(&resolved, &model, None)?.preprocess
    } else {
        framelabel::embed::EmbedderSetup::new(&resolved, &model)?.preprocess
    };
    Ok((model, pre))
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let (dir, video, embedder, detector) = (&a[1], &a[2], &a[3], &a[4]);
    let (threads, batch) = (a[5].parse::<usize>()?, a[6].parse::<usize>()?);
    let ds = Dataset::new(dir);

    let pool = BufferPool::new(4);
    let t0 = Instant::now();
    let mut decoded = 0u64;
    VideoSource::open(Path::new(video))?.run(
        &pool,
        |_, _| Decision::Take,
        |f| {
            decoded += 1;
            pool.give(f.rgb);
            true
        },
    );
    let decode_s = t0.elapsed().as_secs_f64();

    // The run's own records: what it embedded (kept by quality) and what it labelled.
    let state = Dataset::new(Path::new(dir).join(".framelabel"));
    let embedded: HashSet<u64> = state
        .read_frames()?
        .into_iter()
        .filter(|r| r.status == framelabel::FrameStatus::Kept && r.file.is_some())
        .map(|r| r.frame)
        .collect();
    let kept: Vec<String> = ds
        .read_frames()?
        .into_iter()
        .filter(|r| r.status == framelabel::FrameStatus::Kept)
        .filter_map(|r| r.file)
        .collect();
    // The run embeds decoded frames, and deletes the JPEGs of duplicates (or never writes them):
    // the embedder's inputs are made from the video decoded again.
    let (mut emb, emb_pre) = load(embedder, "--embedder", threads)?;
    let embed_s = embedder_time(Path::new(video), &embedded, &mut emb, &emb_pre, batch)?;
    drop(emb);
    let (mut det, det_pre) = load(detector, "--detector", threads)?;
    let detect_s = session_time(&ds, &kept, &mut det, &det_pre, batch)?.as_secs_f64();
    println!(
        "{decoded} {decode_s:.4} {} {:.4} {} {detect_s:.4}",
        embedded.len(),
        embed_s.as_secs_f64(),
        kept.len()
    );
    Ok(())
}
