//! virtkit's host plumbing (internal): spawning and supervising processes,
//! files written atomically, directory locks. It knows nothing of
//! hypervisors or documents.

pub mod fs;
pub mod lock;
pub mod paths;
pub mod pem;
pub mod process;

pub use lock::DirLock;
pub use process::{ProcessId, Spawn, log_tail};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is in use by {}", path.display(), pid.map_or_else(|| "another process".to_owned(), |p| format!("pid {p}")))]
    InUse { path: std::path::PathBuf, pid: Option<u32> },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(what: &str, source: std::io::Error) -> Self {
        Error::Io { what: what.to_owned(), source }
    }
}
