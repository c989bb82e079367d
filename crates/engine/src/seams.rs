//! What crosses between drivers, through the engine: when a domain starts,
//! the network driver gives a port for each `<interface type='network'|
//! 'bridge'>`, the storage driver resolves each `<disk type='volume'>` and
//! the engine's secrets give the values disks log in with; the domain
//! driver gets them as [`Resources`] and never talks to the other drivers
//! itself.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use virtkit_model::MacAddress;
use virtkit_model::storage::SecretRef;
use zeroize::Zeroizing;

/// The bytes of a secret's value, shared without copying: the one buffer
/// is wiped (zeroed) when its last holder drops it. Its `Debug` shows
/// only the length.
#[derive(Clone)]
pub struct SecretBytes(Arc<Zeroizing<Vec<u8>>>);

impl SecretBytes {
    /// Takes the bytes over (no copy is made of them).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Arc::new(Zeroizing::new(bytes)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SecretBytes::new(bytes)
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(Arc::new(bytes))
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// A network port for one of a domain's interfaces.
#[derive(Debug)]
#[non_exhaustive]
pub struct Port {
    /// The interface's index in the domain's `<devices>` interfaces.
    pub interface: usize,
    /// The network it belongs to (`type='network'`), if any.
    pub network: Option<String>,
    /// The bridge the port is on.
    pub bridge: String,
    /// The host-side device (a tap, `vnet0`), when the network driver made one.
    pub device: Option<String>,
    /// The open tap, for the hypervisor to use as is.
    pub tap: Option<OwnedFd>,
    /// The guest-side MAC address.
    pub mac: MacAddress,
    pub mtu: Option<u32>,
}

impl Port {
    pub fn new(interface: usize, bridge: impl Into<String>, mac: MacAddress) -> Self {
        Port { interface, network: None, bridge: bridge.into(), device: None, tap: None, mac, mtu: None }
    }

    #[must_use]
    pub fn with_network(mut self, network: impl Into<String>) -> Self {
        self.network = Some(network.into());
        self
    }

    #[must_use]
    pub fn with_device(mut self, device: impl Into<String>, tap: Option<OwnedFd>) -> Self {
        self.device = Some(device.into());
        self.tap = tap;
        self
    }

    #[must_use]
    pub fn with_mtu(mut self, mtu: Option<u32>) -> Self {
        self.mtu = mtu;
        self
    }
}

/// Where a volume's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeSource {
    File(PathBuf),
    Block(PathBuf),
    /// A LUN of an iSCSI target, which the hypervisor opens itself.
    Iscsi(IscsiLun),
}

/// A LUN of an iSCSI target (`iscsi://HOST:PORT/IQN/LUN`), and the
/// initiator name to log in with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IscsiLun {
    pub host: String,
    pub port: u16,
    /// The target's IQN.
    pub target: String,
    pub lun: u32,
    pub initiator: Option<String>,
    /// The CHAP login its pool's document asks for: the user, and the
    /// secret object (whose value is among [`Resources::secrets`]).
    pub chap: Option<(String, SecretRef)>,
}

/// One layer of a volume's backing chain, its format always explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layer {
    pub source: VolumeSource,
    /// `raw`, `qcow2` …
    pub format: String,
}

impl Layer {
    pub fn new(source: VolumeSource, format: impl Into<String>) -> Self {
        Layer { source, format: format.into() }
    }
}

/// A `<disk type='volume'>` resolved by the storage driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedVolume {
    /// The disk's index in the domain's `<devices>` disks.
    pub disk: usize,
    pub pool: String,
    pub volume: String,
    /// The volume itself, then each layer it is backed by.
    pub chain: Vec<Layer>,
}

impl ResolvedVolume {
    pub fn new(disk: usize, pool: impl Into<String>, volume: impl Into<String>, chain: Vec<Layer>) -> Self {
        ResolvedVolume { disk, pool: pool.into(), volume: volume.into(), chain }
    }
}

/// The value of a secret object a domain's disks log in with, looked up
/// by the engine at start. Its `Debug` shows no value.
#[derive(Clone)]
#[non_exhaustive]
pub struct DomainSecret {
    /// As the documents name it (`<secret uuid=…>` or `usage=…`).
    pub reference: SecretRef,
    pub value: SecretBytes,
}

impl DomainSecret {
    pub fn new(reference: SecretRef, value: SecretBytes) -> Self {
        DomainSecret { reference, value }
    }
}

impl std::fmt::Debug for DomainSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainSecret").field("reference", &self.reference).finish_non_exhaustive()
    }
}

/// Everything the engine obtained for a domain's start.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Resources {
    pub ports: Vec<Port>,
    pub volumes: Vec<ResolvedVolume>,
    /// Each secret the disks name (their `<source><auth>`, and the CHAP of
    /// the iSCSI volumes' pools), once.
    pub secrets: Vec<DomainSecret>,
}

impl Resources {
    /// The value of the secret `r` names, if the engine gave it.
    pub fn secret(&self, r: &SecretRef) -> Option<&SecretBytes> {
        self.secrets.iter().find(|s| s.reference == *r).map(|s| &s.value)
    }

    /// The port of interface `i`, if it has one.
    pub fn port(&self, i: usize) -> Option<&Port> {
        self.ports.iter().find(|p| p.interface == i)
    }

    /// The volume behind disk `i`, if it is one.
    pub fn volume(&self, i: usize) -> Option<&ResolvedVolume> {
        self.volumes.iter().find(|v| v.disk == i)
    }

    /// Takes the open tap of interface `i` (the hypervisor keeps it).
    pub fn take_tap(&mut self, i: usize) -> Option<OwnedFd> {
        self.ports.iter_mut().find(|p| p.interface == i).and_then(|p| p.tap.take())
    }
}

#[cfg(test)]
mod tests {
    use virtkit_model::storage::AuthType;

    use super::*;
    use crate::storage_driver::PoolAuth;

    #[test]
    fn nothing_that_holds_a_secret_prints_its_value() {
        let value = SecretBytes::new(b"hunter2-value".to_vec());
        let secret = DomainSecret::new(SecretRef::Usage("chap".into()), value.clone());
        let auth = PoolAuth::new(AuthType::Chap, "alice", value.clone());
        let res = Resources { secrets: vec![secret.clone()], ..Default::default() };
        let shown = [format!("{value:?}"), format!("{secret:?}"), format!("{auth:?}"), format!("{res:#?}")];
        for s in &shown {
            assert!(!s.contains("hunter2"), "{s}");
            // Nor as the numbers a Vec<u8> prints: b'h' is 104, b'u' 117.
            assert!(!s.contains("104, 117"), "{s}");
        }
        assert_eq!(shown[0], "SecretBytes(13 bytes)");
        assert!(shown[1].contains("chap") && shown[2].contains("alice"), "{shown:?}");
        // One buffer, shared: a clone copies no bytes.
        assert_eq!(value.as_bytes().as_ptr(), secret.value.as_ptr());
        assert_eq!(res.secret(&SecretRef::Usage("chap".into())).map(|v| v.as_bytes()), Some(&b"hunter2-value"[..]));
    }
}
