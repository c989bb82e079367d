//! Secrets as objects: defined (never started), unique by UUID and usage,
//! listed and looked up; their values set and read apart, stored beside
//! the definition with mode 0600 (ephemeral ones in memory only), refused
//! to clients when private.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use uuid::Uuid;
use virtkit_engine::options::{ListOptions, WatchOptions, XmlOptions};
use virtkit_engine::types::{EventDetail, EventKind, ObjectKind, ResourceState, SecretInfo};
use virtkit_engine::{Def, Drivers, Engine, EngineConfig, ErrorKind, Info};

fn doc(uuid: Uuid, attrs: &str, usage: &str) -> Def {
    let xml = format!("<secret {attrs}><uuid>{uuid}</uuid>{usage}</secret>");
    Def::from_xml(ObjectKind::Secret, &xml).unwrap()
}

fn iscsi(target: &str) -> String {
    format!("<usage type='iscsi'><target>{target}</target></usage>")
}

fn secret(i: Info) -> SecretInfo {
    match i {
        Info::Secret(s) => s,
        other => panic!("not a secret: {other:?}"),
    }
}

async fn open(dir: &std::path::Path) -> Engine {
    let mut c = EngineConfig::default();
    c.state_dir = Some(dir.to_owned());
    Engine::open_host(Drivers::default(), c).await.unwrap()
}

