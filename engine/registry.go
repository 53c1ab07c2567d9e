package engine

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// call is one decoded request on its way through a handler.
type call struct {
	kreq    kmsg.Request
	respond func(kmsg.Response)
	req     *Request
}

// handlerFunc serves one API key. It returns the response, or (nil, nil)
// when it took over c.respond (asynchronous completion or no response), or an
// error that closes the connection.
type handlerFunc func(b *Broker, c *call) (kmsg.Response, error)

// rawHandlerFunc serves one API key from the undecoded request (a hot path
// that decodes by hand); it follows Handle's contract for respond and the
// returned error.
type rawHandlerFunc func(b *Broker, r *Request, respond func(kmsg.Response)) error

type apiKey struct {
	key      int16
	min, max int16
	handle   handlerFunc
	raw      rawHandlerFunc // instead of handle, when set
}

// handlers is filled by the init functions of the NN_name.go files; it is the
// single source of what ApiVersions advertises.
var handlers = map[int16]apiKey{}

func regKey(key, minV, maxV int16, h handlerFunc) {
	if _, dup := handlers[key]; dup {
		panic("engine: API key registered twice")
	}
	handlers[key] = apiKey{key: key, min: minV, max: maxV, handle: h}
}

// regRawKey registers a handler that decodes the request body itself.
func regRawKey(key, minV, maxV int16, h rawHandlerFunc) {
	if _, dup := handlers[key]; dup {
		panic("engine: API key registered twice")
	}
	handlers[key] = apiKey{key: key, min: minV, max: maxV, raw: h}
}

// supportedKeys returns the registered keys sorted by key.
func supportedKeys() []apiKey {
	out := make([]apiKey, 0, len(handlers))
	for _, k := range handlers {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
