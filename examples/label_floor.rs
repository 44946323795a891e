//! The floor of `framelabel label`: the ONNX Runtime session alone on tensors prepared beforehand
//! (JPEG decoding and pre-processing not timed), on the kept frames of a dataset.
//!
//!   cargo run --release --example label_floor -- DIR MODEL THREADS
//! prints `frames seconds` for the timed inference loop.

use std::time::Instant;

use fast_image_resize::Resizer;
use framelabel::dataset::Dataset;
use framelabel::runtime::Runtime;
use framelabel::runtime::preprocess::Preprocess;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, model, threads) = (&args[1], &args[2], args[3].parse::<usize>()?);
    let ds = Dataset::new(dir);
    let mut model = Runtime::get()?.load_model(std::path::Path::new(model), threads)?;
    let (w, h) = model.input_size().expect("a fixed input size");
    let pre = Preprocess::yolox(w);
    let mut resizer = Resizer::new();
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
        pre.apply(
            &mut resizer,
            &img.pixels,
            img.width as u32,
            img.height as u32,
            &mut t,
        );
        dec += (t1 - t0).as_secs_f64();
        app += t1.elapsed().as_secs_f64();
        tensors.push(t);
    }
    eprintln!(
        "prep {:.4} s (read+decode {dec:.4}, preprocess {app:.4})",
        prep.elapsed().as_secs_f64()
    );
    model.run(&tensors[0], 1, h as usize, w as usize)?; // warm-up, as label's first frame is
    let start = Instant::now();
    for t in &tensors {
        model.run(t, 1, h as usize, w as usize)?;
    }
    println!("{} {:.4}", tensors.len(), start.elapsed().as_secs_f64());
    Ok(())
}
