//! Video decoding through FFmpeg's libraries: every container and codec FFmpeg reads, each decoded
//! frame exactly once and in presentation order (no frame-rate conversion, so a file that indexes
//! 444 frames but holds 68 pictures gives 68).
//!
//! Damage is expected in hours of field footage, so nothing here is fatal once the file is open:
//! packets that fail to read or decode and frames the decoder flags as corrupt are skipped and
//! counted, and a file that ends before its index says it should is reported as truncated.

use std::path::Path;
use std::sync::Once;

use ffmpeg::codec::threading;
use ffmpeg::format::Pixel;
use ffmpeg::media::Type;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::extract::sample::Decision;

/// Consecutive read errors after which the rest of a file is given up as unreadable.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 64;

/// Packets checked for timestamps before the decoder is told to skip frames: several key-frame
/// intervals of usual footage.
const PROBED_PACKETS: usize = 600;

/// Whether the demuxer marked `packet` as one the decoder decodes but does not output (the part
/// of an edit list before its start).
fn discarded(packet: &ffmpeg::Packet) -> bool {
    packet.flags().bits() & ffmpeg::ffi::AV_PKT_FLAG_DISCARD != 0
}

/// What the container says about the video stream.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct VideoInfo {
    pub container: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Average frame rate, when the container gives one.
    pub fps: Option<f64>,
    /// Stream duration in seconds, when known.
    pub duration: Option<f64>,
    /// Number of frames the container's index lists, when it has one.
    pub frames_indexed: Option<u64>,
    /// The rotation of the stream's display matrix when it is a quarter turn: 90, 180 or 270
    /// degrees counterclockwise, as `ffprobe` reports it. Phones record portrait video this way.
    /// Frames are turned upright, as the `ffmpeg` program and OpenCV show them; `width` and
    /// `height` are the coded size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<u32>,
}

/// One decoded, sampled frame as packed RGB24.
pub struct DecodedFrame {
    pub index: u64,
    pub pts: f64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// The decoder's own 8-bit 4:2:0 picture, when it is one: a JPEG is 4:2:0 YCbCr too, so
    /// resizing and encoding from it skips two colour conversions and a third of the samples.
    pub yuv: Option<Yuv420>,
}

/// A reference to a decoded 8-bit 4:2:0 picture (no copy: it shares the decoder's buffers, which
/// go back to the decoder when this is dropped).
pub struct Yuv420 {
    frame: ffmpeg::frame::Video,
}

impl Yuv420 {
    /// Takes a new reference to `frame` when it is 8-bit planar 4:2:0.
    fn of(frame: &ffmpeg::frame::Video) -> Option<Self> {
        if !matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
            return None;
        }
        let mut copy = ffmpeg::frame::Video::empty();
        // SAFETY: both pointers are valid frames; `copy` is empty, as av_frame_ref requires.
        let ok = unsafe { ffmpeg::ffi::av_frame_ref(copy.as_mut_ptr(), frame.as_ptr()) } == 0;
        ok.then_some(Yuv420 { frame: copy })
    }

    pub fn frame(&self) -> &ffmpeg::frame::Video {
        &self.frame
    }

    /// Whether samples use the full 0–255 range (JPEG's) rather than video's 16–235/240. Decided
    /// by the pixel format, as the RGB conversion decides it, so both give the same colours.
    pub fn full_range(&self) -> bool {
        self.frame.format() == Pixel::YUVJ420P
    }
}

/// Counts of what happened while decoding one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecodeStats {
    /// Frames the decoder output (including corrupt ones, which are not sampled).
    pub decoded: u64,
    /// Video packets read from the container.
    pub packets: u64,
    /// Packets or frames the decoder rejected.
    pub decode_errors: u64,
    /// Frames the decoder output but flagged as corrupt; skipped.
    pub corrupt_frames: u64,
    /// Failed reads from the container.
    pub read_errors: u64,
    /// The file ended before the frames its index lists.
    pub truncated: bool,
    /// Decoding stopped early because sampling needed no more frames.
    #[serde(skip)]
    pub stopped_early: bool,
    /// The key frames met, in order: where decoding can start again without going through the
    /// frames before them ([`VideoSource::seek`]).
    #[serde(skip)]
    pub keyframes: Vec<Keyframe>,
    /// After [`VideoSource::seek`], decoding did not come back to the key frame asked for (the
    /// container's seek landed past it, or its frames carry no timestamps): nothing was taken.
    #[serde(skip)]
    pub misaligned: bool,
}

