package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestParseRequestHeaderMatchesKmsg frames every request key kmsg knows, at
// its first, flexible-boundary and last versions, with kmsg's own formatter,
// and checks the parser finds the same header fields and the exact body.
func TestParseRequestHeaderMatchesKmsg(t *testing.T) {
	for _, clientID := range []*string{nil, kmsg.StringPtr(""), kmsg.StringPtr("chronik-test")} {
		var fopts []kmsg.RequestFormatterOpt
		if clientID != nil {
			fopts = append(fopts, kmsg.FormatterClientID(*clientID))
		}
		f := kmsg.NewRequestFormatter(fopts...)
		for key := int16(0); key <= kmsg.MaxKey; key++ {
			r := kmsg.RequestForKey(key)
			if r == nil {
				continue
			}
			for _, v := range versionsToTry(key, r.MaxVersion()) {
				r.SetVersion(v)
				frame := f.AppendRequest(nil, r, 0x01020304)
				h, err := parseRequestHeader(frame[4:])
				if err != nil {
					t.Fatalf("key %d v%d: %v", key, v, err)
				}
				if h.key != key || h.version != v || h.correlationID != 0x01020304 {
					t.Fatalf("key %d v%d: parsed %+v", key, v, h)
				}
				if h.flexible != r.IsFlexible() && !(key == 7 && v == 0) {
					t.Fatalf("key %d v%d: flexible %v, kmsg says %v", key, v, h.flexible, r.IsFlexible())
				}
				wantID := ""
				if clientID != nil && !(key == 7 && v == 0) {
					wantID = *clientID
				}
				if string(h.clientID) != wantID {
					t.Fatalf("key %d v%d: client id %q, want %q", key, v, h.clientID, wantID)
				}
				if key == 7 && v == 0 {
					continue // kmsg's formatter writes no body for header v0
				}
				if body := frame[4+h.headerLen:]; !bytes.Equal(body, r.AppendTo(nil)) {
					t.Fatalf("key %d v%d: body differs from kmsg's encoding", key, v)
				}
			}
		}
	}
}

func versionsToTry(key, maxVersion int16) []int16 {
	vs := []int16{0, maxVersion}
	if f := firstFlexible[key]; f > 0 {
		vs = append(vs, f-1, f)
	}
	return vs
}

// header builds a request header by hand: v1 when tags is nil, else v2 with
// the given raw tagged-fields section.
func header(key, version int16, corr int32, clientID *string, tags []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	return append(b, tags...)
}

func TestParseRequestHeaderTaggedFields(t *testing.T) {
	// ApiVersions v3 is flexible: two tagged fields, then body bytes.
	tags := []byte{2, 0, 3, 'a', 'b', 'c', 0x81, 0x01, 0}
	frame := append(header(18, 3, 9, kmsg.StringPtr("x"), tags), 0xAA, 0xBB)
	h, err := parseRequestHeader(frame)
	if err != nil {
		t.Fatal(err)
	}
	if !h.flexible || !bytes.Equal(frame[h.headerLen:], []byte{0xAA, 0xBB}) {
		t.Fatalf("flexible=%v body=%x", h.flexible, frame[h.headerLen:])
	}
	// The same bytes at a non-flexible version keep the tags as body.
	h, err = parseRequestHeader(header(18, 2, 9, kmsg.StringPtr("x"), tags))
	if err != nil || h.flexible || h.headerLen != 11 {
		t.Fatalf("v2: %+v %v", h, err)
	}
}

