"""The rule check of the spec, as a table."""

from __future__ import annotations

import pytest

from micro import errors
from micro.auth import DEFAULT_RULE, Access, Account, Resource, Rule, parse_resource, verify

STORE_READ = Resource("service", "store", "Store.Read")
WEB = Resource("web", "site", "/a/b/c")
USER = Account("alice", issuer="micro", scopes=["user"])
ADMIN = Account("root", issuer="micro", scopes=["admin"])
FOREIGN = Account("bob", issuer="other", scopes=["admin"])


def rule(id: str, scope: str, res: str = "*:*:*", access: Access = Access.GRANTED, priority: int = 0) -> Rule:
    return Rule(id, scope, parse_resource(res), access, priority)


ALLOWED = "allowed"
# (case, rules, account, resource, namespace, expected)
CASES = [
    ("no rules, anonymous", [], None, STORE_READ, "micro", errors.Unauthorized),
    ("no rules, account", [], USER, STORE_READ, "micro", errors.Forbidden),
    ("public catch-all, anonymous", [DEFAULT_RULE], None, STORE_READ, "micro", ALLOWED),
    ("public catch-all, foreign account", [DEFAULT_RULE], FOREIGN, STORE_READ, "micro", ALLOWED),
    ("* needs an account", [rule("r", "*")], None, STORE_READ, "micro", errors.Unauthorized),
    ("* grants any account", [rule("r", "*")], USER, STORE_READ, "micro", ALLOWED),
    (
        "wrong service name",
        [rule("r", "", "service:registry:*")],
        None,
        STORE_READ,
        "micro",
        errors.Unauthorized,
    ),
    ("exact endpoint", [rule("r", "", "service:store:Store.Read")], None, STORE_READ, "micro", ALLOWED),
    (
        "other endpoint",
        [rule("r", "", "service:store:Store.Write")],
        None,
        STORE_READ,
        "micro",
        errors.Unauthorized,
    ),
    ("type mismatch", [rule("r", "", "web:store:*")], None, STORE_READ, "micro", errors.Unauthorized),
    ("named scope held", [rule("r", "admin")], ADMIN, STORE_READ, "micro", ALLOWED),
    ("named scope missing", [rule("r", "admin")], USER, STORE_READ, "micro", errors.Forbidden),
    ("named scope, anonymous", [rule("r", "admin")], None, STORE_READ, "micro", errors.Unauthorized),
    ("public deny", [rule("r", "", access=Access.DENIED)], USER, STORE_READ, "micro", errors.Forbidden),
    (
        "public deny, anonymous",
        [rule("r", "", access=Access.DENIED)],
        None,
        STORE_READ,
        "micro",
        errors.Unauthorized,
    ),
    (
        "* deny",
        [rule("r", "*", access=Access.DENIED), DEFAULT_RULE],
        USER,
        STORE_READ,
        "micro",
        errors.Forbidden,
    ),
    (
        "higher priority deny wins",
        [rule("grant", "*", priority=1), rule("deny", "*", access=Access.DENIED, priority=2)],
        USER,
        STORE_READ,
        "micro",
        errors.Forbidden,
    ),
    (
        "higher priority grant wins",
        [rule("grant", "*", priority=2), rule("deny", "*", access=Access.DENIED, priority=1)],
        USER,
        STORE_READ,
        "micro",
        ALLOWED,
    ),
    (
        "skipped scope falls through to a lower rule",
        [rule("admins", "admin", access=Access.DENIED, priority=5), rule("all", "*")],
        USER,
        STORE_READ,
        "micro",
        ALLOWED,
    ),
    ("web path wildcard", [rule("r", "", "web:site:/a/*")], None, WEB, "micro", ALLOWED),
    ("web deeper wildcard", [rule("r", "", "web:site:/a/b/*")], None, WEB, "micro", ALLOWED),
    ("web other path", [rule("r", "", "web:site:/x/*")], None, WEB, "micro", errors.Unauthorized),
    (
        "wildcard is not a prefix match",
        [rule("r", "", "web:site:/a/b")],
        None,
        WEB,
        "micro",
        errors.Unauthorized,
    ),
    ("foreign account under *", [rule("r", "*")], FOREIGN, STORE_READ, "micro", errors.Forbidden),
    ("foreign account under +", [rule("r", "+")], FOREIGN, STORE_READ, "micro", ALLOWED),
    ("foreign account, named scope", [rule("r", "admin")], FOREIGN, STORE_READ, "micro", errors.Forbidden),
    ("+ needs an account", [rule("r", "+")], None, STORE_READ, "micro", errors.Unauthorized),
    ("own namespace elsewhere", [rule("r", "*")], FOREIGN, STORE_READ, "other", ALLOWED),
]


@pytest.mark.parametrize(
    ("rules", "account", "resource", "namespace", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verify(
    rules: list[Rule], account: Account | None, resource: Resource, namespace: str, expected: object
) -> None:
    if expected == ALLOWED:
        verify(rules, account, resource, namespace=namespace)
        return
    assert isinstance(expected, type)
    with pytest.raises(expected):
        verify(rules, account, resource, namespace=namespace)


def test_error_details_name_the_endpoint_and_account() -> None:
    with pytest.raises(errors.Unauthorized, match=r"^Unauthorized call made to store:Store.Read$"):
        verify([], None, STORE_READ)
    with pytest.raises(errors.Forbidden, match=r"^Forbidden call made to store:Store.Read by alice$"):
        verify([], USER, STORE_READ)


@pytest.mark.parametrize("text", ["foo", "a:b", "a::c", ":b:c", ""])
def test_bad_resource_is_refused(text: str) -> None:
    with pytest.raises(errors.BadRequest, match="Invalid resource, must be in the format type:name:endpoint"):
        parse_resource(text)


def test_endpoint_may_contain_colons() -> None:
    assert parse_resource("web:site:/a:b") == Resource("web", "site", "/a:b")
