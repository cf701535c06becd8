//! The README's scenario and invariant tables are the catalogue's rendering.

use cohort_simulator::{
    canaries::canary_table,
    scenarios::{invariant_table, scenario_table},
};

const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));

/// The text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (each on its own line).
fn section(name: &str) -> &'static str {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = README
        .find(&begin)
        .unwrap_or_else(|| panic!("README.md has no {begin:?} marker"))
        + begin.len();
    let stop = README[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("README.md has no {end:?} marker"));
    &README[start..start + stop]
}

#[test]
fn readme_scenario_table_is_the_catalogue() {
    assert_eq!(
        section("scenarios"),
        scenario_table(),
        "README.md's scenario table differs from the catalogue: paste `cohort-sim list --markdown` between its markers"
    );
}

#[test]
fn readme_invariant_table_is_the_catalogue() {
    assert_eq!(
        section("invariants"),
        invariant_table(),
        "README.md's invariant table differs from the catalogue: paste `cohort-sim list --invariants --markdown` between its markers"
    );
}

#[test]
fn readme_canary_table_is_the_catalogue() {
    assert_eq!(
        section("canaries"),
        canary_table(),
        "README.md's canary table differs from the catalogue: paste `cohort-sim list --canaries --markdown` between its markers"
    );
}
