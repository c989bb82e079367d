//! What `parse_domain` does not: the JSON encoding of networks, storage
//! pools, volumes and secrets read from any bytes must read back unchanged (their
//! XML round trip is `parse_domain`'s, which reads every kind).

#![no_main]

use libfuzzer_sys::fuzz_target;
use virtkit_model::Document;
use virtkit_model::network::Network;
use virtkit_model::secret::Secret;
use virtkit_model::storage::{Pool, Volume};

fuzz_target!(|data: &[u8]| {
    let Some(doc) = std::str::from_utf8(data).ok().and_then(|t| Document::from_xml(t).ok()) else {
        return;
    };
    let json = doc.to_json();
    let back = match &doc {
        Document::Network(_) => Network::from_json(&json).map(|n| Document::Network(Box::new(n))),
        Document::Pool(_) => Pool::from_json(&json).map(|p| Document::Pool(Box::new(p))),
        Document::Volume(_) => Volume::from_json(&json).map(|v| Document::Volume(Box::new(v))),
        Document::Secret(_) => Secret::from_json(&json).map(|s| Document::Secret(Box::new(s))),
        _ => return,
    };
    match back {
        Ok(d) => assert_eq!(d, doc, "the JSON round trip changed the document\n--- written ---\n{json}"),
        Err(e) => panic!("the written JSON does not read back:\n{e}\n--- written ---\n{json}"),
    }
});
