//! JSON has no NaN or infinities, but Prometheus samples do (staleness markers are NaN).
//! Finite values travel as numbers; the others as the strings Prometheus' own JSON API
//! uses: "NaN", "+Inf", "-Inf".

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The JSON shape of such a value (for the schema).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FloatValue {
    Number(f64),
    /// "NaN", "+Inf" or "-Inf".
    Special(String),
}

pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        s.serialize_f64(*v)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match FloatValue::deserialize(d)? {
        FloatValue::Number(n) => Ok(n),
        FloatValue::Special(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| serde::de::Error::custom(format!("not a sample value: {other:?}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct V(#[serde(with = "super")] f64);

    #[test]
    fn non_finite_values_round_trip() {
        for (v, json) in [(1.5, "1.5"), (f64::INFINITY, "\"+Inf\""), (f64::NEG_INFINITY, "\"-Inf\"")] {
            assert_eq!(serde_json::to_string(&V(v)).expect("ser"), json);
            assert_eq!(serde_json::from_str::<V>(json).expect("de").0, v);
        }
        let nan = serde_json::to_string(&V(f64::NAN)).expect("ser");
        assert_eq!(nan, "\"NaN\"");
        assert!(serde_json::from_str::<V>(&nan).expect("de").0.is_nan());
    }
}
