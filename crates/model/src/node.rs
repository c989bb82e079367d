//! The test driver's `<node>` document (libvirt's test-driver format, its
//! host, domains and networks parts): a simulated host, the domains it runs
//! and the virtual networks it has, each inline.
//!
//! ```
//! use virtkit_model::node::TestNode;
//!
//! let node = TestNode::from_xml("<node>
//!   <cpu><mhz>2000</mhz><model>test</model><active>4</active></cpu>
//!   <memory>4194304</memory>
//!   <domain type='test'><name>a</name><memory>1024</memory><os><type>hvm</type></os></domain>
//! </node>").unwrap();
//! assert_eq!(node.domains[0].name, "a");
//! assert_eq!(node.memory.unwrap().as_bytes(), 4 << 30);
//! ```

use serde::{Deserialize, Serialize};

use crate::domain::{Domain, read_size, sorted};
use crate::error::{ErrorKind, Errors};
use crate::network::Network;
use crate::values::ByteSize;
use crate::xml::reader::{self, El, located};

/// A simulated host with its domains and networks.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TestNode {
    pub cpu: Option<NodeCpu>,
    pub memory: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
    /// Networks, each defined and started with the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
}

/// The host's CPUs.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NodeCpu {
    pub mhz: Option<u32>,
    pub model: Option<String>,
    /// CPUs online.
    pub active: Option<u32>,
    pub nodes: Option<u32>,
    pub sockets: Option<u32>,
    pub cores: Option<u32>,
    pub threads: Option<u32>,
}

impl TestNode {
    pub fn from_xml(text: &str) -> std::result::Result<TestNode, Errors> {
        TestNode::from_parsed(&reader::parse_text(text)?)
    }

    /// Reads a parsed document whose root should be `<node>`.
    pub(crate) fn from_parsed(doc: &roxmltree::Document<'_>) -> std::result::Result<TestNode, Errors> {
        let root = doc.root_element();
        crate::document::expect_root(root, "node")?;
        let mut errors = Vec::new();
        let parsed = reader::read_all(root, |el| {
            let cpu = el.child("cpu", |c| {
                Ok(NodeCpu {
                    mhz: c.child_value("mhz")?,
                    model: c.child_text("model")?,
                    active: c.child_value("active")?,
                    nodes: c.child_value("nodes")?,
                    sockets: c.child_value("sockets")?,
                    cores: c.child_value("cores")?,
                    threads: c.child_value("threads")?,
                })
            })?;
            let memory = el.child("memory", |m| read_size(m, "KiB"))?;
            let domains = el.children("domain", |d| Ok(read_node_domain(doc, d, &mut errors)))?;
            let networks = el
                .children("network", |n| Ok(crate::document::read_nested::<Network>(doc, n.delegate(), &mut errors)))?;
            Ok(TestNode {
                cpu,
                memory,
                domains: domains.into_iter().flatten().collect(),
                networks: networks.into_iter().flatten().collect(),
            })
        });
        match parsed {
            Ok(n) if errors.is_empty() => Ok(n),
            Ok(_) => Err(sorted(errors)),
            Err(all) => {
                errors.extend(all);
                Err(sorted(errors))
            }
        }
    }
}

/// A `<domain>` inside `<node>`: read inline (a `file=` reference to
/// another document is refused: the model reads no files).
fn read_node_domain(doc: &roxmltree::Document<'_>, el: &El<'_, '_>, errors: &mut Vec<crate::Error>) -> Option<Domain> {
    let node = el.delegate();
    if node.attribute("file").is_some() && !node.children().any(|c| c.is_element()) {
        errors.push(located(
            node,
            Some("file"),
            ErrorKind::Invalid("domains in other files are not supported; put the <domain> inline".into()),
        ));
        return None;
    }
    Domain::read_at(doc, node, errors)
}

impl TestNode {
    /// The canonical XML form.
    pub fn to_xml(&self) -> String {
        let mut w = crate::xml::writer::XmlWriter::new();
        w.start("node");
        if let Some(c) = &self.cpu {
            w.start("cpu");
            w.opt_text_element("mhz", c.mhz.as_ref());
            w.opt_text_element("model", c.model.as_ref());
            w.opt_text_element("active", c.active.as_ref());
            w.opt_text_element("nodes", c.nodes.as_ref());
            w.opt_text_element("sockets", c.sockets.as_ref());
            w.opt_text_element("cores", c.cores.as_ref());
            w.opt_text_element("threads", c.threads.as_ref());
            w.end();
        }
        if let Some(m) = self.memory {
            w.start("memory");
            crate::domain::write_size(&mut w, m);
            w.end();
        }
        for d in &self.domains {
            d.write(&mut w);
        }
        for n in &self.networks {
            crate::document::Model::write(n, &mut w);
        }
        w.end();
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_read_and_written_inline() {
        let text = "<node><network><name>default</name><forward mode='nat'/>\
                    <ip address='192.168.122.1' netmask='255.255.255.0'/></network></node>";
        let node = TestNode::from_xml(text).unwrap();
        assert_eq!(node.networks.len(), 1);
        assert_eq!(node.networks[0].name, "default");
        let again = TestNode::from_xml(&node.to_xml()).unwrap();
        assert_eq!(again, node);
    }

    #[test]
    fn a_bad_network_is_placed_under_node() {
        let text = "<node>\n<network><name>n</name><bogus/></network>\n\
                    <network><name>m</name><ip address='10.0.0.1' prefix='99'/></network>\n</node>";
        let errs = TestNode::from_xml(text).unwrap_err();
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all[0].contains("/node/network[1]/bogus"), "{all:?}");
        assert!(all[1].contains("/node/network[2]"), "{all:?}");
        assert!(errs.iter().all(|e| e.pos.is_some()), "{all:?}");
    }
}
