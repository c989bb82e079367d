//! Between the wire and virtkit's types for the calls every kind of object
//! shares, and for networks', pools' and volumes' own: one conversion per
//! type, each way. Values a client sends that do not hold are
//! invalid-argument, naming the field; values a daemon sends that do not
//! hold are internal (`bad`).

use uuid::Uuid;
use virtkit_engine::options::NetworkUpdateOptions;
use virtkit_engine::types::{self as t, JobKind, ObjectKind, ResourceState};
use virtkit_engine::{Error, ErrorKind, Info};
use virtkit_model::network::{NetworkUpdate, NetworkUpdateCommand, NetworkUpdateSection};

use crate::convert::{self, bad, objects, resource_states, uuid_text};
use crate::v1;

/// A request's field that does not hold.
fn invalid(field: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{field}: {why}"))
}

/// The kind a request names.
pub fn kind_from(v: i32) -> Result<ObjectKind, Error> {
    objects().from(v).ok_or_else(|| invalid("kind", format!("{v} is not a kind of object")))
}

pub fn kind_to(k: ObjectKind) -> i32 {
    objects().to(k)
}

/// A UUID a request carries in `field`.
pub fn uuid_field(field: &str, s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|_| invalid(field, format!("'{}' is not a UUID", crate::cut(s))))
}

fn resource_from(v: i32) -> Result<ResourceState, Error> {
    resource_states().from(v).ok_or_else(|| bad("resource state", &v.to_string()))
}

pub fn job_to(j: &t::JobInfo) -> v1::JobInfo {
    v1::JobInfo {
        kind: j.kind.as_str().to_owned(),
        started_ms: j.started_ms,
        done: j.done,
        total: j.total,
        cancellable: j.cancellable,
        allows: j.allows.iter().map(|k| k.as_str().to_owned()).collect(),
    }
}

pub fn job_from(j: v1::JobInfo) -> Result<t::JobInfo, Error> {
    let kind: JobKind = j.kind.parse().map_err(|_| bad("job kind", &j.kind))?;
    let mut out = t::JobInfo::new(kind, j.started_ms);
    out.done = j.done;
    out.total = j.total;
    out.cancellable = j.cancellable;
    // A job kind this side does not know (a newer peer's) is left out.
    out.allows = j.allows.iter().filter_map(|a| a.parse().ok()).collect();
    Ok(out)
}

pub fn network_to(i: t::NetworkInfo) -> v1::NetworkInfo {
    v1::NetworkInfo {
        uuid: uuid_text(&i.uuid),
        job: i.job.as_ref().map(job_to),
        name: i.name,
        state: resource_states().to(i.state),
        persistent: i.persistent,
        autostart: i.autostart,
        generation: i.generation,
        bridge: i.bridge,
        ports: i.ports,
    }
}

pub fn network_from(i: v1::NetworkInfo) -> Result<t::NetworkInfo, Error> {
    let mut out = t::NetworkInfo::new(convert::uuid(&i.uuid)?, i.name);
    out.state = resource_from(i.state)?;
    out.persistent = i.persistent;
    out.autostart = i.autostart;
    out.generation = i.generation;
    out.bridge = i.bridge;
    out.ports = i.ports;
    out.job = i.job.map(job_from).transpose()?;
    Ok(out)
}

pub fn pool_to(i: t::PoolInfo) -> v1::PoolInfo {
    v1::PoolInfo {
        uuid: uuid_text(&i.uuid),
        job: i.job.as_ref().map(job_to),
        name: i.name,
        pool_type: i.pool_type,
        state: resource_states().to(i.state),
        persistent: i.persistent,
        autostart: i.autostart,
        generation: i.generation,
        capacity: i.capacity,
        allocation: i.allocation,
        available: i.available,
        volumes: i.volumes,
    }
}

pub fn pool_from(i: v1::PoolInfo) -> Result<t::PoolInfo, Error> {
    let mut out = t::PoolInfo::new(convert::uuid(&i.uuid)?, i.name, i.pool_type);
    out.state = resource_from(i.state)?;
    out.persistent = i.persistent;
    out.autostart = i.autostart;
    out.generation = i.generation;
    out.capacity = i.capacity;
    out.allocation = i.allocation;
    out.available = i.available;
    out.volumes = i.volumes;
    out.job = i.job.map(job_from).transpose()?;
    Ok(out)
}

pub fn volume_to(i: t::VolumeInfo) -> v1::VolumeInfo {
    v1::VolumeInfo {
        uuid: uuid_text(&i.uuid),
        pool_uuid: uuid_text(&i.pool_uuid),
        job: i.job.as_ref().map(job_to),
        name: i.name,
        pool: i.pool,
        key: i.key,
        path: i.path,
        volume_type: i.volume_type,
        format: i.format,
        capacity: i.capacity,
        allocation: i.allocation,
        state: resource_states().to(i.state),
        generation: i.generation,
    }
}

