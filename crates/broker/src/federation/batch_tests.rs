//! How a batch is split between registrations (clauses 5.6.7.4-5.6.10.4, 5.6.20.4): the
//! attribute rules per mode, what stays local, and the single-entity fallbacks.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use rigel_model::registration::parse::parse_registration;
use rigel_model::IdentityTerms;
use serde_json::json;

use super::*;

fn registration(id: &str, mode: &str, attributes: Option<&[&str]>) -> Registration {
    let mut info = json!({"entities": [{"type": "urn:t:Car"}]});
    if let Some(names) = attributes {
        info["propertyNames"] = json!(names);
    }
    let body = json!({
        "id": id,
        "type": "ContextSourceRegistration",
        "endpoint": "http://source.example.org",
        "information": [info],
        "mode": mode,
    });
    parse_registration(
        body.as_object().unwrap(),
        &IdentityTerms,
        chrono::Utc::now(),
        || id.to_owned(),
    )
    .expect("a valid registration")
}

fn names() -> Vec<(String, String)> {
    ["speed", "brand"]
        .iter()
        .map(|n| ((*n).to_owned(), format!("urn:a:{n}")))
        .collect()
}

/// Each registration's share of a one-entity batch, and what is left locally.
type Plan = (Vec<(String, Vec<String>)>, Vec<Option<Vec<String>>>);

fn plan(kind: BatchKind, regs: &[Registration]) -> Plan {
    let names = names();
    let types = ["urn:t:Car".to_owned()];
    let entries = [BatchEntry {
        id: "urn:car:1",
        types: &types,
        body: None,
        names: &names,
    }];
    let taken = taken_attributes(kind, &entries, regs);
    let shares = shares(kind, &entries, regs, &taken)
        .into_iter()
        .map(|s| (s.registration.id.clone(), s.entries[0].1.clone()))
        .collect();
    (shares, local_shares(kind, &entries, regs, &taken))
}

#[test]
fn an_exclusive_registration_takes_its_attributes_from_every_other_share() {
    let regs = [
        registration("urn:r:exc", "exclusive", Some(&["urn:a:speed"])),
        registration("urn:r:inc", "inclusive", None),
    ];
    let (shares, local) = plan(BatchKind::Create, &regs);
    assert_eq!(
        shares,
        [
            ("urn:r:exc".to_owned(), vec!["speed".to_owned()]),
            ("urn:r:inc".to_owned(), vec!["brand".to_owned()]),
        ]
    );
    assert_eq!(local, [Some(vec!["brand".to_owned()])]);
}

#[test]
fn redirect_registrations_share_their_attributes_only_with_each_other() {
    let regs = [
        registration("urn:r:red1", "redirect", None),
        registration("urn:r:red2", "redirect", None),
        registration("urn:r:inc", "inclusive", None),
    ];
    let (shares, local) = plan(
        BatchKind::Update {
            no_overwrite: false,
        },
        &regs,
    );
    let both = vec!["speed".to_owned(), "brand".to_owned()];
    assert_eq!(
        shares,
        [
            ("urn:r:red1".to_owned(), both.clone()),
            ("urn:r:red2".to_owned(), both),
        ],
        "the inclusive registration is left nothing"
    );
    assert_eq!(local, [None], "nothing is written locally");
    let (_, local) = plan(BatchKind::Delete, &regs);
    assert_eq!(local, [Some(Vec::new())], "a deletion is always local too");
}

#[test]
fn sources_without_the_batch_operation_get_the_single_entity_operation() {
    use rigel_model::registration::operations::expand;
    let ops = |names: &[&str]| expand(names);
    assert_eq!(
        fallback(
            BatchKind::Upsert { update: false },
            &ops(&["redirectionOps"])
        ),
        Some(Fallback::CreateThen(Some(WriteKind::ReplaceEntity)))
    );
    assert_eq!(
        fallback(BatchKind::Upsert { update: true }, &ops(&["updateOps"])),
        Some(Fallback::Each(WriteKind::Update))
    );
    assert_eq!(
        fallback(
            BatchKind::Update { no_overwrite: true },
            &ops(&["redirectionOps"])
        ),
        Some(Fallback::Each(WriteKind::Append { no_overwrite: true }))
    );
    assert_eq!(fallback(BatchKind::Merge, &ops(&["retrieveOps"])), None);
}
