//! Files that are never half-written: write to a temporary file, fsync,
//! rename over the target, fsync the directory. A crash leaves either the
//! old content or the new, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::Error;

/// Replaces `path` with `data`, atomically and durably, with mode `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    replace(path, data, mode, true)
}

/// Replaces `path` with `data` atomically (a reader sees the old content
/// or the new), not durably: for files made again from durable state
/// whenever they are needed (a dnsmasq's configuration), where an fsync
/// only costs time.
pub fn write_replace(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    replace(path, data, mode, false)
}

fn replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<(), Error> {
    let dir = path.parent().ok_or_else(|| Error::Invalid(format!("{} has no directory", path.display())))?;
    let name = path.file_name().ok_or_else(|| Error::Invalid(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable { File::open(dir)?.sync_all() } else { Ok(()) }
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&format!("cannot write {}", path.display()), e));
    }
    Ok(())
}

/// Removes `path` (if present) and makes the removal durable.
pub fn remove_durable(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&format!("cannot remove {}", path.display()), e)),
    }
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&format!("cannot sync {}", dir.display()), e))?;
    }
    Ok(())
}

/// Creates `dir` and its parents with `mode` (for new ones).
pub fn create_dir(dir: &Path, mode: u32) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| Error::io(&format!("cannot create {}", dir.display()), e))
}

/// Removes temporary files a crash in `write_atomic` may have left in `dir`.
pub fn clean_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with('.') && n.contains(".tmp-") {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_replace() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temporary left");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        remove_durable(&p).unwrap();
        remove_durable(&p).unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn leftovers_are_cleaned() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(".a.json.tmp-123"), b"x").unwrap();
        fs::write(d.path().join("b.json"), b"x").unwrap();
        clean_temporaries(d.path());
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["b.json"]);
    }
}
