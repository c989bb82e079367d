//! TCP with mutual TLS: certificates made here by rcgen (a CA, the
//! daemon's, clients'); the CLI over `+tls` does what it does in process,
//! and each refusal (no client certificate, another CA, a name not on the
//! allow-list) happens before any call runs and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{Daemon, run};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate for `names` (SANs) with subject O=virtkit-test,CN=`cn`.
    fn issue(&self, cn: &str, names: &[&str]) -> (String, String) {
        self.issue_for(&[(DnType::OrganizationName, "virtkit-test"), (DnType::CommonName, cn)], names)
    }

    /// A certificate for `names` (SANs) with these subject attributes, one RDN each.
    fn issue_for(&self, subject: &[(DnType, &str)], names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), *v);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        (params.signed_by(&key, &issuer).unwrap().pem(), key.serialize_pem())
    }

    /// A pki directory: this CA, and a client certificate unless `client` is None.
    fn client_dir(&self, root: &Path, dir: &str, client: Option<(String, String)>) -> PathBuf {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cacert.pem"), &self.pem).unwrap();
        if let Some((cert, key)) = client {
            std::fs::write(d.join("clientcert.pem"), cert).unwrap();
            std::fs::write(d.join("clientkey.pem"), key).unwrap();
        }
        d
    }
}

/// The port the daemon's TLS listener took, from its log.
fn tls_port(d: &Daemon) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = d.log();
        if let Some(rest) = log.split("listening (tls) addr=127.0.0.1:").nth(1) {
            return rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no TLS listener:\n{log}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The daemon's pki directory under `pki`, its certificate from `ca`.
fn server_dir(ca: &Ca, pki: &Path) -> PathBuf {
    let srv = pki.join("server");
    std::fs::create_dir(&srv).unwrap();
    let (cert, key) = ca.issue("virtkitd", &["localhost", "127.0.0.1"]);
    std::fs::write(srv.join("cacert.pem"), &ca.pem).unwrap();
    std::fs::write(srv.join("servercert.pem"), cert).unwrap();
    std::fs::write(srv.join("serverkey.pem"), key).unwrap();
    srv
}

/// The allow-list matches parsed names: a subject whose one attribute's
/// value reads like the allowed name (`O="virtkit-test,CN=client1"`) is
/// refused, as are near misses; the name itself, and one written with
/// non-ASCII characters, get in.
#[test]
fn names_are_matched_as_parsed() {
    let pki = tempfile::Builder::new().prefix("vkpki").tempdir_in("/tmp").unwrap();
    let ca = Ca::new("virtkit test CA");
    let srv = server_dir(&ca, pki.path());
    let d = Daemon::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--pkipath",
        srv.to_str().unwrap(),
        "--tls-allowed-dn",
        "O=virtkit-test,CN=client1",
        "--tls-allowed-dn",
        "O=virtkit-t*,CN=Zoë ?",
    ]);
    let port = tls_port(&d);
    let try_with = |dir: &str, subject: &[(DnType, &str)]| {
        let dir = ca.client_dir(pki.path(), dir, Some(ca.issue_for(subject, &[])));
        run(&format!("test+tls://127.0.0.1:{port}/default?pkipath={}", dir.display()), "list --all")
    };
    let refused: [(&str, &[(DnType, &str)]); 4] = [
        ("forged", &[(DnType::OrganizationName, "virtkit-test,CN=client1")]),
        ("plus", &[(DnType::OrganizationName, "virtkit-test+CN=client1")]),
        ("glob", &[(DnType::OrganizationName, "virtkit-tX,CN=Zoë x")]),
        ("another type", &[(DnType::OrganizationalUnitName, "virtkit-test"), (DnType::CommonName, "client1")]),
    ];
    for (why, subject) in refused {
        let (code, out, err) = try_with(why, subject);
        assert_eq!(code, 1, "{why}: {out}");
        assert!(err.contains("virtkitd"), "{why}: {err}");
    }
    let log = d.log();
    assert!(log.contains("refused: client name not on the allow-list"), "{log}");
    // Each logged in RFC 4514 form, its separators inside values escaped.
    for dn in [
        "O=virtkit-test\\,CN=client1",
        "O=virtkit-test\\+CN=client1",
        "O=virtkit-tX\\,CN=Zoë x",
        "OU=virtkit-test,CN=client1",
    ] {
        assert!(log.contains(&format!(" dn={dn}\n")), "{dn} not refused: {log}");
    }
    assert!(!log.contains("call="), "a refused client made a call: {log}");
    let allowed: [(&str, &[(DnType, &str)]); 2] = [
        ("good", &[(DnType::OrganizationName, "virtkit-test"), (DnType::CommonName, "client1")]),
        ("non-ascii", &[(DnType::OrganizationName, "virtkit-test"), (DnType::CommonName, "Zoë ☃")]),
    ];
    for (why, subject) in allowed {
        let (code, out, err) = try_with(why, subject);
        assert_eq!(code, 0, "{why}: {err}\n{}", d.log());
        assert!(out.contains(" test "), "{why}: {out}");
    }
}