/// A key frame as decoding met it: its index among the decoded frames and its timestamp, in the
/// stream's time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyframe {
    pub index: u64,
    pub ts: i64,
}

impl DecodeStats {
    /// Human-readable warnings about damage, for the user and `run.json`.
    pub fn warnings(&self, info: &VideoInfo) -> Vec<String> {
        let mut w = Vec::new();
        if self.truncated {
            w.push(format!(
                "file is truncated: read {} of the {} frames its index lists; decoded what is there",
                self.packets,
                info.frames_indexed.unwrap_or(0)
            ));
        }
        let broken = self.decode_errors + self.corrupt_frames + self.read_errors;
        if broken > 0 {
            w.push(format!(
                "skipped damaged data: {} decode errors, {} corrupt frames, {} read errors",
                self.decode_errors, self.corrupt_frames, self.read_errors
            ));
        }
        w
    }
}

/// Recycles frame buffers between the decoding thread and the workers, so a long video does not
/// allocate (and page-fault) a fresh megabyte-sized buffer for every frame.
#[derive(Clone)]
pub struct BufferPool {
    tx: crossbeam_channel::Sender<Vec<u8>>,
    rx: crossbeam_channel::Receiver<Vec<u8>>,
}

impl BufferPool {
    /// A pool that keeps at most `capacity` idle buffers.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        BufferPool { tx, rx }
    }

    /// An empty buffer, with the capacity of a returned one when there is one.
    pub fn take(&self) -> Vec<u8> {
        let mut v = self.rx.try_recv().unwrap_or_default();
        v.clear();
        v
    }

    /// Hands a buffer back; dropped when the pool is full.
    pub fn give(&self, v: Vec<u8>) {
        let _ = self.tx.try_send(v);
    }
}

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        // Damage is counted and reported by us, once, per file; FFmpeg's own per-packet complaints
        // would bury that line. FRAMELABEL_FFMPEG_LOG=1 shows them when debugging a file.
        let level = if std::env::var_os("FRAMELABEL_FFMPEG_LOG").is_some() {
            ffmpeg::util::log::Level::Warning
        } else {
            ffmpeg::util::log::Level::Quiet
        };
        ffmpeg::util::log::set_level(level);
    });
}

/// An open video file, ready to decode.
pub struct VideoSource {
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream: usize,
    time_base: f64,
    start: i64,
    info: VideoInfo,
    /// Where [`VideoSource::seek`] put decoding: its frames are numbered from this key frame on.
    from: Option<Keyframe>,
    path: std::path::PathBuf,
    /// Only key frames are taken ([`VideoSource::keyframes_only`]).
    keyframes: Option<KeyframeMode>,
}

/// How key frames alone are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframeMode {
    /// The decoder skips every other frame (`skip_frame`); frames are numbered from the packets'
    /// timestamps, as a full decoding numbers them.
    Skip,
    /// Every frame is decoded and only key frames are taken: the file's packets do not all carry
    /// timestamps, so the frames the decoder skipped could not be counted.
    Full,
}

