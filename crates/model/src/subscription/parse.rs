//! Reading a Subscription (clause 5.2.12) or a subscription fragment (clause 5.8.2) from JSON.
