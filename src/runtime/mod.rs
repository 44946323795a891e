//! Running neural networks: ONNX Runtime, loaded from its shared library at run time.
//!
//! Loading at run time (ort's `load-dynamic`) rather than linking at build time keeps the build free
//! of binary downloads, which fail on machines without internet, and lets users bring the library
//! that fits their hardware (the `onnxruntime` or `onnxruntime-gpu` wheel). The library is found once
//! per process, in a documented order, and a missing one is one clear error that names the fix.

pub mod batch;
pub mod pil;
pub mod preprocess;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

/// Environment variable naming the ONNX Runtime shared library to load.
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// What fixes a missing runtime, for error messages.
const INSTALL_HINT: &str = "run scripts/setup.sh (or `pip install onnxruntime`), or set ORT_DYLIB_PATH to libonnxruntime.so";

/// Where the library may be, in the order they are tried, with a word on where each came from.
/// Each place is looked at only when the ones before it hold no library: asking `python3` for its
/// site-packages starts Python, which took longer than loading ONNX Runtime itself (0.1 s of
/// `label`'s 0.25 s start-up on a dataset of one frame).
fn find_library() -> Option<(PathBuf, &'static str)> {
    if let Some(p) = std::env::var_os(DYLIB_ENV) {
        // Named explicitly: nowhere else is looked at.
        let p = PathBuf::from(p);
        return p.is_file().then_some((p, "ORT_DYLIB_PATH"));
    }
    let places: [(&'static str, &dyn Fn() -> Vec<PathBuf>); 3] = [
        // The project's own set-up: scripts/setup.sh puts the PyPI wheel in a virtual environment.
        ("framelabel's .venv", &|| {
            let venv = std::env::var_os("FRAMELABEL_VENV")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
            glob_dirs(&venv.join("lib"), "python", "site-packages")
                .iter()
                .flat_map(|site| wheel_libraries(site))
                .collect()
        }),
        ("python3's site-packages", &|| {
            python_site_packages()
                .iter()
                .flat_map(|site| wheel_libraries(site))
                .collect()
        }),
        ("the system library path", &|| {
            let mut system: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
                .map(|v| std::env::split_paths(&v).collect())
                .unwrap_or_default();
            system.extend(
                [
                    "/usr/local/lib",
                    "/usr/lib",
                    "/usr/lib/x86_64-linux-gnu",
                    "/usr/lib/aarch64-linux-gnu",
                ]
                .map(PathBuf::from),
            );
            system.iter().flat_map(|dir| libraries_in(dir)).collect()
        }),
    ];
    places.iter().find_map(|(source, candidates)| {
        candidates()
            .into_iter()
            .find(|p| p.is_file())
            .map(|p| (p, *source))
    })
}

/// `dir/<prefix>*/<leaf>` folders that exist (e.g. `lib/python3.11/site-packages`).
fn glob_dirs(dir: &Path, prefix: &str, leaf: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path().join(leaf))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `onnxruntime/capi/libonnxruntime.so.*` inside a site-packages folder.
fn wheel_libraries(site: &Path) -> Vec<PathBuf> {
    libraries_in(&site.join("onnxruntime").join("capi"))
}

/// `libonnxruntime.so*` files in a folder, newest version name first.
fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib"
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.reverse();
    v
}

