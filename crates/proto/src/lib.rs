//! virtkit's wire contract: the gRPC API of virtkitd, generated from
//! `proto/virtkit.proto` (the public, documented contract).

/// Version 1 of the API.
#[allow(missing_debug_implementations, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/server/virtkit.v1.rs"));
    pub use crate::client::virtkit_client;
}

/// The client, generated apart so that it decodes replies with prost's
/// own codec (see `build.rs`).
#[allow(missing_debug_implementations, clippy::all)]
mod client {
    include!(concat!(env!("OUT_DIR"), "/client/virtkit.v1.rs"));
}

pub mod codec;
pub mod convert;

/// The metadata entry that names the driver a call is for.
pub const URI_METADATA: &str = "virtkit-uri";
/// The metadata entry of an error status that names virtkit's error kind.
pub const ERROR_KIND_METADATA: &str = "virtkit-error-kind";
/// The metadata entry of a Watch reply: the revision the stream starts
/// after.
pub const REVISION_METADATA: &str = "virtkit-revision";

/// The largest message either side accepts by default (the daemon's
/// `max_message_bytes` may change its own).
pub const MAX_MESSAGE: usize = 16 << 20;
/// HTTP/2 flow-control windows, both ways: replies of a few MiB (a list of
/// thousands) need no window updates.
pub const WINDOW: u32 = 8 << 20;
/// The largest HTTP/2 frame either side asks for: a whole list in a few.
pub const FRAME: u32 = 1 << 20;

pub mod objects;

/// At most 64 characters of a value a message quotes, so that an error
/// never echoes a huge value back.
pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Handing a file over to the daemon on its unix socket (see "Handing
/// over a file" in the proto).
pub mod handoff {
    /// What a handover connection starts with (the descriptor rides on it).
    pub const HELLO: &[u8; 6] = b"VKFD1\n";
    /// How long a token is good for.
    pub const TOKEN_SECS: u64 = 30;
    /// The longest answer line the daemon sends.
    pub const MAX_ANSWER: usize = 512;
}
