//! Log setup for the daemons and the `brainlock` tool.
//!
//! Logs go to stderr, so stdout stays free for what a command prints (the `brainlock`
//! tool's JSON reports). Colours are on only when stderr is a terminal: log files,
//! `docker logs` and CI output stay plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` when it is set, else `default_directives`
/// (an `EnvFilter` string such as `"info"` or `"warn,brainlock=info"`).
pub fn init(default_directives: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(filter(std::env::var("RUST_LOG").ok(), default_directives))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `RUST_LOG` wins when it parses; a malformed one falls back to the default rather than
/// silencing a daemon.
fn filter(rust_log: Option<String>, default_directives: &str) -> EnvFilter {
    rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(default_directives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_the_default_and_a_bad_one_falls_back() {
        assert_eq!(filter(None, "info").to_string(), "info");
        assert_eq!(
            filter(Some("debug,h2=warn".into()), "info").to_string(),
            "h2=warn,debug"
        );
        assert_eq!(
            filter(Some("brainlock=nonsense=1".into()), "warn").to_string(),
            "warn"
        );
    }
}
