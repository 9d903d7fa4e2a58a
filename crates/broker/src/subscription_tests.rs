//! Tests of the subscription use cases and change reporting.
