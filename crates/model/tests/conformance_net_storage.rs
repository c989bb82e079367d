//! libvirt's own network, storage pool and storage volume documents
//! (../shared/conformance): every input must parse, come back unchanged
//! from our XML and our JSON, and, written by us, pass libvirt 9.0's
//! RelaxNG schema; where libvirt's own output (`NAME.out.xml`) exists, it
//! must read too and be the same model once libvirt's defaults are applied
//! to ours (the defaults are listed in `libvirt_fills_in_*`, each with
//! why); libvirt's invalid documents must be refused, clearly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{conformance_dir, libvirt_fills_in_network, schema_check};
use virtkit_model::network::Network;
use virtkit_model::storage::{Pool, PoolTarget, PoolType, Volume, VolumeFormat, VolumeType};

/// The `.xml` files in `sub`, inputs and libvirt's outputs apart.
fn files(sub: &str, outputs: bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(conformance_dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".xml") && n.ends_with(".out.xml") == outputs
        })
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// A document kind's encodings, for the checks every kind shares.
trait Doc: Sized + PartialEq + std::fmt::Debug {
    const RNG: &'static str;
    fn from_xml(s: &str) -> Result<Self, virtkit_model::Errors>;
    fn to_xml(&self) -> String;
    fn from_json(s: &str) -> Result<Self, virtkit_model::Errors>;
    fn to_json(&self) -> String;
    /// The same model less what libvirt 9.0's schema does not have yet
    /// (`None` when there is nothing of it): what must pass the schema.
    fn without_newer(&self) -> Option<Self>;
}

impl Doc for Network {
    const RNG: &'static str = "network";
    fn from_xml(s: &str) -> Result<Self, virtkit_model::Errors> {
        Network::from_xml(s)
    }
    fn to_xml(&self) -> String {
        Network::to_xml(self)
    }
    fn from_json(s: &str) -> Result<Self, virtkit_model::Errors> {
        Network::from_json(s)
    }
    fn to_json(&self) -> String {
        Network::to_json(self)
    }
    fn without_newer(&self) -> Option<Self> {
        let mut n = self.clone();
        n.title = None;
        n.description = None;
        if let Some(d) = &mut n.domain {
            d.register = None;
        }
        for ip in &mut n.ips {
            if let Some(d) = &mut ip.dhcp {
                d.options.clear();
            }
        }
        (n != *self).then_some(n)
    }
}

/// Pools and volumes have nothing newer than libvirt 9.0.
macro_rules! doc_impl {
    ($t:ty, $rng:literal) => {
        impl Doc for $t {
            const RNG: &'static str = $rng;
            fn from_xml(s: &str) -> Result<Self, virtkit_model::Errors> {
                <$t>::from_xml(s)
            }
            fn to_xml(&self) -> String {
                <$t>::to_xml(self)
            }
            fn from_json(s: &str) -> Result<Self, virtkit_model::Errors> {
                <$t>::from_json(s)
            }
            fn to_json(&self) -> String {
                <$t>::to_json(self)
            }
            fn without_newer(&self) -> Option<Self> {
                None
            }
        }
    };
}
doc_impl!(Pool, "storagepool");
doc_impl!(Volume, "storagevol");

