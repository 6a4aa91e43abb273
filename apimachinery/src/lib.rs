//! Kubernetes API machinery shared by every Ferrokube component, on plain JSON values.
//!
//! Entry points: [`labels::Selector::parse`] and [`labels::Selector::from_label_selector`] for
//! label selectors, [`fields::FieldSelector::parse`] for field selectors,
//! [`validation::validate_object_meta`] and the name checkers in [`validation`] (with
//! [`validation::FieldError`] and [`validation::aggregate_message`] for 422 messages), the
//! strategic merge patch in `patch`, server-side apply and `managedFields` in
//! [`apply::FieldManager`], and [`protobuf::decode`] for Kubernetes protobuf request
//! bodies.

pub mod apply;
pub mod extensions;
pub mod fields;
pub mod labels;
pub mod patch;
pub mod protobuf;
pub mod validation;
