package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// run runs a command with a deadline and returns its stdout; it fails the
// test with the stderr when the command fails.
func run(t *testing.T, ctx context.Context, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// kcatMetadata is the part of `kcat -L -J` that the test reads.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
		} `json:"partitions"`
	} `json:"topics"`
}

// TestKcatProduceConsumeMetadata: librdkafka's command-line client produces
// keyed records with headers, reads them back byte for byte, and sees the
// broker and the topic in metadata.
func TestKcatProduceConsumeMetadata(t *testing.T) {
	requireInterop(t, "kcat", "kcat", "-V")
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{})
	const topic = "kcat-roundtrip"
	common := []string{"-b", b.Addr(), "-t", topic, "-X", "broker.address.family=v4"}

	// Two batches: one with headers on every record, one with none.
	var withHdr, noHdr strings.Builder
	var want []string
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&withHdr, "key-%d:value %d with headers\n", i, i)
		want = append(want, fmt.Sprintf("key-%d|value %d with headers|trace=abc-0,h2=two", i, i))
	}
	for i := 5; i < 8; i++ {
		fmt.Fprintf(&noHdr, "key-%d:value %d\n", i, i)
		want = append(want, fmt.Sprintf("key-%d|value %d|", i, i))
	}
	run(t, ctx, withHdr.String(), "kcat", append([]string{"-P", "-K:", "-H", "trace=abc-0", "-H", "h2=two"}, common...)...)
	run(t, ctx, noHdr.String(), "kcat", append([]string{"-P", "-K:"}, common...)...)

	out := run(t, ctx, "", "kcat", append([]string{"-C", "-o", "beginning", "-e", "-f", `%k|%s|%h\n`}, common...)...)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kcat -C read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var md kcatMetadata
	js := run(t, ctx, "", "kcat", "-L", "-J", "-b", b.Addr(), "-X", "broker.address.family=v4")
	if err := json.Unmarshal([]byte(js), &md); err != nil {
		t.Fatalf("kcat -L -J output is not JSON: %v\n%s", err, js)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != b.Addr() {
		t.Errorf("kcat -L brokers = %+v, want one broker at %s", md.Brokers, b.Addr())
	}
	found := false
	for _, tp := range md.Topics {
		if tp.Topic != topic {
			continue
		}
		found = true
		if len(tp.Partitions) != 1 || tp.Partitions[0].Leader != md.Brokers[0].ID {
			t.Errorf("kcat -L topic %s partitions = %+v, want partition 0 led by broker %d",
				topic, tp.Partitions, md.Brokers[0].ID)
		}
	}
	if !found {
		t.Errorf("kcat -L does not list topic %s: %s", topic, js)
	}
}

// confluentSummary is what testdata/confluent_roundtrip.py prints.
type confluentSummary struct {
	Delivered     [][3]any `json:"delivered"` // key, partition, offset
	ProduceErrors []string `json:"produce_errors"`
	Records       [][3]any `json:"records"` // offset, key, value
	ConsumeErrors []string `json:"consume_errors"`
	Metadata      struct {
		Brokers    []string `json:"brokers"`
		TopicFound bool     `json:"topic_found"`
		TopicError string   `json:"topic_error"`
		Partitions []int    `json:"partitions"`
	} `json:"metadata"`
}

// TestConfluentKafkaPythonIdempotentLZ4: librdkafka through
// confluent-kafka-python produces lz4-compressed batches with an idempotent
// acks=all producer; every delivery succeeds at dense offsets and a consumer
// reads every record back in order.
func TestConfluentKafkaPythonIdempotentLZ4(t *testing.T) {
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	ctx := testContext(t, 3*time.Minute)
	b := StartBroker(t, Options{})
	const topic, n = "confluent-idempotent-lz4", 2000

	out := run(t, ctx, "", "/usr/bin/python3", "testdata/confluent_roundtrip.py",
		"--bootstrap", b.Addr(), "--topic", topic, "--count", fmt.Sprint(n), "--timeout", "120")
	var s confluentSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("script output is not the JSON summary: %v\n%s", err, out)
	}

	if len(s.ProduceErrors) > 0 {
		t.Errorf("%d delivery errors, first: %s", len(s.ProduceErrors), s.ProduceErrors[0])
	}
	if len(s.Delivered) != n {
		t.Errorf("%d delivery reports ok, want %d", len(s.Delivered), n)
	}
	seen := make(map[string]float64, n)
	for _, d := range s.Delivered {
		seen[fmt.Sprint(d[0])] = d[2].(float64)
	}
	for i := 0; i < n && !t.Failed(); i++ {
		key := fmt.Sprintf("key-%06d", i)
		if off, ok := seen[key]; !ok || off != float64(i) {
			t.Errorf("delivery report of %s: offset %v (present %v), want %d", key, off, ok, i)
		}
	}

	if len(s.ConsumeErrors) > 0 {
		t.Errorf("%d consume errors, first: %s", len(s.ConsumeErrors), s.ConsumeErrors[0])
	}
	if len(s.Records) != n {
		t.Errorf("consumed %d records, want %d", len(s.Records), n)
	}
	for i, r := range s.Records {
		want := [3]any{float64(i), fmt.Sprintf("key-%06d", i), fmt.Sprintf("value-%06d", i)}
		if r != want {
			t.Fatalf("consumed record %d = %v, want %v", i, r, want)
		}
	}

	md := s.Metadata
	if len(md.Brokers) != 1 || md.Brokers[0] != b.Addr() {
		t.Errorf("list_topics brokers = %v, want [%s]", md.Brokers, b.Addr())
	}
	if !md.TopicFound || md.TopicError != "" || len(md.Partitions) != 1 || md.Partitions[0] != 0 {
		t.Errorf("list_topics topic %s: found=%v error=%q partitions=%v, want partition [0]",
			topic, md.TopicFound, md.TopicError, md.Partitions)
	}
}
