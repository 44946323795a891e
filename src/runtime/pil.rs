//! Pillow's `Image.resize` with its bilinear and bicubic filters, to the bit.
//!
//! Hugging Face image processors (and the models trained through them: DETR, RT-DETR, CLIP) resize
//! uint8 pictures with Pillow. Any other antialiased resize, even one with the same kernel, rounds
//! differently: doing the two passes in the other order or keeping more precision between them puts
//! one value in ten a level off, and a random-weight RT-DETR picks other queries on a one-level change
//! in one pixel. So this follows Pillow's `Resample.c`: the kernel stretched by the scale when
//! shrinking, per-pixel weights normalised in double precision, then fixed point with 22 fractional
//! bits, the horizontal pass first, rounded and clamped to uint8 before the vertical pass.

/// Pillow's resampling filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BILINEAR` (triangle, support 1).
    Bilinear,
    /// `Image.BICUBIC` (cubic convolution with a = −0.5, support 2).
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The taps of each output index in `range`: the first source index, and `ksize` fixed-point
/// weights per index (zero past the filter's reach, as Pillow pads them), all in one vector.
struct Taps {
    first: Vec<usize>,
    weights: Vec<i32>,
    ksize: usize,
}

impl Taps {
    fn new(in_size: u32, out_size: u32, range: std::ops::Range<u32>, filter: Filter) -> Self {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = filter.support() * filterscale;
        let ss = 1.0 / filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let one = (1u32 << PRECISION_BITS) as f64;
        let mut first = Vec::with_capacity(range.len());
        let mut weights = vec![0i32; range.len() * ksize];
        let mut k = Vec::with_capacity(ksize);
        for (n, xx) in range.enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast: truncation toward zero, then the bounds.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            k.clear();
            k.extend((xmin..xmax).map(|x| filter.weight((x as f64 - center + 0.5) * ss)));
            let total: f64 = k.iter().sum();
            for (t, &w) in k.iter().enumerate() {
                let w = if total != 0.0 { w / total } else { w };
                weights[n * ksize + t] = if w < 0.0 {
                    (-0.5 + w * one) as i32
                } else {
                    (0.5 + w * one) as i32
                };
            }
            first.push(xmin);
        }
        Taps {
            first,
            weights,
            ksize,
        }
    }

    /// Output index `i` as a copy of source index `first[i]` (no resampling on this axis).
    fn copy(range: std::ops::Range<u32>) -> Self {
        Taps {
            first: range.map(|i| i as usize).collect(),
            weights: Vec::new(),
            ksize: 1,
        }
    }

    /// The source rows or columns the taps read, as a range.
    fn reach(&self, in_size: usize) -> std::ops::Range<usize> {
        let lo = self.first.iter().copied().min().unwrap_or(0);
        let hi = self.first.iter().map(|f| f + self.ksize).max().unwrap_or(0);
        lo..hi.min(in_size)
    }
}

#[inline]
fn clip8(sum: i32) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes packed RGB `src` (`sw`×`sh`) to `dw`×`dh` as Pillow does and returns the window
/// `(x, y, w, h)` of the result, packed RGB: the same values as resizing whole and cropping, with
/// only the window's pixels computed.
pub fn resize(
    src: &[u8],
    (sw, sh): (u32, u32),
    (dw, dh): (u32, u32),
    (x, y, w, h): (u32, u32, u32, u32),
    filter: Filter,
) -> Vec<u8> {
    assert!(x + w <= dw && y + h <= dh, "the window lies in the output");
    assert_eq!(src.len(), (sw * sh * 3) as usize, "RGB buffer of its size");
    let need_h = dw != sw;
    let need_v = dh != sh;
    let cols = if need_h {
        Taps::new(sw, dw, x..x + w, filter)
    } else {
        Taps::copy(x..x + w)
    };
    let rows = if need_v {
        Taps::new(sh, dh, y..y + h, filter)
    } else {
        Taps::copy(y..y + h)
    };
    // Source rows the vertical pass reads; the horizontal pass runs on those only.
    let reach = rows.reach(sh as usize);
    let (sw, w, h) = (sw as usize, w as usize, h as usize);
    let mut temp = vec![0u8; reach.len() * w * 3];
    for (r, sy) in reach.clone().enumerate() {
        let row = &src[sy * sw * 3..(sy + 1) * sw * 3];
        let out = &mut temp[r * w * 3..(r + 1) * w * 3];
        if need_h {
            horizontal(row, &cols, out);
        } else {
            for (o, &xmin) in out.chunks_exact_mut(3).zip(&cols.first) {
                o.copy_from_slice(&row[xmin * 3..xmin * 3 + 3]);
            }
        }
    }
    if !need_v {
        return temp;
    }
    let mut out = vec![0u8; h * w * 3];
    vertical(&temp, reach.start, &rows, w * 3, &mut out);
    out
}

