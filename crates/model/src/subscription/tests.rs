//! Tests of subscription parsing and rendering.
