//! The `switchboard` binary: relay mode over every protocol, plus the HTTP API.

use clap::Parser;
use switchboard::{Config, Switchboard};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    Switchboard::new(config).run().await
}
