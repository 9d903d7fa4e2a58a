//! The value index: answers are the same with it, without it and past its budget; a
//! selective query reads only its candidates; the index is built at open for a store that
//! was written without it, and dropped when it is turned off.

use super::*;
use rigel_query::{EntityQuery, EntitySelector, QExpr, QOptions, TypeExpr};
use rigel_storage::{Selection, Versioned};

fn store_with(dir: &Path, options: EmbeddedOptions) -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::open_with(dir, options).expect("open store"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_the_same_without_the_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::default();
    options.value_index = false;
    testkit::queries_answer_what_evaluating_every_entity_answers(store_with(dir.path(), options))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_the_same_when_the_index_reads_past_its_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::default();
    options.index_budget = 8;
    testkit::queries_answer_what_evaluating_every_entity_answers(store_with(dir.path(), options))
        .await;
}

fn relationship(object: &str) -> rigel_model::Attribute {
    rigel_model::Attribute::new(rigel_model::AttributeValue::Relationship {
        object: serde_json::json!(object),
        object_type: None,
    })
}

const SENSOR: &str = "urn:type:Sensor";
const ROOM: &str = "urn:attr:room";
const LEVEL: &str = "urn:attr:level";

/// The tests' @context: `Sensor`, `room` and `level`.
struct Terms;

impl rigel_model::TermMap for Terms {
    fn expand<'a>(&'a self, term: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(match term {
            "room" => ROOM,
            "level" => LEVEL,
            "Sensor" => SENSOR,
            other => other,
        })
    }

    fn compact<'a>(&'a self, iri: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(iri)
    }
}

/// The GeoProperty the sensors are placed with.
const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";

/// `n` sensors, sensor `i` in room `i % 100`, placed about 7 m apart eastwards from
/// (2.35, 48.85) in id order.
async fn seed_sensors(store: &EmbeddedStore, n: usize) {
    seed_sensors_in(store, 0..n).await;
}

/// The sensors of `ids`, as [`seed_sensors`] places them, in one batch.
async fn seed_sensors_in(store: &EmbeddedStore, ids: std::ops::Range<usize>) {
    let ops = ids
        .map(|i| {
            let mut e = sample_entity(&format!("urn:sensor:{i:05}"), &[SENSOR]);
            let room = relationship(&format!("urn:room:{}", i % 100));
            e.attributes.insert(ROOM.into(), vec![room]);
            let point = serde_json::json!({"type": "Point", "coordinates": [2.35 + i as f64 * 1e-4, 48.85]});
            e.attributes.insert(
                LOCATION.into(),
                vec![rigel_model::Attribute::new(
                    rigel_model::AttributeValue::GeoProperty(point),
                )],
            );
            WriteOp::Put {
                entity: e,
                expect: Expect::Absent,
            }
        })
        .collect();
    store
        .commit(&Tenant::default_tenant(), ops)
        .await
        .expect("commit");
}

