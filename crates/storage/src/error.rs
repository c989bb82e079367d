//! What goes wrong on the host, and how the engine hears of it.

use virtkit_engine::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("qemu-img {op} failed: {stderr}")]
    QemuImg { op: &'static str, stderr: String },
    #[error("{prog} failed: {stderr}")]
    Command { prog: String, stderr: String },
    #[error("qemu-img {op} gave an answer that cannot be read")]
    Answer {
        op: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Fault {
    Fault::Io { what: what.into(), source }
}

impl Fault {
    fn kind(&self) -> ErrorKind {
        match self {
            Fault::Io { source, .. } if source.raw_os_error() == Some(nix::libc::ENOSPC) => ErrorKind::NoSpace,
            Fault::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Fault::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                ErrorKind::PermissionDenied
            }
            Fault::Io { .. } => ErrorKind::Io,
            Fault::QemuImg { stderr, .. } if stderr.contains("No space left on device") => ErrorKind::NoSpace,
            Fault::Command { stderr, .. } if stderr.contains("target is busy") => ErrorKind::InvalidState,
            Fault::QemuImg { .. } | Fault::Answer { .. } | Fault::Command { .. } => ErrorKind::Driver,
        }
    }
}

impl From<Fault> for virtkit_engine::Error {
    fn from(f: Fault) -> Self {
        let mut msg = f.to_string();
        let mut cause = std::error::Error::source(&f);
        while let Some(c) = cause {
            msg.push_str(": ");
            msg.push_str(&c.to_string());
            cause = c.source();
        }
        virtkit_engine::Error::new(f.kind(), msg)
    }
}
