"""The schema model of dynamic calls: a service version's endpoints and message classes,
rebuilt from the ``FileDescriptorSet`` it registered (one descriptor pool per version: two
versions may register different schemas under the same file names)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message

from micro import errors
from micro.registry import Endpoint, Service, Streaming

__all__ = [
    "Guard",
    "InvalidMethodName",
    "Method",
    "Schema",
    "check_method_name",
    "endpoint_not_found",
    "find_endpoint",
    "service_not_found",
]

# sees the endpoint of a call before anything is sent; raises a MicroError to refuse it
Guard = Callable[[Endpoint], None]


class InvalidMethodName(errors.BadRequest):
    """An endpoint name that is not ``Handler.Method``."""

    def __init__(self, name: str) -> None:
        super().__init__(f'Method name "{name}" invalid format. Expecting service.endpoint')
        self.name = name


def service_not_found(service: str) -> errors.MicroError:
    return errors.NotImplementedError_(f'Service "{service}" not found')


def endpoint_not_found(service: str, endpoint: str) -> errors.MicroError:
    return errors.NotImplementedError_(f"Endpoint {endpoint} not found for service {service}")


@dataclass(frozen=True, slots=True)
class Method:
    """One callable endpoint of one service version, with its message classes."""

    service: str
    version: str
    endpoint: Endpoint
    request: type[Message]
    response: type[Message]

    @property
    def name(self) -> str:
        """``Handler.Method``."""
        return self.endpoint.name

    @property
    def path(self) -> str:
        """``/package.Handler/Method``."""
        return self.endpoint.method

    @property
    def streaming(self) -> Streaming:
        return self.endpoint.streaming

    @property
    def request_descriptor(self) -> Descriptor:
        return self.request.DESCRIPTOR  # type: ignore[return-value]


class Schema:
    """The schema of one service version: its endpoints and a descriptor pool of its protos."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._pool: DescriptorPool | None = None
        self._methods: dict[str, Method] = {}

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def version(self) -> str:
        return self.service.version

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.service.endpoints

    @property
    def pool(self) -> DescriptorPool:
        if self._pool is None:
            from micro.registry.schema import pool_from_descriptor_set

            self._pool = pool_from_descriptor_set(self.service.descriptor_set)
        return self._pool

    def endpoint(self, name: str) -> Endpoint | None:
        """The endpoint ``Handler.Method`` (or its path ``/pkg.Handler/Method``), else None."""
        for endpoint in self.service.endpoints:
            if name in (endpoint.name, endpoint.method):
                return endpoint
        return None

    def message_class(self, full_name: str) -> type[Message]:
        try:
            descriptor = self.pool.FindMessageTypeByName(full_name)
        except KeyError as exc:
            raise errors.InternalServerError(
                f"service {self.name} registered no schema for {full_name}"
            ) from exc
        return message_factory.GetMessageClass(descriptor)

    def method(self, name: str) -> Method:
        """The callable endpoint ``name``; ``Endpoint X not found for service Y`` otherwise."""
        found = self._methods.get(name)
        if found is not None:
            return found
        endpoint = self.endpoint(name)
        if endpoint is None:
            raise endpoint_not_found(self.name, name)
        method = Method(
            service=self.name,
            version=self.version,
            endpoint=endpoint,
            request=self.message_class(endpoint.request_type),
            response=self.message_class(endpoint.response_type),
        )
        self._methods[name] = method
        return method


def check_method_name(name: str) -> None:
    """Refuse an endpoint name that is neither ``Handler.Method`` nor a method path."""
    if name.startswith("/"):
        service, _, method = name[1:].partition("/")
        if service and method and "/" not in method:
            return
    else:
        parts = name.split(".")
        if len(parts) == 2 and all(parts):
            return
    raise InvalidMethodName(name)


def find_endpoint(schemas: Sequence[Schema], name: str, *, service: str = "") -> Method:
    """The endpoint ``name`` (``Handler.Method``) in the first version that has it."""
    check_method_name(name)
    for schema in schemas:
        if schema.endpoint(name) is not None:
            return schema.method(name)
    raise endpoint_not_found(service or (schemas[0].name if schemas else "?"), name)