impl VideoSource {
    /// Opens `path` and its best video stream. Errors say what is wrong with the file, in words.
    pub fn open(path: &Path) -> Result<Self> {
        init();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::input(path, "no such file or folder; check the path")
            }
            _ => Error::input(path, format!("cannot read ({e})")),
        })?;
        if meta.len() == 0 {
            return Err(Error::input(
                path,
                "the file is empty (0 bytes); nothing to decode",
            ));
        }
        let input = ffmpeg::format::input(path).map_err(|e| {
            let cause = match e {
                ffmpeg::Error::InvalidData => "not a video FFmpeg can read (invalid data: wrong format, or the file is damaged or truncated before its index)".to_string(),
                other => format!("cannot open as a video ({other})"),
            };
            Error::input(path, cause)
        })?;
        let stream = input.streams().best(Type::Video).ok_or_else(|| {
            Error::input(
                path,
                "holds no video stream (audio only, or not a video); nothing to decode",
            )
        })?;
        let index = stream.index();
        let tb = stream.time_base();
        let time_base = if tb.denominator() != 0 {
            tb.numerator() as f64 / tb.denominator() as f64
        } else {
            0.0
        };
        let start = if stream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE {
            0
        } else {
            stream.start_time()
        };
        let rate = stream.avg_frame_rate();
        let fps = (rate.denominator() != 0 && rate.numerator() > 0)
            .then(|| rate.numerator() as f64 / rate.denominator() as f64);
        let duration = if stream.duration() > 0 && time_base > 0.0 {
            Some(stream.duration() as f64 * time_base)
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / ffmpeg::ffi::AV_TIME_BASE as f64)
        } else {
            None
        };
        let frames_indexed = (stream.frames() > 0).then_some(stream.frames() as u64);
        let rotation = stream
            .side_data()
            .find(|d| d.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
            .and_then(|d| quarter_turn(d.data()))
            .map(|clockwise| 360 - clockwise);

        let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| {
                Error::input(
                    path,
                    format!("cannot read the video stream's parameters ({e})"),
                )
            })?;
        ctx.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        // Decoders conceal damage and hand out smeared pictures. A dataset wants those frames out:
        // the decoder checks the bitstream and flags each frame it had to conceal
        // (`decode_error_flags`), which is then skipped and counted. Not AV_EF_EXPLODE, which fails
        // the packet instead: FFmpeg 5.1's MPEG-4 Part 2 decoder then hands back a frame without
        // data and libavcodec aborts the process (`Assertion frame->buf[0] failed`), and decoders
        // told to explode recover from damage less well than FFmpeg's own program, which does not.
        let strict =
            ffmpeg::ffi::AV_EF_CRCCHECK | ffmpeg::ffi::AV_EF_BITSTREAM | ffmpeg::ffi::AV_EF_BUFFER;
        // SAFETY: the context is valid and not yet opened; err_recognition is a plain int field.
        unsafe { (*ctx.as_mut_ptr()).err_recognition = strict };
        let codec_name = ctx.id().name().to_string();
        let decoder = ctx.decoder().video().map_err(|e| {
            Error::input(
                path,
                format!("no decoder for its video codec '{codec_name}' in this FFmpeg build ({e})"),
            )
        })?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(Error::input(
                path,
                "the video stream has no picture size; the file is damaged",
            ));
        }
        let info = VideoInfo {
            container: input.format().name().to_string(),
            codec: codec_name,
            width: decoder.width(),
            height: decoder.height(),
            fps,
            duration,
            frames_indexed,
            rotation,
        };
        Ok(VideoSource {
            input,
            decoder,
            stream: index,
            time_base,
            start,
            info,
            from: None,
            path: path.to_path_buf(),
            keyframes: None,
        })
    }

    /// Takes key frames alone. When every packet of the file's first stretch carries its
    /// timestamps, the decoder is told to skip the others, which are then never decoded; else
    /// every frame is decoded and key frames are picked from them. Returns how.
    pub fn keyframes_only(&mut self) -> KeyframeMode {
        let mode = if self.packets_stamped(PROBED_PACKETS) {
            // SAFETY: the codec context is open and owned by the decoder; skip_frame is a plain
            // field the decoder reads for every packet.
            unsafe {
                (*self.decoder.as_mut_ptr()).skip_frame = ffmpeg::ffi::AVDiscard::AVDISCARD_NONKEY;
            }
            KeyframeMode::Skip
        } else {
            KeyframeMode::Full
        };
        self.keyframes = Some(mode);
        mode
    }

    /// Whether the first `n` video packets all carry a presentation and a decoding timestamp
    /// (read from a second opening of the file, so decoding still starts at the beginning).
    fn packets_stamped(&self, n: usize) -> bool {
        let Ok(mut input) = ffmpeg::format::input(&self.path) else {
            return false;
        };
        let mut seen = 0;
        for (stream, packet) in input.packets() {
            if stream.index() != self.stream {
                continue;
            }
            if packet.pts().is_none() || packet.dts().is_none() {
                return false;
            }
            seen += 1;
            if seen >= n {
                break;
            }
        }
        seen > 0
    }

    /// The last key frame at or before `t` seconds, with the index a decoding from the start
    /// gives it, found by reading the packets up to `t` without decoding them: a frame's index is
    /// the number of packets stamped before it. `None` when there is no such key frame past the
    /// first, or a packet carries no timestamps (the index cannot be known): decode from the start.
    /// `strictly`: a key frame before `t`, not at it, so that a frame before `t` is decoded too (a
    /// slice's sampler needs one to know which slots the frames before it filled).
    pub fn keyframe_before(&self, t: f64, strictly: bool) -> Option<Keyframe> {
        if !(self.time_base > 0.0 && t > 0.0) {
            return None;
        }
        let ticks = t / self.time_base;
        let target = self.start
            + if strictly {
                ticks.ceil() as i64 - 1
            } else {
                ticks.floor() as i64
            };
        let mut input = ffmpeg::format::input(&self.path).ok()?;
        let mut stamps = Vec::new();
        let mut key: Option<i64> = None;
        let mut failures = 0;
        loop {
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(_) => {
                    failures += 1;
                    if failures >= MAX_CONSECUTIVE_READ_ERRORS {
                        return None;
                    }
                    continue;
                }
            }
            failures = 0;
            if packet.stream() != self.stream {
                continue;
            }
            let (pts, dts) = (packet.pts()?, packet.dts()?);
            if !discarded(&packet) {
                stamps.push(pts);
            }
            if packet.is_key() && pts <= target && key.is_none_or(|k| pts > k) {
                key = Some(pts);
            }
            // No later packet shows before this one's decoding time.
            if dts >= target {
                break;
            }
        }
        let ts = key?;
        let index = stamps.iter().filter(|&&p| p < ts).count() as u64;
        (index > 0).then_some(Keyframe { index, ts })
    }

    /// Makes decoding start at `k`, a key frame an earlier decoding of this file met (its
    /// [`DecodeStats::keyframes`]), rather than at the first frame, so that frames far into a long
    /// video are reached without decoding all before them. The frames are numbered as they were
    /// then. The container may land on an earlier key frame (decoding then goes through to `k`) but
    /// never past it: if it does, [`VideoSource::run`] takes nothing and says so
    /// ([`DecodeStats::misaligned`]). Returns whether the container could seek at all.
    pub fn seek(&mut self, k: Keyframe) -> bool {
        // SAFETY: the format context is open and owned by `self.input`; the stream index is one of
        // its streams.
        let done = unsafe {
            ffmpeg::ffi::av_seek_frame(
                self.input.as_mut_ptr(),
                self.stream as i32,
                k.ts,
                ffmpeg::ffi::AVSEEK_FLAG_BACKWARD,
            )
        } >= 0;
        if done {
            self.decoder.flush();
            self.from = Some(k);
        }
        done
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Decodes the whole stream. For each good frame `decide(index, pts)` says whether to take it;
    /// taken frames are converted to RGB and passed to `emit`, which returns `false` to stop early.
    pub fn run(
        mut self,
        pool: &BufferPool,
        decide: impl FnMut(u64, f64) -> Decision,
        emit: impl FnMut(DecodedFrame) -> bool,
    ) -> DecodeStats {
        let counting = self.keyframes == Some(KeyframeMode::Skip);
        let mut run = Run {
            stats: DecodeStats::default(),
            state: FrameState {
                turn: self.info.rotation.map(|ccw| 360 - ccw),
                scaler: None,
                decoded: ffmpeg::frame::Video::empty(),
                rgb: ffmpeg::frame::Video::empty(),
            },
            next: 0,
            align: self.from,
            count: counting.then(|| PacketCount::new(self.from)),
            waiting: std::collections::VecDeque::new(),
            keyframes_only: self.keyframes.is_some(),
            stop: false,
            time_base: self.time_base,
            start: self.start,
            fps: self.info.fps,
            pool,
            decide,
            emit,
        };
        let mut consecutive_read_errors = 0;
        while !run.stop {
            // A packet of its own each time: `av_read_frame` overwrites the packet it is given
            // without releasing its data, so reusing one kept every packet of the file in memory
            // (the whole compressed video by its end). Dropping it releases the data.
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => consecutive_read_errors = 0,
                Err(ffmpeg::Error::Eof) => break,
                Err(_) => {
                    run.stats.read_errors += 1;
                    consecutive_read_errors += 1;
                    if consecutive_read_errors >= MAX_CONSECUTIVE_READ_ERRORS {
                        run.stats.truncated = true;
                        break;
                    }
                    continue;
                }
            }
            if packet.stream() != self.stream {
                continue;
            }
            run.stats.packets += 1;
            if let Some(count) = &mut run.count {
                count.saw(&packet);
            }
            if self.decoder.send_packet(&packet).is_err() {
                run.stats.decode_errors += 1;
            }
            run.drain(&mut self.decoder);
            run.resolve();
        }
        if !run.stop {
            let _ = self.decoder.send_eof();
            run.drain(&mut self.decoder);
        }
        if let Some(count) = &mut run.count {
            count.finished = true;
        }
        run.resolve();
        let mut stats = run.stats;
        // After a seek, the packets before its key frame were not read.
        let skipped = self.from.map_or(0, |k| k.index);
        if !stats.stopped_early
            && self
                .info
                .frames_indexed
                .is_some_and(|n| stats.packets + skipped < n)
        {
            stats.truncated = true;
        }
        stats
    }
}

