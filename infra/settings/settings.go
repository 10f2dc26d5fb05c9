// Package settings reads the CDK context that configures a deployment and
// validates it, so that a bad value fails the synth with a message naming
// the context key and what is wrong with it.
package settings

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Settings is one deployment's configuration.
type Settings struct {
	StackName string // stackName (default Ftps3)

	VpcID       string   // vpcId: an existing VPC; empty: a new one
	PublicCidrs []string // publicCidrs: who may reach the NLB (partners)
	// campusCidrs: Direct Connect networks that reach the hosts. Only with
	// vpcId: a new VPC has no route back to campus.
	CampusCidrs []string

	// gatewayTasks (2): gateway tasks, each on its own host, hosts spread
	// over the zones; task i owns the data ports
	// dataPortsFirst + i*dataPortsCount ... + dataPortsCount - 1.
	GatewayTasks int

	CommandPort     int // commandPort (8021)
	DataPortsFirst  int // dataPortsFirst (8022)
	DataPortsCount  int // dataPortsCount (20)
	HealthcheckPort int // healthcheckPort (8081)
	// healthHttpPort (8080): the gateway's HTTP health port on each host,
	// where the load balancer asks which task owns a data port.
	HealthHTTPPort int

	// SFTP: the NLB listener's port (sftpPort, 22; 0 turns SFTP off), the
	// container and host port it forwards to (sftpContainerPort, 2222: the
	// ECS agent reserves the host's 22), and an optional secret holding the
	// host key as PEM (sftpHostKeySecretArn; without it the stack makes a
	// secret the key is derived from).
	SFTPPort             int
	SFTPContainerPort    int
	SFTPHostKeySecretArn string

	Architecture string // architecture: arm64 (default) or x86_64
	InstanceType string // instanceType (t4g.small / t3.small)

	BucketName string // bucketName: an existing bucket; empty: a new one
	KeyPrefix  string // keyPrefix: the part of the bucket the gateway may use
	KmsKeyArn  string // kmsKeyArn: SSE-KMS instead of SSE-S3
	Versioned  bool   // versioned

	HostedZoneID   string // hostedZoneId: the public zone for the Direct Connect name
	HostedZoneName string // hostedZoneName
	CampusRecord   string // campusRecordName: e.g. ftps.campus.example.org

	UsersSecretArn    string // usersSecretArn: the operator's secret holding the JSON user list (FTP_USERS_JSON); empty: the stack makes one
	UsersSecretKeyArn string // usersSecretKmsKeyArn: the customer managed KMS key that encrypts usersSecretArn, if any
	TLSSecretArn      string // tlsSecretArn: a secret with "cert" and "key" (PEM)

	LogRetentionDays int // logRetentionDays (90)
	IdleTimeoutSecs  int // nlbIdleTimeoutSeconds (3600)
}

// NLB and ECS limits the port plan must respect.
const (
	maxNLBListeners     = 50
	maxReservedPortsECS = 100
	reservedByECSAgent  = 5 // 22, 2375, 2376, 51678, 51679
)

var cidrList = regexp.MustCompile(`[,\s]+`)