/// Parses, round-trips through XML and JSON, and schema-checks every input
/// in `subs`; returns the models by file name.
fn round_trip_all<T: Doc>(subs: &[&str], failures: &mut Vec<String>) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for sub in subs {
        for f in files(sub, false) {
            let name = format!("{sub}/{}", name(&f));
            let text = std::fs::read_to_string(&f).unwrap();
            let model = match T::from_xml(&text) {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{name}: does not parse:\n{e}"));
                    continue;
                }
            };
            let xml = model.to_xml();
            match T::from_xml(&xml) {
                Ok(again) if again == model => {}
                Ok(again) => failures.push(format!("{name}: re-read model differs\n{xml}\n{model:#?}\n{again:#?}")),
                Err(e) => failures.push(format!("{name}: our output does not parse: {e}\n{xml}")),
            }
            match T::from_json(&model.to_json()) {
                Ok(again) if again == model => {}
                Ok(_) => failures.push(format!("{name}: JSON round trip differs")),
                Err(e) => failures.push(format!("{name}: JSON does not read back: {e}")),
            }
            let checked = match model.without_newer() {
                // Only libvirt >= 9.0 features fail 9.0's schema: the input
                // itself must fail it, and the rest of ours must pass.
                Some(older) => {
                    if schema_check(T::RNG, &text).is_ok() {
                        failures.push(format!("{name}: is schema-valid, yet has what 9.0's schema lacks"));
                    }
                    older.to_xml()
                }
                None => xml,
            };
            if let Err(e) = schema_check(T::RNG, &checked) {
                failures.push(format!("{name}: our output fails libvirt's schema:\n{e}\n{checked}"));
            }
            out.push((name, model));
        }
    }
    out
}

/// Reads libvirt's `NAME.out.xml` for each input that has one and compares
/// it with our model once `fill` (given the input's name) has applied
/// libvirt's defaults to both
/// (libvirt's outputs come from several versions, which fill in different
/// amounts).
fn compare_with_libvirt<T: Doc>(
    sub: &str,
    models: &[(String, T)],
    fill: impl Fn(&str, &mut T),
    failures: &mut Vec<String>,
) -> usize {
    let mut compared = 0;
    for out in files(sub, true) {
        let n = name(&out);
        let input = format!("{sub}/{}", n.replace(".out.xml", ".xml"));
        let Some((_, ours)) = models.iter().find(|(m, _)| *m == input) else {
            failures.push(format!("{sub}/{n}: no input for it"));
            continue;
        };
        let mut theirs = match T::from_xml(&std::fs::read_to_string(&out).unwrap()) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{sub}/{n}: libvirt's output does not parse:\n{e}"));
                continue;
            }
        };
        let mut filled = T::from_xml(&ours.to_xml()).unwrap();
        fill(&input, &mut filled);
        fill(&input, &mut theirs);
        if filled != theirs {
            failures.push(format!(
                "{sub}/{n}: differs from our model with libvirt's defaults:\nours: {filled:#?}\nlibvirt's: {theirs:#?}"
            ));
        }
        compared += 1;
    }
    compared
}

// ---------------------------------------------------------------------------
// Networks

#[test]
fn networks_round_trip_and_validate() {
    let mut failures = Vec::new();
    let models: Vec<(String, Network)> =
        round_trip_all(&["network", "network/dnsmasq", "network/firewall"], &mut failures);
    let compared = compare_with_libvirt("network", &models, libvirt_fills_in_network, &mut failures);
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n\n"));
    assert_eq!((models.len(), compared), (68, 34), "inputs read and libvirt outputs compared");
}

/// libvirt's invalid networks, and a word the error must contain.
const INVALID_NETWORKS: &[(&str, &str)] = &[("passthrough-duplicate.xml", "interface 'eth3' is listed twice")];

#[test]
fn invalid_networks_are_refused_clearly() {
    let files = files("network/invalid", false);
    assert_eq!(files.len(), INVALID_NETWORKS.len(), "the table covers every invalid network");
    for f in &files {
        let n = name(f);
        let want = INVALID_NETWORKS.iter().find(|(x, _)| *x == n).map(|(_, w)| *w).unwrap();
        let errs = Network::from_xml(&std::fs::read_to_string(f).unwrap()).expect_err(&n);
        let first = errs.first();
        assert!(first.pos.is_some(), "{n}: error has no position: {errs}");
        assert!(errs.to_string().contains(want), "{n}: expected {want:?}, got:\n{errs}");
    }
}

// ---------------------------------------------------------------------------
// Storage pools

/// libvirt's `virFileSanitizePath`: no repeated or trailing slashes.
fn sanitized(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() { "/".into() } else { out }
}

