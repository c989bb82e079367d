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
        /// The job was cancelled before it finished (it was undone).
        Cancelled = "cancelled",
        /// The host has no room for it (a full filesystem, a pool's space).
        NoSpace = "no-space",
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

/// An error: a kind, a short lower-case message, for refused documents
/// every problem found with its location, and, when undoing what the failed
/// operation had done failed too, that error beside it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}{}", cleanup_suffix(.cleanup.as_deref()))]
pub struct Error {
    kind: ErrorKind,
    message: String,
    document: Option<virtkit_model::Errors>,
    cleanup: Option<Box<Error>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), document: None, cleanup: None }
    }

    /// This error, with the error met while cleaning up after it.
    #[must_use]
    pub fn with_cleanup(mut self, cleanup: Error) -> Self {
        self.cleanup = Some(Box::new(cleanup));
        self
    }

    /// What failed while undoing the failed operation, if anything did.
    pub fn cleanup(&self) -> Option<&Error> {
        self.cleanup.as_deref()
    }

    /// A refused document: the message is the first problem.
    pub fn invalid_document(errors: virtkit_model::Errors) -> Self {
        let first = errors.first();
        let message = match first.pos {
            Some(p) => format!("invalid document: {p}: {first}"),
            None => format!("invalid document: {first}"),
        };
        Error { kind: ErrorKind::InvalidDocument, message, document: Some(errors), cleanup: None }
    }

    /// A refused part of a document (`net-update`'s element): `context`,
    /// then the first problem; every problem is kept.
    pub fn invalid_part(context: impl std::fmt::Display, errors: virtkit_model::Errors) -> Self {
        let first = errors.first();
        let message = match first.pos {
            Some(p) => format!("{context}: {p}: {first}"),
            None => format!("{context}: {first}"),
        };
        Error::invalid_document_as(message, errors)
    }

    /// A refused document said as `message` (a daemon's words for it).
    pub fn invalid_document_as(message: impl Into<String>, errors: virtkit_model::Errors) -> Self {
        Error { kind: ErrorKind::InvalidDocument, message: message.into(), document: Some(errors), cleanup: None }
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
        Error::not_found_of(crate::types::ObjectKind::Domain, what)
    }

    /// No object of that kind by that name or UUID.
    pub fn not_found_of(kind: crate::types::ObjectKind, what: &str) -> Self {
        Error::new(ErrorKind::NotFound, format!("{} '{}' not found", kind.noun(), cut(what)))
    }

    pub(crate) fn state(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidState, message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Cuts a value quoted in a message to a readable length.
pub(crate) fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
        None => std::borrow::Cow::Borrowed(s),
    }
}

fn cleanup_suffix(cleanup: Option<&Error>) -> String {
    cleanup.map(|c| format!(" (and cleaning up failed: {c})")).unwrap_or_default()
}
