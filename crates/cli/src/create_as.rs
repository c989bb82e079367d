//! `pool-define-as`, `pool-create-as` and `vol-create-as`: a document
//! from virsh's arguments, built with the model's types and checked by its
//! validation before anything is printed, defined or made.
//!
//! As in virsh, the words without an option name fill, in order, the
//! parts not given by option: NAME, TYPE, SOURCE-HOST, SOURCE-PATH,
//! SOURCE-DEV, SOURCE-NAME, TARGET, SOURCE-FORMAT. A word `-` leaves a
//! source part out (virsh would take it literally, which no pool type's
//! source wants: it is the placeholder of `NAME dir - - - - PATH`).

use virtkit::model::ByteSize;
use virtkit::model::storage::{
    Adapter, AuthType, BackingStore, Pool, PoolFormat, PoolSource, PoolTarget, PoolType, SecretRef, SourceAuth,
    SourceHost, Volume,
};
use virtkit::{Connection, CreateOptions, Def, VolumeCreateOptions};

use crate::commands::Failure;
use crate::objects::{format_of, parse_size};

/// The arguments virsh's `pool-define-as` and `pool-create-as` take.
#[derive(Debug, clap::Args)]
pub struct PoolAs {
    /// NAME TYPE [SOURCE-HOST] [SOURCE-PATH] [SOURCE-DEV] [SOURCE-NAME] [TARGET] [SOURCE-FORMAT],
    /// those not given by their option, in this order; `-` leaves a source part out.
    #[arg(value_name = "ARG")]
    words: Vec<String>,
    /// The pool's name (or the first word).
    #[arg(long)]
    name: Option<String>,
    /// dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi, rbd, … (or the second word).
    #[arg(long = "type", value_name = "TYPE")]
    pool_type: Option<String>,
    /// The server: a name or address, `host:port`, `[v6-address]:port`.
    #[arg(long, value_name = "HOST")]
    source_host: Option<String>,
    /// The exported directory (netfs, gluster).
    #[arg(long, value_name = "PATH")]
    source_path: Option<String>,
    /// The device (fs, logical, disk, zfs), or the iSCSI target's IQN.
    #[arg(long, value_name = "PATH")]
    source_dev: Option<String>,
    /// The volume group, Ceph pool, Gluster volume, ZFS pool …
    #[arg(long, value_name = "NAME")]
    source_name: Option<String>,
    #[arg(long, value_name = "PATH")]
    target: Option<String>,
    #[arg(long, value_name = "FORMAT")]
    source_format: Option<String>,
    /// chap (iSCSI) or ceph (rbd); with --auth-username and a secret.
    #[arg(long, value_name = "TYPE")]
    auth_type: Option<String>,
    #[arg(long, value_name = "NAME")]
    auth_username: Option<String>,
    #[arg(long, value_name = "USAGE", conflicts_with = "secret_uuid")]
    secret_usage: Option<String>,
    #[arg(long, value_name = "UUID")]
    secret_uuid: Option<String>,
    /// A SCSI host adapter by name (`host0`).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["adapter_wwnn", "adapter_wwpn"])]
    adapter_name: Option<String>,
    /// A vHBA's node name; with --adapter-wwpn.
    #[arg(long, value_name = "WWNN")]
    adapter_wwnn: Option<String>,
    #[arg(long, value_name = "WWPN")]
    adapter_wwpn: Option<String>,
    /// The vHBA's parent HBA (`scsi_host5`).
    #[arg(long, value_name = "NAME")]
    adapter_parent: Option<String>,
    #[arg(long, value_name = "WWNN")]
    adapter_parent_wwnn: Option<String>,
    #[arg(long, value_name = "WWPN")]
    adapter_parent_wwpn: Option<String>,
    #[arg(long, value_name = "WWN")]
    adapter_parent_fabric_wwn: Option<String>,
    /// The NFS version (the mount's nfsvers).
    #[arg(long, value_name = "VER")]
    source_protocol_ver: Option<String>,
    /// The initiator's IQN (iscsi-direct).
    #[arg(long, value_name = "IQN")]
    source_initiator: Option<String>,
    /// Print the document; define or create nothing.
    #[arg(long)]
    print_xml: bool,
}

fn refuse<T>(m: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Message(m.into()))
}

