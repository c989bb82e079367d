//! Listeners: the read-write and read-only unix sockets and TCP with
//! mutual TLS. Each accepted connection becomes an [`Io`] carrying who the
//! peer is ([`Peer`], which every call sees), its place among the clients
//! of its kind ([`Slot`]; see [`Admission`]), and what it may hold
//! ([`Client`]). A client with no call or stream open for the idle time is
//! dropped.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::transport::server::Connected;

use crate::authority::Mender;
use crate::dn::DnPatterns;
use crate::handoff::{self, Handoffs};
use crate::limits::{Client, PerClient};
use crate::tls;

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) read_only: bool,
    pub(crate) kind: PeerKind,
    /// What this client may hold.
    pub(crate) client: Arc<Client>,
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
    /// A unix socket, read through the mending of `:authority`.
    Unix(UnixStream, Box<Mending>),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// What a unix-socket client sent, mended, not yet read by HTTP/2.
#[derive(Default)]
struct Mending {
    mender: Mender,
    out: Vec<u8>,
    pos: usize,
}

impl Mending {
    fn poll_read(&mut self, s: &mut UnixStream, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.remaining().min(self.out.len() - self.pos);
                buf.put_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            self.out.clear();
            self.pos = 0;
            let mut raw = [0u8; 16 << 10];
            let mut rb = ReadBuf::new(&mut raw);
            match Pin::new(&mut *s).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => self.mender.feed(rb.filled(), &mut self.out),
                other => return other,
            }
            // Bytes held back (a header block not yet whole): read on.
        }
    }
}

/// An accepted connection.
pub(crate) struct Io {
    stream: Stream,
    peer: Peer,
    _slot: Slot,
    /// When to look again whether the client is idle.
    idle_check: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Io {
    fn new(stream: Stream, peer: Peer, slot: Slot) -> Io {
        let idle_check = peer.client.idle.map(|d| Box::pin(tokio::time::sleep(d)));
        Io { stream, peer, _slot: slot, idle_check }
    }

    /// An error once the client has had nothing open for the idle time:
    /// the server then drops the connection.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let (Some(check), Some(idle)) = (&mut self.idle_check, self.peer.client.idle) else { return Ok(()) };
        while check.as_mut().poll(cx).is_ready() {
            let wait = match self.peer.client.idle_for() {
                Some(d) if d >= idle => {
                    tracing::info!(peer = %self.peer, "dropped: idle for {}s", idle.as_secs());
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle client"));
                }
                Some(d) => idle - d,
                None => idle,
            };
            check.as_mut().reset(tokio::time::Instant::now() + wait);
        }
        Ok(())
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        tracing::info!(peer = %self.peer, "client gone");
    }
}

impl Connected for Io {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Io {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_idle(cx)?;
        match &mut self.stream {
            Stream::Unix(s, m) => m.poll_read(s, cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Unix(s, _) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Unix(s, _) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Unix(s, _) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Which listener a client came in by: each kind has its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ReadWrite,
    ReadOnly,
    Tls,
}

/// The limits on clients, and who holds a place.
#[derive(Debug)]
pub(crate) struct Admission {
    read_write: Arc<Semaphore>,
    read_only: Arc<Semaphore>,
    tls: Arc<Semaphore>,
    /// TLS handshakes under way (a client takes a place of its kind only
    /// once its handshake and name check are done).
    handshakes: Arc<Semaphore>,
    pub(crate) handshake_timeout: Duration,
    /// Unix clients of each uid but root, over both sockets.
    per_uid: Mutex<HashMap<u32, usize>>,
    max_per_uid: usize,
    /// Clients connected now.
    open: AtomicUsize,
    pub(crate) per_client: PerClient,
}

/// The numbers [`Admission`] enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLimits {
    pub(crate) read_write: usize,
    pub(crate) read_only: usize,
    pub(crate) tls: usize,
    pub(crate) tls_handshakes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) per_uid: usize,
    pub(crate) per_client: PerClient,
}

/// A client's place; given back when the connection is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    uid: Option<u32>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(uid) = self.uid {
            let mut m = self.admission.per_uid.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = m.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&uid);
                }
            }
        }
        self.admission.open.fetch_sub(1, Ordering::SeqCst);
        crate::memory::client_gone();
    }
}

