//! Files the agent keeps in its state directory: JSON objects with a `"version"`, read whole
//! and replaced whole, atomically.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a state file could not be read; each store says it in its own words.
#[derive(Debug)]
pub enum ReadError {
    /// The file exists but cannot be read.
    Read(io::Error),
    /// It is not what the agent writes: what is wrong.
    Corrupt(String),
    /// It was written by a newer agent, in this version.
    Newer(u32),
}

/// Just the version, read before the rest so that a newer file is refused as newer rather
/// than as corrupt.
#[derive(serde::Deserialize)]
struct Header {
    version: Option<u32>,
}

/// The bytes of `path` once its `"version"` is known to be one this agent reads (1 to
/// `supported`); `None` when there is no file (an empty state).
pub fn read_versioned(path: &Path, supported: u32) -> Result<Option<Vec<u8>>, ReadError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Read(e)),
    };
    let header: Header = serde_json::from_slice(&text)
        .map_err(|e| ReadError::Corrupt(format!("it is not a JSON object ({e})")))?;
    match header.version {
        None => Err(ReadError::Corrupt("it has no \"version\"".to_owned())),
        Some(0) => Err(ReadError::Corrupt("its \"version\" is 0".to_owned())),
        Some(found) if found > supported => Err(ReadError::Newer(found)),
        Some(_) => Ok(Some(text)),
    }
}

/// Replaces the file `path` with `bytes` so that a crash at any point leaves the old file or
/// the new one, never a torn one: the bytes go to `<path>.tmp` in the same directory, are
/// flushed to the disk and renamed over `path`, then the directory is flushed so that the
/// rename itself is durable. A leftover `.tmp` is never read and is overwritten by the next
/// write. On failure, the file that could not be written and why.
pub fn replace_durably(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, io::Error)> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let write_tmp = || -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write_tmp().map_err(|e| (tmp.clone(), e))?;
    fs::rename(&tmp, path).map_err(|e| (path.to_owned(), e))?;
    // Without this the rename may not survive a power cut, and the old file would come back.
    // The rename is the commit point, though: the new file is what every reader sees now, so
    // the change stands, and a failure here is only worth a warning.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(
            "saved {} but could not flush its directory {}: {e}; a power cut may undo the last change",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}
