//! Writing a Subscription as NGSI-LD JSON (clause 5.2.12), compacted with a @context.
