//! The TPM: a `-tpmdev` on its backend and the interface the guest sees.

use serde_json::json;
use virtkit_model::domain::devices::{TpmBackend, TpmModel};

use super::{ArgvError, Builder, esc, tpm_socket, unsupported};

pub(super) fn tpm_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let tpms = &b.def.devices.tpms;
    for (i, t) in tpms.iter().enumerate() {
        let path = super::idx_path("tpm", i, tpms.len());
        let driver = match t.model.unwrap_or(TpmModel::TpmTis) {
            TpmModel::TpmTis => "tpm-tis",
            TpmModel::TpmCrb => "tpm-crb",
            m => return Err(unsupported(format!("{path}/@model"), format!("'{m}' is POWER's TPM interface"))),
        };
        if !b.ctx.has(driver) {
            return Err(unsupported(format!("{path}/@model"), format!("this QEMU has no {driver} device")));
        }
        if t.address.is_some() {
            return Err(unsupported(
                format!("{path}/address"),
                format!("{driver} sits at a fixed place: it has no address"),
            ));
        }
        let dev = format!("tpm-tpm{i}");
        match &t.backend {
            TpmBackend::Emulator { encryption_secret: Some(s), .. } => {
                return Err(unsupported(
                    format!("{path}/backend/encryption"),
                    format!("encrypting the TPM state (with secret {s}) is not supported yet"),
                ));
            }
            TpmBackend::Emulator { .. } | TpmBackend::External { .. } => {
                let sock = match &t.backend {
                    TpmBackend::External { path } => path.clone(),
                    _ => tpm_socket(&b.ctx.run_dir, i).display().to_string(),
                };
                let chr = format!("chrtpm{i}");
                b.opt("-chardev", format!("socket,id={chr},path={}", esc(&sock)));
                b.opt("-tpmdev", format!("emulator,id={dev},chardev={chr}"));
            }
            TpmBackend::Passthrough { device } => {
                // The host's TPM has its cancel file in sysfs beside it.
                let name = device.rsplit('/').next().unwrap_or("tpm0");
                b.opt(
                    "-tpmdev",
                    format!(
                        "passthrough,id={dev},path={},cancel-path=/sys/class/tpm/{}/device/cancel",
                        esc(device),
                        esc(name)
                    ),
                );
            }
            _ => return Err(unsupported(format!("{path}/backend/@type"), "this TPM backend is not supported")),
        }
        b.device(json!({ "driver": driver, "tpmdev": dev, "id": format!("tpm{i}") }));
    }
    Ok(())
}
