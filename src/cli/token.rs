//! `token create|list|revoke`: the secret of a new token and the token list
//! on stdout; notes and errors on stderr.

use std::process::ExitCode;

use anyhow::Result;

use crate::config::TokenCommand;
use crate::db::{self, tokens};
use crate::domain::account::Role;

pub(super) async fn run(url: Option<&str>, cmd: TokenCommand) -> Result<ExitCode> {
    let pool = super::connect(url, 2).await?;
    db::migrate(&pool).await?;
    match cmd {
        TokenCommand::Create(args) => {
            let role = Role::from(args.role);
            match tokens::create(&pool, &args.name, role, args.operator.as_deref()).await {
                Ok((info, secret)) => {
                    eprintln!(
                        "created token {} '{}' ({}{}); it is shown once, store it now:",
                        info.id,
                        info.name,
                        info.role,
                        info.operator_id
                            .map(|o| format!(" for {o}"))
                            .unwrap_or_default()
                    );
                    println!("{secret}");
                }
                Err(db::DbError::Invalid(inv)) => return Ok(refused(inv)),
                Err(e) => return Err(e.into()),
            }
        }
        TokenCommand::List => {
            println!(
                "{:>4}  {:<10} {:<8} {:<12} {:<24} {:<20} name",
                "id", "prefix", "role", "operator", "created", "revoked"
            );
            for t in tokens::list(&pool).await? {
                let stamp =
                    |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M:%SZ").to_string();
                println!(
                    "{:>4}  {:<10} {:<8} {:<12} {:<24} {:<20} {}",
                    t.id,
                    t.token_prefix,
                    t.role,
                    t.operator_id.as_deref().unwrap_or("-"),
                    stamp(t.created_at),
                    t.revoked_at.map_or_else(|| "-".into(), stamp),
                    t.name
                );
            }
        }
        TokenCommand::Revoke(args) => match tokens::revoke(&pool, &args.token).await {
            Ok(Some(t)) => eprintln!("revoked token {} '{}'", t.id, t.name),
            Ok(None) => {
                eprintln!(
                    "error: no unrevoked token matches '{}' (see token list)",
                    args.token
                );
                return Ok(ExitCode::from(1));
            }
            Err(db::DbError::Invalid(inv)) => return Ok(refused(inv)),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints why the input was refused; exit code 2.
fn refused(inv: crate::domain::Invalid) -> ExitCode {
    for e in inv.errors {
        eprintln!("error: {}", e.detail);
    }
    ExitCode::from(2)
}