/// What libvirt's pool formatter adds to a document it read, or leaves
/// out of it.
fn libvirt_fills_in_pool(_file: &str, p: &mut Pool) {
    // libvirt does not read sizes: it measures them (0 in its tests).
    (p.capacity, p.allocation, p.available) = (None, None, None);
    let t = p.pool_type;
    let name = p.name.clone();
    let source = &mut p.source;
    // The default format of the type, written.
    if let Some((_, default)) = t.formats() {
        source.format.get_or_insert(default);
    }
    // These types' source is named after the pool.
    if t.name_from_source() {
        source.name.get_or_insert(name);
    }
    // A Gluster pool's directory is `/` by default.
    if t == PoolType::Gluster {
        source.dir.get_or_insert_with(|| "/".into());
    }
    // Logical and ZFS pools' targets are where their devices appear.
    if matches!(t, PoolType::Logical | PoolType::Zfs) {
        let path = p.target_path();
        p.target.get_or_insert_with(PoolTarget::default).path = path;
    }
    // Target paths and source directories are sanitized.
    if let Some(path) = p.target.as_mut().and_then(|t| t.path.as_mut()) {
        *path = sanitized(path);
    }
    if let Some(dir) = p.source.dir.as_mut().filter(|d| d.starts_with('/')) {
        *dir = sanitized(dir);
    }
}

#[test]
fn pools_round_trip_and_validate() {
    let mut failures = Vec::new();
    let models: Vec<(String, Pool)> = round_trip_all(&["storage/pool"], &mut failures);
    let compared = compare_with_libvirt("storage/pool", &models, libvirt_fills_in_pool, &mut failures);
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n\n"));
    assert_eq!((models.len(), compared), (29, 28), "inputs read and libvirt outputs compared");
    let types: std::collections::HashSet<PoolType> = models.iter().map(|(_, p)| p.pool_type).collect();
    assert_eq!(types.len(), 13, "every pool type but sheepdog is in the corpus: {types:?}");
}

// ---------------------------------------------------------------------------
// Storage volumes

/// What libvirt's volume formatter adds to a document it read, or leaves
/// out of it. libvirt's test reads each volume in a pool: a logical one
/// for `vol-logical*`, a dir pool for the others.
fn libvirt_fills_in_volume(file: &str, v: &mut Volume) {
    let file_pool = !file.contains("vol-logical");
    // A volume is a file unless it says otherwise.
    v.volume_type.get_or_insert(VolumeType::File);
    // libvirt reads neither the source extents, the physical size nor the
    // timestamps (it finds them itself), and does not write nocow.
    v.source_devices.clear();
    v.physical = None;
    v.target.timestamps = None;
    v.target.nocow = false;
    // A missing capacity is 0; a missing allocation is the capacity.
    v.capacity.get_or_insert_default();
    if v.allocation.is_none() {
        v.allocation = v.capacity;
    }
    // File pools' volumes are raw unless they say otherwise, and a file
    // volume's key is its path (which some of libvirt's outputs show).
    if file_pool {
        v.target.format.get_or_insert(VolumeFormat::Raw);
        if v.key.is_none() {
            v.key.clone_from(&v.target.path);
        }
    }
    // qcow2 features without a compat level are compat 1.1.
    if v.target.features.is_some() {
        v.target.compat.get_or_insert_with(|| "1.1".into());
    }
    if let Some(b) = &mut v.backing_store {
        b.timestamps = None;
        if file_pool {
            b.format.get_or_insert(VolumeFormat::Raw);
        }
    }
}

#[test]
fn volumes_round_trip_and_validate() {
    let mut failures = Vec::new();
    let models: Vec<(String, Volume)> = round_trip_all(&["storage/vol"], &mut failures);
    let compared = compare_with_libvirt("storage/vol", &models, libvirt_fills_in_volume, &mut failures);
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n\n"));
    assert_eq!((models.len(), compared), (20, 16), "inputs read and libvirt outputs compared");
}
