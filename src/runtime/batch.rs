//! Pictures through a model in batches: from disk, or as input tensors made elsewhere (`run` makes
//! them while the decoded frame is in memory). Reading and decoding JPEGs and pre-processing run
//! on worker threads while the calling thread runs the model, so on a CPU the cost of a stage is
//! close to that of inference alone; results come back by index, so the order of completion never
//! leaks into what is written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;

use super::preprocess::{Preprocess, Transform};
use super::{Model, Output};
use crate::error::Result;

/// Where a picture of a batch came from.
pub struct Picture {
    /// Index into the list of paths.
    pub index: usize,
    /// Model input coordinates back to the picture.
    pub transform: Transform,
    /// Width and height of the picture read.
    pub size: (u32, u32),
}

struct Prepared {
    picture: Picture,
    /// Model input width and height (the same for every picture unless the fit follows the
    /// picture's size).
    input: (u32, u32),
    tensor: Vec<f32>,
}

/// Runs the sessions `models` (of one model; see [`super::Runtime::load_sessions`]) over the JPEGs
/// at `paths`, `batch` at a time (1 when the batch axis is fixed), with `workers` reader threads, and
/// calls `each(outputs, b, picture)` for picture `b` of every batch, on the calling thread. Returns
/// which paths could be read; unreadable ones are skipped.
#[allow(clippy::too_many_arguments)]
pub fn run_pictures(
    paths: &[PathBuf],
    pre: &Preprocess,
    models: &mut [Model],
    batch: usize,
    workers: usize,
    bar: &ProgressBar,
    mut each: impl FnMut(&[Output], usize, &Picture),
) -> Result<Vec<bool>> {
    let mut read = vec![false; paths.len()];
    if paths.is_empty() {
        return Ok(read);
    }
    let (job_tx, job_rx) = crossbeam_channel::bounded::<(usize, ())>(paths.len());
    for i in 0..paths.len() {
        job_tx.send((i, ())).expect("the receiver is alive");
    }
    drop(job_tx);
    run_images(
        job_rx,
        &|index, ()| read_rgb(&paths[index]),
        pre,
        models,
        batch,
        workers,
        bar,
        |outputs, b, picture| {
            read[picture.index] = true;
            each(outputs, b, picture);
        },
    )?;
    Ok(read)
}

