//! Firmware at start: `<os firmware='efi'>` is resolved to a loader and a
//! variable store from QEMU's firmware descriptions
//! (`/usr/share/qemu/firmware/*.json`, Debian's `ovmf` installs them), as
//! libvirt does, and each guest's variable store is copied from its
//! template on first start and kept under the driver's root
//! (`ROOT/nvram/UUID_VARS.fd`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_model::domain::{Domain, Features, Firmware, FirmwareFeatureName, LoaderType, Nvram, Smm};

/// Where QEMU's firmware descriptions are.
pub(crate) const DESCRIPTORS: &str = "/usr/share/qemu/firmware";

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

/// One firmware description, what matters of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub(crate) file: PathBuf,
    pub(crate) uefi: bool,
    pub(crate) executable: PathBuf,
    pub(crate) nvram_template: Option<PathBuf>,
    /// (architecture, machine globs).
    pub(crate) targets: Vec<(String, Vec<String>)>,
    pub(crate) features: Vec<String>,
}

impl Descriptor {
    fn parse(file: &Path, text: &str) -> Option<Descriptor> {
        let v: Value = serde_json::from_str(text).ok()?;
        let m = &v["mapping"];
        if m["device"].as_str() != Some("flash") {
            return None;
        }
        let strs = |x: &Value| -> Vec<String> {
            x.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        Some(Descriptor {
            file: file.to_owned(),
            uefi: strs(&v["interface-types"]).iter().any(|t| t == "uefi"),
            executable: PathBuf::from(m["executable"]["filename"].as_str()?),
            nvram_template: m["nvram-template"]["filename"].as_str().map(PathBuf::from),
            targets: v["targets"]
                .as_array()?
                .iter()
                .filter_map(|t| Some((t["architecture"].as_str()?.to_owned(), strs(&t["machines"]))))
                .collect(),
            features: strs(&v["features"]),
        })
    }

    fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    fn fits(&self, arch: &str, machines: &[&str]) -> bool {
        self.targets.iter().any(|(a, globs)| a == arch && globs.iter().any(|g| machines.iter().any(|m| glob(g, m))))
    }
}

/// `*` matches any run of characters; nothing else is special.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|i| tail.is_char_boundary(*i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// Every description in `dir`, in file name order (libvirt's priority).
pub(crate) fn descriptors(dir: &Path) -> Vec<Descriptor> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| Descriptor::parse(f, &std::fs::read_to_string(f).ok()?)).collect()
}

/// The firmware for `def`: the first description that is UEFI, fits the
/// architecture and one of `machines` (the machine type and its canonical
/// name), and has each firmware feature the definition asks for (and not
/// those it refuses). Firmware that needs SMM is taken only when the
/// definition enables SMM or asks for secure boot.
pub(crate) fn choose<'a>(def: &Domain, machines: &[&str], all: &'a [Descriptor]) -> Option<&'a Descriptor> {
    let arch = def.os.arch.map_or(std::env::consts::ARCH, |a| a.as_str());
    let want = |n: FirmwareFeatureName| def.os.firmware_features.iter().find(|f| f.name == n).map(|f| f.enabled);
    let smm = def.features.as_ref().and_then(|f| f.smm.as_ref()).map(|s| s.state);
    all.iter().find(|d| {
        let features_fit =
            [(FirmwareFeatureName::SecureBoot, "secure-boot"), (FirmwareFeatureName::EnrolledKeys, "enrolled-keys")]
                .iter()
                .all(|(n, word)| want(*n).is_none_or(|w| w == d.has(word)));
        let smm_fits = !d.has("requires-smm")
            || (smm != Some(false) && (smm == Some(true) || want(FirmwareFeatureName::SecureBoot) == Some(true)));
        d.uefi && d.fits(arch, machines) && features_fit && smm_fits
    })
}

/// The definition QEMU runs: `firmware='efi'` resolved to a loader and a
/// variable store, and (with `make`) the store created from its template
/// when it is not there yet. Definitions with their own loader keep it.
pub(crate) fn resolve(root: &Path, def: &Domain, machines: &[&str], dir: &Path, make: bool) -> Result<Domain> {
    let mut live = def.clone();
    if def.os.firmware == Some(Firmware::Efi) && def.os.loader.as_ref().and_then(|l| l.path.as_ref()).is_none() {
        let all = descriptors(dir);
        let Some(d) = choose(def, machines, &all) else {
            let why = if all.is_empty() {
                format!("there are no firmware descriptions in {} (install Debian's ovmf)", dir.display())
            } else {
                format!(
                    "none of the {} firmware descriptions in {} fits machine '{}' with the features asked for",
                    all.len(),
                    dir.display(),
                    machines.first().copied().unwrap_or("pc")
                )
            };
            return Err(refuse(format!("firmware='efi': {why}")));
        };
        let stateless = def.os.loader.as_ref().and_then(|l| l.stateless) == Some(true);
        let secure = d.has("requires-smm");
        let mut loader = def.os.loader.clone().unwrap_or_default();
        loader.path = Some(d.executable.display().to_string());
        loader.readonly = Some(true);
        loader.loader_type = Some(LoaderType::Pflash);
        if secure {
            loader.secure = Some(true);
            let f = live.features.get_or_insert_with(Features::default);
            if f.smm.is_none() {
                f.smm = Some(Smm::new(true));
            }
        }
        live.os.loader = Some(loader);
        if !stateless {
            let mut nv = def.os.nvram.clone().unwrap_or_default();
            if nv.template.is_none() {
                nv.template = d.nvram_template.as_ref().map(|t| t.display().to_string());
            }
            live.os.nvram = Some(nv);
        }
    }
    if let Some(nv) = live.os.nvram.as_mut() {
        prepare_nvram(root, def, nv, make)?;
    }
    Ok(live)
}

