//! Property tests over the storage models: generators build random valid
//! pools of every type (each with the source parts its type takes, and
//! those it needs: hosts, devices with free extents, directories, SCSI and
//! Fibre Channel adapters, names, initiators, formats, CHAP and Ceph
//! authentication, NFS versions, vendors; targets and permissions; mount
//! options and Ceph settings) and random valid volumes (every format,
//! source extents, sizes, permissions, timestamps, encryption with ciphers,
//! qcow2 settings, backing stores).
//!
//! * `valid_pools_round_trip`, `valid_volumes_round_trip`: each validates
//!   and comes back unchanged from its XML and from its JSON.
//! * `written_pools_pass_libvirts_schema`, `written_volumes_pass_libvirts_schema`:
//!   our XML passes libvirt 9.0's `storagepool.rng` and `storagevol.rng`.
//!
//! `PROPTEST_CASES` sets the number of cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;

use common::{
    abs_path, config, object_name, one_line, one_of, opt, opt_bool, opt_of, re, schema_check, schema_config, text,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use uuid::Uuid;
use virtkit_model::ByteSize;
use virtkit_model::domain::devices::PciAddress;
use virtkit_model::storage::{
    Adapter, AuthType, BackingStore, Cipher, Encryption, EncryptionEngine, EncryptionFormat, Extent, FcHostAdapter,
    FileFeatures, IvGen, ParentAddress, Permissions, Pool, PoolFormat, PoolSource, PoolTarget, PoolType,
    RbdConfigOption, RefreshAllocation, ScsiHostAdapter, SecretRef, SourceAuth, SourceDevice, SourceHost, Timestamp,
    Timestamps, Volume, VolumeFormat, VolumeSourceDevice, VolumeTarget, VolumeType,
};

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_pools_round_trip(p in pool()) {
        round_trip(&p, p.validate(), Pool::to_xml, Pool::from_xml, Pool::to_json, Pool::from_json)?;
    }

    #[test]
    fn valid_volumes_round_trip(v in volume()) {
        round_trip(&v, v.validate(), Volume::to_xml, Volume::from_xml, Volume::to_json, Volume::from_json)?;
    }
}

proptest! {
    #![proptest_config(schema_config())]

    #[test]
    fn written_pools_pass_libvirts_schema(p in pool()) {
        schema_valid(p.validate(), &p.to_xml(), "storagepool")?;
    }

    #[test]
    fn written_volumes_pass_libvirts_schema(v in volume()) {
        schema_valid(v.validate(), &v.to_xml(), "storagevol")?;
    }
}

type Read<T> = fn(&str) -> Result<T, virtkit_model::Errors>;

fn round_trip<T: PartialEq + std::fmt::Debug>(
    model: &T,
    valid: Result<(), virtkit_model::Errors>,
    to_xml: fn(&T) -> String,
    from_xml: Read<T>,
    to_json: fn(&T) -> String,
    from_json: Read<T>,
) -> Result<(), TestCaseError> {
    let xml = to_xml(model);
    if let Err(e) = valid {
        return Err(TestCaseError::fail(format!("the generator made an invalid document:\n{e}\n{xml}")));
    }
    for (how, text, read) in [("XML", xml.clone(), from_xml), ("JSON", to_json(model), from_json)] {
        match read(&text) {
            Ok(back) => common::same(model, &back, how, &text).map_err(TestCaseError::fail)?,
            Err(e) => return Err(TestCaseError::fail(format!("our {how} does not read back:\n{e}\n{text}"))),
        }
    }
    Ok(())
}

fn schema_valid(valid: Result<(), virtkit_model::Errors>, xml: &str, rng: &str) -> Result<(), TestCaseError> {
    if let Err(e) = valid {
        return Err(TestCaseError::fail(format!("the generator made an invalid document:\n{e}\n{xml}")));
    }
    schema_check(rng, xml).map_err(|e| TestCaseError::fail(format!("libvirt's schema refuses our XML:\n{e}\n{xml}")))
}

// ---------------------------------------------------------------------------
// Shared parts

fn size() -> BoxedStrategy<ByteSize> {
    prop_oneof![any::<u64>().prop_map(ByteSize::bytes), (0u64..1 << 20).prop_map(ByteSize::mib)].boxed()
}

