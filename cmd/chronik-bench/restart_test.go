package main

import (
	"slices"
	"testing"
)

func TestRestartSizesParseUnitsAndAnEmptyList(t *testing.T) {
	got, err := parseSizes("1GiB,10GiB,512MiB,64KiB,100,")
	want := []int64{1 << 30, 10 << 30, 512 << 20, 64 << 10, 100}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("parseSizes = %v, %v; want %v", got, err, want)
	}
	if got, err := parseSizes(""); err != nil || len(got) != 0 {
		t.Fatalf("parseSizes(\"\") = %v, %v", got, err)
	}
	for _, bad := range []string{"1TB", "-1GiB", "GiB"} {
		if _, err := parseSizes(bad); err == nil {
			t.Fatalf("parseSizes(%q) accepted", bad)
		}
	}
}
