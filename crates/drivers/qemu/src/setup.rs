//! What is set over QMP once QEMU runs and before the guest starts:
//! display passwords, the balloon's statistics period, links that start down.

use serde_json::json;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{BalloonModel, LinkState};

use crate::qmp::{Qmp, QmpError};

pub(crate) async fn configure(qmp: &Qmp, def: &Domain) -> Result<(), QmpError> {
    crate::graphics::set_passwords(qmp, def).await?;
    // A link that starts down: QEMU has no option for it, only this.
    for (i, nic) in def.devices.interfaces.iter().enumerate() {
        if nic.link_state == Some(LinkState::Down) {
            qmp.execute("set_link", Some(json!({ "name": format!("net{i}"), "up": false }))).await?;
        }
    }
    if let Some(b) = def.devices.memballoon.as_ref().filter(|b| b.model != BalloonModel::None)
        && let Some(period) = b.stats_period
    {
        let args = json!({
            "path": "/machine/peripheral/balloon0",
            "property": "guest-stats-polling-interval",
            "value": period,
        });
        qmp.execute("qom-set", Some(args)).await?;
    }
    Ok(())
}
