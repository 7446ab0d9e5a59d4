"""`daskhub-lite-hub-proxy`: the embedded DaskHub's proxy, PyPI's configurable-http-proxy
with websocket subprotocols negotiated as the Node.js proxy negotiates them.

configurable-http-proxy 0.4 opens the upstream websocket with the client's
`Sec-WebSocket-Protocol` header, but answers the client's handshake without choosing one.
A browser that asked for subprotocols then drops the connection ("Sent non-empty
'Sec-WebSocket-Protocol' header but no response was received"): Bokeh does (its session
token travels as a subprotocol), so a Dask dashboard pane opened through the hub stayed
blank. The Node.js proxy passes the upstream's answer through; so does this one: the
client gets the subprotocol the upstream chose, and binary frames stay binary both ways. Everything else is configurable-http-proxy
unchanged, with the same flags. The daskhub chart runs it on the embedded cluster (real
clusters run the chart's Node.js proxy image).
"""

from __future__ import annotations

from typing import Any


def _upstream_subprotocol(handler: Any, subprotocols: list[str]) -> str | None:
    # The proxy connects upstream before it accepts the client, so the answer is known.
    client = getattr(handler, "ws_client", None)
    chosen = getattr(client, "selected_subprotocol", None)
    return chosen if chosen in subprotocols else None


def _relay_to_upstream(handler: Any, message: str | bytes) -> None:
    # As 0.4's on_message, but a binary frame stays binary: it sent every client frame on
    # as text, harmless while no subprotocol was agreed (JupyterLab's kernels then fall
    # back to JSON text) and fatal once one is (the v1 kernel protocol is binary).
    if handler.ws_client:
        prefix = handler.target["prefix"] if handler.target else ""
        if prefix:
            handler.proxy.update_last_activity(prefix)
        handler.ws_client.write_message(message, binary=isinstance(message, bytes))


def main() -> None:
    from configurable_http_proxy import cli, handlers

    handlers.ProxyHandler.select_subprotocol = _upstream_subprotocol  # type: ignore[method-assign]
    handlers.ProxyHandler.on_message = _relay_to_upstream  # type: ignore[method-assign]
    cli.main()


if __name__ == "__main__":
    main()