pub fn volume_from(i: v1::VolumeInfo) -> Result<t::VolumeInfo, Error> {
    let mut out = t::VolumeInfo::new(convert::uuid(&i.uuid)?, i.name, i.pool, convert::uuid(&i.pool_uuid)?);
    out.key = i.key;
    out.path = i.path;
    out.volume_type = i.volume_type;
    out.format = i.format;
    out.capacity = i.capacity;
    out.allocation = i.allocation;
    out.state = resource_from(i.state)?;
    out.generation = i.generation;
    out.job = i.job.map(job_from).transpose()?;
    Ok(out)
}

pub fn secret_to(i: t::SecretInfo) -> v1::SecretInfo {
    v1::SecretInfo {
        uuid: uuid_text(&i.uuid),
        job: i.job.as_ref().map(job_to),
        usage_type: i.usage_type,
        usage_id: i.usage_id,
        description: i.description,
        ephemeral: i.ephemeral,
        private: i.private,
        has_value: i.has_value,
        generation: i.generation,
    }
}

pub fn secret_from(i: v1::SecretInfo) -> Result<t::SecretInfo, Error> {
    let mut out = t::SecretInfo::new(convert::uuid(&i.uuid)?);
    out.usage_type = i.usage_type;
    out.usage_id = i.usage_id;
    out.description = i.description;
    out.ephemeral = i.ephemeral;
    out.private = i.private;
    out.has_value = i.has_value;
    out.generation = i.generation;
    out.job = i.job.map(job_from).transpose()?;
    Ok(out)
}

pub fn object_to(i: Info) -> v1::ObjectInfo {
    use v1::object_info::Info as W;
    let info = match i {
        Info::Domain(d) => W::Domain(convert::info_to(d)),
        Info::Network(n) => W::Network(network_to(n)),
        Info::Pool(p) => W::Pool(pool_to(p)),
        Info::Volume(v) => W::Volume(volume_to(v)),
        Info::Secret(s) => W::Secret(secret_to(s)),
        // A kind this daemon does not send yet.
        _ => return v1::ObjectInfo { info: None },
    };
    v1::ObjectInfo { info: Some(info) }
}

pub fn object_from(i: v1::ObjectInfo) -> Result<Info, Error> {
    use v1::object_info::Info as W;
    match i.info {
        Some(W::Domain(d)) => convert::info_from(d).map(Info::from),
        Some(W::Network(n)) => network_from(n).map(Info::from),
        Some(W::Pool(p)) => pool_from(p).map(Info::from),
        Some(W::Volume(v)) => volume_from(v).map(Info::from),
        Some(W::Secret(s)) => secret_from(s).map(Info::from),
        None => Err(bad("object info", "none")),
    }
}

pub fn list_to(l: t::List<Info>) -> v1::ObjectList {
    v1::ObjectList { revision: l.revision, items: l.items.into_iter().map(object_to).collect() }
}

pub fn list_from(l: v1::ObjectList) -> Result<t::List<Info>, Error> {
    let items = l.items.into_iter().map(object_from).collect::<Result<Vec<_>, _>>()?;
    Ok(t::List::new(l.revision, items))
}

pub fn lease_to(l: &t::Lease) -> v1::Lease {
    v1::Lease {
        iface: l.iface.clone(),
        mac: l.mac.to_string(),
        ip: l.ip.to_string(),
        prefix: u32::from(l.prefix),
        hostname: l.hostname.clone(),
        client_id: l.client_id.clone(),
        expiry: l.expiry,
    }
}

pub fn lease_from(l: v1::Lease) -> Result<t::Lease, Error> {
    let mac = l.mac.parse().map_err(|_| bad("MAC address", &l.mac))?;
    let ip = l.ip.parse().map_err(|_| bad("IP address", &l.ip))?;
    let prefix = u8::try_from(l.prefix).map_err(|_| bad("prefix", &l.prefix.to_string()))?;
    let mut out = t::Lease::new(l.iface, mac, ip, prefix);
    out.hostname = l.hostname;
    out.client_id = l.client_id;
    out.expiry = l.expiry;
    Ok(out)
}

pub fn network_update_to(u: &NetworkUpdate) -> v1::NetworkUpdate {
    v1::NetworkUpdate {
        command: u.command.as_str().to_owned(),
        section: u.section.as_str().to_owned(),
        xml: u.xml.clone(),
        // An index past u32 names no <ip> either way.
        parent_index: u.parent_index.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
    }
}

/// An update a client sent.
pub fn network_update_from(u: v1::NetworkUpdate) -> Result<NetworkUpdate, Error> {
    let command: NetworkUpdateCommand = u.command.parse().map_err(|e| invalid("command", e))?;
    let section: NetworkUpdateSection = u.section.parse().map_err(|e| invalid("section", e))?;
    let mut out = NetworkUpdate::new(command, section, u.xml);
    if let Some(i) = u.parent_index {
        out = out.with_parent_index(usize::try_from(i).unwrap_or(usize::MAX));
    }
    Ok(out)
}

pub fn update_options_to(o: &NetworkUpdateOptions) -> v1::NetworkUpdateOptions {
    v1::NetworkUpdateOptions { live: o.live, config: o.config, expected_generation: o.expected_generation }
}