/// The sensors of room 7, and how many entities the store decoded or took from its cache
/// to answer.
async fn room_seven(store: &EmbeddedStore) -> (Vec<String>, u64) {
    let query = EntityQuery {
        selectors: vec![EntitySelector {
            types: Some(TypeExpr::parse("Sensor", &Terms).expect("type")),
            ..EntitySelector::default()
        }],
        q: Some(QExpr::parse("room==urn:room:7", &Terms, &QOptions::default()).expect("q")),
        ..EntityQuery::default()
    };
    let before = store.counters();
    let selected = store
        .select(
            &Tenant::default_tenant(),
            Selection::new(Arc::new(query), 1000),
        )
        .await
        .expect("select");
    let after = store.counters();
    let examined =
        (after.cache_hits + after.cache_misses) - (before.cache_hits + before.cache_misses);
    let ids = selected
        .entities
        .into_iter()
        .map(|v: Versioned<Arc<rigel_model::Entity>>| v.value.id.clone())
        .collect();
    (ids, examined)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_query_examines_only_the_entities_the_index_finds() {
    let (store, _dir) = fresh_store();
    seed_sensors(&store, 2000).await;
    let (ids, examined) = room_seven(&store).await;
    assert_eq!(ids.len(), 20);
    assert_eq!(
        examined, 20,
        "the index should lead straight to the 20 sensors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_built_at_open_and_dropped_when_turned_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut off = EmbeddedOptions::default();
    off.value_index = false;
    let store = store_with(dir.path(), off.clone());
    seed_sensors(&store, 500).await;
    let (ids_without, examined) = room_seven(&store).await;
    assert_eq!(examined, 500, "without the index every sensor is examined");
    store.close().await.expect("close");
    drop(store);

    // Turned on: built from what is stored, then maintained.
    let store = store_with(dir.path(), EmbeddedOptions::default());
    let (ids, examined) = room_seven(&store).await;
    assert_eq!(ids, ids_without);
    assert_eq!(examined, 5);
    store
        .commit(
            &Tenant::default_tenant(),
            vec![WriteOp::Delete {
                id: "urn:sensor:00007".into(),
                expect: Expect::Any,
            }],
        )
        .await
        .expect("delete");
    store.close().await.expect("close");
    drop(store);

    // Off, written to, on again: rebuilt, so the write made while it was off is seen.
    let store = store_with(dir.path(), off);
    seed_more(&store).await;
    store.close().await.expect("close");
    drop(store);
    let store = store_with(dir.path(), EmbeddedOptions::default());
    let (ids, _) = room_seven(&store).await;
    assert!(!ids.contains(&"urn:sensor:00007".to_owned()));
    assert!(ids.contains(&"urn:sensor:99999".to_owned()), "{ids:?}");
}

/// A sensor in room 7 written while the index is off.
async fn seed_more(store: &EmbeddedStore) {
    put_sensor(store, "urn:sensor:99999", 7, Expect::Absent).await;
}

/// Writes sensor `id` in `room`.
async fn put_sensor(store: &EmbeddedStore, id: &str, room: usize, expect: Expect) {
    let mut e = sample_entity(id, &[SENSOR]);
    e.attributes
        .insert(ROOM.into(), vec![relationship(&format!("urn:room:{room}"))]);
    store
        .commit(
            &Tenant::default_tenant(),
            vec![WriteOp::Put { entity: e, expect }],
        )
        .await
        .expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_page_of_an_order_on_a_number_reads_only_that_page() {
    let (store, _dir) = fresh_store();
    let level = LEVEL;
    let ops = (0..2000)
        .map(|i| {
            let mut e = sample_entity(&format!("urn:sensor:{i:05}"), &[SENSOR]);
            let value = rigel_model::AttributeValue::Property(serde_json::json!((i * 37) % 2000));
            e.attributes
                .insert(level.into(), vec![rigel_model::Attribute::new(value)]);
            WriteOp::Put {
                entity: e,
                expect: Expect::Absent,
            }
        })
        .collect();
    store
        .commit(&Tenant::default_tenant(), ops)
        .await
        .expect("commit");
    let query = EntityQuery {
        selectors: vec![EntitySelector {
            types: Some(TypeExpr::parse("Sensor", &Terms).expect("type")),
            ..EntitySelector::default()
        }],
        ..EntityQuery::default()
    };
    let order = rigel_query::OrderBy::parse("level", &Terms).expect("orderBy");
    let before = store.counters();
    let selected = store
        .select(
            &Tenant::default_tenant(),
            Selection {
                order: Some(Arc::new(order)),
                offset: 2,
                ..Selection::new(Arc::new(query), 3)
            },
        )
        .await
        .expect("select");
    let after = store.counters();
    let examined =
        (after.cache_hits + after.cache_misses) - (before.cache_hits + before.cache_misses);
    let levels: Vec<_> = selected
        .entities
        .iter()
        .map(|v| v.value.attributes[level][0].value.clone())
        .collect();
    let expected: Vec<_> = [2, 3, 4]
        .map(|x| rigel_model::AttributeValue::Property(serde_json::json!(x)))
        .to_vec();
    assert_eq!(levels, expected);
    assert!(
        examined <= 6,
        "examined {examined} entities for a page of 3 after 2"
    );
}

/// A value index of the first layout (without tile rows) is rebuilt at open: a geospatial
/// page read from the tiles then finds what the index held before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_the_first_layout_is_rebuilt_with_its_tile_rows() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with(dir.path(), EmbeddedOptions::default());
    seed_sensors(&store, 50).await;
    store.close().await.expect("close");
    drop(store);

    // What a build of the first layout left: no tile rows, and the index marked 1.
    {
        let db = redb::Database::open(dir.path().join(EmbeddedStore::FILE_NAME)).expect("file");
        let values: TableDefinition<&[u8], ()> = TableDefinition::new("values");
        let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
        let txn = db.begin_write().expect("write");
        {
            let mut table = txn.open_table(values).expect("values");
            let tile_rows = table
                .iter()
                .expect("iter")
                .filter(|row| is_tile_row(row.as_ref().expect("row").0.value()))
                .count();
            assert_eq!(tile_rows, 50, "one tile row per location");
            table.retain(|key, ()| !is_tile_row(key)).expect("retain");
            txn.open_table(meta)
                .expect("meta")
                .insert("value_index", 1)
                .expect("mark");
        }
        txn.commit().expect("commit");
        let read = db.begin_read().expect("read");
        let left = read.open_table(values).expect("values");
        assert!(left
            .iter()
            .expect("iter")
            .all(|row| !is_tile_row(row.expect("row").0.value())));
    }

    let store = store_with(dir.path(), EmbeddedOptions::default());
    let query = EntityQuery {
        selectors: vec![EntitySelector {
            types: Some(TypeExpr::parse("Sensor", &Terms).expect("type")),
            ..EntitySelector::default()
        }],
        geo: Some(
            rigel_query::GeoQuery::parse(
                "near;maxDistance==1000",
                "Point",
                "[2.35,48.85]",
                LOCATION,
            )
            .expect("geoQ"),
        ),
        ..EntityQuery::default()
    };
    let selected = store
        .select(
            &Tenant::default_tenant(),
            Selection::new(Arc::new(query), 20),
        )
        .await
        .expect("select");
    let ids: Vec<String> = selected
        .entities
        .iter()
        .map(|v| v.value.id.clone())
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("urn:sensor:{i:05}")).collect();
    assert_eq!(ids, want);
}

/// Whether a `values` key is a tile row: its kind tag, after the tenant (the default
/// tenant's empty component) and the two 8-byte hashes, is `t`.
fn is_tile_row(key: &[u8]) -> bool {
    key.get(1 + 16) == Some(&b't')
}

/// Moves sensor `i` to `room`.
async fn move_sensor(store: &EmbeddedStore, i: usize, room: usize) {
    put_sensor(store, &format!("urn:sensor:{i:05}"), room, Expect::Any).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_between_checkpoints_are_read_from_memory_and_kept_by_the_checkpoint() {
    rows_between_checkpoints(usize::MAX).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_each_batch_moves_from_memory_to_the_table_are_read_the_same() {
    rows_between_checkpoints(0).await;
}

/// Writes, moves and reads sensors with no checkpoint until the close, keeping at most
/// `memory_rows` index rows in memory (0: every batch writes its oldest into the table).
async fn rows_between_checkpoints(memory_rows: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::default();
    options.checkpoint_interval = Duration::from_secs(3600);
    options.index_memory_rows = memory_rows;
    let store = store_with(dir.path(), options);
    for chunk in 0..4 {
        seed_sensors_in(&store, chunk * 100..chunk * 100 + 100).await;
    }
    let expected = [
        "urn:sensor:00007",
        "urn:sensor:00107",
        "urn:sensor:00207",
        "urn:sensor:00307",
    ];
    let (ids, examined) = room_seven(&store).await;
    assert_eq!(ids, expected);
    assert_eq!(
        examined, 4,
        "the rows in memory lead straight to the sensors"
    );

    // A move out removes a row, a move in adds one, in later batches.
    move_sensor(&store, 107, 8).await;
    move_sensor(&store, 8, 7).await;
    let (ids, examined) = room_seven(&store).await;
    assert_eq!(
        ids,
        [
            "urn:sensor:00007",
            "urn:sensor:00008",
            "urn:sensor:00207",
            "urn:sensor:00307"
        ]
    );
    assert_eq!(examined, 4);

    // The close checkpoints the rows into the table; reopened, the same answer.
    store.close().await.expect("close");
    drop(store);
    let store = store_with(dir.path(), EmbeddedOptions::default());
    let (reopened, examined) = room_seven(&store).await;
    assert_eq!(reopened, ids);
    assert_eq!(examined, 4);
    // A checkpoint in the middle of writes (every batch, here) leaves them in the table.
    store.close().await.expect("close");
    drop(store);
    let mut options = EmbeddedOptions::default();
    options.checkpoint_interval = Duration::ZERO;
    let store = store_with(dir.path(), options);
    move_sensor(&store, 207, 9).await;
    let (ids, examined) = room_seven(&store).await;
    assert_eq!(
        ids,
        ["urn:sensor:00007", "urn:sensor:00008", "urn:sensor:00307"]
    );
    assert_eq!(examined, 3);
}

/// The entities of type `type_iri` in `tenant` whose `level` is `level`, and how many
/// entities the store examined to answer.
pub(super) async fn with_level(
    store: &EmbeddedStore,
    tenant: &Tenant,
    type_iri: &str,
    level: f64,
) -> (Vec<String>, u64) {
    let query = EntityQuery {
        selectors: vec![EntitySelector {
            types: Some(TypeExpr::parse(type_iri, &Terms).expect("type")),
            ..EntitySelector::default()
        }],
        q: Some(QExpr::parse(&format!("level=={level}"), &Terms, &QOptions::default()).expect("q")),
        ..EntityQuery::default()
    };
    let before = store.counters();
    let selected = store
        .select(tenant, Selection::new(Arc::new(query), 100))
        .await
        .expect("select");
    let after = store.counters();
    let ids = selected
        .entities
        .into_iter()
        .map(|v| v.value.id.clone())
        .collect();
    (
        ids,
        (after.cache_hits + after.cache_misses) - (before.cache_hits + before.cache_misses),
    )
}

/// An entity of `types` with `level` set.
pub(super) fn with_level_set(id: &str, types: &[&str], level: f64) -> rigel_model::Entity {
    let mut e = sample_entity(id, types);
    e.attributes.insert(
        LEVEL.into(),
        vec![rigel_model::Attribute::new(
            rigel_model::AttributeValue::Property(serde_json::json!(level)),
        )],
    );
    e
}
