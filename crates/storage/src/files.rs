//! Files in a pool's directory: the temporary names volumes are made
//! under, and moving bytes in and out of them.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::{Error, ErrorKind, JobCtl, Result, Sink, Source};

use crate::error::io;
use crate::qemu_img::cancelled;

/// What the names of volumes being made start with; a refresh skips them.
pub(crate) const TEMP_PREFIX: &str = ".virtkit-part.";

/// Bytes written per write of zeros.
const CHUNK: usize = 1 << 20;

/// Bytes read per piece of a download: under the size from which the
/// daemon's malloc gives a block pages of its own (256 KiB), so that the
/// pieces' buffers are reused rather than mapped and faulted in afresh
/// each time (which cost more than the copies themselves).
const PIECE: usize = 128 << 10;

/// At most this many bytes of an upload's pieces are written per trip to
/// a blocking thread.
const BATCH: u64 = 4 << 20;

/// Bytes copied per step of a handed file's copy (between two checks for
/// cancel).
const STEP: u64 = 64 << 20;

pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// A volume's file being made: removed when dropped, unless committed
/// (renamed to its name).
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    done: bool,
}

impl TempFile {
    /// A free temporary name in `dir` for a volume `name`.
    pub(crate) fn new(dir: &Path, name: &str) -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        TempFile { path: dir.join(format!("{TEMP_PREFIX}{}.{name}", &tag[..12])), done: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the file in place at `to` (replacing what is there).
    pub(crate) fn commit(mut self, to: &Path) -> Result<()> {
        std::fs::rename(&self.path, to).map_err(|e| io(format!("cannot rename to {}", to.display()), e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn write_all_at(f: &std::fs::File, path: &Path, buf: &[u8], at: u64) -> Result<()> {
    f.write_all_at(buf, at).map_err(|e| io(format!("cannot write {}", path.display()), e).into())
}

/// Runs file I/O off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("a file operation was lost: {e}")))?
}

/// Makes the new file `path` holding `bytes`, on disk when this returns
/// (as `qemu-img create` leaves its images).
pub(crate) async fn write_new(path: &Path, bytes: Vec<u8>) -> Result<()> {
    let path = path.to_path_buf();
    blocking(move || {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(format!("cannot make {}", path.display()), e))?;
        write_all_at(&f, &path, &bytes, 0)?;
        f.sync_data().map_err(|e| io(format!("cannot write {}", path.display()), e).into())
    })
    .await
}

fn sync(f: &std::fs::File, path: &Path) -> Result<()> {
    f.sync_all().map_err(|e| io(format!("cannot write {}", path.display()), e).into())
}

/// Writes what `data` brings into `path` from `offset` (at most up to
/// `limit`), reporting on `job`; returns the end written. A handed file is
/// copied in the kernel.
pub(crate) async fn receive(
    path: &Path,
    offset: u64,
    limit: Option<u64>,
    data: &mut Source,
    job: &JobCtl,
) -> Result<u64> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| io(format!("cannot open {}", path.display()), e))?;
    let f = Arc::new(f);
    let end = match data.as_file() {
        Some(from) => {
            let len = from.left().unwrap_or(0);
            within(limit, offset, offset + len)?;
            let n =
                copy(Ends { from: from.shared(), from_at: from.at(), to: f.clone(), to_at: offset }, len, job).await?;
            from.advance(n);
            offset + n
        }
        None => receive_pieces(&f, path, offset, limit, data, job).await?,
    };
    let p2 = path.to_path_buf();
    blocking(move || sync(&f, &p2)).await?;
    Ok(end)
}

/// Refuses an upload from `offset` that would end past `limit`.
fn within(limit: Option<u64>, offset: u64, end: u64) -> Result<()> {
    match limit {
        Some(l) if end > l => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the upload is longer than the {} bytes asked for", l - offset),
        )),
        _ => Ok(()),
    }
}

