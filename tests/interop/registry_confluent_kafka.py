"""Interop check: Python's confluent-kafka, unmodified, against our Schema Registry.

Run by host/tests/registry_interop.rs as
    registry_confluent_kafka.py http://127.0.0.1:PORT
Exits 0 when every check passes; any failure raises (non-zero exit, traceback).
"""

import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

TOPIC = "interop_products"
SUBJECT = f"{TOPIC}-value"

SCHEMA_V1 = {
    "type": "record",
    "name": "Product",
    "namespace": "interop",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "double"},
    ],
}

# A new required field without a default: BACKWARD (the default level) must refuse it.
SCHEMA_INCOMPATIBLE = {
    **SCHEMA_V1,
    "fields": SCHEMA_V1["fields"] + [{"name": "colour", "type": "string"}],
}


def check_round_trip(client: SchemaRegistryClient) -> None:
    serializer = AvroSerializer(client, json.dumps(SCHEMA_V1))
    deserializer = AvroDeserializer(client)
    context = SerializationContext(TOPIC, MessageField.VALUE)
    records = [
        {"id": 1, "name": "kettle", "price": 19.5},
        {"id": 2, "name": "toaster", "price": 24.0},
    ]
    for record in records:
        payload = serializer(record, context)
        assert payload[0] == 0, f"magic byte expected, got {payload[:5]!r}"
        decoded = deserializer(payload, context)
        assert decoded == record, f"round trip changed the record: {record} -> {decoded}"
    latest = client.get_latest_version(SUBJECT)
    assert latest.version == 1, f"expected version 1, got {latest.version}"
    print(f"round trip ok: {len(records)} records, schema id {latest.schema_id}")


def check_incompatible_change_is_refused(client: SchemaRegistryClient) -> None:
    try:
        client.register_schema(SUBJECT, Schema(json.dumps(SCHEMA_INCOMPATIBLE), "AVRO"))
    except SchemaRegistryError as error:
        assert error.http_status_code == 409, f"expected HTTP 409, got {error.http_status_code}: {error}"
        assert error.error_code == 409, f"expected error code 409, got {error.error_code}"
        print(f"incompatible change refused: {error.error_message}")
        return
    raise AssertionError("an incompatible schema was accepted")


def check_unknown_id_is_an_error(client: SchemaRegistryClient) -> None:
    try:
        client.get_schema(987654)
    except SchemaRegistryError as error:
        assert error.http_status_code == 404, f"expected HTTP 404, got {error.http_status_code}"
        assert error.error_code == 40403, f"expected 40403, got {error.error_code}"
        print("unknown id refused with 40403")
        return
    raise AssertionError("an unknown schema id was resolved")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: registry_confluent_kafka.py REGISTRY_URL")
    client = SchemaRegistryClient({"url": sys.argv[1]})
    check_round_trip(client)
    check_incompatible_change_is_refused(client)
    check_unknown_id_is_an_error(client)
    print("interop ok")


if __name__ == "__main__":
    main()
