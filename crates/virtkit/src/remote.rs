//! The client side of virtkitd: gRPC over a unix socket, TLS or an SSH
//! tunnel. The same calls as the in-process engine, on the wire.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint};
use virtkit_proto::convert;
use virtkit_proto::v1;
use virtkit_proto::v1::virtkit_client::VirtkitClient;

use crate::{
    Capabilities, CreateOptions, DefineOptions, DomainInfo, DomainList, Error, ErrorKind, Event, HostInfo, InfoOptions,
    ListOptions, Result, ShutdownMode, UndefineOptions, Uri,
};

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Unix(PathBuf),
    Tls { host: String, port: u16, pki: PathBuf },
    Ssh { target: String, port: Option<u16>, command: String, args: Vec<String> },
}

#[derive(Clone)]
pub(crate) struct Remote {
    client: VirtkitClient<Channel>,
    /// The driver URI the daemon serves this connection with.
    target: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    pub(crate) read_only: bool,
    /// The daemon's version.
    pub(crate) version: crate::Version,
    /// The daemon's unix socket, when it is on this host (files are handed
    /// over on it).
    pub(crate) socket: Option<PathBuf>,
    /// What the daemon's driver met when it opened (its hello says).
    pub(crate) warnings: Vec<String>,
}

/// An error from the daemon (or from losing it).
pub(crate) fn status(s: tonic::Status) -> Error {
    convert::status_from(&s)
}

