package netio

import "github.com/chronik/chronik/engine"

// BrokerHandler adapts an engine.Broker to a Handler: netio frames and
// orders, the engine decodes and answers.
func BrokerHandler(b *engine.Broker) Handler { return brokerHandler{b} }

type brokerHandler struct{ b *engine.Broker }

func (h brokerHandler) Handle(r *Request, respond Responder) error {
	return h.b.Handle(&engine.Request{
		Key:           r.Key,
		Version:       r.Version,
		CorrelationID: r.CorrelationID,
		ClientID:      r.ClientID,
		Body:          r.Body,
		RemoteAddr:    r.RemoteAddr,
	}, respond)
}
