//! `<tpm>`: a Trusted Platform Module, emulated (swtpm), passed through
//! from the host, or an external emulator on a socket.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Address, read_address, read_alias, write_address, write_alias};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// The interface the guest sees.
    pub enum TpmModel {
        TpmTis = "tpm-tis",
        TpmCrb = "tpm-crb",
        TpmSpapr = "tpm-spapr",
        SpaprTpmProxy = "spapr-tpm-proxy",
    }
}

xml_enum! {
    /// The TPM specification an emulator follows.
    pub enum TpmVersion {
        V1_2 = "1.2",
        V2_0 = "2.0",
    }
}

/// `<active_pcr_banks>` of a TPM 2.0: which PCR banks are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PcrBanks {
    pub sha1: bool,
    pub sha256: bool,
    pub sha384: bool,
    pub sha512: bool,
}

impl PcrBanks {
    /// The active banks, by name.
    pub fn names(&self) -> Vec<&'static str> {
        [("sha1", self.sha1), ("sha256", self.sha256), ("sha384", self.sha384), ("sha512", self.sha512)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| n)
            .collect()
    }
}

/// Where the TPM is (`<backend type=…>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum TpmBackend {
    /// The host's TPM device (`/dev/tpm0`).
    Passthrough { device: String },
    /// A software TPM (swtpm) run for the guest, its state kept with it.
    Emulator {
        version: Option<TpmVersion>,
        /// Keep the state when a transient guest goes away.
        persistent_state: Option<bool>,
        /// The secret that encrypts the state.
        encryption_secret: Option<Uuid>,
        /// TPM 2.0: the PCR banks to activate.
        active_pcr_banks: Option<PcrBanks>,
    },
    /// An emulator someone else runs, on a unix socket.
    External { path: String },
}

/// A `<tpm>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tpm {
    pub model: Option<TpmModel>,
    pub backend: TpmBackend,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Tpm {
    /// A software TPM 2.0 on the CRB interface.
    pub fn emulated() -> Self {
        Tpm {
            model: Some(TpmModel::TpmCrb),
            backend: TpmBackend::Emulator {
                version: Some(TpmVersion::V2_0),
                persistent_state: None,
                encryption_secret: None,
                active_pcr_banks: None,
            },
            alias: None,
            address: None,
        }
    }

    pub fn new(model: TpmModel, backend: TpmBackend) -> Self {
        Tpm { model: Some(model), backend, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Tpm> {
        Ok(Tpm {
            model: el.attr("model")?,
            backend: el.req_child("backend", |b| {
                let kind = b.raw_attr("type").ok_or_else(|| b.missing_attr("type"))?;
                Ok(match kind {
                    "passthrough" => TpmBackend::Passthrough { device: b.req_child("device", |d| d.req_attr("path"))? },
                    "emulator" => TpmBackend::Emulator {
                        version: b.attr("version")?,
                        persistent_state: b.yes_no("persistent_state")?,
                        encryption_secret: b.child("encryption", |e| e.req_attr("secret"))?,
                        active_pcr_banks: b.child("active_pcr_banks", |p| {
                            Ok(PcrBanks {
                                sha1: p.flag("sha1")?,
                                sha256: p.flag("sha256")?,
                                sha384: p.flag("sha384")?,
                                sha512: p.flag("sha512")?,
                            })
                        })?,
                    },
                    "external" => TpmBackend::External {
                        path: b.req_child("source", |s| {
                            let t = s.raw_attr("type").ok_or_else(|| s.missing_attr("type"))?;
                            if t != "unix" {
                                return Err(s.attr_error(
                                    "type",
                                    crate::ErrorKind::InvalidValue(format!(
                                        "'{}' is not one of unix",
                                        crate::xml::truncate(t)
                                    )),
                                ));
                            }
                            if let Some(m) = s.raw_attr("mode").filter(|m| *m != "connect") {
                                return Err(s.attr_error(
                                    "mode",
                                    crate::ErrorKind::InvalidValue(format!(
                                        "'{}' is not one of connect",
                                        crate::xml::truncate(m)
                                    )),
                                ));
                            }
                            s.req_attr("path")
                        })?,
                    },
                    other => {
                        return Err(b.attr_error(
                            "type",
                            crate::ErrorKind::InvalidValue(format!(
                                "'{}' is not one of passthrough, emulator, external",
                                crate::xml::truncate(other)
                            )),
                        ));
                    }
                })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("tpm");
        w.attr_opt("model", self.model.as_ref());
        w.start("backend");
        match &self.backend {
            TpmBackend::Passthrough { device } => {
                w.attr("type", "passthrough");
                w.start("device");
                w.attr("path", device);
                w.end();
            }
            TpmBackend::Emulator { version, persistent_state, encryption_secret, active_pcr_banks } => {
                w.attr("type", "emulator");
                w.attr_opt("version", version.as_ref());
                w.yes_no("persistent_state", *persistent_state);
                if let Some(s) = encryption_secret {
                    w.start("encryption");
                    w.attr_val("secret", s);
                    w.end();
                }
                if let Some(banks) = active_pcr_banks {
                    w.start("active_pcr_banks");
                    banks.names().into_iter().for_each(|b| w.flag(b, true));
                    w.end();
                }
            }
            TpmBackend::External { path } => {
                w.attr("type", "external");
                w.start("source");
                w.attr("type", "unix");
                w.attr("mode", "connect");
                w.attr("path", path);
                w.end();
            }
        }
        w.end();
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
