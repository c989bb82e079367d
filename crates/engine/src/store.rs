//! Persistence under a state directory: one file per stored definition and
//! one per active object's runtime status, each written atomically (a new
//! file, fsynced, renamed, the directory fsynced) and keyed by UUID. One
//! engine owns a directory at a time (a lock file).
//!
//! ```text
//! DIR/lock                    the owner's pid, flock'ed
//! DIR/KIND/UUID.xml           <!-- virtkit generation=N autostart=yes|no --> then the document
//! DIR/run/KIND/UUID.json      {"name", "parent", "state", "id", "live": "<… document …>", "driver": …}
//! DIR/secret/UUID.value       a secret's value, the bytes as set (mode 0600)
//! ```
//!
//! KIND is `domain`, `network`, `pool` or `secret` (volumes live in their
//! pools, not here; ephemeral secrets in memory only). The first line of a definition file carries what is not part of
//! the document, so that the two are written in one step. A directory
//! written by virtkit 0.1 (`domains/UUID.json`, `run/UUID.json`) is moved
//! to this layout when it is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use virtkit_host::DirLock;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Definition, Kind};
use crate::types::ObjectKind;

#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    _lock: DirLock,
}

/// The runtime status of an active object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunFile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Uuid>,
    /// The kind's state (a domain's: `{"state": …, "reason": …}`).
    pub state: serde_json::Value,
    /// A running domain's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// The live definition.
    pub live: String,
    #[serde(default)]
    pub driver: serde_json::Value,
}

/// A stored definition as read back.
pub(crate) struct StoredDef<D> {
    pub uuid: Uuid,
    pub generation: u64,
    pub autostart: bool,
    pub def: D,
}

/// What was found on disk for one kind.
pub(crate) struct Loaded<K: Kind> {
    pub defs: Vec<StoredDef<K::Def>>,
    pub runs: Vec<(Uuid, RunFile, K::Def, K::State)>,
    /// Files that could not be used, and why (they are left as they are).
    pub problems: Vec<String>,
}

/// A host error as an engine error: a full filesystem says so by its kind.
pub(crate) fn io(what: String) -> impl FnOnce(virtkit_host::Error) -> Error {
    move |e| match e {
        virtkit_host::Error::InUse { .. } => Error::new(ErrorKind::Conflict, e.to_string()),
        virtkit_host::Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
            Error::new(ErrorKind::NoSpace, format!("{what}: {e}"))
        }
        e => Error::new(ErrorKind::Io, format!("{what}: {e}")),
    }
}

/// The extension of a secret's value file.
const VALUE: &str = "value";

const HEADER_START: &str = "<!-- virtkit ";
const HEADER_END: &str = " -->\n";

fn header(generation: u64, autostart: bool) -> String {
    format!("{HEADER_START}generation={generation} autostart={}{HEADER_END}", if autostart { "yes" } else { "no" })
}

/// The first line of a definition file: its generation and autostart.
fn parse_header(text: &str) -> std::result::Result<(u64, bool), String> {
    let line = text.strip_prefix(HEADER_START).and_then(|t| t.split_once(HEADER_END)).map(|(l, _)| l);
    let Some(line) = line else {
        return Err("it does not start with virtkit's header line".into());
    };
    let (mut generation, mut autostart) = (None, None);
    for word in line.split(' ') {
        match word.split_once('=') {
            Some(("generation", g)) => generation = g.parse::<u64>().ok(),
            Some(("autostart", "yes")) => autostart = Some(true),
            Some(("autostart", "no")) => autostart = Some(false),
            _ => return Err(format!("unknown word '{}' in its header line", crate::error::cut(word))),
        }
    }
    match (generation, autostart) {
        (Some(g), Some(a)) => Ok((g, a)),
        _ => Err("its header line lacks the generation or autostart".into()),
    }
}

impl Store {
    /// Takes the directory (waiting up to `wait` for another owner).
    pub(crate) fn open(root: &Path, wait: Duration) -> Result<Store> {
        virtkit_host::fs::create_dir(root, 0o700).map_err(io("cannot prepare the state directory".into()))?;
        let lock = DirLock::acquire(&root.join("lock"), wait).map_err(io("cannot lock the state directory".into()))?;
        let store = Store { root: root.to_owned(), _lock: lock };
        for kind in [ObjectKind::Domain, ObjectKind::Network, ObjectKind::Pool, ObjectKind::Secret] {
            for dir in [store.def_dir(kind), store.run_dir(kind)] {
                virtkit_host::fs::create_dir(&dir, 0o700).map_err(io("cannot prepare the state directory".into()))?;
                virtkit_host::fs::clean_temporaries(&dir);
            }
        }
        Ok(store)
    }