/// Frame indices from packet timestamps, for a decoder that does not output every frame: the
/// frame stamped `ts` is preceded by the frames of every packet stamped before it. Frames come out
/// in presentation order, so the packets before each are counted once, from a heap.
struct PacketCount {
    /// Frames before `floor` (where a seek put decoding) are counted in `base`.
    floor: i64,
    base: u64,
    /// Timestamps read, not yet counted.
    ahead: std::collections::BinaryHeap<std::cmp::Reverse<i64>>,
    counted: u64,
    /// The latest decoding timestamp read: no later packet shows before it.
    read_to: i64,
    /// The file's packets are all read.
    finished: bool,
}

impl PacketCount {
    fn new(from: Option<Keyframe>) -> Self {
        PacketCount {
            floor: from.map_or(i64::MIN, |k| k.ts),
            base: from.map_or(0, |k| k.index),
            ahead: Default::default(),
            counted: 0,
            read_to: i64::MIN,
            finished: false,
        }
    }

    fn saw(&mut self, packet: &ffmpeg::Packet) {
        let pts = packet.pts();
        if let Some(p) = pts
            && p >= self.floor
            && !discarded(packet)
        {
            self.ahead.push(std::cmp::Reverse(p));
        }
        // A packet without a decoding time shows no earlier than its presentation time.
        if let Some(d) = packet.dts().or(pts) {
            self.read_to = self.read_to.max(d);
        }
    }