impl Remote {
    pub(crate) async fn connect(uri: &Uri, transport: Transport) -> Result<Remote> {
        // The authority is not used to route: the connector decides.
        let endpoint = Endpoint::from_static("http://virtkitd")
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(false)
            // Replies of a few MiB (a list of thousands) need no window updates.
            .initial_stream_window_size(virtkit_proto::WINDOW)
            .initial_connection_window_size(virtkit_proto::WINDOW)
            .max_frame_size(virtkit_proto::FRAME);
        let shown = match &transport {
            Transport::Unix(p) => p.display().to_string(),
            Transport::Tls { host, port, .. } => format!("{host}:{port}"),
            Transport::Ssh { target, .. } => format!("ssh {target}"),
        };
        let channel = match transport.clone() {
            Transport::Unix(path) => {
                let shown = path.display().to_string();
                endpoint
                    .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                        let path = path.clone();
                        async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
                    }))
                    .await
                    .map_err(|e| connect_error(&shown, &e))?
            }
            Transport::Tls { host, port, pki } => {
                let config = Arc::new(crate::tls::client_config(&pki)?);
                let shown = format!("{host}:{port}");
                endpoint
                    .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                        let (host, config) = (host.clone(), config.clone());
                        async move {
                            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                            tcp.set_nodelay(true)?;
                            let name = rustls_pki_types::ServerName::try_from(host.clone())
                                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                            let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(tls))
                        }
                    }))
                    .await
                    .map_err(|e| connect_error(&shown, &e))?
            }
            Transport::Ssh { target, port, command, args } => {
                let shown = target.clone();
                endpoint
                    .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                        let (target, command, args) = (target.clone(), command.clone(), args.clone());
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(SshStream::spawn(&target, port, &command, &args)?))
                        }
                    }))
                    .await
                    .map_err(|e| connect_error(&format!("ssh {shown}"), &e))?
            }
        };
        let client = VirtkitClient::new(channel)
            .max_decoding_message_size(virtkit_proto::MAX_MESSAGE)
            .max_encoding_message_size(virtkit_proto::MAX_MESSAGE);
        let target_uri = format!("{}://{}", uri.driver, uri.path);
        let target = target_uri.parse().map_err(|_| {
            Error::new(ErrorKind::InvalidArgument, format!("'{target_uri}' cannot be sent to a daemon"))
        })?;
        let socket = match &transport {
            Transport::Unix(p) => Some(p.clone()),
            _ => None,
        };
        let mut remote = Remote {
            client,
            target,
            read_only: false,
            version: crate::Version::new(0, 0, 0),
            warnings: Vec::new(),
            socket,
        };
        let hello = match remote.client.clone().hello(remote.req(v1::HelloRequest {})).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                let e = status(s.clone());
                if e.kind() != ErrorKind::Disconnected {
                    return Err(e);
                }
                // A daemon refusing a client (over its client limit, or a
                // TLS certificate it does not accept) closes the connection
                // after it is made: often the first call is what fails.
                return Err(closed_error(&shown, &source_text(&s)));
            }
        };
        remote.read_only = hello.read_only;
        remote.warnings = hello.warnings;
        let mut parts = hello.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        remote.version = crate::Version::new(next(), next(), next());
        Ok(remote)
    }

    pub(crate) fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert(virtkit_proto::URI_METADATA, self.target.clone());
        r
    }

    pub(crate) fn c(&self) -> VirtkitClient<Channel> {
        self.client.clone()
    }

    pub(crate) async fn capabilities(&self) -> Result<Capabilities> {
        let r = self.c().get_capabilities(self.req(v1::GetCapabilitiesRequest {})).await.map_err(status)?;
        Ok(convert::caps_from(r.into_inner()))
    }

    pub(crate) async fn host_info(&self) -> Result<HostInfo> {
        let r = self.c().get_host_info(self.req(v1::GetHostInfoRequest {})).await.map_err(status)?;
        Ok(convert::host_from(r.into_inner()))
    }

    pub(crate) async fn to_native(&self, format: &str, xml: String) -> Result<String> {
        let msg = v1::DomainXmlToNativeRequest { format: format.to_owned(), xml };
        Ok(self.c().domain_xml_to_native(self.req(msg)).await.map_err(status)?.into_inner().native)
    }

    pub(crate) async fn define(&self, xml: String, opts: DefineOptions) -> Result<DomainInfo> {
        let msg = v1::DefineDomainRequest { xml, expected_generation: opts.expected_generation };
        let r = self.c().define_domain(self.req(msg)).await.map_err(status)?;
        convert::info_from(r.into_inner())
    }

    pub(crate) async fn create(&self, xml: String, opts: CreateOptions) -> Result<DomainInfo> {
        let msg = v1::CreateDomainRequest { xml, paused: opts.paused };
        let r = self.c().create_domain(self.req(msg)).await.map_err(status)?;
        convert::info_from(r.into_inner())
    }

    pub(crate) async fn lookup(&self, key: &str) -> Result<DomainInfo> {
        let r =
            self.c().lookup_domain(self.req(v1::LookupDomainRequest { key: key.to_owned() })).await.map_err(status)?;
        convert::info_from(r.into_inner())
    }

    pub(crate) async fn list(&self, opts: ListOptions) -> Result<DomainList> {
        let msg = v1::ListDomainsRequest {
            states: opts.states.iter().map(|s| convert::state_to(*s)).collect(),
            active: opts.active,
            persistent: opts.persistent,
            stats: opts.stats,
        };
        let r = self.c().list_domains(self.req(msg)).await.map_err(status)?;
        convert::list_from(r.into_inner())
    }

    pub(crate) async fn info(&self, uuid: uuid::Uuid, opts: InfoOptions) -> Result<DomainInfo> {
        let msg = v1::GetDomainInfoRequest { uuid: uuid.to_string(), stats: opts.stats };
        let r = self.c().get_domain_info(self.req(msg)).await.map_err(status)?;
        convert::info_from(r.into_inner())
    }

    pub(crate) async fn xml(&self, uuid: uuid::Uuid, opts: &crate::XmlOptions) -> Result<String> {
        let msg = v1::GetDomainXmlRequest { uuid: uuid.to_string(), inactive: opts.inactive, secure: opts.secure };
        Ok(self.c().get_domain_xml(self.req(msg)).await.map_err(status)?.into_inner().xml)
    }

    pub(crate) async fn stats(&self, uuid: uuid::Uuid) -> Result<Option<crate::DomainStats>> {
        let msg = v1::GetDomainStatsRequest { uuid: uuid.to_string() };
        Ok(self.c().get_domain_stats(self.req(msg)).await.map_err(status)?.into_inner().stats.map(convert::stats_from))
    }

    pub(crate) async fn start(&self, uuid: uuid::Uuid, paused: bool) -> Result<()> {
        let msg = v1::StartDomainRequest { uuid: uuid.to_string(), paused };
        self.c().start_domain(self.req(msg)).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn shutdown(&self, uuid: uuid::Uuid, mode: ShutdownMode, timeout: Option<Duration>) -> Result<()> {
        let msg = v1::ShutdownDomainRequest {
            uuid: uuid.to_string(),
            mode: mode.as_str().to_owned(),
            timeout_ms: timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)),
        };
        self.c().shutdown_domain(self.req(msg)).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn power_off(&self, uuid: uuid::Uuid) -> Result<()> {
        self.c()
            .power_off_domain(self.req(v1::PowerOffDomainRequest { uuid: uuid.to_string() }))
            .await
            .map_err(status)?;
        Ok(())
    }

    pub(crate) async fn reboot(&self, uuid: uuid::Uuid, mode: ShutdownMode) -> Result<()> {
        let msg = v1::RebootDomainRequest { uuid: uuid.to_string(), mode: mode.as_str().to_owned() };
        self.c().reboot_domain(self.req(msg)).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn reset(&self, uuid: uuid::Uuid) -> Result<()> {
        self.c().reset_domain(self.req(v1::ResetDomainRequest { uuid: uuid.to_string() })).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn suspend(&self, uuid: uuid::Uuid) -> Result<()> {
        self.c().suspend_domain(self.req(v1::SuspendDomainRequest { uuid: uuid.to_string() })).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn resume(&self, uuid: uuid::Uuid) -> Result<()> {
        self.c().resume_domain(self.req(v1::ResumeDomainRequest { uuid: uuid.to_string() })).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn undefine(&self, uuid: uuid::Uuid, opts: &UndefineOptions) -> Result<()> {
        let msg = v1::UndefineDomainRequest { uuid: uuid.to_string(), expected_generation: opts.expected_generation };
        self.c().undefine_domain(self.req(msg)).await.map_err(status)?;
        Ok(())
    }

    pub(crate) async fn set_autostart(&self, uuid: uuid::Uuid, enabled: bool) -> Result<()> {
        let msg = v1::SetAutostartRequest { uuid: uuid.to_string(), enabled };
        self.c().set_autostart(self.req(msg)).await.map_err(status)?;
        Ok(())
    }

    /// A console through the daemon: a local byte stream whose two ends
    /// are pumped to and from the call's streams.
    pub(crate) async fn open_console(&self, uuid: uuid::Uuid, device: Option<&str>) -> Result<crate::Console> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (in_tx, in_rx) = tokio::sync::mpsc::channel(16);
        let first = v1::ConsoleInput {
            uuid: uuid.to_string(),
            device: device.unwrap_or_default().to_owned(),
            data: Vec::new(),
        };
        in_tx.try_send(first).map_err(|_| Error::new(ErrorKind::Internal, "console request not queued"))?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(in_rx);
        let mut output = self.c().open_console(self.req(stream)).await.map_err(status)?.into_inner();
        let (user, ours) = tokio::io::duplex(64 << 10);
        let (mut from_user, mut to_user) = tokio::io::split(ours);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                match from_user.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let msg = v1::ConsoleInput { data: buf[..n].to_vec(), ..Default::default() };
                        if in_tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Ok(Some(m)) = output.message().await {
                if to_user.write_all(&m.data).await.is_err() {
                    break;
                }
            }
            let _ = to_user.shutdown().await;
        });
        Ok(Box::new(user))
    }

    pub(crate) async fn watch(
        &self,
        from_revision: Option<u64>,
        kinds: Vec<crate::ObjectKind>,
    ) -> Result<RemoteEvents> {
        let kinds: Vec<i32> = kinds.into_iter().map(virtkit_proto::objects::kind_to).collect();
        let (stream, start) = self.open_watch(from_revision, &kinds).await?;
        Ok(RemoteEvents { remote: self.clone(), stream, revision: start.or(from_revision), buffered: None, kinds })
    }

    /// The stream, and the revision it starts after (as the daemon says).
    async fn open_watch(
        &self,
        from_revision: Option<u64>,
        kinds: &[i32],
    ) -> Result<(tonic::Streaming<v1::Event>, Option<u64>)> {
        let msg = v1::WatchRequest { from_revision, kinds: kinds.to_vec() };
        let resp = self.c().watch(self.req(msg)).await.map_err(status)?;
        let start =
            resp.metadata().get(virtkit_proto::REVISION_METADATA).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        Ok((resp.into_inner(), start))
    }
}

