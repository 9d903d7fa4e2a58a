//! Contract checks: notes of changes (`WriteOp::Note`) and, for a backend that keeps one,
//! the outbox they go to.

use super::*;
use crate::{Backend, ChangeEvent};

fn created(id: &str, entity: &Entity) -> WriteOp {
    WriteOp::Note {
        event: ChangeEvent {
            tenant: named("noted-changes"),
            id: id.to_owned(),
            previous: None,
            current: Some(Arc::new(entity.clone())),
            at: instant(),
            seq: None,
        },
    }
}

/// A note applies when the entity write before it applied and is a conflict otherwise; a
/// backend with an outbox keeps the notes that applied, under the number the outcome gave,
/// until they are done.
pub async fn a_note_follows_the_fate_of_the_write_before_it<S: EntityStore + Backend>(
    store: Arc<S>,
) {
    let tenant = named("noted-changes");
    let id = "urn:ngsi-ld:Room:noted";
    let entity = sample_entity(id, &[T_ROOM]);
    let ops = vec![
        put(entity.clone(), Expect::Absent),
        created(id, &entity),
        put(entity.clone(), Expect::Absent),
        created(id, &entity),
    ];
    let outcomes = store.commit(&tenant, ops).await.expect("commit");
    let [WriteOutcome::Applied { .. }, WriteOutcome::Applied { version: seq }, WriteOutcome::Conflict, WriteOutcome::Conflict] =
        outcomes[..]
    else {
        panic!("unexpected outcomes {outcomes:?}");
    };
    let Some(outbox) = store.outbox() else {
        return;
    };
    let pending = outbox.pending().await.expect("pending");
    let noted: Vec<_> = pending
        .iter()
        .filter(|e| e.tenant == tenant)
        .map(|e| (e.id.as_str(), e.seq, e.current.as_deref() == Some(&entity)))
        .collect();
    assert_eq!(noted, [(id, Some(seq), true)]);
    outbox.done(vec![seq]).await.expect("done");
    let left = outbox.pending().await.expect("pending");
    assert!(left.iter().all(|e| e.tenant != tenant), "{left:?}");
}
