//! Resizing and JPEG encoding of kept frames: the two most expensive steps per frame after decoding,
//! hence libjpeg-turbo and SIMD resizers, each reused across frames by one worker so no per-frame
//! set-up is paid. Most video decodes to 4:2:0 YCbCr, which is what a JPEG holds too, so such frames
//! are resized and encoded as planes: no colour conversion either way, half the samples of RGB.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use ffmpeg_next as ffmpeg;
use ffmpeg_next::software::scaling;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::extract::decode::{DecodedFrame, Yuv420};

/// How `--size WxH` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Largest size inside WxH that keeps the aspect ratio.
    #[default]
    Fit,
    /// Exactly WxH, aspect ratio ignored (the original tool's behaviour).
    Stretch,
    /// Fit, then centred on a black WxH canvas (letterbox).
    Pad,
}

/// Target size and mode; `None` size keeps the source size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub size: Option<(u32, u32)>,
    pub resize: ResizeMode,
    pub jpeg_quality: u8,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            size: None,
            resize: ResizeMode::Fit,
            jpeg_quality: 95,
        }
    }
}

/// Where the resized picture sits on the output canvas: its size and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub canvas: (u32, u32),
    pub scaled: (u32, u32),
    pub offset: (u32, u32),
}

/// Computes the placement of a `src` picture for an output setting.
pub fn placement(src: (u32, u32), out: &Output) -> Placement {
    let Some((tw, th)) = out.size else {
        return Placement {
            canvas: src,
            scaled: src,
            offset: (0, 0),
        };
    };
    let fit = || {
        let scale = (tw as f64 / src.0 as f64).min(th as f64 / src.1 as f64);
        let w = ((src.0 as f64 * scale).round() as u32).clamp(1, tw);
        let h = ((src.1 as f64 * scale).round() as u32).clamp(1, th);
        (w, h)
    };
    match out.resize {
        ResizeMode::Stretch => Placement {
            canvas: (tw, th),
            scaled: (tw, th),
            offset: (0, 0),
        },
        ResizeMode::Fit => {
            let s = fit();
            Placement {
                canvas: s,
                scaled: s,
                offset: (0, 0),
            }
        }
        ResizeMode::Pad => {
            let s = fit();
            Placement {
                canvas: (tw, th),
                scaled: s,
                offset: ((tw - s.0) / 2, (th - s.1) / 2),
            }
        }
    }
}

/// Per-worker state for resizing and encoding. Its buffers are reused from frame to frame: fresh
/// multi-megabyte allocations per frame cost page faults comparable to the encoding itself.
pub struct Encoder {
    out: Output,
    resizer: Resizer,
    jpeg: turbojpeg::Compressor,
    resized: Vec<u8>,
    canvas: Vec<u8>,
    encoded: Vec<u8>,
    /// Resizes 4:2:0 planes (FFmpeg's scaler: ~2× faster on planes than any RGB resize here).
    scaler: Option<scaling::Context>,
    scaled: ffmpeg::frame::Video,
    /// Packed full-range Y, Cb, Cr planes, as libjpeg-turbo takes them.
    planes: Vec<u8>,
}

impl Encoder {
    pub fn new(out: Output) -> Result<Self> {
        let err = |e: turbojpeg::Error| Error::Image {
            context: "JPEG encoder".into(),
            message: e.to_string(),
        };
        let mut jpeg = turbojpeg::Compressor::new().map_err(err)?;
        jpeg.set_quality(out.jpeg_quality as i32).map_err(err)?;
        jpeg.set_subsamp(turbojpeg::Subsamp::Sub2x2).map_err(err)?;
        Ok(Encoder {
            out,
            resizer: Resizer::new(),
            jpeg,
            resized: Vec::new(),
            canvas: Vec::new(),
            encoded: Vec::new(),
            scaler: None,
            scaled: ffmpeg::frame::Video::empty(),
            planes: Vec::new(),
        })
    }