async fn receive_pieces(
    f: &Arc<std::fs::File>,
    path: &Path,
    offset: u64,
    limit: Option<u64>,
    data: &mut Source,
    job: &JobCtl,
) -> Result<u64> {
    let mut at = offset;
    loop {
        let piece = tokio::select! {
            c = data.next() => c,
            () = job.cancelled() => return Err(cancelled(job)),
        };
        let Some(piece) = piece else { break };
        // What has come meanwhile goes in the same trip to a blocking thread.
        let piece = piece?;
        let mut n = piece.len() as u64;
        let mut batch = vec![piece];
        while n < BATCH {
            let Some(more) = data.try_next() else { break };
            let more = more?;
            n += more.len() as u64;
            batch.push(more);
        }
        let end = at + n;
        within(limit, offset, end)?;
        let (f2, p2) = (f.clone(), path.to_path_buf());
        blocking(move || {
            let mut pos = at;
            for c in &batch {
                write_all_at(&f2, &p2, c, pos)?;
                pos += c.len() as u64;
            }
            Ok(())
        })
        .await?;
        job.add_done(n);
        at = end;
    }
    Ok(at)
}

/// Sends the bytes of `path` in `[offset, end)` to `out`; a handed file is
/// filled in the kernel.
pub(crate) async fn send(path: &Path, offset: u64, end: u64, out: &mut Sink, job: &JobCtl) -> Result<u64> {
    let f = Arc::new(std::fs::File::open(path).map_err(|e| io(format!("cannot open {}", path.display()), e))?);
    job.set_total(end.saturating_sub(offset));
    if let Some(to) = out.as_file() {
        let ends = Ends { from: f, from_at: offset, to: to.shared(), to_at: to.at() };
        let n = copy(ends, end.saturating_sub(offset), job).await?;
        to.advance(n);
        return Ok(n);
    }
    let mut at = offset;
    while at < end {
        job.check()?;
        let n = (end - at).min(PIECE as u64) as usize;
        let (f2, p2) = (f.clone(), path.to_path_buf());
        let buf = blocking(move || {
            let mut buf = vec![0; n];
            let got = f2.read_at(&mut buf, at).map_err(|e| io(format!("cannot read {}", p2.display()), e))?;
            buf.truncate(got);
            Ok(buf)
        })
        .await?;
        let got = buf.len();
        if got == 0 {
            break;
        }
        out.send(buf).await?;
        job.add_done(got as u64);
        at += got as u64;
    }
    Ok(at - offset)
}

/// The two files of a copy, and where in each it starts.
struct Ends {
    from: Arc<std::fs::File>,
    from_at: u64,
    to: Arc<std::fs::File>,
    to_at: u64,
}

/// Copies `len` bytes (fewer if the source ends first) in steps that can
/// be cancelled between them, in the kernel where the files allow it;
/// returns how many.
async fn copy(ends: Ends, len: u64, job: &JobCtl) -> Result<u64> {
    let ends = Arc::new(ends);
    let mut done = 0;
    while done < len {
        job.check()?;
        let step = (len - done).min(STEP);
        let e = ends.clone();
        let n = blocking(move || copy_step(&e, done, step)).await?;
        if n == 0 {
            break;
        }
        job.add_done(n);
        done += n;
    }
    Ok(done)
}

/// Copies up to `len` bytes at `done` past each end's start.
fn copy_step(e: &Ends, done: u64, len: u64) -> Result<u64> {
    use nix::errno::Errno;
    let offset = |base: u64| {
        i64::try_from(base + done).map_err(|_| Error::new(ErrorKind::InvalidArgument, "the offset is too large"))
    };
    let (mut from_at, mut to_at) = (offset(e.from_at)?, offset(e.to_at)?);
    let mut moved = 0;
    while moved < len {
        let want = usize::try_from(len - moved).unwrap_or(usize::MAX);
        match nix::fcntl::copy_file_range(&*e.from, Some(&mut from_at), &*e.to, Some(&mut to_at), want) {
            Ok(0) => break,
            Ok(n) => moved += n as u64,
            Err(Errno::EINTR) => {}
            // Across file systems, or where the kernel cannot: by hand.
            Err(Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
                return Ok(moved + copy_by_hand(e, done + moved, len - moved)?);
            }
            Err(err) => return Err(io("cannot copy the file handed over", err.into()).into()),
        }
    }
    Ok(moved)
}