#[test]
fn tls_clients_in_and_out() {
    let pki = tempfile::Builder::new().prefix("vkpki").tempdir_in("/tmp").unwrap();
    let ca = Ca::new("virtkit test CA");
    let srv = server_dir(&ca, pki.path());

    // Port 0: the daemon picks one and logs it.
    let d = Daemon::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--pkipath",
        srv.to_str().unwrap(),
        "--tls-allowed-dn",
        "O=virtkit-test,CN=client*",
    ]);
    let port = tls_port(&d);
    let uri = |driver: &str, path: &str, dir: &Path| {
        format!("{driver}+tls://127.0.0.1:{port}/{path}?pkipath={}", dir.display())
    };

    let good = ca.client_dir(pki.path(), "good", Some(ca.issue("client1", &[])));
    // The same script over TLS prints what it prints in process.
    let xml = d.root().join("t.xml");
    std::fs::write(&xml, "<domain type='test'><name>t</name><uuid>0e7a0c4e-59c4-4d3b-9e6a-1c2d3e4f5a6b</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>").unwrap();
    let script = format!(
        "define {}; start t; suspend t; resume t; dominfo t; list --all --json; shutdown t; undefine t; list --all",
        xml.display()
    );
    let (code, local, err) = run("test:///default", &script);
    assert_eq!(code, 0, "{err}");
    let (code, remote, err) = run(&uri("test", "default", &good), &script);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert_eq!(common::without_revisions(&remote), common::without_revisions(&local));
    // Networks, pools and volumes too, bytes both ways.
    let objects = common::object_script(d.root());
    let (code, local, err) = run("test:///default", &objects.script);
    assert_eq!(code, 0, "{err}");
    objects.check_download();
    let (code, remote, err) = run(&uri("test", "default", &good), &objects.script);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    objects.check_download();
    assert_eq!(common::without_revisions(&remote), common::without_revisions(&local));
    let (code, out, err) = run(&uri("qemu", "system", &good), "uri; list --all");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("qemu+tls://127.0.0.1"), "{out}");
    let log = d.log();
    assert!(log.contains("dn='CN=client1,O=virtkit-test'") || log.contains("dn='O=virtkit-test,CN=client1'"), "{log}");

    // A real guest's whole life over TLS.
    common::guest_lifecycle(&uri("qemu", "system", &good), d.root(), &[]);

    // Refusals: none of them defines anything.
    let other = Ca::new("another CA");
    let refused = [
        ("no client certificate", ca.client_dir(pki.path(), "none", None)),
        ("another CA", {
            let d = other.client_dir(pki.path(), "other", Some(other.issue("client1", &[])));
            std::fs::write(d.join("cacert.pem"), &ca.pem).unwrap();
            d
        }),
        ("a name not allowed", ca.client_dir(pki.path(), "intruder", Some(ca.issue("intruder", &[])))),
    ];
    for (why, dir) in &refused {
        let (code, out, err) = run(&uri("test", "default", dir), &format!("define {}; list --all", xml.display()));
        assert_eq!(code, 1, "{why}: {out}");
        assert!(err.contains("virtkitd"), "{why}: {err}");
        assert_eq!(err.lines().count(), 1, "{why}: {err}");
        eprintln!("{why}: {err}");
    }
    let log = d.log();
    assert!(log.contains("refused: tls handshake"), "{log}");
    assert!(log.contains("refused: client name not on the allow-list"), "{log}");
    // Only the good client's define ran.
    assert_eq!(log.matches("call=\"define-domain\" uri=\"test:///default\"").count(), 1, "{log}");
    let (code, out, _) = run(&uri("test", "default", &good), "list --all");
    assert_eq!(code, 0);
    assert!(out.contains(" test ") && !out.contains(" t "), "{out}");

    // A server certificate from a CA the client does not trust: the client refuses.
    let (code, _, err) = run(
        &uri("test", "default", &other.client_dir(pki.path(), "distrust", Some(other.issue("client1", &[])))),
        "list",
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect to virtkitd at 127.0.0.1"), "{err}");
}

/// 1,030 TCP connections that never start a TLS handshake take only the
/// handshake places, and those only until the handshake deadline: root's
/// unix clients are served meanwhile, and TLS clients again after it.
#[test]
fn unfinished_tls_handshakes_lock_no_one_out() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use std::io::Read;
    use std::time::{Duration, Instant};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(hard >= 4096, "the test needs 4096 open files; the hard limit is {hard}");
    let pki = tempfile::Builder::new().prefix("vkpki").tempdir_in("/tmp").unwrap();
    let ca = Ca::new("virtkit test CA");
    let srv = server_dir(&ca, pki.path());
    let d = Daemon::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--pkipath",
        srv.to_str().unwrap(),
        "--tls-handshake-timeout",
        "2",
    ]);
    let port = tls_port(&d);
    let started = Instant::now();
    let mut flood: Vec<std::net::TcpStream> =
        (0..1030).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let opened = started.elapsed();
    let (code, out, err) = run(&d.uri("test"), "list --all");
    assert_eq!(code, 0, "root over unix during the flood: {err}\n{}", d.log());
    assert!(out.contains(" test "), "{out}");
    let served = started.elapsed();
    // Every one of them is closed: at once past the handshake places, the
    // others at the deadline.
    for c in &mut flood {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)), "a connection without a handshake was kept");
    }
    let all_closed = started.elapsed();
    assert!(all_closed < Duration::from_secs(15), "{all_closed:?}");
    let log = d.log();
    assert!(log.contains("refused: too many tls handshakes at once"), "{log}");
    assert!(log.contains("refused: tls handshake timed out"), "{log}");
    let good = ca.client_dir(pki.path(), "good", Some(ca.issue("client1", &[])));
    let uri = format!("test+tls://127.0.0.1:{port}/default?pkipath={}", good.display());
    let (code, _, err) = run(&uri, "list --all");
    assert_eq!(code, 0, "a TLS client after the flood: {err}");
    eprintln!("1030 connections opened in {opened:?}; root served at {served:?}; all closed at {all_closed:?}");
}