    /// Resizes a decoded frame as configured and returns the JPEG bytes (valid until the next call)
    /// and the picture's size. Works on the decoder's 4:2:0 planes when the frame has them and no
    /// padding is asked for; on the RGB picture otherwise.
    pub fn encode_frame(&mut self, frame: &DecodedFrame) -> Result<(&[u8], (u32, u32))> {
        let p = placement((frame.width, frame.height), &self.out);
        match &frame.yuv {
            Some(yuv) if p.canvas == p.scaled => {
                let len = self.encode_yuv(yuv, p.canvas)?;
                Ok((&self.encoded[..len], p.canvas))
            }
            _ => self.encode(&frame.rgb, frame.width, frame.height),
        }
    }

    /// Scales the planes to `size` (bilinear, as the RGB path), expands video range to JPEG's full
    /// range (the same BT.601 matrix the RGB conversion uses, so colours match) and compresses
    /// them without a colour conversion. Leaves the JPEG in `self.encoded` and returns its length.
    fn encode_yuv(&mut self, yuv: &Yuv420, size: (u32, u32)) -> Result<usize> {
        let src = yuv.frame();
        let frame = if (src.width(), src.height()) == size {
            src
        } else {
            let stale = self.scaler.as_ref().is_none_or(|s| {
                let (i, o) = (s.input(), s.output());
                (i.width, i.height, i.format, o.width, o.height)
                    != (src.width(), src.height(), src.format(), size.0, size.1)
            });
            if stale {
                let ctx = scaling::Context::get(
                    src.format(),
                    src.width(),
                    src.height(),
                    src.format(),
                    size.0,
                    size.1,
                    scaling::Flags::BILINEAR,
                )
                .map_err(resize_error)?;
                self.scaler = Some(ctx);
                self.scaled = ffmpeg::frame::Video::empty();
            }
            let scaler = self.scaler.as_mut().expect("scaler set just above");
            scaler.run(src, &mut self.scaled).map_err(resize_error)?;
            &self.scaled
        };
        let (w, h) = (size.0 as usize, size.1 as usize);
        // TurboJPEG's 4:2:0 luma plane covers whole chroma samples: odd sizes are padded by one.
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (lw, lh) = (cw * 2, ch * 2);
        self.planes.resize(lw * lh + 2 * cw * ch, 0);
        let (y, chroma) = self.planes.split_at_mut(lw * lh);
        let (u, v) = chroma.split_at_mut(cw * ch);
        let expand = !yuv.full_range();
        let luma = (frame.data(0), frame.stride(0));
        pack_plane(luma, (w, h), y, (lw, lh), expand, Range::Luma);
        let (cb, cr) = (
            (frame.data(1), frame.stride(1)),
            (frame.data(2), frame.stride(2)),
        );
        pack_plane(cb, (cw, ch), u, (cw, ch), expand, Range::Chroma);
        pack_plane(cr, (cw, ch), v, (cw, ch), expand, Range::Chroma);
        let image = turbojpeg::YuvImage {
            pixels: &self.planes[..],
            width: w,
            align: 1,
            height: h,
            subsamp: turbojpeg::Subsamp::Sub2x2,
        };
        compress(&mut self.jpeg, &mut self.encoded, size, |jpeg, out| {
            jpeg.compress_yuv(image, out)
        })
    }

