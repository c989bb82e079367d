//! Disks: every source type, backing chains, driver options and I/O
//! limits, keeping to what `validate` checks (a floppy is on fdc, a LUN on a
//! block, network or volume source, one host for most protocols, distinct
//! chain indexes).

use proptest::prelude::*;
use uuid::Uuid;
use virtkit_model::domain::devices::{
    BackingLayer, DetectZeroes, Disk, DiskAuth, DiskBackingStore, DiskBus, DiskCache, DiskDevice, DiskDiscard,
    DiskDriver, DiskDriverName, DiskFormat, DiskIo, DiskModel, DiskSecretType, DiskSource, DiskType, ErrorPolicy,
    IoTune, NetworkDiskSource, NetworkHost, NetworkProtocol, ReadErrorPolicy, Sgio, Slice, Tray, VirtioOptions,
};
use virtkit_model::storage::SecretRef;

use crate::{abs_path, alias_address, device_boot, one_of, opt, opt_bool, opt_of, re};

fn host() -> BoxedStrategy<NetworkHost> {
    prop_oneof![
        (re("[a-z][a-z0-9.-]{0,12}"), 1u16..=u16::MAX).prop_map(|(n, p)| NetworkHost::tcp(n, p)),
        abs_path().prop_map(NetworkHost::unix),
    ]
    .boxed()
}

fn network() -> BoxedStrategy<DiskSource> {
    let protocols = &[
        NetworkProtocol::Nbd,
        NetworkProtocol::Iscsi,
        NetworkProtocol::Rbd,
        NetworkProtocol::Gluster,
        NetworkProtocol::Http,
        NetworkProtocol::Https,
    ];
    (one_of(protocols), re("[a-z0-9][a-z0-9/_.-]{0,16}"), host(), any::<bool>(), opt_bool())
        .prop_map(|(proto, name, host, auth, tls)| {
            let mut n = NetworkDiskSource::new(proto).with_name(name).with_host(host);
            if auth && matches!(proto, NetworkProtocol::Rbd | NetworkProtocol::Iscsi) {
                let kind = if proto == NetworkProtocol::Rbd { DiskSecretType::Ceph } else { DiskSecretType::Iscsi };
                n = n.with_auth(DiskAuth::new("admin", kind, SecretRef::Uuid(Uuid::from_u128(7))));
            }
            if proto == NetworkProtocol::Nbd {
                n.tls = tls;
            }
            DiskSource::network(n)
        })
        .boxed()
}

fn source(device: DiskDevice) -> BoxedStrategy<DiskSource> {
    let file = abs_path().prop_map(|p| DiskSource::file(Some(p)));
    let block = abs_path().prop_map(DiskSource::block).boxed();
    let volume = (re("[a-z][a-z0-9_-]{0,8}"), re("[a-z][a-z0-9_.:-]{0,8}")).prop_map(|(p, v)| DiskSource::volume(p, v));
    let with_common = |s: BoxedStrategy<DiskSource>| {
        (s, opt(1u32..=1000), opt((0u64..=u64::from(u32::MAX), 1u64..1 << 40)))
            .prop_map(|(mut s, index, slice)| {
                s.index = index;
                s.slice = slice.map(|(o, n)| Slice::new(o, n));
                s
            })
            .boxed()
    };
    match device {
        DiskDevice::Lun => prop_oneof![block, network(), volume].boxed(),
        DiskDevice::Disk => prop_oneof![
            with_common(file.boxed()),
            with_common(block.clone()),
            abs_path().prop_map(DiskSource::dir),
            network(),
            volume
        ]
        .boxed(),
        _ => prop_oneof![Just(DiskSource::file(None)), file, block].boxed(),
    }
}

/// A chain of up to three layers; indexes, when given, above the source's.
fn chain() -> BoxedStrategy<Option<DiskBackingStore>> {
    let layer = (abs_path(), one_of(&[DiskFormat::Qcow2, DiskFormat::Raw, DiskFormat::Vmdk]), any::<bool>());
    (proptest::collection::vec(layer, 0..=3), any::<bool>(), any::<bool>())
        .prop_map(|(layers, present, ends)| {
            if !present {
                return None;
            }
            let mut tail = ends.then_some(DiskBackingStore::End);
            for (i, (path, format, indexed)) in layers.into_iter().enumerate().rev() {
                let mut l = BackingLayer::new(DiskSource::file(Some(path)), format);
                l.index = indexed.then_some(2000 + u32::try_from(i).unwrap_or(0));
                l.backing_store = tail;
                tail = Some(DiskBackingStore::Layer(Box::new(l)));
            }
            tail
        })
        .boxed()
}

