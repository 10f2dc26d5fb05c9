package config

import (
	"github.com/ftps3/ftps3/app/storage/digest"
)

// Checksums say which digests every upload records and whether one that
// was not recorded may be computed by reading the file.
type Checksums struct {
	Algorithms     []digest.Algorithm // CHECKSUMS (none: off)
	ComputeMissing bool               // CHECKSUMS_COMPUTE_MISSING
	ComputeMaxSize int64              // CHECKSUMS_COMPUTE_MAX_SIZE
	ComputeAtOnce  int                // CHECKSUMS_COMPUTE_CONCURRENCY
}

func loadChecksums(e *env, c *Config) {
	c.Checksums.Algorithms = []digest.Algorithm{digest.SHA256}
	if v, ok := e.lookup("CHECKSUMS"); ok {
		algs, err := digest.Parse(v)
		if err != nil {
			e.errorf("CHECKSUMS", "%v", err)
		} else {
			c.Checksums.Algorithms = algs
		}
	}
	c.Checksums.ComputeMissing = e.boolean("CHECKSUMS_COMPUTE_MISSING", false)
	c.Checksums.ComputeMaxSize = e.size("CHECKSUMS_COMPUTE_MAX_SIZE", 1<<30)
	c.Checksums.ComputeAtOnce = e.intRange("CHECKSUMS_COMPUTE_CONCURRENCY", 2, 1, 64)
}