    /// Resizes packed RGB (`width`×`height`) as configured and returns the JPEG bytes (valid until
    /// the next call) and the picture's size.
    pub fn encode(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<(&[u8], (u32, u32))> {
        let (pixels, p) = render(
            &mut self.resizer,
            rgb,
            (width, height),
            &self.out,
            &mut self.resized,
            &mut self.canvas,
        )?;
        let (cw, ch) = p.canvas;
        let image = turbojpeg::Image {
            pixels,
            width: cw as usize,
            pitch: cw as usize * 3,
            height: ch as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        let len = compress(&mut self.jpeg, &mut self.encoded, p.canvas, |jpeg, out| {
            jpeg.compress(image, out)
        })?;
        Ok((&self.encoded[..len], p.canvas))
    }
}

/// Runs one TurboJPEG compression into `encoded`, grown first to the worst case for a `size`
/// picture (so TurboJPEG never reallocates), and returns the JPEG's length.
fn compress(
    jpeg: &mut turbojpeg::Compressor,
    encoded: &mut Vec<u8>,
    size: (u32, u32),
    run: impl FnOnce(
        &mut turbojpeg::Compressor,
        &mut turbojpeg::OutputBuf,
    ) -> std::result::Result<(), turbojpeg::Error>,
) -> Result<usize> {
    let err = |e: turbojpeg::Error| Error::Image {
        context: "JPEG encoder".into(),
        message: e.to_string(),
    };
    let bound = jpeg
        .buf_len(size.0 as usize, size.1 as usize)
        .map_err(err)?;
    if encoded.len() < bound {
        encoded.resize(bound, 0);
    }
    let mut output = turbojpeg::OutputBuf::borrowed(encoded);
    run(jpeg, &mut output).map_err(err)?;
    Ok(output.len())
}

fn resize_error(e: impl ToString) -> Error {
    Error::Image {
        context: "resize".into(),
        message: e.to_string(),
    }
}

/// Bilinear interpolation (what OpenCV's default `INTER_LINEAR` does) while the picture shrinks by
/// less than half on both axes; beyond that, a bilinear convolution, which averages every source pixel
/// instead of skipping some, so fine detail does not turn into aliasing.
fn resize_alg(src: (u32, u32), dst: (u32, u32)) -> ResizeAlg {
    if dst.0 * 2 >= src.0 && dst.1 * 2 >= src.1 {
        ResizeAlg::Interpolation(FilterType::Bilinear)
    } else {
        ResizeAlg::Convolution(FilterType::Bilinear)
    }
}

#[derive(Clone, Copy)]
enum Range {
    /// Video luma: 16–235.
    Luma,
    /// Video chroma: 16–240 around 128.
    Chroma,
}

/// Copies a plane of `size` out of `src` (its rows `stride` apart) into `dst`, packed at `padded`
/// size (edge samples repeated into the padding), expanding video range to full range when
/// `expand`: y' = (y − 16)·255/219 and c' = (c − 128)·255/224 + 128, rounded and clamped.
fn pack_plane(
    (src, stride): (&[u8], usize),
    (w, h): (usize, usize),
    dst: &mut [u8],
    (pw, ph): (usize, usize),
    expand: bool,
    r: Range,
) {
    for row in 0..ph {
        let from = row.min(h - 1) * stride;
        let (line, out) = (&src[from..from + w], &mut dst[row * pw..(row + 1) * pw]);
        let (body, pad) = out.split_at_mut(w);
        if expand {
            expand_range(line, body, r);
        } else {
            body.copy_from_slice(line);
        }
        let edge = body[w - 1];
        pad.fill(edge);
    }
}

fn expand_range(src: &[u8], dst: &mut [u8], r: Range) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { expand_avx2(src, dst, r) };
    }
    expand_row(src, dst, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn expand_avx2(src: &[u8], dst: &mut [u8], r: Range) {
    expand_row(src, dst, r)
}

#[inline(always)]
fn expand_row(src: &[u8], dst: &mut [u8], r: Range) {
    // 255/219 and 255/224 in 16.16 fixed point.
    let (offset, scale, base) = match r {
        Range::Luma => (16i32, 76_309i32, 0i32),
        Range::Chroma => (128, 74_606, 128 << 16),
    };
    for (d, &s) in dst.iter_mut().zip(src) {
        let v = ((s as i32 - offset) * scale + base + (1 << 15)) >> 16;
        *d = v.clamp(0, 255) as u8;
    }
}

/// The picture as it is written for `out`, in packed RGB: `rgb` itself when no resize is asked
/// for, else resized into `resized` (and, with padding, drawn on `canvas`). Returns the pixels and
/// their placement.
pub fn render<'a>(
    resizer: &mut Resizer,
    rgb: &'a [u8],
    size: (u32, u32),
    out: &Output,
    resized: &'a mut Vec<u8>,
    canvas: &'a mut Vec<u8>,
) -> Result<(&'a [u8], Placement)> {
    let (width, height) = size;
    let p = placement(size, out);
    if p.scaled == size && p.canvas == p.scaled {
        return Ok((rgb, p));
    }
    let src = ImageRef::new(width, height, rgb, PixelType::U8x3).map_err(resize_error)?;
    resized.resize(p.scaled.0 as usize * p.scaled.1 as usize * 3, 0);
    let mut dst = Image::from_slice_u8(p.scaled.0, p.scaled.1, resized, PixelType::U8x3)
        .map_err(resize_error)?;
    let opts = ResizeOptions::new().resize_alg(resize_alg(size, p.scaled));
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(resize_error)?;
    if p.canvas == p.scaled {
        Ok((resized, p))
    } else {
        pad(resized, &p, canvas);
        Ok((canvas, p))
    }
}

fn pad(scaled: &[u8], p: &Placement, canvas: &mut Vec<u8>) {
    let (cw, ch) = (p.canvas.0 as usize, p.canvas.1 as usize);
    let (sw, sh) = (p.scaled.0 as usize, p.scaled.1 as usize);
    let (ox, oy) = (p.offset.0 as usize, p.offset.1 as usize);
    canvas.clear();
    canvas.resize(cw * ch * 3, 0);
    for y in 0..sh {
        let dst = ((oy + y) * cw + ox) * 3;
        canvas[dst..dst + sw * 3].copy_from_slice(&scaled[y * sw * 3..(y + 1) * sw * 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(size: (u32, u32), resize: ResizeMode) -> Output {
        Output {
            size: Some(size),
            resize,
            jpeg_quality: 90,
        }
    }

    #[test]
    fn placements() {
        let src = (768, 576);
        assert_eq!(placement(src, &Output::default()).canvas, src);
        assert_eq!(
            placement(src, &out((960, 544), ResizeMode::Stretch)).canvas,
            (960, 544)
        );
        // 544/576 < 960/768, so height binds: 768·544/576 = 725.33 → 725.
        assert_eq!(
            placement(src, &out((960, 544), ResizeMode::Fit)).canvas,
            (725, 544)
        );
        let p = placement(src, &out((960, 544), ResizeMode::Pad));
        assert_eq!(
            (p.canvas, p.scaled, p.offset),
            ((960, 544), (725, 544), (117, 0))
        );
        // Fit may enlarge.
        assert_eq!(
            placement((320, 240), &out((640, 640), ResizeMode::Fit)).canvas,
            (640, 480)
        );
    }

    #[test]
    fn encodes_jpeg_of_the_right_size_with_padding() {
        let (w, h) = (64u32, 32u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % 256) as u8, 128, 200])
            .collect();
        let mut enc = Encoder::new(out((50, 50), ResizeMode::Pad)).unwrap();
        let (jpeg, size) = enc.encode(&rgb, w, h).unwrap();
        assert_eq!(size, (50, 50));
        let header = turbojpeg::read_header(jpeg).unwrap();
        assert_eq!((header.width, header.height), (50, 50));
        // Top rows are the black padding band: (50 - 25) / 2 = 12 rows.
        let img: turbojpeg::Image<Vec<u8>> =
            turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::RGB).unwrap();
        assert!(img.pixels[..50 * 3 * 8].iter().all(|&v| v < 12));
        let mid = (25 * 50 + 25) * 3;
        assert!(img.pixels[mid + 2] > 150);
    }
}