fn driver(virtio: bool) -> BoxedStrategy<DiskDriver> {
    (
        (opt_of(DiskDriverName::ALL), opt_of(DiskFormat::ALL), opt_of(DiskCache::ALL), opt_of(DiskIo::ALL)),
        (opt_of(DiskDiscard::ALL), opt_of(ErrorPolicy::ALL), opt_of(ReadErrorPolicy::ALL), opt_of(DetectZeroes::ALL)),
        (opt_bool(), opt(0u32..64), opt(1u32..=16), opt(1u32..=1024), opt_bool(), opt_bool()),
    )
        .prop_map(move |(a, b, c)| {
            let mut d = DiskDriver::default();
            (d.name, d.format, d.cache, d.io) = a;
            (d.discard, d.error_policy, d.rerror_policy, d.detect_zeroes) = b;
            let (cor, iothread, queues, queue_size, event_idx, iommu) = c;
            d.copy_on_read = cor;
            d.iothread = iothread;
            if virtio {
                d.queues = queues;
                d.queue_size = queue_size;
                d.event_idx = event_idx;
                if iommu.is_some() {
                    let mut v = VirtioOptions::default();
                    v.iommu = iommu;
                    d.virtio = Some(v);
                }
            }
            d
        })
        .boxed()
}

fn iotune() -> BoxedStrategy<IoTune> {
    (any::<bool>(), opt(1u64..1 << 40), opt(1u64..1 << 40), opt(1u64..1 << 20), opt(re("[a-z]{1,8}")))
        .prop_map(|(total, a, b, len, group)| {
            let mut t = IoTune::default();
            if total {
                t.total_bytes_sec = a;
                t.total_iops_sec = b;
            } else {
                t.read_bytes_sec = a;
                t.write_iops_sec = b;
            }
            t.total_bytes_sec_max_length = len;
            t.group_name = group;
            t
        })
        .boxed()
}

pub fn disk() -> BoxedStrategy<Disk> {
    let wwn = (any::<bool>(), re("[0-9a-fA-F]{16}")).prop_map(|(x, h)| if x { format!("0x{h}") } else { h });
    let device = one_of(DiskDevice::ALL);
    device
        .prop_flat_map(move |device| {
            let buses: &'static [DiskBus] = match device {
                DiskDevice::Floppy => &[DiskBus::Fdc],
                DiskDevice::Lun => &[DiskBus::Scsi],
                _ => &[DiskBus::Virtio, DiskBus::Sata, DiskBus::Scsi, DiskBus::Ide, DiskBus::Usb, DiskBus::Sd],
            };
            (
                (Just(device), source(device), opt_of(buses), chain(), any::<bool>()),
                (
                    one_of(&["fd", "hd", "sd", "vd", "xvd", "ubd"]),
                    any::<bool>(),
                    re("[a-zA-Z0-9_]{1,4}"),
                    opt_bool(),
                    opt_of(Tray::ALL),
                    opt(1u32..=20000),
                ),
                (
                    any::<bool>(),
                    any::<bool>(),
                    opt(re("[A-Za-z0-9_.+ -]{1,12}")),
                    opt(wwn.clone()),
                    opt(device_boot()),
                    alias_address(),
                ),
                (opt(re("[A-Z]{1,8}")), opt(re("[A-Za-z0-9 ]{1,16}")), opt(iotune()), opt_bool(), opt_of(Sgio::ALL)),
            )
        })
        .prop_flat_map(|(a, b, c, e)| {
            let virtio = a.2 == Some(DiskBus::Virtio);
            (Just((a, b, c, e)), opt(driver(virtio)), opt_of(DiskModel::ALL))
        })
        .prop_map(|((a, b, c, e), driver, model)| {
            let (device, source, bus, backing, has_mirror_like) = a;
            let (prefix, ioemu, suffix, removable, tray, rotation) = b;
            let (readonly, shareable, serial, wwn, boot, (alias, address)) = c;
            let (vendor, product, iotune, rawio, sgio) = e;
            let dev = format!("{}{prefix}{suffix}", if ioemu { "ioemu:" } else { "" });
            let mut d = Disk::new(source, device, &dev, DiskBus::Virtio);
            d.target.bus = bus;
            d.target.removable = removable;
            d.target.tray = tray;
            d.target.rotation_rate = rotation;
            d.driver = driver;
            if bus == Some(DiskBus::Virtio) {
                d.model = model;
            }
            if device == DiskDevice::Lun {
                d.rawio = rawio;
                d.sgio = sgio;
            }
            if !d.source.is_empty() && d.disk_type() != DiskType::Dir && has_mirror_like {
                d.backing_store = backing;
            }
            d.iotune = iotune;
            d.readonly = readonly;
            d.shareable = shareable;
            d.serial = serial;
            d.wwn = wwn;
            d.vendor = vendor;
            d.product = product;
            d.boot = boot;
            d.alias = alias;
            d.address = address;
            d
        })
        .boxed()
}
