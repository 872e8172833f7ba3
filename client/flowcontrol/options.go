package flowcontrol

// Defaults the transports use for a zero QPS and Burst. They suit a component (a
// controller manager issues bursts of writes when it starts); kubectl can ask for less.
const (
	DefaultQPS   float32 = 50
	DefaultBurst         = 100
)

// ForOptions is the limiter of a client configured with qps and burst: a zero qps means
// DefaultQPS, a negative one no limit; a zero burst means DefaultBurst.
func ForOptions(qps float32, burst int) RateLimiter {
	switch {
	case qps < 0:
		return unlimited{}
	case qps == 0:
		qps = DefaultQPS
	}
	if burst == 0 {
		burst = DefaultBurst
	}
	return NewTokenBucket(qps, burst)
}
