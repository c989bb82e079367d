//! Moving a volume's bytes: as pieces over a channel, or from and to a
//! file. To a daemon on this host a file is handed over (its descriptor
//! passed on the unix socket, see "Handing over a file" in the proto), so
//! its bytes never cross the socket; over TLS or SSH, or when the daemon
//! will not take it, the file is streamed.

use std::fs::File;
use std::future::Future;
use std::io::{IoSlice, Read};
use std::os::fd::AsRawFd;
use std::path::Path;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use uuid::Uuid;
use virtkit_engine::{Piece, Sink, Source};
use virtkit_proto::handoff::{HELLO, MAX_ANSWER};
use virtkit_proto::v1;

use crate::Backend;
use crate::objects::StorageVolume;
use crate::remote::{Remote, status};
use crate::remote_objects::info;
use crate::{Error, ErrorKind, Info, Result, TransferOptions, VolumeInfo};

/// Bytes read per piece of a streamed file: small enough that the daemon's
/// buffer for each is reused from its malloc's arenas (blocks from 256 KiB
/// get pages of their own there, mapped and faulted in afresh each time).
const PIECE: usize = 128 << 10;

fn file_error(path: &Path, e: &std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    };
    Error::new(kind, format!("{}: {e}", path.display()))
}

impl StorageVolume {
    /// Writes what `data` brings into it, from `opts.offset`. A piece that
    /// is an error ends the upload with that error, and the volume is left
    /// as it was (where its pool can: a file; a LUN is written in place).
    pub async fn upload(&self, opts: TransferOptions, data: mpsc::Receiver<Piece>) -> Result<VolumeInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.upload_volume(self.uuid, opts, Source::Pieces(data)).await,
            Backend::Remote(r) => self.vol_info(r.upload_volume(self.uuid, opts, data).await?),
        }
    }

    /// Writes the bytes of `file` (from where it is, at most `opts.length`;
    /// a regular file from its start) into it from `opts.offset`. A pipe or
    /// a device is read as a stream.
    pub async fn upload_from(&self, opts: TransferOptions, file: File) -> Result<VolumeInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) if is_regular(&file) => e.upload_volume(self.uuid, opts, Source::file(file)?).await,
            Backend::Local(e) => {
                upload_streamed(file, opts.length, |rx| e.upload_volume(self.uuid, opts, Source::Pieces(rx))).await
            }
            Backend::Remote(r) => self.vol_info(r.upload_from(self.uuid, opts, file).await?),
        }
    }

    /// Writes the file at `path` into it; see [`StorageVolume::upload_from`].
    pub async fn upload_file(&self, opts: TransferOptions, path: &Path) -> Result<VolumeInfo> {
        let file = File::open(path).map_err(|e| file_error(path, &e))?;
        self.upload_from(opts, file).await
    }

    /// Sends its bytes to `out`, in pieces; returns how many.
    pub async fn download(&self, opts: TransferOptions, out: mpsc::Sender<Vec<u8>>) -> Result<u64> {
        match self.conn.backend() {
            Backend::Local(e) => e.download_volume(self.uuid, opts, Sink::Pieces(out)).await,
            Backend::Remote(r) => r.download_volume(self.uuid, opts, out).await,
        }
    }

    /// Writes its bytes into `file` (a regular file from its start, a pipe
    /// or a device as a stream); how many. As virsh's, the file is not
    /// synced: that is left to the caller.
    pub async fn download_to(&self, opts: TransferOptions, file: File) -> Result<u64> {
        match self.conn.backend() {
            Backend::Local(e) if is_regular(&file) => e.download_volume(self.uuid, opts, Sink::file(file)?).await,
            Backend::Local(e) => {
                download_streamed(file, |tx| e.download_volume(self.uuid, opts, Sink::Pieces(tx))).await
            }
            Backend::Remote(r) => r.download_to(self.uuid, opts, file).await,
        }
    }

    /// Writes its bytes into a file at `path`, made or emptied first.
    pub async fn download_file(&self, opts: TransferOptions, path: &Path) -> Result<u64> {
        let file = File::create(path).map_err(|e| file_error(path, &e))?;
        self.download_to(opts, file).await
    }
}

