"""The network view's per-route counters: fixed-bucket histograms, percentiles read from them,
and merging the tables of several nodes."""

from __future__ import annotations

from micro._routes import BOUNDS_US, BUCKETS, RouteStats, RouteTable, endpoint_of, merge


def test_the_bounds_are_fixed_and_grow_four_buckets_per_doubling() -> None:
    assert BOUNDS_US[0] == 25
    assert BOUNDS_US[4] == 50 and BOUNDS_US[8] == 100 and BOUNDS_US[40] == 25 * 1024
    assert list(BOUNDS_US) == sorted(set(BOUNDS_US))
    assert BOUNDS_US[-1] > 60_000_000  # past a minute
    assert len(BOUNDS_US) + 1 == BUCKETS


def test_a_call_lands_in_the_first_bucket_whose_bound_holds_it() -> None:
    stats = RouteStats("s", "S.M")
    stats.observe(0.000025)  # exactly 25 µs: the first bucket
    stats.observe(0.000026)  # just over: the second
    stats.observe(3600.0, failed=True)  # past the last bound: the overflow bucket
    assert stats.buckets[0] == 1 and stats.buckets[1] == 1 and stats.buckets[-1] == 1
    assert (stats.requests, stats.errors) == (3, 1)


def test_percentiles_come_from_the_buckets_within_one_bucket_of_the_truth() -> None:
    stats = RouteStats("s", "S.M")
    for ms in range(1, 101):  # 1 ms .. 100 ms, one call each
        stats.observe(ms / 1000)
    p50, p99 = stats.percentile(0.5), stats.percentile(0.99)
    # a bucket spans a factor 2^(1/4) ≈ 1.19
    assert 50 / 1.19 <= p50 <= 50 * 1.19
    assert 99 / 1.19 <= p99 <= 100 * 1.19
    assert p50 < p99


def test_no_calls_read_as_zero_and_slow_calls_as_the_last_bound() -> None:
    assert RouteStats("s", "S.M").percentile(0.99) == 0.0
    slow = RouteStats("s", "S.M")
    slow.observe(7200.0)
    assert slow.percentile(0.5) == BOUNDS_US[-1] / 1000


def test_merging_adds_counts_and_buckets_per_service_endpoint() -> None:
    a, b = RouteStats("hello", "Hello.Call"), RouteStats("hello", "Hello.Call")
    for _ in range(99):
        a.observe(0.001)
    b.observe(2.0, failed=True)
    other = RouteStats("relay", "Relay.Call")
    other.observe(0.005)
    merged = merge([[a, other], [b]])
    assert [(m.service, m.endpoint, m.requests, m.errors) for m in merged] == [
        ("hello", "Hello.Call", 100, 1),
        ("relay", "Relay.Call", 1, 0),
    ]
    hello = merged[0]
    assert hello.buckets == [x + y for x, y in zip(a.buckets, b.buckets, strict=True)]
    assert 0.9 <= hello.percentile(0.5) <= 1.2  # the slow call is the 1%: the median stays
    assert hello.percentile(0.999) > 1000  # ... and shows at the top
    assert a.requests == 99  # the inputs are left alone


def test_histograms_of_another_layout_add_counts_but_not_buckets() -> None:
    ours = RouteStats("s", "S.M")
    ours.observe(0.001)
    theirs = RouteStats("s", "S.M", requests=5, errors=1, buckets=[5])
    ours.add(theirs)
    assert (ours.requests, ours.errors, sum(ours.buckets)) == (6, 1, 1)


def test_a_table_keeps_namespaces_apart_and_is_bounded() -> None:
    table = RouteTable(limit=2)
    first = table.route("alpha", "hello", "/hello.Hello/Call")
    assert first is not None
    first.observe(0.001)
    assert table.route("alpha", "hello", "/hello.Hello/Call") is first
    beta = table.route("beta", "hello", "/hello.Hello/Call")
    assert beta is not None and beta is not first
    assert table.route("beta", "hello", "/hello.Hello/Other") is None  # full: not counted
    assert [(s.endpoint, s.requests) for s in table.snapshot("alpha")] == [("Hello.Call", 1)]
    assert [(s.endpoint, s.requests) for s in table.snapshot("beta")] == [("Hello.Call", 0)]
    assert table.snapshot("gamma") == []
    assert RouteTable().process != table.process


def test_endpoint_names_are_the_registrys() -> None:
    assert endpoint_of("/helloworld.Helloworld/Call") == "Helloworld.Call"
    assert endpoint_of("/a.b.Svc/Method") == "Svc.Method"
    assert endpoint_of("/Svc/Method") == "Svc.Method"
    assert endpoint_of("(unknown)") == "(unknown)"
