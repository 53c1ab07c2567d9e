package raftmeta

import (
	"slices"
	"testing"
)

func TestClusterConfigRoundTrip(t *testing.T) {
	ms := []Member{
		{ID: 1, KafkaAddr: "127.0.0.1:9092", ReplicationAddr: "127.0.0.1:9192", RaftAddr: "127.0.0.1:9292", Rack: "a"},
		{ID: 2, KafkaAddr: "127.0.0.1:9093", ReplicationAddr: "127.0.0.1:9193", RaftAddr: "127.0.0.1:9293"},
	}
	got, err := ParseClusterConfig(FormatClusterConfig(ms) + "\n# trailing comment\n")
	if err != nil || !slices.Equal(got, ms) {
		t.Fatalf("round trip: %v %+v", err, got)
	}
}

func TestClusterConfigRejects(t *testing.T) {
	for _, body := range []string{
		"",
		"1 a:1 b:1",
		"x a:1 b:1 c:1",
		"-1 a:1 b:1 c:1",
		"1 a b:1 c:1",
		"1 a:1 b:1 c:1\n1 a:2 b:2 c:2",
		"1 a:1 b:1 c:1\n2 a:1 b:2 c:2",
		"1 a:1 b:1 c:1 r extra",
	} {
		if _, err := ParseClusterConfig(body); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
}