fn copy_by_hand(e: &Ends, done: u64, len: u64) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut moved = 0;
    while moved < len {
        let want = (len - moved).min(CHUNK as u64) as usize;
        let got = e
            .from
            .read_at(&mut buf[..want], e.from_at + done + moved)
            .map_err(|err| io("cannot read the file handed over", err))?;
        if got == 0 {
            break;
        }
        e.to.write_all_at(&buf[..got], e.to_at + done + moved)
            .map_err(|err| io("cannot write the file handed over", err))?;
        moved += got as u64;
    }
    Ok(moved)
}

/// Writes over the first `len` bytes of `path`: zeros, or random bytes
/// from the kernel (a fresh chunk of them for every write).
pub(crate) async fn overwrite(path: &Path, len: u64, algorithm: WipeAlgorithm, job: &JobCtl) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| io(format!("cannot open {}", path.display()), e))?;
    let f = Arc::new(f);
    let random = match algorithm {
        WipeAlgorithm::Random => {
            Some(Arc::new(std::fs::File::open("/dev/urandom").map_err(|e| io("cannot open /dev/urandom", e))?))
        }
        _ => None,
    };
    job.set_total(len);
    let zeros: Arc<[u8]> = vec![0u8; CHUNK].into();
    let mut at = 0;
    while at < len {
        job.check()?;
        let n = (len - at).min(CHUNK as u64) as usize;
        let (f2, p2, z, r) = (f.clone(), path.to_path_buf(), zeros.clone(), random.clone());
        blocking(move || match r {
            Some(r) => {
                let mut buf = vec![0u8; n];
                std::io::Read::read_exact(&mut &*r, &mut buf).map_err(|e| io("cannot read /dev/urandom", e))?;
                write_all_at(&f2, &p2, &buf, at)
            }
            None => write_all_at(&f2, &p2, &z[..n], at),
        })
        .await?;
        at += n as u64;
        job.set_done(at);
    }
    let p2 = path.to_path_buf();
    blocking(move || sync(&f, &p2)).await
}

/// Allocates `len` bytes of `f` on disk now.
pub(crate) fn allocate(f: &std::fs::File, path: &Path, len: u64) -> Result<()> {
    let len = i64::try_from(len).map_err(|_| Error::new(ErrorKind::InvalidArgument, "the size is too large"))?;
    nix::fcntl::fallocate(f, nix::fcntl::FallocateFlags::empty(), 0, len)
        .map_err(|e| io(format!("cannot allocate {}", path.display()), e.into()).into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ends(from: &Path, to: &Path, from_at: u64, to_at: u64) -> Ends {
        let to = OpenOptions::new().write(true).create(true).truncate(false).open(to).unwrap();
        Ends { from: Arc::new(std::fs::File::open(from).unwrap()), from_at, to: Arc::new(to), to_at }
    }

    #[test]
    fn both_ways_of_copying_move_the_same_bytes() {
        let t = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(CHUNK * 2 + 77)).map(|i| (i % 251) as u8).collect();
        let src = t.path().join("src");
        std::fs::write(&src, &data).unwrap();
        for (name, by_hand) in [("kernel", false), ("hand", true)] {
            let dst = t.path().join(name);
            std::fs::write(&dst, vec![1u8; 10]).unwrap();
            let e = ends(&src, &dst, 5, 3);
            let len = data.len() as u64;
            // Asked for more than the source holds past its start: what it has.
            let n = if by_hand { copy_by_hand(&e, 2, len).unwrap() } else { copy_step(&e, 2, len).unwrap() };
            assert_eq!(n, len - 7, "{name}");
            let got = std::fs::read(&dst).unwrap();
            assert_eq!(&got[..5], &[1u8; 5], "{name}: what lies before the start stays");
            assert!(got[5..] == data[7..], "{name}");
        }
    }
}
