//! What an upload reads and a download writes: pieces of bytes over a
//! channel (a client's stream), or a file handed over whole (a client on
//! this host passes its descriptor), which a backend may copy in the
//! kernel without the bytes passing through this process.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind, Result};

/// One piece of an upload; an error ends the upload with it (a client's
/// broken stream or failed read), and nothing it wrote is kept.
pub type Piece = Result<Vec<u8>>;

/// Bytes per piece read from or written to a handed file by a backend
/// that cannot copy it in the kernel.
const PIECE: usize = 1 << 20;

/// A file and the part of it a transfer uses: from `at`, at most `left`
/// bytes (for a source, no more than the file holds).
#[derive(Debug, Clone)]
pub struct HandedFile {
    file: Arc<File>,
    at: u64,
    left: Option<u64>,
}

impl HandedFile {
    /// The whole of `file`, from its start: a regular file (read and
    /// written at offsets, which a pipe cannot be).
    pub fn new(file: File) -> Result<Self> {
        let meta = file.metadata().map_err(|e| io_error("read", e))?;
        if !meta.is_file() {
            return Err(Error::new(ErrorKind::InvalidArgument, "a file handed over must be a regular file"));
        }
        Ok(HandedFile { file: Arc::new(file), at: 0, left: None })
    }

    pub fn shared(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Where in the file the transfer is.
    pub fn at(&self) -> u64 {
        self.at
    }

    /// How many more bytes it may move (`None`: no bound).
    pub fn left(&self) -> Option<u64> {
        self.left
    }

    /// Counts `n` bytes moved.
    pub fn advance(&mut self, n: u64) {
        self.at += n;
        self.left = self.left.map(|l| l.saturating_sub(n));
    }

    fn cap(&mut self, n: u64) {
        self.left = Some(self.left.map_or(n, |l| l.min(n)));
    }
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("cannot {what} the file handed over: {e}"))
}

/// Runs file I/O off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("a file operation was lost: {e}")))?
}

/// Where an upload's bytes come from.
#[derive(Debug)]
pub enum Source {
    Pieces(mpsc::Receiver<Piece>),
    File(HandedFile),
}

impl Source {
    /// All of `file`, from its start to its end as it is now.
    pub fn file(file: File) -> Result<Self> {
        let mut f = HandedFile::new(file)?;
        let len = f.file.metadata().map_err(|e| io_error("read", e))?.len();
        f.cap(len);
        Ok(Source::File(f))
    }

    /// Takes at most `n` bytes from a file (pieces are bounded by whoever
    /// writes them).
    pub fn cap(&mut self, n: u64) {
        if let Source::File(f) = self {
            f.cap(n);
        }
    }

    /// How many bytes it holds, when that is known ahead.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Source::Pieces(_) => None,
            Source::File(f) => f.left,
        }
    }

    /// The file, for a backend that copies it whole.
    pub fn as_file(&mut self) -> Option<&mut HandedFile> {
        match self {
            Source::File(f) => Some(f),
            Source::Pieces(_) => None,
        }
    }

    /// The next piece; `None` at the end.
    pub async fn next(&mut self) -> Option<Piece> {
        match self {
            Source::Pieces(rx) => rx.recv().await,
            Source::File(f) => {
                let n = f.left.unwrap_or(PIECE as u64).min(PIECE as u64) as usize;
                if n == 0 {
                    return None;
                }
                let (file, at) = (f.file.clone(), f.at);
                let r = blocking(move || {
                    let mut buf = vec![0; n];
                    let got = file.read_at(&mut buf, at).map_err(|e| io_error("read", e))?;
                    buf.truncate(got);
                    Ok(buf)
                })
                .await;
                match r {
                    Ok(buf) if buf.is_empty() => None,
                    Ok(buf) => {
                        f.advance(buf.len() as u64);
                        Some(Ok(buf))
                    }
                    Err(e) => Some(Err(e)),
                }
            }
        }
    }

    /// A piece that has already come, if any (pieces only: a file is read
    /// when asked).
    pub fn try_next(&mut self) -> Option<Piece> {
        match self {
            Source::Pieces(rx) => rx.try_recv().ok(),
            Source::File(_) => None,
        }
    }
}

/// Where a download's bytes go.
#[derive(Debug)]
pub enum Sink {
    Pieces(mpsc::Sender<Vec<u8>>),
    File(HandedFile),
}

impl Sink {
    /// Into `file`, from its start.
    pub fn file(file: File) -> Result<Self> {
        HandedFile::new(file).map(Sink::File)
    }

    /// The file, for a backend that copies into it whole.
    pub fn as_file(&mut self) -> Option<&mut HandedFile> {
        match self {
            Sink::File(f) => Some(f),
            Sink::Pieces(_) => None,
        }
    }

    /// Passes on one piece.
    pub async fn send(&mut self, buf: Vec<u8>) -> Result<()> {
        match self {
            Sink::Pieces(tx) => {
                tx.send(buf).await.map_err(|_| Error::new(ErrorKind::Cancelled, "the download's reader went away"))
            }
            Sink::File(f) => {
                let (file, at, n) = (f.file.clone(), f.at, buf.len() as u64);
                blocking(move || file.write_all_at(&buf, at).map_err(|e| io_error("write", e))).await?;
                f.advance(n);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn a_file_is_read_in_pieces_up_to_its_cap() {
        let mut t = tempfile::tempfile().unwrap();
        t.write_all(&vec![7u8; PIECE + 10]).unwrap();
        let mut s = Source::file(t).unwrap();
        assert_eq!(s.known_len(), Some(PIECE as u64 + 10));
        s.cap(PIECE as u64 + 4);
        assert_eq!(s.next().await.unwrap().unwrap().len(), PIECE);
        assert_eq!(s.next().await.unwrap().unwrap(), vec![7u8; 4]);
        assert!(s.next().await.is_none());
        assert!(s.try_next().is_none());
    }

    #[tokio::test]
    async fn pieces_pass_their_errors_on() {
        let (tx, rx) = mpsc::channel(2);
        tx.send(Ok(vec![1])).await.unwrap();
        tx.send(Err(Error::new(ErrorKind::Cancelled, "broken"))).await.unwrap();
        drop(tx);
        let mut s = Source::Pieces(rx);
        assert_eq!(s.known_len(), None);
        assert_eq!(s.next().await.unwrap().unwrap(), vec![1]);
        assert_eq!(s.try_next().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn a_sink_file_is_written_in_order() {
        let t = tempfile::NamedTempFile::new().unwrap();
        let mut s = Sink::file(t.reopen().unwrap()).unwrap();
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(
            Source::file(File::from(std::os::fd::OwnedFd::from(r))).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        s.send(b"ab".to_vec()).await.unwrap();
        s.send(b"cd".to_vec()).await.unwrap();
        assert_eq!(s.as_file().unwrap().at(), 4);
        assert_eq!(std::fs::read(t.path()).unwrap(), b"abcd");
    }
}
