package reconcile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sources of truth for the desired addresses.
const (
	// SourceECS: the service's RUNNING (and HEALTHY) tasks → container
	// instances → EC2 private IPv4. The default: ECS decides task health
	// and placement, and knows a task has stopped before anything else does.
	SourceECS = "ecs"
	// SourceCloudMap: Cloud Map DiscoverInstances (healthy instances), the
	// data behind the SRV record, which ECS registers after the fact.
	SourceCloudMap = "cloudmap"
)

// Config is read from the environment the CDK stack sets.
type Config struct {
	Cluster        string // CLUSTER
	Service        string // SERVICE: the ECS service, or several separated by commas (one per gateway slot)
	HostedZoneID   string // HOSTED_ZONE_ID
	RecordName     string // RECORD_NAME, e.g. ftps.campus.example.org
	TTL            int64  // TTL, seconds (default 60)
	Source         string // SOURCE: ecs (default) or cloudmap
	RequireHealthy bool   // REQUIRE_HEALTHY (default true): only HEALTHY tasks count
	// CLOUDMAP_NAMESPACE and CLOUDMAP_SERVICE: the names to discover; needed
	// for SOURCE=cloudmap, and when set with SOURCE=ecs, a cross-check that
	// logs any disagreement.
	CloudMapNamespace string
	CloudMapService   string
}

// ConfigFromEnv reads and validates the configuration; every problem names
// its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Cluster: getenv("CLUSTER"), Service: getenv("SERVICE"),
		HostedZoneID: getenv("HOSTED_ZONE_ID"), RecordName: getenv("RECORD_NAME"),
		TTL: 60, Source: SourceECS, RequireHealthy: true,
		CloudMapNamespace: getenv("CLOUDMAP_NAMESPACE"), CloudMapService: getenv("CLOUDMAP_SERVICE"),
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if v := getenv("TTL"); v != "" {
		ttl, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ttl < 1 || ttl > 86400 {
			bad("TTL", "%q is not a number of seconds from 1 to 86400", v)
		}
		c.TTL = ttl
	}
	if v := getenv("SOURCE"); v != "" {
		c.Source = strings.ToLower(v)
		if c.Source != SourceECS && c.Source != SourceCloudMap {
			bad("SOURCE", "%q is not ecs or cloudmap", v)
		}
	}
	if v := getenv("REQUIRE_HEALTHY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("REQUIRE_HEALTHY", "%q is not true or false", v)
		}
		c.RequireHealthy = b
	}
	if c.HostedZoneID == "" {
		bad("HOSTED_ZONE_ID", "missing: the public hosted zone that holds RECORD_NAME")
	}
	if c.RecordName == "" {
		bad("RECORD_NAME", "missing: the DNS name campus clients use")
	} else if strings.ContainsAny(c.RecordName, " /") || !strings.Contains(strings.Trim(c.RecordName, "."), ".") {
		bad("RECORD_NAME", "%q is not a fully qualified domain name", c.RecordName)
	}
	if c.Source == SourceECS {
		if c.Cluster == "" {
			bad("CLUSTER", "missing: the ECS cluster name or ARN")
		}
		if len(c.Services()) == 0 {
			bad("SERVICE", "missing: the ECS service name (or names, separated by commas)")
		}
	}
	if c.Source == SourceCloudMap || c.CloudMapNamespace != "" || c.CloudMapService != "" {
		if c.CloudMapNamespace == "" {
			bad("CLOUDMAP_NAMESPACE", "missing (needed with CLOUDMAP_SERVICE or SOURCE=cloudmap)")
		}
		if c.CloudMapService == "" {
			bad("CLOUDMAP_SERVICE", "missing (needed with CLOUDMAP_NAMESPACE or SOURCE=cloudmap)")
		}
	}
	return c, errors.Join(errs...)
}

// Services are the ECS services named by SERVICE.
func (c Config) Services() []string {
	var out []string
	for _, s := range strings.Split(c.Service, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