/// Runs the sessions `models` over the pictures of `jobs`, each `(index, job)` made packed RGB by
/// `load` on one of `workers` threads (`None`: skipped), as [`run_pictures`] does for JPEGs; the
/// pictures may come from a decoder while the model runs.
#[allow(clippy::too_many_arguments)]
pub fn run_images<J: Send>(
    job_rx: crossbeam_channel::Receiver<(usize, J)>,
    load: &(dyn Fn(usize, J) -> Option<(Vec<u8>, u32, u32)> + Sync),
    pre: &Preprocess,
    models: &mut [Model],
    batch: usize,
    workers: usize,
    bar: &ProgressBar,
    mut each: impl FnMut(&[Output], usize, &Picture),
) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    let batch = if models[0].dynamic_batch() {
        batch.max(1)
    } else {
        1
    };
    let slots = (2 * batch + 2) * models.len();
    let (prep_tx, prep_rx) = crossbeam_channel::bounded::<Prepared>(slots);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Result<Ran>>(2 * models.len());
    std::thread::scope(|s| -> Result<()> {
        // Owned here so that an early error return drops it and unblocks every thread.
        let out_rx = out_rx;
        for _ in 0..workers.max(1) {
            let (job_rx, prep_tx) = (job_rx.clone(), prep_tx.clone());
            s.spawn(move || {
                for (index, job) in job_rx {
                    let Some((rgb, w, h)) = load(index, job) else {
                        bar.inc(1);
                        continue;
                    };
                    let input = pre.input_size((w, h));
                    let mut tensor = Vec::with_capacity((input.0 * input.1 * 3) as usize);
                    let transform = pre.apply(&rgb, w, h, &mut tensor);
                    let picture = Picture {
                        index,
                        transform,
                        size: (w, h),
                    };
                    if prep_tx
                        .send(Prepared {
                            picture,
                            input,
                            tensor,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(prep_tx);
        for model in models.iter_mut() {
            let (prep_rx, out_tx) = (prep_rx.clone(), out_tx.clone());
            s.spawn(move || {
                let mut pending: Vec<Prepared> = Vec::with_capacity(batch);
                let mut input = Vec::new();
                let mut run = |pending: &mut Vec<Prepared>| -> bool {
                    if pending.is_empty() {
                        return true;
                    }
                    // One picture runs from its own tensor: no copy on the session's thread.
                    let data = if let [one] = &pending[..] {
                        &one.tensor
                    } else {
                        input.clear();
                        for p in pending.iter() {
                            input.extend_from_slice(&p.tensor);
                        }
                        &input
                    };
                    let (iw, ih) = pending[0].input;
                    let ran = model
                        .run(data, pending.len(), ih as usize, iw as usize)
                        .map(|outputs| Ran {
                            outputs,
                            pictures: pending.drain(..).map(|p| p.picture).collect(),
                        });
                    let ok = ran.is_ok();
                    out_tx.send(ran).is_ok() && ok
                };
                for p in prep_rx.iter() {
                    // A batch holds pictures of one input size.
                    if pending.first().is_some_and(|q| q.input != p.input) && !run(&mut pending) {
                        return;
                    }
                    pending.push(p);
                    if pending.len() == batch && !run(&mut pending) {
                        return;
                    }
                }
                run(&mut pending);
            });
        }
        drop((prep_rx, out_tx));
        for ran in out_rx.iter() {
            let ran = ran?;
            for (b, picture) in ran.pictures.iter().enumerate() {
                each(&ran.outputs, b, picture);
                bar.inc(1);
            }
        }
        Ok(())
    })
}

/// One batch through a session.
struct Ran {
    outputs: Vec<Output>,
    pictures: Vec<Picture>,
}

/// Reads a JPEG as packed RGB; `None` when it is missing or unreadable.
pub fn read_rgb(path: &Path) -> Option<(Vec<u8>, u32, u32)> {
    let bytes = std::fs::read(path).ok()?;
    let img = turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB).ok()?;
    Some((img.pixels, img.width as u32, img.height as u32))
}

/// Runs the sessions `models` over input tensors made beforehand (each one picture of `size`,
/// CHW), `batch` at a time (1 when the batch axis is fixed), the sessions side by side on different
/// batches, and calls `each(outputs, b, i)` for tensor `i`, picture `b` of its batch, in order.
pub fn run_tensors(
    tensors: &[Vec<f32>],
    size: (u32, u32),
    models: &mut [Model],
    batch: usize,
    mut each: impl FnMut(&[Output], usize, usize),
) -> Result<()> {
    if tensors.is_empty() || models.is_empty() {
        return Ok(());
    }
    let batch = if models[0].dynamic_batch() {
        batch.max(1)
    } else {
        1
    };
    let (w, h) = (size.0 as usize, size.1 as usize);
    let chunks: Vec<&[Vec<f32>]> = tensors.chunks(batch).collect();
    let next = AtomicUsize::new(0);
    let ran: Mutex<Vec<Option<Result<Vec<Output>>>>> =
        Mutex::new((0..chunks.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for model in models.iter_mut() {
            let (next, chunks, ran) = (&next, &chunks, &ran);
            s.spawn(move || {
                let mut input = Vec::new();
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(c) else { break };
                    let outputs = if let [one] = chunk {
                        model.run(one, 1, h, w)
                    } else {
                        input.clear();
                        for t in chunk.iter() {
                            input.extend_from_slice(t);
                        }
                        model.run(&input, chunk.len(), h, w)
                    };
                    ran.lock().expect("no session panicked")[c] = Some(outputs);
                }
            });
        }
    });
    let ran = ran.into_inner().expect("no session panicked");
    for (c, (outputs, chunk)) in ran.into_iter().zip(&chunks).enumerate() {
        let outputs = outputs.expect("every batch ran")?;
        for b in 0..chunk.len() {
            each(&outputs, b, c * batch + b);
        }
    }
    Ok(())
}