#[tokio::test]
async fn a_secret_is_defined_listed_looked_up_and_undefined_with_events() {
    let e = Engine::with_drivers(Drivers::default(), Default::default());
    let mut w = e.watch(WatchOptions::default()).unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let i = secret(e.define_object(doc(a, "private='yes'", &iscsi("chap")), Default::default()).await.unwrap());
    assert_eq!(
        (i.usage_type.as_deref(), i.usage_id.as_deref(), i.private, i.ephemeral),
        (Some("iscsi"), Some("chap"), true, false)
    );
    e.define_object(
        doc(b, "ephemeral='yes'", "<usage type='ceph'><name>client.admin</name></usage>"),
        Default::default(),
    )
    .await
    .unwrap();
    let l = e.list_objects(ObjectKind::Secret, ListOptions::default()).await.unwrap();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(l.items.iter().map(Info::uuid).collect::<Vec<_>>(), want);
    assert_eq!(
        secret(e.lookup_object(ObjectKind::Secret, &b.to_string()).unwrap()).usage_id.as_deref(),
        Some("client.admin")
    );
    assert_eq!(e.lookup_secret_by_usage("iscsi", "chap").unwrap().uuid, a);
    assert_eq!(e.lookup_secret_by_usage("ceph", "chap").unwrap_err().kind(), ErrorKind::NotFound);
    let xml = e.object_xml(ObjectKind::Secret, a, XmlOptions::default()).unwrap();
    assert!(xml.contains(&format!("<uuid>{a}</uuid>")) && xml.contains("<target>chap</target>"), "{xml}");
    // It is defined; it cannot start, stop or autostart.
    assert_eq!(
        e.start_object(ObjectKind::Secret, a, Default::default()).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        e.set_object_autostart(ObjectKind::Secret, a, true, Default::default()).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    e.set_secret_value(a, b"pw".to_vec(), Default::default()).await.unwrap();
    e.undefine_object(ObjectKind::Secret, a, Default::default()).await.unwrap();
    assert_eq!(e.lookup_object(ObjectKind::Secret, &a.to_string()).unwrap_err().kind(), ErrorKind::NotFound);
    let mut seen = Vec::new();
    while let Some(ev) = w.try_next().unwrap() {
        assert_eq!((ev.object, ev.state.word()), (ObjectKind::Secret, ResourceState::Defined.as_str()));
        seen.push((ev.uuid, ev.kind, ev.detail));
    }
    assert_eq!(
        seen,
        [
            (a, EventKind::Defined, EventDetail::Added),
            (b, EventKind::Defined, EventDetail::Added),
            (a, EventKind::Changed, EventDetail::ValueChanged),
            (a, EventKind::Undefined, EventDetail::Removed),
        ]
    );
}

#[tokio::test]
async fn a_taken_uuid_or_usage_and_bad_input_are_refused_changing_nothing() {
    let e = Engine::with_drivers(Drivers::default(), Default::default());
    let a = Uuid::new_v4();
    e.define_object(doc(a, "private='yes'", &iscsi("chap")), Default::default()).await.unwrap();
    e.set_secret_value(a, b"old".to_vec(), Default::default()).await.unwrap();
    let rev = e.revision();
    let other = Uuid::new_v4();
    let err = e.define_object(doc(other, "", &iscsi("chap")), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.message(), format!("secret {a} already has usage iscsi 'chap'"));
    let err = e.define_object(doc(a, "private='yes'", &iscsi("other")), Default::default()).await.unwrap_err();
    assert_eq!(err.message(), format!("secret {a} is already defined with usage iscsi 'chap'"));
    let err = e.define_object(doc(a, "private='no'", &iscsi("chap")), Default::default()).await.unwrap_err();
    assert!(err.message().contains("is private"), "{err}");
    let err = e.define_object(doc(a, "private='yes' ephemeral='yes'", &iscsi("chap")), Default::default()).await;
    assert!(err.unwrap_err().message().contains("ephemeral"));
    let bad = Def::from_xml(ObjectKind::Secret, "<secret><uuid>x</uuid></secret>").unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidDocument);
    let err = e.set_secret_value(a, vec![0; 64 * 1024 + 1], Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.set_secret_value(Uuid::new_v4(), b"x".to_vec(), Default::default()).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(e.revision(), rev);
    // The same definition again replaces it and keeps its value.
    let i = secret(e.define_object(doc(a, "private='yes'", &iscsi("chap")), Default::default()).await.unwrap());
    assert!(i.has_value && i.generation == 2, "{i:?}");
    // 64 KiB is allowed.
    e.set_secret_value(a, vec![7; 64 * 1024], Default::default()).await.unwrap();
}

#[tokio::test]
async fn values_are_kept_beside_the_definition_with_mode_0600_and_ephemeral_ones_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (p, q, eph) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    {
        let e = open(dir.path()).await;
        e.define_object(doc(p, "private='yes'", &iscsi("chap")), Default::default()).await.unwrap();
        e.define_object(doc(q, "", "<usage type='tls'><name>t</name></usage>"), Default::default()).await.unwrap();
        e.define_object(doc(eph, "ephemeral='yes'", &iscsi("eph")), Default::default()).await.unwrap();
        for u in [p, q, eph] {
            e.set_secret_value(u, format!("value of {u}").into_bytes(), Default::default()).await.unwrap();
        }
        assert_eq!(e.get_secret_value(q, Default::default()).unwrap().as_bytes(), format!("value of {q}").into_bytes());
        assert_eq!(
            e.get_secret_value(eph, Default::default()).unwrap().as_bytes(),
            format!("value of {eph}").into_bytes()
        );
        let err = e.get_secret_value(p, Default::default()).unwrap_err();
        assert_eq!(
            (err.kind(), err.message().to_owned()),
            (ErrorKind::PermissionDenied, format!("secret {p} is private"))
        );
    }
    let file = dir.path().join(format!("secret/{p}.value"));
    assert_eq!(std::fs::read(&file).unwrap(), format!("value of {p}").into_bytes());
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!dir.path().join(format!("secret/{eph}.xml")).exists());
    assert!(!dir.path().join(format!("secret/{eph}.value")).exists());
    // Nothing holds a value in the definition.
    let def = std::fs::read_to_string(dir.path().join(format!("secret/{p}.xml"))).unwrap();
    assert!(!def.contains("value of"), "{def}");

    let e = open(dir.path()).await;
    assert_eq!(e.load_problems(), Vec::<String>::new());
    assert_eq!(e.get_secret_value(q, Default::default()).unwrap().as_bytes(), format!("value of {q}").into_bytes());
    assert!(secret(e.lookup_object(ObjectKind::Secret, &p.to_string()).unwrap()).has_value);
    assert_eq!(e.lookup_object(ObjectKind::Secret, &eph.to_string()).unwrap_err().kind(), ErrorKind::NotFound);
    e.undefine_object(ObjectKind::Secret, p, Default::default()).await.unwrap();
    assert!(!file.exists() && !dir.path().join(format!("secret/{p}.xml")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_secrets_defined_at_once_with_one_usage_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path()).await;
    let tries: Vec<_> = (0..16)
        .map(|_| {
            let e = e.clone();
            tokio::spawn(
                async move { e.define_object(doc(Uuid::new_v4(), "", &iscsi("one")), Default::default()).await },
            )
        })
        .collect();
    let mut kept = 0;
    for t in tries {
        match t.await.unwrap() {
            Ok(_) => kept += 1,
            Err(err) => assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}"),
        }
    }
    assert_eq!(kept, 1);
    assert_eq!(e.list_objects(ObjectKind::Secret, ListOptions::default()).await.unwrap().items.len(), 1);
    assert_eq!(std::fs::read_dir(dir.path().join("secret")).unwrap().count(), 1);
}
