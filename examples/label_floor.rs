//! The floor of `framelabel label`: the ONNX Runtime session alone on tensors prepared beforehand
//! (JPEG decoding and pre-processing not timed), on the kept frames of a dataset. With `sessions`,
//! the sessions `label` itself runs side by side (`Runtime::load_sessions`), taking frames from
//! one queue: the raw inference `label` does, with nothing else.
//!
//!   cargo run --release --example label_floor -- DIR MODEL THREADS [session|sessions]
//! prints `frames seconds` for the timed inference loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use framelabel::dataset::Dataset;
use framelabel::runtime::preprocess::Preprocess;
use framelabel::runtime::{Device, Runtime};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, model, threads) = (&args[1], &args[2], args[3].parse::<usize>()?);
    let side_by_side = args.get(4).is_some_and(|a| a == "sessions");
    let ds = Dataset::new(dir);
    let path = std::path::Path::new(model);
    let mut models = if side_by_side {
        Runtime::get()?.load_sessions(path, threads, Device::Cpu, true)?
    } else {
        vec![Runtime::get()?.load_model(path, threads)?]
    };
    let model = &models[0];
    let (w, h) = model.input_size().expect("a fixed input size");
    let pre = Preprocess::yolox(w);
    let mut tensors = Vec::new();
    let prep = Instant::now();
    let (mut dec, mut app) = (0.0, 0.0);
    for r in ds.read_frames()? {
        let (Some(file), framelabel::FrameStatus::Kept) = (r.file, r.status) else {
            continue;
        };
        let t0 = Instant::now();
        let jpeg = std::fs::read(ds.root().join(file))?;
        let img = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB)?;
        let t1 = Instant::now();
        let mut t = Vec::new();
        pre.apply(&img.pixels, img.width as u32, img.height as u32, &mut t);
        dec += (t1 - t0).as_secs_f64();
        app += t1.elapsed().as_secs_f64();
        tensors.push(t);
    }
    eprintln!(
        "prep {:.4} s (read+decode {dec:.4}, preprocess {app:.4})",
        prep.elapsed().as_secs_f64()
    );
    for m in &mut models {
        m.run(&tensors[0], 1, h as usize, w as usize)?; // warm-up, as label's first frame is
    }
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for m in &mut models {
            let (next, tensors) = (&next, &tensors);
            s.spawn(move || {
                while let Some(t) = tensors.get(next.fetch_add(1, Ordering::Relaxed)) {
                    m.run(t, 1, h as usize, w as usize).expect("inference");
                }
            });
        }
    });
    println!("{} {:.4}", tensors.len(), start.elapsed().as_secs_f64());
    Ok(())
}
