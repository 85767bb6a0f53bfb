//! `brainlock gateway issue-key`.

use brainlock_gateway::generate_api_key;

/// The config entry a validator operator adds for a customer holding `hash`'s key.
pub fn customer_entry(name: &str, hash: &str) -> String {
    format!("[[gateway.customers]]\nname = {name:?}\napi_key_sha256 = \"{hash}\"\n")
}

/// The `gateway issue-key` command: prints a new customer API key and its config entry.
pub fn issue_key(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    let (key, hash) = generate_api_key();
    println!("API key for {name} (give it to the customer; it is not stored anywhere):\n  {key}\n");
    println!(
        "Add to the validator's config file:\n\n{}",
        customer_entry(name, &hash)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_gateway::{GatewayConfig, hash_api_key};

    #[test]
    fn entry_parses_as_gateway_config() {
        let (key, hash) = generate_api_key();
        let entry = customer_entry("alice \"a\"", &hash);
        let text = entry.replace("[[gateway.customers]]", "[[customers]]");
        let config: GatewayConfig = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.customers[0].name, "alice \"a\"");
        assert_eq!(
            config.customers[0].api_key_sha256.as_deref(),
            Some(hash_api_key(&key).as_str())
        );
    }
}