fn permissions() -> BoxedStrategy<Permissions> {
    // -1 (u32::MAX) means "leave as is" and reads as no owner.
    let id = || opt(0u32..u32::MAX);
    (opt(0u32..=0o777), id(), id(), opt(text(12)))
        .prop_map(|(mode, owner, group, label)| {
            let mut p = Permissions::default();
            (p.mode, p.owner, p.group, p.label) = (mode, owner, group, label);
            p
        })
        .boxed()
}

fn secret() -> BoxedStrategy<SecretRef> {
    prop_oneof![any::<u128>().prop_map(|u| SecretRef::Uuid(Uuid::from_u128(u))), text(12).prop_map(SecretRef::Usage)]
        .boxed()
}

fn extents() -> BoxedStrategy<Vec<Extent>> {
    vec((any::<u64>(), any::<u32>()), 0..=2)
        .prop_map(|v| v.into_iter().map(|(s, len)| Extent::new(s, s.saturating_add(u64::from(len)))).collect())
        .boxed()
}

/// libvirt's IscsiQualifiedName.
fn iqn() -> BoxedStrategy<String> {
    (1990u32..2100, 1u32..=12, re("[a-z0-9][a-z0-9.-]{0,12}"), opt(one_line(1..=10)))
        .prop_map(|(y, m, d, tail)| match tail {
            Some(t) => format!("iqn.{y}-{m:02}.{d}:{t}"),
            None => format!("iqn.{y}-{m:02}.{d}"),
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Pools

fn host() -> BoxedStrategy<SourceHost> {
    let name = prop_oneof![
        re("[a-zA-Z0-9.-]{1,16}"),
        any::<u32>().prop_map(|a| IpAddr::V4(a.into()).to_string()),
        any::<u128>().prop_map(|a| IpAddr::V6(a.into()).to_string()),
    ];
    (name, opt(any::<u16>()))
        .prop_map(|(n, port)| {
            let mut h = SourceHost::new(n);
            h.port = port;
            h
        })
        .boxed()
}

fn device(t: PoolType) -> BoxedStrategy<SourceDevice> {
    if t == PoolType::IscsiDirect {
        // An IQN and nothing else.
        return iqn().prop_map(SourceDevice::new).boxed();
    }
    let path = prop_oneof![re("(/[a-z0-9._-]{1,8}){1,3}"), re("[a-zA-Z0-9_+-]{1,12}"), iqn()];
    (path, opt_bool(), extents())
        .prop_map(|(p, sep, ex)| {
            let mut d = SourceDevice::new(p);
            d.part_separator = sep;
            d.free_extents = ex;
            d
        })
        .boxed()
}

fn adapter() -> BoxedStrategy<Adapter> {
    let wwn = || re("(0x)?[0-9a-fA-F]{16}");
    let pci = (0u32..=0xffff, 0u32..=0xff, 0u32..=31, 0u32..=7).prop_map(|(d, b, s, f)| PciAddress::new(d, b, s, f));
    let parent = (opt(any::<u32>()), pci).prop_map(|(unique_id, address)| {
        let mut p = ParentAddress::new(address);
        p.unique_id = unique_id;
        let mut s = ScsiHostAdapter::default();
        s.parent_address = Some(p);
        Adapter::ScsiHost(s)
    });
    let fc = (wwn(), wwn(), opt(re("scsi_host[0-9]{1,2}")), opt_bool(), opt((wwn(), wwn())), opt(wwn())).prop_map(
        |(wwnn, wwpn, parent, managed, parent_names, fabric)| {
            let mut f = FcHostAdapter::default();
            (f.wwnn, f.wwpn, f.parent, f.managed, f.parent_fabric_wwn) = (wwnn, wwpn, parent, managed, fabric);
            if let Some((n, p)) = parent_names {
                (f.parent_wwnn, f.parent_wwpn) = (Some(n), Some(p));
            }
            Adapter::FcHost(f)
        },
    );
    prop_oneof![re("host[0-9]{1,2}").prop_map(Adapter::scsi_host), parent, fc].boxed()
}

/// A source with the parts pool type `t` takes, and those it needs.
fn source(t: PoolType) -> BoxedStrategy<PoolSource> {
    let formats = t.formats().map_or(&[][..], |(all, _)| all);
    let format = if formats.is_empty() { Just(None).boxed() } else { opt_of(formats) };
    let single = matches!(t, PoolType::Fs | PoolType::Disk | PoolType::Iscsi | PoolType::IscsiDirect | PoolType::Zfs);
    let auth = (one_of(AuthType::ALL), text(8), secret()).prop_map(|(a, u, s)| SourceAuth::new(a, u, s));
    (
        (vec(host(), 1..=3), vec(device(t), if single { 1..=1 } else { 0..=3 }), format),
        (any::<bool>(), re("[a-z0-9._/-]{1,12}"), adapter(), one_line(1..=12), iqn()),
        (opt(auth), opt(1u32..5), opt(text(8)), opt(text(8)), any::<u8>()),
    )
        .prop_map(
            move |(
                (hosts, devices, format),
                (abs, dir, adapter, name, initiator),
                (auth, ver, vendor, product, pick),
            )| {
                let takes = |p: &str| t.source_parts().contains(&p);
                let needs = |p: &str| t.required_source_parts().contains(&p);
                let mut s = PoolSource::default();
                let wanted = |p: &str, i: u8| needs(p) || (takes(p) && pick & (1 << i) != 0);
                if wanted("host", 0) {
                    s.hosts = hosts;
                }
                if wanted("device", 1) {
                    s.devices = devices;
                }
                if takes("format") {
                    s.format = format;
                }
                if wanted("dir", 2) {
                    // Absolute, or relative for a Samba share or Gluster volume.
                    let relative = matches!(s.format, Some(PoolFormat::Cifs | PoolFormat::Glusterfs)) && !abs;
                    s.dir = Some(if relative { dir } else { format!("/{dir}") });
                }
                if wanted("adapter", 3) {
                    s.adapter = Some(adapter);
                }
                if wanted("name", 4) {
                    s.name = Some(name);
                }
                if wanted("initiator", 5) {
                    s.initiator_iqn = Some(initiator);
                }
                if wanted("auth", 6) {
                    s.auth = auth;
                }
                // An NFS version, for NFS only.
                if takes("protocol") && matches!(s.format, None | Some(PoolFormat::Auto | PoolFormat::Nfs)) {
                    s.protocol_ver = ver;
                }
                if takes("vendor") {
                    (s.vendor, s.product) = (vendor, product);
                }
                s
            },
        )
        .boxed()
}

fn target(t: PoolType) -> BoxedStrategy<Option<PoolTarget>> {
    let path = if t == PoolType::Logical { opt(abs_path()).boxed() } else { abs_path().prop_map(Some).boxed() };
    let target = (path, opt(permissions())).prop_map(|(path, perms)| {
        let mut tg = PoolTarget::default();
        (tg.path, tg.permissions) = (path, perms);
        tg
    });
    match t {
        _ if t.is_network() => Just(None).boxed(),
        PoolType::Zfs => opt(target),
        _ => target.prop_map(Some).boxed(),
    }
}

fn pool() -> BoxedStrategy<Pool> {
    one_of(PoolType::ALL)
        .prop_flat_map(|t| {
            (
                (Just(t), object_name(), any::<u128>(), opt(size()), opt(size()), opt(size())),
                (opt_bool(), source(t), target(t), opt_of(RefreshAllocation::ALL)),
                (vec(re("[a-z_=0-9]{1,10}"), 0..=3), vec((re("[a-z_]{1,10}"), text(8)), 0..=2)),
            )
        })
        .prop_map(
            |((t, name, uuid, capacity, allocation, available), (cow, source, target, refresh), (mounts, rbd))| {
                let mut p = Pool::new(t, name).with_uuid(Uuid::from_u128(uuid));
                (p.capacity, p.allocation, p.available) = (capacity, allocation, available);
                // Copy-on-write is for dir and fs pools.
                p.cow = cow.filter(|_| matches!(t, PoolType::Dir | PoolType::Fs));
                p.source = source;
                p.target = target;
                if t == PoolType::Rbd {
                    p.refresh_volume_allocation = refresh;
                    p.rbd_config = rbd.into_iter().map(|(n, v)| RbdConfigOption::new(n, v)).collect();
                }
                if matches!(t, PoolType::Fs | PoolType::Netfs) {
                    p.mount_options = mounts;
                }
                p
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------
// Volumes

fn timestamps() -> BoxedStrategy<Timestamps> {
    let ts = || opt((any::<u32>(), 0u32..1_000_000_000).prop_map(|(s, n)| Timestamp::new(u64::from(s), n).unwrap()));
    (ts(), ts(), ts(), ts())
        .prop_map(|(a, m, c, b)| {
            let mut t = Timestamps::default();
            (t.atime, t.mtime, t.ctime, t.btime) = (a, m, c, b);
            t
        })
        .boxed()
}

fn encryption() -> BoxedStrategy<Encryption> {
    let cipher = (re("[a-z0-9]{1,8}"), any::<u32>(), opt((re("[a-z]{1,6}"), re("[a-z0-9]{1,8}")))).prop_map(
        |(name, size, mh)| match mh {
            Some((m, h)) => Cipher::new(name, size).with_mode(m, h),
            None => Cipher::new(name, size),
        },
    );
    let ivgen = (re("[a-z0-9]{1,8}"), opt(re("[a-z0-9]{1,8}"))).prop_map(|(name, hash)| {
        let mut i = IvGen::new(name);
        i.hash = hash;
        i
    });
    (one_of(EncryptionFormat::ALL), opt_of(EncryptionEngine::ALL), opt(secret()), opt((cipher, ivgen)))
        .prop_map(|(format, engine, secret, key)| {
            let mut e = Encryption::unkeyed(format);
            (e.engine, e.secret) = (engine, secret);
            // A cipher comes with its ivgen, and with the secret that keys it.
            if e.secret.is_some()
                && let Some((c, i)) = key
            {
                (e.cipher, e.ivgen) = (Some(c), Some(i));
            }
            e
        })
        .boxed()
}

fn vol_target() -> BoxedStrategy<VolumeTarget> {
    let path = prop_oneof![abs_path(), re("gluster://[a-z]{1,8}/[a-z/]{1,10}")];
    (
        (opt(path), opt_of(VolumeFormat::ALL), opt(permissions()), opt(timestamps())),
        (
            opt(encryption()),
            opt(re("[0-9]{1,2}\\.[0-9]{1,2}")),
            any::<bool>(),
            opt(1u64..(1 << 24)),
            opt((any::<bool>(), any::<bool>())),
        ),
    )
        .prop_map(|((path, format, permissions, timestamps), (encryption, compat, nocow, cluster, features))| {
            let mut t = VolumeTarget::default();
            (t.path, t.format, t.permissions, t.timestamps) = (path, format, permissions, timestamps);
            (t.encryption, t.compat, t.nocow) = (encryption, compat, nocow);
            t.cluster_size = cluster.map(ByteSize::bytes);
            t.features = features.map(|(l, x)| {
                let mut f = FileFeatures::default();
                (f.lazy_refcounts, f.extended_l2) = (l, x);
                f
            });
            t
        })
        .boxed()
}

fn volume() -> BoxedStrategy<Volume> {
    let device = (abs_path(), extents()).prop_map(|(p, ex)| {
        let mut d = VolumeSourceDevice::new(p);
        d.extents = ex;
        d
    });
    let backing =
        (abs_path(), opt_of(VolumeFormat::ALL), opt(permissions()), opt(timestamps())).prop_map(|(p, f, perms, ts)| {
            let mut b = BackingStore::new(p);
            (b.format, b.permissions, b.timestamps) = (f, perms, ts);
            b
        });
    (
        (opt_of(VolumeType::ALL), object_name(), opt(text(16)), vec(device, 0..=2)),
        (opt(size()), opt(size()), opt(size()), vol_target(), opt(backing)),
    )
        .prop_map(|((ty, name, key, devices), (capacity, allocation, physical, target, backing))| {
            let mut v = Volume::new(name);
            (v.volume_type, v.key, v.source_devices) = (ty, key, devices);
            (v.capacity, v.allocation, v.physical) = (capacity, allocation, physical);
            (v.target, v.backing_store) = (target, backing);
            v
        })
        .boxed()
}
