//! The gRPC service: each call finds the connection its `virtkit-uri`
//! names, checks what the caller may do, and runs it through the public
//! client library (in process, so the daemon knows no hypervisor).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use virtkit::{Connection, Domain, Error, ErrorKind};
use virtkit_proto::convert;
use virtkit_proto::v1;
use virtkit_proto::v1::virtkit_server::Virtkit;

use crate::cpu::Cpu;
use crate::handoff::Handoffs;
use crate::listen::{Peer, PeerKind};

/// The daemon's drivers, by the URI clients name them with.
#[derive(Debug)]
pub(crate) struct Service {
    targets: HashMap<String, Connection>,
    /// Becomes true when the daemon stops: event streams end.
    stopping: watch::Receiver<bool>,
    /// Added to every revision this daemon shows: above any revision an
    /// earlier daemon on the same state showed, so that a client resuming
    /// events after a restart is told to list again (revision-gone)
    /// instead of being handed a counter that started over.
    base: u64,
    /// Where documents are read and written.
    cpu: Cpu,
    /// Files handed over, for uploads and downloads to name.
    handoffs: Arc<Handoffs>,
}

pub(crate) fn status(e: Error) -> Status {
    convert::status_to(&e)
}

/// A request field that does not hold what it should: the caller's fault,
/// said with the field's name.
pub(crate) fn bad_field(field: &str, problem: impl std::fmt::Display) -> Status {
    status(Error::new(ErrorKind::InvalidArgument, format!("{field}: {problem}")))
}

/// The UUID a request names in `field`.
fn uuid_field(field: &str, value: &str) -> Result<(), Status> {
    convert::uuid(value).map(drop).map_err(|e| bad_field(field, e.message()))
}

/// Whether a call changes something (refused on read-only connections).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Service {
    pub(crate) fn new(
        targets: HashMap<String, Connection>,
        stopping: watch::Receiver<bool>,
        base: u64,
        cpu: Cpu,
        handoffs: Arc<Handoffs>,
    ) -> Service {
        Service { targets, stopping, base, cpu, handoffs }
    }

    /// The file handed over that `token` names, for `peer`.
    pub(crate) fn handed_file(&self, peer: Option<&Peer>, token: &str, writing: bool) -> Result<std::fs::File, Status> {
        match peer.map(|p| &p.kind) {
            Some(PeerKind::Unix { uid, .. }) => self.handoffs.take(token, *uid, writing).map_err(status),
            _ => Err(status(Error::new(ErrorKind::InvalidArgument, "a file can be handed over only on a unix socket"))),
        }
    }

    pub(crate) fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    /// What this daemon adds to every revision it shows.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Reads a domain document off the async workers.
    async fn document(&self, xml: String) -> Result<virtkit::model::domain::Domain, Status> {
        self.cpu
            .run(move || virtkit::model::domain::Domain::from_xml(&xml))
            .await?
            .map_err(|e| status(Error::invalid_document(e)))
    }

    /// The connection for a call, once the caller may make it.
    pub(crate) fn conn<T>(&self, req: &Request<T>, call: &str, access: Access) -> Result<&Connection, Status> {
        let peer = req.extensions().get::<Peer>();
        let uri = req.metadata().get(virtkit_proto::URI_METADATA).and_then(|v| v.to_str().ok()).unwrap_or("");
        match peer {
            Some(p) => tracing::info!(call, uri, peer = %p, "call"),
            None => tracing::info!(call, uri, "call"),
        }
        if access == Access::Write && peer.is_none_or(|p| p.read_only) {
            tracing::warn!(call, "refused: read-only connection");
            return Err(status(Error::new(
                ErrorKind::PermissionDenied,
                format!("{call} is refused on a read-only connection"),
            )));
        }
        if uri.is_empty() {
            return Err(status(Error::new(ErrorKind::InvalidArgument, "the call names no driver URI")));
        }
        self.targets.get(uri).ok_or_else(|| {
            let mut served: Vec<&str> = self.targets.keys().map(String::as_str).collect();
            served.sort_unstable();
            status(Error::new(
                ErrorKind::NotFound,
                format!("this daemon does not serve '{uri}' (it serves {})", served.join(", ")),
            ))
        })
    }

    async fn domain<T>(&self, req: &Request<T>, call: &str, access: Access, uuid: &str) -> Result<Domain, Status> {
        let conn = self.conn(req, call, access)?;
        uuid_field("uuid", uuid)?;
        conn.lookup_domain(uuid).await.map_err(status)
    }
}

