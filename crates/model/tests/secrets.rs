//! Secrets: every field of every document type whose name looks like a
//! secret is either listed in `virtkit_model::secrets::SECRETS` (and then
//! withheld from XML and JSON unless asked for) or reviewed here as not
//! one; a new secret field cannot be added without saying which.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use virtkit_model::domain::Domain;
use virtkit_model::secrets::SECRETS;

/// Fields whose names look like secrets but hold none, and why.
const NOT_SECRET: &[(&str, &str, &str)] = &[
    ("Vnc", "passwd_valid_to", "when the password expires; libvirt shows it"),
    ("Spice", "passwd_valid_to", "when the password expires; libvirt shows it"),
    ("Vnc", "keymap", "a keyboard layout"),
    ("Spice", "keymap", "a keyboard layout"),
    ("Sdl", "xauth", "the path of an X authority file, not its content"),
    ("Rdp", "replace_user", "a yes/no setting"),
    ("Rdp", "multi_user", "a yes/no setting"),
    ("Domain", "keywrap", "which s390 key-wrapping ciphers are on, no key"),
    ("Sev", "dh_cert", "the guest owner's public Diffie-Hellman certificate"),
    ("PoolSource", "auth", "a user name and a reference to a secret object"),
    ("NetworkDiskSource", "auth", "a user name and a reference to a secret object"),
    ("Disk", "auth", "a user name and a reference to a secret object"),
    ("DiskAuth", "username", "a user name; libvirt shows it"),
    ("DiskAuth", "secret_type", "ceph or iscsi"),
    ("DiskAuth", "secret", "a reference (uuid or usage) to a secret object"),
    ("NfsIdentity", "user", "the user name or id QEMU acts as on the NFS server"),
    ("SourceAuth", "auth_type", "chap or ceph"),
    ("SourceAuth", "username", "a user name; libvirt shows it"),
    ("SourceAuth", "secret", "a reference (uuid or usage) to a secret object"),
    ("Encryption", "secret", "a reference (uuid or usage) to a secret object"),
    ("Volume", "key", "the volume's identifier (its path for dir pools)"),
    ("TpmBackend", "encryption_secret", "the UUID of the secret object that encrypts the state"),
    ("ScsiSource", "auth", "a user name and a reference to a secret object"),
    ("IscsiAuth", "username", "a user name; libvirt shows it"),
    ("IscsiAuth", "secret_type", "iscsi or ceph"),
    ("IscsiAuth", "secret", "a reference (uuid or usage) to a secret object"),
    ("Lease", "key", "the name of a lock in its lockspace, not a secret"),
    ("Secret", "private", "whether the value may be read back; the value is never in the document"),
];

fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "passw",
        "secret",
        "key",
        "token",
        "psk",
        "credential",
        "session",
        "cert",
        "auth",
        "private",
        "cookie",
        "salt",
        "user",
        "login",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Every (type, field) declared under `dir`: `pub name:` lines, and the
/// `name: Type = "xml"` lines of the device table, inside the struct (or
/// table) that holds them.
fn fields(dir: &Path, out: &mut Vec<(String, String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fields(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The type whose declaration the line is in (none outside one).
        let mut owner: Option<String> = None;
        for line in text.lines() {
            let t = line.trim_start();
            if owner.is_some() && t.starts_with('}') {
                owner = None;
                continue;
            }
            for kw in ["pub struct ", "pub(crate) struct ", "struct ", "pub enum "] {
                if let Some(rest) = t.strip_prefix(kw)
                    && t.ends_with('{')
                {
                    owner = rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().map(str::to_owned);
                }
            }
            if t.starts_with("devices! {") {
                owner = Some("Devices".to_owned());
            }
            let Some(owner) = &owner else { continue };
            let decl = t.strip_prefix("pub ").or_else(|| t.strip_prefix("pub(crate) ")).unwrap_or(t);
            let Some((name, _)) = decl.split_once(": ") else { continue };
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                out.push((owner.clone(), name.to_owned(), path.display().to_string()));
            }
        }
    }
}

#[test]
fn every_field_that_looks_secret_is_listed_or_reviewed() {
    let mut all = Vec::new();
    fields(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    assert!(all.iter().any(|(o, f, _)| o == "Vnc" && f == "passwd"), "the walk finds no fields");
    let mut unclassified = Vec::new();
    for (owner, field, file) in &all {
        if !looks_secret(field) {
            continue;
        }
        let listed = SECRETS.iter().any(|s| s.model == owner && s.field == field);
        let reviewed = NOT_SECRET.iter().any(|(m, f, _)| m == owner && f == field);
        if !listed && !reviewed {
            unclassified.push(format!("{owner}.{field} ({file})"));
        }
    }
    assert!(
        unclassified.is_empty(),
        "fields that look like secrets, neither in secrets::SECRETS nor reviewed in NOT_SECRET: {unclassified:#?}"
    );
    for s in SECRETS {
        assert!(all.iter().any(|(o, f, _)| o == s.model && f == s.field), "{s:?} names no field");
    }
}

/// A document holding every secret of [`SECRETS`], each with a value
/// starting `S3CRET-`, one sample per entry.
fn with_every_secret() -> Domain {
    let samples = [
        (
            "Vnc",
            "<graphics type='vnc' port='-1' autoport='yes' passwd='S3CRET-vnc' passwdValidTo='2030-01-01T00:00:00'/>",
        ),
        ("Spice", "<graphics type='spice' autoport='yes' passwd='S3CRET-spice'/>"),
        (
            "NetworkDiskSource",
            "<disk type='network' device='disk'><source protocol='https' name='/img'><host name='web.lan'/><cookies><cookie name='session'>S3CRET-cookie</cookie></cookies></source><target dev='vda' bus='virtio'/></disk>",
        ),
    ];
    let top = [(
        "Sev",
        "<launchSecurity type='sev'><policy>0x0003</policy><session>S3CRET-session</session></launchSecurity>",
    )];
    for s in SECRETS {
        assert!(
            samples.iter().chain(&top).any(|(m, _)| *m == s.model),
            "{s:?}: add a sample holding it here, so that withholding it is tested"
        );
    }
    let devices: String = samples.iter().map(|(_, x)| *x).collect();
    let xml = format!(
        "<domain type='kvm'><name>s</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>{}<devices>{devices}</devices></domain>",
        top.iter().map(|(_, x)| *x).collect::<String>()
    );
    Domain::from_xml(&xml).unwrap()
}

#[test]
fn secrets_are_withheld_from_xml_and_json_unless_kept() {
    let d = with_every_secret();
    let (xml, json) = (d.to_xml(), d.to_json());
    assert_eq!(xml.matches("S3CRET-").count(), SECRETS.len(), "{xml}");
    assert_eq!(json.matches("S3CRET-").count(), SECRETS.len(), "{json}");
    let mut shown = d.clone();
    shown.withhold_secrets();
    let (xml, json) = (shown.to_xml(), shown.to_json());
    assert!(!xml.contains("S3CRET") && !json.contains("S3CRET"), "{xml}\n{json}");
    // What is not secret stays, and the document is still a document.
    assert!(xml.contains("passwdValidTo='2030-01-01T00:00:00'"), "{xml}");
    assert!(xml.contains("<launchSecurity type='sev'>"), "{xml}");
    assert!(xml.contains("<host name='web.lan'/>"), "{xml}");
    assert_eq!(Domain::from_xml(&xml).unwrap(), shown);
    assert_eq!(Domain::from_json(&json).unwrap(), shown);
}
