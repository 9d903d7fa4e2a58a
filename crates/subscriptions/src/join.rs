//! Linked entity retrieval in notifications (clause 4.5.23, `notification.join`): the
//! entities a notified entity's relationships point at, read from the local store, inline
//! under each relationship or appended to the notification's data.

use std::collections::HashSet;

use rigel_model::codec::linked::{attach_linked, relationship_targets};
use rigel_model::codec::render::Projection;
use rigel_model::subscription::Join;
use rigel_model::{Entity, Tenant};
use rigel_storage::EntityStore;
use serde_json::{Map, Value};

use crate::notification::NotificationBuilder;

/// Deepest join followed.
const MAX_JOIN_LEVEL: u32 = 16;

/// Where linked entities come from and how they are rendered.
pub struct Linked<'a> {
    pub store: &'a dyn EntityStore,
    pub tenant: &'a Tenant,
    pub builder: &'a NotificationBuilder<'a>,
}

impl Linked<'_> {
    /// The rendered `root` with its linked entities: one object (inline), or the root
    /// followed by the linked entities not in `seen` yet (flat).
    pub async fn with_linked(
        &self,
        root: &Entity,
        rendered: Map<String, Value>,
        join: Join,
        level: u32,
        seen: &mut HashSet<String>,
    ) -> Vec<Map<String, Value>> {
        let level = level.clamp(1, MAX_JOIN_LEVEL);
        seen.insert(root.id.clone());
        match join {
            Join::Flat => {
                let mut out = vec![rendered];
                let mut frontier = vec![root.clone()];
                for _ in 0..level {
                    let mut next = Vec::new();
                    for entity in &frontier {
                        for link in relationship_targets(entity, self.builder.projection()) {
                            for linked in self.fetch(&link.targets, seen).await {
                                out.push(self.builder.render_linked(&linked));
                                next.push(linked);
                            }
                        }
                    }
                    frontier = next;
                }
                out
            }
            Join::Inline => {
                let mut body = rendered;
                let projection = self.builder.projection().clone();
                self.inline(root, &mut body, &projection, level, seen).await;
                vec![body]
            }
        }
    }

    /// Attaches the linked entities of `entity` into its rendering `body`, `level` hops deep
    /// (recursion bounded by [`MAX_JOIN_LEVEL`]).
    async fn inline(
        &self,
        entity: &Entity,
        body: &mut Map<String, Value>,
        projection: &Projection,
        level: u32,
        seen: &mut HashSet<String>,
    ) {
        for link in relationship_targets(entity, projection) {
            let mut rendered = Vec::new();
            for linked in self.fetch(&link.targets, seen).await {
                let mut linked_body = self.builder.render_linked(&linked);
                if level > 1 {
                    Box::pin(self.inline(
                        &linked,
                        &mut linked_body,
                        &Projection::default(),
                        level - 1,
                        seen,
                    ))
                    .await;
                }
                rendered.push(Value::Object(linked_body));
            }
            let key = self.builder.compact(&link.name);
            attach_linked(
                body,
                &key,
                link.index,
                rendered,
                link.is_list,
                self.builder.format(),
            );
        }
    }

    /// The locally stored entities among `ids` not seen yet (marked seen).
    async fn fetch(&self, ids: &[String], seen: &mut HashSet<String>) -> Vec<Entity> {
        let wanted: Vec<String> = ids
            .iter()
            .filter(|id| !seen.contains(*id))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        match self.store.get_many(self.tenant, &wanted).await {
            Ok(found) => found
                .into_iter()
                .flatten()
                .map(|v| v.value)
                .filter(|e| seen.insert(e.id.clone()))
                .collect(),
            Err(e) => {
                tracing::warn!("reading linked entities for a notification failed: {e}");
                Vec::new()
            }
        }
    }
}