pub fn update_options_from(o: v1::NetworkUpdateOptions) -> NetworkUpdateOptions {
    let mut out = NetworkUpdateOptions::default().live(o.live).config(o.config);
    out.expected_generation = o.expected_generation;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> t::JobInfo {
        let mut j = t::JobInfo::new(JobKind::Upload, 1_700_000_000_123);
        j.done = 5;
        j.total = 10;
        j.allows = vec![JobKind::Download];
        j
    }

    #[test]
    fn every_info_round_trips() {
        let mut n = t::NetworkInfo::new(Uuid::new_v4(), "default");
        n.state = ResourceState::Active;
        n.persistent = true;
        n.autostart = true;
        n.generation = 3;
        n.bridge = Some("virbr0".into());
        n.ports = 2;
        n.job = Some(job());
        let mut p = t::PoolInfo::new(Uuid::new_v4(), "images", "dir");
        p.state = ResourceState::Active;
        p.generation = 7;
        p.capacity = 100;
        p.allocation = 40;
        p.available = 60;
        p.volumes = 4;
        p.persistent = true;
        let mut v = t::VolumeInfo::new(Uuid::new_v4(), "a.img", "images", p.uuid);
        v.key = "/images/a.img".into();
        v.path = Some("/images/a.img".into());
        v.volume_type = Some("file".into());
        v.format = Some("qcow2".into());
        v.capacity = 1 << 30;
        v.allocation = 1 << 20;
        v.state = ResourceState::Building;
        v.generation = 2;
        v.job = Some(job());
        let mut d = t::DomainInfo::new(Uuid::new_v4(), "vm");
        d.generation = 9;
        let mut s = t::SecretInfo::new(Uuid::new_v4());
        s.usage_type = Some("iscsi".into());
        s.usage_id = Some("chap".into());
        s.description = Some("a target's password".into());
        s.ephemeral = true;
        s.private = true;
        s.has_value = true;
        s.generation = 4;
        s.job = Some(job());
        let bare = t::SecretInfo::new(Uuid::new_v4());
        for i in [Info::from(n), Info::from(p), Info::from(v), Info::from(d), Info::from(s), Info::from(bare)] {
            assert_eq!(object_from(object_to(i.clone())).unwrap(), i);
        }
    }

    #[test]
    fn a_list_and_a_lease_round_trip() {
        let l = t::List::new(42, vec![Info::from(t::NetworkInfo::new(Uuid::new_v4(), "n"))]);
        assert_eq!(list_from(list_to(l.clone())).unwrap(), l);
        let mut lease = t::Lease::new("virbr0", "52:54:00:00:00:01".parse().unwrap(), "10.0.0.2".parse().unwrap(), 24);
        lease.hostname = Some("vm".into());
        lease.expiry = Some(1_800_000_000);
        assert_eq!(lease_from(lease_to(&lease)).unwrap(), lease);
    }

    #[test]
    fn a_bad_kind_or_uuid_in_a_request_is_invalid_argument_naming_the_field() {
        let e = kind_from(0).unwrap_err();
        assert_eq!((e.kind(), e.message()), (ErrorKind::InvalidArgument, "kind: 0 is not a kind of object"));
        let e = uuid_field("pool", &"x".repeat(10_000)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().starts_with("pool: 'xxx") && e.message().len() < 300, "{}", e.message());
        for k in ObjectKind::ALL {
            assert_eq!(kind_from(kind_to(*k)).unwrap(), *k);
        }
    }

    #[test]
    fn a_network_update_and_its_options_round_trip_and_bad_words_name_the_field() {
        for c in NetworkUpdateCommand::ALL {
            for s in NetworkUpdateSection::ALL {
                let u = NetworkUpdate::new(*c, *s, "<host mac='52:54:00:00:00:01' ip='10.0.0.5'/>");
                assert_eq!(network_update_from(network_update_to(&u)).unwrap(), u);
                let u = u.with_parent_index(2);
                assert_eq!(network_update_from(network_update_to(&u)).unwrap(), u);
            }
        }
        for o in [
            NetworkUpdateOptions::default(),
            NetworkUpdateOptions::default().live(true),
            NetworkUpdateOptions::default().config(true).expected_generation(4),
            NetworkUpdateOptions::default().live(true).config(true).expected_generation(0),
        ] {
            assert_eq!(update_options_from(update_options_to(&o)), o);
        }
        let wire = |command: &str, section: &str| v1::NetworkUpdate {
            command: command.into(),
            section: section.into(),
            xml: String::new(),
            parent_index: None,
        };
        assert_eq!(network_update_from(wire("add", "dns-host")).unwrap().command, NetworkUpdateCommand::AddLast);
        let e = network_update_from(wire("ad", "dns-host")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().starts_with("command: "), "{}", e.message());
        let e = network_update_from(wire("add", "dns-hots")).unwrap_err();
        assert!(e.message().starts_with("section: "), "{}", e.message());
    }

    #[test]
    fn an_empty_object_info_from_a_peer_is_refused() {
        assert_eq!(object_from(v1::ObjectInfo { info: None }).unwrap_err().kind(), ErrorKind::Internal);
    }
}
