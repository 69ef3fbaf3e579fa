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

/// What the stored bytes turned out to hold: read in one pass, the header checked
/// as soon as it is read, so a foreign or newer model is never decoded as ours.
enum Stored {
    Model(Model),
    Format(String),
    Version(u64),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Format,
    Version,
    Model,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StoredVisitor)
    }
}

struct StoredVisitor;

impl<'de> serde::de::Visitor<'de> for StoredVisitor {
    type Value = Stored;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a herd model object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Stored, A::Error> {
        use serde::de::{Error as _, IgnoredAny};
        let (mut format, mut version) = (false, false);
        let mut model: Option<Model> = None;
        // Written by this crate the header always comes first; a model read before
        // it is kept as plain JSON until the header says what it is.
        let mut early: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Format => {
                    let found: String = map.next_value()?;
                    if found != FORMAT {
                        return skip_rest(map, Stored::Format(found));
                    }
                    format = true;
                }
                Field::Version => {
                    let found: u64 = map.next_value()?;
                    if found != VERSION {
                        return skip_rest(map, Stored::Version(found));
                    }
                    version = true;
                }
                Field::Model if format && version => model = Some(map.next_value()?),
                Field::Model => early = Some(map.next_value()?),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !format {
            return Err(A::Error::missing_field("format"));
        }
        if !version {
            return Err(A::Error::missing_field("version"));
        }
        match (model, early) {
            (Some(model), _) => Ok(Stored::Model(model)),
            (None, Some(value)) => Model::deserialize(value)
                .map(Stored::Model)
                .map_err(A::Error::custom),
            (None, None) => Err(A::Error::missing_field("model")),
        }
    }
}

/// Reads the rest of the object unparsed, so the input is still checked to be JSON.
fn skip_rest<'de, A: serde::de::MapAccess<'de>>(
    mut map: A,
    stored: Stored,
) -> Result<Stored, A::Error> {
    while map
        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
        .is_some()
    {}
    Ok(stored)
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
        let model = match serde_json::from_slice(bytes)? {
            Stored::Model(model) => model,
            Stored::Format(found) => return Err(DecodeError::Format { found }),
            Stored::Version(found) => return Err(DecodeError::Version { found }),
        };
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
    fn fields_in_any_order_decode_the_same() {
        let model = train(&trending(300, 3.0, 5).history(), &TrainOptions::default())
            .unwrap()
            .model;
        let body = serde_json::to_string(&model).unwrap();
        let reordered =
            format!(r#"{{"model":{body},"note":[1,{{"x":2}}],"version":1,"format":"herd-model"}}"#);
        assert_eq!(Model::from_bytes(reordered.as_bytes()).unwrap(), model);

        let newer_after_model = format!(r#"{{"model":{body},"format":"herd-model","version":9}}"#);
        assert!(matches!(
            Model::from_bytes(newer_after_model.as_bytes()),
            Err(DecodeError::Version { found: 9 })
        ));
        let headerless = format!(r#"{{"model":{body}}}"#);
        let err = Model::from_bytes(headerless.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing field `format`"), "{err}");
        let truncated = br#"{"format":"onnx","version":1,"model":{"#;
        assert!(matches!(
            Model::from_bytes(truncated),
            Err(DecodeError::Json(_))
        ));
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
