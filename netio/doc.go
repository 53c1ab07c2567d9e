// Package netio turns TCP connections into ordered streams of Kafka
// requests and responses. Its one job: frame bytes into requests for a
// Handler, and put the Handler's answers back on the wire in request order,
// within fixed bounds, without ever blocking an event loop. It knows
// nothing of topics or API semantics beyond the request/response headers.
//
// # Frames and headers
//
// Every request and response is a 4-byte big-endian size followed by that
// many bytes:
//
//	request frame
//	+-----------+--------+------------+----------------+-------------------+----------------+------+
//	| size int32| key    | version    | correlation id | client id         | tagged fields  | body |
//	|  (N)      | int16  | int16      | int32          | int16 len + bytes | (header v2     |      |
//	|           |        |            |                | -1 = null         |  only)         |      |
//	+-----------+--------+------------+----------------+-------------------+----------------+------+
//	            <------------------------------- N bytes ------------------------------------------->
//	header v1: key, version, correlation id, client id
//	header v2: header v1 + tagged fields (uvarint count, then per field:
//	           uvarint tag, uvarint size, size bytes) -- for flexible versions
//	header v0: key, version, correlation id -- ControlledShutdown v0 only
//
//	response frame
//	+-----------+----------------+----------------+------+
//	| size int32| correlation id | tagged fields  | body |
//	|  (N)      | int32          | 0x00, header v1|      |
//	+-----------+----------------+----------------+------+
//	header v0: correlation id (non-flexible responses, and ApiVersions always, KIP-511)
//	header v1: correlation id + empty tagged fields (flexible responses)
//
// Whether a (key, version) is flexible comes from kmsg (a table built at
// init). A size below zero or above Options.MaxRequestBytes closes the
// connection before any of the body is read. A header that does not parse,
// or a Handler error, closes it once the responses ahead of it are written.
//
// # Goroutines and what they own
//
//	gnet loop goroutine (OnOpen/OnTraffic/OnClose)
//	    owns the socket and gnet's buffers; frames requests, copies each
//	    frame into a fresh []byte (Request.Body aliases only that copy;
//	    a frame not all there yet is allocated whole and filled as its
//	    bytes arrive, so gnet's inbound ring never holds them: once gnet's
//	    buffered bytes are taken, its rest is read from the socket straight
//	    into it, readDirect, so each of its bytes is copied once),
//	    assigns it the connection's next sequence number, and sends it on
//	    the connection's request channel. Never blocks: the channel has
//	    room by construction (see Backpressure).
//	    A request the Handler takes inline (Inliner: Produce up to 64 KiB,
//	    Fetch and ApiVersions in the broker) is handled right there, on
//	    the loop, when the connection's worker is idle (nothing queued or
//	    being handled, an atomic count): no hand-off, which at low request
//	    rates was most of the broker's CPU and the cause of its
//	    multi-millisecond latency tail (a readied worker waits for the
//	    scheduler). Behind a busy worker it is queued like any other, so a
//	    connection's requests are still handled one at a time, in order.
//	worker goroutine (one per connection, started by the loop for the
//	first request not handled inline; a connection that only produces or
//	fetches never has one)
//	    receives requests in arrival order and calls Handler.Handle, one
//	    at a time. Exits when OnClose closes the channel; ConnCloser runs
//	    as it exits (on the loop, in OnClose, if there was no worker).
//	responder (any goroutine: the worker, or whoever finishes a parked request)
//	    encodes its response (into a pooled buffer, given back once
//	    written or copied by gnet), then under the connection mutex stores it in
//	    the request's slot and writes out every response that is now
//	    contiguous from the next one owed: itself, with one write(v) on the
//	    non-blocking socket, when gnet holds none of the connection's
//	    output; else (and for what the socket did not take) through gnet's
//	    AsyncWritev, whose callback on the loop hands the socket back once
//	    gnet's outbound buffer is empty. A response thus costs no loop
//	    wake-up (eventfd write, hand-off, two epoll_waits) unless the peer
//	    reads slower than the broker answers.
//	janitor goroutine (one per server)
//	    closes connections idle for Options.IdleTimeout.
//
// # Ordering
//
//	seq:      0    1    2    3    4        nextWrite = 1
//	slot:   [sent][    ][done][nil ][    ]
//	                 ^ 1 completes -> write 1 and 2, skip 3 (nil: acks=0),
//	                                  nextWrite = 4
//
// Slots form a ring indexed by seq % len: 8 entries on a new connection,
// doubled (up to Options.MaxQueuedRequests) when a request finds it full,
// each unanswered slot moved to its index in the new ring. A responder that completes seq fills its slot; the run of
// done slots starting at nextWrite is written (or handed to gnet in one
// AsyncWritev) while the mutex is still held, so the socket receives
// responses in sequence order. A nil response fills its slot with nothing to write. A second call
// of the same Responder is ignored (and logged).
//
// # Vectored responses
//
// A response implementing VectoredResponse (Fetch: record bytes borrowed
// from mapped log segments; Produce: a pooled, pre-framed body) is not
// encoded into one buffer: netio builds
// the 4-byte size and response header and writes header + body slices
// with writev (or hands them to AsyncWritev; in chunks below IOV_MAX), so
// records reach the socket without a user-space copy (what the socket does
// not take at once, gnet copies into its outbound buffer). ReleaseBody runs
// once: after a write that took everything, from the async write's
// callback, or when the connection is gone before the write.
//
// # Backpressure
//
// A connection may have at most MaxQueuedRequests requests, and (checked
// before each frame) fewer than MaxQueuedBytes bytes, read but not answered.
// At a bound the loop stops consuming: the bytes stay in gnet's inbound
// buffer and the connection is marked paused. The responder whose write
// frees room clears the mark and calls Conn.Wake, which makes gnet run
// OnTraffic again on the buffered bytes. gnet v2.10 offers no way to drop
// read interest in the poller, so it keeps draining the socket into its
// buffer while paused; a peer that buffers more than MaxQueuedBytes +
// MaxRequestBytes there is closed (Stats.ClosedOverflow).
//
// Reading also stops while gnet holds MaxQueuedBytes or more of responses
// the peer has not read (as Kafka mutes a channel with a send pending);
// gnet has no drain callback, so a timer re-runs OnTraffic every
// outputPollInterval until the output drains (Stats.OutputPauses).
//
// # Stop
//
// Stop refuses new connections and stops dispatching new frames, waits
// (until its context ends) for every dispatched request to be answered and
// every answer handed to its loop, then stops the gnet engine, which closes
// each connection after a best-effort flush of its outbound buffer.
package netio
