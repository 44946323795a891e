//! Turning a picture into a model's input tensor. Every model family needs the same few steps in a
//! different combination (letterbox or stretch or shorter-side crop, RGB or BGR, 0–255 or 0–1,
//! mean/std), so they are written once here as data, and each returns the transform that maps model
//! coordinates back to the picture instead of hiding it in state for post-processing to find.

use serde::{Deserialize, Serialize};

use super::pil::Filter;

/// How the picture is fitted into the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fit {
    /// Scale to fit keeping the aspect ratio, fill the rest with `pad`. Each placement follows its
    /// family's reference to the pixel, because the two differ where `side · r` is not whole:
    /// - top-left is the official YOLOX demo: sides truncated (`int(w · r)`), boxes divided by `r`;
    /// - centred is Ultralytics' `LetterBox`: sides rounded half to even (Python's `round`), the
    ///   padding split with the smaller half first, boxes divided by each side's own scale
    ///   (`scale_boxes`).
    Letterbox { pad: u8, centred: bool },
    /// Scale each axis to the input size.
    Stretch,
    /// Scale so the shorter side is `shorter`, then crop the input size from the centre (ImageNet).
    ShorterSideCrop { shorter: u32 },
    /// Keep the aspect ratio: the shorter side becomes `shortest`, unless the longer would then pass
    /// `longest` (the longer side becomes about `longest`), with the rounding of transformers'
    /// `get_size_with_aspect_ratio` (DETR's `size: {shortest_edge, longest_edge}`). The input is
    /// the scaled picture, so its size depends on the picture's (the model's input is dynamic);
    /// one picture at a time, nothing is padded.
    KeepAspect { shortest: u32, longest: Option<u32> },
    /// The picture as it is (a processor's `do_resize: false`); the input has its size.
    Native,
}

/// transformers' `get_size_with_aspect_ratio((h, w), shortest, longest)` as (width, height).
pub fn keep_aspect_size(w: u32, h: u32, shortest: u32, longest: Option<u32>) -> (u32, u32) {
    let (hf, wf) = (h as f64, w as f64);
    let mut size = shortest as f64;
    let mut raw = None;
    if let Some(max) = longest {
        let (lo, hi) = (hf.min(wf), hf.max(wf));
        if hi / lo * size > max as f64 {
            let r = max as f64 * lo / hi;
            raw = Some(r);
            // Python's round: half to even.
            size = r.round_ties_even();
        }
    }
    let (oh, ow) = if (h <= w && hf == size) || (w <= h && wf == size) {
        (h, w)
    } else if w < h {
        let oh = match raw {
            Some(r) => (r * hf / wf) as u32,
            None => (size * hf / wf) as u32,
        };
        (oh, size as u32)
    } else {
        let ow = match raw {
            Some(r) => (r * wf / hf) as u32,
            None => (size * wf / hf) as u32,
        };
        (size as u32, ow)
    };
    (ow.max(1), oh.max(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    Rgb,
    Bgr,
}

/// How pixels are resampled. Detectors trained with OpenCV saw `cv2.resize(INTER_LINEAR)`, which
/// samples without anti-aliasing; Hugging Face processors (PIL) filter over the whole footprint when
/// shrinking. Feeding a model the other kind shifts its scores by a few hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resample {
    /// Two-tap bilinear interpolation (OpenCV INTER_LINEAR).
    Linear,
    /// Bilinear filter widened to the scale factor when shrinking (PIL BILINEAR).
    #[default]
    Antialiased,
    /// Bicubic filter widened when shrinking (PIL BICUBIC, CLIP).
    Bicubic,
}

/// A model's pre-processing: `value = (pixel · scale − mean[c]) / std[c]`, channels in `channels`
/// order, NCHW float32.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Model input width and height.
    pub size: (u32, u32),
    pub fit: Fit,
    pub channels: Channels,
    /// As transformers' `rescale`: the product is taken in double precision, then rounded to float.
    pub scale: f64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    #[serde(default)]
    pub resample: Resample,
}

