package testbed

import (
	"testing"
)

// TestAddrPickerNeverRepeatsAnAddress: the kernel may hand the port it
// just gave out again; the picker asks again rather than put one address
// twice in a cluster config (which every broker refuses).
func TestAddrPickerNeverRepeatsAnAddress(t *testing.T) {
	given := []string{"127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	p := &addrPicker{used: map[string]bool{}, free: func() (string, error) {
		a := given[0]
		given = given[1:]
		return a, nil
	}}
	var got []string
	for range 3 {
		a, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if got[0] != "127.0.0.1:1" || got[1] != "127.0.0.1:2" || got[2] != "127.0.0.1:3" {
		t.Fatalf("picked %v, want three distinct addresses", got)
	}
	p.free = func() (string, error) { return "127.0.0.1:1", nil }
	if a, err := p.pick(); err == nil {
		t.Fatalf("picked %s when every free port is in use", a)
	}
}