impl Remote {
    /// Streams what `data` brings: the first message names the volume. An
    /// error piece is sent on as an abort, so the daemon keeps nothing, and
    /// is what this returns once the daemon has ended the upload.
    pub(crate) async fn upload_volume(
        &self,
        vol: Uuid,
        opts: TransferOptions,
        mut data: mpsc::Receiver<Piece>,
    ) -> Result<Info> {
        let first = first_chunk(vol, opts, String::new());
        let (tx, rx) = mpsc::channel(4);
        let forward = async move {
            while let Some(piece) = data.recv().await {
                let chunk = match piece {
                    Ok(data) => v1::UploadChunk { data, ..Default::default() },
                    Err(e) => {
                        let _ = tx.send(v1::UploadChunk { abort: e.to_string(), ..Default::default() }).await;
                        return Err(e);
                    }
                };
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok::<(), Error>(())
        };
        let stream = tokio_stream::once(first).chain(tokio_stream::wrappers::ReceiverStream::new(rx));
        let mut client = self.c();
        let call = client.upload_volume(self.req(stream));
        tokio::pin!(call, forward);
        let mut fed = None;
        loop {
            tokio::select! {
                r = &mut call => return match fed {
                    Some(Err(e)) => Err(e),
                    _ => info(r),
                },
                f = &mut forward, if fed.is_none() => fed = Some(f),
            }
        }
    }

    pub(crate) async fn upload_from(&self, vol: Uuid, opts: TransferOptions, file: File) -> Result<Info> {
        if let Some(token) = self.hand_over(&file).await {
            let stream = tokio_stream::once(first_chunk(vol, opts, token));
            return info(self.c().upload_volume(self.req(stream)).await);
        }
        upload_streamed(file, opts.length, |rx| self.upload_volume(vol, opts, rx)).await
    }

    /// Sends the volume's bytes to `out`; how many.
    pub(crate) async fn download_volume(
        &self,
        vol: Uuid,
        opts: TransferOptions,
        out: mpsc::Sender<Vec<u8>>,
    ) -> Result<u64> {
        let msg = download_request(vol, opts, String::new());
        let mut stream = self.c().download_volume(self.req(msg)).await.map_err(status)?.into_inner();
        let mut n = 0u64;
        while let Some(chunk) = stream.message().await.map_err(status)? {
            n += chunk.data.len() as u64;
            out.send(chunk.data)
                .await
                .map_err(|_| Error::new(ErrorKind::Cancelled, "the download's reader went away"))?;
        }
        Ok(n)
    }

    pub(crate) async fn download_to(&self, vol: Uuid, opts: TransferOptions, file: File) -> Result<u64> {
        let handed = match file.try_clone() {
            Ok(f) => self.hand_over(&f).await,
            Err(_) => None,
        };
        if let Some(token) = handed {
            let msg = download_request(vol, opts, token);
            let mut stream = self.c().download_volume(self.req(msg)).await.map_err(status)?.into_inner();
            let mut n = 0;
            while let Some(chunk) = stream.message().await.map_err(status)? {
                n += chunk.written;
            }
            return Ok(n);
        }
        download_streamed(file, |tx| self.download_volume(vol, opts, tx)).await
    }

    /// Hands `file` to the daemon, when it is on this host; its token, or
    /// `None` to stream instead (why, at debug level).
    async fn hand_over(&self, file: &File) -> Option<String> {
        let socket = self.socket.clone().filter(|_| is_regular(file))?;
        let fd = file.try_clone().ok()?;
        let r = tokio::task::spawn_blocking(move || hand_over(&socket, &fd)).await.ok()?;
        r.map_err(|why| tracing::debug!("streaming instead of handing the file over: {why}")).ok()
    }
}

fn first_chunk(vol: Uuid, opts: TransferOptions, fd_token: String) -> v1::UploadChunk {
    v1::UploadChunk { uuid: vol.to_string(), offset: opts.offset, length: opts.length, fd_token, ..Default::default() }
}

fn download_request(vol: Uuid, opts: TransferOptions, fd_token: String) -> v1::DownloadVolumeRequest {
    v1::DownloadVolumeRequest { uuid: vol.to_string(), offset: opts.offset, length: opts.length, fd_token }
}

/// The handover itself, on a connection of its own: the hello with the
/// descriptor, then the daemon's one line.
fn hand_over(socket: &Path, file: &File) -> std::result::Result<String, String> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| format!("cannot connect: {e}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let fds = [file.as_raw_fd()];
    sendmsg::<()>(s.as_raw_fd(), &[IoSlice::new(HELLO)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut answer = String::new();
    (&mut s).take(MAX_ANSWER as u64).read_to_string(&mut answer).map_err(|e| format!("no answer: {e}"))?;
    let line = answer.strip_suffix('\n').unwrap_or(&answer);
    match line.split_once(' ') {
        Some(("ok", token)) if !token.is_empty() => Ok(token.to_owned()),
        Some(("error", why)) => Err(why.to_owned()),
        _ => Err(format!("the daemon answered {line:?}")),
    }
}

fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.is_file())
}

/// Runs `up` with the pieces of `file` (at most `length` bytes, 0: all),
/// read on a thread of its own.
async fn upload_streamed<T, F>(file: File, length: u64, up: impl FnOnce(mpsc::Receiver<Piece>) -> F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let limit = if length > 0 { length } else { u64::MAX };
    let (rx, reader) = read_pieces(file, limit);
    let r = up(rx).await;
    let _ = reader.await;
    r
}

/// Runs `down`, writing the pieces it sends into `file` on a thread of
/// its own; how many bytes.
async fn download_streamed<F>(file: File, down: impl FnOnce(mpsc::Sender<Vec<u8>>) -> F) -> Result<u64>
where
    F: Future<Output = Result<u64>>,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || {
        let mut sink = std::io::BufWriter::with_capacity(1 << 20, file);
        while let Some(piece) = rx.blocking_recv() {
            std::io::Write::write_all(&mut sink, &piece)?;
        }
        sink.into_inner().map_err(std::io::IntoInnerError::into_error).map(drop)
    });
    let r = down(tx).await;
    let wrote = writer.await.map_err(|e| Error::new(ErrorKind::Internal, format!("the writer was lost: {e}")))?;
    let n = r?;
    wrote.map_err(|e| Error::new(ErrorKind::Io, format!("cannot write the download: {e}")))?;
    Ok(n)
}

/// Reads `file` (at most `limit` bytes) in pieces on a thread of its own,
/// each piece into the buffer that is sent; a failed read is the last
/// piece.
fn read_pieces(file: File, limit: u64) -> (mpsc::Receiver<Piece>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Piece>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut f = file.take(limit);
        loop {
            let mut piece = Vec::with_capacity(PIECE);
            let piece = match (&mut f).take(PIECE as u64).read_to_end(&mut piece) {
                Ok(0) => return,
                Ok(_) => Ok(piece),
                Err(e) => Err(Error::new(ErrorKind::Io, format!("cannot read the file uploaded: {e}"))),
            };
            let failed = piece.is_err();
            if tx.blocking_send(piece).is_err() || failed {
                return;
            }
        }
    });
    (rx, reader)
}
