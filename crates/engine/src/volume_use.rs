//! Volumes as guests use them: a `<disk type='volume'>` resolved at start
//! to its whole backing chain (every layer's format explicit, so QEMU never
//! guesses one), and the running domains that use a volume (as a disk or
//! as any layer below one), which keep it from being deleted, wiped,
//! shrunk or written.

use std::borrow::Cow;
use std::path::PathBuf;

use uuid::Uuid;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Disk, DiskSource, NetworkProtocol, SourceLocation};
use virtkit_model::storage::{Pool, PoolType, SecretRef, Volume, VolumeType};

use crate::error::{Error, ErrorKind, Result};
use crate::registry::Registry;
use crate::seams::{DomainSecret, IscsiLun, Layer, ResolvedVolume, VolumeSource};

/// A chain longer than this is refused (QEMU's own limit is near it).
const MAX_LAYERS: usize = 64;

/// Every path a disk of a running domain opens: its source, and each layer
/// of its backing chain (the live definition holds the chain the engine
/// resolved at start); an iSCSI LUN as the `iscsi://` URL its volume has.
fn disk_paths<'r>(reg: &'r Registry, disk: &'r Disk) -> impl Iterator<Item = Cow<'r, str>> {
    let of = |s: &'r DiskSource| s.path().map(Cow::Borrowed).or_else(|| iscsi_url(s).map(Cow::Owned));
    let top = of(&disk.source).or_else(|| volume_path(reg, disk).map(Cow::Borrowed));
    let below = disk.backing_store.iter().flat_map(|b| b.layers()).filter_map(move |l| of(&l.source));
    top.into_iter().chain(below)
}

/// The `iscsi://HOST:PORT/IQN/LUN` URL of an iSCSI network source, as an
/// iscsi-direct pool names its volumes.
fn iscsi_url(s: &DiskSource) -> Option<String> {
    let SourceLocation::Network(n) = &s.location else { return None };
    if n.protocol != NetworkProtocol::Iscsi {
        return None;
    }
    let h = n.hosts.first()?;
    let name = h.name.as_deref()?;
    let port = h.port.unwrap_or(3260);
    let host = if name.contains(':') { format!("[{name}]") } else { name.to_owned() };
    Some(format!("iscsi://{host}:{port}/{}", n.name.as_deref()?))
}

/// The running domains whose disks use any of `paths`, by name.
pub(crate) fn users_of(reg: &Registry, paths: &[&str]) -> Vec<String> {
    if paths.is_empty() {
        return Vec::new();
    }
    let mut users: Vec<String> = reg
        .domains
        .iter()
        .filter(|d| d.active())
        .filter(|d| {
            d.live
                .iter()
                .flat_map(|l| l.devices.disks.iter())
                .any(|k| disk_paths(reg, k).any(|s| paths.contains(&s.as_ref())))
        })
        .map(|d| format!("domain '{}'", d.name))
        .collect();
    users.sort();
    users
}

/// Refuses to `doing` a volume a running domain uses; the error names them.
pub(crate) fn ensure_unused(reg: &Registry, vol: &Volume, doing: &str) -> Result<()> {
    let paths: Vec<&str> = vol.target.path.as_deref().into_iter().collect();
    let users = users_of(reg, &paths);
    if users.is_empty() {
        return Ok(());
    }
    Err(Error::state(format!("storage volume '{}' cannot {doing}: it is in use by {}", vol.name, users.join(", "))))
}

/// The path of the pool volume a `<disk type='volume'>` names, if the
/// pool and volume are there.
fn volume_path<'r>(reg: &'r Registry, disk: &Disk) -> Option<&'r str> {
    let SourceLocation::Volume(v) = &disk.source.location else { return None };
    let pool = reg.pools.by_name(Uuid::nil(), &v.pool)?;
    let vol = reg.volumes.by_name(pool, &v.volume)?;
    reg.volumes.get_any(&vol)?.current_def()?.target.path.as_deref()
}

