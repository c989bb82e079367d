//! Files in a pool's directory: the temporary names volumes are made
//! under, and moving bytes in and out of them.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::{Error, ErrorKind, JobCtl, Result};

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

/// Writes the chunks from `data` into `path` from `offset` (at most up to
/// `limit`), reporting on `job`; returns the end written.
pub(crate) async fn receive(
    path: &Path,
    offset: u64,
    limit: Option<u64>,
    data: &mut mpsc::Receiver<Vec<u8>>,
    job: &JobCtl,
) -> Result<u64> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| io(format!("cannot open {}", path.display()), e))?;
    let f = Arc::new(f);
    let mut at = offset;
    loop {
        let chunk = tokio::select! {
            c = data.recv() => c,
            () = job.cancelled() => return Err(cancelled(job)),
        };
        let Some(chunk) = chunk else { break };
        // What has come meanwhile goes in the same trip to a blocking thread.
        let mut n = chunk.len() as u64;
        let mut batch = vec![chunk];
        while n < BATCH {
            let Ok(more) = data.try_recv() else { break };
            n += more.len() as u64;
            batch.push(more);
        }
        let end = at + n;
        if let Some(limit) = limit
            && end > limit
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the upload is longer than the {} bytes asked for", limit - offset),
            ));
        }
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
    let p2 = path.to_path_buf();
    blocking(move || sync(&f, &p2)).await?;
    Ok(at)
}

/// Sends the bytes of `path` in `[offset, end)` to `out`.
pub(crate) async fn send(path: &Path, offset: u64, end: u64, out: &mpsc::Sender<Vec<u8>>, job: &JobCtl) -> Result<u64> {
    let f = Arc::new(std::fs::File::open(path).map_err(|e| io(format!("cannot open {}", path.display()), e))?);
    job.set_total(end.saturating_sub(offset));
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
        out.send(buf).await.map_err(|_| Error::new(ErrorKind::Cancelled, "the download's reader went away"))?;
        job.add_done(got as u64);
        at += got as u64;
    }
    Ok(at - offset)
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