impl PoolAs {
    /// Puts the words into the parts not named by option, in virsh's order.
    fn fill(&mut self, cmd: &str) -> Result<(), Failure> {
        let words = std::mem::take(&mut self.words);
        let mut words = words.into_iter();
        let slots = [
            &mut self.name,
            &mut self.pool_type,
            &mut self.source_host,
            &mut self.source_path,
            &mut self.source_dev,
            &mut self.source_name,
            &mut self.target,
            &mut self.source_format,
        ];
        for (i, slot) in slots.into_iter().enumerate() {
            if slot.is_none() {
                match words.next() {
                    // `-` in a source part's place: the part is not given.
                    Some(w) => *slot = (i < 2 || w != "-").then_some(w),
                    None => break,
                }
            }
        }
        if let Some(extra) = words.next() {
            return refuse(format!("{cmd}: unexpected argument '{extra}'"));
        }
        Ok(())
    }

    /// The pool document these arguments describe, checked by the model.
    pub fn document(mut self, cmd: &str) -> Result<Pool, Failure> {
        self.fill(cmd)?;
        let (Some(name), Some(pool_type)) = (self.name.take(), self.pool_type.take()) else {
            return refuse(format!("{cmd} needs a NAME and a TYPE"));
        };
        let t: PoolType = pool_type.parse().map_err(|e| Failure::Message(format!("pool type: {e}")))?;
        let mut pool = Pool::new(t, name);
        pool.source = self.source()?;
        pool.target = match self.target.take() {
            Some(path) => Some(PoolTarget::new(path)),
            // libvirt's: a volume group's volumes are under /dev/VG.
            None if t == PoolType::Logical => pool.target_path().map(PoolTarget::new),
            None => None,
        };
        pool.validate().map_err(|e| Failure::Api(virtkit::Error::invalid_document(e), Some(cmd.to_owned())))?;
        Ok(pool)
    }

    fn source(&mut self) -> Result<PoolSource, Failure> {
        let mut s = PoolSource::default();
        if let Some(h) = self.source_host.take() {
            s = s.with_host(host(&h)?);
        }
        if let Some(d) = self.source_path.take() {
            s = s.with_dir(d);
        }
        if let Some(d) = self.source_dev.take() {
            s = s.with_device(d);
        }
        if let Some(n) = self.source_name.take() {
            s = s.with_name(n);
        }
        if let Some(f) = self.source_format.take() {
            let f: PoolFormat = f.parse().map_err(|e| Failure::Message(format!("source format: {e}")))?;
            s = s.with_format(f);
        }
        if let Some(iqn) = self.source_initiator.take() {
            s = s.with_initiator(iqn);
        }
        if let Some(v) = self.source_protocol_ver.take() {
            let ver = v
                .parse::<u32>()
                .map_err(|_| Failure::Message(format!("source protocol version: '{v}' is not a number")))?;
            s.protocol_ver = Some(ver);
        }
        if let Some(a) = self.auth()? {
            s = s.with_auth(a);
        }
        if let Some(a) = self.adapter()? {
            s = s.with_adapter(a);
        }
        Ok(s)
    }

    fn auth(&mut self) -> Result<Option<SourceAuth>, Failure> {
        let secret = match (self.secret_usage.take(), self.secret_uuid.take()) {
            (Some(u), _) => Some(SecretRef::Usage(u)),
            (None, Some(u)) => Some(SecretRef::Uuid(
                u.parse().map_err(|_| Failure::Message(format!("secret uuid: '{u}' is not a UUID")))?,
            )),
            (None, None) => None,
        };
        match (self.auth_type.take(), self.auth_username.take(), secret) {
            (None, None, None) => Ok(None),
            (Some(t), Some(user), Some(secret)) => {
                let t: AuthType = t.parse().map_err(|e| Failure::Message(format!("auth type: {e}")))?;
                Ok(Some(SourceAuth::new(t, user, secret)))
            }
            _ => refuse("--auth-type, --auth-username and --secret-usage or --secret-uuid come together"),
        }
    }

    fn adapter(&mut self) -> Result<Option<Adapter>, Failure> {
        let parent_given = self.adapter_parent.is_some()
            || self.adapter_parent_wwnn.is_some()
            || self.adapter_parent_wwpn.is_some()
            || self.adapter_parent_fabric_wwn.is_some();
        match (self.adapter_name.take(), self.adapter_wwnn.take(), self.adapter_wwpn.take()) {
            (Some(_), _, _) if parent_given => {
                refuse("--adapter-parent options are for a vHBA (--adapter-wwnn, --adapter-wwpn)")
            }
            (Some(n), _, _) => Ok(Some(Adapter::scsi_host(n))),
            (None, Some(wwnn), Some(wwpn)) => {
                let mut a = Adapter::fc_host(wwnn, wwpn);
                if let Adapter::FcHost(f) = &mut a {
                    f.parent = self.adapter_parent.take();
                    f.parent_wwnn = self.adapter_parent_wwnn.take();
                    f.parent_wwpn = self.adapter_parent_wwpn.take();
                    f.parent_fabric_wwn = self.adapter_parent_fabric_wwn.take();
                }
                Ok(Some(a))
            }
            (None, None, None) if !parent_given => Ok(None),
            _ => refuse("a vHBA adapter needs both --adapter-wwnn and --adapter-wwpn"),
        }
    }
}

