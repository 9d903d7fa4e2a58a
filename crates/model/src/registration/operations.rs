//! The operation names and operation groups a registration offers (clause 4.20, Tables
//! 4.20-1 and 4.20-2).

use std::collections::BTreeSet;

macro_rules! operations {
    ($($variant:ident = $name:literal,)*) => {
        /// One operation of Table 4.20-1.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation {
            $($variant,)*
        }

        impl Operation {
            /// Every operation, in the table's order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)*];

            /// The operation's name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name,)*
                }
            }
        }
    };
}

operations! {
    CreateEntity = "createEntity",
    UpdateEntity = "updateEntity",
    AppendAttrs = "appendAttrs",
    UpdateAttrs = "updateAttrs",
    DeleteAttrs = "deleteAttrs",
    DeleteEntity = "deleteEntity",
    CreateBatch = "createBatch",
    UpsertBatch = "upsertBatch",
    UpdateBatch = "updateBatch",
    DeleteBatch = "deleteBatch",
    UpsertTemporal = "upsertTemporal",
    AppendAttrsTemporal = "appendAttrsTemporal",
    DeleteAttrsTemporal = "deleteAttrsTemporal",
    UpdateAttrInstanceTemporal = "updateAttrInstanceTemporal",
    DeleteAttrInstanceTemporal = "deleteAttrInstanceTemporal",
    DeleteTemporal = "deleteTemporal",
    MergeEntity = "mergeEntity",
    ReplaceEntity = "replaceEntity",
    ReplaceAttrs = "replaceAttrs",
    MergeBatch = "mergeBatch",
    PurgeEntity = "purgeEntity",
    RetrieveEntity = "retrieveEntity",
    QueryEntity = "queryEntity",
    QueryBatch = "queryBatch",
    RetrieveTemporal = "retrieveTemporal",
    QueryTemporal = "queryTemporal",
    RetrieveEntityTypes = "retrieveEntityTypes",
    RetrieveEntityTypeDetails = "retrieveEntityTypeDetails",
    RetrieveEntityTypeInfo = "retrieveEntityTypeInfo",
    RetrieveAttrTypes = "retrieveAttrTypes",
    RetrieveAttrTypeDetails = "retrieveAttrTypeDetails",
    RetrieveAttrTypeInfo = "retrieveAttrTypeInfo",
    CreateSubscription = "createSubscription",
    UpdateSubscription = "updateSubscription",
    RetrieveSubscription = "retrieveSubscription",
    QuerySubscription = "querySubscription",
    DeleteSubscription = "deleteSubscription",
    RetrieveEntityMap = "retrieveEntityMap",
    UpdateEntityMap = "updateEntityMap",
    DeleteEntityMap = "deleteEntityMap",
    CreateEntityMapQueryEntity = "createEntityMapQueryEntity",
    CreateEntityMapQueryTemporal = "createEntityMapQueryTemporal",
    RetrieveContextSourceIdentity = "retrieveContextSourceIdentity",
}

use Operation::*;

/// The types, entity types and attributes operations, shared by several groups.
const DISCOVERY: &[Operation] = &[
    RetrieveEntityTypes,
    RetrieveEntityTypeDetails,
    RetrieveEntityTypeInfo,
    RetrieveAttrTypes,
    RetrieveAttrTypeDetails,
    RetrieveAttrTypeInfo,
];

const SUBSCRIPTIONS: &[Operation] = &[
    CreateSubscription,
    UpdateSubscription,
    RetrieveSubscription,
    QuerySubscription,
    DeleteSubscription,
];

const ENTITY_MAPS: &[Operation] = &[
    RetrieveEntityMap,
    UpdateEntityMap,
    DeleteEntityMap,
    CreateEntityMapQueryEntity,
];

/// The operations of a group of Table 4.20-2, or `None` for a name that is not a group.
pub fn group(name: &str) -> Option<Vec<Operation>> {
    let parts: Vec<&[Operation]> = match name {
        "federationOps" => vec![
            &[RetrieveEntity, QueryEntity, QueryBatch],
            DISCOVERY,
            SUBSCRIPTIONS,
            ENTITY_MAPS,
            &[RetrieveContextSourceIdentity],
        ],
        "associationOps" => vec![
            &[RetrieveEntity, QueryEntity, QueryBatch],
            DISCOVERY,
            SUBSCRIPTIONS,
            &[RetrieveContextSourceIdentity],
        ],
        "updateOps" => vec![&[UpdateEntity, UpdateAttrs, ReplaceEntity, ReplaceAttrs]],
        "retrieveOps" => vec![&[RetrieveEntity, QueryEntity]],
        "redirectionOps" => vec![
            &[
                CreateEntity,
                UpdateEntity,
                AppendAttrs,
                UpdateAttrs,
                DeleteAttrs,
                DeleteEntity,
                MergeEntity,
                ReplaceEntity,
                ReplaceAttrs,
                RetrieveEntity,
                QueryEntity,
                PurgeEntity,
            ],
            DISCOVERY,
            ENTITY_MAPS,
            &[RetrieveContextSourceIdentity],
        ],
        _ => return None,
    };
    Some(parts.concat())
}

/// The operation of this name, or `None`.
pub fn operation(name: &str) -> Option<Operation> {
    Operation::ALL.iter().copied().find(|op| op.name() == name)
}

/// Whether `name` is an operation or a group name.
pub fn is_known(name: &str) -> bool {
    operation(name).is_some() || group(name).is_some()
}

/// The operations of a list of operation and group names (unknown names are left out:
/// parsing refuses them).
pub fn expand(names: &[impl AsRef<str>]) -> BTreeSet<Operation> {
    let mut out = BTreeSet::new();
    for name in names {
        let name = name.as_ref();
        match operation(name) {
            Some(op) => {
                out.insert(op);
            }
            None => out.extend(group(name).unwrap_or_default()),
        }
    }
    out
}
