//! Services in the data plane: the models the cluster store makes are rendered into the
//! data plane's service table ([`render`]), and the health-check node ports of
//! `externalTrafficPolicy: Local` Services are served ([`health`]).

pub mod health;
pub mod render;

use podwire_model::service::{ServiceId, ServiceModel};

/// One Service's new state: its model, or `None` when it is gone or not proxied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUpdate {
    /// The Service.
    pub id: ServiceId,
    /// What the data plane should implement for it.
    pub model: Option<ServiceModel>,
}
