//! `<disk type='volume'>` as QEMU opens it: the file, block device or
//! iSCSI LUN the engine resolved, with every layer of its backing chain
//! written out, each with its format, and the chain's end said, so that
//! QEMU opens exactly these images (its `-blockdev` nodes) and guesses
//! no format.

use std::sync::Arc;

use virtkit_engine::seams::{Layer, Resources, VolumeSource};
use virtkit_engine::{ErrorKind, Result};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{
    BackingLayer, DiskAuth, DiskBackingStore, DiskFormat, DiskSecretType, NetworkDiskSource, NetworkHost,
    NetworkProtocol, SourceLocation,
};

use crate::err;

/// Where one layer is, as a disk source.
fn location(source: &VolumeSource) -> Result<SourceLocation> {
    Ok(match source {
        VolumeSource::Block(p) => SourceLocation::Block { dev: Some(p.display().to_string()), reservations: None },
        VolumeSource::File(p) => SourceLocation::File { path: Some(p.display().to_string()), fdgroup: None },
        VolumeSource::Iscsi(l) => {
            let mut n = NetworkDiskSource::new(NetworkProtocol::Iscsi);
            n.name = Some(format!("{}/{}", l.target, l.lun));
            n.hosts = vec![NetworkHost::tcp(l.host.clone(), l.port)];
            n.initiator = l.initiator.clone();
            n.auth = l
                .chap
                .as_ref()
                .map(|(user, secret)| DiskAuth::new(user.clone(), DiskSecretType::Iscsi, secret.clone()));
            SourceLocation::Network(Box::new(n))
        }
        other => return Err(err(ErrorKind::Unsupported, format!("a volume on {other:?} cannot be opened"))),
    })
}

fn format_of(layer: &Layer, disk: &str) -> Result<DiskFormat> {
    layer.format.parse().map_err(|_| {
        err(ErrorKind::Unsupported, format!("disk {disk}: volume format '{}' cannot be opened by QEMU", layer.format))
    })
}

/// The chain below the top layer, ended with `<backingStore/>`.
fn backing(layers: &[Layer], disk: &str) -> Result<DiskBackingStore> {
    let mut below = DiskBackingStore::End;
    for l in layers.iter().rev() {
        let mut src = virtkit_model::domain::devices::DiskSource::file(None);
        src.location = location(&l.source)?;
        below =
            DiskBackingStore::Layer(Box::new(BackingLayer::new(src, format_of(l, disk)?).with_backing_store(below)));
    }
    Ok(below)
}

/// `def` with each `<disk type='volume'>` the engine resolved turned into
/// what it is (its format as the volume's, unless the disk names one, and
/// its backing chain as the volumes record it): what QEMU opens, and what
/// the live definition shows, so that the pools see each layer in use.
pub(crate) fn with_volumes(def: Arc<Domain>, res: &Resources) -> Result<Arc<Domain>> {
    if res.volumes.is_empty() {
        return Ok(def);
    }
    let mut d = (*def).clone();
    for v in &res.volumes {
        let (Some(disk), Some((top, below))) = (d.devices.disks.get_mut(v.disk), v.chain.split_first()) else {
            continue;
        };
        let dev = disk.target.dev.clone();
        disk.source.location = location(&top.source)?;
        let driver = disk.driver.get_or_insert_with(Default::default);
        if driver.format.is_none() {
            driver.format = Some(format_of(top, &dev)?);
        }
        disk.backing_store = Some(backing(below, &dev)?);
    }
    Ok(Arc::new(d))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use virtkit_engine::seams::ResolvedVolume;

    use super::*;

    #[test]
    fn a_volume_chain_becomes_the_disk_and_its_layers_with_their_formats() {
        let def = Domain::from_xml(
            "<domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>\
             <disk type='volume'><source pool='p' volume='top.qcow2'/><target dev='vda' bus='virtio'/></disk>\
             </devices></domain>",
        )
        .unwrap();
        let chain = vec![
            Layer::new(VolumeSource::File(PathBuf::from("/p/top.qcow2")), "qcow2"),
            Layer::new(VolumeSource::File(PathBuf::from("/p/mid.qcow2")), "qcow2"),
            Layer::new(VolumeSource::Block(PathBuf::from("/dev/loop7")), "raw"),
        ];
        let mut res = Resources::default();
        res.volumes = vec![ResolvedVolume::new(0, "p", "top.qcow2", chain)];
        let d = with_volumes(Arc::new(def), &res).unwrap();
        let disk = &d.devices.disks[0];
        assert_eq!(disk.source.path(), Some("/p/top.qcow2"));
        assert_eq!(disk.driver.as_ref().and_then(|d| d.format), Some(DiskFormat::Qcow2));
        let b = disk.backing_store.as_ref().unwrap();
        let layers: Vec<_> = b.layers().map(|l| (l.source.path().unwrap(), l.format.format)).collect();
        assert_eq!(layers, [("/p/mid.qcow2", DiskFormat::Qcow2), ("/dev/loop7", DiskFormat::Raw)]);
        assert!(b.ends(), "the chain is said to end: QEMU opens nothing more");
        let xml = d.to_xml();
        assert!(xml.contains("<source dev=\"/dev/loop7\"/>") || xml.contains("<source dev='/dev/loop7'/>"), "{xml}");
    }
}
