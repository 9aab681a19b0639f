//! Files the agent keeps in its state directory, replaced whole and atomically.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