/// Pillow's horizontal pass on one row of packed RGB, rounded and clamped to bytes.
fn horizontal(row: &[u8], cols: &Taps, out: &mut [u8]) {
    let half = 1i32 << (PRECISION_BITS - 1);
    let k = cols.ksize;
    let last = row.len() / 3;
    for (n, (o, &xmin)) in out.chunks_exact_mut(3).zip(&cols.first).enumerate() {
        let weights = &cols.weights[n * k..(n + 1) * k];
        // Taps past the row's end have weight 0 (Pillow's padding); they are not read.
        let taps = k.min(last - xmin);
        let px = &row[xmin * 3..(xmin + taps) * 3];
        let mut s = [half; 3];
        for (p, &kw) in px.chunks_exact(3).zip(weights) {
            s[0] += p[0] as i32 * kw;
            s[1] += p[1] as i32 * kw;
            s[2] += p[2] as i32 * kw;
        }
        o[0] = clip8(s[0]);
        o[1] = clip8(s[1]);
        o[2] = clip8(s[2]);
    }
}

/// Pillow's vertical pass over rows of `stride` bytes (the horizontal pass's, the first being source
/// row `first`), rounded and clamped to bytes.
fn vertical(temp: &[u8], first: usize, rows: &Taps, stride: usize, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { vertical_avx2(temp, first, rows, stride, out) };
    }
    vertical_body(temp, first, rows, stride, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_avx2(temp: &[u8], first: usize, rows: &Taps, stride: usize, out: &mut [u8]) {
    vertical_body(temp, first, rows, stride, out)
}

#[inline(always)]
fn vertical_body(temp: &[u8], first: usize, rows: &Taps, stride: usize, out: &mut [u8]) {
    let half = 1i32 << (PRECISION_BITS - 1);
    let k = rows.ksize;
    let available = temp.len() / stride;
    let mut sums = vec![0i32; stride];
    for (n, (orow, &ymin)) in out.chunks_exact_mut(stride).zip(&rows.first).enumerate() {
        sums.fill(half);
        let base = ymin - first;
        let taps = k.min(available - base);
        for (t, &kw) in rows.weights[n * k..n * k + taps].iter().enumerate() {
            let trow = &temp[(base + t) * stride..(base + t + 1) * stride];
            for (s, &v) in sums.iter_mut().zip(trow) {
                *s += v as i32 * kw;
            }
        }
        for (o, &s) in orow.iter_mut().zip(&sums) {
            *o = clip8(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_crop_of_the_whole_resize() {
        let (sw, sh) = (37, 23);
        let src: Vec<u8> = (0..sw * sh * 3).map(|i| (i * 37 % 251) as u8).collect();
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            for (dw, dh) in [(19, 11), (50, 40), (37, 9), (12, 23)] {
                let whole = resize(&src, (sw, sh), (dw, dh), (0, 0, dw, dh), filter);
                let part = resize(&src, (sw, sh), (dw, dh), (3, 2, dw - 5, dh - 4), filter);
                for yy in 0..(dh - 4) as usize {
                    let a = &whole[((yy + 2) * dw as usize + 3) * 3..][..(dw as usize - 5) * 3];
                    let b = &part[yy * (dw as usize - 5) * 3..][..(dw as usize - 5) * 3];
                    assert_eq!(a, b, "{filter:?} {dw}x{dh} row {yy}");
                }
            }
        }
    }

    #[test]
    fn flat_pictures_stay_flat_and_same_size_is_a_copy() {
        let src = vec![200u8; 30 * 20 * 3];
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            assert!(
                resize(&src, (30, 20), (13, 47), (0, 0, 13, 47), filter)
                    .iter()
                    .all(|&v| v == 200)
            );
        }
        let src: Vec<u8> = (0..30 * 20 * 3).map(|i| i as u8).collect();
        assert_eq!(
            resize(&src, (30, 20), (30, 20), (0, 0, 30, 20), Filter::Bicubic),
            src
        );
    }
}
