//! Single-thread cost of each per-frame step of the extract stage on one video, to see where time
//! goes: `cargo run --release --example extract_stages -- VIDEO [WxH]`.

use std::time::{Duration, Instant};

use framelabel::extract::decode::VideoSource;
use framelabel::extract::picture::{Encoder, Output, ResizeMode};
use framelabel::extract::quality;
use framelabel::extract::sample::Decision;

fn main() {
    let mut args = std::env::args().skip(1);
    let video = args.next().expect("usage: extract_stages VIDEO [WxH]");
    let size = args
        .next()
        .map(|s| framelabel::cli::parse_size(&s).expect("size"));
    let out = Output {
        size,
        resize: ResizeMode::Stretch,
        jpeg_quality: 95,
    };
    let mut enc = Encoder::new(out).unwrap();
    let (mut grey_t, mut metrics_t, mut encode_t) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut grey = Vec::new();
    let mut n = 0u32;
    let start = Instant::now();
    let mut work = Duration::ZERO;
    let src = VideoSource::open(std::path::Path::new(&video)).unwrap();
    let pool = framelabel::extract::decode::BufferPool::new(4);
    src.run(
        &pool,
        |_, _| Decision::Take,
        |f| {
            let t0 = Instant::now();
            grey.resize(f.rgb.len() / 3, 0);
            quality::rgb_to_grey(&f.rgb, &mut grey);
            let t1 = Instant::now();
            std::hint::black_box(quality::metrics(&grey, f.width as usize, f.height as usize));
            let t2 = Instant::now();
            std::hint::black_box(enc.encode_frame(&f).unwrap());
            let t3 = Instant::now();
            grey_t += t1 - t0;
            metrics_t += t2 - t1;
            encode_t += t3 - t2;
            work += t3 - t0;
            n += 1;
            pool.give(f.rgb);
            true
        },
    );
    let total = start.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "{n} frames, per frame (ms): decode+rgb {:.2}  grey {:.2}  metrics {:.2}  resize+jpeg {:.2}",
        ms(total - work),
        ms(grey_t),
        ms(metrics_t),
        ms(encode_t)
    );
}