    /// The index of the frame stamped `ts`, once every packet that shows before it has been read.
    fn index(&mut self, ts: i64) -> Option<u64> {
        if !self.finished && self.read_to < ts {
            return None;
        }
        while let Some(&std::cmp::Reverse(p)) = self.ahead.peek() {
            if p >= ts {
                break;
            }
            self.ahead.pop();
            self.counted += 1;
        }
        Some(self.base + self.counted)
    }
}

/// One decoding in progress: what [`VideoSource::run`] keeps between packets.
struct Run<'p, D, E> {
    stats: DecodeStats,
    state: FrameState,
    /// The index of the next frame out of the decoder, when every frame is decoded.
    next: u64,
    /// After a seek: the key frame to come back to, before which frames are not counted.
    align: Option<Keyframe>,
    /// With the decoder skipping frames: their indices from the packets.
    count: Option<PacketCount>,
    /// Frames out of the decoder whose index waits for packets not read yet.
    waiting: std::collections::VecDeque<ffmpeg::frame::Video>,
    keyframes_only: bool,
    stop: bool,
    time_base: f64,
    start: i64,
    fps: Option<f64>,
    pool: &'p BufferPool,
    decide: D,
    emit: E,
}

impl<D, E> Run<'_, D, E>
where
    D: FnMut(u64, f64) -> Decision,
    E: FnMut(DecodedFrame) -> bool,
{
    /// Takes every frame the decoder has ready.
    fn drain(&mut self, decoder: &mut ffmpeg::decoder::Video) {
        while !self.stop {
            match decoder.receive_frame(&mut self.state.decoded) {
                Ok(()) => {}
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    break;
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(_) => {
                    self.stats.decode_errors += 1;
                    break;
                }
            }
            if let Some(k) = self.align {
                match self.state.decoded.timestamp() {
                    Some(ts) if ts < k.ts => continue,
                    Some(ts) if ts == k.ts => {
                        self.next = k.index;
                        self.align = None;
                    }
                    _ => {
                        self.stats.misaligned = true;
                        self.stop = true;
                        break;
                    }
                }
            }
            self.stats.decoded += 1;
            if self.count.is_some() {
                // Kept (a new reference, not a copy) until its index is known.
                let mut frame = ffmpeg::frame::Video::empty();
                std::mem::swap(&mut frame, &mut self.state.decoded);
                self.waiting.push_back(frame);
                self.resolve();
            } else {
                let index = self.next;
                self.next += 1;
                self.take(index);
            }
        }
    }

    /// Takes the waiting frames whose index is known now.
    fn resolve(&mut self) {
        while !self.stop {
            let Some(count) = &mut self.count else {
                return;
            };
            let Some(front) = self.waiting.front() else {
                return;
            };
            let index = match front.timestamp() {
                Some(ts) => match count.index(ts) {
                    Some(i) => i,
                    None => return,
                },
                // Cannot be placed: numbered after the frames counted so far.
                None => count.base + count.counted,
            };
            self.state.decoded = self.waiting.pop_front().expect("a waiting frame");
            self.take(index);
        }
    }

    /// Samples the frame in `state.decoded`, numbered `index`, and hands it on if taken.
    fn take(&mut self, index: u64) {
        let frame = &self.state.decoded;
        if frame.is_key()
            && let Some(ts) = frame.timestamp()
        {
            self.stats.keyframes.push(Keyframe { index, ts });
        }
        if frame.is_corrupt() || frame.has_decode_errors() {
            self.stats.corrupt_frames += 1;
            return;
        }
        if self.keyframes_only && !frame.is_key() {
            return;
        }
        let pts = match frame.timestamp() {
            Some(ts) if self.time_base > 0.0 => (ts - self.start) as f64 * self.time_base,
            _ => self.fps.map(|f| index as f64 / f).unwrap_or(0.0),
        };
        match (self.decide)(index, pts) {
            Decision::Skip => {}
            Decision::Stop => {
                self.stats.stopped_early = true;
                self.stop = true;
            }
            d @ (Decision::Take | Decision::TakeLast) => {
                match self.state.convert_rgb(index, pts, self.pool.take()) {
                    Some(frame) => {
                        if !(self.emit)(frame) {
                            self.stats.stopped_early = true;
                            self.stop = true;
                        }
                    }
                    None => self.stats.decode_errors += 1,
                }
                if d == Decision::TakeLast {
                    self.stats.stopped_early = true;
                    self.stop = true;
                }
            }
        }
    }
}

