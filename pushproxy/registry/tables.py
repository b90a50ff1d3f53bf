"""The registry in Azure Table storage (azure-data-tables): the storage account Durable Functions already uses.

Each document is one entity: PartitionKey/RowKey as in `pushproxy.registry.base`, the JSON in string properties.
A string property holds at most 64 KiB (32K UTF-16 characters), so a large document is split over `data0..dataN`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from pushproxy.registry.base import Registry, dumps

_CHUNK = 30_000  # characters per property, under the 32K UTF-16 limit


def _to_properties(document: dict[str, Any]) -> dict[str, Any]:
    text = dumps(document)
    if len(text) <= _CHUNK:
        return {"data": text}
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    return {"chunks": len(chunks), **{f"data{i}": chunk for i, chunk in enumerate(chunks)}}


def _from_entity(entity: dict[str, Any]) -> dict[str, Any]:
    if "data" in entity:
        return json.loads(entity["data"])
    return json.loads("".join(entity[f"data{i}"] for i in range(int(entity["chunks"]))))


class TableRegistry(Registry):
    """Registry in one Azure table. Build it with `from_connection_string` (Azurite, tests) or `for_account`."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str) -> TableRegistry:
        service = TableServiceClient.from_connection_string(connection_string)
        return cls(_ensure_table(service, table_name))

    @classmethod
    def for_account(cls, account_name: str, table_name: str, managed_identity_client_id: str | None) -> TableRegistry:
        """Identity-based, as the Functions host reads AzureWebJobsStorage__accountName (no key anywhere)."""
        from azure.identity import DefaultAzureCredential

        credential = (
            DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
            if managed_identity_client_id
            else DefaultAzureCredential()
        )
        service = TableServiceClient(endpoint=f"https://{account_name}.table.core.windows.net", credential=credential)
        return cls(_ensure_table(service, table_name))

    def __repr__(self) -> str:
        return f"TableRegistry(table={self._table.table_name!r})"

    def _put(self, partition: str, row: str, document: dict[str, Any]) -> None:
        entity = {"PartitionKey": partition, "RowKey": row, **_to_properties(document)}
        # REPLACE, not MERGE: a document that shrank must not keep stale chunks.
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def _get(self, partition: str, row: str) -> dict[str, Any] | None:
        try:
            entity = self._table.get_entity(partition_key=partition, row_key=row)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    def _list(self, partition: str) -> Iterator[dict[str, Any]]:
        # Table storage returns a partition in RowKey order, as SQLite's ORDER BY row does.
        entities = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
        return (_from_entity(e) for e in entities)

    def _delete(self, partition: str, row: str) -> None:
        try:
            self._table.delete_entity(partition_key=partition, row_key=row)
        except ResourceNotFoundError:
            pass

    def close(self) -> None:
        self._table.close()


def _ensure_table(service: TableServiceClient, table_name: str) -> TableClient:
    try:
        service.create_table(table_name)
    except ResourceExistsError:
        pass
    return service.get_table_client(table_name)
