//! Jobs: what an object is busy with.

use serde::{Deserialize, Serialize};

word_enum! {
    /// What a job does.
    pub enum JobKind {
        Define = "define",
        Undefine = "undefine",
        Start = "start",
        Stop = "stop",
        Shutdown = "shutdown",
        Reboot = "reboot",
        Reset = "reset",
        Suspend = "suspend",
        Resume = "resume",
        Autostart = "autostart",
        Update = "update",
        Build = "build",
        Refresh = "refresh",
        Delete = "delete",
        Create = "create",
        Clone = "clone",
        Upload = "upload",
        Download = "download",
        Wipe = "wipe",
        Resize = "resize",
        /// A secret's value is being set.
        SetValue = "set-value",
    }
}

impl JobKind {
    /// Whether this job may take long enough to be watched and cancelled.
    pub fn is_long(self) -> bool {
        matches!(
            self,
            JobKind::Build | JobKind::Create | JobKind::Clone | JobKind::Upload | JobKind::Download | JobKind::Wipe
        )
    }
}

/// The job an object is busy with, as a query sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobInfo {
    pub kind: JobKind,
    /// When it began, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Progress: units done of `total` (bytes for data jobs; 0 of 0 when
    /// the job cannot tell).
    pub done: u64,
    pub total: u64,
    /// Whether it can be cancelled.
    pub cancellable: bool,
    /// Operations allowed on the object meanwhile (queries always are).
    pub allows: Vec<JobKind>,
}

impl JobInfo {
    /// A job of `kind` begun at `started_ms`, with nothing done yet (set
    /// the other fields after).
    pub fn new(kind: JobKind, started_ms: u64) -> Self {
        JobInfo { kind, started_ms, done: 0, total: 0, cancellable: kind.is_long(), allows: Vec::new() }
    }
}
