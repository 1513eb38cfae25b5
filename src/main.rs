//! The `switchboard` binary: relay mode over every protocol, plus the HTTP API.

use clap::Parser;
use switchboard::{Config, Switchboard};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::parse();
    switchboard::init_logging();
    Switchboard::new(config).run().await
}
