//! Model specs end to end through `framelabel models info`: local files with sidecar and
//! `--model-config` layers, `hf:` repos served by a local imitation of the hub (its resolve URLs,
//! ETag and commit headers, Range requests), offline use, and the errors for models that cannot work.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::common::*;

/// A file the fake hub serves: its bytes and the ETag it announces (the sha256 for LFS files).
struct HubFile {
    bytes: Vec<u8>,
    etag: String,
}

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves `/{repo}/resolve/{rev}/{file}` like huggingface.co: `Range: bytes=0-0` metadata probes
/// get a 206 with `Content-Range`, `ETag`/`X-Linked-Etag` and `X-Repo-Commit`.
fn serve_hub(files: HashMap<String, HubFile>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            answer(stream, &files);
        }
    });
    (base, count)
}

fn answer(mut stream: TcpStream, files: &HashMap<String, HubFile>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut from, mut to) = (0usize, None::<usize>);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap();
            from = a.parse().unwrap();
            to = b.parse().ok();
        }
    }
    let key = path.replacen("/resolve/main/", "/", 1);
    let Some(f) = files.get(key.trim_start_matches('/')) else {
        let _ = stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    };
    let last = to.unwrap_or(f.bytes.len() - 1).min(f.bytes.len() - 1);
    let part = &f.bytes[from..=last];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{last}/{}\r\nETag: \"{}\"\r\nX-Linked-Etag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        part.len(),
        f.bytes.len(),
        f.etag,
        f.etag
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(part);
}

fn json_file(v: &Value) -> HubFile {
    let bytes = serde_json::to_vec(v).unwrap();
    // Small files are plain git objects: their ETag is a 40-hex git sha1, not a content sha256.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, &bytes).unwrap();
    let etag = framelabel::models::sha256_file(&p).unwrap()[..40].to_string();
    HubFile { bytes, etag }
}

fn info(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut a = vec!["models", "info"];
    a.extend_from_slice(args);
    framelabel_env(a, env)
}

fn parse(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn hub_repo_downloads_verifies_and_works_offline() {
    let model = shared_model("yolox_nano_coco.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let sha = framelabel::models::sha256_file(&model).unwrap();
    let names: Vec<String> = (0..80).map(|i| format!("thing{i}")).collect();
    let id2label: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), json!(n)))
        .collect();
    let mut files = HashMap::new();
    files.insert(
        "acme/det/onnx/model.onnx".to_string(),
        HubFile {
            bytes: bytes.clone(),
            etag: sha.clone(),
        },
    );
    files.insert(
        "acme/det/config.json".into(),
        json_file(&json!({ "id2label": id2label })),
    );
    files.insert(
        "acme/det/preprocessor_config.json".into(),
        json_file(
            &json!({"size": {"height": 416, "width": 416}, "do_normalize": false,
            "image_processor_type": "RTDetrImageProcessor"}),
        ),
    );
    // A repo whose class list does not fit the model, and one whose LFS file is not what its hash says.
    files.insert(
        "acme/short/onnx/model.onnx".into(),
        HubFile {
            bytes: bytes.clone(),
            etag: sha.clone(),
        },
    );
    files.insert(
        "acme/short/config.json".into(),
        json_file(&json!({"id2label": {"0": "cat", "1": "dog"}})),
    );
    // A PyTorch-only repo, as the original tool's facebook/detr-resnet-50: no ONNX file at all.
    files.insert(
        "acme/torch/config.json".into(),
        json_file(&json!({"id2label": {"0": "cat"}})),
    );
    files.insert(
        "acme/bad/model.onnx".into(),
        HubFile {
            bytes: bytes.iter().map(|b| b ^ 1).collect(),
            etag: sha.clone(),
        },
    );
    let (base, requests) = serve_hub(files);
    let cache = tempfile::tempdir().unwrap();
    let cache_s = cache.path().to_str().unwrap();
    let env = [
        ("HF_ENDPOINT", base.as_str()),
        ("FRAMELABEL_CACHE", cache_s),
        ("HF_HOME", ""),
        ("HF_HUB_CACHE", ""),
        ("HF_TOKEN", ""),
        ("FRAMELABEL_OFFLINE", ""),
    ];

    // Offline before anything is cached: a clear error, no request.
    let r = info(&["hf:acme/det", "--offline"], &env);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not in the hub cache"), "{}", r.stderr);
    assert_eq!(requests.load(Ordering::SeqCst), 0);

    // Online: the default file name is found, the config layers apply.
    let v = parse(&info(&["hf:acme/det", "--json"], &env));
    assert_eq!(v["sha256"], sha.as_str());
    let file = Path::new(v["file"].as_str().unwrap());
    assert!(
        file.starts_with(cache.path().join("huggingface")),
        "{file:?}"
    );
    assert!(file.ends_with(format!("snapshots/{COMMIT}/onnx/model.onnx")));
    assert_eq!(v["detector"]["family"], "yolox");
    assert_eq!(v["detector"]["labels"][79], "thing79");
    assert_eq!(v["detector"]["preprocess"]["fit"]["kind"], "stretch");
    let scale = v["detector"]["preprocess"]["scale"].as_f64().unwrap();
    assert!((scale - 1.0 / 255.0).abs() < 1e-7, "{scale}");
    assert_eq!(v["config_files"].as_array().unwrap().len(), 2);
    let after_download = requests.load(Ordering::SeqCst);
    assert!(after_download >= 3, "{after_download} requests");

    // Cached: offline works and the network is not touched again.
    let v = parse(&info(&["hf:acme/det", "--offline", "--json"], &env));
    assert_eq!(v["sha256"], sha.as_str());
    assert_eq!(v["detector"]["labels"][0], "thing0");
    assert_eq!(requests.load(Ordering::SeqCst), after_download);

    // A missing file, a class list of the wrong length, a corrupt LFS file.
    let r = info(&["hf:acme/det/onnx/other.onnx"], &env);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("has no onnx/other.onnx"), "{}", r.stderr);
    let r = info(&["hf:acme/short"], &env);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("lists 2 class names") && r.stderr.contains("outputs 80"),
        "{}",
        r.stderr
    );
    let r = info(&["hf:acme/torch"], &env);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no onnx/model.onnx or model.onnx")
            && r.stderr
                .contains("optimum-cli export onnx --model acme/torch"),
        "{}",
        r.stderr
    );
    let r = info(&["hf:acme/bad/model.onnx"], &env);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not the") && r.stderr.contains("removed"),
        "{}",
        r.stderr
    );
    let blobs = cache.path().join("huggingface/models--acme--bad/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left.iter().any(|n| n.to_string_lossy() == sha),
        "corrupt blob kept: {left:?}"
    );
}

