package s3store

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithymw "github.com/aws/smithy-go/middleware"
)

// requestCounts counts the requests a Store sends to S3, by operation
// (HeadObject, ListObjectsV2, PutObject...), each attempt of a retried
// request included: what the gateway costs S3, for the metrics.
type requestCounts struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

func (rc *requestCounts) counter(op string) *atomic.Int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	c := rc.counts[op]
	if c == nil {
		if rc.counts == nil {
			rc.counts = map[string]*atomic.Int64{}
		}
		c = new(atomic.Int64)
		rc.counts[op] = c
	}
	return c
}

// addTo installs the counting middleware after the retry step, so that it
// sees every attempt.
func (rc *requestCounts) addTo(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *smithymw.Stack) error {
		return stack.Finalize.Add(smithymw.FinalizeMiddlewareFunc("ftps3RequestCount",
			func(ctx context.Context, in smithymw.FinalizeInput, next smithymw.FinalizeHandler) (smithymw.FinalizeOutput, smithymw.Metadata, error) {
				rc.counter(middleware.GetOperationName(ctx)).Add(1)
				return next.HandleFinalize(ctx, in)
			}), smithymw.After)
	})
}

// RequestCount is one operation's count.
type RequestCount struct {
	Operation string
	Requests  int64
}

// Requests returns the requests sent to S3 so far, by operation name.
func (s *Store) Requests() []RequestCount {
	s.requests.mu.Lock()
	out := make([]RequestCount, 0, len(s.requests.counts))
	for op, c := range s.requests.counts {
		out = append(out, RequestCount{op, c.Load()})
	}
	s.requests.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	return out
}
