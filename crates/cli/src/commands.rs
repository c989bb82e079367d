//! The commands, and a session that runs them on one connection.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use virtkit::{
    AutostartOptions, Connection, CreateOptions, DefineOptions, Domain, DomainState, InfoOptions, ListOptions,
    OpenOptions, RebootOptions, ShutdownMode, ShutdownOptions, StartOptions, WatchOptions, XmlOptions,
};

use crate::output;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List domains: running ones, or every one with --all.
    List {
        /// Every domain, shut off ones too.
        #[arg(long)]
        all: bool,
        /// Only domains in this state (repeatable): running, paused,
        /// shutting-down, shutoff, crashed, pmsuspended.
        #[arg(long, value_name = "STATE", value_parser = parse_state)]
        state: Vec<DomainState>,
        /// Only persistent domains.
        #[arg(long, conflicts_with = "transient")]
        persistent: bool,
        /// Only transient domains.
        #[arg(long)]
        transient: bool,
        /// JSON output (see docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Store a domain definition from an XML file (create or update).
    Define {
        file: PathBuf,
        /// Refuse unless the stored definition is at this generation (0: must be new).
        #[arg(long, value_name = "N")]
        expected_generation: Option<u64>,
    },
    /// Remove a domain's stored definition (a running domain keeps running).
    Undefine { domain: String },
    /// Start a transient domain from an XML file.
    Create {
        file: PathBuf,
        /// Leave it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Boot a defined domain.
    Start {
        domain: String,
        /// Leave it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Ask the guest to power off.
    Shutdown {
        domain: String,
        /// How to ask: acpi, agent, or any.
        #[arg(long, default_value = "any", value_parser = parse_mode)]
        mode: ShutdownMode,
        /// Wait up to this many seconds for it to power off.
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        timeout: Option<Duration>,
    },
    /// Stop a domain at once, without the guest's cooperation.
    #[command(name = "power-off", visible_alias = "destroy")]
    PowerOff { domain: String },
    /// Ask the guest to reboot.
    Reboot {
        domain: String,
        #[arg(long, default_value = "any", value_parser = parse_mode)]
        mode: ShutdownMode,
    },
    /// Reset the guest at once (the reset button).
    Reset { domain: String },
    /// Pause a domain's vCPUs.
    Suspend { domain: String },
    /// Continue a paused domain.
    Resume { domain: String },
    /// Print a domain's definition as XML.
    Dumpxml {
        domain: String,
        /// The stored definition rather than the running one.
        #[arg(long)]
        inactive: bool,
        /// With secret values (graphics passwords …); refused on a
        /// read-only connection.
        #[arg(long)]
        security_info: bool,
        /// The JSON encoding instead of XML.
        #[arg(long)]
        json: bool,
    },
    /// Print the configuration a definition would start with, in the
    /// driver's own form (`qemu-argv`: QEMU's command line), without
    /// starting it.
    #[command(name = "domxml-to-native")]
    DomxmlToNative {
        /// The form: qemu-argv.
        format: String,
        /// A domain document (`-` for standard input).
        file: std::path::PathBuf,
    },
    /// Print facts about a domain.
    Dominfo {
        domain: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a domain's state.
    Domstate {
        domain: String,
        /// With the reason.
        #[arg(long)]
        reason: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the addresses of a running domain's interfaces.
    Domifaddr {
        domain: String,
        /// Where from: lease (the DHCP leases of its networks), agent, arp.
        #[arg(long, default_value = "lease")]
        source: virtkit::AddressSource,
        #[arg(long)]
        json: bool,
    },
    /// Print statistics of domains (every domain when none is named).
    Domstats {
        domains: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set whether a domain starts with its host.
    Autostart {
        domain: String,
        /// Turn autostart off.
        #[arg(long)]
        disable: bool,
    },
    /// Print events as they happen.
    Events {
        /// Start after this revision (default: from now).
        #[arg(long, value_name = "REVISION")]
        from: Option<u64>,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        timeout: Option<Duration>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Attach to a domain's serial console (Ctrl-] detaches).
    Console {
        domain: String,
        /// Which one: serialN or consoleN (default: the first).
        #[arg(long)]
        device: Option<String>,
    },
    /// Relay standard input and output to this machine's daemon socket
    /// (what qemu+ssh:// URIs run on the far side).
    Proxy {
        /// The socket (default: the daemon's for --path).
        #[arg(long, value_name = "PATH")]
        socket: Option<std::path::PathBuf>,
        /// The URI path whose daemon to reach: /system or /session.
        #[arg(long, value_name = "PATH", default_value = "/system")]
        path: String,
        /// Use the read-only socket.
        #[arg(long)]
        read_only: bool,
    },
    /// Print the connection URI.
    Uri,
    /// Print versions.
    Version,
    /// Virtual networks: virsh's net-* commands (`net-list` is `net list`).
    #[command(subcommand)]
    Net(crate::objects::NetCommand),
    /// Storage pools: virsh's pool-* commands.
    #[command(subcommand)]
    Pool(crate::objects::PoolCommand),
    /// Storage volumes: virsh's vol-* commands.
    #[command(subcommand)]
    Vol(crate::objects::VolCommand),
    /// Secrets (passwords, keys): virsh's secret-* commands.
    #[command(subcommand)]
    Secret(crate::secret::SecretCommand),
    /// Check documents against virtkit's model (and libvirt's schema).
    Validate(crate::validate::Args),
    /// Read commands from standard input (a prompt with history on a terminal).
    Shell,
    /// Leave the shell.
    #[command(visible_alias = "exit", hide = true)]
    Quit,
}

/// One command line (as words) parsed the way the command line is.
pub fn parse_words(words: &[String]) -> Result<Command, clap::Error> {
    #[derive(Debug, Parser)]
    #[command(name = "virtkit", no_binary_name = true, disable_version_flag = true)]
    struct One {
        #[command(subcommand)]
        command: Command,
    }
    One::try_parse_from(crate::objects::split_prefixed(words)).map(|o| o.command)
}

fn parse_state(s: &str) -> Result<DomainState, String> {
    s.parse()
}

fn parse_mode(s: &str) -> Result<ShutdownMode, String> {
    s.parse()
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

/// Why a command failed, printed as one or more `error:` lines.
pub enum Failure {
    Api(virtkit::Error, Option<String>),
    Message(String),
    /// Already reported (one line per problem).
    Reported,
}

impl From<virtkit::Error> for Failure {
    fn from(e: virtkit::Error) -> Self {
        Failure::Api(e, None)
    }
}

impl Failure {
    fn print(&self) {
        match self {
            Failure::Api(e, file) if e.document_errors().is_some() => {
                let errs = e.document_errors().into_iter().flatten();
                let file = file.as_deref().unwrap_or("document");
                for d in errs {
                    let pos = d.pos.map(|p| format!("{}:{}:", p.line, p.column)).unwrap_or_default();
                    let path = if d.path.is_empty() { String::new() } else { format!(" {}:", d.path) };
                    eprintln!("error: {file}:{pos}{path} {}", d.kind);
                }
            }
            Failure::Api(e, _) => eprintln!("error: {e}"),
            Failure::Message(m) => eprintln!("error: {m}"),
            Failure::Reported => {}
        }
    }
}

/// Commands run one after another on one (lazily opened) connection.
pub struct Session {
    uri: Option<String>,
    readonly: bool,
    conn: Option<Connection>,
    in_shell: bool,
}

impl Session {
    pub fn new(uri: Option<String>, readonly: bool) -> Self {
        Session { uri, readonly, conn: None, in_shell: false }
    }

    fn uri(&self) -> String {
        self.uri
            .clone()
            .or_else(|| std::env::var("VIRTKIT_DEFAULT_URI").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "qemu:///system".into())
    }

    async fn conn(&mut self) -> Result<Connection, Failure> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let uri = self.uri();
        let c = Connection::open_with(&uri, OpenOptions::default().read_only(self.readonly)).await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    async fn domain(&mut self, key: &str) -> Result<Domain, Failure> {
        Ok(self.conn().await?.lookup_domain(key).await?)
    }

    /// Runs one command, printing its output or its error.
    pub async fn run(&mut self, cmd: Command) -> Result<(), ExitCode> {
        match cmd {
            Command::Shell => Box::pin(crate::shell::run(self)).await,
            Command::Quit if self.in_shell => Ok(()),
            cmd => self.exec(cmd).await.map_err(|f| {
                f.print();
                ExitCode::FAILURE
            }),
        }
    }

    pub fn enter_shell(&mut self) {
        self.in_shell = true;
    }

    async fn exec(&mut self, cmd: Command) -> Result<(), Failure> {
        match cmd {
            Command::List { all, state, persistent, transient, json } => {
                let mut opts = ListOptions::default().states(state.clone());
                if !all && state.is_empty() {
                    opts = opts.active(true);
                }
                if persistent {
                    opts = opts.persistent(true);
                } else if transient {
                    opts = opts.persistent(false);
                }
                let list = self.conn().await?.list_domains(opts).await?;
                if json { output::list_json("domains", &list) } else { output::list(&list) }
            }
            Command::Define { file, expected_generation } => {
                let shown = file.display().to_string();
                let xml = crate::validate::read(&file).map_err(|e| Failure::Message(format!("{shown}: {e}")))?;
                let mut opts = DefineOptions::default();
                if let Some(g) = expected_generation {
                    opts = opts.expected_generation(g);
                }
                let dom = self
                    .conn()
                    .await?
                    .define_xml(&xml, opts)
                    .await
                    .map_err(|e| Failure::Api(e, Some(shown.clone())))?;
                println!("Domain '{}' defined from {shown}", dom.name());
                Ok(())
            }
            Command::Undefine { domain } => {
                let d = self.domain(&domain).await?;
                d.undefine(Default::default()).await?;
                println!("Domain '{}' has been undefined", d.name());
                Ok(())
            }
            Command::Create { file, paused } => {
                let shown = file.display().to_string();
                let xml = crate::validate::read(&file).map_err(|e| Failure::Message(format!("{shown}: {e}")))?;
                let dom = self
                    .conn()
                    .await?
                    .create_xml(&xml, CreateOptions::default().paused(paused))
                    .await
                    .map_err(|e| Failure::Api(e, Some(shown.clone())))?;
                println!("Domain '{}' created from {shown}", dom.name());
                Ok(())
            }
            Command::Start { domain, paused } => {
                let d = self.domain(&domain).await?;
                d.start(StartOptions::default().paused(paused)).await?;
                println!("Domain '{}' started", d.name());
                Ok(())
            }
            Command::Shutdown { domain, mode, timeout } => {
                let d = self.domain(&domain).await?;
                let mut opts = ShutdownOptions::default().mode(mode);
                if let Some(t) = timeout {
                    opts = opts.timeout(t);
                }
                d.shutdown(opts).await?;
                if timeout.is_some() {
                    println!("Domain '{}' is shut off", d.name());
                } else {
                    println!("Domain '{}' is being shutdown", d.name());
                }
                Ok(())
            }
            Command::PowerOff { domain } => {
                let d = self.domain(&domain).await?;
                d.power_off(Default::default()).await?;
                println!("Domain '{}' powered off", d.name());
                Ok(())
            }
            Command::Reboot { domain, mode } => {
                let d = self.domain(&domain).await?;
                d.reboot(RebootOptions::default().mode(mode)).await?;
                println!("Domain '{}' is being rebooted", d.name());
                Ok(())
            }
            Command::Reset { domain } => {
                let d = self.domain(&domain).await?;
                d.reset(Default::default()).await?;
                println!("Domain '{}' was reset", d.name());
                Ok(())
            }
            Command::Suspend { domain } => {
                let d = self.domain(&domain).await?;
                d.suspend(Default::default()).await?;
                println!("Domain '{}' suspended", d.name());
                Ok(())
            }
            Command::Resume { domain } => {
                let d = self.domain(&domain).await?;
                d.resume(Default::default()).await?;
                println!("Domain '{}' resumed", d.name());
                Ok(())
            }
            Command::Dumpxml { domain, inactive, security_info, json } => {
                let d = self.domain(&domain).await?;
                let opts = XmlOptions::default().inactive(inactive).secure(security_info);
                if json {
                    println!("{}", d.definition(opts).await?.to_json());
                } else {
                    print!("{}", d.xml(opts).await?);
                }
                Ok(())
            }
            Command::DomxmlToNative { format, file } => {
                let shown = file.display().to_string();
                let xml = crate::validate::read(&file).map_err(|e| Failure::Message(format!("{shown}: {e}")))?;
                let conn = self.conn().await?;
                let native = conn
                    .domain_xml_to_native(&format, &xml, Default::default())
                    .await
                    .map_err(|e| Failure::Api(e, Some(shown.clone())))?;
                print!("{native}");
                Ok(())
            }
            Command::Dominfo { domain, json } => {
                let d = self.domain(&domain).await?;
                let info = d.info(InfoOptions::default().stats(true)).await?;
                let def = d.definition(XmlOptions::default()).await?;
                if json { output::json(&output::DomInfo::new(&info, &def)) } else { output::dominfo(&info, &def) }
            }
            Command::Domstate { domain, reason, json } => {
                let d = self.domain(&domain).await?;
                let s = d.state().await?;
                if json {
                    output::json(&serde_json::json!({ "state": s.state, "reason": s.reason }))
                } else {
                    if reason {
                        println!("{} ({})", s.state.display_name(), s.reason);
                    } else {
                        println!("{}", s.state.display_name());
                    }
                    Ok(())
                }
            }
            Command::Domifaddr { domain, source, json } => {
                let d = self.domain(&domain).await?;
                let addrs = d.interface_addresses(virtkit::InterfaceAddressOptions::default().source(source)).await?;
                if json {
                    return output::json(&serde_json::json!({ "interfaces": addrs }));
                }
                let rows: Vec<Vec<String>> = addrs
                    .iter()
                    .map(|l| {
                        vec![
                            if l.iface.is_empty() { "-".into() } else { l.iface.clone() },
                            l.mac.to_string(),
                            if l.ip.is_ipv4() { "ipv4" } else { "ipv6" }.into(),
                            format!("{}/{}", l.ip, l.prefix),
                        ]
                    })
                    .collect();
                output::table(&["Name", "MAC address", "Protocol", "Address"], &rows);
                Ok(())
            }
            Command::Domstats { domains, json } => {
                let conn = self.conn().await?;
                let list = conn.list_domains(ListOptions::default().stats(true)).await?;
                let selected: Vec<_> = if domains.is_empty() {
                    list.items
                } else {
                    let mut v = Vec::new();
                    for key in &domains {
                        let d = conn.lookup_domain(key).await?;
                        match list.items.iter().find(|i| i.uuid == d.uuid()) {
                            Some(i) => v.push(i.clone()),
                            None => v.push(d.info(InfoOptions::default().stats(true)).await?),
                        }
                    }
                    v
                };
                if json { output::json(&output::domstats_json(&selected)) } else { output::domstats(&selected) }
            }
            Command::Autostart { domain, disable } => {
                let d = self.domain(&domain).await?;
                d.set_autostart(!disable, AutostartOptions::default()).await?;
                if disable {
                    println!("Domain '{}' unmarked as autostarted", d.name());
                } else {
                    println!("Domain '{}' marked as autostarted", d.name());
                }
                Ok(())
            }
            Command::Events { from, count, timeout, json } => {
                let conn = self.conn().await?;
                let mut opts = WatchOptions::default();
                if let Some(r) = from {
                    opts = opts.from_revision(r);
                }
                let mut stream = conn.watch(opts).await?;
                let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
                let mut seen = 0u64;
                while count.is_none_or(|c| seen < c) {
                    let ev = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, stream.next()).await {
                            Ok(r) => r?,
                            Err(_) => break,
                        },
                        None => stream.next().await?,
                    };
                    seen += 1;
                    if json {
                        output::json_line(&ev)?;
                    } else {
                        output::event(&ev);
                    }
                }
                Ok(())
            }
            Command::Console { domain, device } => {
                let d = self.domain(&domain).await?;
                let mut opts = virtkit::ConsoleOptions::default();
                if let Some(dev) = device {
                    opts = opts.device(dev);
                }
                let console = d.open_console(opts).await?;
                // Let go of the connection while attached: with an embedded
                // engine, others may use the state directory meanwhile.
                let name = d.name().to_owned();
                drop(d);
                self.conn = None;
                crate::console::attach(&name, console).await
            }
            Command::Proxy { socket, path, read_only } => {
                let socket = match socket {
                    Some(s) => s,
                    None => virtkit::daemon_socket(&path, read_only).await?,
                };
                crate::proxy::relay(&socket).await
            }
            Command::Uri => {
                let c = self.conn().await?;
                println!("{}", c.uri());
                Ok(())
            }
            Command::Version => {
                println!("virtkit {}", virtkit::version());
                if let Ok(c) = self.conn().await {
                    let v = c.version().await?;
                    println!("driver {} {v}", c.uri().driver);
                }
                Ok(())
            }
            Command::Net(c) => crate::objects::net(&self.conn().await?, c).await,
            Command::Pool(c) => crate::objects::pool(&self.conn().await?, c).await,
            Command::Vol(c) => crate::objects::vol(&self.conn().await?, c).await,
            Command::Secret(c) => crate::secret::secret(&self.conn().await?, c).await,
            Command::Validate(args) => {
                if crate::validate::run(&args) == ExitCode::SUCCESS {
                    Ok(())
                } else {
                    // The problems were printed, one per line.
                    Err(Failure::Reported)
                }
            }
            Command::Shell | Command::Quit => Err(Failure::Message("'quit' only means something in the shell".into())),
        }
    }
}
