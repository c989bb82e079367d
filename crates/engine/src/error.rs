//! The one error type of the API, with a stable, machine-readable kind.

use crate::types::word_enum;

word_enum! {
    /// What kind of failure: stable across versions and transports.
    pub enum ErrorKind {
        /// No such domain (or other object).
        NotFound = "not-found",
        /// An object with that name or UUID exists.
        AlreadyExists = "already-exists",
        /// A document was refused; the model's errors say where.
        InvalidDocument = "invalid-document",
        /// The operation does not fit the object's state (start a running domain).
        InvalidState = "invalid-state",
        /// A bad argument: a URI, an option value, a name.
        InvalidArgument = "invalid-argument",
        /// The driver or host cannot do this.
        Unsupported = "unsupported",
        PermissionDenied = "permission-denied",
        /// Someone else changed the object first (`expected_generation`).
        Conflict = "conflict",
        Timeout = "timeout",
        /// The hypervisor failed.
        Driver = "driver",
        /// A host I/O failure.
        Io = "io",
        /// Events from that revision are no longer kept: list again.
        RevisionGone = "revision-gone",
        /// The connection to the daemon was lost.
        Disconnected = "disconnected",
        /// A bug in virtkit.
        Internal = "internal",
    }
}

/// An error: a kind, a short lower-case message, and for refused documents
/// every problem found with its location.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    document: Option<virtkit_model::Errors>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), document: None }
    }

    /// A refused document: the message is the first problem.
    pub fn invalid_document(errors: virtkit_model::Errors) -> Self {
        let first = errors.first();
        let message = match first.pos {
            Some(p) => format!("invalid document: {p}: {first}"),
            None => format!("invalid document: {first}"),
        };
        Error { kind: ErrorKind::InvalidDocument, message, document: Some(errors) }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Every problem in a refused document, with line, column and path.
    pub fn document_errors(&self) -> Option<&virtkit_model::Errors> {
        self.document.as_ref()
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Error::new(ErrorKind::NotFound, format!("domain '{what}' not found"))
    }

    pub(crate) fn state(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidState, message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