struct FrameState {
    /// Degrees clockwise that turn a frame upright.
    turn: Option<u32>,
    scaler: Option<scaling::Context>,
    decoded: ffmpeg::frame::Video,
    rgb: ffmpeg::frame::Video,
}

impl FrameState {
    /// Converts the current decoded frame to packed RGB24 (the scaler is rebuilt if the picture size
    /// or format changes mid-stream). `None` if the frame cannot be converted.
    fn convert_rgb(&mut self, index: u64, pts: f64, mut rgb: Vec<u8>) -> Option<DecodedFrame> {
        let (w, h, fmt) = (
            self.decoded.width(),
            self.decoded.height(),
            self.decoded.format(),
        );
        if w == 0 || h == 0 || fmt == Pixel::None {
            return None;
        }
        let stale = self.scaler.as_ref().is_none_or(|s| {
            let i = s.input();
            (i.width, i.height, i.format) != (w, h, fmt)
        });
        if stale {
            // Bicubic is what OpenCV's FFmpeg reader uses; at equal size it only affects chroma.
            self.scaler =
                scaling::Context::get(fmt, w, h, Pixel::RGB24, w, h, scaling::Flags::BICUBIC).ok();
        }
        let (w, h) = (w as usize, h as usize);
        let row = w * 3;
        rgb.clear();
        // Rows of a multiple of 16 pixels: the scaler writes straight into the frame's buffer, which
        // saves copying every picture.
        let size = if self.turn.is_none() && w % 16 == 0 && self.scale_into(&mut rgb, row, h) {
            (w, h)
        } else {
            self.scale_copy(&mut rgb, (w, h))?
        };
        Some(DecodedFrame {
            index,
            pts,
            width: size.0 as u32,
            height: size.1 as u32,
            rgb,
            // The encoder's 4:2:0 shortcut takes the picture as coded.
            yuv: self
                .turn
                .is_none()
                .then(|| Yuv420::of(&self.decoded))
                .flatten(),
        })
    }

