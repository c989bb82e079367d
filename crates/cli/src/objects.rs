//! The commands of networks, storage pools and volumes, as virsh spells
//! them (`net-start`, `pool-list`, `vol-create-as` …). What networks and
//! pools share is one set of verbs ([`Common`]), run once for either kind;
//! `net-X` is `net X` (and so for `pool-` and `vol-`), so one table serves
//! every kind.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;

use clap::Subcommand;
use virtkit::model::storage::{Volume, VolumeFormat};
use virtkit::{
    BuildOptions, Connection, CreateOptions, DefineOptions, Info, ListOptions, ObjectKind, ResizeOptions, StartOptions,
    StoragePool, StorageVolume, TransferOptions, VolumeCreateOptions, WipeAlgorithm, WipeOptions, XmlOptions,
};

use crate::commands::Failure;
use crate::output;
use crate::progress::{self, Watch};

/// The kinds whose commands have a virsh prefix.
const PREFIXES: &[&str] = &["net", "pool", "vol", "secret"];

/// `net-start x` → `net start x`: the first word only.
pub fn split_prefixed(words: &[String]) -> Vec<String> {
    let mut out = words.to_vec();
    if let Some(first) = words.first()
        && let Some((p, verb)) = first.split_once('-')
        && PREFIXES.contains(&p)
        && !verb.is_empty()
    {
        out.splice(0..1, [p.to_owned(), verb.to_owned()]);
    }
    out
}

/// The same for the process's arguments: the first one after the global
/// options.
pub fn split_prefixed_args(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        match a.as_ref() {
            "-c" | "--connect" => i += 2,
            "-r" | "--readonly" => i += 1,
            s if s.starts_with('-') => i += 1,
            s => {
                if let Some((p, verb)) = s.split_once('-')
                    && PREFIXES.contains(&p)
                    && !verb.is_empty()
                {
                    let (p, verb) = (p.to_owned(), verb.to_owned());
                    let mut out = args;
                    out.splice(i..=i, [OsString::from(p), OsString::from(verb)]);
                    return out;
                }
                return args;
            }
        }
    }
    args
}

