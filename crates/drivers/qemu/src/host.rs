//! What this host has for a definition's devices: checked at start, before
//! QEMU runs, so a guest this host cannot run is refused with the reason
//! (and nothing is left running), rather than started without the device.

use std::path::Path;

use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{
    AudioType, CharSource, Graphics, InterfaceSource, SmartcardMode, TpmBackend, VhostUserMode,
};

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

/// Every device's host side that must exist before QEMU starts.
pub(crate) fn check(def: &Domain) -> Result<()> {
    check_audio(def, Path::new("/dev"))?;
    check_gl(def, Path::new("/dev/dri"))?;
    check_display(def)?;
    check_smartcards(def)?;
    check_interfaces(def, Path::new("/sys/class/net"))?;
    crate::hostdev::check(def, Path::new("/sys"), Path::new("/dev"))?;
    check_host_files(def)
}

/// What an interface's host side needs that QEMU does not make: the host
/// device of a macvtap, a vDPA device, the socket a vhost-user switch
/// listens on.
fn check_interfaces(def: &Domain, sys_class_net: &Path) -> Result<()> {
    for nic in &def.devices.interfaces {
        match &nic.source {
            InterfaceSource::Direct { dev, .. } if !sys_class_net.join(dev).exists() => {
                return Err(refuse(format!("interface direct: host device {dev} does not exist")));
            }
            InterfaceSource::Vdpa { dev } if !Path::new(dev).exists() => {
                return Err(refuse(format!("interface vdpa: {dev} does not exist on this host")));
            }
            InterfaceSource::Vhostuser { path, mode: VhostUserMode::Client, .. } if !Path::new(path).exists() => {
                return Err(refuse(format!(
                    "interface vhostuser: socket {path} does not exist (its switch listens there)"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Host devices and pipes a device reads must exist (QEMU creates files
/// and sockets, not these).
fn check_host_files(def: &Domain) -> Result<()> {
    let d = &def.devices;
    let mut need: Vec<(String, String)> = Vec::new();
    let sources = d
        .serials
        .iter()
        .map(|s| ("serial", &s.source))
        .chain(d.consoles.iter().map(|c| ("console", &c.source)))
        .chain(d.channels.iter().map(|c| ("channel", &c.source)))
        .chain(d.redirdevs.iter().map(|r| ("redirdev", &r.source)));
    for (what, src) in sources {
        match src {
            CharSource::Dev { path } => need.push((format!("{what} device"), path.clone())),
            CharSource::Pipe { path } => {
                let split = Path::new(&format!("{path}.in")).exists() && Path::new(&format!("{path}.out")).exists();
                if !split {
                    need.push((format!("{what} pipe"), path.clone()));
                }
            }
            _ => {}
        }
    }
    for i in &d.inputs {
        if let Some(s) = &i.source {
            need.push((format!("{} input device", i.input_type), s.dev.clone()));
        }
    }
    for t in &d.tpms {
        match &t.backend {
            TpmBackend::Passthrough { device } => need.push(("TPM".into(), device.clone())),
            TpmBackend::External { path } => need.push(("external TPM's socket".into(), path.clone())),
            _ => {}
        }
    }
    for (what, p) in need {
        if !Path::new(&p).exists() {
            return Err(refuse(format!("{what} {p} does not exist on this host")));
        }
    }
    Ok(())
}

/// OpenGL (SPICE or D-Bus with gl, egl-headless, 3D video) renders on the
/// host's GPU: a DRM render node must be there.
fn check_gl(def: &Domain, dri: &Path) -> Result<()> {
    let mut wants: Vec<(String, Option<&str>)> = Vec::new();
    for g in &def.devices.graphics {
        let gl = match g {
            Graphics::Spice(s) => s.gl.as_ref().filter(|g| g.enable == Some(true)),
            Graphics::Dbus(d) => d.gl.as_ref().filter(|g| g.enable == Some(true)),
            Graphics::Sdl(s) => s.gl.as_ref().filter(|g| g.enable == Some(true)),
            Graphics::EglHeadless(e) => {
                wants.push(("egl-headless graphics".into(), e.gl.as_ref().and_then(|g| g.rendernode.as_deref())));
                continue;
            }
            _ => None,
        };
        if let Some(gl) = gl {
            wants.push((format!("{} graphics with OpenGL", g.type_name()), gl.rendernode.as_deref()));
        }
    }
    for v in &def.devices.videos {
        if v.model.as_ref().and_then(|m| m.acceleration.as_ref()).and_then(|a| a.accel3d) == Some(true) {
            wants.push(("3D accelerated video".into(), None));
        }
    }
    for (what, node) in wants {
        let found = match node {
            Some(n) => Path::new(n).exists(),
            None => std::fs::read_dir(dri)
                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("renderD")))
                .unwrap_or(false),
        };
        if !found {
            let node = node.map_or_else(|| format!("{}/renderD*", dri.display()), str::to_owned);
            return Err(refuse(format!("{what} renders on the host's GPU, and this host has no render node ({node})")));
        }
    }
    Ok(())
}

/// A D-Bus display exports on a bus: QEMU runs without a session bus, so
/// it needs an address (or peer to peer).
fn check_display(def: &Domain) -> Result<()> {
    for g in &def.devices.graphics {
        if let Graphics::Dbus(d) = g
            && d.address.is_none()
            && d.p2p != Some(true)
        {
            return Err(refuse(
                "a D-Bus display needs address= (QEMU runs without a session bus) or p2p='yes'".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Emulated smartcards read the host's NSS certificate database.
fn check_smartcards(def: &Domain) -> Result<()> {
    for c in &def.devices.smartcards {
        let db = match &c.mode {
            SmartcardMode::Host => "/etc/pki/nssdb",
            SmartcardMode::HostCertificates { database, .. } => database.as_deref().unwrap_or("/etc/pki/nssdb"),
            _ => continue,
        };
        let has_db = ["cert9.db", "cert8.db"].iter().any(|f| Path::new(db).join(f).exists());
        if !has_db {
            return Err(refuse(format!(
                "an emulated smartcard reads the host's NSS certificate database, and there is none at {db}"
            )));
        }
    }
    Ok(())
}

/// Audio backends that play on the host's own sound hardware need it.
fn check_audio(def: &Domain, dev: &Path) -> Result<()> {
    for a in &def.devices.audios {
        match a.audio_type {
            AudioType::Alsa if !dev.join("snd").exists() => {
                return Err(refuse(format!(
                    "audio {}: alsa plays on the host's sound card, and this host has none ({} is missing)",
                    a.id,
                    dev.join("snd").display()
                )));
            }
            AudioType::Oss => {
                for s in [&a.input, &a.output].into_iter().flatten() {
                    let d = s.dev.clone().unwrap_or_else(|| dev.join("dsp").display().to_string());
                    if !Path::new(&d).exists() {
                        return Err(refuse(format!("audio {}: oss device {d} does not exist on this host", a.id)));
                    }
                }
                if a.input.is_none() && a.output.is_none() && !dev.join("dsp").exists() {
                    return Err(refuse(format!(
                        "audio {}: oss device {} does not exist on this host",
                        a.id,
                        dev.join("dsp").display()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_need_their_host_devices() {
        use virtkit_model::domain::devices::Interface;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("eth0")).unwrap();
        let direct = |dev: &str| {
            let mut d = Domain::new(virtkit_model::domain::DomainType::Qemu, "nic", virtkit_model::ByteSize::mib(64));
            d.devices.interfaces.push(Interface::new(InterfaceSource::Direct {
                dev: dev.into(),
                mode: None,
                network: None,
            }));
            d
        };
        assert!(check_interfaces(&direct("eth0"), dir.path()).is_ok());
        let e = check_interfaces(&direct("eth7"), dir.path()).unwrap_err();
        assert_eq!(e.message(), "interface direct: host device eth7 does not exist");
        let mut d = Domain::new(virtkit_model::domain::DomainType::Qemu, "nic", virtkit_model::ByteSize::mib(64));
        let vdpa = dir.path().join("vhost-vdpa-9").display().to_string();
        d.devices.interfaces.push(Interface::new(InterfaceSource::Vdpa { dev: vdpa.clone() }));
        let e = check_interfaces(&d, dir.path()).unwrap_err();
        assert_eq!(e.message(), format!("interface vdpa: {vdpa} does not exist on this host"));
        std::fs::write(&vdpa, "").unwrap();
        assert!(check_interfaces(&d, dir.path()).is_ok());
        let mut d = Domain::new(virtkit_model::domain::DomainType::Qemu, "nic", virtkit_model::ByteSize::mib(64));
        let sock = dir.path().join("switch.sock").display().to_string();
        let client = |mode| InterfaceSource::Vhostuser { path: sock.clone(), mode, reconnect: None };
        d.devices.interfaces.push(Interface::new(client(VhostUserMode::Server)));
        assert!(check_interfaces(&d, dir.path()).is_ok(), "QEMU makes a server's socket");
        d.devices.interfaces.push(Interface::new(client(VhostUserMode::Client)));
        let e = check_interfaces(&d, dir.path()).unwrap_err();
        assert_eq!(
            e.message(),
            format!("interface vhostuser: socket {sock} does not exist (its switch listens there)")
        );
    }
    use virtkit_model::ByteSize;
    use virtkit_model::domain::DomainType;
    use virtkit_model::domain::devices::Audio;

    fn with_audio(t: AudioType) -> Domain {
        Domain::new(DomainType::Qemu, "a", ByteSize::mib(64)).with_device(Audio::new(1, t))
    }

    #[test]
    fn host_sound_hardware_is_needed_for_alsa_and_oss() {
        let none = tempfile::tempdir().unwrap();
        let e = check_audio(&with_audio(AudioType::Alsa), none.path()).unwrap_err();
        assert!(e.to_string().contains("audio 1: alsa plays on the host's sound card"), "{e}");
        let e = check_audio(&with_audio(AudioType::Oss), none.path()).unwrap_err();
        assert!(e.to_string().contains("oss device"), "{e}");
        std::fs::create_dir(none.path().join("snd")).unwrap();
        std::fs::write(none.path().join("dsp"), b"").unwrap();
        check_audio(&with_audio(AudioType::Alsa), none.path()).unwrap();
        check_audio(&with_audio(AudioType::Oss), none.path()).unwrap();
        check_audio(&with_audio(AudioType::None), none.path()).unwrap();
    }

    #[test]
    fn opengl_needs_a_render_node() {
        use virtkit_model::domain::devices::{EglHeadless, GraphicsGl};
        let dri = tempfile::tempdir().unwrap();
        let mut gl = GraphicsGl::default();
        gl.rendernode = None;
        let mut e = EglHeadless::default();
        e.gl = Some(gl);
        let d = Domain::new(DomainType::Qemu, "a", ByteSize::mib(64)).with_device(Graphics::EglHeadless(e));
        let err = check_gl(&d, dri.path()).unwrap_err();
        assert!(err.to_string().contains("egl-headless graphics renders on the host's GPU"), "{err}");
        std::fs::write(dri.path().join("renderD128"), b"").unwrap();
        check_gl(&d, dri.path()).unwrap();
    }
}
