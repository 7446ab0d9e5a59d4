"""`Transport` over the `kubernetes` client, for kubeconfigs `HTTPTransport` leaves to it
(auth providers, impersonation, proxies). Slow to import (about a second), so only loaded
for those."""

from __future__ import annotations

from typing import Any, Iterator

from daskhub_lite.kubehttp.errors import APIStatusError, KubeconfigError
from daskhub_lite.kubehttp.transport import JSON, Query, Transport, encode_query


class ClientTransport(Transport):
    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str,
                 in_cluster: bool = False) -> None:
        from kubernetes import client, config

        try:
            if in_cluster:
                cfg = client.Configuration()
                load = config.load_incluster_config
                load(client_configuration=cfg)  # type: ignore[no-untyped-call]
                self.api = client.ApiClient(cfg)
            else:
                self.api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, context=context)
        except config.ConfigException as exc:
            raise KubeconfigError(str(exc).splitlines()[0]) from None
        self.server = str(self.api.configuration.host)
        self.namespace = namespace
        self.context = context

    def request(self, method: str, path: str, *, query: Query | None = None,
                body: Any = None, content_type: str = JSON,
                timeout: float | None = None) -> bytes:
        resp = self._call(method, path, query, body, content_type, timeout)
        return bytes(resp.read())

    def stream(self, path: str, *, query: Query | None = None,
               timeout: float | None = None) -> Iterator[bytes]:
        resp = self._call("GET", path, query, None, JSON, timeout)
        raw = getattr(resp, "response", resp)  # urllib3's response under the client's
        try:
            yield from raw.stream(65536, decode_content=True)
        finally:
            raw.release_conn()

    def _call(self, method: str, path: str, query: Query | None, body: Any,
              content_type: str, timeout: float | None) -> Any:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        encoded = encode_query(query)
        try:
            if hasattr(self.api, "param_serialize"):  # kubernetes >= 35
                method, url, headers, body, _ = self.api.param_serialize(
                    method, path + ("?" + encoded if encoded else ""), header_params=headers,
                    body=body, auth_settings=["BearerToken"])
                resp = self.api.call_api(method, url, header_params=headers, body=body,
                                         _request_timeout=timeout)
            else:
                resp = self.api.call_api(  # type: ignore[call-arg]  # kubernetes < 35
                    path + ("?" + encoded if encoded else ""), method, header_params=headers,
                    body=body, auth_settings=["BearerToken"], _preload_content=False,
                    _return_http_data_only=True, _request_timeout=timeout)
        except ApiException as exc:
            raise APIStatusError(exc.status or 0, exc.reason or "", exc.body) from exc
        if resp.status >= 400:
            body = resp.read()  # type: ignore[no-untyped-call]
            raise APIStatusError(resp.status, resp.reason or "", body)
        return resp
