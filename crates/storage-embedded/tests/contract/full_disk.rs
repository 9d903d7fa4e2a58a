//! A full disk, for real: the store on a small tmpfs is filled until writes fail, then space
//! is freed, and writes are accepted again without a restart, with every acknowledged write
//! kept. Mounting needs root: elsewhere the test says it skipped, unless
//! `RIGEL_REQUIRE_TMPFS=1` (CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rigel_model::{AttributeValue, Tenant};
use rigel_storage::testkit::sample_entity;
use rigel_storage::{EntityStore, Expect, StorageError, WriteOp, WriteOutcome};
use rigel_storage_embedded::{EmbeddedOptions, EmbeddedStore};

/// A tmpfs of `megabytes`, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("RIGEL_REQUIRE_TMPFS").is_err(),
                "RIGEL_REQUIRE_TMPFS is set but a tmpfs cannot be mounted here"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Self { path, _dir: dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn entity(n: usize) -> rigel_model::Entity {
    let mut e = sample_entity(
        &format!("urn:ngsi-ld:Filler:{n:06}"),
        &["https://example.org/F"],
    );
    e.attributes.insert(
        "https://example.org/payload".into(),
        vec![serde_json::from_value(serde_json::json!({
            "value": AttributeValue::Property(serde_json::json!("x".repeat(4000)))
        }))
        .expect("attribute")],
    );
    e
}

async fn create(store: &EmbeddedStore, n: usize) -> Result<(), StorageError> {
    let outcomes = try_create(store, n).await?;
    assert!(matches!(outcomes[..], [WriteOutcome::Applied { .. }]));
    Ok(())
}

async fn try_create(store: &EmbeddedStore, n: usize) -> Result<Vec<WriteOutcome>, StorageError> {
    let op = WriteOp::Put {
        entity: entity(n),
        expect: Expect::Absent,
    };
    store.commit(&Tenant::default(), vec![op]).await
}

fn open(path: &Path) -> EmbeddedStore {
    let mut options = EmbeddedOptions::default();
    options.cache_size_bytes = 1024 * 1024;
    EmbeddedStore::open_with(path, options).expect("open store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_and_they_resume_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    // Room to free later.
    let spare = disk.path.join("spare");
    std::fs::write(&spare, vec![1u8; 4 * 1024 * 1024]).expect("spare file");
    let store = open(&disk.path.join("store"));

    let mut acknowledged = Vec::new();
    let refusal = loop {
        let n = acknowledged.len();
        assert!(n < 20_000, "16 MB never filled up");
        match create(&store, n).await {
            Ok(()) => acknowledged.push(n),
            Err(err) => break err,
        }
    };
    assert!(
        matches!(refusal, StorageError::Unavailable(_)),
        "a full disk is a temporary unavailability: {refusal:?}"
    );
    assert!(acknowledged.len() > 100, "{}", acknowledged.len());

    // Reads while the disk is full answer the acknowledged state, or that the store is
    // unavailable; never an older state.
    for n in [0, acknowledged.len() - 1] {
        let id = format!("urn:ngsi-ld:Filler:{n:06}");
        match store.get(&Tenant::default(), &id).await {
            Ok(Some(_)) | Err(StorageError::Unavailable(_)) => {}
            other => panic!("{id} read while the disk is full: {other:?}"),
        }
    }

    std::fs::remove_file(&spare).expect("free space");
    let next = acknowledged.len();
    let started = Instant::now();
    loop {
        // The refused create may have been logged before the database failed: it is then
        // kept (an unknown outcome is answered as unavailable), and its retry conflicts.
        match try_create(&store, next).await {
            Ok(outcomes) => {
                assert!(
                    matches!(
                        outcomes[..],
                        [WriteOutcome::Applied { .. } | WriteOutcome::Conflict]
                    ),
                    "{outcomes:?}"
                );
                break;
            }
            Err(StorageError::Unavailable(_)) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("writes did not resume: {err:?}"),
        }
    }
    acknowledged.push(next);
    assert_eq!(
        store.health(),
        rigel_storage::BackendHealth::Ready,
        "readiness recovers with the writes"
    );
    for n in &acknowledged {
        let id = format!("urn:ngsi-ld:Filler:{n:06}");
        let got = store.get(&Tenant::default(), &id).await.expect("read");
        assert!(got.is_some(), "{id} was acknowledged and is gone");
    }

    store.close().await.expect("close");
    drop(store);
    let store = open(&disk.path.join("store"));
    for n in &acknowledged {
        let id = format!("urn:ngsi-ld:Filler:{n:06}");
        let got = store.get(&Tenant::default(), &id).await.expect("read");
        assert!(got.is_some(), "{id} was lost across a reopen");
    }
}
