//! Secrets in process (test:///default, qemu:///embed) and through
//! virtkitd: the client library and the secret-* commands answer the same
//! everywhere, the read-only socket refuses values, a private secret's
//! value is given to no client, and values outlive a daemon killed with -9
//! in files of mode 0600.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Daemon;
use virtkit::{Connection, ErrorKind, ListOptions, ObjectKind, OpenOptions};

const A: &str = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f";
const P: &str = "5f0e6d1a-2b3c-4d5e-8f90-a1b2c3d4e5f6";

fn secret_xml(uuid: &str, private: bool, target: &str) -> String {
    let private = if private { "yes" } else { "no" };
    format!(
        "<secret ephemeral='no' private='{private}'><uuid>{uuid}</uuid>\
         <description>CHAP for {target}</description><usage type='iscsi'><target>{target}</target></usage></secret>"
    )
}

/// What the client library answers, one line per call.
async fn transcript(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    let s = conn.define_secret_xml(&secret_xml(A, false, "libvirtiscsi"), Default::default()).await.unwrap();
    out.push(format!("{} {:?}", s.name(), s.info().await.unwrap()));
    let p = conn.define_secret_xml(&secret_xml(P, true, "private"), Default::default()).await.unwrap();
    out.push(format!("{:?}", s.set_value(b"chap password", Default::default()).await.unwrap()));
    out.push(format!("{:?}", p.set_value(&[0, 1, 2, 255], Default::default()).await.unwrap()));
    out.push(format!("{:?}", String::from_utf8(s.value(Default::default()).await.unwrap().to_vec())));
    let e = p.value(Default::default()).await.unwrap_err();
    out.push(format!("{:?} {e}", e.kind()));
    let found = conn.lookup_secret_by_usage("iscsi", "private").await.unwrap();
    out.push(found.uuid().to_string());
    let e = conn.lookup_secret_by_usage("ceph", "private").await.unwrap_err();
    out.push(format!("{:?} {e}", e.kind()));
    let e = conn.define_secret_xml(&secret_xml(P, false, "libvirtiscsi"), Default::default()).await.unwrap_err();
    out.push(format!("{:?} {e}", e.kind()));
    let e = s.set_value(&vec![0; 65 * 1024], Default::default()).await.unwrap_err();
    out.push(format!("{:?} {e}", e.kind()));
    out.push(format!("{:?}", conn.list_secrets(ListOptions::default()).await.unwrap().items));
    out.push(s.xml(Default::default()).await.unwrap());
    out.push(format!("{:?}", s.undefine(Default::default()).await.unwrap()));
    let e = s.value(Default::default()).await.unwrap_err();
    out.push(format!("{:?} {e}", e.kind()));
    out.push(format!("{:?}", conn.list_objects(ObjectKind::Secret, ListOptions::default()).await.unwrap().items));
    p.undefine(Default::default()).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_answers_the_same_in_process_and_through_the_daemon() {
    let d = Daemon::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let embed = format!("qemu:///embed?root={}", dir.path().display());
    let want = transcript(&Connection::open("test:///default").await.unwrap()).await;
    for uri in [embed, d.uri("test"), d.uri("qemu")] {
        let got = transcript(&Connection::open(&uri).await.unwrap()).await;
        assert_eq!(got, want, "{uri}\n{}", d.log());
    }
    for expect in [
        format!("PermissionDenied secret {P} is private"),
        format!("AlreadyExists secret {P} is already defined with usage iscsi 'private'"),
        "NotFound no secret with usage ceph 'private'".to_owned(),
        "InvalidArgument a secret's value is at most 65536 bytes, not 66560".to_owned(),
        format!("NotFound secret '{A}' not found"),
        "Ok(\"chap password\")".to_owned(),
    ] {
        assert!(want.iter().any(|l| l.starts_with(&expect)), "{expect}:\n{want:#?}");
    }
    assert!(!d.log().contains("chap password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_socket_refuses_setting_and_reading_values() {
    let d = Daemon::start(&[]);
    let rw = Connection::open(&d.uri("test")).await.unwrap();
    let s = rw.define_secret_xml(&secret_xml(A, false, "t"), Default::default()).await.unwrap();
    s.set_value(b"pw", Default::default()).await.unwrap();
    let uri = format!("test+unix:///default?socket={}", d.sock_ro().display());
    let ro = Connection::open_with(&uri, OpenOptions::default().read_only(true)).await.unwrap();
    let seen = ro.lookup_secret(A).await.unwrap();
    assert!(seen.info().await.unwrap().has_value);
    assert_eq!(seen.value(Default::default()).await.unwrap_err().kind(), ErrorKind::PermissionDenied);
    assert_eq!(seen.set_value(b"x", Default::default()).await.unwrap_err().kind(), ErrorKind::PermissionDenied);
    // The daemon refuses them too, not only the client library.
    let mut raw = common::grpc::client(&d.sock_ro()).await;
    let get = virtkit_proto::v1::GetSecretValueRequest { uuid: A.into() };
    let st = raw.get_secret_value(common::grpc::req(get, "test:///default")).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::PermissionDenied);
    let set = virtkit_proto::v1::SetSecretValueRequest { uuid: A.into(), value: b"x".to_vec() };
    let st = raw.set_secret_value(common::grpc::req(set, "test:///default")).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::PermissionDenied);
    assert_eq!(s.value(Default::default()).await.unwrap().as_bytes(), b"pw");
    // A usage type for another kind, and a garbled UUID, name the field.
    let mut raw = common::grpc::client(&d.sock()).await;
    let bad = virtkit_proto::v1::LookupObjectRequest {
        kind: virtkit_proto::objects::kind_to(ObjectKind::Pool),
        key: "t".into(),
        pool: None,
        usage_type: Some("iscsi".into()),
    };
    let st = raw.lookup_object(common::grpc::req(bad, "test:///default")).await.unwrap_err();
    assert_eq!((st.code(), st.message()), (tonic::Code::InvalidArgument, "usage_type: selects secrets only"));
    let get = virtkit_proto::v1::GetSecretValueRequest { uuid: "nope".into() };
    let st = raw.get_secret_value(common::grpc::req(get, "test:///default")).await.unwrap_err();
    assert_eq!((st.code(), st.message()), (tonic::Code::InvalidArgument, "uuid: 'nope' is not a UUID"));
}

/// The secret-* commands, with the files they read.
fn script(dir: &Path) -> String {
    let a = dir.join("a.xml");
    std::fs::write(&a, secret_xml(A, false, "libvirtiscsi")).unwrap();
    let p = dir.join("p.xml");
    std::fs::write(&p, secret_xml(P, true, "private")).unwrap();
    let b64 = dir.join("value.b64");
    std::fs::write(&b64, "c2Vjb25kIHZhbHVl\n").unwrap();
    let raw = dir.join("value.raw");
    std::fs::write(&raw, "third value").unwrap();
    format!(
        "secret-define {a}; secret-define {p}; secret-list; secret-list --json; secret-dumpxml {A}; \
         secret-set-value {A} --base64 Zmlyc3QgdmFsdWU=; secret-get-value {A}; secret-get-value {A} --plain; \
         secret-set-value {A} --file {b64}; secret-get-value {A}; secret-set-value {A} --file {raw} --plain; \
         secret-get-value {A}; secret-set-value {P} c2VjcmV0; secret-list --json; secret-undefine {A}; secret-list",
        a = a.display(),
        p = p.display(),
        b64 = b64.display(),
        raw = raw.display(),
    )
}

#[test]
fn every_secret_command_prints_the_same_in_process_and_through_the_daemon() {
    let d = Daemon::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let embed = format!("qemu:///embed?root={}", dir.path().join("embed").display());
    let script = script(dir.path());
    let (code, want, err) = common::run("test:///default", &script);
    assert_eq!(code, 0, "{err}\n{want}");
    let want = common::without_revisions(&want);
    for uri in [embed.clone(), d.uri("test"), d.uri("qemu")] {
        let (code, got, err) = common::run(&uri, &script);
        assert_eq!(code, 0, "{uri}: {err}\n{}", d.log());
        assert_eq!(common::without_revisions(&got), want, "{uri}");
    }
    for expect in [
        format!(" {A}   iscsi libvirtiscsi\n"),
        format!(" {P}   iscsi private\n"),
        "Zmlyc3QgdmFsdWU=\nfirst value".to_owned(),
        "c2Vjb25kIHZhbHVl\n".to_owned(),
        "dGhpcmQgdmFsdWU=\n".to_owned(),
        "\"secrets\": [".to_owned(),
        format!("Secret {A} created\nSecret {P} created\n"),
        format!("Secret {A} deleted"),
    ] {
        assert!(want.contains(&expect), "{expect}:\n{want}");
    }
    // A private secret's value, and errors: the same line and exit code everywhere.
    let clash = dir.path().join("clash.xml");
    std::fs::write(&clash, secret_xml("9d0c4c1b-7f3f-4a01-8b0e-1a523c3e4b0b", false, "private")).unwrap();
    for bad in [
        format!("secret-get-value {P}"),
        "secret-get-value 00000000-0000-0000-0000-000000000001".to_owned(),
        format!("secret-set-value {P} --base64 '%%%'"),
        format!("secret-define {}", clash.display()),
    ] {
        let (lc, _, le) =
            common::run("test:///default", &format!("secret-define {}; {bad}", dir.path().join("p.xml").display()));
        assert_ne!(lc, 0, "{bad}");
        for uri in [embed.clone(), d.uri("test")] {
            let (rc, _, re) = common::run(&uri, &bad);
            assert_eq!((rc, &re), (lc, &le), "{uri}: {bad}");
        }
    }
    let (_, _, err) = common::run(&d.uri("test"), &format!("secret-get-value {P}"));
    assert!(err.contains(&format!("secret {P} is private")), "{err}");
}

/// The value files under a daemon's root.
fn value_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "value") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn values_survive_kill_9_of_the_daemon_in_files_of_mode_0600() {
    let mut d = Daemon::start(&[]);
    let uri = d.uri("qemu");
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path());
    // Up to the last value set, leaving both secrets defined.
    let until = script.find("secret-list --json; secret-undefine").unwrap();
    let (code, _, err) = common::run(&uri, &script[..until]);
    assert_eq!(code, 0, "{err}");
    d.kill9();
    d.spawn();
    let (code, out, err) = common::run(&uri, &format!("secret-get-value {A} --plain; secret-list"));
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert!(out.starts_with("third value"), "{out}");
    assert!(out.contains(P), "{out}");
    let files = value_files(d.root());
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
    assert!(files.iter().any(|f| std::fs::read(f).unwrap() == b"secret"), "{files:?}");
    let (code, _, err) = common::run(&uri, &format!("secret-undefine {A}; secret-undefine {P}"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(value_files(d.root()), Vec::<PathBuf>::new());
}

/// Four secrets, one of each kind: (UUID, ephemeral, private).
const KINDS: [(&str, bool, bool); 4] = [
    ("11111111-0000-4000-8000-000000000001", false, false),
    ("11111111-0000-4000-8000-000000000002", true, false),
    ("11111111-0000-4000-8000-000000000003", false, true),
    ("11111111-0000-4000-8000-000000000004", true, true),
];

fn kind_xml(uuid: &str, ephemeral: bool, private: bool) -> String {
    let yn = |b: bool| if b { "yes" } else { "no" };
    format!("<secret ephemeral='{}' private='{}'><uuid>{uuid}</uuid></secret>", yn(ephemeral), yn(private))
}

/// The UUIDs of KINDS that `keep` selects.
fn kinds_where(keep: impl Fn(bool, bool) -> bool) -> Vec<String> {
    KINDS.iter().filter(|(_, e, p)| keep(*e, *p)).map(|(u, _, _)| (*u).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_lists_secrets_by_ephemeral_and_private() {
    let d = Daemon::start(&[]);
    for uri in ["test:///default".to_owned(), d.uri("test")] {
        let conn = Connection::open(&uri).await.unwrap();
        for (u, e, p) in KINDS {
            conn.define_secret_xml(&kind_xml(u, e, p), Default::default()).await.unwrap();
        }
        let listed = |opts: ListOptions| {
            let conn = &conn;
            async move {
                let l = conn.list_secrets(opts).await.unwrap();
                l.items.iter().map(|s| s.uuid.to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(ListOptions::default()).await, kinds_where(|_, _| true), "{uri}");
        assert_eq!(listed(ListOptions::default().ephemeral(true)).await, kinds_where(|e, _| e), "{uri}");
        assert_eq!(listed(ListOptions::default().ephemeral(false)).await, kinds_where(|e, _| !e), "{uri}");
        assert_eq!(listed(ListOptions::default().private(true)).await, kinds_where(|_, p| p), "{uri}");
        let both = ListOptions::default().ephemeral(false).private(true);
        assert_eq!(listed(both).await, kinds_where(|e, p| !e && p), "{uri}");
        let e = conn.list_objects(ObjectKind::Pool, ListOptions::default().private(true)).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (ErrorKind::InvalidArgument, "ephemeral and private select secrets only".into())
        );
        for (u, _, _) in KINDS {
            conn.lookup_secret(u).await.unwrap().undefine(Default::default()).await.unwrap();
        }
    }
}

#[test]
fn secret_list_takes_virshs_filters() {
    let d = Daemon::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut define = String::new();
    for (u, e, p) in KINDS {
        let f = dir.path().join(format!("{u}.xml"));
        std::fs::write(&f, kind_xml(u, e, p)).unwrap();
        define += &format!("secret-define {}; ", f.display());
    }
    let cases: [(&str, Vec<String>); 6] = [
        ("", kinds_where(|_, _| true)),
        ("--ephemeral", kinds_where(|e, _| e)),
        ("--no-ephemeral", kinds_where(|e, _| !e)),
        ("--private --no-ephemeral", kinds_where(|e, p| p && !e)),
        ("--no-private --ephemeral", kinds_where(|e, p| !p && e)),
        // A flag and its negation: either (as libvirt).
        ("--private --no-private --ephemeral", kinds_where(|e, _| e)),
    ];
    let uri = d.uri("test");
    let (code, _, err) = common::run(&uri, &define);
    assert_eq!(code, 0, "{err}");
    let mut all = String::new();
    for (flags, want) in &cases {
        let (code, out, err) = common::run(&uri, &format!("secret-list {flags}"));
        assert_eq!(code, 0, "{flags}: {err}");
        let shown: Vec<String> = kinds_where(|_, _| true).into_iter().filter(|u| out.contains(u.as_str())).collect();
        assert_eq!(&shown, want, "secret-list {flags}:\n{out}");
        all += &format!("secret-list {flags}; ");
    }
    // In process, in one run (ephemeral secrets live as long as it): the same.
    let (code, local, err) = common::run("test:///default", &format!("{define}{all}"));
    assert_eq!(code, 0, "{err}");
    let (code, remote, err) = common::run(&uri, &all);
    assert_eq!(code, 0, "{err}");
    assert!(local.ends_with(&remote), "{local}\n---\n{remote}");
}