/// What networks and pools both have.
#[derive(Debug, Subcommand)]
pub enum Common {
    /// Store a definition from an XML file (create or update).
    Define {
        file: PathBuf,
        #[arg(long, value_name = "N")]
        expected_generation: Option<u64>,
    },
    /// Stop it at once.
    #[command(visible_alias = "stop")]
    Destroy { name: String },
    /// Remove its stored definition.
    Undefine { name: String },
    /// Set whether it starts with its host.
    Autostart {
        name: String,
        #[arg(long)]
        disable: bool,
    },
    /// List active ones, or every one with --all.
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, conflicts_with = "all")]
        inactive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print facts about one.
    Info {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Print its definition as XML.
    Dumpxml {
        name: String,
        #[arg(long)]
        inactive: bool,
    },
    /// Print its UUID.
    Uuid { name: String },
    /// Print its name.
    Name { uuid: String },
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    #[command(flatten)]
    Common(Common),
    /// Start a defined network.
    Start { name: String },
    /// Start a transient network from an XML file.
    Create { file: PathBuf },
    /// Change one part of a network: a DHCP host, a DNS entry … (as virsh net-update).
    Update(crate::net_update::Args),
    /// Print the DHCP leases an active network handed out.
    #[command(name = "dhcp-leases")]
    DhcpLeases {
        name: String,
        #[arg(long)]
        mac: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    #[command(flatten)]
    Common(Common),
    /// Start a defined pool (built first with --build).
    Start {
        name: String,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Start a transient pool from an XML file.
    Create {
        file: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Define a pool from its name, type, source and target (as virsh pool-define-as).
    #[command(name = "define-as")]
    DefineAs(Box<crate::create_as::PoolAs>),
    /// Start a transient pool from its name, type, source and target.
    #[command(name = "create-as")]
    CreateAs {
        #[command(flatten)]
        args: Box<crate::create_as::PoolAs>,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Make its underlying storage.
    Build {
        name: String,
        #[arg(long)]
        overwrite: bool,
        #[arg(long, conflicts_with = "overwrite")]
        no_overwrite: bool,
    },
    /// Remove its underlying storage (the definition stays).
    Delete { name: String },
    /// Look at its space and volumes again.
    Refresh { name: String },
    /// The pool types this host can run.
    Capabilities {
        #[arg(long)]
        json: bool,
    },
}

/// virsh's `--build [--overwrite | --no-overwrite]` (pool-create,
/// pool-create-as, pool-start): the pool is built before it starts.
#[derive(Debug, clap::Args)]
pub struct BuildFlags {
    /// Build the pool before starting it.
    #[arg(long)]
    build: bool,
    /// With --build: write over whatever is there.
    #[arg(long, requires = "build")]
    overwrite: bool,
    /// With --build: refuse if something is there.
    #[arg(long, requires = "build", conflicts_with = "overwrite")]
    no_overwrite: bool,
}

impl BuildFlags {
    fn build(&self) -> Option<BuildOptions> {
        self.build.then(|| BuildOptions::default().overwrite(self.overwrite).no_overwrite(self.no_overwrite))
    }

    pub(crate) fn options(&self) -> CreateOptions {
        match self.build() {
            Some(b) => CreateOptions::default().build(b),
            None => CreateOptions::default(),
        }
    }

    fn start_options(&self) -> StartOptions {
        match self.build() {
            Some(b) => StartOptions::default().build(b),
            None => StartOptions::default(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum VolCommand {
    /// Make a volume in a pool from an XML file.
    Create {
        pool: String,
        file: PathBuf,
        /// Preallocate a qcow2 image's metadata.
        #[arg(long)]
        prealloc_metadata: bool,
    },
    /// Make a volume from a name and capacity.
    #[command(name = "create-as")]
    CreateAs(crate::create_as::VolAs),
    /// Make a volume from an XML file with another volume's content.
    #[command(name = "create-from")]
    CreateFrom {
        pool: String,
        file: PathBuf,
        volume: String,
        #[arg(long)]
        inputpool: Option<String>,
        #[arg(long)]
        prealloc_metadata: bool,
    },
    /// Copy a volume, in its pool.
    Clone {
        volume: String,
        name: String,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long)]
        prealloc_metadata: bool,
    },
    Delete {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
    },
    /// Write over its data: zeros, or random bytes.
    Wipe {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
        /// zero or random (virsh's other algorithms are not done yet).
        #[arg(long, value_name = "ALGORITHM", default_value = "zero")]
        algorithm: String,
    },
    /// Change its capacity.
    Resize {
        volume: String,
        #[arg(value_parser = parse_size)]
        capacity: u64,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long)]
        delta: bool,
        #[arg(long)]
        shrink: bool,
        #[arg(long)]
        allocate: bool,
    },
    /// Write a file's bytes into it.
    Upload {
        volume: String,
        file: PathBuf,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 0)]
        length: u64,
    },
    /// Write its bytes into a file.
    Download {
        volume: String,
        file: PathBuf,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 0)]
        length: u64,
    },
    /// List a pool's volumes.
    List {
        pool: String,
        #[arg(long)]
        json: bool,
    },
    Info {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Dumpxml {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
    },
    /// Print its key.
    Key {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
    },
    /// Print its path.
    Path {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
    },
    /// Print its pool's name.
    Pool {
        volume: String,
        #[arg(long)]
        pool: Option<String>,
    },
}

/// `10G`, `512M`, `1024`: bytes (K, M, G, T are powers of 1024).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size"))?;
    let shift = match unit.trim_end_matches(['b', 'B', 'i']) {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (K, M, G, T)")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("'{s}' is too large"))
}

fn read_file(file: &PathBuf) -> Result<(String, String), Failure> {
    let shown = file.display().to_string();
    let xml = crate::validate::read(file).map_err(|e| Failure::Message(format!("{shown}: {e}")))?;
    Ok((shown, xml))
}

fn noun(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Network => "Network",
        ObjectKind::Pool => "Pool",
        ObjectKind::Secret => "Secret",
        _ => "Object",
    }
}

/// How messages name an object: its name (a secret: its UUID).
fn label(i: &Info) -> String {
    match i {
        Info::Secret(s) => s.uuid.to_string(),
        i => i.name().to_owned(),
    }
}

