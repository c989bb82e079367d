//! Persistence under a state directory: one file per domain definition,
//! one per running domain's runtime status, each written atomically and
//! keyed by UUID. One engine owns a directory at a time (a lock file).
//!
//! ```text
//! DIR/lock                 the owner's pid, flock'ed
//! DIR/domains/UUID.json    {"generation", "autostart", "definition": "<domain …>"}
//! DIR/run/UUID.json        {"name", "id", "state", "reason", "live": "<domain …>", "driver": …}
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use virtkit_host::DirLock;
use virtkit_model::domain::Domain;

use crate::error::{Error, ErrorKind, Result};
use crate::types::{DomainState, StateReason};

#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    _lock: DirLock,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefFile {
    pub generation: u64,
    pub autostart: bool,
    pub definition: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunFile {
    pub name: String,
    pub id: Option<u32>,
    pub state: DomainState,
    pub reason: StateReason,
    pub live: String,
    #[serde(default)]
    pub driver: serde_json::Value,
}

/// What was found on disk.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub defs: Vec<(Uuid, u64, bool, Domain)>,
    pub runs: Vec<(Uuid, RunFile, Domain)>,
    /// Files that could not be used, and why (they are left as they are).
    pub problems: Vec<String>,
}

fn io(what: String) -> impl FnOnce(virtkit_host::Error) -> Error {
    move |e| match e {
        virtkit_host::Error::InUse { .. } => Error::new(ErrorKind::Conflict, e.to_string()),
        e => Error::new(ErrorKind::Io, format!("{what}: {e}")),
    }
}

impl Store {
    /// Takes the directory (waiting up to `wait` for another owner).
    pub(crate) fn open(root: &Path, wait: Duration) -> Result<Store> {
        for sub in ["", "domains", "run"] {
            virtkit_host::fs::create_dir(&root.join(sub), 0o700)
                .map_err(io("cannot prepare the state directory".into()))?;
        }
        let lock = DirLock::acquire(&root.join("lock"), wait).map_err(io("cannot lock the state directory".into()))?;
        for sub in ["domains", "run"] {
            virtkit_host::fs::clean_temporaries(&root.join(sub));
        }
        Ok(Store { root: root.to_owned(), _lock: lock })
    }

    fn def_path(&self, uuid: &Uuid) -> PathBuf {
        self.root.join("domains").join(format!("{uuid}.json"))
    }

    fn run_path(&self, uuid: &Uuid) -> PathBuf {
        self.root.join("run").join(format!("{uuid}.json"))
    }

    pub(crate) fn save_def(&self, uuid: &Uuid, generation: u64, autostart: bool, def: &Domain) -> Result<()> {
        let f = DefFile { generation, autostart, definition: def.to_xml() };
        let data = serde_json::to_vec_pretty(&f).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        virtkit_host::fs::write_atomic(&self.def_path(uuid), &data, 0o600)
            .map_err(io(format!("cannot store the definition of '{}'", def.name)))
    }

    pub(crate) fn remove_def(&self, uuid: &Uuid) -> Result<()> {
        virtkit_host::fs::remove_durable(&self.def_path(uuid)).map_err(io("cannot remove a definition".into()))
    }

    pub(crate) fn save_run(&self, uuid: &Uuid, run: &RunFile) -> Result<()> {
        let data = serde_json::to_vec_pretty(run).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        virtkit_host::fs::write_atomic(&self.run_path(uuid), &data, 0o600)
            .map_err(io(format!("cannot store the runtime status of '{}'", run.name)))
    }

    pub(crate) fn remove_run(&self, uuid: &Uuid) -> Result<()> {
        virtkit_host::fs::remove_durable(&self.run_path(uuid)).map_err(io("cannot remove a runtime status".into()))
    }

    /// Reads every definition and runtime status. A file that cannot be
    /// read or parsed is reported in `problems` and left untouched.
    pub(crate) fn load(&self) -> Loaded {
        let mut out = Loaded::default();
        for (uuid, path) in self.entries("domains", &mut out.problems) {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<DefFile>(&t).map_err(|e| e.to_string()))
                .and_then(|f| {
                    let d = Domain::from_xml(&f.definition).map_err(|e| e.to_string())?;
                    if d.uuid != uuid {
                        return Err(format!("it holds domain {}", d.uuid));
                    }
                    Ok((f, d))
                });
            match parsed {
                Ok((f, d)) => out.defs.push((uuid, f.generation, f.autostart, d)),
                Err(e) => out.problems.push(format!("{}: {e}", path.display())),
            }
        }
        for (uuid, path) in self.entries("run", &mut out.problems) {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<RunFile>(&t).map_err(|e| e.to_string()))
                .and_then(|f| {
                    let d = Domain::from_xml(&f.live).map_err(|e| e.to_string())?;
                    Ok((f, d))
                });
            match parsed {
                Ok((f, d)) => out.runs.push((uuid, f, d)),
                Err(e) => out.problems.push(format!("{}: {e}", path.display())),
            }
        }
        out
    }

    /// `UUID.json` files of a subdirectory; other names are reported.
    fn entries(&self, sub: &str, problems: &mut Vec<String>) -> Vec<(Uuid, PathBuf)> {
        let dir = self.root.join(sub);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            problems.push(format!("{}: cannot be read", dir.display()));
            return Vec::new();
        };
        let mut v = Vec::new();
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                continue; // drivers keep their per-domain directories here
            }
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".json").and_then(|u| Uuid::try_parse(u).ok()) {
                Some(u) => v.push((u, path)),
                None if name == "lock" => {}
                None => problems.push(format!("{}: not a virtkit file", path.display())),
            }
        }
        v.sort();
        v
    }
}
