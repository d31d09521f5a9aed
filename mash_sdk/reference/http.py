"""HTTP/JSON reference backend: calls the agency system's REST API with httpx.

404 means the subject is not known; 5xx, timeouts and connection failures are transient
(the SDK retries, then answers ERROR); any other status is an error.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx

from mash_common.contracts import AgencyRecord, SubjectIdentifiers
from mash_sdk.errors import SdkError, TransientError
from mash_sdk.reference.config import HttpBackend, HttpQuery, template_fields
from mash_sdk.reference.handler import identifier_values


class HttpBackendError(SdkError):
    """The agency system answered in a way the adapter cannot use (names status, not data)."""


class HttpLookup:
    def __init__(self, config: HttpBackend, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = dict(config.headers)
        for header, env in config.headers_from_env.items():
            headers[header] = os.environ.get(env, "")
        self._client = httpx.Client(base_url=config.base_url, timeout=config.timeout_s,
                                    headers=headers, transport=transport)

    def close(self) -> None:
        self._client.close()

    def lookup(self, category: str, subject: SubjectIdentifiers) -> list[AgencyRecord]:
        query = self.config.categories.get(category)
        if query is None:
            return []
        values = {k: ("" if v is None else str(v)) for k, v in identifier_values(subject).items()}
        present = {k for k, v in identifier_values(subject).items() if v is not None}
        present.add("category")
        values["category"] = category
        if not template_fields(query.path) <= present:
            return []  # cannot search without the identifier the path needs
        path = query.path.format(**{k: quote(v, safe="") for k, v in values.items()})
        params = {name: t.format(**values) for name, t in query.params.items()
                  if template_fields(t) <= present}
        try:
            if query.method == "GET":
                response = self._client.get(path, params=params)
            else:
                response = self._client.post(path, json=params)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(f"{category}: {type(exc).__name__}") from None
        if response.status_code == 404:
            return []
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{category}: HTTP {response.status_code}")
        if response.status_code >= 300:
            raise HttpBackendError(f"{category}: agency system answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise HttpBackendError(f"{category}: agency system answered no JSON") from None
        return [query.fields.to_record(category, row) for row in _rows(category, query, body)]


def _rows(category: str, query: HttpQuery, body: Any) -> list[dict[str, Any]]:
    node = body
    for part in filter(None, query.records_path.split(".")):
        if not isinstance(node, dict) or part not in node:
            raise HttpBackendError(f"{category}: no {query.records_path!r} in the JSON answer")
        node = node[part]
    if node is None:
        return []
    if isinstance(node, dict):
        node = [node]
    if not isinstance(node, list) or not all(isinstance(r, dict) for r in node):
        raise HttpBackendError(f"{category}: {query.records_path or 'body'!r} is not a list of objects")
    return node
