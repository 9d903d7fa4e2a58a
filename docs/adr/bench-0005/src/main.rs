//! Bench behind ADR 0001's engine amendment: redb 4 vs fjall 3 under Rigel's real per-create
//! row mix (32 row writes + 2 reads per create), group-committed by one writer thread.
//!
//! Phases (one engine per process; constants below, seed size from the command line):
//! (A) 200,000 creates into an empty store from 64 submitters, each waiting for its ack;
//! (B) a store seeded untimed with `seed` entities (default 1,000,000), then 100,000 creates;
//! (C) 100,000 partial updates on that store; (D) 100,000 random entity point reads and
//! 2,000 scans of 3,000 consecutive `values` keys, one read transaction each.
//! Reports ops/s, writer-thread CPU per op, non-submitter process CPU per op (writer plus
//! engine background threads), ack latency p50/p99, batches, RSS and disk size after close.
//!
//! Usage: `bench-0005 <redb|fjall> [seed_entities]`; the store lives under $BENCH_DIR
//! (default the system temp dir) and is removed afterwards.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod engines;
mod workload;

use engines::Engine;
use workload::{Op, Rng};

const SUBMITTERS: u64 = 64;
const MAX_BATCH: usize = 64;
const CREATES_EMPTY: u64 = 200_000;
const CREATES_FULL: u64 = 100_000;
const UPDATES: u64 = 100_000;
const READS: usize = 100_000;
const SCANS: usize = 2_000;
const SCAN_LEN: usize = 3_000;
const SEED_BATCH: u64 = 2_000;
const CACHE_BYTES: usize = 64 * 1024 * 1024;
const RUN: u64 = 1;

struct Job {
    op: Op,
    done: SyncSender<()>,
}

/// (user, system) CPU of the calling thread (`RUSAGE_THREAD`) or the process.
fn cpu(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn thread_cpu() -> Duration {
    let (u, s) = cpu(libc::RUSAGE_THREAD);
    u + s
}

fn process_cpu() -> Duration {
    let (u, s) = cpu(libc::RUSAGE_SELF);
    u + s
}

/// (VmRSS, VmHWM) in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// (wchar, write_bytes) of /proc/self/io: bytes passed to write syscalls, bytes sent to storage.
fn io_written() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("write_bytes:"))
}

/// (apparent, allocated) bytes of every file under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut apparent, mut allocated) = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = dir_size(&entry.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    (apparent, allocated)
}

/// Waits until the engine's background threads go quiet (process CPU < 3 % of a core over
/// each of 3 consecutive seconds, at most 300 s): (seconds waited, CPU spent meanwhile),
/// i.e. the flush/compaction debt a phase left behind.
fn settle() -> (f64, Duration) {
    let (start, cpu0) = (Instant::now(), process_cpu());
    let mut quiet = 0;
    let mut last = cpu0;
    while quiet < 3 && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_secs(1));
        let now = process_cpu();
        quiet = if now - last < Duration::from_millis(30) { quiet + 1 } else { 0 };
        last = now;
    }
    (start.elapsed().as_secs_f64(), process_cpu() - cpu0)
}

/// The group-commit loop: block for one job, drain up to 64, one transaction, ack all.
/// Returns (batches, writer-thread user CPU, writer-thread system CPU).
fn writer_loop(engine: Arc<dyn Engine>, rx: Receiver<Job>) -> (u64, Duration, Duration) {
    let (u0, s0) = cpu(libc::RUSAGE_THREAD);
    let mut batches = 0;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (ops, acks): (Vec<Op>, Vec<SyncSender<()>>) =
            jobs.into_iter().map(|j| (j.op, j.done)).unzip();
        engine.apply(&ops, true);
        batches += 1;
        for a in acks {
            let _ = a.send(());
        }
    }
    let (u1, s1) = cpu(libc::RUSAGE_THREAD);
    (batches, u1 - u0, s1 - s0)
}

