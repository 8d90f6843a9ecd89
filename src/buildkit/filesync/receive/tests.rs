use super::*;

#[test]
fn order_validator_table() {
    let mut v = OrderValidator::default();
    assert!(v.check("a", true).is_ok());
    assert!(v.check("a/b", false).is_ok());
    assert!(v.check("a-b", false).is_ok());
    assert!(v.check("a.c", true).is_ok());
    assert!(v.check("link", false).is_ok());
    assert!(v.check("a/c", false).is_err()); // a's subtree is closed
    let mut v = OrderValidator::default();
    assert!(v.check("b", false).is_ok());
    assert!(v.check("a", false).is_err());
    assert!(v.check("b", false).is_err()); // duplicate
    for bad in [
        "../x",
        "/etc/passwd",
        "a/../b",
        "./a",
        "a//b",
        "",
        ".",
        "x/..",
    ] {
        assert!(
            OrderValidator::default().check(bad, false).is_err(),
            "{bad}"
        );
    }
    let mut v = OrderValidator::default();
    assert!(v.check("link", false).is_ok()); // a symlink, not a dir
    assert!(v.check("link/x", false).is_err());
    assert!(OrderValidator::default().check("missing/x", false).is_err());
}