/// `name`, `name:port`, `[v6]:port` or a bare IPv6 address.
fn host(s: &str) -> Result<SourceHost, Failure> {
    let port = |p: &str| {
        p.parse::<u16>().map_err(|_| Failure::Message(format!("source host '{s}': '{p}' is not a port number")))
    };
    if let Some(rest) = s.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
    {
        return match tail.strip_prefix(':') {
            Some(p) => Ok(SourceHost::new(addr).with_port(port(p)?)),
            None if tail.is_empty() => Ok(SourceHost::new(addr)),
            None => refuse(format!("source host '{s}': '{tail}' after the address")),
        };
    }
    match s.split_once(':') {
        Some((name, p)) if !p.contains(':') => Ok(SourceHost::new(name).with_port(port(p)?)),
        _ => Ok(SourceHost::new(s)),
    }
}

/// `pool-define-as` (no `create`) or `pool-create-as`: the document
/// printed with `--print-xml`, else defined, or started as a transient pool.
pub async fn run(conn: &Connection, args: PoolAs, create: Option<CreateOptions>) -> Result<(), Failure> {
    let cmd = if create.is_some() { "pool-create-as" } else { "pool-define-as" };
    let print = args.print_xml;
    let def = args.document(cmd)?;
    if print {
        print!("{}", def.to_xml());
        return Ok(());
    }
    if let Some(opts) = create {
        let i = conn.create_object(Def::Pool(Box::new(def)), opts).await?;
        println!("Pool {} created", i.name());
    } else {
        let p = conn.define_pool(def, Default::default()).await?;
        println!("Pool {} defined", p.name());
    }
    Ok(())
}

/// The arguments of virsh's `vol-create-as`.
#[derive(Debug, clap::Args)]
pub struct VolAs {
    pool: String,
    name: String,
    /// Bytes, or with a suffix: 10G, 512M …
    #[arg(value_parser = parse_size)]
    capacity: u64,
    #[arg(long, value_parser = parse_size)]
    allocation: Option<u64>,
    #[arg(long)]
    format: Option<String>,
    /// By path, or by name or key in the pool.
    #[arg(long, value_name = "VOLUME")]
    backing_vol: Option<String>,
    #[arg(long, value_name = "FORMAT")]
    backing_vol_format: Option<String>,
    /// Preallocate a qcow2 image's metadata.
    #[arg(long)]
    prealloc_metadata: bool,
    /// Print the document; make nothing.
    #[arg(long)]
    print_xml: bool,
}

impl VolAs {
    /// The volume document, checked by the model.
    async fn document(self, conn: &Connection) -> Result<Volume, Failure> {
        let mut def = Volume::new(self.name).with_capacity(ByteSize::bytes(self.capacity));
        if let Some(a) = self.allocation {
            def = def.with_allocation(ByteSize::bytes(a));
        }
        if let Some(f) = &self.format {
            def = def.with_format(format_of(f)?);
        }
        if let Some(b) = self.backing_vol {
            // A backing volume is named by path, key or name in the pool.
            let p = conn.lookup_pool(&self.pool).await?;
            let found = match p.lookup_volume(&b).await {
                Ok(v) => v.info().await?.path.unwrap_or(b),
                Err(_) => b,
            };
            let mut bs = BackingStore::new(found);
            if let Some(f) = &self.backing_vol_format {
                bs = bs.with_format(format_of(f)?);
            }
            def = def.with_backing_store(bs);
        } else if self.backing_vol_format.is_some() {
            return refuse("--backing-vol-format is the format of a --backing-vol");
        }
        def.validate().map_err(|e| Failure::Api(virtkit::Error::invalid_document(e), Some("vol-create-as".into())))?;
        Ok(def)
    }
}

/// `vol-create-as`: the volume made in its pool, or its document printed.
pub async fn vol(conn: &Connection, args: VolAs) -> Result<(), Failure> {
    let (pool, print) = (args.pool.clone(), args.print_xml);
    let opts = VolumeCreateOptions::default().prealloc_metadata(args.prealloc_metadata);
    let def = args.document(conn).await?;
    if print {
        print!("{}", def.to_xml());
        return Ok(());
    }
    let p = conn.lookup_pool(&pool).await?;
    let name = def.name.clone();
    let v = crate::objects::making(&p, Some(&name), p.create_volume(def, opts)).await?;
    println!("Vol {} created", v.name());
    Ok(())
}
