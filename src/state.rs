//! The run state folder, `DIR/.framelabel/`, as more than one command reads it: `run` writes and
//! resumes from it, and `report` replays the dedup rule on the embeddings it keeps. Its format lives
//! here, below both, so that neither has to reach into the other.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rows::NamedRows;

/// The state folder's name inside an output folder.
pub const STATE_DIR: &str = ".framelabel";

pub(crate) fn truncate(path: &Path, len: u64) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(|e| Error::io(path, e))
}

pub(crate) fn appender(path: &Path) -> Result<BufWriter<File>> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(BufWriter::new)
        .map_err(|e| Error::io(path, e))
}

/// The embeddings of `embeddings.bin` by frame file name, without touching the file (a torn last
/// record is left out).
pub fn read_embeddings(path: &Path) -> Result<NamedRows> {
    Ok(parse_embeddings(path)?.0)
}

/// The complete records of `path`, and where a torn record starts.
fn parse_embeddings(path: &Path) -> Result<(NamedRows, Option<u64>)> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut rows = NamedRows::default();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = bytes.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    loop {
        let start = at;
        let record = (|| {
            let n = u16::from_le_bytes(take(&mut at, 2)?.try_into().ok()?) as usize;
            let name = String::from_utf8(take(&mut at, n)?.to_vec()).ok()?;
            let dim = u32::from_le_bytes(take(&mut at, 4)?.try_into().ok()?) as usize;
            let row: Vec<f32> = take(&mut at, dim * 4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            Some((name, row))
        })();
        // A row of another width cannot come from this run's embedder: the file ends there.
        match record {
            Some((name, row)) if rows.insert(&name, &row) => {}
            _ => return Ok((rows, (start < bytes.len()).then_some(start as u64))),
        }
    }
}

/// L2-normalised embeddings by frame file name: `embeddings.bin` holds records of a u16 name
/// length, the name, a u32 width and the floats, little-endian.
pub struct Embeddings {
    path: PathBuf,
    rows: NamedRows,
    out: BufWriter<File>,
}

impl Embeddings {
    pub fn open(path: &Path) -> Result<Self> {
        let (rows, torn_at) = parse_embeddings(path)?;
        if let Some(at) = torn_at {
            truncate(path, at)?;
        }
        Ok(Embeddings {
            path: path.to_path_buf(),
            rows,
            out: appender(path)?,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len() == 0
    }

    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.rows.get(name)
    }

    /// See [`NamedRows::gather`].
    pub fn gather<S: AsRef<str>>(&self, names: &[Option<S>]) -> (Cow<'_, [f32]>, Vec<usize>) {
        self.rows.gather(names)
    }

    pub fn insert(&mut self, name: &str, row: &[f32]) -> Result<()> {
        if !self.rows.insert(name, row) {
            return Err(Error::output(
                &self.path,
                format!(
                    "holds embeddings {} wide, not {}; pass --force to start over",
                    self.rows.dim(),
                    row.len()
                ),
            ));
        }
        let mut rec = Vec::with_capacity(6 + name.len() + row.len() * 4);
        rec.extend_from_slice(&(name.len() as u16).to_le_bytes());
        rec.extend_from_slice(name.as_bytes());
        rec.extend_from_slice(&(row.len() as u32).to_le_bytes());
        for v in row {
            rec.extend_from_slice(&v.to_le_bytes());
        }
        self.out
            .write_all(&rec)
            .map_err(|e| Error::io(&self.path, e))
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}
