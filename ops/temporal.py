"""Connecting to Temporal and preparing a namespace: the data converter, TLS / API key, and the
custom search attributes (an unregistered one wedges workflow tasks, ARCHITECTURE §7)."""

from __future__ import annotations

import logging
import os

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from reconciler.config import Settings
from workflows.search_attributes import RECON_ACCOUNT, SEARCH_ATTRIBUTES

__all__ = [
    "RECON_ACCOUNT",
    "SEARCH_ATTRIBUTES",
    "connect",
    "dev_server_search_attribute_args",
    "ensure_search_attributes",
]

log = logging.getLogger("recon.temporal")


def dev_server_search_attribute_args() -> list[str]:
    out = []
    for key in SEARCH_ATTRIBUTES:
        out += ["--search-attribute", f"{key.name}=Keyword"]
    return out


async def connect(settings: Settings) -> Client:
    t = settings.temporal
    api_key = os.environ.get(t.api_key_env) if t.api_key_env else None
    return await Client.connect(
        t.address,
        namespace=t.namespace,
        tls=t.tls or bool(api_key),
        api_key=api_key,
        data_converter=pydantic_data_converter,
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register missing search attributes (idempotent; a no-op where they exist)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for k in SEARCH_ATTRIBUTES
        if k.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
        log.info("registered search attributes %s", sorted(missing))
