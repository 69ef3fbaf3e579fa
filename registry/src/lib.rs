//! The candidate and production model registries.
//!
//! Will hold model artifacts under a sanitized, hashed path per key and version, the
//! lookup of models by their tags, the promotion rule, and the scorer's model cache.
