package netio

import (
	"encoding/binary"
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header codec errors. A frame whose header fails to parse closes its
// connection: Kafka has no way to answer a request whose correlation id or
// version it cannot trust.
var (
	errShortHeader    = errors.New("netio: request header truncated")
	errBadClientID    = errors.New("netio: request header client id length invalid")
	errBadTaggedField = errors.New("netio: request header tagged fields invalid")
)

// apiVersionsKey is ApiVersions, whose response header is always v0 (KIP-511).
const apiVersionsKey = 18

// firstFlexible[key] is the first version of request key that uses the
// flexible (header v2, compact) encoding, or -1 when no version does.
// It is computed once from kmsg, so a kmsg upgrade carries new keys with it;
// flexibility is monotonic in the version, so one threshold per key suffices.
var firstFlexible = func() [kmsg.MaxKey + 1]int16 {
	var t [kmsg.MaxKey + 1]int16
	for key := range t {
		t[key] = -1
		r := kmsg.RequestForKey(int16(key))
		if r == nil {
			continue
		}
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			if r.IsFlexible() {
				t[key] = v
				break
			}
		}
	}
	return t
}()

// requestIsFlexible reports whether (key, version) uses request header v2.
// Unknown keys and negative versions are not flexible.
func requestIsFlexible(key, version int16) bool {
	if key < 0 || int(key) >= len(firstFlexible) || version < 0 {
		return false
	}
	first := firstFlexible[key]
	return first >= 0 && version >= first
}

// requestHeader is a parsed request header. clientID aliases the frame.
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      []byte // nil when the client id is null or absent
	flexible      bool
	headerLen     int // bytes of the frame before the request body
}

// parseRequestHeader parses the header at the start of frame, which is one
// request without its 4-byte size prefix:
//
//	v0 (ControlledShutdown v0 only): key int16, version int16, correlation id int32
//	v1: v0 + client id (int16 length, -1 = null, then bytes)
//	v2 (flexible versions): v1 + tagged fields (uvarint count, then per
//	    field: uvarint tag, uvarint size, size bytes)
//
// It is a pure function: it never panics, allocates nothing, and returns
// slices that alias frame.
func parseRequestHeader(frame []byte) (requestHeader, error) {
	var h requestHeader
	if len(frame) < 8 {
		return h, errShortHeader
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	pos := 8
	if h.key == 7 && h.version == 0 { // ControlledShutdown v0: header v0
		h.headerLen = pos
		return h, nil
	}
	if len(frame) < pos+2 {
		return h, errShortHeader
	}
	n := int(int16(binary.BigEndian.Uint16(frame[pos:])))
	pos += 2
	switch {
	case n == -1:
	case n < 0 || n > len(frame)-pos:
		return h, errBadClientID
	default:
		h.clientID = frame[pos : pos+n : pos+n]
		pos += n
	}
	h.flexible = requestIsFlexible(h.key, h.version)
	if h.flexible {
		end, err := skipTaggedFields(frame, pos)
		if err != nil {
			return h, err
		}
		pos = end
	}
	h.headerLen = pos
	return h, nil
}

// skipTaggedFields returns the offset just past the tagged-fields section
// that starts at frame[pos:].
func skipTaggedFields(frame []byte, pos int) (int, error) {
	count, pos, err := readUvarint(frame, pos)
	if err != nil {
		return 0, err
	}
	// Each field takes at least two bytes (tag, size): bound the loop by
	// the bytes left, not by the count the peer claims.
	if count > uint64(len(frame)-pos)/2 {
		return 0, errBadTaggedField
	}
	for i := uint64(0); i < count; i++ {
		if _, pos, err = readUvarint(frame, pos); err != nil { // tag
			return 0, err
		}
		var size uint64
		if size, pos, err = readUvarint(frame, pos); err != nil {
			return 0, err
		}
		if size > uint64(len(frame)-pos) {
			return 0, errBadTaggedField
		}
		pos += int(size)
	}
	return pos, nil
}

// readUvarint reads an unsigned varint of at most 5 bytes (Kafka's uvarints
// encode uint32 values) at frame[pos:].
func readUvarint(frame []byte, pos int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); shift < 35; shift += 7 {
		if pos >= len(frame) {
			return 0, 0, errBadTaggedField
		}
		b := frame[pos]
		pos++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, pos, nil
		}
	}
	return 0, 0, errBadTaggedField
}

// appendResponse appends resp as one size-prefixed response frame:
//
//	size int32 | correlation id int32 | [tagged fields: 0x00] | body
//
// The tagged-fields byte (response header v1) is written for flexible
// responses except ApiVersions, whose response header is always v0.
func appendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// appendVectoredHeader appends the size and response header of a response
// whose body is the slices in body.
func appendVectoredHeader(dst []byte, correlationID int32, resp kmsg.Response, body [][]byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	size := len(dst) - start - 4
	for _, b := range body {
		size += len(b)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst
}
