//! The host and its driver: facts, capabilities, versions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Facts about the host a driver runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostInfo {
    pub hostname: String,
    pub arch: String,
    pub cpus: u32,
    /// MHz.
    pub cpu_mhz: u32,
    pub cpu_model: String,
    pub memory: u64,
}

impl HostInfo {
    pub fn new(hostname: impl Into<String>, arch: impl Into<String>, cpus: u32, memory: u64) -> Self {
        HostInfo { hostname: hostname.into(), arch: arch.into(), cpus, cpu_mhz: 0, cpu_model: String::new(), memory }
    }
}

/// What a driver can do, so clients can ask before they try.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The driver's name (`test`, `qemu`).
    pub driver: String,
    /// Domain types it runs (`qemu`, `kvm`, `lxc`, `test`).
    pub domain_types: Vec<String>,
    /// Shutdown modes it supports (`acpi`, `agent`).
    pub shutdown_modes: Vec<String>,
    pub suspend: bool,
    pub reboot: bool,
    pub reset: bool,
    pub autostart: bool,
    pub persistent: bool,
    pub stats: bool,
    /// Why a domain type is unavailable on this host, by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<(String, String)>,
    /// Storage pool types the host runs (`dir`, `fs`, `iscsi-direct` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool_types: Vec<String>,
}

/// A version triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, micro: u32) -> Self {
        Version { major, minor, micro }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}
