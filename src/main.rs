//! telecom-gis binary: parses the command line and runs the subcommand
//! ([`telecom_gis::cli`]).

use std::process::ExitCode;

use clap::Parser;
use telecom_gis::{cli, config::Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    cli::init_tracing(args.log_format);
    let failure = cli::failure_code(&args.command);
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            failure
        }
    }
}
