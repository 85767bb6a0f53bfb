//! The Prometheus endpoint both daemons serve: `GET /metrics`, the OpenMetrics text
//! that the maintained `prometheus-client` crate encodes, on an address of its own. It is loopback by default and never the miner's public API port:
//! what a miner has cached and how fast it runs is for its operator, not its peers.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use prometheus_client::registry::Registry;

/// The route.
pub const PATH: &str = "/metrics";
/// Where metrics listen unless told otherwise.
pub const DEFAULT_IP: &str = "127.0.0.1";
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label value that may hold any text, escaped as the exposition format requires
/// (`\\`, `\"`, line feed). prometheus-client writes label values verbatim
/// (prometheus/client_rust#151), and one quote in a value would make the whole scrape
/// unreadable; every label whose value is not a fixed word is this type.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct LabelText(pub String);

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The registry's exposition; an error only if a collector failed.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// Binds `addr` and serves [`PATH`] until `shutdown`; returns the bound address at
/// once (tests bind port 0) and the server's task.
pub async fn serve(
    registry: Registry,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "metrics listening");
    let registry = Arc::new(registry);
    let app = Router::new().route(
        PATH,
        get(move || {
            let registry = registry.clone();
            async move {
                match render(&registry) {
                    Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Labels {
        name: LabelText,
    }

    #[test]
    fn label_text_is_escaped() {
        let family = Family::<Labels, Counter>::default();
        family
            .get_or_create(&Labels {
                name: LabelText("a\\b \"c\"\nd".into()),
            })
            .inc();
        let mut registry = Registry::default();
        registry.register("seen", "help", family);
        let text = render(&registry).unwrap();
        assert!(
            text.contains(r#"seen_total{name="a\\b \"c\"\nd"} 1"#),
            "{text}"
        );
    }
}