/// The site-packages folders of the `python3` on PATH, if there is one.
fn python_site_packages() -> Vec<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))"])
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// The loaded runtime: one per process, shared by every model.
pub struct Runtime {
    env: ort::environment::Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// Finds and loads the ONNX Runtime library (once per process).
    pub fn get() -> Result<&'static Runtime> {
        RUNTIME
            .get_or_init(Self::load)
            .as_ref()
            .map_err(|m| Error::Runtime { message: m.clone() })
    }

    fn load() -> std::result::Result<Runtime, String> {
        let Some((library, source)) = find_library() else {
            return Err(match std::env::var_os(DYLIB_ENV) {
                Some(p) => format!(
                    "ORT_DYLIB_PATH={} does not exist; {INSTALL_HINT}",
                    Path::new(&p).display()
                ),
                None => format!(
                    "ONNX Runtime not found (looked in framelabel's .venv, python3's site-packages and the system library path); {INSTALL_HINT}"
                ),
            });
        };
        let builder = ort::init_from(&library).map_err(|e| {
            format!(
                "{} (from {source}) cannot be loaded as ONNX Runtime: {e}; {INSTALL_HINT}",
                library.display()
            )
        })?;
        let env = builder.with_name("framelabel").build().map_err(|e| {
            format!(
                "{} (from {source}): cannot start ONNX Runtime: {e}",
                library.display()
            )
        })?;
        Ok(Runtime { env, library })
    }

    /// The library file that was loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Whether the loaded library was built with the CUDA execution provider (the
    /// `onnxruntime-gpu` wheel).
    pub fn has_cuda(&self) -> bool {
        use ort::ep::ExecutionProvider;
        ort::ep::CUDA::is_available().unwrap_or(false)
    }

    /// Loads an ONNX model for inference on the CPU with `threads` threads.
    pub fn load_model(&self, path: &Path, threads: usize) -> Result<Model> {
        self.load_model_on(path, threads, Device::Cpu)
    }

    /// Loads an ONNX model on `device`. CUDA is used only when asked for (or with `Auto` when the
    /// library has it); asking for CUDA from a CPU-only library is an error, never a silent fallback.
    pub fn load_model_on(&self, path: &Path, threads: usize, device: Device) -> Result<Model> {
        self.load_model_with(path, threads, device, true)
    }

    /// Sessions of one model to run side by side on different pictures. On the CPU, with two
    /// threads or more and a small model, two sessions with half the threads each: ONNX Runtime
    /// splits a small model's work on one picture between its threads less well than two pictures
    /// between two sessions (2 cores: YOLOX-Nano at batch 1, 300 pictures in 2.5-2.7 s against
    /// 3.4-3.5 s for one session with two threads; the int8 MobileNetV2 at batch 8, 1.6-1.7 s
    /// against 2.0-2.3 s). Each session holds its own copy of the weights, so a large model (more
    /// than [`SIDE_BY_SIDE_MAX_BYTES`]), whose big operations split well anyway, gets one session,
    /// as does a model on a GPU.
    pub fn load_sessions(
        &self,
        path: &Path,
        threads: usize,
        device: Device,
        spin: bool,
    ) -> Result<Vec<Model>> {
        let small = model_bytes(path).is_some_and(|n| n <= SIDE_BY_SIDE_MAX_BYTES);
        let threads = threads.max(1);
        let side_by_side = small && threads >= 2;
        let first_threads = if side_by_side {
            threads.div_ceil(2)
        } else {
            threads
        };
        let on_cpu = match device {
            Device::Auto => !self.has_cuda(),
            d => d == Device::Cpu,
        };
        if !(side_by_side && on_cpu) {
            return Ok(vec![self.load_model_with(
                path,
                first_threads,
                device,
                spin,
            )?]);
        }
        // Built at the same time: a session's start-up (graph optimisation) runs on one thread.
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| self.load_model_with(path, threads / 2, device, spin));
            let first = self.load_model_with(path, first_threads, device, spin);
            let second = second.join().expect("loading a session does not panic");
            (first, second)
        });
        Ok(vec![first?, second?])
    }

    /// As [`Runtime::load_model_on`]; `spin` false makes the session's idle threads sleep instead
    /// of spinning (ONNX Runtime's default). `run` wants that: its two sessions and the extract
    /// workers share the cores, and spinning threads take time from whichever of them has work
    /// (measured on vtest, 2 cores: 8.1–8.6 s against 8.5–9.9 s, and 12 s of CPU against 14–17).
    pub fn load_model_with(
        &self,
        path: &Path,
        threads: usize,
        device: Device,
        spin: bool,
    ) -> Result<Model> {
        let model_err = |m: String| Error::Model {
            path: path.to_path_buf(),
            message: m,
        };
        if !path.is_file() {
            return Err(model_err("no such model file; check the path".into()));
        }
        let device = match device {
            Device::Auto if self.has_cuda() => Device::Cuda(0),
            Device::Auto => Device::Cpu,
            Device::Cuda(n) if !self.has_cuda() => {
                return Err(Error::Runtime {
                    message: format!(
                        "--device cuda:{n}: the loaded ONNX Runtime ({}) has no CUDA provider; install the GPU build (`pip install onnxruntime-gpu` and point ORT_DYLIB_PATH at its libonnxruntime.so), or use --device cpu or auto",
                        self.library.display()
                    ),
                });
            }
            d => d,
        };
        let mut builder = Session::builder(&self.env)
            .and_then(|b| Ok(b.with_intra_threads(threads.max(1))?))
            .and_then(|b| Ok(b.with_intra_op_spinning(spin)?))
            .map_err(|e| model_err(format!("cannot configure ONNX Runtime ({e})")))?;
        if let Device::Cuda(n) = device {
            let ep = ort::ep::CUDA::default()
                .with_device_id(n as i32)
                .build()
                .error_on_failure();
            builder = builder.with_execution_providers([ep]).map_err(|e| Error::Runtime {
                message: format!(
                    "--device cuda:{n}: CUDA is present in {} but cannot start ({e}); check the driver, the CUDA/cuDNN libraries the onnxruntime-gpu wheel needs, and the device number, or use --device cpu",
                    self.library.display()
                ),
            })?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| model_err(format!("not an ONNX model ONNX Runtime can load ({e})")))?;
        let describe = |outlets: &[ort::value::Outlet]| -> Vec<TensorInfo> {
            outlets
                .iter()
                .map(|o| TensorInfo {
                    name: o.name().to_string(),
                    shape: match o.dtype() {
                        ort::value::ValueType::Tensor { shape, .. } => {
                            shape.iter().copied().collect()
                        }
                        _ => Vec::new(),
                    },
                    is_float_tensor: matches!(
                        o.dtype(),
                        ort::value::ValueType::Tensor {
                            ty: ort::value::TensorElementType::Float32,
                            ..
                        }
                    ),
                })
                .collect()
        };
        let inputs = describe(session.inputs());
        let outputs = describe(session.outputs());
        match inputs.as_slice() {
            [i] if i.is_float_tensor
                && i.shape.len() == 4
                && (i.shape[1] == 3 || i.shape[1] == -1) => {}
            _ => {
                return Err(model_err(format!(
                    "its input is not one image tensor float32 [N, 3, H, W] (it has {})",
                    inputs
                        .iter()
                        .map(|i| format!("{} {:?}", i.name, i.shape))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(Model {
            session,
            path: path.to_path_buf(),
            inputs,
            outputs,
            device,
        })
    }
}

/// Models up to this size on disk run as two sessions side by side ([`Runtime::load_sessions`]).
pub const SIDE_BY_SIDE_MAX_BYTES: u64 = 64 << 20;

/// The size of a model's weights: its file, plus the files its tensors keep their data in when it
/// was saved with external data (models over 2 GB must be, and their `.onnx` is then tiny). `None`
/// when a file cannot be read.
fn model_bytes(path: &Path) -> Option<u64> {
    let own = std::fs::metadata(path).ok()?.len();
    if own > SIDE_BY_SIDE_MAX_BYTES {
        return Some(own);
    }
    let bytes = std::fs::read(path).ok()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut total = own;
    for name in external_data_files(&bytes) {
        total += std::fs::metadata(dir.join(name)).ok()?.len();
    }
    Some(total)
}

/// The distinct `location`s of a serialised ONNX model's external tensor data. Each is an entry
/// `{key: "location", value: FILE}` (a protobuf message: field 1 the key, field 2 the value), found
/// by its encoding rather than by parsing the whole model.
fn external_data_files(model: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\x0a\x08location\x12";
    let mut found: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(i) = model[at..].windows(KEY.len()).position(|w| w == KEY) {
        at += i + KEY.len();
        // The value's length, a varint.
        let (mut len, mut shift) = (0usize, 0);
        while let Some(&b) = model.get(at) {
            at += 1;
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 28 {
                break;
            }
        }
        let Some(value) = model.get(at..at + len) else {
            break;
        };
        at += len;
        if let Ok(name) = std::str::from_utf8(value)
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
    }
    found
}

/// Where inference runs (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// A CUDA GPU by number.
    Cuda(u32),
    /// CUDA 0 when the loaded library has it, else the CPU.
    Auto,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "auto" => Ok(Device::Auto),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("'{s}' is not a device: use cpu, cuda, cuda:N or auto")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Auto => f.write_str("auto"),
        }
    }
}

/// Name and shape of a model input or output (-1 for a dynamic axis).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<i64>,
    pub is_float_tensor: bool,
}