/// A listing's table: virsh's columns for the kind.
fn rows(kind: ObjectKind, items: &[Info]) -> (&'static [&'static str], Vec<Vec<String>>) {
    if kind == ObjectKind::Secret {
        let usage = |i: &Info| match i {
            Info::Secret(s) => match (&s.usage_type, &s.usage_id) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                _ => String::new(),
            },
            _ => String::new(),
        };
        return (&["UUID", "Usage"], items.iter().map(|i| vec![i.uuid().to_string(), usage(i)]).collect());
    }
    let rows = items
        .iter()
        .map(|i| {
            let (autostart, persistent) = match i {
                Info::Network(n) => (n.autostart, n.persistent),
                Info::Pool(p) => (p.autostart, p.persistent),
                _ => (false, false),
            };
            vec![i.name().to_owned(), state_word(i).to_owned(), yes(autostart).into(), yes(persistent).into()]
        })
        .collect();
    (&["Name", "State", "Autostart", "Persistent"], rows)
}

fn state_word(i: &Info) -> &'static str {
    let active = match i {
        Info::Network(n) => n.state.is_active(),
        Info::Pool(p) => p.state.is_active(),
        _ => false,
    };
    if active { "active" } else { "inactive" }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Bytes as virsh shows them: `100.00 GiB`.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} bytes") } else { format!("{v:.2} {}", UNITS[u]) }
}

/// `net-start`, `pool-start`.
async fn start(conn: &Connection, kind: ObjectKind, name: &str, opts: StartOptions) -> Result<(), Failure> {
    let i = conn.lookup_object(kind, name).await?;
    conn.start_object(kind, i.uuid(), opts).await?;
    println!("{} {} started", noun(kind), label(&i));
    Ok(())
}

/// Runs a verb networks and pools share, for `kind`.
pub async fn common(conn: &Connection, kind: ObjectKind, cmd: Common) -> Result<(), Failure> {
    let find = |name: String| async move { conn.lookup_object(kind, &name).await };
    match cmd {
        Common::Define { file, expected_generation } => {
            let (shown, xml) = read_file(&file)?;
            let def = virtkit::parse_document(kind, &xml).map_err(|e| Failure::Api(e, Some(shown.clone())))?;
            let mut opts = DefineOptions::default();
            if let Some(g) = expected_generation {
                opts = opts.expected_generation(g);
            }
            let i = conn.define_object(def, opts).await.map_err(|e| Failure::Api(e, Some(shown.clone())))?;
            // virsh's words: "Secret UUID created".
            let done = if kind == ObjectKind::Secret { "created".to_owned() } else { format!("defined from {shown}") };
            println!("{} {} {done}", noun(kind), label(&i));
        }
        Common::Destroy { name } => {
            let i = find(name).await?;
            conn.stop_object(kind, i.uuid(), Default::default()).await?;
            println!("{} {} destroyed", noun(kind), label(&i));
        }
        Common::Undefine { name } => {
            let i = find(name).await?;
            conn.undefine_object(kind, i.uuid(), Default::default()).await?;
            let done = if kind == ObjectKind::Secret { "deleted" } else { "has been undefined" };
            println!("{} {} {done}", noun(kind), label(&i));
        }
        Common::Autostart { name, disable } => {
            let i = find(name).await?;
            conn.set_object_autostart(kind, i.uuid(), !disable, Default::default()).await?;
            let how = if disable { "unmarked as autostarted" } else { "marked as autostarted" };
            println!("{} {} {how}", noun(kind), label(&i));
        }
        Common::List { all, inactive, json } => {
            let mut opts = ListOptions::default();
            if inactive {
                opts = opts.active(false);
            } else if !all {
                opts = opts.active(true);
            }
            return list(conn, kind, opts, json).await;
        }
        Common::Info { name, json } => {
            let i = find(name).await?;
            if json {
                return output::json(&i);
            }
            print_info(&i);
        }
        Common::Dumpxml { name, inactive } => {
            let i = find(name).await?;
            print!("{}", conn.object_xml(kind, i.uuid(), XmlOptions::default().inactive(inactive)).await?);
        }
        Common::Uuid { name } => println!("{}", find(name).await?.uuid()),
        Common::Name { uuid } => println!("{}", find(uuid).await?.name()),
    }
    Ok(())
}

