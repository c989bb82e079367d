//! Property tests over the secret document: random valid secrets (every
//! usage type, names and paths of free text, descriptions, the ephemeral
//! and private flags) validate, come back unchanged from their XML and
//! JSON, and what virtkit writes passes libvirt 9.0's `secret.rng`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, one_line, schema_check, schema_config, text};
use proptest::prelude::*;
use virtkit_model::secret::{Secret, SecretUsage};

fn usage() -> BoxedStrategy<SecretUsage> {
    let name = || one_line(1..=24).prop_filter("no '/'", |s| !s.contains('/'));
    prop_oneof![
        one_line(1..=24).prop_map(|p| SecretUsage::Volume(format!("/{p}"))),
        name().prop_map(SecretUsage::Ceph),
        name().prop_map(SecretUsage::Iscsi),
        name().prop_map(SecretUsage::Tls),
        name().prop_map(SecretUsage::Vtpm),
    ]
    .boxed()
}

fn secret() -> BoxedStrategy<Secret> {
    (any::<bool>(), any::<bool>(), any::<u128>(), proptest::option::of(text(30)), proptest::option::of(usage()))
        .prop_map(|(ephemeral, private, uuid, description, usage)| {
            let mut s = Secret::new();
            (s.ephemeral, s.private, s.uuid, s.description, s.usage) =
                (ephemeral, private, uuid::Uuid::from_u128(uuid), description, usage);
            s
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_secrets_round_trip(s in secret()) {
        prop_assert!(s.validate().is_ok(), "{:?}", s.validate());
        let xml = s.to_xml();
        prop_assert_eq!(&Secret::from_xml(&xml).map_err(|e| format!("{e}\n{xml}")).unwrap(), &s);
        let json = s.to_json();
        prop_assert_eq!(&Secret::from_json(&json).map_err(|e| format!("{e}\n{json}")).unwrap(), &s);
    }
}

proptest! {
    #![proptest_config(schema_config())]

    #[test]
    fn written_secrets_pass_libvirts_schema(s in secret()) {
        let xml = s.to_xml();
        schema_check("secret", &xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
    }
}