/// The volume of an active pool at `path`, with its pool's live
/// definition, if one is there.
fn volume_at<'r>(reg: &'r Registry, path: &str) -> Option<(&'r Volume, Option<&'r Pool>)> {
    reg.volumes.iter().filter(|r| !r.hidden).find_map(|r| {
        let v: &Volume = r.current_def()?;
        if v.target.path.as_deref() != Some(path) {
            return None;
        }
        let pool = reg.pools.get_any(&r.parent).filter(|p| p.active())?;
        Some((v, pool.current_def().map(|d| &**d)))
    })
}

/// The CHAP login of an iscsi-direct pool whose definition has `<auth>`.
fn pool_chap(pool: &Pool) -> Option<(String, SecretRef)> {
    let a = pool.source.auth.as_ref().filter(|_| pool.pool_type == PoolType::IscsiDirect)?;
    Some((a.username.clone(), a.secret.clone()))
}

/// Where a volume's data is, from its path and type; a LUN logs in with
/// its pool's initiator name and CHAP.
fn source_of(path: &str, vol: Option<&Volume>, pool: Option<&Pool>) -> std::result::Result<VolumeSource, String> {
    if let Some(rest) = path.strip_prefix("iscsi://") {
        let mut lun = iscsi_lun(rest, pool.and_then(|p| p.source.initiator_iqn.as_deref()))?;
        lun.chap = pool.and_then(pool_chap);
        return Ok(VolumeSource::Iscsi(lun));
    }
    if path.contains("://") {
        return Err(format!("{path} is not a path or an iscsi:// URL"));
    }
    Ok(match vol.and_then(|v| v.volume_type) {
        Some(VolumeType::Block) => VolumeSource::Block(PathBuf::from(path)),
        _ => VolumeSource::File(PathBuf::from(path)),
    })
}

/// `HOST[:PORT]/IQN/LUN` (after `iscsi://`).
fn iscsi_lun(rest: &str, initiator: Option<&str>) -> std::result::Result<IscsiLun, String> {
    let bad = || format!("iscsi://{rest} is not iscsi://HOST:PORT/IQN/LUN");
    let (portal, path) = rest.split_once('/').ok_or_else(bad)?;
    let (target, lun) = path.rsplit_once('/').ok_or_else(bad)?;
    let lun: u32 = lun.parse().map_err(|_| bad())?;
    let (host, port) = match portal.strip_prefix('[') {
        Some(v6) => v6.split_once(']').ok_or_else(bad)?,
        None => portal.find(':').map_or((portal, ""), |at| portal.split_at(at)),
    };
    let port = match port.strip_prefix(':') {
        Some(p) => p.parse::<u16>().map_err(|_| bad())?,
        None if port.is_empty() => 3260,
        None => return Err(bad()),
    };
    if host.is_empty() || target.is_empty() {
        return Err(bad());
    }
    Ok(IscsiLun {
        host: host.to_owned(),
        port,
        target: target.to_owned(),
        lun,
        initiator: initiator.map(str::to_owned),
        chap: None,
    })
}

/// The layers below `vol`, each with its format as the image records it
/// (or as its pool knows it), a LUN with its pool's login. A layer that is
/// no volume of an active pool ends the chain only if its format cannot
/// have a backing file: what lies below it would otherwise be unknown.
fn backing_layers(reg: &Registry, dev: &str, vol: &Volume) -> Result<Vec<Layer>> {
    let refuse = |msg: String| Error::new(ErrorKind::InvalidArgument, format!("disk {dev}: {msg}"));
    let mut seen: Vec<&str> = vol.target.path.as_deref().into_iter().collect();
    let mut layers = Vec::new();
    let mut above = vol;
    while let Some(b) = &above.backing_store {
        if seen.contains(&b.path.as_str()) {
            return Err(refuse(format!("the backing chain of volume '{}' loops at {}", vol.name, b.path)));
        }
        if seen.len() > MAX_LAYERS {
            return Err(refuse(format!("volume '{}' has more than {MAX_LAYERS} backing layers", vol.name)));
        }
        seen.push(&b.path);
        let known = volume_at(reg, &b.path);
        let format = b.format.or_else(|| known.and_then(|(v, _)| v.target.format)).ok_or_else(|| {
            refuse(format!(
                "the backing file {} of '{}' has no recorded format, and QEMU must not guess one \
                 (qemu-img rebase -u -F FORMAT sets it)",
                b.path, above.name
            ))
        })?;
        let source = source_of(&b.path, known.map(|k| k.0), known.and_then(|k| k.1)).map_err(refuse)?;
        layers.push(Layer::new(source, format.as_str()));
        match known {
            Some((v, _)) => above = v,
            None if format.has_backing() => {
                return Err(refuse(format!(
                    "the backing file {} of '{}' is in no active pool, so what lies below it is not known",
                    b.path, above.name
                )));
            }
            None => break,
        }
    }
    Ok(layers)
}