/// The answer of the call that gave `d`: the state its own change made (or
/// a lookup found), taken with it; never looked up again, when another
/// client may have changed or removed the domain since.
fn info_of(d: &Domain) -> Result<Response<v1::DomainInfo>, Status> {
    Ok(Response::new(convert::info_to(d.info_when_made().clone())))
}

/// Resolves once the daemon starts stopping: streams end then.
async fn until_stopping(stopping: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: the daemon is stopping too.
    let _ = stopping.wait_for(|s| *s).await;
}

fn mode(s: &str) -> Result<virtkit::ShutdownMode, Status> {
    if s.is_empty() {
        return Ok(virtkit::ShutdownMode::default());
    }
    s.parse().map_err(|_| bad_field("mode", format!("'{s}' is not a mode (acpi, agent or any)")))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::Event, Status>> + Send>>;
type ConsoleStream = Pin<Box<dyn Stream<Item = Result<v1::ConsoleOutput, Status>> + Send>>;

#[tonic::async_trait]
impl Virtkit for Service {
    async fn hello(&self, req: Request<v1::HelloRequest>) -> Result<Response<v1::HelloReply>, Status> {
        let conn = self.conn(&req, "hello", Access::Read)?;
        let read_only = req.extensions().get::<Peer>().is_none_or(|p| p.read_only);
        Ok(Response::new(v1::HelloReply {
            version: virtkit::version().to_string(),
            read_only,
            driver: conn.uri().driver.clone(),
            warnings: convert::warnings_to(conn.warnings()),
        }))
    }

    async fn get_capabilities(
        &self,
        req: Request<v1::GetCapabilitiesRequest>,
    ) -> Result<Response<v1::Capabilities>, Status> {
        let c = self.conn(&req, "get-capabilities", Access::Read)?.capabilities().await.map_err(status)?;
        Ok(Response::new(convert::caps_to(&c)))
    }

    async fn get_host_info(&self, req: Request<v1::GetHostInfoRequest>) -> Result<Response<v1::HostInfo>, Status> {
        let h = self.conn(&req, "get-host-info", Access::Read)?.host_info().await.map_err(status)?;
        Ok(Response::new(convert::host_to(&h)))
    }

    async fn define_domain(&self, req: Request<v1::DefineDomainRequest>) -> Result<Response<v1::DomainInfo>, Status> {
        let conn = self.conn(&req, "define-domain", Access::Write)?;
        let msg = req.into_inner();
        let mut opts = virtkit::DefineOptions::default();
        if let Some(g) = msg.expected_generation {
            opts = opts.expected_generation(g);
        }
        let def = self.document(msg.xml).await?;
        let d = conn.define(def, opts).await.map_err(status)?;
        info_of(&d)
    }

    async fn create_domain(&self, req: Request<v1::CreateDomainRequest>) -> Result<Response<v1::DomainInfo>, Status> {
        let conn = self.conn(&req, "create-domain", Access::Write)?;
        let msg = req.into_inner();
        let def = self.document(msg.xml).await?;
        let d = conn.create(def, virtkit::CreateOptions::default().paused(msg.paused)).await.map_err(status)?;
        info_of(&d)
    }

    async fn undefine_domain(
        &self,
        req: Request<v1::UndefineDomainRequest>,
    ) -> Result<Response<v1::UndefineDomainReply>, Status> {
        let d = self.domain(&req, "undefine-domain", Access::Write, &req.get_ref().uuid).await?;
        let mut opts = virtkit::UndefineOptions::default();
        if let Some(g) = req.get_ref().expected_generation {
            opts = opts.expected_generation(g);
        }
        d.undefine(opts).await.map_err(status)?;
        Ok(Response::new(v1::UndefineDomainReply {}))
    }

    async fn lookup_domain(&self, req: Request<v1::LookupDomainRequest>) -> Result<Response<v1::DomainInfo>, Status> {
        let conn = self.conn(&req, "lookup-domain", Access::Read)?;
        let d = conn.lookup_domain(&req.get_ref().key).await.map_err(status)?;
        info_of(&d)
    }

    async fn list_domains(&self, req: Request<v1::ListDomainsRequest>) -> Result<Response<v1::DomainList>, Status> {
        let conn = self.conn(&req, "list-domains", Access::Read)?;
        let msg = req.get_ref();
        let mut opts = virtkit::ListOptions::default().stats(msg.stats);
        opts.states = msg
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                convert::state_from(*s)
                    .map_err(|_| bad_field(&format!("states[{i}]"), format!("{s} is not a domain state")))
            })
            .collect::<Result<_, _>>()?;
        opts.active = msg.active;
        opts.persistent = msg.persistent;
        let list = conn.list_domains(opts).await.map_err(status)?;
        let mut reply = convert::list_to(list);
        reply.revision += self.base;
        Ok(Response::new(reply))
    }

    async fn get_domain_info(
        &self,
        req: Request<v1::GetDomainInfoRequest>,
    ) -> Result<Response<v1::DomainInfo>, Status> {
        let d = self.domain(&req, "get-domain-info", Access::Read, &req.get_ref().uuid).await?;
        let i = d.info(virtkit::InfoOptions::default().stats(req.get_ref().stats)).await.map_err(status)?;
        Ok(Response::new(convert::info_to(i)))
    }

    async fn get_domain_xml(
        &self,
        req: Request<v1::GetDomainXmlRequest>,
    ) -> Result<Response<v1::GetDomainXmlReply>, Status> {
        // Secret values only for a read-write caller that asks for them.
        let msg = req.get_ref();
        let access = if msg.secure { Access::Write } else { Access::Read };
        let d = self.domain(&req, "get-domain-xml", access, &msg.uuid).await?;
        let opts = virtkit::XmlOptions::default().inactive(msg.inactive).secure(msg.secure);
        let def = d.definition(opts).await.map_err(status)?;
        let xml = self.cpu.run(move || def.to_xml()).await?;
        Ok(Response::new(v1::GetDomainXmlReply { xml }))
    }

    async fn domain_xml_to_native(
        &self,
        req: Request<v1::DomainXmlToNativeRequest>,
    ) -> Result<Response<v1::DomainXmlToNativeReply>, Status> {
        let conn = self.conn(&req, "domain-xml-to-native", Access::Read)?;
        let msg = req.into_inner();
        let native = conn.domain_xml_to_native(&msg.format, &msg.xml, Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::DomainXmlToNativeReply { native }))
    }

    async fn get_domain_stats(
        &self,
        req: Request<v1::GetDomainStatsRequest>,
    ) -> Result<Response<v1::GetDomainStatsReply>, Status> {
        let d = self.domain(&req, "get-domain-stats", Access::Read, &req.get_ref().uuid).await?;
        let stats = d.stats(Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::GetDomainStatsReply { stats: stats.as_ref().map(convert::stats_to) }))
    }

    async fn start_domain(
        &self,
        req: Request<v1::StartDomainRequest>,
    ) -> Result<Response<v1::StartDomainReply>, Status> {
        let d = self.domain(&req, "start-domain", Access::Write, &req.get_ref().uuid).await?;
        d.start(virtkit::StartOptions::default().paused(req.get_ref().paused)).await.map_err(status)?;
        Ok(Response::new(v1::StartDomainReply {}))
    }

    async fn shutdown_domain(
        &self,
        req: Request<v1::ShutdownDomainRequest>,
    ) -> Result<Response<v1::ShutdownDomainReply>, Status> {
        let d = self.domain(&req, "shutdown-domain", Access::Write, &req.get_ref().uuid).await?;
        let msg = req.get_ref();
        let mut opts = virtkit::ShutdownOptions::default().mode(mode(&msg.mode)?);
        if msg.timeout_ms > 0 {
            opts = opts.timeout(Duration::from_millis(msg.timeout_ms));
        }
        d.shutdown(opts).await.map_err(status)?;
        Ok(Response::new(v1::ShutdownDomainReply {}))
    }

    async fn power_off_domain(
        &self,
        req: Request<v1::PowerOffDomainRequest>,
    ) -> Result<Response<v1::PowerOffDomainReply>, Status> {
        let d = self.domain(&req, "power-off-domain", Access::Write, &req.get_ref().uuid).await?;
        d.power_off(Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::PowerOffDomainReply {}))
    }

    async fn reboot_domain(
        &self,
        req: Request<v1::RebootDomainRequest>,
    ) -> Result<Response<v1::RebootDomainReply>, Status> {
        let d = self.domain(&req, "reboot-domain", Access::Write, &req.get_ref().uuid).await?;
        d.reboot(virtkit::RebootOptions::default().mode(mode(&req.get_ref().mode)?)).await.map_err(status)?;
        Ok(Response::new(v1::RebootDomainReply {}))
    }

    async fn reset_domain(
        &self,
        req: Request<v1::ResetDomainRequest>,
    ) -> Result<Response<v1::ResetDomainReply>, Status> {
        let d = self.domain(&req, "reset-domain", Access::Write, &req.get_ref().uuid).await?;
        d.reset(Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::ResetDomainReply {}))
    }

    async fn suspend_domain(
        &self,
        req: Request<v1::SuspendDomainRequest>,
    ) -> Result<Response<v1::SuspendDomainReply>, Status> {
        let d = self.domain(&req, "suspend-domain", Access::Write, &req.get_ref().uuid).await?;
        d.suspend(Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::SuspendDomainReply {}))
    }

    async fn resume_domain(
        &self,
        req: Request<v1::ResumeDomainRequest>,
    ) -> Result<Response<v1::ResumeDomainReply>, Status> {
        let d = self.domain(&req, "resume-domain", Access::Write, &req.get_ref().uuid).await?;
        d.resume(Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::ResumeDomainReply {}))
    }

    async fn set_autostart(
        &self,
        req: Request<v1::SetAutostartRequest>,
    ) -> Result<Response<v1::SetAutostartReply>, Status> {
        let d = self.domain(&req, "set-autostart", Access::Write, &req.get_ref().uuid).await?;
        d.set_autostart(req.get_ref().enabled, Default::default()).await.map_err(status)?;
        Ok(Response::new(v1::SetAutostartReply {}))
    }

    type OpenConsoleStream = ConsoleStream;

    async fn open_console(
        &self,
        req: Request<tonic::Streaming<v1::ConsoleInput>>,
    ) -> Result<Response<ConsoleStream>, Status> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let conn = self.conn(&req, "open-console", Access::Write)?.clone();
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| status(Error::new(ErrorKind::InvalidArgument, "the console request names no domain")))?;
        uuid_field("uuid", &first.uuid)?;
        let dom = conn.lookup_domain(&first.uuid).await.map_err(status)?;
        let mut opts = virtkit::ConsoleOptions::default();
        if !first.device.is_empty() {
            opts = opts.device(first.device);
        }
        let console = dom.open_console(opts).await.map_err(status)?;
        let (mut from_guest, mut to_guest) = tokio::io::split(console);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = tokio::select! {
                    r = from_guest.read(&mut buf) => r,
                    _ = tx.closed() => return,
                    () = until_stopping(&mut stopping) => return,
                };
                match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(Ok(v1::ConsoleOutput { data: buf[..n].to_vec() })).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            if to_guest.write_all(&first.data).await.is_err() {
                return;
            }
            while let Ok(Some(m)) = input.message().await {
                if to_guest.write_all(&m.data).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    type WatchStream = EventStream;

    // ---- every kind of object (crate::objects) ----

    async fn define_object(&self, req: Request<v1::DefineObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.define_object_call(req).await
    }
    async fn create_object(&self, req: Request<v1::CreateObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.create_object_call(req).await
    }
    async fn undefine_object(
        &self,
        req: Request<v1::UndefineObjectRequest>,
    ) -> Result<Response<v1::ObjectInfo>, Status> {
        self.undefine_object_call(req).await
    }
    async fn start_object(&self, req: Request<v1::StartObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.start_object_call(req).await
    }
    async fn stop_object(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.stop_object_call(req).await
    }
    async fn set_object_autostart(
        &self,
        req: Request<v1::SetObjectAutostartRequest>,
    ) -> Result<Response<v1::ObjectInfo>, Status> {
        self.set_object_autostart_call(req).await
    }
    async fn lookup_object(&self, req: Request<v1::LookupObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.lookup_object_call(req).await
    }
    async fn get_object_info(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.get_object_info_call(req).await
    }
    async fn list_objects(&self, req: Request<v1::ListObjectsRequest>) -> Result<Response<v1::ObjectList>, Status> {
        self.list_objects_call(req).await
    }
    async fn get_object_xml(
        &self,
        req: Request<v1::GetObjectXmlRequest>,
    ) -> Result<Response<v1::GetObjectXmlReply>, Status> {
        self.get_object_xml_call(req).await
    }
    async fn cancel_job(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::CancelJobReply>, Status> {
        self.cancel_job_call(req).await
    }
    async fn build_pool(&self, req: Request<v1::BuildPoolRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.build_pool_call(req).await
    }
    async fn delete_pool(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.delete_pool_call(req).await
    }
    async fn refresh_pool(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.refresh_pool_call(req).await
    }
    async fn create_volume(&self, req: Request<v1::CreateVolumeRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.create_volume_call(req).await
    }
    async fn delete_volume(&self, req: Request<v1::ObjectRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.delete_volume_call(req).await
    }
    async fn resize_volume(&self, req: Request<v1::ResizeVolumeRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.resize_volume_call(req).await
    }
    async fn wipe_volume(&self, req: Request<v1::WipeVolumeRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.wipe_volume_call(req).await
    }
    async fn upload_volume(
        &self,
        req: Request<tonic::Streaming<v1::UploadChunk>>,
    ) -> Result<Response<v1::ObjectInfo>, Status> {
        self.upload_volume_call(req).await
    }

    type DownloadVolumeStream = crate::objects::DataStream;

    async fn download_volume(
        &self,
        req: Request<v1::DownloadVolumeRequest>,
    ) -> Result<Response<Self::DownloadVolumeStream>, Status> {
        self.download_volume_call(req).await
    }
    async fn get_network_leases(
        &self,
        req: Request<v1::GetNetworkLeasesRequest>,
    ) -> Result<Response<v1::LeaseList>, Status> {
        self.get_network_leases_call(req).await
    }
    async fn get_interface_addresses(
        &self,
        req: Request<v1::GetInterfaceAddressesRequest>,
    ) -> Result<Response<v1::LeaseList>, Status> {
        self.get_interface_addresses_call(req).await
    }
    async fn update_network(&self, req: Request<v1::UpdateNetworkRequest>) -> Result<Response<v1::ObjectInfo>, Status> {
        self.update_network_call(req).await
    }
    async fn set_secret_value(
        &self,
        req: Request<v1::SetSecretValueRequest>,
    ) -> Result<Response<v1::ObjectInfo>, Status> {
        self.set_secret_value_call(req).await
    }
    async fn get_secret_value(
        &self,
        req: Request<v1::GetSecretValueRequest>,
    ) -> Result<Response<v1::GetSecretValueReply>, Status> {
        self.get_secret_value_call(req).await
    }

    async fn watch(&self, req: Request<v1::WatchRequest>) -> Result<Response<EventStream>, Status> {
        let conn = self.conn(&req, "watch", Access::Read)?;
        let kinds =
            req.get_ref().kinds.iter().map(|k| virtkit_proto::objects::kind_from(*k)).collect::<Result<Vec<_>, _>>();
        let mut opts = virtkit::WatchOptions::default().kinds(kinds.map_err(status)?);
        // Revision 0, before every other, asks for all the history kept.
        if let Some(r) = req.get_ref().from_revision {
            let Some(own) = r.checked_sub(self.base).or((r == 0).then_some(0)) else {
                return Err(status(Error::new(
                    ErrorKind::RevisionGone,
                    format!("revision {r} is from before the daemon restarted: list again"),
                )));
            };
            opts = opts.from_revision(own);
        }
        let base = self.base;
        let mut events = conn.watch(opts).await.map_err(status)?;
        // Where the stream starts, so that a client that loses it can
        // resume from there even before its first event.
        let start = events.revision() + self.base;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    e = events.next() => e,
                    _ = tx.closed() => return,
                    () = until_stopping(&mut stopping) => {
                        let _ = tx.send(Err(Status::unavailable("the daemon is stopping"))).await;
                        return;
                    }
                };
                let end = item.is_err();
                // A client that stops reading fills only its own queue.
                let item = item.map(|e| {
                    let mut e = convert::event_to(&e);
                    e.revision += base;
                    e
                });
                if tx.send(item.map_err(status)).await.is_err() || end {
                    return;
                }
            }
        });
        let mut resp = Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as EventStream);
        resp.metadata_mut().insert(virtkit_proto::REVISION_METADATA, start.into());
        Ok(resp)
    }
}