impl Admission {
    pub(crate) fn new(l: ClientLimits) -> Arc<Admission> {
        Arc::new(Admission {
            read_write: Arc::new(Semaphore::new(l.read_write)),
            read_only: Arc::new(Semaphore::new(l.read_only)),
            tls: Arc::new(Semaphore::new(l.tls)),
            handshakes: Arc::new(Semaphore::new(l.tls_handshakes)),
            handshake_timeout: l.handshake_timeout,
            per_uid: Mutex::new(HashMap::new()),
            max_per_uid: l.per_uid,
            open: AtomicUsize::new(0),
            per_client: l.per_client,
        })
    }

    /// Clients connected now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// A place for one more client of `kind` (of `uid`, for unix ones), or
    /// `None` (and a log line) at a limit.
    fn admit(self: &Arc<Self>, kind: Kind, uid: Option<u32>, who: &dyn std::fmt::Display) -> Option<Slot> {
        let sem = match kind {
            Kind::ReadWrite => &self.read_write,
            Kind::ReadOnly => &self.read_only,
            Kind::Tls => &self.tls,
        };
        let Ok(permit) = sem.clone().try_acquire_owned() else {
            tracing::warn!(peer = %who, "refused: too many clients");
            return None;
        };
        // Root is bounded by the limits of each kind only.
        let uid = uid.filter(|u| *u != 0);
        if let Some(u) = uid {
            let mut m = self.per_uid.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = m.entry(u).or_insert(0);
            if *n >= self.max_per_uid {
                tracing::warn!(peer = %who, "refused: too many clients of uid {u}");
                return None;
            }
            *n += 1;
        }
        self.open.fetch_add(1, Ordering::SeqCst);
        Some(Slot { admission: self.clone(), uid, _permit: permit })
    }

    /// A place for one more TLS handshake, or `None` (and a log line).
    fn handshake(&self, who: &dyn std::fmt::Display) -> Option<OwnedSemaphorePermit> {
        let p = self.handshakes.clone().try_acquire_owned().ok();
        if p.is_none() {
            tracing::warn!(peer = %who, "refused: too many tls handshakes at once");
        }
        p
    }
}

/// Where accepted connections go, and who may come in.
#[derive(Clone)]
pub(crate) struct Accepted {
    pub(crate) tx: mpsc::Sender<io::Result<Io>>,
    pub(crate) admission: Arc<Admission>,
    /// Files handed over on the unix sockets.
    pub(crate) handoffs: Arc<Handoffs>,
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
        let theirs = match kind {
            PeerKind::Unix { uid, .. } => uid,
            PeerKind::Tls { .. } => continue,
        };
        let peer = Peer { read_only, kind, client: Client::new(out.admission.per_client) };
        if let Some(uid) = only_uid
            && uid != theirs
            && theirs != 0
        {
            tracing::warn!(%peer, "refused: another user's session daemon");
            continue;
        }
        // Each connection is looked at on its own: a handover, or gRPC.
        let (out, shown) = (out.clone(), path.display().to_string());
        tokio::spawn(async move {
            if handoff::is_handover(&s).await {
                return handoff::serve(s, theirs, &out.handoffs).await;
            }
            let which = if read_only { Kind::ReadOnly } else { Kind::ReadWrite };
            let Some(slot) = out.admission.admit(which, Some(theirs), &peer) else { return };
            tracing::info!(%peer, socket = %shown, "client connected");
            let _ = out.tx.send(Ok(Io::new(Stream::Unix(s, Box::default()), peer, slot))).await;
        });
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
        // The handshake takes a place of its own, for a bounded time: a
        // connection that never finishes one holds no client's place.
        let Some(handshake) = out.admission.handshake(&addr) else { continue };
        let (acceptor, allowed, out) = (acceptor.clone(), allowed.clone(), out.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let deadline = out.admission.handshake_timeout;
            let tls = match tokio::time::timeout(deadline, acceptor.accept(tcp)).await {
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
                tracing::warn!(%addr, %dn, "refused: client name not on the allow-list");
                return;
            }
            drop(handshake);
            let peer = Peer {
                read_only: false,
                kind: PeerKind::Tls { addr, dn: dn.to_string() },
                client: Client::new(out.admission.per_client),
            };
            let Some(slot) = out.admission.admit(Kind::Tls, None, &peer) else { return };
            tracing::info!(%peer, "client connected");
            let _ = out.tx.send(Ok(Io::new(Stream::Tls(Box::new(tls)), peer, slot))).await;
        });
    }
}
