//! Checks across a pool's or a volume's fields: which source parts each
//! pool type takes (libvirt's schema per type), libvirt's parser rules,
//! and its patterns, each naming the place by its XML path.

use super::{Adapter, Encryption, Permissions, Pool, PoolFormat, PoolType, Volume};
use crate::domain::validate::{V, check_name, idx, is_address_or_name, is_word};
use crate::xml::truncate;

/// Longest volume name: a file name (NAME_MAX).
pub const MAX_VOLUME_NAME: usize = 255;

pub(super) fn check_pool(p: &Pool, v: &mut V) {
    let t = p.pool_type;
    check_name(v, "/pool/name", &p.name);
    if p.cow.is_some() && !matches!(t, PoolType::Dir | PoolType::Fs) {
        v.invalid("/pool/features/cow", format!("copy-on-write is for dir and fs pools, not {t}"));
    }
    check_source(p, v);
    check_target(p, v);
    if p.refresh_volume_allocation.is_some() && t != PoolType::Rbd {
        v.invalid("/pool/refresh", format!("<refresh> is for rbd pools, not {t}"));
    }
    if !p.mount_options.is_empty() && !matches!(t, PoolType::Fs | PoolType::Netfs) {
        v.invalid("/pool/fs:mount_opts", format!("mount options are for fs and netfs pools, not {t}"));
    }
    if !p.rbd_config.is_empty() && t != PoolType::Rbd {
        v.invalid("/pool/rbd:config_opts", format!("Ceph settings are for rbd pools, not {t}"));
    }
    let n = p.mount_options.len();
    for (i, o) in p.mount_options.iter().enumerate() {
        if o.is_empty() || o.contains([',', '\n', '\r']) {
            v.value(
                format!("/pool/fs:mount_opts/{}/@name", idx("fs:option", i, n)),
                format!("'{}' is not one mount option (no commas or line breaks)", truncate(o)),
            );
        }
    }
}

fn check_source(p: &Pool, v: &mut V) {
    let t = p.pool_type;
    let s = &p.source;
    let given = s.parts();
    for part in given.iter().filter(|g| !t.source_parts().contains(g)) {
        let allowed = match t.source_parts() {
            [] => "nothing".to_owned(),
            all => all.join(", "),
        };
        v.invalid(format!("/pool/source/{part}"), format!("a {t} pool's source takes {allowed}, not <{part}>"));
    }
    for part in t.required_source_parts().iter().filter(|r| !given.contains(r)) {
        v.invalid("/pool/source", format!("a {t} pool's source needs <{part}>"));
    }
    if t.name_from_source() && p.name.is_empty() && s.name.is_none() {
        v.invalid("/pool/name", format!("a {t} pool needs a <name> (or a source <name>)"));
    }
    let single = matches!(t, PoolType::Fs | PoolType::Disk | PoolType::Iscsi | PoolType::IscsiDirect | PoolType::Zfs);
    let n = s.devices.len();
    for (i, d) in s.devices.iter().enumerate() {
        let at = format!("/pool/source/{}", idx("device", i, n));
        if single && i > 0 {
            v.invalid(&at, format!("a {t} pool has one source device"));
        }
        if t == PoolType::IscsiDirect && (d.part_separator.is_some() || !d.free_extents.is_empty()) {
            v.invalid(&at, "an iscsi-direct pool's device is its target's IQN alone");
        }
        let iqn = is_iqn(&d.path);
        if t == PoolType::IscsiDirect && !iqn {
            v.value(
                format!("{at}/@path"),
                format!("'{}' is not an iSCSI name (iqn.YYYY-MM.domain:…)", truncate(&d.path)),
            );
        } else if !(iqn || is_word(&d.path, "_+-") || is_abs(&d.path)) {
            v.value(
                format!("{at}/@path"),
                format!(
                    "'{}' is not a device path, a name (letters, digits, _ + -) or an iSCSI name",
                    truncate(&d.path)
                ),
            );
        }
        let count = d.free_extents.len();
        for (j, e) in d.free_extents.iter().enumerate() {
            if e.start > e.end {
                v.invalid(format!("{at}/{}", idx("freeExtent", j, count)), "an extent's start is past its end");
            }
        }
    }
    let n = s.hosts.len();
    for (i, h) in s.hosts.iter().enumerate() {
        if !is_address_or_name(&h.name) {
            v.value(
                format!("/pool/source/{}/@name", idx("host", i, n)),
                format!("'{}' is not a host name or address", truncate(&h.name)),
            );
        }
    }
    if let Some(f) = s.format {
        check_format(t, f, s.protocol_ver.is_some(), v);
    }
    if let Some(d) = &s.dir {
        // Samba shares and Gluster volumes name a path relative to the share.
        let relative_ok = t == PoolType::Netfs && matches!(s.format, Some(PoolFormat::Cifs | PoolFormat::Glusterfs));
        if d.is_empty() || d.contains(['\n', '\r']) || (!relative_ok && !d.starts_with('/')) {
            v.value("/pool/source/dir/@path", format!("'{}' is not an absolute directory", truncate(d)));
        }
    }
    if let Some(a) = &s.adapter {
        check_adapter(a, v);
    }
    if let Some(name) = &s.name
        && (name.is_empty() || name.contains(['\n', '\r']))
    {
        v.value("/pool/source/name", "a source name is one line, not empty");
    }
    if let Some(iqn) = &s.initiator_iqn
        && t == PoolType::IscsiDirect
        && !is_iqn(iqn)
    {
        v.value("/pool/source/initiator/iqn/@name", format!("'{}' is not an iSCSI name", truncate(iqn)));
    }
}

