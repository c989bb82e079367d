//! The calls every kind of object shares, and pools', volumes' and
//! networks' own, on the wire: one function per verb for every kind.

use uuid::Uuid;
use virtkit_engine::options::{
    BuildOptions, CreateOptions, NetworkUpdateOptions, ResizeOptions, VolumeCreateOptions, WipeAlgorithm,
};
use virtkit_engine::seams::SecretBytes;
use virtkit_engine::types::{Lease, List};
use virtkit_engine::{Def, Info};
use virtkit_model::network::NetworkUpdate;
use virtkit_proto::objects as conv;
use virtkit_proto::v1;

use crate::remote::{Remote, status};
use crate::{
    DefineOptions, Error, ErrorKind, ListOptions, ObjectKind, Result, StartOptions, UndefineOptions, XmlOptions,
};

fn object(kind: ObjectKind, uuid: Uuid) -> v1::ObjectRequest {
    v1::ObjectRequest { kind: conv::kind_to(kind), uuid: uuid.to_string() }
}

pub(crate) fn info(r: std::result::Result<tonic::Response<v1::ObjectInfo>, tonic::Status>) -> Result<Info> {
    conv::object_from(r.map_err(status)?.into_inner())
}

fn build_flags(b: BuildOptions) -> v1::BuildFlags {
    v1::BuildFlags { overwrite: b.overwrite, no_overwrite: b.no_overwrite }
}

impl Remote {
    pub(crate) async fn define_object(&self, def: &Def, opts: DefineOptions) -> Result<Info> {
        let msg = v1::DefineObjectRequest {
            kind: conv::kind_to(def.kind()),
            xml: def.to_xml(),
            expected_generation: opts.expected_generation,
        };
        info(self.c().define_object(self.req(msg)).await)
    }

    pub(crate) async fn create_object(&self, def: &Def, opts: CreateOptions) -> Result<Info> {
        let build = opts.build.map(build_flags);
        let msg = v1::CreateObjectRequest { kind: conv::kind_to(def.kind()), xml: def.to_xml(), build };
        info(self.c().create_object(self.req(msg)).await)
    }

    pub(crate) async fn undefine_object(&self, kind: ObjectKind, uuid: Uuid, opts: UndefineOptions) -> Result<Info> {
        let msg = v1::UndefineObjectRequest {
            kind: conv::kind_to(kind),
            uuid: uuid.to_string(),
            expected_generation: opts.expected_generation,
        };
        info(self.c().undefine_object(self.req(msg)).await)
    }

    pub(crate) async fn start_object(&self, kind: ObjectKind, uuid: Uuid, opts: StartOptions) -> Result<Info> {
        let msg = v1::StartObjectRequest {
            kind: conv::kind_to(kind),
            uuid: uuid.to_string(),
            build: opts.build.map(build_flags),
            paused: opts.paused,
        };
        info(self.c().start_object(self.req(msg)).await)
    }

    pub(crate) async fn stop_object(&self, kind: ObjectKind, uuid: Uuid) -> Result<Info> {
        info(self.c().stop_object(self.req(object(kind, uuid))).await)
    }

    pub(crate) async fn set_object_autostart(&self, kind: ObjectKind, uuid: Uuid, enabled: bool) -> Result<Info> {
        let msg = v1::SetObjectAutostartRequest { kind: conv::kind_to(kind), uuid: uuid.to_string(), enabled };
        info(self.c().set_object_autostart(self.req(msg)).await)
    }

    pub(crate) async fn lookup_object(&self, kind: ObjectKind, key: &str, pool: Option<Uuid>) -> Result<Info> {
        let msg = v1::LookupObjectRequest {
            kind: conv::kind_to(kind),
            key: key.to_owned(),
            pool: pool.map(|p| p.to_string()),
            usage_type: None,
        };
        info(self.c().lookup_object(self.req(msg)).await)
    }

    pub(crate) async fn lookup_secret_by_usage(&self, usage_type: &str, id: &str) -> Result<Info> {
        let msg = v1::LookupObjectRequest {
            kind: conv::kind_to(ObjectKind::Secret),
            key: id.to_owned(),
            pool: None,
            usage_type: Some(usage_type.to_owned()),
        };
        info(self.c().lookup_object(self.req(msg)).await)
    }

    pub(crate) async fn set_secret_value(&self, secret: Uuid, value: Vec<u8>) -> Result<Info> {
        let msg = v1::SetSecretValueRequest { uuid: secret.to_string(), value };
        info(self.c().set_secret_value(self.req(msg)).await)
    }

    pub(crate) async fn get_secret_value(&self, secret: Uuid) -> Result<SecretBytes> {
        let msg = v1::GetSecretValueRequest { uuid: secret.to_string() };
        let value = self.c().get_secret_value(self.req(msg)).await.map_err(status)?.into_inner().value;
        Ok(SecretBytes::new(value))
    }

    pub(crate) async fn object_info(&self, kind: ObjectKind, uuid: Uuid) -> Result<Info> {
        info(self.c().get_object_info(self.req(object(kind, uuid))).await)
    }