/// Runs `total` ops from 64 submitters (op `i` built by `make(submitter, i, rng)`), and
/// prints one result line.
fn timed<F>(label: &str, engine: &Arc<dyn Engine>, total: u64, make: F)
where
    F: Fn(u64, u64, &mut Rng) -> Op + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::sync_channel::<Job>(1_024);
    let writer_engine = Arc::clone(engine);
    let cpu0 = process_cpu();
    let io0 = io_written();
    let start = Instant::now();
    let writer = std::thread::spawn(move || writer_loop(writer_engine, rx));
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let (tx, next, make) = (tx.clone(), Arc::clone(&next), Arc::clone(&make));
            std::thread::spawn(move || {
                let cpu0 = thread_cpu();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (s + 1).wrapping_mul(0x1234_5678_9ABC));
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let op = make(s, i, &mut rng);
                    let (done, wait) = mpsc::sync_channel(1);
                    let t = Instant::now();
                    tx.send(Job { op, done }).expect("writer alive");
                    wait.recv().expect("acknowledged");
                    latencies.push(t.elapsed());
                }
                (latencies, thread_cpu() - cpu0)
            })
        })
        .collect();
    drop(tx);
    let mut latencies = Vec::new();
    let mut submit_cpu = Duration::ZERO;
    for s in submitters {
        let (l, c) = s.join().expect("submitter");
        latencies.extend(l);
        submit_cpu += c;
    }
    let (batches, writer_user, writer_sys) = writer.join().expect("writer");
    let writer_cpu = writer_user + writer_sys;
    let elapsed = start.elapsed();
    let engine_cpu = process_cpu().saturating_sub(cpu0).saturating_sub(submit_cpu);
    let io1 = io_written();
    let (settle_s, debt) = settle();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let (rss, hwm) = rss();
    println!(
        "RESULT phase={label} ops_per_s={:.0} writer_cpu_us={:.1} writer_sys_us={:.1} engine_cpu_us={:.1} debt_cpu_us={:.1} settle_s={:.0} p50_ms={:.2} p99_ms={:.2} batches={} avg_batch={:.1} written_kib_per_op={:.1} storage_kib_per_op={:.1} rss_mib={:.0} hwm_mib={:.0} secs={:.1}",
        total as f64 / elapsed.as_secs_f64(),
        writer_cpu.as_secs_f64() * 1e6 / total as f64,
        writer_sys.as_secs_f64() * 1e6 / total as f64,
        engine_cpu.as_secs_f64() * 1e6 / total as f64,
        debt.as_secs_f64() * 1e6 / total as f64,
        settle_s,
        pct(0.50),
        pct(0.99),
        batches,
        total as f64 / batches as f64,
        (io1.0 - io0.0) as f64 / 1024.0 / total as f64,
        (io1.1 - io0.1) as f64 / 1024.0 / total as f64,
        rss,
        hwm,
        elapsed.as_secs_f64(),
    );
    println!("INFO  phase={label} {}", engine.describe(total));
}

fn create_op(n: u64, rng: &mut Rng) -> Op {
    let id = workload::entity_id(RUN, n);
    Op::Create(Box::new(workload::create(&id, rng)))
}

