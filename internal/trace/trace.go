// Package trace times the phases of a run, for BUILDER_TRACE=1.
package trace

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Stopwatch prints how long each phase took, when W is not nil
// (BUILDER_TRACE=1), to find where a build spends its time.
type Stopwatch struct {
	W    io.Writer
	mu   sync.Mutex
	last time.Time
}

// started is about when the program started: when this package was
// initialised.
var started = time.Now()

// Mark prints the time since the previous mark, or since the program
// started for the first, labelled with phase.
func (s *Stopwatch) Mark(phase string) {
	if s == nil || s.W == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.last.IsZero() {
		s.last = started
	}
	fmt.Fprintf(s.W, "trace: %-24s %6.1f ms\n", phase, float64(now.Sub(s.last).Microseconds())/1000)
	s.last = now
}
