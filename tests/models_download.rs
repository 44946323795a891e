//! The model download path, for real, against an HTTP server on 127.0.0.1 that the test runs: a good
//! file, a corrupt cache, a file with the wrong hash, a connection cut half-way (resumed), offline mode.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use framelabel::models::{Download, fetch, sha256_file};

/// A tiny HTTP/1.1 server: `/model.onnx` (Range supported), `/wrong.onnx` (other bytes), and
/// `/cut.onnx`, whose first answer announces the whole length but stops half-way.
struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
}

fn serve(model: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (requests.clone(), ranges.clone());
    std::thread::spawn(move || {
        let mut cut_done = false;
        // Bounded: the tests below make far fewer requests; the thread ends with the test process.
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            handle(stream, &model, &mut cut_done, &seen);
        }
    });
    Server {
        base,
        requests,
        ranges,
    }
}

fn handle(mut stream: TcpStream, model: &[u8], cut_done: &mut bool, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut from = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            seen.lock().unwrap().push(v.trim().to_string());
            from = v.trim().trim_end_matches('-').parse().unwrap();
        }
    }
    let body: Vec<u8> = match path.as_str() {
        "/model.onnx" | "/cut.onnx" => model.to_vec(),
        "/wrong.onnx" => model.iter().map(|b| b ^ 0x5a).collect(),
        _ => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    };
    let status = if from > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let part = &body[from..];
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        part.len()
    );
    if from > 0 {
        head += &format!(
            "Content-Range: bytes {from}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        );
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    if path == "/cut.onnx" && !*cut_done {
        *cut_done = true;
        let _ = stream.write_all(&part[..part.len() / 2]);
        return; // connection dropped half-way
    }
    let _ = stream.write_all(part);
}

/// A download from `url` (the test server) into `cache/name/m.onnx`, expecting `sha`.
fn download<'a>(url: &'a str, sha: &'a str, cache: &Path, name: &'a str) -> Download<'a> {
    Download {
        name,
        url,
        sha256: Some(sha),
        dest: cache.join(name).join("m.onnx"),
    }
}

fn shared_model_bytes() -> (Vec<u8>, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/yolox_nano_coco.onnx");
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (bytes, sha256_file(&p).unwrap())
}

#[test]
fn download_verify_cache_and_offline() {
    let (bytes, sha) = shared_model_bytes();
    assert_eq!(
        sha, "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a",
        "PROVENANCE checksum"
    );
    let server = serve(bytes);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{}/model.onnx", server.base);
    let d = download(&url, &sha, cache.path(), "yolox-nano");

    // Offline with nothing cached: a clear error, no request.
    let e = fetch(&d, true).unwrap_err().to_string();
    assert!(
        e.contains("not in the cache") && e.contains("framelabel models fetch yolox-nano"),
        "{e}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);

    let path = fetch(&d, false).unwrap();
    assert_eq!(sha256_file(&path).unwrap(), sha);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    // Cached: offline works and nothing is requested again.
    assert_eq!(fetch(&d, true).unwrap(), path);
    assert_eq!(fetch(&d, false).unwrap(), path);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    // A corrupt cached file is detected and fetched again.
    let mut damaged = std::fs::read(&path).unwrap();
    damaged[1000] ^= 0xff;
    std::fs::write(&path, damaged).unwrap();
    assert_eq!(fetch(&d, false).unwrap(), path);
    assert_eq!(sha256_file(&path).unwrap(), sha);
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn wrong_hash_leaves_nothing_in_the_cache() {
    let (bytes, sha) = shared_model_bytes();
    let server = serve(bytes);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{}/wrong.onnx", server.base);
    let d = download(&url, &sha, cache.path(), "m");
    let e = fetch(&d, false).unwrap_err().to_string();
    assert!(e.contains("not the published") && e.contains(&sha), "{e}");
    let left: Vec<_> = std::fs::read_dir(cache.path().join("m")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_cut_download_resumes_where_it_stopped() {
    let (bytes, sha) = shared_model_bytes();
    let total = bytes.len();
    let server = serve(bytes);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{}/cut.onnx", server.base);
    let d = download(&url, &sha, cache.path(), "m");
    let e = fetch(&d, false).unwrap_err().to_string();
    assert!(e.contains("run again to resume"), "{e}");
    assert!(!d.dest.exists());
    let part = d.dest.with_extension("part");
    assert_eq!(std::fs::metadata(&part).unwrap().len() as usize, total / 2);

    let path = fetch(&d, false).unwrap();
    assert_eq!(sha256_file(&path).unwrap(), sha);
    assert!(!part.exists());
    assert_eq!(
        *server.ranges.lock().unwrap(),
        [format!("{}-", total / 2)],
        "the second request asks for the rest"
    );
}

#[test]
fn unknown_model_name_is_a_usage_error() {
    let run = crate::common::framelabel(["models", "fetch", "yolo-nope"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown model 'yolo-nope'") && run.stderr.contains("yolox-nano"),
        "{}",
        run.stderr
    );
    let list = crate::common::framelabel(["models", "list", "--json"]);
    assert_eq!(list.code, 0);
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "yolox-nano",
        "yolox-tiny",
        "yolox-s",
        "yolox-m",
        "yolox-l",
        "yolox-x",
        "clip-vit-b32",
    ] {
        assert!(names.contains(&n), "{n}");
    }
}