/// Starts a transient object of `kind` from an XML file (`net-create`,
/// `pool-create`).
async fn create(conn: &Connection, kind: ObjectKind, file: &PathBuf, opts: CreateOptions) -> Result<(), Failure> {
    let (shown, xml) = read_file(file)?;
    let def = virtkit::parse_document(kind, &xml).map_err(|e| Failure::Api(e, Some(shown.clone())))?;
    let i = conn.create_object(def, opts).await?;
    println!("{} {} created from {shown}", noun(kind), label(&i));
    Ok(())
}

fn print_info(i: &Info) {
    let rows: Vec<(&str, String)> = match i {
        Info::Network(n) => vec![
            ("Name", n.name.clone()),
            ("UUID", n.uuid.to_string()),
            ("Active", yes(n.state.is_active()).into()),
            ("Persistent", yes(n.persistent).into()),
            ("Autostart", yes(n.autostart).into()),
            ("Bridge", n.bridge.clone().unwrap_or_default()),
        ],
        Info::Pool(p) => {
            let mut r = vec![
                ("Name", p.name.clone()),
                ("UUID", p.uuid.to_string()),
                ("State", if p.state.is_active() { "running" } else { "inactive" }.into()),
                ("Persistent", yes(p.persistent).into()),
                ("Autostart", yes(p.autostart).into()),
            ];
            if p.state.is_active() {
                r.push(("Capacity", human(p.capacity)));
                r.push(("Allocation", human(p.allocation)));
                r.push(("Available", human(p.available)));
            }
            r
        }
        Info::Volume(v) => vec![
            ("Name", v.name.clone()),
            ("Type", v.volume_type.clone().unwrap_or_default()),
            ("Capacity", human(v.capacity)),
            ("Allocation", human(v.allocation)),
        ],
        other => vec![("Name", other.name().to_owned())],
    };
    for (k, v) in rows {
        println!("{:<15} {v}", format!("{k}:"));
    }
}

