"""Running the server under uvicorn with one or more worker processes (``whylens serve``)."""

from __future__ import annotations

import socket

__all__ = ["serve"]

APP = "sdk.server.app:app_from_env"


def serve(host: str, port: int, workers: int) -> None:
    """Run uvicorn with the app factory; every worker opens the store from ``WHYLENS_*``."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        APP, factory=True, host=host, port=port, workers=workers, server_header=False
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    sock = config.bind_socket()
    # uvicorn makes this socket with proto 0, so asyncio does not set TCP_NODELAY on the
    # connections it accepts; Nagle then holds each response body back for the client's
    # delayed ACK (~40 ms). Accepted sockets inherit the option from the listening one.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