fn close(label: &str, engine: Arc<dyn Engine>, dir: &Path) {
    let t = Instant::now();
    engine.finish();
    drop(engine);
    let close_s = t.elapsed().as_secs_f64();
    let (apparent, allocated) = dir_size(dir);
    println!(
        "RESULT phase={label}-close disk_alloc_mib={:.0} disk_apparent_mib={:.0} close_s={close_s:.1}",
        allocated as f64 / 1048576.0,
        apparent as f64 / 1048576.0
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: bench-0005 <redb|fjall> [seed_entities]");
    let seed: u64 = args.next().map_or(1_000_000, |s| s.parse().expect("seed count"));
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    println!("INFO  engine={name} seed={seed} cache={} MiB", CACHE_BYTES >> 20);

    // (A) creates into an empty store.
    let dir = base.join(format!("bench-0005-{}-{name}-a", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let engine: Arc<dyn Engine> = Arc::from(engines::open(&name, &dir, CACHE_BYTES));
    timed("A-create-empty", &engine, CREATES_EMPTY, |_, i, rng| create_op(i, rng));
    close("A", engine, &dir);
    let _ = std::fs::remove_dir_all(&dir);

    // (B) seed untimed with big batches, then creates.
    let dir = base.join(format!("bench-0005-{}-{name}-b", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let engine: Arc<dyn Engine> = Arc::from(engines::open(&name, &dir, CACHE_BYTES));
    let t = Instant::now();
    let mut rng = Rng(7);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut n = 0;
    while n < seed {
        let end = (n + SEED_BATCH).min(seed);
        let ops: Vec<Op> = (n..end).map(|i| create_op(i, &mut rng)).collect();
        engine.apply(&ops, false);
        n = end;
    }
    engine.finish();
    let seed_s = t.elapsed().as_secs_f64();
    let (settle_s, debt) = settle();
    println!(
        "RESULT phase=B-seed entities={seed} secs={seed_s:.1} settle_s={settle_s:.0} debt_cpu_s={:.1}",
        debt.as_secs_f64()
    );
    println!("INFO  phase=B-seed {} (loadavg before seeding: {})", engine.describe(seed), load.trim());
    timed("B-create-full", &engine, CREATES_FULL, move |_, i, rng| create_op(seed + i, rng));

    // (C) partial updates of `mileage` on random entities; submitter s owns ids n % 64 == s,
    // so it knows each entity's current mileage row.
    let total = seed + CREATES_FULL;
    let generations: Arc<Vec<AtomicU32>> = Arc::new((0..total).map(|_| AtomicU32::new(0)).collect());
    timed("C-update-full", &engine, UPDATES, move |s, _, rng| {
        let slots = (total - s).div_ceil(SUBMITTERS);
        let n = (rng.next() % slots) * SUBMITTERS + s;
        let g = generations[n as usize].fetch_add(1, Ordering::Relaxed);
        let id = workload::entity_id(RUN, n);
        Op::Update(Box::new(workload::Update {
            key: workload::entity_key(&id),
            record: workload::record(&id, rng),
            old_row: workload::mileage_row(&id, g),
            new_row: workload::mileage_row(&id, g + 1),
            series_key: workload::series_key(&id, workload::MILEAGE_ATTR),
            instance: workload::instance_value(rng),
        }))
    });

    // (D) reads after the writes, one thread, one read transaction each.
    let mut rng = Rng(42);
    let keys: Vec<Vec<u8>> = (0..READS)
        .map(|_| workload::entity_key(&workload::entity_id(RUN, rng.next() % total)))
        .collect();
    let t = Instant::now();
    for k in &keys {
        assert_eq!(engine.get_entity(k), Some(1_100), "entity found");
    }
    let get_us = t.elapsed().as_secs_f64() * 1e6 / READS as f64;
    let mut prefix = Vec::new();
    prefix.extend_from_slice(&workload::hash(workload::TYPE_IRI));
    prefix.extend_from_slice(&workload::hash("speed"));
    prefix.push(2);
    let starts: Vec<Vec<u8>> = (0..SCANS)
        .map(|_| {
            let mut s = prefix.clone();
            s.extend_from_slice(&(rng.next() >> 1).to_be_bytes());
            s
        })
        .collect();
    let t = Instant::now();
    let mut rows = 0;
    for s in &starts {
        rows += engine.scan_values(s, SCAN_LEN);
    }
    let scan_ms = t.elapsed().as_secs_f64() * 1e3 / SCANS as f64;
    let (rss, hwm) = rss();
    println!(
        "RESULT phase=D-read get_us={get_us:.2} gets_per_s={:.0} scan3000_ms={scan_ms:.2} scan_rows={rows} rss_mib={rss:.0} hwm_mib={hwm:.0}",
        1e6 / get_us
    );
    close("BCD", engine, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}
