//! The `export` and `import` commands: the store of `--store`/`--data-dir` opened as the
//! broker opens it, records moved through `rigel-transfer`, a report on standard error.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use rigel_model::Tenant;
use rigel_transfer::{Existing, ExportOptions, ImportOptions, ImportReport, Tally};

use crate::backend::{open_for_command, redacted};

mod orion;
use crate::config::{Command, Config, ImportFrom};

/// Runs a command; the exit code is 0 when everything was done, 1 when some records were
/// rejected, 2 when the command could not run.
pub async fn run(config: &Config, command: &Command) -> ExitCode {
    match command {
        Command::Export {
            tenants,
            without_history,
            output,
        } => {
            let tenants = match tenants
                .iter()
                .map(|t| Tenant::named(t).map_err(|e| format!("--tenant {t:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            let options = ExportOptions {
                tenants: (!tenants.is_empty()).then_some(tenants),
                without_history: *without_history,
                source: source_name(config),
            };
            export(config, &options, output.as_deref()).await
        }
        Command::Import {
            source,
            from,
            dry_run,
            replace,
            orion_database,
        } => {
            let options = ImportOptions {
                existing: if *replace {
                    Existing::Replace
                } else {
                    Existing::Skip
                },
                dry_run: *dry_run,
            };
            match from {
                ImportFrom::Rigel => import(config, source, options).await,
                ImportFrom::OrionLd => orion::import(config, source, orion_database, options).await,
            }
        }
    }
}

async fn export(
    config: &Config,
    options: &ExportOptions,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let store = match open_for_command(config).await {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let mut out: Box<dyn Write> = match output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => return fail(&format!("cannot write {}: {e}", path.display())),
        },
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let done = rigel_transfer::export(&*store, options, &mut out).await;
    drop(out);
    let _ = store.close().await;
    match done {
        Ok(n) => {
            eprintln!(
                "exported {} tenant(s): {} entities, {} histories ({} instances), {} subscriptions, {} registrations",
                n.tenants, n.entities, n.histories, n.instances, n.subscriptions, n.registrations
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("export failed: {e}")),
    }
}

async fn import(config: &Config, source: &str, options: ImportOptions) -> ExitCode {
    let input: Box<dyn std::io::BufRead> = if source == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        match File::open(source) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => return fail(&format!("cannot read {source}: {e}")),
        }
    };
    let store = match open_for_command(config).await {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let done = rigel_transfer::import(&*store, input, options).await;
    let _ = store.close().await;
    match done {
        Ok(report) => reported(&report),
        Err(e) => fail(&format!("import failed: {e}")),
    }
}

/// Prints the report; exit code 1 when records were rejected.
pub(crate) fn reported(report: &ImportReport) -> ExitCode {
    let mode = if report.dry_run {
        "dry run, nothing written"
    } else {
        "written"
    };
    eprintln!("import ({mode}):");
    for (tenant, t) in &report.tenants {
        eprintln!("  tenant {tenant}:");
        eprintln!("    entities       {}", tally(t.entities));
        eprintln!(
            "    histories      {}, {} instances",
            tally(t.histories),
            t.instances
        );
        eprintln!("    subscriptions  {}", tally(t.subscriptions));
        eprintln!("    registrations  {}", tally(t.registrations));
    }
    for r in &report.remarks {
        eprintln!("  note {}: {}", r.at, r.reason);
    }
    for r in &report.rejected {
        eprintln!("  rejected {}: {}", r.at, r.reason);
    }
    if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} record(s) rejected", report.rejected.len());
        ExitCode::from(1)
    }
}

fn tally(t: Tally) -> String {
    format!(
        "{} created, {} replaced, {} skipped",
        t.created, t.replaced, t.skipped
    )
}

/// What the header of an export names as its source.
fn source_name(config: &Config) -> String {
    let store = config.store.trim();
    if store == "embedded" {
        format!("embedded:{}", config.data_dir.display())
    } else {
        redacted(store)
    }
}

pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("rigel: {message}");
    ExitCode::from(2)
}