#[test]
fn local_files_take_sidecar_and_model_config_layers() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("det.onnx");
    std::fs::copy(shared_model("yolox_nano_coco.onnx"), &model).unwrap();
    let m = model.to_str().unwrap();

    // No config: recognised as YOLOX with the COCO names and YOLOX pre-processing.
    let v = parse(&info(&[m, "--json"], &[]));
    assert_eq!(v["detector"]["family"], "yolox");
    assert_eq!(v["detector"]["labels"][0], "person");
    assert_eq!(v["detector"]["preprocess"]["channels"], "bgr");
    assert_eq!(v["detector"]["preprocess"]["size"], json!([416, 416]));

    // A sidecar renames the classes and changes the pad; --model-config overrides the sidecar.
    let labels: Vec<String> = (0..80).map(|i| format!("c{i}")).collect();
    std::fs::write(
        dir.path().join("det.json"),
        json!({"labels": labels, "pad": 0}).to_string(),
    )
    .unwrap();
    let over = dir.path().join("over.json");
    std::fs::write(&over, json!({"channels": "rgb"}).to_string()).unwrap();
    let v = parse(&info(
        &[m, "--model-config", over.to_str().unwrap(), "--json"],
        &[],
    ));
    assert_eq!(v["detector"]["labels"][5], "c5");
    assert_eq!(v["detector"]["preprocess"]["fit"]["pad"], 0);
    assert_eq!(v["detector"]["preprocess"]["channels"], "rgb");
    assert_eq!(v["config_files"].as_array().unwrap().len(), 2);

    // Class names of the wrong length, a misspelt key, a size the model contradicts.
    std::fs::write(
        dir.path().join("det.json"),
        r#"{"labels": ["a", "b", "c"]}"#,
    )
    .unwrap();
    let r = info(&[m], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("lists 3 class names") && r.stderr.contains("outputs 80 class scores"),
        "{}",
        r.stderr
    );
    std::fs::write(dir.path().join("det.json"), r#"{"lables": ["a"]}"#).unwrap();
    let r = info(&[m], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("det.json") && r.stderr.contains("unknown field `lables`"),
        "{}",
        r.stderr
    );
    std::fs::write(dir.path().join("det.json"), r#"{"input_size": [640, 640]}"#).unwrap();
    let r = info(&[m], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("fixed at 416x416"), "{}", r.stderr);
}

#[test]
fn models_that_cannot_work_are_refused_with_the_reason() {
    let emb = shared_model("mobilenetv2-12-int8-emb.onnx");
    let e = emb.to_str().unwrap();
    // The embedder is recognised as one when no task is given, and refused as a detector.
    let v = parse(&info(&[e, "--json"], &[]));
    assert_eq!(v["embedder"]["output"], "embedding");
    assert_eq!(v["embedder"]["dim"], 1280);
    let r = info(&[e, "--task", "detector"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("match no detector family") && r.stderr.contains("[-1, 1000]"),
        "{}",
        r.stderr
    );
    // A YOLOX model forced to read as DETR.
    let det = shared_model("yolox_nano_coco.onnx");
    let r = info(&[det.to_str().unwrap(), "--family", "detr"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("do not match --family detr"),
        "{}",
        r.stderr
    );
    // CUDA from the CPU build is an error, never a silent fallback; auto falls back and says so.
    let r = info(&[det.to_str().unwrap(), "--device", "cuda:0"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no CUDA provider") && r.stderr.contains("onnxruntime-gpu"),
        "{}",
        r.stderr
    );
    let v = parse(&info(
        &[det.to_str().unwrap(), "--device", "auto", "--json"],
        &[],
    ));
    assert_eq!(v["device"], "cpu");
    let r = info(&[det.to_str().unwrap(), "--device", "tpu"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cpu, cuda, cuda:N or auto"),
        "{}",
        r.stderr
    );
    // A model whose input is not an image tensor.
    let dir = tempfile::tempdir().unwrap();
    run_py("make_detectors.py", &[dir.path()]);
    let r = info(&[dir.path().join("vector.onnx").to_str().unwrap()], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not one image tensor") && r.stderr.contains("[1, 10]"),
        "{}",
        r.stderr
    );
    // Not a file, not a name.
    let r = info(&["yolox-q"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("yolox-nano"), "{}", r.stderr);
}
