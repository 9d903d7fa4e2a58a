//! Micro-benchmark behind ADR 0001: the same small workload on redb, fjall, SQLite and LMDB.
//!
//! Workload (constants below): (a) 20,000 durable single-entity puts of ~1 KiB JSON from 32
//! concurrent writer threads, group-committed by one writer thread that drains whatever is
//! queued (up to 1,000) into one transaction with one sync; (b) 100,000 random point reads,
//! each in its own read transaction; (c) a range scan over the 10,000 keys of one tenant
//! prefix, repeated 20 times; then the on-disk size after close.
//!
//! Usage: `bench-0001 [redb|fjall|sqlite|lmdb ...]` (default: every engine compiled in).
//! Each engine gets a fresh directory under the system temp dir, removed afterwards.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod engines;

use engines::Engine;

const DOCS: usize = 20_000;
const WRITERS: usize = 32;
const READS: usize = 100_000;
const SCAN_REPEATS: usize = 20;
const MAX_BATCH: usize = 1_000;
const QUEUE: usize = 1_024;
/// Every engine gets the same explicit cache budget (LMDB has none: it uses the OS page cache).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

type Kv = (Vec<u8>, Vec<u8>);

struct Put {
    kv: Kv,
    done: SyncSender<()>,
}

/// Two tenants, interleaved: even docs in tenant "a", odd in tenant "b" (10,000 each).
fn key(i: usize) -> Vec<u8> {
    let tenant: &[u8] = if i.is_multiple_of(2) { b"a\0" } else { b"b\0" };
    let mut k = tenant.to_vec();
    k.extend_from_slice(format!("urn:ngsi-ld:Bench:{i:06}").as_bytes());
    k
}

const SCAN_START: &[u8] = b"a\0";
const SCAN_END: &[u8] = b"a\x01";

/// Tiny deterministic PRNG (xorshift64*), so every engine sees the same data and reads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// ~1 KiB of NGSI-LD-like JSON: realistic structure and compressibility (words, not noise).
fn value(i: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "room",
        "sensor",
        "floor",
        "north",
        "window",
        "temperature",
        "humidity",
        "open",
        "closed",
        "building",
        "madrid",
        "garden",
        "level",
        "status",
        "device",
        "ok",
    ];
    let mut description = String::new();
    while description.len() < 760 {
        description.push_str(WORDS[(rng.next() % 16) as usize]);
        description.push(' ');
    }
    format!(
        r#"{{"id":"urn:ngsi-ld:Bench:{i:06}","types":["https://example.org/ns#Room"],"attributes":{{"https://example.org/ns#temperature":[{{"value":{{"kind":"Property","payload":{t}}},"observed_at":"2024-05-01T10:00:00Z"}}],"https://example.org/ns#description":[{{"value":{{"kind":"Property","payload":"{description}"}}}}]}},"created_at":"2024-05-01T10:00:00Z","modified_at":"2024-05-01T10:00:00Z"}}"#,
        t = rng.next() % 400
    )
    .into_bytes()
}

/// The group-commit loop: block for one put, drain what is queued, one durable write.
fn writer_loop(engine: Arc<dyn Engine>, rx: Receiver<Put>) -> usize {
    let mut batches = 0;
    while let Ok(first) = rx.recv() {
        let mut puts = vec![first];
        while puts.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => puts.push(p),
                Err(_) => break,
            }
        }
        let kvs: Vec<Kv> = puts.iter_mut().map(|p| std::mem::take(&mut p.kv)).collect();
        engine.write_batch(&kvs);
        batches += 1;
        for p in puts {
            let _ = p.done.send(());
        }
    }
    batches
}

/// (apparent, allocated) bytes of every file under `dir`; files larger than 1 MiB are also
/// listed in `big`, to show where the space goes.
fn dir_size(dir: &Path, big: &mut Vec<String>) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                let (a, b) = dir_size(&entry.path(), big);
                apparent += a;
                allocated += b;
            } else {
                apparent += meta.len();
                allocated += meta.blocks() * 512;
                if meta.len() > 1 << 20 {
                    big.push(format!(
                        "{} {:.1}/{:.1} MiB",
                        entry.file_name().to_string_lossy(),
                        meta.len() as f64 / 1048576.0,
                        (meta.blocks() * 512) as f64 / 1048576.0
                    ));
                }
            }
        }
    }
    (apparent, allocated)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn run(name: &str, dir: &Path) {
    let engine: Arc<dyn Engine> = Arc::from(engines::open(name, dir, CACHE_BYTES));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let docs: Vec<Kv> = (0..DOCS).map(|i| (key(i), value(i, &mut rng))).collect();
    let avg_value = docs.iter().map(|(_, v)| v.len()).sum::<usize>() / DOCS;

    // (a) durable puts from 32 concurrent writers, group-committed.
    let (tx, rx) = mpsc::sync_channel::<Put>(QUEUE);
    let writer_engine = Arc::clone(&engine);
    let writer = std::thread::spawn(move || writer_loop(writer_engine, rx));
    let start = Instant::now();
    let per_writer = DOCS / WRITERS;
    let clients: Vec<_> = (0..WRITERS)
        .map(|w| {
            let tx = tx.clone();
            let mine: Vec<Kv> = docs[w * per_writer..(w + 1) * per_writer].to_vec();
            std::thread::spawn(move || {
                let mut latencies = Vec::with_capacity(mine.len());
                for kv in mine {
                    let (done, wait) = mpsc::sync_channel(1);
                    let t = Instant::now();
                    tx.send(Put { kv, done }).expect("writer alive");
                    wait.recv().expect("put acknowledged");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    drop(tx);
    let mut latencies: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let batches = writer.join().expect("writer");
    let write_time = start.elapsed();
    latencies.sort();

    // (b) random point reads, one read transaction each.
    let mut rng = Rng(42);
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..READS {
        let i = (rng.next() % DOCS as u64) as usize;
        bytes += engine.get(&docs[i].0).expect("written key is found");
    }
    let read_time = start.elapsed();
    assert!(bytes > 0);

    // (c) range scan of one tenant's 10,000 keys.
    let start = Instant::now();
    for _ in 0..SCAN_REPEATS {
        let (count, _) = engine.scan(SCAN_START, SCAN_END);
        assert_eq!(count, DOCS / 2, "scan sees exactly one tenant");
    }
    let scan_time = start.elapsed() / SCAN_REPEATS as u32;

    drop(engine);
    let mut big = Vec::new();
    let (apparent, allocated) = dir_size(dir, &mut big);
    println!(
        "{name:>6} | puts {:>7.0}/s in {:>5} syncs (p50 {:>6.2} ms, p99 {:>6.2} ms) | reads {:>8.0}/s ({:>5.2} us) | scan 10k {:>6.2} ms | disk {:>5.1} MiB apparent, {:>5.1} MiB allocated | value {} B",
        DOCS as f64 / write_time.as_secs_f64(),
        batches,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        READS as f64 / read_time.as_secs_f64(),
        read_time.as_secs_f64() * 1e6 / READS as f64,
        scan_time.as_secs_f64() * 1e3,
        apparent as f64 / (1024.0 * 1024.0),
        allocated as f64 / (1024.0 * 1024.0),
        avg_value,
    );
    println!(
        "       | files over 1 MiB (apparent/allocated): {}",
        big.join(", ")
    );
}

fn main() {
    let requested: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = if requested.is_empty() {
        engines::COMPILED.to_vec()
    } else {
        requested.iter().map(String::as_str).collect()
    };
    for name in names {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("bench-0001-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bench dir");
        run(name, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
