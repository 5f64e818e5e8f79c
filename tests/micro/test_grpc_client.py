"""The base of the core services' gRPC clients: lazy channels, errors, closing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import grpc
import pytest

from micro import errors
from micro._grpc_client import GrpcClient
from micro.proto.store import store_pb2, store_pb2_grpc


@pytest.fixture
def refused() -> Iterator[str]:
    """An address bound and not listening (kept bound, so no one else takes it): connections
    to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_a_call_to_a_server_that_is_down_is_unavailable_and_the_channel_opens_lazily(
    refused: str,
) -> None:
    client = GrpcClient(refused, namespace="ns", token="t", timeout=5.0)
    assert client._channel is None
    with pytest.raises(errors.Unavailable):
        await client._call(store_pb2_grpc.StoreStub, "Databases", store_pb2.DatabasesRequest())
    assert client._channel is not None
    assert client._metadata == (("micro-namespace", "ns"), ("authorization", "Bearer t"))
    await client.close()
    assert client._channel is None


async def test_a_given_channel_is_used_and_left_open(refused: str) -> None:
    channel = grpc.aio.insecure_channel(refused)
    client = GrpcClient("elsewhere:1", channel=channel)
    stub = client._stub(store_pb2_grpc.StoreStub)
    assert client._stub(store_pb2_grpc.StoreStub) is stub
    await client.close()
    assert channel.get_state() != grpc.ChannelConnectivity.SHUTDOWN
    assert client._channel is channel
    await channel.close()


def test_a_per_loop_client_opens_a_channel_in_each_event_loop(refused: str) -> None:
    class PerLoop(GrpcClient):
        per_loop = True

    client = PerLoop(refused)

    async def stub() -> object:
        return client._stub(store_pb2_grpc.StoreStub)

    first, second = asyncio.run(stub()), asyncio.run(stub())
    assert first is not second
    assert len(client._owned) == 1  # the closed loop's channel was dropped
