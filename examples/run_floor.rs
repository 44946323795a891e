//! The floors of `framelabel run` on a folder it finished: decoding the video alone (FFmpeg to RGB,
//! every frame), the embedder's sessions alone on the frames the run embedded (made from the video
//! decoded again, as the run makes them), and the detector's sessions alone on the frames it kept.
//! Pre-processing is done outside the timed calls.
//!
//! A model's floor is the faster of two layouts on the same tensors, timed in turn chunk by chunk
//! (so both see the machine at the same moment): one session with every thread, and two sessions
//! with half the threads each, side by side, taking batches from one queue (what `run` does with a
//! small model). Which is faster depends on the model and the CPU, so the floor does not assume.
//!
//! Besides the floors, it times on one thread the per-frame work of the stages that the floors
//! leave out, as `run` does it: the quality metrics of every frame, the embedder's input made from
//! each embedded frame, and reading each kept JPEG into the detector's input (not the JPEG
//! encoding, nor anything `run` adds to that). It also measures what a lower bound on `run`'s
//! wall time needs: the CPU time of each floor (all threads of the process, in its faster layout)
//! and of encoding the kept frames' JPEGs as `run` does (default output options), and of making
//! the models' sessions as `run` makes them.
//!
//!   cargo run --release --example run_floor -- DIR VIDEO EMBEDDER DETECTOR THREADS BATCH
//! prints `decoded decode_s embedded embed_s detected detect_s embed_layout detect_layout work_s
//! decode_cpu embed_cpu detect_cpu encode_s load_cpu`, a layout being `1x<threads>` or `2x<threads/2>`
//! (sessions × threads).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use framelabel::dataset::Dataset;
use framelabel::extract::decode::{BufferPool, VideoSource};
use framelabel::extract::picture::{Encoder, Output};
use framelabel::extract::quality;
use framelabel::extract::sample::Decision;
use framelabel::models::spec::{ModelSpec, ResolveOptions, resolve};
use framelabel::runtime::preprocess::Preprocess;
use framelabel::runtime::{Device, Model, Runtime};

/// Batches held before they are timed: 32 of 8 embedder inputs are 150 MB.
const CHUNK: usize = 32;

/// CPU time of the whole process so far, every thread's (those that ended too).
fn process_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "the process CPU clock is readable");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// One model's session time in each layout (wall, then CPU), fed one tensor (one picture) at a
/// time.
struct Floor {
    layouts: Vec<(String, Vec<Model>, Duration, Duration)>,
    batch: usize,
    hw: (usize, usize),
    pending: Vec<(Vec<f32>, usize)>,
    filling: (Vec<f32>, usize),
    warm: bool,
    /// CPU time of making the side-by-side sessions (what `run` makes).
    load_cpu: Duration,
}

impl Floor {
    fn new(path: &Path, threads: usize, batch: usize, pre: &Preprocess) -> anyhow::Result<Self> {
        let rt = Runtime::get()?;
        let mut layouts = vec![(
            format!("1x{threads}"),
            vec![rt.load_model(path, threads)?],
            Duration::ZERO,
            Duration::ZERO,
        )];
        let c0 = process_cpu();
        if threads >= 2 {
            let side = rt.load_sessions(path, threads, Device::Cpu, true)?;
            if side.len() > 1 {
                layouts.push((
                    format!("2x{}", threads / 2),
                    side,
                    Duration::ZERO,
                    Duration::ZERO,
                ));
            }
        }
        let load_cpu = process_cpu() - c0;
        let batch = if layouts[0].1[0].dynamic_batch() {
            batch
        } else {
            1
        };
        let (w, h) = pre.size;
        Ok(Floor {
            layouts,
            batch,
            hw: (h as usize, w as usize),
            pending: Vec::new(),
            filling: (Vec::new(), 0),
            warm: false,
            load_cpu,
        })
    }

    fn push(&mut self, tensor: &[f32]) -> anyhow::Result<()> {
        self.filling.0.extend_from_slice(tensor);
        self.filling.1 += 1;
        if self.filling.1 == self.batch {
            self.pending.push(std::mem::take(&mut self.filling));
        }
        if self.pending.len() == CHUNK {
            self.time_pending()?;
        }
        Ok(())
    }