func TestParseRequestHeaderRejectsMalformed(t *testing.T) {
	neg := int16(-2)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, errShortHeader},
		{"seven bytes", make([]byte, 7), errShortHeader},
		{"no client id length", header(3, 1, 1, nil, nil)[:9], errShortHeader},
		{"client id past end", append(header(3, 1, 1, nil, nil)[:8], 0, 5, 'a'), errBadClientID},
		{"client id length -2", binary.BigEndian.AppendUint16(header(3, 1, 1, nil, nil)[:8], uint16(neg)), errBadClientID},
		{"flexible without tags", header(18, 3, 1, nil, nil), errBadTaggedField},
		{"tag count too large", header(18, 3, 1, nil, []byte{5, 0, 0}), errBadTaggedField},
		{"tag size past end", header(18, 3, 1, nil, []byte{1, 0, 9, 'a'}), errBadTaggedField},
		{"uvarint too long", header(18, 3, 1, nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), errBadTaggedField},
		{"uvarint cut", header(18, 3, 1, nil, []byte{0x80}), errBadTaggedField},
	} {
		if _, err := parseRequestHeader(tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseRequestHeaderUnknownKeyIsNotFlexible(t *testing.T) {
	frame := append(header(9999, 12, 5, kmsg.StringPtr("c"), nil), 1, 2, 3)
	h, err := parseRequestHeader(frame)
	if err != nil || h.flexible || h.key != 9999 || !bytes.Equal(frame[h.headerLen:], []byte{1, 2, 3}) {
		t.Fatalf("%+v %v", h, err)
	}
}

// TestResponseHeaderVersions checks the response header rule: v1 (tagged
// fields byte) for flexible responses, v0 for the rest and always v0 for
// ApiVersions (KIP-511).
func TestResponseHeaderVersions(t *testing.T) {
	for _, tc := range []struct {
		resp    kmsg.Response
		version int16
		tagByte bool
	}{
		{kmsg.NewPtrMetadataResponse(), 1, false},
		{kmsg.NewPtrMetadataResponse(), 9, true},
		{kmsg.NewPtrApiVersionsResponse(), 0, false},
		{kmsg.NewPtrApiVersionsResponse(), 3, false},
		{kmsg.NewPtrApiVersionsResponse(), 4, false},
		{kmsg.NewPtrProduceResponse(), 9, true},
	} {
		tc.resp.SetVersion(tc.version)
		out := appendResponse([]byte("junk"), 77, tc.resp)
		out = out[4:]
		if got := binary.BigEndian.Uint32(out); int(got) != len(out)-4 {
			t.Fatalf("key %d v%d: size %d, frame %d", tc.resp.Key(), tc.version, got, len(out)-4)
		}
		if corr := int32(binary.BigEndian.Uint32(out[4:])); corr != 77 {
			t.Fatalf("correlation id %d", corr)
		}
		body := out[8:]
		if tc.tagByte {
			if body[0] != 0 {
				t.Fatalf("key %d v%d: tagged fields byte %d", tc.resp.Key(), tc.version, body[0])
			}
			body = body[1:]
		}
		back := tc.resp.Key()
		r := kmsg.ResponseForKey(back)
		r.SetVersion(tc.version)
		if err := r.ReadFrom(body); err != nil {
			t.Fatalf("key %d v%d: kmsg cannot read the body back: %v", back, tc.version, err)
		}
		if !bytes.Equal(body, tc.resp.AppendTo(nil)) {
			t.Fatalf("key %d v%d: body differs", back, tc.version)
		}
	}
}

// FuzzFrameHeader checks the header parser never panics and that what it
// accepts is self-consistent: offsets in range, client id inside the
// header, and a re-encoded v1 header parsed back to the same fields.
func FuzzFrameHeader(f *testing.F) {
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, r := range []kmsg.Request{
		&kmsg.ApiVersionsRequest{Version: 0},
		&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "a", ClientSoftwareVersion: "1"},
		&kmsg.MetadataRequest{Version: 12},
		&kmsg.ProduceRequest{Version: 3, Acks: -1},
		&kmsg.FetchRequest{Version: 13},
		&kmsg.ControlledShutdownRequest{Version: 0},
	} {
		f.Add(fmtr.AppendRequest(nil, r, 1)[4:])
	}
	f.Add(header(18, 3, 9, kmsg.StringPtr("x"), []byte{2, 0, 3, 'a', 'b', 'c', 0x81, 0x01, 0}))
	f.Add(header(18, 3, 9, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Add(header(-1, -1, -1, nil, nil))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := parseRequestHeader(frame)
		if err != nil {
			return
		}
		if h.headerLen < 8 || h.headerLen > len(frame) {
			t.Fatalf("header length %d for a %d-byte frame", h.headerLen, len(frame))
		}
		if h.flexible != requestIsFlexible(h.key, h.version) {
			t.Fatalf("flexible %v for key %d v%d", h.flexible, h.key, h.version)
		}
		if h.key == 7 && h.version == 0 {
			return
		}
		var id *string
		if h.clientID != nil {
			s := string(h.clientID)
			id = &s
		}
		tagsEnd := frame[10+len(h.clientID) : h.headerLen]
		again, err := parseRequestHeader(header(h.key, h.version, h.correlationID, id, tagsEnd))
		if err != nil || again.key != h.key || again.version != h.version ||
			again.correlationID != h.correlationID || !bytes.Equal(again.clientID, h.clientID) ||
			again.headerLen != h.headerLen {
			t.Fatalf("re-encoded header parses differently: %+v vs %+v (%v)", again, h, err)
		}
	})
}