    fn def_dir(&self, kind: ObjectKind) -> PathBuf {
        self.root.join(kind.as_str())
    }

    fn run_dir(&self, kind: ObjectKind) -> PathBuf {
        self.root.join("run").join(kind.as_str())
    }

    fn def_path(&self, kind: ObjectKind, uuid: &Uuid) -> PathBuf {
        self.def_dir(kind).join(format!("{uuid}.xml"))
    }

    fn run_path(&self, kind: ObjectKind, uuid: &Uuid) -> PathBuf {
        self.run_dir(kind).join(format!("{uuid}.json"))
    }

    pub(crate) fn save_def<D: Definition>(
        &self,
        kind: ObjectKind,
        generation: u64,
        autostart: bool,
        def: &D,
    ) -> Result<()> {
        let mut text = header(generation, autostart);
        text.push_str(&def.to_xml());
        virtkit_host::fs::write_atomic(&self.def_path(kind, &def.uuid()), text.as_bytes(), 0o600).map_err(io(format!(
            "cannot store the definition of {} '{}'",
            kind.noun(),
            def.name()
        )))
    }

    pub(crate) fn remove_def(&self, kind: ObjectKind, uuid: &Uuid) -> Result<()> {
        virtkit_host::fs::remove_durable(&self.def_path(kind, uuid))
            .map_err(io(format!("cannot remove the definition of {} {uuid}", kind.noun())))
    }

    fn value_path(&self, uuid: &Uuid) -> PathBuf {
        self.def_dir(ObjectKind::Secret).join(format!("{uuid}.{VALUE}"))
    }

    /// Stores a secret's value beside its definition, readable by the
    /// owner only.
    pub(crate) fn save_value(&self, uuid: &Uuid, value: &[u8]) -> Result<()> {
        virtkit_host::fs::write_atomic(&self.value_path(uuid), value, 0o600)
            .map_err(io(format!("cannot store the value of secret {uuid}")))
    }

