//! virtkit's wire contract: the gRPC API of virtkitd, generated from
//! `proto/virtkit.proto` (the public, documented contract).

/// Version 1 of the API.
#[allow(missing_debug_implementations, clippy::all)]
pub mod v1 {
    tonic::include_proto!("virtkit.v1");
}

pub mod convert;

/// The metadata entry that names the driver a call is for.
pub const URI_METADATA: &str = "virtkit-uri";
/// The metadata entry of an error status that names virtkit's error kind.
pub const ERROR_KIND_METADATA: &str = "virtkit-error-kind";
/// The metadata entry of a Watch reply: the revision the stream starts
/// after.
pub const REVISION_METADATA: &str = "virtkit-revision";
