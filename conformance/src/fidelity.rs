//! The fidelity loop: what a target answered on each decided point of FIDELITY.md, and the
//! `[fidelity]` lines of `u21-mock`'s configuration that make the fake answer the same. Run
//! once against a sandbox (`--only decided --record fidelity.json`), it tunes a fake to it.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// What the target answered on one decided point.
#[derive(Clone, Debug, PartialEq)]
pub struct Settlement {
    /// The `[fidelity]` switch that decides the point.
    pub switch: &'static str,
    /// The switch's value under which the fake answers as the target did.
    pub value: Value,
    /// The fake's default for it.
    pub default: Value,
    /// What the target answered, in a few words.
    pub answered: String,
    /// The scenario that settled it.
    pub scenario: String,
}

/// The settlements of a run, as its scenarios make them.
#[derive(Default)]
pub struct Settlements(parking_lot::Mutex<Vec<Settlement>>);

impl Settlements {
    /// Notes one; a point settled twice keeps its last answer.
    pub(crate) fn note(&self, settlement: Settlement) {
        let mut all = self.0.lock();
        all.retain(|s| s.switch != settlement.switch);
        all.push(settlement);
    }

    /// Every point settled, in the order they were.
    pub fn all(&self) -> Vec<Settlement> {
        self.0.lock().clone()
    }
}

/// The fake's default for `switch`, or `None` for a name `u21-mock` has no switch for.
pub fn default_of(switch: &str) -> Option<Value> {
    let defaults = serde_json::to_value(u21_mock::Fidelity::default())
        .expect("the fidelity switches serialise");
    defaults.get(switch).cloned()
}

/// The `[fidelity]` section that makes a fake answer as the target did: every settled switch,
/// those that differ from the fake's default marked so.
pub fn fidelity_section(target: &str, settled: &[Settlement]) -> String {
    let mut out =
        format!("[fidelity]   # the decided points as {target} answered them (u21-conformance)\n");
    for s in settled {
        let line = format!("{} = {}", s.switch, s.value);
        if s.value == s.default {
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(
                out,
                "{line:<44} # the fake's default is {}: {}",
                s.default, s.answered
            );
        }
    }
    out
}

/// What `--record` writes: the points, and the section that tunes a fake to them.
pub fn record(target: &str, settled: &[Settlement]) -> Value {
    json!({
        "target": target,
        "points": settled.iter().map(|s| json!({
            "switch": s.switch,
            "value": s.value,
            "default": s.default,
            "answered": s.answered,
            "scenario": s.scenario,
        })).collect::<Vec<_>>(),
        "fidelity": fidelity_section(target, settled),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(switch: &'static str, value: Value) -> Settlement {
        Settlement {
            switch,
            default: default_of(switch).unwrap(),
            value,
            answered: "answered so".into(),
            scenario: "s".into(),
        }
    }

    #[test]
    fn the_section_parses_as_the_fakes_configuration_and_sets_what_was_answered() {
        let section = fidelity_section(
            "the sandbox",
            &[
                settled("list_offset", json!("record")),
                settled("list_newest_first", json!(true)),
                settled("non_json_body_status", json!(415)),
            ],
        );
        assert!(section.contains("# the fake's default is \"page\": answered so"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u21.toml");
        std::fs::write(&path, &section).unwrap();
        let config = u21_mock::Config::from_file(&path).unwrap();
        assert_eq!(config.fidelity.list_offset, u21_mock::OffsetUnit::Record);
        assert_eq!(config.fidelity.non_json_body_status, 415);
        assert!(config.fidelity.list_newest_first);
    }

    #[test]
    fn a_point_settled_twice_keeps_its_last_answer() {
        let all = Settlements::default();
        all.note(settled("list_offset", json!("record")));
        all.note(settled("list_offset", json!("page")));
        assert_eq!(all.all(), [settled("list_offset", json!("page"))]);
    }

    #[test]
    fn only_the_fakes_switches_have_defaults() {
        assert_eq!(default_of("list_offset"), Some(json!("page")));
        assert_eq!(default_of("no_such_switch"), None);
    }
}