    /// A secret's stored value, if it has one: read into one buffer of
    /// the file's size, wiped when dropped (no grown and freed copies
    /// left behind, unless the file grows as it is read).
    pub(crate) fn load_value(&self, uuid: &Uuid) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, String> {
        let path = self.value_path(uuid);
        let read = || -> std::io::Result<Zeroizing<Vec<u8>>> {
            let mut f = std::fs::File::open(&path)?;
            let len = f.metadata()?.len();
            let mut v = Zeroizing::new(Vec::new());
            v.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX)).map_err(std::io::Error::other)?;
            std::io::Read::read_to_end(&mut f, &mut v)?;
            Ok(v)
        };
        match read() {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub(crate) fn remove_value(&self, uuid: &Uuid) -> Result<()> {
        virtkit_host::fs::remove_durable(&self.value_path(uuid))
            .map_err(io(format!("cannot remove the value of secret {uuid}")))
    }

    pub(crate) fn save_run(&self, kind: ObjectKind, uuid: &Uuid, run: &RunFile) -> Result<()> {
        let data = serde_json::to_vec_pretty(run).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        virtkit_host::fs::write_atomic(&self.run_path(kind, uuid), &data, 0o600).map_err(io(format!(
            "cannot store the runtime status of {} '{}'",
            kind.noun(),
            run.name
        )))
    }

    pub(crate) fn remove_run(&self, kind: ObjectKind, uuid: &Uuid) -> Result<()> {
        virtkit_host::fs::remove_durable(&self.run_path(kind, uuid))
            .map_err(io(format!("cannot remove the runtime status of {} {uuid}", kind.noun())))
    }

    /// Reads every definition and runtime status of kind `K`. A file that
    /// cannot be read or parsed is reported in `problems` and left as it is.
    pub(crate) fn load<K: Kind>(&self) -> Loaded<K> {
        let mut out = Loaded { defs: Vec::new(), runs: Vec::new(), problems: Vec::new() };
        for (uuid, path) in entries(&self.def_dir(K::OBJECT), "xml", &mut out.problems) {
            let parsed = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|text| {
                let (generation, autostart) = parse_header(&text)?;
                let def = K::Def::from_xml(&text).map_err(|e| e.to_string())?;
                if def.uuid() != uuid {
                    return Err(format!("it holds {} {}", K::OBJECT.noun(), def.uuid()));
                }
                Ok(StoredDef { uuid, generation, autostart, def })
            });
            match parsed {
                Ok(d) => out.defs.push(d),
                Err(e) => out.problems.push(format!("{}: {e}", path.display())),
            }
        }
        for (uuid, path) in entries(&self.run_dir(K::OBJECT), "json", &mut out.problems) {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<RunFile>(&t).map_err(|e| e.to_string()))
                .and_then(|f| {
                    let d = K::Def::from_xml(&f.live).map_err(|e| e.to_string())?;
                    let s = serde_json::from_value::<K::State>(f.state.clone()).map_err(|e| e.to_string())?;
                    Ok((f, d, s))
                });
            match parsed {
                Ok((f, d, s)) => out.runs.push((uuid, f, d, s)),
                Err(e) => out.problems.push(format!("{}: {e}", path.display())),
            }
        }
        out
    }

    /// Moves a virtkit 0.1 layout (`domains/UUID.json` with the definition
    /// inside, `run/UUID.json`) to this one. Files it cannot read are left
    /// where they are and reported.
    pub(crate) fn migrate_v1(&self, problems: &mut Vec<String>) {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct OldDef {
            generation: u64,
            autostart: bool,
            definition: String,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct OldRun {
            name: String,
            id: Option<u32>,
            state: serde_json::Value,
            reason: serde_json::Value,
            live: String,
            #[serde(default)]
            driver: serde_json::Value,
        }
        let old_defs = self.root.join("domains");
        if old_defs.is_dir() {
            for (uuid, path) in entries(&old_defs, "json", problems) {
                let moved = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<OldDef>(&t).map_err(|e| e.to_string()))
                    .and_then(|old| {
                        let mut text = header(old.generation, old.autostart);
                        text.push_str(&old.definition);
                        write_then_remove(&self.def_path(ObjectKind::Domain, &uuid), text.as_bytes(), &path)
                    });
                if let Err(e) = moved {
                    problems.push(format!("{}: not moved to the new layout: {e}", path.display()));
                }
            }
            let _ = std::fs::remove_dir(&old_defs);
        }
        for (uuid, path) in entries(&self.root.join("run"), "json", problems) {
            let moved = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<OldRun>(&t).map_err(|e| e.to_string()))
                .and_then(|old| {
                    let new = RunFile {
                        name: old.name,
                        parent: None,
                        state: serde_json::json!({ "state": old.state, "reason": old.reason }),
                        id: old.id,
                        live: old.live,
                        driver: old.driver,
                    };
                    let data = serde_json::to_vec_pretty(&new).map_err(|e| e.to_string())?;
                    write_then_remove(&self.run_path(ObjectKind::Domain, &uuid), &data, &path)
                });
            if let Err(e) = moved {
                problems.push(format!("{}: not moved to the new layout: {e}", path.display()));
            }
        }
    }
}

fn write_then_remove(new: &Path, data: &[u8], old: &Path) -> std::result::Result<(), String> {
    virtkit_host::fs::write_atomic(new, data, 0o600).map_err(|e| e.to_string())?;
    virtkit_host::fs::remove_durable(old).map_err(|e| e.to_string())
}

/// `UUID.EXT` files of a directory; other files are reported, directories
/// (drivers keep per-object directories beside) and the lock are skipped.
fn entries(dir: &Path, ext: &str, problems: &mut Vec<String>) -> Vec<(Uuid, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        problems.push(format!("{}: cannot be read", dir.display()));
        return Vec::new();
    };
    let mut v = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        if path.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        match name.strip_suffix(&format!(".{ext}")).and_then(|u| Uuid::try_parse(u).ok()) {
            Some(u) => v.push((u, path)),
            None if name == "lock" || name.starts_with('.') => {}
            // A secret's value, read with its definition.
            None if name.strip_suffix(&format!(".{VALUE}")).is_some_and(|u| Uuid::try_parse(u).is_ok()) => {}
            None => problems.push(format!("{}: not a virtkit file", path.display())),
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_round_trip_and_junk_is_refused() {
        let h = header(7, true);
        assert_eq!(h, "<!-- virtkit generation=7 autostart=yes -->\n");
        assert_eq!(parse_header(&format!("{h}<domain/>")), Ok((7, true)));
        assert!(parse_header("<domain/>").is_err());
        assert!(parse_header("<!-- virtkit generation=x autostart=no -->\n").is_err());
        assert!(parse_header("<!-- virtkit generation=1 autostart=no evil=1 -->\n").is_err());
    }
}
