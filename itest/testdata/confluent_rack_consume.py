#!/usr/bin/python3
"""Read a topic from the beginning with confluent-kafka (librdkafka) in a rack.

Assigns every partition of TOPIC at the beginning to a consumer with
client.rack=RACK and reads until COUNT records arrived or TIMEOUT seconds
passed. Prints one JSON object: records ([partition, offset, value]) and
errors; the Go test (TestReadReplicas) makes the assertions, among them
that the broker in RACK served the records.
"""
import argparse
import json
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--rack", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    deadline = time.time() + a.timeout
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "broker.address.family": "v4",
        "group.id": "itest-confluent-rack",
        "client.rack": a.rack,
        "enable.auto.commit": False,
    })
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in range(a.partitions)])
    records, errors = [], []
    while len(records) < a.count and time.time() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                errors.append(str(msg.error()))
            continue
        records.append([msg.partition(), msg.offset(), msg.value().decode()])
    c.close()
    print(json.dumps({"records": records, "errors": errors}))


if __name__ == "__main__":
    main()
