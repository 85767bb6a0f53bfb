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

/// An error and its causes on one line, `error: cause: cause`, each said once. Many
/// errors already end their message with their source's (thiserror's `"...: {source}"`);
/// `{:#}` would print those twice.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut previous = line.clone();
    let mut next = error.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        if !previous.ends_with(&said) {
            line.push_str(": ");
            line.push_str(&said);
        }
        previous = said;
        next = cause.source();
    }
    line
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

    #[derive(Debug)]
    struct Failure {
        message: &'static str,
        source: Option<Box<Failure>>,
    }

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|e| e as _)
        }
    }

    fn failure(message: &'static str, source: Option<Failure>) -> Failure {
        Failure {
            message,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn error_chain_says_each_cause_once() {
        let io = || failure("no such file (os error 2)", None);
        // A source already in its error's message, and one that is not.
        let embedded = failure("cannot write x.json: no such file (os error 2)", Some(io()));
        assert_eq!(
            error_chain(&failure("exporting", Some(embedded))),
            "exporting: cannot write x.json: no such file (os error 2)"
        );
        let separate = failure("cannot write x.json", Some(io()));
        assert_eq!(
            error_chain(&failure("exporting", Some(separate))),
            "exporting: cannot write x.json: no such file (os error 2)"
        );
        assert_eq!(error_chain(&io()), "no such file (os error 2)");
    }

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
