//! Mounting the customer gateway (`brainlock-gateway`) on its own listener, relaying to
//! miners through [`crate::MinerRelay`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use brainlock_api::server::LingeringListener;
use brainlock_epistula::AccountId;
use brainlock_gateway::{GatewayState, SessionModel};
use tokio::task::JoinHandle;

use crate::circuit::Workload;
use crate::config::GatewaySettings;
use crate::relay::MinerRelay;

/// Binds the gateway's address and serves it until `shutdown`; returns the bound
/// address (useful with port 0) and the server task. Customers' keys follow
/// `sessions`' policy, and `sessions` observes them.
pub async fn serve(
    settings: GatewaySettings,
    me: AccountId,
    workload: &Workload,
    sessions: SessionModel,
    relay: MinerRelay,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let customers = settings.config.customers.len();
    let state = GatewayState::new(
        settings.config,
        me,
        brainlock_gateway::Workload {
            circuit: Arc::new(workload.circuit.clone()),
            profile: workload.profile,
        },
        sessions,
        Arc::new(relay),
    )
    .context("configuring the customer gateway")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("binding the customer gateway to {}", settings.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, customers, "customer gateway listening");
    let app = brainlock_gateway::router(state);
    let task = tokio::spawn(async move {
        axum::serve(LingeringListener::new(listener), app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((addr, task))
}