    /// Converts the decoded frame (`size`) into the scaler's own frame, then copies it into `rgb`
    /// as packed rows, turned upright; returns the size turned.
    fn scale_copy(&mut self, rgb: &mut Vec<u8>, (w, h): (usize, usize)) -> Option<(usize, usize)> {
        self.scaler
            .as_mut()?
            .run(&self.decoded, &mut self.rgb)
            .ok()?;
        let stride = self.rgb.stride(0);
        let data = self.rgb.data(0);
        let row = w * 3;
        rgb.clear();
        Some(match self.turn {
            None => {
                rgb.reserve(row * h);
                for y in 0..h {
                    rgb.extend_from_slice(&data[y * stride..y * stride + row]);
                }
                (w, h)
            }
            Some(turn) => {
                rgb.resize(row * h, 0);
                turn_upright(data, stride, (w, h), turn, rgb)
            }
        })
    }

    /// Converts the decoded frame into `rgb` as packed rows of `row` bytes, `h` of them. `row`
    /// must be a multiple of 48 (16 pixels): the scaler's vector code writes whole blocks of
    /// pixels, and its rows start 16-byte aligned as it wants. The buffer gets 64 bytes of room
    /// past the picture all the same. False if it could not (the caller then converts the usual
    /// way).
    fn scale_into(&mut self, rgb: &mut Vec<u8>, row: usize, h: usize) -> bool {
        debug_assert!(row % 48 == 0 && rgb.is_empty());
        let Some(scaler) = self.scaler.as_mut() else {
            return false;
        };
        rgb.reserve(row * h + 64);
        let dst = rgb.as_mut_ptr();
        if dst as usize % 16 != 0 {
            return false;
        }
        let dst_data = [
            dst,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ];
        let dst_stride = [row as i32, 0, 0, 0];
        // SAFETY: the source is the decoded frame the scaler was made for (`convert_rgb` rebuilds
        // it when the size or format changes); the destination holds `row * h + 64` writable bytes, rows `row` apart.
        let rows = unsafe {
            let src = self.decoded.as_ptr();
            ffmpeg::ffi::sws_scale(
                scaler.as_mut_ptr(),
                (*src).data.as_ptr() as *const *const u8,
                (*src).linesize.as_ptr(),
                0,
                h as i32,
                dst_data.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows != h as i32 {
            return false;
        }
        // SAFETY: the scaler wrote all `h` rows of `row` bytes.
        unsafe { rgb.set_len(row * h) };
        true
    }
}

/// The clockwise quarter turn a display matrix (nine native-endian 32-bit integers) asks for, read
/// the way the `ffmpeg` program reads it for its automatic rotation; `None` for none, or for an
/// angle that is not a quarter turn.
fn quarter_turn(matrix: &[u8]) -> Option<u32> {
    let m: Vec<i32> = matrix
        .chunks_exact(4)
        .take(9)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let m: [i32; 9] = m.try_into().ok()?;
    // SAFETY: `m` is the nine integers the function reads.
    let ccw = unsafe { ffmpeg::ffi::av_display_rotation_get(m.as_ptr()) };
    if !ccw.is_finite() {
        return None;
    }
    let mut theta = -ccw.round();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    [90, 180, 270]
        .into_iter()
        .find(|&t| (theta - t as f64).abs() < 1.0)
}

/// Writes the packed RGB picture `src` (`size`, rows `stride` bytes apart) turned `turn` degrees
/// clockwise into `dst` (already sized), and returns the turned size.
fn turn_upright(
    src: &[u8],
    stride: usize,
    size: (usize, usize),
    turn: u32,
    dst: &mut [u8],
) -> (usize, usize) {
    let (w, h) = size;
    let (dw, dh) = if turn == 180 { (w, h) } else { (h, w) };
    for y in 0..h {
        let row = &src[y * stride..y * stride + w * 3];
        for (x, px) in row.chunks_exact(3).enumerate() {
            let (dx, dy) = match turn {
                90 => (h - 1 - y, x),
                180 => (w - 1 - x, h - 1 - y),
                _ => (y, w - 1 - x),
            };
            let d = (dy * dw + dx) * 3;
            dst[d..d + 3].copy_from_slice(px);
        }
    }
    (dw, dh)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4:2:0 picture of pseudo-random bytes (every value, edges included).
    fn noise_frame(w: u32, h: u32, seed: u32) -> ffmpeg::frame::Video {
        let mut f = ffmpeg::frame::Video::new(Pixel::YUV420P, w, h);
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        for plane in 0..3 {
            for b in f.data_mut(plane) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = (x >> 11) as u8;
            }
        }
        f
    }

    #[test]
    fn pictures_converted_in_place_are_those_converted_and_copied() {
        ffmpeg::init().expect("ffmpeg");
        for (w, h) in [(16, 2), (48, 17), (320, 240), (768, 576), (1920, 36)] {
            let mut state = FrameState {
                turn: None,
                scaler: None,
                decoded: noise_frame(w, h, w + h),
                rgb: ffmpeg::frame::Video::empty(),
            };
            // The usual call takes the in-place path for these widths.
            let frame = state
                .convert_rgb(7, 0.5, Vec::new())
                .expect("converted in place");
            assert_eq!(state.rgb.width(), 0, "{w}x{h}: not converted in place");
            let mut copied = Vec::new();
            let size = state.scale_copy(&mut copied, (w as usize, h as usize));
            assert_eq!(size, Some((w as usize, h as usize)));
            assert_eq!((frame.width, frame.height), (w, h));
            assert_eq!(frame.rgb.len(), (w * h * 3) as usize);
            assert!(frame.rgb == copied, "{w}x{h}: the pictures differ");
            // A reused buffer, larger than the picture, gets the same picture.
            let again = state
                .convert_rgb(8, 0.6, vec![1; 3 * frame.rgb.len()])
                .expect("converted in place");
            assert!(again.rgb == copied, "{w}x{h}: a reused buffer differs");
        }
    }
}