    /// Times every layout on the batches held, one layout after the other.
    fn time_pending(&mut self) -> anyhow::Result<()> {
        let Some((first, n)) = self.pending.first() else {
            return Ok(());
        };
        let (h, w) = self.hw;
        if !self.warm {
            for (_, models, _, _) in &mut self.layouts {
                for m in models {
                    m.run(first, *n, h, w)?;
                }
            }
            self.warm = true;
        }
        let batches = &self.pending;
        for (_, models, timed, cpu) in &mut self.layouts {
            let next = AtomicUsize::new(0);
            let (t0, c0) = (Instant::now(), process_cpu());
            std::thread::scope(|s| -> anyhow::Result<()> {
                let workers: Vec<_> = models
                    .iter_mut()
                    .map(|m| {
                        let next = &next;
                        s.spawn(move || -> anyhow::Result<()> {
                            while let Some((t, n)) =
                                batches.get(next.fetch_add(1, Ordering::Relaxed))
                            {
                                m.run(t, *n, h, w)?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.join().expect("a session thread does not panic")?;
                }
                Ok(())
            })?;
            *timed += t0.elapsed();
            *cpu += process_cpu() - c0;
        }
        self.pending.clear();
        Ok(())
    }

    /// The fastest layout's time, CPU time and name, and the CPU time of making `run`'s sessions.
    fn finish(mut self) -> anyhow::Result<(Duration, Duration, String, Duration)> {
        if self.filling.1 > 0 {
            self.pending.push(std::mem::take(&mut self.filling));
        }
        self.time_pending()?;
        for (name, _, timed, cpu) in &self.layouts {
            let (timed, cpu) = (timed.as_secs_f64(), cpu.as_secs_f64());
            eprintln!("  {name}: {timed:.4} s ({cpu:.4} s of CPU)");
        }
        let load_cpu = self.load_cpu;
        let (name, _, timed, cpu) = self
            .layouts
            .into_iter()
            .min_by_key(|l| l.2)
            .expect("one layout at least");
        Ok((timed, cpu, name, load_cpu))
    }
}

fn load(spec: &str, task: &str) -> anyhow::Result<(std::path::PathBuf, Preprocess)> {
    let resolved = resolve(
        spec,
        &ModelSpec::parse(task, spec)?,
        &ResolveOptions::default(),
    )?;
    let model = Runtime::get()?.load_model(&resolved.file, 1)?;
    let pre = if task == "--detector" {
        framelabel::detect::DetectorSetup::new(&resolved, &model, None)?.preprocess
    } else {
        framelabel::embed::EmbedderSetup::new(&resolved, &model)?.preprocess
    };
    Ok((resolved.file, pre))
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let (dir, video, embedder, detector) = (&a[1], &a[2], &a[3], &a[4]);
    let (threads, batch) = (a[5].parse::<usize>()?, a[6].parse::<usize>()?);
    let ds = Dataset::new(dir);

    let pool = BufferPool::new(4);
    let (t0, c0) = (Instant::now(), process_cpu());
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
    let decode_cpu = (process_cpu() - c0).as_secs_f64();

    // The run's own records: what it embedded (kept by quality) and what it labelled.
    let state = Dataset::new(Path::new(dir).join(".framelabel"));
    let embedded: HashSet<u64> = state
        .read_frames()?
        .into_iter()
        .filter(|r| r.status == framelabel::FrameStatus::Kept && r.file.is_some())
        .map(|r| r.frame)
        .collect();
    let kept: Vec<(u64, String)> = ds
        .read_frames()?
        .into_iter()
        .filter(|r| r.status == framelabel::FrameStatus::Kept)
        .filter_map(|r| Some((r.frame, r.file?)))
        .collect();
    let kept_frames: HashSet<u64> = kept.iter().map(|k| k.0).collect();
    // The run writes the kept frames' JPEGs from the decoded frames (as the video is decoded
    // again here), with the default output options.
    let mut encoder = Encoder::new(Output::default())?;
    let mut encode = Duration::ZERO;
    let mut tensor = Vec::new();

    // The run embeds decoded frames, and deletes the JPEGs of duplicates (or never writes them):
    // the embedder's inputs are made from the video decoded again.
    eprintln!("embedder, {} frames:", embedded.len());
    let (path, pre) = load(embedder, "--embedder")?;
    let mut floor = Floor::new(&path, threads, batch, &pre)?;
    let mut failed = None;
    let mut work = Duration::ZERO;
    let mut grey = Vec::new();
    VideoSource::open(Path::new(video))?.run(
        &pool,
        |_, _| Decision::Take,
        |f| {
            let t = Instant::now();
            grey.resize((f.width * f.height) as usize, 0);
            quality::rgb_to_grey(&f.rgb, &mut grey);
            std::hint::black_box(quality::metrics(&grey, f.width as usize, f.height as usize));
            work += t.elapsed();
            if kept_frames.contains(&f.index) {
                let t = Instant::now();
                match encoder.encode_frame(&f) {
                    Ok((jpeg, _)) => {
                        std::hint::black_box(jpeg);
                    }
                    Err(e) => {
                        failed = Some(e.into());
                        return false;
                    }
                }
                encode += t.elapsed();
            }
            if embedded.contains(&f.index) {
                let t = Instant::now();
                tensor.clear();
                pre.apply(&f.rgb, f.width, f.height, &mut tensor);
                work += t.elapsed();
                if let Err(e) = floor.push(&tensor) {
                    failed = Some(e);
                    return false;
                }
            }
            pool.give(f.rgb);
            true
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    let (embed_s, embed_cpu, embed_layout, embed_load) = floor.finish()?;

    eprintln!("detector, {} frames:", kept.len());
    let (path, pre) = load(detector, "--detector")?;
    let mut floor = Floor::new(&path, threads, batch, &pre)?;
    for (_, f) in &kept {
        let t = Instant::now();
        let jpeg = std::fs::read(ds.root().join(f))?;
        let img = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB)?;
        tensor.clear();
        pre.apply(
            &img.pixels,
            img.width as u32,
            img.height as u32,
            &mut tensor,
        );
        work += t.elapsed();
        floor.push(&tensor)?;
    }
    let (detect_s, detect_cpu, detect_layout, detect_load) = floor.finish()?;
    println!(
        "{decoded} {decode_s:.4} {} {:.4} {} {:.4} {embed_layout} {detect_layout} {:.4} \
         {decode_cpu:.4} {:.4} {:.4} {:.4} {:.4}",
        embedded.len(),
        embed_s.as_secs_f64(),
        kept.len(),
        detect_s.as_secs_f64(),
        work.as_secs_f64(),
        embed_cpu.as_secs_f64(),
        detect_cpu.as_secs_f64(),
        encode.as_secs_f64(),
        (embed_load + detect_load).as_secs_f64(),
    );
    Ok(())
}