fn check_format(t: PoolType, f: PoolFormat, protocol: bool, v: &mut V) {
    match t.formats() {
        Some((all, _)) if !all.contains(&f) => {
            let names: Vec<&str> = all.iter().map(|f| f.as_str()).collect();
            v.value(
                "/pool/source/format/@type",
                format!("a {t} pool's format is one of {}, not '{f}'", names.join(", ")),
            );
        }
        Some(_) => {}
        None => v.invalid("/pool/source/format", format!("a {t} pool has no format")),
    }
    if protocol && !matches!(f, PoolFormat::Auto | PoolFormat::Nfs) {
        v.invalid("/pool/source/protocol", format!("a protocol version is for NFS, not '{f}'"));
    }
}

fn check_adapter(a: &Adapter, v: &mut V) {
    let at = "/pool/source/adapter";
    match a {
        Adapter::ScsiHost(s) => match (&s.name, &s.parent_address) {
            (Some(_), Some(_)) => v.invalid(at, "a SCSI host is named or addressed by its parent, not both"),
            (None, None) => v.invalid(at, "a SCSI host needs a name or a <parentaddr>"),
            (Some(n), None) if n.is_empty() => v.value(format!("{at}/@name"), "a SCSI host name is not empty"),
            (None, Some(p)) => v.pci(&format!("{at}/parentaddr/address"), &p.address),
            _ => {}
        },
        Adapter::FcHost(f) => {
            for (name, wwn) in [
                ("wwnn", Some(&f.wwnn)),
                ("wwpn", Some(&f.wwpn)),
                ("parent_wwnn", f.parent_wwnn.as_ref()),
                ("parent_wwpn", f.parent_wwpn.as_ref()),
                ("parent_fabric_wwn", f.parent_fabric_wwn.as_ref()),
            ] {
                if let Some(w) = wwn
                    && !is_wwn(w)
                {
                    v.value(format!("{at}/@{name}"), format!("'{}' is not a WWN (16 hex digits)", truncate(w)));
                }
            }
            if f.parent_wwnn.is_some() != f.parent_wwpn.is_some() {
                v.invalid(at, "parent_wwnn and parent_wwpn come together");
            }
        }
    }
}

fn check_target(p: &Pool, v: &mut V) {
    let t = p.pool_type;
    match &p.target {
        Some(_) if t.is_network() => {
            v.invalid("/pool/target", format!("a {t} pool is reached over the network: it has no <target>"));
        }
        None if t == PoolType::Logical => {
            v.invalid("/pool", "a logical pool needs a <target> (its path may be left out: it is /dev/VG)");
        }
        None if !(t.is_network() || t == PoolType::Zfs) => {
            v.invalid("/pool", format!("a {t} pool needs a <target> with its path"));
        }
        Some(target) => {
            match &target.path {
                Some(path) => v.abs("/pool/target/path", path),
                None if t != PoolType::Logical => {
                    v.invalid("/pool/target", format!("a {t} pool's target needs a <path>"));
                }
                None => {}
            }
            if let Some(perm) = &target.permissions {
                check_permissions(perm, "/pool/target/permissions", v);
            }
        }
        None => {}
    }
}

pub(super) fn check_permissions(p: &Permissions, at: &str, v: &mut V) {
    if let Some(m) = p.mode
        && m > 0o777
    {
        v.value(format!("{at}/mode"), format!("0{m:o} is not a permission mode (at most 0777)"));
    }
    if p.owner == Some(u32::MAX) || p.group == Some(u32::MAX) {
        let which = if p.owner == Some(u32::MAX) { "owner" } else { "group" };
        v.value(format!("{at}/{which}"), "4294967295 is -1, \"leave as is\": leave the element out");
    }
}