/// Maps model-input coordinates back to the source picture: `x = (x' − offset.0) / scale.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub scale: (f64, f64),
    pub offset: (f64, f64),
}

impl Transform {
    pub fn to_source(&self, x: f64, y: f64) -> (f64, f64) {
        (
            (x - self.offset.0) / self.scale.0,
            (y - self.offset.1) / self.scale.1,
        )
    }
}

impl Preprocess {
    /// YOLOX's official pre-processing: top-left letterbox with 114, BGR, 0–255.
    pub fn yolox(size: u32) -> Self {
        Preprocess {
            size: (size, size),
            fit: Fit::Letterbox {
                pad: 114,
                centred: false,
            },
            channels: Channels::Bgr,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            resample: Resample::Linear,
        }
    }

    /// ImageNet classifiers: shorter side 256, centre crop 224, RGB, 0–1, ImageNet mean/std.
    pub fn imagenet() -> Self {
        Preprocess {
            size: (224, 224),
            fit: Fit::ShorterSideCrop { shorter: 256 },
            channels: Channels::Rgb,
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            resample: Resample::Antialiased,
        }
    }

    /// Ultralytics YOLO: centred letterbox with 114, RGB, 0–1.
    pub fn yolo(size: u32) -> Self {
        Preprocess {
            size: (size, size),
            fit: Fit::Letterbox {
                pad: 114,
                centred: true,
            },
            channels: Channels::Rgb,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            resample: Resample::Linear,
        }
    }

    /// The model input (width, height) for a picture of size `view`: [`Preprocess::size`], except
    /// for the fits that follow the picture's size.
    pub fn input_size(&self, view: (u32, u32)) -> (u32, u32) {
        match self.fit {
            Fit::KeepAspect { shortest, longest } => {
                keep_aspect_size(view.0, view.1, shortest, longest)
            }
            Fit::Native => view,
            _ => self.size,
        }
    }

    /// Whether every picture gets the same input size.
    pub fn fixed_size(&self) -> bool {
        !matches!(self.fit, Fit::KeepAspect { .. } | Fit::Native)
    }

    /// Appends one picture (packed RGB, `w`×`h`) to `batch` as CHW float32 and returns its transform.
    pub fn apply(&self, rgb: &[u8], w: u32, h: u32, batch: &mut Vec<f32>) -> Transform {
        self.apply_as(rgb, (w, h), (w, h), batch)
    }