pub async fn net(conn: &Connection, cmd: NetCommand) -> Result<(), Failure> {
    match cmd {
        NetCommand::Common(c) => common(conn, ObjectKind::Network, c).await,
        NetCommand::Start { name } => start(conn, ObjectKind::Network, &name, Default::default()).await,
        NetCommand::Create { file } => create(conn, ObjectKind::Network, &file, Default::default()).await,
        NetCommand::Update(a) => crate::net_update::run(conn, a).await,
        NetCommand::DhcpLeases { name, mac, json } => {
            let net = conn.lookup_network(&name).await?;
            let mut opts = virtkit::LeaseOptions::default();
            if let Some(m) = mac {
                let m = m.parse().map_err(|_| Failure::Message(format!("'{m}' is not a MAC address")))?;
                opts = opts.mac(m);
            }
            let leases = net.leases(opts).await?;
            if json {
                return output::json(&serde_json::json!({ "leases": leases }));
            }
            let rows: Vec<Vec<String>> = leases
                .iter()
                .map(|l| {
                    vec![
                        l.expiry.map_or_else(|| "never".into(), |e| e.to_string()),
                        l.mac.to_string(),
                        if l.ip.is_ipv4() { "ipv4" } else { "ipv6" }.into(),
                        format!("{}/{}", l.ip, l.prefix),
                        l.hostname.clone().unwrap_or_else(|| "-".into()),
                        l.client_id.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            output::table(
                &["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"],
                &rows,
            );
            Ok(())
        }
    }
}

/// The objects of a kind the options select, as a table or JSON.
pub async fn list(conn: &Connection, kind: ObjectKind, opts: ListOptions, json: bool) -> Result<(), Failure> {
    let l = conn.list_objects(kind, opts).await?;
    let plural = match kind {
        ObjectKind::Network => "networks",
        ObjectKind::Secret => "secrets",
        _ => "pools",
    };
    if json {
        return output::list_json(plural, &l);
    }
    let (header, rows) = rows(kind, &l.items);
    output::table(header, &rows);
    Ok(())
}

pub async fn pool(conn: &Connection, cmd: PoolCommand) -> Result<(), Failure> {
    match cmd {
        PoolCommand::Common(c) => common(conn, ObjectKind::Pool, c).await,
        PoolCommand::Start { name, build } => start(conn, ObjectKind::Pool, &name, build.start_options()).await,
        PoolCommand::Create { file, build } => create(conn, ObjectKind::Pool, &file, build.options()).await,
        PoolCommand::DefineAs(a) => crate::create_as::run(conn, *a, None).await,
        PoolCommand::CreateAs { args, build } => crate::create_as::run(conn, *args, Some(build.options())).await,
        PoolCommand::Build { name, overwrite, no_overwrite } => {
            let p = conn.lookup_pool(&name).await?;
            p.build(virtkit::BuildOptions::default().overwrite(overwrite).no_overwrite(no_overwrite)).await?;
            println!("Pool {} built", p.name());
            Ok(())
        }
        PoolCommand::Delete { name } => {
            let p = conn.lookup_pool(&name).await?;
            p.delete(Default::default()).await?;
            println!("Pool {} deleted", p.name());
            Ok(())
        }
        PoolCommand::Refresh { name } => {
            let p = conn.lookup_pool(&name).await?;
            p.refresh(Default::default()).await?;
            println!("Pool {} refreshed", p.name());
            Ok(())
        }
        PoolCommand::Capabilities { json } => {
            let types: Vec<&str> = conn.pool_types().await?.iter().map(|t| t.as_str()).collect();
            if json {
                return output::json(&serde_json::json!({ "pool_types": types }));
            }
            for t in types {
                println!("{t}");
            }
            Ok(())
        }
    }
}

/// The name a volume's document gives it, if it can be read (and a bar
/// is drawn: else it is not needed).
fn volume_name(xml: &str) -> Option<String> {
    progress::on_terminal().then(|| Volume::from_xml(xml).ok().map(|v| v.name)).flatten()
}

/// Runs `op`, a job making volume `name` in `pool`, with a bar on a
/// terminal (a document without a name: no bar, its error is `op`'s).
pub(crate) async fn making<T>(pool: &StoragePool, name: Option<impl AsRef<str>>, op: impl Future<Output = T>) -> T {
    match name {
        Some(n) => progress::job_bar(Watch::new(pool.connection(), pool.volume_uuid(n.as_ref())), op).await,
        None => op.await,
    }
}

/// A volume by pool and name, or by UUID, key or path.
async fn volume(conn: &Connection, key: &str, pool: Option<&str>) -> Result<StorageVolume, Failure> {
    Ok(match pool {
        Some(p) => conn.lookup_pool(p).await?.lookup_volume(key).await?,
        None => conn.find_volume(key).await?,
    })
}

/// virsh's wipe algorithms: those virtkit does, and a clear no for the rest.
fn wipe_algorithm(s: &str) -> Result<WipeAlgorithm, Failure> {
    const VIRSH: &[&str] = &["nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "trim"];
    s.parse().map_err(|e| {
        Failure::Message(if VIRSH.contains(&s) {
            format!("algorithm: {s} is not done by virtkit yet (zero, random)")
        } else {
            format!("algorithm: {e}")
        })
    })
}

pub(crate) fn format_of(s: &str) -> Result<VolumeFormat, Failure> {
    s.parse().map_err(|e| Failure::Message(format!("format: {e}")))
}

pub async fn vol(conn: &Connection, cmd: VolCommand) -> Result<(), Failure> {
    match cmd {
        VolCommand::Create { pool, file, prealloc_metadata } => {
            let (shown, xml) = read_file(&file)?;
            let p = conn.lookup_pool(&pool).await?;
            let op = p.create_volume_xml(&xml, VolumeCreateOptions::default().prealloc_metadata(prealloc_metadata));
            let v = making(&p, volume_name(&xml), op).await.map_err(|e| Failure::Api(e, Some(shown.clone())))?;
            println!("Vol {} created from {shown}", v.name());
        }
        VolCommand::CreateAs(a) => crate::create_as::vol(conn, a).await?,
        VolCommand::CreateFrom { pool, file, volume: src, inputpool, prealloc_metadata } => {
            let (shown, xml) = read_file(&file)?;
            let from = volume(conn, &src, inputpool.as_deref()).await?;
            let p = conn.lookup_pool(&pool).await?;
            let opts = VolumeCreateOptions::default().from(from.uuid()).prealloc_metadata(prealloc_metadata);
            let op = p.create_volume_xml(&xml, opts);
            let v = making(&p, volume_name(&xml), op).await.map_err(|e| Failure::Api(e, Some(shown.clone())))?;
            println!("Vol {} created from input vol {}", v.name(), from.name());
        }
        VolCommand::Clone { volume: src, name, pool, prealloc_metadata } => {
            // The pool named is looked up once: for the volume and the bar.
            let (from, p) = match pool.as_deref() {
                Some(p) => {
                    let p = conn.lookup_pool(p).await?;
                    (p.lookup_volume(&src).await?, Some(p))
                }
                None => (conn.find_volume(&src).await?, None),
            };
            let op = from.clone_as(&name, VolumeCreateOptions::default().prealloc_metadata(prealloc_metadata));
            let v = if progress::on_terminal() {
                let p = match p {
                    Some(p) => p,
                    None => from.pool().await?,
                };
                making(&p, Some(&name), op).await?
            } else {
                op.await?
            };
            println!("Vol {} cloned from {}", v.name(), from.name());
        }
        VolCommand::Delete { volume: v, pool } => {
            let v = volume(conn, &v, pool.as_deref()).await?;
            v.delete(Default::default()).await?;
            println!("Vol {} deleted", v.name());
        }
        VolCommand::Wipe { volume: v, pool, algorithm } => {
            let algorithm = wipe_algorithm(&algorithm)?;
            let v = volume(conn, &v, pool.as_deref()).await?;
            let op = v.wipe(WipeOptions::default().algorithm(algorithm));
            progress::job_bar(Watch::new(conn, v.uuid()), op).await?;
            println!("Vol {} wiped", v.name());
        }
        VolCommand::Resize { volume: v, capacity, pool, delta, shrink, allocate } => {
            let v = volume(conn, &v, pool.as_deref()).await?;
            let i = v.resize(capacity, ResizeOptions::default().delta(delta).shrink(shrink).allocate(allocate)).await?;
            println!("Size of volume '{}' successfully changed to {}", v.name(), human(i.capacity));
        }
        VolCommand::Upload { volume: v, file, pool, offset, length } => {
            let v = volume(conn, &v, pool.as_deref()).await?;
            let op = v.upload_file(TransferOptions::default().offset(offset).length(length), &file);
            progress::job_bar(Watch::new(conn, v.uuid()), op).await?;
        }
        VolCommand::Download { volume: v, file, pool, offset, length } => {
            let v = volume(conn, &v, pool.as_deref()).await?;
            let op = v.download_file(TransferOptions::default().offset(offset).length(length), &file);
            progress::job_bar(Watch::new(conn, v.uuid()), op).await?;
        }
        VolCommand::List { pool, json } => {
            let l = conn.lookup_pool(&pool).await?.list_volumes(ListOptions::default()).await?;
            if json {
                return output::list_json("volumes", &l);
            }
            let rows: Vec<Vec<String>> =
                l.items.iter().map(|v| vec![v.name.clone(), v.path.clone().unwrap_or_default()]).collect();
            output::table(&["Name", "Path"], &rows);
        }
        VolCommand::Info { volume: v, pool, json } => {
            let i = volume(conn, &v, pool.as_deref()).await?.info().await?;
            if json {
                return output::json(&i);
            }
            print_info(&Info::from(i));
        }
        VolCommand::Dumpxml { volume: v, pool } => {
            print!("{}", volume(conn, &v, pool.as_deref()).await?.xml(Default::default()).await?);
        }
        VolCommand::Key { volume: v, pool } => {
            println!("{}", volume(conn, &v, pool.as_deref()).await?.info().await?.key)
        }
        VolCommand::Path { volume: v, pool } => {
            println!("{}", volume(conn, &v, pool.as_deref()).await?.info().await?.path.unwrap_or_default());
        }
        VolCommand::Pool { volume: v, pool } => {
            println!("{}", volume(conn, &v, pool.as_deref()).await?.info().await?.pool)
        }
    }
    Ok(())
}