    pub(crate) async fn list_objects(&self, kind: ObjectKind, opts: &ListOptions) -> Result<List<Info>> {
        if !opts.states.is_empty() || opts.stats {
            return Err(Error::new(ErrorKind::InvalidArgument, "states and stats select domains only"));
        }
        let msg = v1::ListObjectsRequest {
            kind: conv::kind_to(kind),
            active: opts.active,
            persistent: opts.persistent,
            autostart: opts.autostart,
            pool: opts.pool.map(|p| p.to_string()),
            ephemeral: opts.ephemeral,
            private: opts.private,
        };
        conv::list_from(self.c().list_objects(self.req(msg)).await.map_err(status)?.into_inner())
    }

    pub(crate) async fn object_xml(&self, kind: ObjectKind, uuid: Uuid, opts: &XmlOptions) -> Result<String> {
        let msg = v1::GetObjectXmlRequest {
            kind: conv::kind_to(kind),
            uuid: uuid.to_string(),
            inactive: opts.inactive,
            secure: opts.secure,
        };
        Ok(self.c().get_object_xml(self.req(msg)).await.map_err(status)?.into_inner().xml)
    }

    pub(crate) async fn cancel_job(&self, kind: ObjectKind, uuid: Uuid) -> Result<bool> {
        Ok(self.c().cancel_job(self.req(object(kind, uuid))).await.map_err(status)?.into_inner().cancelled)
    }

    pub(crate) async fn build_pool(&self, pool: Uuid, opts: BuildOptions) -> Result<Info> {
        let msg =
            v1::BuildPoolRequest { uuid: pool.to_string(), overwrite: opts.overwrite, no_overwrite: opts.no_overwrite };
        info(self.c().build_pool(self.req(msg)).await)
    }

    pub(crate) async fn delete_pool(&self, pool: Uuid) -> Result<Info> {
        info(self.c().delete_pool(self.req(object(ObjectKind::Pool, pool))).await)
    }

    pub(crate) async fn refresh_pool(&self, pool: Uuid) -> Result<Info> {
        info(self.c().refresh_pool(self.req(object(ObjectKind::Pool, pool))).await)
    }

    pub(crate) async fn create_volume(&self, pool: Uuid, xml: String, opts: VolumeCreateOptions) -> Result<Info> {
        let msg = v1::CreateVolumeRequest {
            pool: pool.to_string(),
            xml,
            from: opts.from.map(|f| f.to_string()),
            prealloc_metadata: opts.prealloc_metadata,
        };
        info(self.c().create_volume(self.req(msg)).await)
    }

    pub(crate) async fn delete_volume(&self, vol: Uuid) -> Result<Info> {
        info(self.c().delete_volume(self.req(object(ObjectKind::Volume, vol))).await)
    }

    pub(crate) async fn wipe_volume(&self, vol: Uuid, algorithm: WipeAlgorithm) -> Result<Info> {
        let msg = v1::WipeVolumeRequest {
            kind: v1::ObjectKind::Volume.into(),
            uuid: vol.to_string(),
            algorithm: algorithm.as_str().to_owned(),
        };
        info(self.c().wipe_volume(self.req(msg)).await)
    }

    pub(crate) async fn resize_volume(&self, vol: Uuid, capacity: u64, opts: ResizeOptions) -> Result<Info> {
        let msg = v1::ResizeVolumeRequest {
            uuid: vol.to_string(),
            capacity,
            delta: opts.delta,
            shrink: opts.shrink,
            allocate: opts.allocate,
        };
        info(self.c().resize_volume(self.req(msg)).await)
    }

    pub(crate) async fn network_leases(&self, net: Uuid, mac: Option<String>) -> Result<Vec<Lease>> {
        let msg = v1::GetNetworkLeasesRequest { uuid: net.to_string(), mac };
        let r = self.c().get_network_leases(self.req(msg)).await.map_err(status)?;
        r.into_inner().leases.into_iter().map(conv::lease_from).collect()
    }

    pub(crate) async fn interface_addresses(
        &self,
        dom: Uuid,
        source: virtkit_engine::options::AddressSource,
    ) -> Result<Vec<Lease>> {
        let msg = v1::GetInterfaceAddressesRequest { uuid: dom.to_string(), source: source.as_str().to_owned() };
        let r = self.c().get_interface_addresses(self.req(msg)).await.map_err(status)?;
        r.into_inner().leases.into_iter().map(conv::lease_from).collect()
    }

    pub(crate) async fn update_network(
        &self,
        net: Uuid,
        update: &NetworkUpdate,
        opts: &NetworkUpdateOptions,
    ) -> Result<Info> {
        let msg = v1::UpdateNetworkRequest {
            uuid: net.to_string(),
            update: Some(conv::network_update_to(update)),
            options: Some(conv::update_options_to(opts)),
        };
        info(self.c().update_network(self.req(msg)).await)
    }
}
