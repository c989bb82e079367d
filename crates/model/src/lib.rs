//! virtkit's document model: libvirt-compatible domain, network, storage
//! pool, storage volume and secret definitions as typed Rust values, with a strict
//! XML reader, a canonical XML writer and a JSON encoding. It does no I/O.
//!
//! ```
//! use virtkit_model::domain::Domain;
//!
//! let xml = "<domain type='kvm'>
//!   <name>demo</name>
//!   <memory unit='MiB'>512</memory>
//!   <os><type arch='x86_64' machine='q35'>hvm</type></os>
//! </domain>";
//! let d = Domain::from_xml(xml).unwrap();
//! assert_eq!(d.memory.as_bytes(), 512 << 20);
//!
//! // A typo is refused with where it is.
//! let bad = xml.replace("<os>", "<os><boot dev='hdd'/>");
//! let err = Domain::from_xml(&bad).unwrap_err();
//! assert_eq!(err.first().path, "/domain/os/boot/@dev");
//! ```

pub mod document;
pub mod domain;
pub mod error;
pub mod metadata;
pub mod network;
pub mod node;
pub mod secret;
pub mod secrets;
pub mod storage;
mod strings;
pub mod values;
mod xml;

pub use document::Document;
pub use error::{Error, ErrorKind, Errors, Hint, TextPos};
pub use values::{ByteSize, CpuSet, MacAddress, UnknownWord};

/// Safety limits applied to every document read.
pub mod limits {
    pub use crate::metadata::MAX_DEPTH as MAX_METADATA_DEPTH;
    pub use crate::xml::prescan::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_NAME_BYTES, MAX_NAMESPACES};
    pub use crate::xml::reader::{MAX_DOCUMENT_BYTES, MAX_ERRORS, MAX_NODES};
}
