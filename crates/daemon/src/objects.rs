//! The calls every kind of object shares, and pools', volumes' and
//! networks' own: one handler per verb for every kind, each answering with
//! the info its own change produced (never a second lookup).

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;
use virtkit::{Connection, Def, Error, ErrorKind, ObjectKind};
use virtkit_proto::objects as conv;
use virtkit_proto::v1;

use crate::listen::Peer;
use crate::service::{Access, Service, bad_field, status};

pub(crate) type DataStream = Pin<Box<dyn Stream<Item = Result<v1::DataChunk, Status>> + Send>>;

type Reply<T> = Result<Response<T>, Status>;

fn info(r: virtkit::Result<virtkit::Info>) -> Reply<v1::ObjectInfo> {
    Ok(Response::new(conv::object_to(r.map_err(status)?)))
}

fn build_options(b: v1::BuildFlags) -> virtkit::BuildOptions {
    virtkit::BuildOptions::default().overwrite(b.overwrite).no_overwrite(b.no_overwrite)
}

fn kind(v: i32) -> Result<ObjectKind, Status> {
    conv::kind_from(v).map_err(status)
}

fn uuid(field: &str, s: &str) -> Result<Uuid, Status> {
    conv::uuid_field(field, s).map_err(status)
}

impl Service {
    /// Reads a document of `kind` off the async workers.
    async fn object_document(&self, kind: ObjectKind, xml: String) -> Result<Def, Status> {
        self.cpu().run(move || virtkit::parse_document(kind, &xml)).await?.map_err(status)
    }

    /// The connection and the object a call names.
    fn object<T>(
        &self,
        req: &Request<T>,
        call: &str,
        access: Access,
        k: i32,
        u: &str,
    ) -> Result<(&Connection, ObjectKind, Uuid), Status> {
        let conn = self.conn(req, call, access)?;
        Ok((conn, kind(k)?, uuid("uuid", u)?))
    }

    pub(crate) async fn define_object_call(&self, req: Request<v1::DefineObjectRequest>) -> Reply<v1::ObjectInfo> {
        let conn = self.conn(&req, "define-object", Access::Write)?.clone();
        let msg = req.into_inner();
        let def = self.object_document(kind(msg.kind)?, msg.xml).await?;
        let mut opts = virtkit::DefineOptions::default();
        if let Some(g) = msg.expected_generation {
            opts = opts.expected_generation(g);
        }
        info(conn.define_object(def, opts).await)
    }

    pub(crate) async fn create_object_call(&self, req: Request<v1::CreateObjectRequest>) -> Reply<v1::ObjectInfo> {
        let conn = self.conn(&req, "create-object", Access::Write)?.clone();
        let msg = req.into_inner();
        let def = self.object_document(kind(msg.kind)?, msg.xml).await?;
        let mut opts = virtkit::CreateOptions::default();
        if let Some(b) = msg.build {
            opts = opts.build(build_options(b));
        }
        info(conn.create_object(def, opts).await)
    }

