package server

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// announceTimeout bounds the announcement of a change, which runs after the
// change committed and before the answer.
const announceTimeout = 10 * time.Second

// announce announces a change of endpoint e made through the API, with
// Config.Announce when set. It runs after the change committed and cannot
// fail the request; it outlives a client that hangs up, so that a change
// made is a change announced.
func (s *Server) announce(ctx context.Context, typ string, e hook.Endpoint, reason string) {
	if s.announcer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	s.announcer(ctx, hook.EndpointOperation(typ, e, reason, s.now()))
}