/// Each `<disk type='volume'>` of `def` resolved to its volume's whole
/// chain, formats explicit: the pool must be running and hold the volume.
/// The error names the disk and what is missing.
pub(crate) fn resolve_disks(reg: &Registry, def: &Domain) -> Result<Vec<ResolvedVolume>> {
    let mut out = Vec::new();
    for (i, d) in def.devices.disks.iter().enumerate() {
        let SourceLocation::Volume(v) = &d.source.location else { continue };
        let dev = &d.target.dev;
        let pool = reg
            .pools
            .by_name(Uuid::nil(), &v.pool)
            .and_then(|u| reg.pools.get_any(&u))
            .filter(|p| !p.hidden)
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("disk {dev}: storage pool '{}' does not exist", v.pool))
            })?;
        if !pool.active() {
            return Err(Error::state(format!("disk {dev}: storage pool '{}' is not active", v.pool)));
        }
        let vol = reg
            .volumes
            .by_name(pool.uuid, &v.volume)
            .and_then(|u| reg.volumes.get_any(&u))
            .filter(|r| !r.hidden)
            .and_then(|r| r.current_def())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("disk {dev}: storage pool '{}' has no volume '{}'", v.pool, v.volume),
                )
            })?;
        let Some(path) = vol.target.path.as_deref() else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("disk {dev}: volume '{}' of pool '{}' has no path on this host", v.volume, v.pool),
            ));
        };
        let live = pool.current_def().map(|d| &**d);
        if live.is_some_and(|p| p.pool_type == PoolType::IscsiDirect) && !path.starts_with("iscsi://") {
            return Err(Error::new(
                ErrorKind::Internal,
                format!("disk {dev}: iscsi-direct volume '{}' has no iscsi:// URL", v.volume),
            ));
        }
        let source = source_of(path, Some(vol), live)
            .map_err(|m| Error::new(ErrorKind::InvalidArgument, format!("disk {dev}: {m}")))?;
        let format = vol.target.format.map_or("raw", |f| f.as_str());
        let mut chain = vec![Layer::new(source, format)];
        chain.extend(backing_layers(reg, dev, vol)?);
        out.push(ResolvedVolume::new(i, &v.pool, &v.volume, chain));
    }
    Ok(out)
}

