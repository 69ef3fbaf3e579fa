//! The stored form of a [`Model`]: small, versioned JSON,
//! `{"format":"herd-model","version":1,"model":{…}}`. The header is read first, so a
//! model from a newer build fails with its version rather than a confusing field error.

use serde::{Deserialize, Serialize};

use crate::model::Model;

const FORMAT: &str = "herd-model";
const VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("model bytes are not valid JSON for a herd model: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a herd model: format is {found:?}, expected \"herd-model\"")]
    Format { found: String },
    #[error("unsupported herd model version {found}: this build reads version {VERSION}")]
    Version { found: u64 },
    #[error("invalid herd model: {0}")]
    Invalid(String),
}

#[derive(Serialize)]
struct Envelope<'a> {
    format: &'static str,
    version: u64,
    model: &'a Model,
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u64,
}

#[derive(Deserialize)]
struct Body {
    model: Model,
}

impl Model {
    pub fn to_bytes(&self) -> Vec<u8> {
        let envelope = Envelope {
            format: FORMAT,
            version: VERSION,
            model: self,
        };
        // Cannot fail: plain structs, no maps with non-string keys, no custom
        // serializers. An empty result would still decode to a clear error.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, DecodeError> {
        let header: Header = serde_json::from_slice(bytes)?;
        if header.format != FORMAT {
            return Err(DecodeError::Format {
                found: header.format,
            });
        }
        if header.version != VERSION {
            return Err(DecodeError::Version {
                found: header.version,
            });
        }
        let Body { model } = serde_json::from_slice(bytes)?;
        model.check().map_err(DecodeError::Invalid)?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::ModelKind;
    use crate::options::TrainOptions;
    use crate::testdata::trending;
    use crate::train::train;

    #[test]
    fn every_kind_round_trips_bit_for_bit() {
        let data = trending(300, 3.0, 11);
        for kind in ModelKind::CANDIDATES {
            let options = TrainOptions {
                candidates: vec![kind],
                ..TrainOptions::default()
            };
            let model = train(&data.history(), &options).unwrap().model;
            assert_eq!(model.kind(), kind);
            let bytes = model.to_bytes();
            assert!(bytes.starts_with(br#"{"format":"herd-model","version":1,"#));
            let back = Model::from_bytes(&bytes).unwrap();
            assert_eq!(back, model);
            assert_eq!(back.forecast(40, None), model.forecast(40, None));
        }
    }

    #[test]
    fn foreign_bytes_are_clear_errors() {
        let model = train(&trending(300, 3.0, 1).history(), &TrainOptions::default())
            .unwrap()
            .model;
        let text = String::from_utf8(model.to_bytes()).unwrap();

        let newer = text.replacen("\"version\":1", "\"version\":2", 1);
        let err = Model::from_bytes(newer.as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::Version { found: 2 }));
        assert_eq!(
            err.to_string(),
            "unsupported herd model version 2: this build reads version 1"
        );

        let other = text.replacen("herd-model", "onnx", 1);
        assert!(matches!(
            Model::from_bytes(other.as_bytes()),
            Err(DecodeError::Format { .. })
        ));
        assert!(matches!(
            Model::from_bytes(b"{not json"),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(Model::from_bytes(b""), Err(DecodeError::Json(_))));

        let broken = text.replacen("\"last_price\":2.0", "\"last_price\":-1.0", 1);
        assert_ne!(broken, text);
        let err = Model::from_bytes(broken.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("last_price"), "{err}");
    }
}