    /// [`Preprocess::apply`] for the picture as it will look at size `view` (a resized copy of `rgb`,
    /// which is `src` in size): the model's window is placed on `view`, and the pixels are resampled
    /// from `rgb` in one step, so the copy need not exist. The transform maps to `view`.
    pub fn apply_as(
        &self,
        rgb: &[u8],
        src: (u32, u32),
        view: (u32, u32),
        batch: &mut Vec<f32>,
    ) -> Transform {
        let (w, h) = view;
        assert_eq!(
            rgb.len(),
            (src.0 * src.1 * 3) as usize,
            "RGB buffer does not match its size"
        );
        let (tw, th) = self.input_size(view);
        // Geometry: the size the picture is scaled to, and where the model's window sits on it.
        let (scaled, paste, crop, transform) = match self.fit {
            Fit::Stretch | Fit::KeepAspect { .. } | Fit::Native => {
                let t = Transform {
                    scale: (tw as f64 / w as f64, th as f64 / h as f64),
                    offset: (0.0, 0.0),
                };
                ((tw, th), (0, 0), (0, 0), t)
            }
            Fit::Letterbox { centred, .. } => {
                let r = (tw as f64 / w as f64).min(th as f64 / h as f64);
                let side = |v: u32| {
                    let x = v as f64 * r;
                    if centred {
                        x.round_ties_even()
                    } else {
                        x.trunc()
                    }
                };
                let sw = (side(w) as u32).clamp(1, tw);
                let sh = (side(h) as u32).clamp(1, th);
                let (paste, scale) = if centred {
                    // `round(d / 2 - 0.1)` for a padding of `d` pixels is `d / 2` rounded down.
                    let scale = (sw as f64 / w as f64, sh as f64 / h as f64);
                    (((tw - sw) / 2, (th - sh) / 2), scale)
                } else {
                    ((0, 0), (r, r))
                };
                let t = Transform {
                    scale,
                    offset: (paste.0 as f64, paste.1 as f64),
                };
                ((sw, sh), paste, (0, 0), t)
            }
            Fit::ShorterSideCrop { shorter } => {
                // transformers' `get_resize_output_image_size`: the long side is
                // `int(shorter * long / short)`, truncated; the crop offsets are floored.
                let long = |side: u32| {
                    if side == w.min(h) {
                        shorter
                    } else {
                        (shorter as f64 * side as f64 / w.min(h) as f64) as u32
                    }
                };
                let (sw, sh) = (long(w).max(tw), long(h).max(th));
                let crop = ((sw - tw) / 2, (sh - th) / 2);
                let t = Transform {
                    scale: (sw as f64 / w as f64, sh as f64 / h as f64),
                    offset: (-(crop.0 as f64), -(crop.1 as f64)),
                };
                ((sw, sh), (0, 0), crop, t)
            }
        };
        // The part of the scaled picture the window shows; the rest is never resampled.
        let shown = (
            (scaled.0 - crop.0).min(tw - paste.0),
            (scaled.1 - crop.1).min(th - paste.1),
        );
        let resized;
        let (pixels, stride, crop): (&[u8], u32, (u32, u32)) = if scaled == src {
            (rgb, scaled.0, crop)
        } else if self.resample == Resample::Linear {
            resized = resize_linear_opencv(rgb, src.0, src.1, scaled.0, scaled.1);
            (&resized, scaled.0, crop)
        } else {
            let filter = match self.resample {
                Resample::Bicubic => Filter::Bicubic,
                _ => Filter::Bilinear,
            };
            let window = (crop.0, crop.1, shown.0, shown.1);
            resized = super::pil::resize(rgb, src, scaled, window, filter);
            (&resized, shown.0, (0, 0))
        };
        let pad = match self.fit {
            Fit::Letterbox { pad, .. } => pad,
            _ => 0,
        };
        let order = match self.channels {
            Channels::Rgb => [0, 1, 2],
            Channels::Bgr => [2, 1, 0],
        };
        let plane = (tw * th) as usize;
        let start = batch.len();
        batch.resize(start + 3 * plane, 0.0);
        let out = &mut batch[start..];
        // The picture's rows and columns that the input window shows, as ranges of input pixels.
        let x_from = paste.0 as usize;
        let x_to = x_from + shown.0 as usize;
        let y_from = paste.1 as usize;
        let y_to = y_from + shown.1 as usize;
        let stride = stride as usize * 3;
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        for (c, p) in [&mut *p0, &mut *p1, &mut *p2].into_iter().enumerate() {
            p.fill(self.value(c, pad));
        }
        let tw = tw as usize;
        for y in y_from..y_to {
            let sy = y - y_from + crop.1 as usize;
            let src_row = &pixels[sy * stride + crop.0 as usize * 3..(sy + 1) * stride];
            let src_row = &src_row[..(x_to - x_from) * 3];
            let span = y * tw + x_from..y * tw + x_to;
            let planes = [&mut p0[span.clone()], &mut p1[span.clone()], &mut p2[span]];
            self.planes_row(src_row, order, planes);
        }
        transform
    }
}