/// One output tensor of a run, copied out of the runtime.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A loaded image model: one float32 NCHW input, float32 outputs.
pub struct Model {
    session: Session,
    path: PathBuf,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    device: Device,
}

impl Model {
    /// The device the model runs on (`Auto` resolved).
    pub fn device(&self) -> Device {
        self.device
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn input(&self) -> &TensorInfo {
        &self.inputs[0]
    }

    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Input height and width when the model fixes them.
    pub fn input_size(&self) -> Option<(u32, u32)> {
        let s = &self.inputs[0].shape;
        (s[2] > 0 && s[3] > 0).then(|| (s[3] as u32, s[2] as u32))
    }

    /// Whether the batch axis is dynamic.
    pub fn dynamic_batch(&self) -> bool {
        self.inputs[0].shape[0] < 0
    }

    /// Runs the model on a batch (`batch` pictures of 3×`h`×`w`, NCHW) and returns every float output.
    pub fn run(&mut self, data: &[f32], batch: usize, h: usize, w: usize) -> Result<Vec<Output>> {
        let err = |m: String| Error::Model {
            path: self.path.clone(),
            message: m,
        };
        if data.len() != batch * 3 * h * w {
            return Err(err(format!(
                "input holds {} values, not {batch}×3×{h}×{w}",
                data.len()
            )));
        }
        let input =
            TensorRef::from_array_view(([batch, 3, h, w], data)).map_err(|e| err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| err(format!("inference failed: {e}")))?;
        let mut result = Vec::new();
        for (name, value) in outputs.iter() {
            if let Ok((shape, values)) = value.try_extract_tensor::<f32>() {
                result.push(Output {
                    name: name.to_string(),
                    shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                    data: values.to_vec(),
                });
            }
        }
        Ok(result)
    }
}
