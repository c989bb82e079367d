//! One owner per state directory: an exclusive `flock` on a lock file that
//! also holds the owner's pid, so a second one can say who has it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use crate::Error;

/// Held while alive; released on drop (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock file `path`, waiting up to `wait` for another owner
    /// to let go; then fails with [`Error::InUse`] naming its pid.
    pub fn acquire(path: &Path, wait: Duration) -> Result<DirLock, Error> {
        let deadline = std::time::Instant::now() + wait;
        let mut step = Duration::from_millis(10);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| Error::io(&format!("cannot open {}", path.display()), e))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut lock) => {
                    let _ = lock.set_len(0);
                    let _ = lock.rewind();
                    let _ = writeln!(lock, "{}", std::process::id());
                    let _ = lock.sync_all();
                    return Ok(DirLock { _lock: lock, path: path.to_owned() });
                }
                Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                    if std::time::Instant::now() >= deadline {
                        let mut s = String::new();
                        let _ = file.read_to_string(&mut s);
                        let pid = s.trim().parse().ok();
                        return Err(Error::InUse { path: path.parent().unwrap_or(path).to_owned(), pid });
                    }
                    std::thread::sleep(step);
                    step = (step * 2).min(Duration::from_millis(200));
                }
                Err((_, e)) => return Err(Error::io(&format!("cannot lock {}", path.display()), e.into())),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_told_who_has_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = DirLock::acquire(&p, Duration::ZERO).unwrap();
        let e = DirLock::acquire(&p, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.to_string(), format!("{} is in use by pid {}", d.path().display(), std::process::id()));
        drop(held);
        DirLock::acquire(&p, Duration::ZERO).unwrap();
    }
}
