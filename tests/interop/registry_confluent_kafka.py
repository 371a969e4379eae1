"""Interop check: Python's confluent-kafka, unmodified, against our Schema Registry.

Run by host/tests/registry_interop.rs as
    registry_confluent_kafka.py http://127.0.0.1:PORT
Exits 0 when every check passes; any failure raises (non-zero exit, traceback).
"""

import json
import sys
import urllib.request

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
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


# Schema references: a record type registered in one subject, used by a
# schema in another.
ADDRESS_SUBJECT = "interop.Address"
ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "interop",
    "fields": [
        {"name": "street", "type": "string"},
        {"name": "city", "type": "string"},
    ],
}
CUSTOMER_TOPIC = "interop_customers"
CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "interop",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "home", "type": "interop.Address"},
        {"name": "work", "type": ["null", "interop.Address"], "default": None},
    ],
}


def check_references(client: SchemaRegistryClient, url: str) -> None:
    client.register_schema(ADDRESS_SUBJECT, Schema(json.dumps(ADDRESS), "AVRO"))
    address_version = client.get_latest_version(ADDRESS_SUBJECT).version
    reference = SchemaReference("interop.Address", ADDRESS_SUBJECT, address_version)
    customer = Schema(json.dumps(CUSTOMER), "AVRO", [reference])
    serializer = AvroSerializer(client, customer)
    deserializer = AvroDeserializer(client)
    context = SerializationContext(CUSTOMER_TOPIC, MessageField.VALUE)
    records = [
        {"id": 1, "home": {"street": "Rue 1", "city": "Lyon"}, "work": None},
        {"id": 2, "home": {"street": "Main St", "city": "Oslo"}, "work": {"street": "Quay", "city": "Bergen"}},
    ]
    for record in records:
        payload = serializer(record, context)
        decoded = deserializer(payload, context)
        assert decoded == record, f"round trip with references changed the record: {record} -> {decoded}"
    schema_id = int.from_bytes(payload[1:5], "big")
    registered = client.get_schema(schema_id)
    refs = [(r.name, r.subject, r.version) for r in registered.references]
    assert refs == [("interop.Address", ADDRESS_SUBJECT, address_version)], f"references of id {schema_id}: {refs}"
    with urllib.request.urlopen(f"{url}/subjects/{ADDRESS_SUBJECT}/versions/{address_version}/referencedby") as response:
        referenced_by = json.load(response)
    assert referenced_by == [schema_id], f"referencedby: {referenced_by}"
    # A referenced version may be soft-deleted but not deleted for good.
    client.delete_version(ADDRESS_SUBJECT, address_version)
    try:
        client.delete_version(ADDRESS_SUBJECT, address_version, permanent=True)
    except SchemaRegistryError as error:
        assert error.http_status_code == 422, f"expected HTTP 422, got {error.http_status_code}: {error}"
        assert error.error_code == 42206, f"expected 42206, got {error.error_code}"
        print(f"hard delete of a referenced version refused: {error.error_message}")
    else:
        raise AssertionError("a referenced version was deleted permanently")
    print(f"references ok: schema id {schema_id} uses {ADDRESS_SUBJECT} version {address_version}")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: registry_confluent_kafka.py REGISTRY_URL")
    client = SchemaRegistryClient({"url": sys.argv[1]})
    check_round_trip(client)
    check_incompatible_change_is_refused(client)
    check_unknown_id_is_an_error(client)
    check_references(client, sys.argv[1])
    print("interop ok")


if __name__ == "__main__":
    main()