/// Events from a daemon. When the connection drops, the next call
/// reconnects once and resumes after the last revision delivered; if that
/// fails, it is a `Disconnected` error (watch again later from
/// [`RemoteEvents::revision`]).
pub(crate) struct RemoteEvents {
    remote: Remote,
    stream: tonic::Streaming<v1::Event>,
    /// The last revision delivered (or asked to start after).
    revision: Option<u64>,
    /// An event read by `try_next`'s probe, not yet delivered.
    buffered: Option<Event>,
    /// Only these kinds (wire values; empty: every kind).
    kinds: Vec<i32>,
}

impl RemoteEvents {
    pub(crate) fn revision(&self) -> u64 {
        self.revision.unwrap_or(0)
    }

    fn deliver(&mut self, e: v1::Event) -> Result<Event> {
        let e = convert::event_from(e)?;
        self.revision = Some(e.revision);
        Ok(e)
    }

    pub(crate) async fn next(&mut self) -> Result<Event> {
        if let Some(e) = self.buffered.take() {
            return Ok(e);
        }
        match self.stream.message().await {
            Ok(Some(e)) => return self.deliver(e),
            Ok(None) => {}
            Err(s) => {
                let e = status(s);
                if e.kind() != ErrorKind::Disconnected {
                    return Err(e);
                }
            }
        }
        // The daemon went away: once more, from the last revision seen. A
        // daemon restarted since answers revision-gone (list again).
        let from = self.revision;
        self.stream = self.remote.open_watch(from, &self.kinds).await?.0;
        match self.stream.message().await {
            Ok(Some(e)) => self.deliver(e),
            Ok(None) => Err(Error::new(ErrorKind::Disconnected, "the daemon closed the event stream")),
            Err(s) => Err(status(s)),
        }
    }