/// libvirt's IscsiQualifiedName: `iqn.YYYY-MM.reversed.domain[:anything]`.
fn is_iqn(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("iqn.").filter(|_| !s.contains(['\n', '\r'])) else {
        return false;
    };
    let (date, rest) = rest.split_at_checked(7).unwrap_or(("", ""));
    let b = date.as_bytes();
    let date_ok = b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && matches!((b[5], b[6]), (b'0', b'1'..=b'9') | (b'1', b'0'..=b'2'));
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let domain = rest.split_once(':').map_or(rest, |(d, tail)| if tail.is_empty() { "" } else { d });
    date_ok && is_word(domain, ".-")
}

fn is_wwn(s: &str) -> bool {
    let h = s.strip_prefix("0x").unwrap_or(s);
    h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_abs(s: &str) -> bool {
    s.len() > 1 && s.starts_with('/') && !s.contains(['\n', '\r'])
}

// ---------------------------------------------------------------------------

pub(super) fn check_volume(vol: &Volume, v: &mut V) {
    check_volume_name(&vol.name, v);
    let n = vol.source_devices.len();
    for (i, d) in vol.source_devices.iter().enumerate() {
        let at = format!("/volume/source/{}", idx("device", i, n));
        v.abs(format!("{at}/@path"), &d.path);
        let count = d.extents.len();
        for (j, e) in d.extents.iter().enumerate() {
            if e.start > e.end {
                v.invalid(format!("{at}/{}", idx("extent", j, count)), "an extent's start is past its end");
            }
        }
    }
    let t = &vol.target;
    if let Some(path) = &t.path
        && !is_uri(path)
    {
        v.abs("/volume/target/path", path);
    }
    if let Some(p) = &t.permissions {
        check_permissions(p, "/volume/target/permissions", v);
    }
    if let Some(e) = &t.encryption {
        check_encryption(e, v);
    }
    if let Some(c) = &t.compat {
        let ok = c.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && (a.bytes().chain(b.bytes())).all(|x| x.is_ascii_digit())
        });
        if !ok {
            v.value("/volume/target/compat", format!("'{}' is not a version like 1.1", truncate(c)));
        }
    }
    if t.cluster_size.is_some_and(|c| c.as_bytes() == 0) {
        v.value("/volume/target/clusterSize", "a cluster size is more than 0");
    }
    if let Some(b) = &vol.backing_store {
        v.abs("/volume/backingStore/path", &b.path);
        if let Some(p) = &b.permissions {
            check_permissions(p, "/volume/backingStore/permissions", v);
        }
    }
}

/// A volume's name is a file name in its pool: say why one is refused.
fn check_volume_name(name: &str, v: &mut V) {
    let at = "/volume/name";
    let why = if name.is_empty() {
        Some("a volume needs a name".to_owned())
    } else if name.contains('/') {
        Some(format!("'{}' contains '/': a volume name is a file name in its pool, not a path", truncate(name)))
    } else if name == "." || name == ".." {
        Some(format!("'{name}' names a directory, not a volume"))
    } else if name.len() > MAX_VOLUME_NAME {
        Some(format!("a volume name is a file name, at most {MAX_VOLUME_NAME} bytes"))
    } else if name.chars().any(char::is_control) {
        Some("a volume name is a file name: no control characters".to_owned())
    } else {
        None
    };
    if let Some(w) = why {
        v.value(at, w);
    }
}

fn check_encryption(e: &Encryption, v: &mut V) {
    let at = "/volume/target/encryption";
    if e.cipher.is_some() != e.ivgen.is_some() {
        v.invalid(at, "<cipher> and <ivgen> come together");
    }
    if (e.cipher.is_some() || e.ivgen.is_some()) && e.secret.is_none() {
        v.invalid(at, "a cipher needs the <secret> that keys it");
    }
    if let Some(c) = &e.cipher
        && c.mode.is_some() != c.hash.is_some()
    {
        v.invalid(format!("{at}/cipher"), "a cipher's mode and hash come together");
    }
}

/// A URI (`gluster://host/vol/dir`): a scheme, `:`, and no line break.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !rest.is_empty()
        && !s.contains(['\n', '\r', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iscsi_names() {
        assert!(is_iqn("iqn.2013-06.com.example:iscsi-pool"));
        assert!(is_iqn("iqn.2013-12.com.example"));
        for bad in ["iqn.2013-13.com.example", "iqn.13-06.com", "demo-target", "iqn.2013-06.", "iqn.2013-06.com:"] {
            assert!(!is_iqn(bad), "{bad}");
        }
    }

    #[test]
    fn wwns_and_uris() {
        assert!(is_wwn("20000000c9831b4b") && is_wwn("0x20000000c9831b4b"));
        assert!(!is_wwn("20000000c9831b4") && !is_wwn("20000000c9831b4g"));
        assert!(is_uri("gluster://example.com/vol/dir"));
        assert!(!is_uri("/var/lib/x") && !is_uri("relative"));
    }
}