/// The value of each secret `def`'s disks log in with (the `<auth>` of a
/// network source or backing layer, and the CHAP of every layer of the
/// chains in `volumes`), once each. The error names the disk and the
/// secret missing.
pub(crate) fn resolve_secrets(reg: &Registry, def: &Domain, volumes: &[ResolvedVolume]) -> Result<Vec<DomainSecret>> {
    let from_sources = def.devices.disks.iter().flat_map(|d| {
        let below = d.backing_store.iter().flat_map(|b| b.layers()).map(|l| &l.source);
        std::iter::once(&d.source).chain(below).filter_map(|s| match &s.location {
            SourceLocation::Network(n) => {
                n.auth.as_ref().map(|a| (d.target.dev.as_str(), &a.secret, a.secret_type.as_str()))
            }
            _ => None,
        })
    });
    let from_volumes = volumes.iter().flat_map(|v| {
        let dev = def.devices.disks.get(v.disk).map_or("", |d| d.target.dev.as_str());
        v.chain.iter().filter_map(move |l| match &l.source {
            VolumeSource::Iscsi(lun) => lun.chap.as_ref().map(|(_, r)| (dev, r, "iscsi")),
            _ => None,
        })
    });
    let mut out: Vec<DomainSecret> = Vec::new();
    for (dev, r, usage) in from_sources.chain(from_volumes) {
        if out.iter().any(|s| s.reference == *r) {
            continue;
        }
        let value = crate::secret::secret_value(reg, r, Some(usage))
            .map_err(|e| Error::new(e.kind(), format!("disk {dev}: {}", e.message())))?;
        out.push(DomainSecret::new(r.clone(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use virtkit_model::secret::{Secret, SecretUsage};
    use virtkit_model::storage::{BackingStore, VolumeFormat};

    use super::*;
    use crate::kind::Record;
    use crate::seams::SecretBytes;
    use crate::secret::SecretKind;
    use crate::storage::PoolKind;
    use crate::types::ResourceState;
    use crate::volume::VolumeKind;

    const LUN: &str = "iscsi://[::1]:3260/iqn.2026-12.org.example:chap/1";

    /// A running pool of `xml` in `reg`, holding `vols`.
    fn running_pool(reg: &mut Registry, xml: &str, vols: Vec<Volume>) {
        let def = Pool::from_xml(xml).unwrap();
        let mut pool = Record::<PoolKind>::new(def.uuid, def.name.clone());
        pool.state = ResourceState::Active;
        pool.live = Some(Arc::new(def));
        for v in vols {
            let mut r = Record::<VolumeKind>::new(Uuid::new_v4(), v.name.clone());
            r.parent = pool.uuid;
            r.state = ResourceState::Active;
            r.config = Some(Arc::new(v));
            reg.volumes.insert(r);
        }
        reg.pools.insert(pool);
    }

    /// A dir pool's qcow2 over a LUN of a CHAP iscsi-direct pool, and a
    /// guest with the overlay as vda and the LUN itself as vdb.
    fn overlay_over_chap_lun(with_secret: bool) -> (Registry, Domain) {
        let mut reg = Registry::new(16);
        let iscsi = "<pool type='iscsi-direct'><name>luns</name><source><host name='::1'/>\
                     <device path='iqn.2026-12.org.example:chap'/>\
                     <auth type='chap' username='u'><secret usage='tgt'/></auth>\
                     <initiator><iqn name='iqn.2026-12.org.example:client'/></initiator></source></pool>";
        let lun = Volume::new("unit:0:0:1").with_path(LUN).with_format(VolumeFormat::Raw);
        running_pool(&mut reg, iscsi, vec![lun]);
        // As a dir pool's refresh finds it (qemu-img info of the file).
        let mut top = Volume::new("top.qcow2").with_path("/p/top.qcow2").with_format(VolumeFormat::Qcow2);
        top.backing_store = Some(BackingStore::new(LUN).with_format(VolumeFormat::Raw));
        running_pool(&mut reg, "<pool type='dir'><name>p</name><target><path>/p</path></target></pool>", vec![top]);
        if with_secret {
            let mut s = Record::<SecretKind>::new(Uuid::new_v4(), "tgt".into());
            s.config = Some(Arc::new(Secret::new().with_usage(SecretUsage::Iscsi("tgt".into()))));
            s.extra.value = Some(SecretBytes::new(b"secretpass12".to_vec()));
            reg.secrets.insert(s);
        }
        let def = Domain::from_xml(
            "<domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>\
             <disk type='volume'><source pool='p' volume='top.qcow2'/><target dev='vda' bus='virtio'/></disk>\
             <disk type='volume'><source pool='luns' volume='unit:0:0:1'/><target dev='vdb' bus='virtio'/></disk>\
             </devices></domain>",
        )
        .unwrap();
        (reg, def)
    }

    #[test]
    fn a_lun_below_a_qcow2_logs_in_with_its_pools_chap_and_the_secret_is_given_once() {
        let (reg, def) = overlay_over_chap_lun(true);
        let vols = resolve_disks(&reg, &def).unwrap();
        let secret = SecretRef::Usage("tgt".into());
        let chap = Some(("u".to_owned(), secret.clone()));
        let [top, lower] = vols[0].chain.as_slice() else { panic!("{:?}", vols[0].chain) };
        assert_eq!((top.source.clone(), top.format.as_str()), (VolumeSource::File("/p/top.qcow2".into()), "qcow2"));
        let VolumeSource::Iscsi(l) = &lower.source else { panic!("{lower:?}") };
        assert_eq!((l.host.as_str(), l.port, l.lun, lower.format.as_str()), ("::1", 3260, 1, "raw"));
        assert_eq!(l.initiator.as_deref(), Some("iqn.2026-12.org.example:client"));
        assert_eq!(l.chap, chap, "the lower layer logs in as the pool does");
        let VolumeSource::Iscsi(l) = &vols[1].chain[0].source else { panic!("{:?}", vols[1]) };
        assert_eq!(l.chap, chap, "the LUN as a disk of its own logs in too");
        let secrets = resolve_secrets(&reg, &def, &vols).unwrap();
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        assert_eq!((&secrets[0].reference, secrets[0].value.as_bytes()), (&secret, &b"secretpass12"[..]));
    }

    #[test]
    fn a_lower_layers_missing_secret_is_refused_naming_the_disk() {
        let (reg, mut def) = overlay_over_chap_lun(false);
        def.devices.disks.truncate(1);
        let vols = resolve_disks(&reg, &def).unwrap();
        let err = resolve_secrets(&reg, &def, &vols).unwrap_err();
        assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "disk vda: no secret with usage 'tgt'"));
    }

    #[test]
    fn a_backing_layer_written_in_the_domain_logs_in_with_its_secret() {
        let (reg, _) = overlay_over_chap_lun(true);
        let def = |usage: &str| {
            Domain::from_xml(&format!(
                "<domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>\
                 <devices><disk type='file'><driver name='qemu' type='qcow2'/><source file='/p/top.qcow2'/>\
                 <backingStore type='network'><format type='raw'/>\
                 <source protocol='iscsi' name='iqn.2026-12.org.example:chap/1'><host name='::1'/>\
                 <auth username='u'><secret type='iscsi' usage='{usage}'/></auth></source><backingStore/>\
                 </backingStore><target dev='vdc' bus='virtio'/></disk></devices></domain>"
            ))
            .unwrap()
        };
        let secrets = resolve_secrets(&reg, &def("tgt"), &[]).unwrap();
        assert_eq!(secrets.iter().map(|s| &s.reference).collect::<Vec<_>>(), [&SecretRef::Usage("tgt".into())]);
        let err = resolve_secrets(&reg, &def("nope"), &[]).unwrap_err();
        assert_eq!(err.message(), "disk vdc: no secret with usage 'nope'");
    }

    #[test]
    fn an_ipv6_lun_url_reads_back_as_written() {
        let l = iscsi_lun(LUN.strip_prefix("iscsi://").unwrap(), None).unwrap();
        let (host, port, name) = (l.host, l.port, format!("{}/{}", l.target, l.lun));
        let mut n = virtkit_model::domain::devices::NetworkDiskSource::new(NetworkProtocol::Iscsi);
        n.name = Some(name);
        n.hosts = vec![virtkit_model::domain::devices::NetworkHost::tcp(host, port)];
        let mut s = DiskSource::file(None);
        s.location = SourceLocation::Network(Box::new(n));
        assert_eq!(iscsi_url(&s).as_deref(), Some(LUN));
    }

    #[test]
    fn iscsi_urls_are_read_whole() {
        let l = iscsi_lun("127.0.0.1:3261/iqn.2026-12.org.example:t1/2", Some("iqn.x:c")).unwrap();
        assert_eq!(
            (l.host.as_str(), l.port, l.target.as_str(), l.lun),
            ("127.0.0.1", 3261, "iqn.2026-12.org.example:t1", 2)
        );
        assert_eq!(l.initiator.as_deref(), Some("iqn.x:c"));
        let l = iscsi_lun("[::1]/iqn.a:b/0", None).unwrap();
        assert_eq!((l.host.as_str(), l.port), ("::1", 3260));
        let l = iscsi_lun("[2001:db8::5:7]:3262/iqn.a:b/0", None).unwrap();
        assert_eq!((l.host.as_str(), l.port), ("2001:db8::5:7", 3262));
        for bad in
            ["127.0.0.1", "h/iqn", "h/iqn/x", "h:port/iqn/1", "/iqn/1", "h//1", "[::1/i/1", "[::1]x/i/1", "a:1:2/i/1"]
        {
            assert!(iscsi_lun(bad, None).is_err(), "{bad}");
        }
        assert!(source_of("nbd://h/x", None, None).is_err());
    }
}
