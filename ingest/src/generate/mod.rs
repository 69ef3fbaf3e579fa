//! Synthetic sales.
