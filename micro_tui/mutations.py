"""Which core endpoints change state (UI-free): a read-only environment refuses them, as the
CLI's mutating commands (``micro store write``, ``micro config set`` …) are refused there."""

from __future__ import annotations

__all__ = ["CORE_MUTATIONS", "mutates"]

CORE_MUTATIONS: dict[str, frozenset[str]] = {
    "auth": frozenset(
        {
            "Auth.Generate",
            "Accounts.Delete",
            "Accounts.ChangeSecret",
            "Rules.Create",
            "Rules.Delete",
            "Namespaces.Create",
            "Namespaces.Delete",
        }
    ),
    "broker": frozenset({"Broker.Publish"}),
    "config": frozenset({"Config.Set", "Config.Delete"}),
    "events": frozenset({"Stream.Publish"}),
    "registry": frozenset({"Registry.Register", "Registry.Deregister"}),
    "runtime": frozenset({"Runtime.Create", "Runtime.Update", "Runtime.Delete", "Source.Upload"}),
    "store": frozenset({"Store.Write", "Store.Delete", "BlobStore.Write", "BlobStore.Delete"}),
}


def mutates(service: str, endpoint: str) -> bool:
    """Whether calling ``service``'s ``endpoint`` (``Handler.Method``) changes state."""
    return endpoint in CORE_MUTATIONS.get(service, frozenset())
