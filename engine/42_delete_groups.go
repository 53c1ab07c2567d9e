package engine

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups: v0-3
//
// Behaviour: an Empty group is deleted with its committed offsets
// (tombstones in __consumer_offsets, answered once durable); a group with
// members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
//
// Version notes: v1 throttle; v2 flexible; v3 error message.

func init() { regKey(42, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	wait := &pendingAnswers{n: 1, done: func() { c.respond(resp) }}
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		*rg = kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		setErr := func(err *kerr.Error) {
			rg.ErrorCode = errCode(err)
			if err != nil && req.Version >= 3 {
				rg.ErrorMessage = strp(err.Message)
			}
		}
		wait.add()
		err := b.groups.DeleteGroup(id, func(err *kerr.Error) {
			setErr(err)
			wait.finish()
		})
		if err != nil {
			setErr(err)
			wait.finish()
		}
	}
	wait.finish()
	return nil, nil
}

// pendingAnswers calls done once every one of n committed writes reported.
type pendingAnswers struct {
	mu   sync.Mutex
	n    int
	done func()
}

func (p *pendingAnswers) add() { p.mu.Lock(); p.n++; p.mu.Unlock() }

func (p *pendingAnswers) finish() {
	p.mu.Lock()
	p.n--
	last := p.n == 0
	p.mu.Unlock()
	if last {
		p.done()
	}
}
