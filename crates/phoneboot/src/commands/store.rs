//! `phoneboot store status|migrate`: the lease store's schema, without
//! serving. The URL is always shown without its password.

use std::process::ExitCode;

use crate::cli::StoreCommand;
use crate::config::StoreLocation;
use crate::net::dhcp::leases;

pub fn run(cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    let (common, migrate) = match cmd {
        StoreCommand::Status { common } => (common, false),
        StoreCommand::Migrate { common } => (common, true),
    };
    let cfg = super::load_config(&common)?;
    let where_ = cfg.store.describe(&cfg.data_dir);
    let StoreLocation::Postgres(url) = &cfg.store else {
        println!("lease store: SQLite file {where_} (one server; its schema is upgraded when `serve` opens it)");
        if migrate {
            let db = leases::open(&cfg.store, &cfg.data_dir, &leases::server_name())?;
            drop(db);
            println!("schema: up to date ({})", store::SCHEMA_VERSION);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let mut db = store::PgStore::connect_only(url, &leases::server_name())?;
    println!("lease store: PostgreSQL {where_}");
    let status = db.status()?;
    if migrate {
        let applied = db.migrate()?;
        match applied.as_slice() {
            [] => println!("schema: version {}, up to date", status.supported),
            _ => println!(
                "schema: migrated from version {} to {} (steps {:?})",
                status.found, status.supported, applied
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match status.pending() {
        0 => println!("schema: version {}, up to date", status.found),
        n if status.found == 0 => println!(
            "schema: empty; `phoneboot serve` (or `phoneboot store migrate`) creates it ({n} steps)"
        ),
        n => println!(
            "schema: version {}, this phoneboot writes {}: {n} step(s) pending; run `phoneboot store migrate` \
             once every server sharing the store runs this version",
            status.found, status.supported
        ),
    }
    let count = db_leases(&mut db)?;
    println!("leases: {count}");
    // Pending steps are not an error for `status`, but scripts can tell.
    Ok(if status.pending() > 0 && status.found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn db_leases(db: &mut store::PgStore) -> anyhow::Result<usize> {
    use store::LeaseStore;
    if db.status()?.found == 0 {
        return Ok(0);
    }
    Ok(db.list_leases()?.len())
}