/// The horizontal pass of [`resize_linear_opencv`]: one source row into fixed-point sums (scaled by
/// 2048) per destination pixel and channel. Inlined into its caller, so it gets the caller's AVX2.
#[inline(always)]
fn hrow(row: &[u8], xs: &[(usize, usize, i32, i32)], out: &mut Vec<i32>) {
    out.resize(xs.len() * 3, 0);
    for (o, &(sx, nx, a0, a1)) in out.chunks_exact_mut(3).zip(xs) {
        // Both neighbours in one read, except at the right edge (where nx = sx and a1 = 0).
        let (p, q): ([u8; 3], [u8; 3]) = if nx > sx {
            let pq: &[u8; 6] = row[sx * 3..sx * 3 + 6].try_into().expect("6 bytes");
            ([pq[0], pq[1], pq[2]], [pq[3], pq[4], pq[5]])
        } else {
            let p: [u8; 3] = row[sx * 3..sx * 3 + 3].try_into().expect("3 bytes");
            (p, p)
        };
        o[0] = p[0] as i32 * a0 + q[0] as i32 * a1;
        o[1] = p[1] as i32 * a0 + q[1] as i32 * a1;
        o[2] = p[2] as i32 * a0 + q[2] as i32 * a1;
    }
}

/// The horizontal taps of [`hrow`] per output value (pixel and channel) rather than per pixel, for
/// eight at a time: where the left neighbour's byte is (the right one is 3 bytes on) and both
/// weights in one 32-bit lane. `safe` values can read 4 bytes at their offset within the row; the
/// last few at the right edge cannot and are left to [`hrow`]'s arithmetic.
struct WideTaps {
    offsets: Vec<i32>,
    weights: Vec<i32>,
    safe: usize,
}

impl WideTaps {
    fn new(xs: &[(usize, usize, i32, i32)], row_len: usize) -> Self {
        let mut offsets = Vec::with_capacity(xs.len() * 3);
        let mut weights = Vec::with_capacity(xs.len() * 3);
        for &(sx, _, a0, a1) in xs {
            for c in 0..3 {
                offsets.push((sx * 3 + c) as i32);
                // a0 and a1 are at most 2048: each fits a 16-bit half.
                weights.push(a0 | (a1 << 16));
            }
        }
        let fits = offsets
            .iter()
            .position(|&o| o as usize + 4 > row_len)
            .unwrap_or(offsets.len());
        WideTaps {
            offsets,
            weights,
            safe: fits / 8 * 8,
        }
    }
}

/// [`hrow`] eight values at a time: one gather reads each value's left neighbour with its right
/// one 3 bytes on, and one multiply-add applies both weights. Where the right neighbour is the left
/// one itself (the right edge), its weight is 0, so the byte read there does not matter.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hrow_avx2(
    row: &[u8],
    xs: &[(usize, usize, i32, i32)],
    wide: &WideTaps,
    out: &mut Vec<i32>,
) {
    use std::arch::x86_64::*;
    out.resize(xs.len() * 3, 0);
    let low = _mm256_set1_epi32(0xff);
    let third = _mm256_set1_epi32(0xff_0000);
    for j in (0..wide.safe).step_by(8) {
        // SAFETY: j + 8 <= safe <= offsets.len() = weights.len() = out.len(), and every offset up
        // to `safe` has 4 bytes of the row from it (WideTaps::new).
        unsafe {
            let idx = _mm256_loadu_si256(wide.offsets.as_ptr().add(j).cast());
            let w = _mm256_loadu_si256(wide.weights.as_ptr().add(j).cast());
            let v = _mm256_i32gather_epi32::<1>(row.as_ptr().cast(), idx);
            // Bytes 0 and 3 of each lane (left and right neighbour) into the lane's 16-bit halves.
            let pq = _mm256_or_si256(
                _mm256_and_si256(v, low),
                _mm256_and_si256(_mm256_srli_epi32::<8>(v), third),
            );
            let sum = _mm256_madd_epi16(pq, w);
            _mm256_storeu_si256(out.as_mut_ptr().add(j).cast(), sum);
        }
    }
    for j in wide.safe..out.len() {
        let (sx, nx, a0, a1) = xs[j / 3];
        let c = j % 3;
        out[j] = row[sx * 3 + c] as i32 * a0 + row[nx * 3 + c] as i32 * a1;
    }
}

impl Preprocess {
    /// The input value of byte `v` in channel `c`: `(float(v · scale) − mean[c]) / std[c]` in
    /// float32, the order and precision of transformers' `rescale` then `normalize`, so tensors are
    /// bit-identical to a processor's.
    #[inline(always)]
    fn value(&self, c: usize, v: u8) -> f32 {
        ((v as f64 * self.scale) as f32 - self.mean[c]) / self.std[c]
    }