// Parse reads the context through get (the app's TryGetContext).
func Parse(get func(key string) any) (Settings, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("context %q: %s", key, fmt.Sprintf(format, args...)))
	}
	str := func(key, def string) string {
		switch v := get(key).(type) {
		case nil:
			return def
		case string:
			return strings.TrimSpace(v)
		default:
			bad(key, "must be a string, got %v", v)
			return def
		}
	}
	num := func(key string, def, lo, hi int) int {
		var n int
		switch v := get(key).(type) {
		case nil:
			return def
		case float64:
			n = int(v)
			if float64(n) != v {
				bad(key, "%v is not a whole number", v)
				return def
			}
		case string:
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				bad(key, "%q is not a number", v)
				return def
			}
		default:
			bad(key, "must be a number, got %v", v)
			return def
		}
		if n < lo || n > hi {
			bad(key, "%d is outside %d..%d", n, lo, hi)
			return def
		}
		return n
	}
	boolean := func(key string) bool {
		switch v := get(key).(type) {
		case nil:
			return false
		case bool:
			return v
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(key, "%q is not true or false", v)
			}
			return b
		}
		bad(key, "must be true or false")
		return false
	}
	cidrs := func(key string) []string {
		var raw []string
		switch v := get(key).(type) {
		case nil:
			return nil
		case string:
			for _, c := range cidrList.Split(strings.TrimSpace(v), -1) {
				if c != "" {
					raw = append(raw, c)
				}
			}
		case []any:
			for _, c := range v {
				s, ok := c.(string)
				if !ok {
					bad(key, "must be a list of CIDR strings")
					return nil
				}
				raw = append(raw, s)
			}
		default:
			bad(key, "must be a list of CIDRs or a comma-separated string")
			return nil
		}
		for _, c := range raw {
			ip, n, err := net.ParseCIDR(c)
			if err != nil || ip.To4() == nil {
				bad(key, "%q is not an IPv4 CIDR like 192.0.2.0/24", c)
				continue
			}
			if !ip.Equal(n.IP) {
				bad(key, "%q has host bits set; did you mean %s?", c, n)
			}
		}
		return raw
	}

	s := Settings{
		StackName: str("stackName", "Ftps3"),
		VpcID:     str("vpcId", ""), PublicCidrs: cidrs("publicCidrs"), CampusCidrs: cidrs("campusCidrs"),
		CommandPort: num("commandPort", 8021, 1024, 65535), DataPortsFirst: num("dataPortsFirst", 8022, 1024, 65535),
		DataPortsCount: num("dataPortsCount", 20, 1, 48), HealthcheckPort: num("healthcheckPort", 8081, 1024, 65535),
		GatewayTasks: num("gatewayTasks", 2, 1, 24), HealthHTTPPort: num("healthHttpPort", 8080, 1024, 65535),
		Architecture: str("architecture", "arm64"), InstanceType: str("instanceType", ""),
		BucketName: str("bucketName", ""), KeyPrefix: str("keyPrefix", ""), KmsKeyArn: str("kmsKeyArn", ""), Versioned: boolean("versioned"),
		HostedZoneID: str("hostedZoneId", ""), HostedZoneName: str("hostedZoneName", ""), CampusRecord: str("campusRecordName", ""),
		UsersSecretArn: str("usersSecretArn", ""), UsersSecretKeyArn: str("usersSecretKmsKeyArn", ""), TLSSecretArn: str("tlsSecretArn", ""),
		SFTPPort: num("sftpPort", 22, 0, 65535), SFTPContainerPort: num("sftpContainerPort", 2222, 1024, 65535),
		SFTPHostKeySecretArn: str("sftpHostKeySecretArn", ""),
		LogRetentionDays:     num("logRetentionDays", 90, 1, 3653), IdleTimeoutSecs: num("nlbIdleTimeoutSeconds", 3600, 60, 6000),
	}
	if s.VpcID != "" && !strings.HasPrefix(s.VpcID, "vpc-") {
		bad("vpcId", "%q is not a VPC id (vpc-...)", s.VpcID)
	}
	if len(s.CampusCidrs) > 0 && s.VpcID == "" {
		bad("campusCidrs", "needs vpcId: campus clients reach the hosts over Direct Connect, so the hosts must be in your VPC that routes back to campus (a new VPC has no such route, and its range could overlap campus networks)")
	}
	if len(s.PublicCidrs) == 0 && len(s.CampusCidrs) == 0 {
		bad("publicCidrs", "set publicCidrs (partners through the load balancer) or campusCidrs (Direct Connect), or both: nobody could connect")
	}
	switch s.Architecture {
	case "arm64":
		if s.InstanceType == "" {
			s.InstanceType = "t4g.small"
		}
	case "x86_64":
		if s.InstanceType == "" {
			s.InstanceType = "t3.small"
		}
	default:
		bad("architecture", "%q is not arm64 or x86_64", s.Architecture)
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`).MatchString(s.InstanceType) {
		bad("instanceType", "%q is not an EC2 instance type like t4g.small", s.InstanceType)
	}
	// Every task's block of data ports, one after the other.
	last := s.DataPortsFirst + s.GatewayTasks*s.DataPortsCount - 1
	ports := map[int]string{}
	for p := s.DataPortsFirst; p <= last; p++ {
		ports[p] = "the data ports (dataPortsFirst, dataPortsCount × gatewayTasks)"
	}
	hostPorts := map[string]int{"commandPort": s.CommandPort, "healthcheckPort": s.HealthcheckPort, "healthHttpPort": s.HealthHTTPPort}
	if s.SFTPPort != 0 {
		hostPorts["sftpContainerPort"] = s.SFTPContainerPort
		if s.SFTPPort == s.CommandPort || s.SFTPPort >= s.DataPortsFirst && s.SFTPPort <= last {
			bad("sftpPort", "%d is also an FTP listener port", s.SFTPPort)
		}
	}
	for _, key := range []string{"commandPort", "healthcheckPort", "healthHttpPort", "sftpContainerPort"} {
		p, ok := hostPorts[key]
		if !ok {
			continue
		}
		if other, ok := ports[p]; ok {
			bad(key, "%d collides with %s", p, other)
		}
		ports[p] = key
	}
	if last > 65535 {
		bad("dataPortsCount", "the data ports would run past 65535")
	}
	// One listener per FTP port on the NLB; every port reserved on the host.
	sftpPorts := 0
	if s.SFTPPort != 0 {
		sftpPorts = 1
	}
	// The listener budget: command, SFTP, and every task's data ports.
	if n := 1 + sftpPorts + s.GatewayTasks*s.DataPortsCount; n > maxNLBListeners {
		bad("gatewayTasks", "%d tasks × %d data ports + %d command/SFTP listeners = %d listeners exceed the NLB's %d: lower dataPortsCount to at most %d or gatewayTasks to at most %d",
			s.GatewayTasks, s.DataPortsCount, 1+sftpPorts, n, maxNLBListeners,
			(maxNLBListeners-1-sftpPorts)/s.GatewayTasks, max(1, (maxNLBListeners-1-sftpPorts)/s.DataPortsCount))
	}
	// One task per host: its own ports, the shared ones and the agent's.
	if n := 3 + s.DataPortsCount + sftpPorts + reservedByECSAgent; n > maxReservedPortsECS {
		bad("dataPortsCount", "%d reserved host ports exceed ECS's %d", n, maxReservedPortsECS)
	}
	if s.BucketName != "" && !regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`).MatchString(s.BucketName) {
		bad("bucketName", "%q is not a valid S3 bucket name", s.BucketName)
	}
	if s.KeyPrefix != "" {
		if strings.HasPrefix(s.KeyPrefix, "/") || strings.Contains(s.KeyPrefix, "..") || strings.Contains(s.KeyPrefix, "*") {
			bad("keyPrefix", "%q must be a plain key prefix like incoming/ (no leading /, '..' or '*')", s.KeyPrefix)
		} else if !strings.HasSuffix(s.KeyPrefix, "/") {
			s.KeyPrefix += "/"
		}
	}
	for key, arn := range map[string]string{"kmsKeyArn": s.KmsKeyArn, "usersSecretArn": s.UsersSecretArn, "usersSecretKmsKeyArn": s.UsersSecretKeyArn, "tlsSecretArn": s.TLSSecretArn, "sftpHostKeySecretArn": s.SFTPHostKeySecretArn} {
		if arn != "" && !strings.HasPrefix(arn, "arn:") {
			bad(key, "%q is not an ARN", arn)
		}
	}
	if s.UsersSecretKeyArn != "" && s.UsersSecretArn == "" {
		bad("usersSecretKmsKeyArn", "is the key of your own users secret: set usersSecretArn too (the secret the stack creates uses the AWS managed key)")
	}
	dns := []string{s.HostedZoneID, s.HostedZoneName, s.CampusRecord}
	set := 0
	for _, v := range dns {
		if v != "" {
			set++
		}
	}
	switch {
	case set != 0 && set != 3:
		bad("campusRecordName", "the Direct Connect name needs hostedZoneId, hostedZoneName and campusRecordName together")
	case set == 3 && !strings.HasSuffix(strings.TrimSuffix(s.CampusRecord, "."), "."+strings.TrimSuffix(s.HostedZoneName, ".")):
		bad("campusRecordName", "%q is not inside the zone %q", s.CampusRecord, s.HostedZoneName)
	case set == 0 && len(s.CampusCidrs) > 0:
		bad("campusRecordName", "campusCidrs is set, so campus clients need a name: set hostedZoneId, hostedZoneName and campusRecordName")
	}
	return s, errors.Join(errs...)
}
