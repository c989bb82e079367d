//! `net-update NETWORK COMMAND SECTION XML`: one change to one part of a
//! network, as `virsh net-update` makes it. XML is the text of the one
//! element when it begins with `<`, else the name of a file holding it.

use std::path::PathBuf;

use virtkit::{Connection, NetworkUpdate, NetworkUpdateCommand, NetworkUpdateOptions, NetworkUpdateSection};

use crate::commands::Failure;

#[derive(Debug, clap::Args)]
pub struct Args {
    network: String,
    /// add (add-last), add-first, delete or modify.
    command: String,
    /// ip-dhcp-host, ip-dhcp-range, dns-host, dns-txt, dns-srv,
    /// forward-interface, portgroup, …
    section: String,
    /// The element (`<host …/>`), or a file holding it.
    xml: String,
    /// Which <ip> (counted from 0) a DHCP host or range is for.
    #[arg(long, value_name = "N")]
    parent_index: Option<usize>,
    /// Change the running network.
    #[arg(long, conflicts_with = "current")]
    live: bool,
    /// Change the stored definition.
    #[arg(long, conflicts_with = "current")]
    config: bool,
    /// The running network if it is active, else the stored definition (the default).
    #[arg(long)]
    current: bool,
}

pub async fn run(conn: &Connection, a: Args) -> Result<(), Failure> {
    let command: NetworkUpdateCommand = a.command.parse().map_err(|e| Failure::Message(format!("command: {e}")))?;
    let section: NetworkUpdateSection = a.section.parse().map_err(|e| Failure::Message(format!("section: {e}")))?;
    // virsh: the text of an element when it begins with '<', else a file's name.
    let (shown, xml) = if a.xml.starts_with('<') {
        ("xml".to_owned(), a.xml)
    } else {
        let shown = a.xml.clone();
        let xml =
            crate::validate::read(&PathBuf::from(&a.xml)).map_err(|e| Failure::Message(format!("{shown}: {e}")))?;
        (shown, xml)
    };
    let mut update = NetworkUpdate::new(command, section, xml);
    if let Some(i) = a.parent_index {
        update = update.with_parent_index(i);
    }
    let net = conn.lookup_network(&a.network).await?;
    let opts = NetworkUpdateOptions::default().live(a.live).config(a.config);
    let info = net.update(update, opts).await.map_err(|e| Failure::Api(e, Some(shown)))?;
    // As virsh words it.
    let what = match (a.live, a.config) {
        (true, true) => "persistent config and live state",
        (false, true) => "persistent config",
        (true, false) => "live state",
        (false, false) if info.state.is_active() => "live state",
        (false, false) => "persistent config",
    };
    println!("Updated network {} {what}", net.name());
    Ok(())
}