    /// One row of packed pixels into the three planes; `ch[c]` is the packed channel that goes to
    /// plane `c`. Written so the compiler vectorises it (with AVX2 where the CPU has it): this runs
    /// for every input value.
    fn planes_row(&self, src: &[u8], ch: [usize; 3], planes: [&mut [f32]; 3]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.planes_row_avx2(src, ch, planes) };
        }
        self.planes_row_body(src, ch, planes)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn planes_row_avx2(&self, src: &[u8], ch: [usize; 3], planes: [&mut [f32]; 3]) {
        self.planes_row_body(src, ch, planes)
    }

    #[inline(always)]
    fn planes_row_body(&self, src: &[u8], ch: [usize; 3], planes: [&mut [f32]; 3]) {
        let [d0, d1, d2] = planes;
        let n = d0.len();
        let (d1, d2) = (&mut d1[..n], &mut d2[..n]);
        let src = &src[..n * 3];
        if ch == [0, 1, 2] {
            for (i, px) in src.chunks_exact(3).enumerate() {
                d0[i] = self.value(0, px[0]);
                d1[i] = self.value(1, px[1]);
                d2[i] = self.value(2, px[2]);
            }
        } else {
            for (i, px) in src.chunks_exact(3).enumerate() {
                d0[i] = self.value(0, px[ch[0]]);
                d1[i] = self.value(1, px[ch[1]]);
                d2[i] = self.value(2, px[ch[2]]);
            }
        }
    }
}

