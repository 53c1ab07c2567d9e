package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronik/chronik/raftmeta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors that cross the Cluster interface (and so the metadata shard) are
// *raftmeta.ResultErr (a Kafka error and the message for the response),
// bare *kerr.Error, or context errors. Handlers turn them into a code and
// a message with errorAndMessage.

// errWithMessage builds an error carrying Kafka error e and the message a
// response should carry.
func errWithMessage(e *kerr.Error, format string, args ...any) error {
	return &raftmeta.ResultErr{Err: e, Message: fmt.Sprintf(format, args...)}
}

// kafkaCode maps any error to the Kafka error a client expects: the
// error's own code when it has one, REQUEST_TIMED_OUT when a commit did not
// happen in time, UNKNOWN_SERVER_ERROR otherwise; nil stays nil.
func kafkaCode(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}

// errorAndMessage splits an error into the Kafka error and the message for
// the response.
func errorAndMessage(err error) (*kerr.Error, string) {
	if err == nil {
		return nil, ""
	}
	var re *raftmeta.ResultErr
	if errors.As(err, &re) && re.Message != "" {
		return kafkaCode(err), re.Message
	}
	ke := kafkaCode(err)
	if ke == kerr.RequestTimedOut || ke == kerr.UnknownServerError {
		return ke, err.Error()
	}
	return ke, ke.Message
}
