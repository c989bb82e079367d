//! Any bytes: reading must never panic, and whatever reads must survive a
//! write and a re-read, both as XML and as JSON, unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use virtkit_model::Document;
use virtkit_model::domain::Domain;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = Document::from_xml(text) else {
        return;
    };

    let xml = doc.to_xml();
    let reread = match Document::from_xml(&xml) {
        Ok(d) => d,
        Err(e) => panic!("the written XML does not read back:\n{e}\n--- written ---\n{xml}"),
    };
    assert_eq!(reread, doc, "the XML round trip changed the document\n--- written ---\n{xml}");

    if let Document::Domain(domain) = &doc {
        let json = domain.to_json();
        let from_json = match Domain::from_json(&json) {
            Ok(d) => d,
            Err(e) => panic!("the written JSON does not read back:\n{e}\n--- written ---\n{json}"),
        };
        assert_eq!(&from_json, domain.as_ref(), "the JSON round trip changed the document\n--- written ---\n{json}");
    }
});