/// OpenCV's `cv2.resize(INTER_LINEAR)` on packed RGB, to the bit: the same source coordinates, the
/// same 11-bit fixed-point weights and the same rounding as its vectorised vertical pass. YOLO-family
/// detectors were trained on exactly these pixels, and the ±1 differences of any other bilinear
/// resize move box edges by a pixel or two.
pub fn resize_linear_opencv(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { resize_linear_avx2(src, sw, sh, dw, dh) };
    }
    resize_linear_body(src, sw, sh, dw, dh, false)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn resize_linear_avx2(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<u8> {
    resize_linear_body(src, sw, sh, dw, dh, true)
}

#[inline(always)]
fn resize_linear_body(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32, avx2: bool) -> Vec<u8> {
    const ONE: f32 = 2048.0;
    // Per destination coordinate: the two source indices and their weights. Past an edge, OpenCV
    // moves a column onto the edge with weights (1, 0), but keeps a row's weights and repeats the
    // edge row in both taps (the two products round separately, so the results differ by one).
    let taps = |s: u32, d: u32, rows: bool| -> Vec<(usize, usize, i32, i32)> {
        let scale = 1.0 / (d as f64 / s as f64);
        let last = s as i64 - 1;
        (0..d)
            .map(|i| {
                let f = ((i as f64 + 0.5) * scale - 0.5) as f32;
                let mut sx = f.floor() as i64;
                let mut fx = f - sx as f32;
                if !rows && sx < 0 {
                    (sx, fx) = (0, 0.0);
                }
                if !rows && sx >= last {
                    (sx, fx) = (last, 0.0);
                }
                let a0 = ((1.0 - fx) * ONE).round_ties_even() as i32;
                let a1 = (fx * ONE).round_ties_even() as i32;
                let (p, q) = (sx.clamp(0, last), (sx + 1).clamp(0, last));
                (p as usize, q as usize, a0, a1)
            })
            .collect()
    };
    let (xs, ys) = (taps(sw, dw, false), taps(sh, dh, true));
    let (sw, dw) = (sw as usize, dw as usize);
    let wide = avx2.then(|| WideTaps::new(&xs, sw * 3));
    let hrow = |y: usize, out: &mut Vec<i32>| {
        let row = &src[y * sw * 3..(y + 1) * sw * 3];
        match &wide {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `wide` exists only when the CPU has AVX2 (see the callers).
            Some(wide) => unsafe { hrow_avx2(row, &xs, wide, out) },
            _ => hrow(row, &xs, out),
        }
    };
    let mut cache: [(usize, Vec<i32>); 2] = [(usize::MAX, Vec::new()), (usize::MAX, Vec::new())];
    let mut dst = vec![0u8; dw * dh as usize * 3];
    let mut rows = dst.chunks_exact_mut(dw * 3);
    for &(sy, ny, b0, b1) in &ys {
        // Slot 0 holds row sy, slot 1 row ny (unless both taps are the same edge row).
        if cache[0].0 != sy {
            if cache[1].0 == sy {
                cache.swap(0, 1);
            } else {
                hrow(sy, &mut cache[0].1);
                cache[0].0 = sy;
            }
        }
        if ny != sy && cache[1].0 != ny {
            hrow(ny, &mut cache[1].1);
            cache[1].0 = ny;
        }
        let r0 = &cache[0].1[..dw * 3];
        let r1 = if ny == sy { r0 } else { &cache[1].1[..dw * 3] };
        let out = rows.next().expect("one output row per destination y");
        for ((d, s0), s1) in out.iter_mut().zip(r0).zip(r1) {
            // v_mul_hi on 16-bit lanes of the sums shifted by 4, then a rounding shift by 2.
            let t = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
            *d = ((t + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 horizontal pass gives the scalar one's sums, value for value, shrinking and
    /// enlarging (where edge columns are clamped), for widths with and without a vector tail.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn wide_horizontal_pass_equals_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for (sw, dw) in [
            (768, 416),
            (416, 768),
            (37, 5),
            (5, 37),
            (640, 640),
            (3, 1),
            (1, 9),
        ] {
            let row: Vec<u8> = (0..sw * 3).map(|i| (i * 97 % 251) as u8).collect();
            let scale = sw as f64 / dw as f64;
            let last = sw as i64 - 1;
            let xs: Vec<(usize, usize, i32, i32)> = (0..dw)
                .map(|i| {
                    let f = ((i as f64 + 0.5) * scale - 0.5) as f32;
                    let (mut sx, mut fx) = (f.floor() as i64, f - f.floor());
                    if sx < 0 {
                        (sx, fx) = (0, 0.0);
                    }
                    if sx >= last {
                        (sx, fx) = (last, 0.0);
                    }
                    let a1 = (fx * 2048.0).round() as i32;
                    (sx as usize, (sx + 1).min(last) as usize, 2048 - a1, a1)
                })
                .collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            hrow(&row, &xs, &mut a);
            // SAFETY: AVX2 checked above.
            unsafe { hrow_avx2(&row, &xs, &WideTaps::new(&xs, row.len()), &mut b) };
            assert_eq!(a, b, "{sw} -> {dw}");
        }
    }

    /// A 4×2 picture whose pixel (x, y) is (10x + y, 100 + x, 200 + y).
    fn picture() -> Vec<u8> {
        (0..2u8)
            .flat_map(|y| (0..4u8).flat_map(move |x| [10 * x + y, 100 + x, 200 + y]))
            .collect()
    }

    fn run(p: Preprocess, rgb: &[u8], w: u32, h: u32) -> (Vec<f32>, Transform) {
        let mut batch = Vec::new();
        let t = p.apply(rgb, w, h, &mut batch);
        (batch, t)
    }

    #[test]
    fn letterbox_top_left_bgr_keeps_pixels_and_pads() {
        // 4×2 into 4×4: r = min(4/4, 4/2) = 1, no resize; rows 2–3 are padding.
        let (t, tf) = run(Preprocess::yolox(4), &picture(), 4, 2);
        assert_eq!(t.len(), 3 * 16);
        // Channel 0 is blue = 200 + y; channel 2 is red = 10x + y.
        assert_eq!(
            &t[0..8],
            &[200.0, 200.0, 200.0, 200.0, 201.0, 201.0, 201.0, 201.0]
        );
        assert_eq!(&t[32..40], &[0.0, 10.0, 20.0, 30.0, 1.0, 11.0, 21.0, 31.0]);
        assert!(t[8..16].iter().all(|&v| v == 114.0));
        assert_eq!(tf.to_source(3.0, 1.0), (3.0, 1.0));
    }

    #[test]
    fn letterbox_centred_offsets_the_picture() {
        let p = Preprocess {
            fit: Fit::Letterbox {
                pad: 0,
                centred: true,
            },
            channels: Channels::Rgb,
            ..Preprocess::yolox(4)
        };
        let (t, tf) = run(p, &picture(), 4, 2);
        // Rows 1–2 hold the picture; rows 0 and 3 are padding. Red = 10x + y.
        assert_eq!(&t[0..4], &[0.0; 4]);
        assert_eq!(&t[4..8], &[0.0, 10.0, 20.0, 30.0]);
        assert_eq!(&t[8..12], &[1.0, 11.0, 21.0, 31.0]);
        assert_eq!(tf.offset, (0.0, 1.0));
        assert_eq!(tf.to_source(2.0, 2.0), (2.0, 1.0));
    }

    #[test]
    fn shorter_side_crop_and_normalisation() {
        // Shorter side 2 = the picture's own height: no resize; crop 2×2 from the centre → x = 1, 2.
        let p = Preprocess {
            size: (2, 2),
            fit: Fit::ShorterSideCrop { shorter: 2 },
            ..Preprocess::imagenet()
        };
        let (t, tf) = run(p, &picture(), 4, 2);
        let norm = |v: f32, c: usize| (v / 255.0 - p.mean[c]) / p.std[c];
        let want_red = [10.0, 20.0, 11.0, 21.0].map(|v| norm(v, 0));
        for (a, b) in t[0..4].iter().zip(want_red) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!((t[4] - norm(101.0, 1)).abs() < 1e-6);
        assert_eq!(tf.to_source(0.0, 0.0), (1.0, 0.0));
    }

    /// Only the window is resampled, and it gets the same pixels as scaling the whole picture and
    /// cropping: here a textured 768×576 picture scaled to shorter side 256, crop 224.
    #[test]
    fn shorter_side_crop_resamples_only_the_window() {
        let (w, h) = (768u32, 576u32);
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| {
                let (x, y, c) = ((i / 3) % w, (i / 3) / w, i % 3);
                (((x * 7 + y * 3 + c * 50) % 256) ^ ((x * y / 97) % 256)) as u8
            })
            .collect();
        let p = Preprocess::imagenet();
        let (t, _) = run(p, &rgb, w, h);
        // The whole picture scaled to 341×256, then the centre 224×224 (from x = 58, y = 16).
        let full = crate::runtime::pil::resize(
            &rgb,
            (w, h),
            (341, 256),
            (0, 0, 341, 256),
            crate::runtime::pil::Filter::Bilinear,
        );
        let mut worst = 0f32;
        for y in 0..224usize {
            for x in 0..224usize {
                for c in 0..3 {
                    let v = full[((y + 16) * 341 + x + 58) * 3 + c] as f32;
                    let want = (v / 255.0 - p.mean[c]) / p.std[c];
                    let got = t[c * 224 * 224 + y * 224 + x];
                    worst = worst.max((got - want).abs() * p.std[c] * 255.0);
                }
            }
        }
        assert!(worst < 1e-3, "differs by {worst} levels");
    }

    #[test]
    fn stretch_scales_each_axis() {
        let flat: Vec<u8> = [50u8, 60, 70].repeat(6);
        let p = Preprocess {
            fit: Fit::Stretch,
            channels: Channels::Rgb,
            ..Preprocess::yolox(4)
        };
        let (t, tf) = run(p, &flat, 3, 2);
        assert_eq!(t.len(), 48);
        assert!(t[..16].iter().all(|&v| v == 50.0) && t[32..].iter().all(|&v| v == 70.0));
        assert_eq!(tf.scale, (4.0 / 3.0, 2.0));
        assert_eq!(tf.to_source(4.0, 4.0), (3.0, 2.0));
    }
}
