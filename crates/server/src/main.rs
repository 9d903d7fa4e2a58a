//! The `rigel` binary: reads the configuration, sets up logging, runs the server until
//! SIGTERM or SIGINT and exits 0 after a graceful shutdown.

use rigel_server::{start, Config, LogFormat};

/// mimalloc instead of the system allocator: a request allocates many small objects (parsed
/// JSON, rendered entities), and glibc's malloc spent a quarter of the CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process. mimalloc asks for huge pages where the kernel
/// offers them on request (THP "madvise", Debian's default), and then every arena region a
/// thread touches is resident 2 MiB at a time and returned 2 MiB at a time: after seeding
/// 200,000 entities and three query runs RssAnon was 405-416 MiB with them and 220 MiB
/// without, at the same request rates (docs/performance.md, 2026-12-06).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("rigel: could not turn transparent huge pages off: {e}");
    }
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    disable_transparent_huge_pages();
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rigel: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if let Some(command) = &config.command {
        // A command's standard output may be its data (an export): logs go to stderr, and
        // only warnings unless a level was asked for (its report says what it did).
        let filter = if config.log_level == "info" {
            tracing_subscriber::EnvFilter::new("warn")
        } else {
            filter
        };
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return rigel_server::commands::run(&config, command).await;
    }
    // Lines go through a bounded queue to a writer thread: a request logs without a system
    // call, and a full queue makes loggers wait rather than drop lines. `_flush_on_exit` is
    // dropped after the server (declared before it) and writes out what is still queued.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let server = match start(&config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match server.wait().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