/// Gives `nv` its path (under the driver's root when it has none) and, if
/// that file is not there yet, fills it from the template.
fn prepare_nvram(root: &Path, def: &Domain, nv: &mut Nvram, make: bool) -> Result<()> {
    if nv.source.is_some() {
        // A store on a storage source: the argv refuses it, nothing made here.
        return Ok(());
    }
    let path = match &nv.path {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = root.join("nvram");
            if make {
                virtkit_host::fs::create_dir(&dir, 0o700).map_err(|e| Error::new(ErrorKind::Driver, e.to_string()))?;
            }
            let p = dir.join(format!("{}_VARS.fd", def.uuid));
            nv.path = Some(p.display().to_string());
            p
        }
    };
    if path.exists() || (!make && nv.template.is_some()) {
        return Ok(());
    }
    let Some(template) = &nv.template else {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("nvram {} does not exist and there is no template to make it from", path.display()),
        ));
    };
    let tmp = path.with_extension("fd.tmp");
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    let copied = std::fs::copy(template, &tmp).and_then(|_| std::fs::set_permissions(&tmp, private));
    copied.and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot copy nvram template {template} to {}: {e}", path.display()),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::{Arch, DomainType, FirmwareFeature, Os};

    fn write(dir: &Path, name: &str, features: &[&str], machines: &[&str], code: &str) {
        let v = serde_json::json!({
            "interface-types": ["uefi"],
            "mapping": {"device": "flash", "executable": {"filename": code, "format": "raw"},
                        "nvram-template": {"filename": format!("{code}.vars"), "format": "raw"}},
            "targets": [{"architecture": "x86_64", "machines": machines}],
            "features": features,
        });
        std::fs::write(dir.join(name), v.to_string()).unwrap();
    }

    fn efi(machine: &str) -> Domain {
        let mut os = Os::hvm(Arch::X86_64, machine);
        os.firmware = Some(Firmware::Efi);
        Domain::new(DomainType::Qemu, "uefi", ByteSize::mib(256)).with_os(os)
    }

    #[test]
    fn globs() {
        assert!(glob("pc-q35-*", "pc-q35-7.2"));
        assert!(!glob("pc-q35-*", "pc-i440fx-7.2"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYc"));
    }

    #[test]
    fn plain_uefi_unless_secure_boot_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "40-secure.json", &["requires-smm", "secure-boot", "enrolled-keys"], &["pc-q35-*"], "/s");
        write(dir.path(), "60-plain.json", &["acpi-s3"], &["pc-i440fx-*", "pc-q35-*"], "/p");
        let all = descriptors(dir.path());
        assert_eq!(all.len(), 2);
        let q35 = ["q35", "pc-q35-7.2"];
        assert_eq!(choose(&efi("q35"), &q35, &all).unwrap().executable, Path::new("/p"));
        let mut sb = efi("q35");
        sb.os.firmware_features.push(FirmwareFeature::new(FirmwareFeatureName::SecureBoot, true));
        assert_eq!(choose(&sb, &q35, &all).unwrap().executable, Path::new("/s"));
        // Secure boot on i440fx: none fits.
        assert!(choose(&sb, &["pc", "pc-i440fx-7.2"], &all).is_none());
        let mut no_keys = efi("q35");
        no_keys.os.firmware_features.push(FirmwareFeature::new(FirmwareFeatureName::EnrolledKeys, false));
        assert_eq!(choose(&no_keys, &q35, &all).unwrap().executable, Path::new("/p"));
    }

    #[test]
    fn the_variable_store_is_copied_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("CODE.fd");
        std::fs::write(&code, b"code").unwrap();
        std::fs::write(dir.path().join("CODE.fd.vars"), b"template").unwrap();
        let fw = dir.path().join("fw");
        std::fs::create_dir(&fw).unwrap();
        write(&fw, "60.json", &[], &["pc-i440fx-*"], &code.display().to_string());
        let root = dir.path().join("root");
        let def = efi("pc");
        let live = resolve(&root, &def, &["pc", "pc-i440fx-7.2"], &fw, true).unwrap();
        let loader = live.os.loader.as_ref().unwrap();
        assert_eq!(loader.path.as_deref(), Some(code.to_str().unwrap()));
        assert_eq!(loader.loader_type, Some(LoaderType::Pflash));
        let nv = PathBuf::from(live.os.nvram.as_ref().unwrap().path.as_ref().unwrap());
        assert!(nv.starts_with(root.join("nvram")), "{}", nv.display());
        assert_eq!(std::fs::read(&nv).unwrap(), b"template");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&nv).unwrap().permissions().mode() & 0o777, 0o600);
        // The guest's own variables survive the next start.
        std::fs::write(&nv, b"guest wrote this").unwrap();
        resolve(&root, &def, &["pc", "pc-i440fx-7.2"], &fw, true).unwrap();
        assert_eq!(std::fs::read(&nv).unwrap(), b"guest wrote this");
        // No description fits: refused, saying why.
        let e = resolve(&root, &efi("q35"), &["q35"], &fw, true).unwrap_err();
        assert!(e.to_string().contains("fits machine 'q35'"), "{e}");
        let e = resolve(&root, &def, &["pc"], &dir.path().join("none"), true).unwrap_err();
        assert!(e.to_string().contains("install Debian's ovmf"), "{e}");
    }
}
