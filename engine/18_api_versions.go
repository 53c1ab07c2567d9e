package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-4
//
// Behaviour:
//   - Lists exactly the registered handlers and their version ranges; the
//     registry (regKey in each NN_name.go) is the only source.
//   - A version above v4 is answered per KIP-511: a v0 response with
//     UNSUPPORTED_VERSION that still lists every supported range, so the
//     client retries lower (Handle routes it to apiVersionsUnsupported).
//   - v3+: invalid client software name/version -> INVALID_REQUEST.
//
// Version notes: v1 throttle; v3 flexible (request header v2; the response
// header stays v0, netio handles that), client software fields, features.

func init() { regKey(18, 0, 4, handleApiVersions) }

func handleApiVersions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	resp.ApiKeys = apiVersionKeys()
	return resp, nil
}

func apiVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	var out []kmsg.ApiVersionsResponseApiKey
	for _, k := range supportedKeys() {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k.key, k.min, k.max
		out = append(out, ak)
	}
	return out
}

// apiVersionsUnsupported is the KIP-511 answer to a too-new ApiVersions.
func apiVersionsUnsupported() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionKeys()
	return resp
}

// validSoftware matches [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?.
func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