    pub(crate) async fn undefine_object_call(&self, req: Request<v1::UndefineObjectRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "undefine-object", Access::Write, m.kind, &m.uuid)?;
        let mut opts = virtkit::UndefineOptions::default();
        if let Some(g) = m.expected_generation {
            opts = opts.expected_generation(g);
        }
        info(conn.undefine_object(k, u, opts).await)
    }

    pub(crate) async fn start_object_call(&self, req: Request<v1::StartObjectRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "start-object", Access::Write, m.kind, &m.uuid)?;
        let mut opts = virtkit::StartOptions::default().paused(m.paused);
        if let Some(b) = m.build {
            opts = opts.build(build_options(b));
        }
        info(conn.start_object(k, u, opts).await)
    }

    pub(crate) async fn stop_object_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "stop-object", Access::Write, m.kind, &m.uuid)?;
        info(conn.stop_object(k, u, Default::default()).await)
    }

    pub(crate) async fn set_object_autostart_call(
        &self,
        req: Request<v1::SetObjectAutostartRequest>,
    ) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "set-object-autostart", Access::Write, m.kind, &m.uuid)?;
        info(conn.set_object_autostart(k, u, m.enabled, Default::default()).await)
    }

    pub(crate) async fn lookup_object_call(&self, req: Request<v1::LookupObjectRequest>) -> Reply<v1::ObjectInfo> {
        let conn = self.conn(&req, "lookup-object", Access::Read)?;
        let m = req.get_ref();
        let k = kind(m.kind)?;
        if let Some(t) = &m.usage_type {
            if k != ObjectKind::Secret {
                return Err(status(Error::new(ErrorKind::InvalidArgument, "usage_type: selects secrets only")));
            }
            let s = conn.lookup_secret_by_usage(t, &m.key).await.map_err(status)?;
            return info(s.info().await.map(virtkit::Info::from));
        }
        match &m.pool {
            Some(p) if k == ObjectKind::Volume => {
                let pool = conn.lookup_pool(&uuid("pool", p)?.to_string()).await.map_err(status)?;
                let v = pool.lookup_volume(&m.key).await.map_err(status)?;
                info(v.info().await.map(virtkit::Info::from))
            }
            Some(_) => Err(status(Error::new(ErrorKind::InvalidArgument, "pool: selects volumes only"))),
            None => info(conn.lookup_object(k, &m.key).await),
        }
    }

    pub(crate) async fn get_object_info_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "get-object-info", Access::Read, m.kind, &m.uuid)?;
        info(conn.object_info(k, u).await)
    }

    pub(crate) async fn list_objects_call(&self, req: Request<v1::ListObjectsRequest>) -> Reply<v1::ObjectList> {
        let conn = self.conn(&req, "list-objects", Access::Read)?;
        let m = req.get_ref();
        let mut opts = virtkit::ListOptions::default();
        opts.active = m.active;
        opts.persistent = m.persistent;
        opts.autostart = m.autostart;
        opts.ephemeral = m.ephemeral;
        opts.private = m.private;
        opts.pool = m.pool.as_deref().map(|p| uuid("pool", p)).transpose()?;
        let mut l = conn.list_objects(kind(m.kind)?, opts).await.map_err(status)?;
        l.revision += self.base();
        Ok(Response::new(conv::list_to(l)))
    }

    pub(crate) async fn get_object_xml_call(
        &self,
        req: Request<v1::GetObjectXmlRequest>,
    ) -> Reply<v1::GetObjectXmlReply> {
        let m = req.get_ref();
        // Secret values only for a read-write caller that asks for them.
        let access = if m.secure { Access::Write } else { Access::Read };
        let (conn, k, u) = self.object(&req, "get-object-xml", access, m.kind, &m.uuid)?;
        let opts = virtkit::XmlOptions::default().inactive(m.inactive).secure(m.secure);
        let xml = conn.object_xml(k, u, opts).await.map_err(status)?;
        Ok(Response::new(v1::GetObjectXmlReply { xml }))
    }

    pub(crate) async fn cancel_job_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::CancelJobReply> {
        let m = req.get_ref();
        let (conn, k, u) = self.object(&req, "cancel-job", Access::Write, m.kind, &m.uuid)?;
        let cancelled = conn.cancel_job(k, u).await.map_err(status)?;
        Ok(Response::new(v1::CancelJobReply { cancelled }))
    }

    /// The pool a call names, as a handle.
    async fn pool<T>(&self, req: &Request<T>, call: &str, u: &str) -> Result<virtkit::StoragePool, Status> {
        let conn = self.conn(req, call, Access::Write)?;
        conn.lookup_pool(&uuid("uuid", u)?.to_string()).await.map_err(status)
    }

    /// The volume a call names, as a handle.
    async fn volume<T>(
        &self,
        req: &Request<T>,
        call: &str,
        access: Access,
        u: &str,
    ) -> Result<virtkit::StorageVolume, Status> {
        let conn = self.conn(req, call, access)?;
        conn.find_volume(&uuid("uuid", u)?.to_string()).await.map_err(status)
    }

    pub(crate) async fn build_pool_call(&self, req: Request<v1::BuildPoolRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let p = self.pool(&req, "build-pool", &m.uuid).await?;
        let opts = virtkit::BuildOptions::default().overwrite(m.overwrite).no_overwrite(m.no_overwrite);
        info(p.build(opts).await.map(virtkit::Info::from))
    }

    pub(crate) async fn delete_pool_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::ObjectInfo> {
        let p = self.pool(&req, "delete-pool", &req.get_ref().uuid).await?;
        info(p.delete(Default::default()).await.map(virtkit::Info::from))
    }

    pub(crate) async fn refresh_pool_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::ObjectInfo> {
        let p = self.pool(&req, "refresh-pool", &req.get_ref().uuid).await?;
        info(p.refresh(Default::default()).await.map(virtkit::Info::from))
    }

    pub(crate) async fn create_volume_call(&self, req: Request<v1::CreateVolumeRequest>) -> Reply<v1::ObjectInfo> {
        let p = self.pool(&req, "create-volume", &req.get_ref().pool).await?;
        let msg = req.into_inner();
        let mut opts = virtkit::VolumeCreateOptions::default().prealloc_metadata(msg.prealloc_metadata);
        if let Some(f) = &msg.from {
            opts = opts.from(uuid("from", f)?);
        }
        let Def::Volume(def) = self.object_document(ObjectKind::Volume, msg.xml).await? else {
            return Err(status(Error::new(ErrorKind::Internal, "a volume document read as another kind")));
        };
        let v = p.create_volume(*def, opts).await.map_err(status)?;
        info(v.info().await.map(virtkit::Info::from))
    }

    pub(crate) async fn delete_volume_call(&self, req: Request<v1::ObjectRequest>) -> Reply<v1::ObjectInfo> {
        let v = self.volume(&req, "delete-volume", Access::Write, &req.get_ref().uuid).await?;
        info(v.delete(Default::default()).await.map(virtkit::Info::from))
    }

    pub(crate) async fn wipe_volume_call(&self, req: Request<v1::WipeVolumeRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let algorithm = match m.algorithm.as_str() {
            "" => virtkit::WipeAlgorithm::default(),
            a => a.parse().map_err(|e: String| bad_field("algorithm", e))?,
        };
        let v = self.volume(&req, "wipe-volume", Access::Write, &m.uuid).await?;
        info(v.wipe(virtkit::WipeOptions::default().algorithm(algorithm)).await.map(virtkit::Info::from))
    }

    pub(crate) async fn resize_volume_call(&self, req: Request<v1::ResizeVolumeRequest>) -> Reply<v1::ObjectInfo> {
        let m = req.get_ref();
        let v = self.volume(&req, "resize-volume", Access::Write, &m.uuid).await?;
        let opts = virtkit::ResizeOptions::default().delta(m.delta).shrink(m.shrink).allocate(m.allocate);
        info(v.resize(m.capacity, opts).await.map(virtkit::Info::from))
    }

    pub(crate) async fn upload_volume_call(&self, req: Request<Streaming<v1::UploadChunk>>) -> Reply<v1::ObjectInfo> {
        let conn = self.conn(&req, "upload-volume", Access::Write)?.clone();
        let peer = req.extensions().get::<Peer>().cloned();
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| status(Error::new(ErrorKind::InvalidArgument, "the upload names no volume")))?;
        let vol = conn.find_volume(&uuid("uuid", &first.uuid)?.to_string()).await.map_err(status)?;
        let opts = virtkit::TransferOptions::default().offset(first.offset).length(first.length);
        if !first.fd_token.is_empty() {
            let file = self.handed_file(peer.as_ref(), &first.fd_token, false)?;
            tracing::info!(volume = %first.uuid, "upload from a file handed over");
            return info(vol.upload_from(opts, file).await.map(virtkit::Info::from));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        if !first.data.is_empty() {
            tx.try_send(Ok(first.data)).map_err(|_| Status::internal("upload queue"))?;
        }
        // Bytes are passed on as they come; a broken stream ends the upload
        // with an error (the volume is left as it was).
        tokio::spawn(async move {
            loop {
                let piece = match input.message().await {
                    Ok(Some(c)) if !c.abort.is_empty() => {
                        Err(Error::new(ErrorKind::Cancelled, format!("the client stopped the upload: {}", c.abort)))
                    }
                    Ok(Some(c)) => Ok(c.data),
                    Ok(None) => return,
                    Err(e) => {
                        Err(Error::new(ErrorKind::Cancelled, format!("the upload's stream broke: {}", e.message())))
                    }
                };
                let broken = piece.is_err();
                if tx.send(piece).await.is_err() || broken {
                    return;
                }
            }
        });
        info(vol.upload(opts, rx).await.map(virtkit::Info::from))
    }

    pub(crate) async fn download_volume_call(&self, req: Request<v1::DownloadVolumeRequest>) -> Reply<DataStream> {
        let m = req.get_ref();
        let vol = self.volume(&req, "download-volume", Access::Read, &m.uuid).await?;
        let opts = virtkit::TransferOptions::default().offset(m.offset).length(m.length);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Result<v1::DataChunk, Status>>(4);
        if !m.fd_token.is_empty() {
            let file = self.handed_file(req.extensions().get::<Peer>(), &m.fd_token, true)?;
            tracing::info!(volume = %m.uuid, "download into a file handed over");
            tokio::spawn(async move {
                let r = vol.download_to(opts, file).await;
                let _ = out_tx.send(r.map(|written| v1::DataChunk { data: Vec::new(), written }).map_err(status)).await;
            });
            return Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out_rx))));
        }
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
            let job = vol.download(opts, tx);
            tokio::pin!(job);
            let mut result = None;
            loop {
                tokio::select! {
                    r = &mut job, if result.is_none() => result = Some(r),
                    c = rx.recv() => match c {
                        Some(data) => {
                            if out_tx.send(Ok(v1::DataChunk { data, written: 0 })).await.is_err() {
                                return;
                            }
                        }
                        None => break,
                    },
                }
            }
            let result = match result {
                Some(r) => r,
                None => job.await,
            };
            // After the last chunk: the job's error, when it failed.
            if let Err(e) = result {
                let _ = out_tx.send(Err(status(e))).await;
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out_rx))))
    }

    pub(crate) async fn get_network_leases_call(
        &self,
        req: Request<v1::GetNetworkLeasesRequest>,
    ) -> Reply<v1::LeaseList> {
        let conn = self.conn(&req, "get-network-leases", Access::Read)?;
        let m = req.get_ref();
        let net = conn.lookup_network(&uuid("uuid", &m.uuid)?.to_string()).await.map_err(status)?;
        let mut opts = virtkit::LeaseOptions::default();
        if let Some(mac) = &m.mac {
            let mac = mac.parse().map_err(|_| {
                status(Error::new(ErrorKind::InvalidArgument, format!("mac: '{mac}' is not a MAC address")))
            })?;
            opts = opts.mac(mac);
        }
        let leases = net.leases(opts).await.map_err(status)?;
        Ok(Response::new(v1::LeaseList { leases: leases.iter().map(conv::lease_to).collect() }))
    }

    pub(crate) async fn get_interface_addresses_call(
        &self,
        req: Request<v1::GetInterfaceAddressesRequest>,
    ) -> Reply<v1::LeaseList> {
        let conn = self.conn(&req, "get-interface-addresses", Access::Read)?;
        let m = req.get_ref();
        let source = if m.source.is_empty() { "lease" } else { m.source.as_str() };
        let source: virtkit::AddressSource = source
            .parse()
            .map_err(|e: String| status(Error::new(ErrorKind::InvalidArgument, format!("source: {e}"))))?;
        let dom = conn.lookup_domain(&uuid("uuid", &m.uuid)?.to_string()).await.map_err(status)?;
        let opts = virtkit::InterfaceAddressOptions::default().source(source);
        let leases = dom.interface_addresses(opts).await.map_err(status)?;
        Ok(Response::new(v1::LeaseList { leases: leases.iter().map(conv::lease_to).collect() }))
    }

    /// The secret a call names, as a handle (its value is read-write
    /// access, reading it too).
    async fn secret<T>(&self, req: &Request<T>, call: &str, u: &str) -> Result<virtkit::Secret, Status> {
        let conn = self.conn(req, call, Access::Write)?;
        conn.lookup_secret(&uuid("uuid", u)?.to_string()).await.map_err(status)
    }

    pub(crate) async fn set_secret_value_call(&self, req: Request<v1::SetSecretValueRequest>) -> Reply<v1::ObjectInfo> {
        let s = self.secret(&req, "set-secret-value", &req.get_ref().uuid).await?;
        // The request's own copy of the value is wiped once it is handed on
        // (the transport's buffers it was decoded from are not).
        let value = zeroize::Zeroizing::new(req.into_inner().value);
        info(s.set_value(&value, Default::default()).await.map(virtkit::Info::from))
    }

    pub(crate) async fn get_secret_value_call(
        &self,
        req: Request<v1::GetSecretValueRequest>,
    ) -> Reply<v1::GetSecretValueReply> {
        let s = self.secret(&req, "get-secret-value", &req.get_ref().uuid).await?;
        let value = s.value(Default::default()).await.map_err(status)?;
        // The reply's copy is prost's, not wiped (the stored value is).
        Ok(Response::new(v1::GetSecretValueReply { value: value.to_vec() }))
    }

    pub(crate) async fn update_network_call(&self, req: Request<v1::UpdateNetworkRequest>) -> Reply<v1::ObjectInfo> {
        let conn = self.conn(&req, "update-network", Access::Write)?.clone();
        let msg = req.into_inner();
        let net = conn.lookup_network(&uuid("uuid", &msg.uuid)?.to_string()).await.map_err(status)?;
        let missing = |field: &str| status(Error::new(ErrorKind::InvalidArgument, format!("{field}: missing")));
        let update = conv::network_update_from(msg.update.ok_or_else(|| missing("update"))?).map_err(status)?;
        let opts = conv::update_options_from(msg.options.unwrap_or_default());
        info(net.update(update, opts).await.map(virtkit::Info::from))
    }
}
