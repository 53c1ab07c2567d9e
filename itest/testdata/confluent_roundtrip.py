#!/usr/bin/python3
"""Round trip through a broker with confluent-kafka (librdkafka).

Produces COUNT keyed records with an idempotent, lz4-compressing, acks=all
producer, then reads partition 0 back from the beginning with an assign()ed
consumer, and asks for metadata. Prints one JSON object with what it saw;
the Go test (TestConfluentKafkaPythonIdempotentLZ4) makes the assertions.
"""
import argparse
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition


def produce(bootstrap, topic, count, deadline):
    delivered = []  # [key, partition, offset] in delivery-callback order
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("%s: %s" % (msg.key(), err))
        else:
            delivered.append([msg.key().decode(), msg.partition(), msg.offset()])

    p = Producer({
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "acks": "all",
        "linger.ms": 5,
    })
    for i in range(count):
        while True:
            try:
                p.produce(topic, key=b"key-%06d" % i, value=b"value-%06d" % i,
                          partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(max(1.0, deadline - time.time()))
    if left:
        errors.append("%d records still undelivered after flush" % left)
    return delivered, errors


def consume(bootstrap, topic, count, deadline):
    records = []  # [offset, key, value]
    errors = []
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "group.id": "itest-confluent-roundtrip",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    while len(records) < count and time.time() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                errors.append(str(msg.error()))
            continue
        records.append([msg.offset(), msg.key().decode(), msg.value().decode()])
    c.close()
    return records, errors


def metadata(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    md = p.list_topics(timeout=10)
    brokers = ["%s:%d" % (b.host, b.port) for b in md.brokers.values()]
    t = md.topics.get(topic)
    return {
        "brokers": brokers,
        "topic_found": t is not None,
        "topic_error": str(t.error) if t is not None and t.error else "",
        "partitions": sorted(t.partitions.keys()) if t is not None else [],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=90.0)
    a = ap.parse_args()
    deadline = time.time() + a.timeout

    delivered, produce_errors = produce(a.bootstrap, a.topic, a.count, deadline)
    records, consume_errors = consume(a.bootstrap, a.topic, a.count, deadline)
    json.dump({
        "delivered": delivered,
        "produce_errors": produce_errors,
        "records": records,
        "consume_errors": consume_errors,
        "metadata": metadata(a.bootstrap, a.topic),
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
