//! Listeners: the read-write and read-only unix sockets and TCP with
//! mutual TLS. Each accepted connection becomes an [`Io`] carrying who the
//! peer is ([`Peer`], which every call sees) and a permit that bounds the
//! number of clients.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::transport::server::Connected;

use crate::tls::{self, DnPatterns};

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) read_only: bool,
    pub(crate) kind: PeerKind,
}

#[derive(Debug, Clone)]
pub(crate) enum PeerKind {
    Unix { pid: Option<i32>, uid: u32, gid: u32 },
    Tls { addr: std::net::SocketAddr, dn: String },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            PeerKind::Unix { pid, uid, gid } => {
                write!(f, "unix pid={} uid={uid} gid={gid}", pid.map_or_else(|| "?".to_owned(), |p| p.to_string()))?
            }
            PeerKind::Tls { addr, dn } => write!(f, "tls {addr} dn='{dn}'")?,
        }
        if self.read_only {
            f.write_str(" read-only")?;
        }
        Ok(())
    }
}

enum Stream {
    Unix(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection.
pub(crate) struct Io {
    stream: Stream,
    peer: Peer,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Io {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where accepted connections go, and the bound on how many are open.
#[derive(Clone)]
pub(crate) struct Accepted {
    pub(crate) tx: mpsc::Sender<io::Result<Io>>,
    pub(crate) clients: Arc<Semaphore>,
}

impl Accepted {
    /// A permit for one more client, or `None` (and a log line) at the limit.
    fn permit(&self, who: &dyn std::fmt::Display) -> Option<OwnedSemaphorePermit> {
        match self.clients.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                tracing::warn!(peer = %who, "refused: too many clients");
                None
            }
        }
    }
}

/// Binds a unix socket with `mode`, replacing a stale socket file (one
/// nothing answers on); a live one means another daemon: an error.
pub(crate) fn bind_unix(path: &Path, mode: u32, group: Option<u32>) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("{} is in use by another daemon", path.display());
        }
        std::fs::remove_file(path).map_err(|e| anyhow::anyhow!("cannot remove stale {}: {e}", path.display()))?;
    }
    let l = UnixListener::bind(path).map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", path.display()))?;
    if let Some(g) = group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(g)))
            .map_err(|e| anyhow::anyhow!("cannot give {} to group {g}: {e}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot set the mode of {}: {e}", path.display()))?;
    Ok(l)
}

/// Accepts on a unix socket until the receiver goes away. `only_uid`: refuse
/// other users (the session daemon).
pub(crate) async fn serve_unix(l: UnixListener, path: PathBuf, read_only: bool, only_uid: Option<u32>, out: Accepted) {
    loop {
        let (s, _) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(socket = %path.display(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let kind = match s.peer_cred() {
            Ok(c) => PeerKind::Unix { pid: c.pid(), uid: c.uid(), gid: c.gid() },
            Err(e) => {
                tracing::warn!(socket = %path.display(), "refused: no peer credentials: {e}");
                continue;
            }
        };
        let peer = Peer { read_only, kind };
        if let (Some(uid), PeerKind::Unix { uid: theirs, .. }) = (only_uid, &peer.kind)
            && uid != *theirs
            && *theirs != 0
        {
            tracing::warn!(%peer, "refused: another user's session daemon");
            continue;
        }
        let Some(permit) = out.permit(&peer) else { continue };
        tracing::info!(%peer, socket = %path.display(), "client connected");
        if out.tx.send(Ok(Io { stream: Stream::Unix(s), peer, _permit: permit })).await.is_err() {
            return;
        }
    }
}

/// Accepts TLS clients: the handshake (which needs a client certificate
/// from the configured CA) and the subject-name check happen here, each in
/// its own task, before the connection reaches the gRPC server.
pub(crate) async fn serve_tls(
    l: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    allowed: Arc<DnPatterns>,
    out: Accepted,
) {
    loop {
        let (tcp, addr) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("tls accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = out.permit(&addr) else { continue };
        let (acceptor, allowed, out) = (acceptor.clone(), allowed.clone(), out.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::warn!(%addr, "refused: tls handshake: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%addr, "refused: tls handshake timed out");
                    return;
                }
            };
            let dn = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                Some(cert) => match tls::subject(cert) {
                    Ok(dn) => dn,
                    Err(e) => {
                        tracing::warn!(%addr, "refused: {e}");
                        return;
                    }
                },
                None => {
                    tracing::warn!(%addr, "refused: no client certificate");
                    return;
                }
            };
            if !allowed.allows(&dn) {
                tracing::warn!(%addr, dn, "refused: client name not on the allow-list");
                return;
            }
            let peer = Peer { read_only: false, kind: PeerKind::Tls { addr, dn } };
            tracing::info!(%peer, "client connected");
            let _ = out.tx.send(Ok(Io { stream: Stream::Tls(Box::new(tls)), peer, _permit: permit })).await;
        });
    }
}