    pub(crate) fn try_next(&mut self) -> Result<Option<Event>> {
        if let Some(e) = self.buffered.take() {
            return Ok(Some(e));
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let polled = {
            let fut = self.stream.message();
            let mut fut = std::pin::pin!(fut);
            fut.as_mut().poll(&mut cx)
        };
        match polled {
            Poll::Ready(Ok(Some(e))) => Ok(Some(self.deliver(e)?)),
            Poll::Ready(Ok(None)) => Err(Error::new(ErrorKind::Disconnected, "the daemon closed the event stream")),
            Poll::Ready(Err(s)) => Err(status(s)),
            Poll::Pending => Ok(None),
        }
    }
}

impl std::fmt::Debug for RemoteEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEvents").field("revision", &self.revision).finish_non_exhaustive()
    }
}

/// The connection was made and then closed by the daemon.
fn closed_error(shown: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Disconnected,
        format!(
            "virtkitd at {shown} closed the connection before answering ({why}): it refuses clients over its limit \
             and certificates it does not accept, and its log says why"
        ),
    )
}

/// A connection that could not be made, or was closed by the daemon as it
/// was made (the HTTP/2 greeting met a closed socket).
fn connect_error(shown: &str, e: &(dyn std::error::Error + 'static)) -> Error {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return closed_error(shown, &io.to_string());
        }
        cur = err.source();
    }
    Error::new(ErrorKind::Disconnected, format!("cannot connect to virtkitd at {shown}: {}", source_text(e)))
}

/// The innermost cause of a transport error, which says what happened.
fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        last = s.to_string();
        cur = s.source();
    }
    last
}

/// `ssh [-p PORT] TARGET COMMAND proxy …`: gRPC over its stdio,
/// so ssh_config, agents and known_hosts apply as they do for ssh.
struct SshStream {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl SshStream {
    fn spawn(target: &str, port: Option<u16>, command: &str, args: &[String]) -> std::io::Result<SshStream> {
        let ssh = std::env::var_os("VIRTKIT_SSH").unwrap_or_else(|| "ssh".into());
        let mut cmd = tokio::process::Command::new(ssh);
        cmd.arg("-T").arg("-e").arg("none").arg("-o").arg("BatchMode=yes");
        if let Some(p) = port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg("--").arg(target).arg(command).args(args);
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(SshStream { child, stdin, stdout })
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl AsyncRead for SshStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
