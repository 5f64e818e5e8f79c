"""The facade slices of areas 2–7, one set of modules per area.

``<area>.py`` holds the slice's Protocol and its data types (UI-free, no grpc or protobuf
imports, so a screen can import it cheaply); ``<area>_fake.py`` the fake over
:class:`~micro_tui.fake.FakeSession` (tests and snapshots); ``<area>_real.py`` the real one
over :class:`~micro_tui.real.RealSession`. :class:`~micro_tui.facade.Facade` names every slice;
the fake and real facades build each one the first time it is asked for, so the first paint
imports none of them. Each slice's contract suite is ``tests/micro_tui/test_facade_contract_<area>.py``.
"""
