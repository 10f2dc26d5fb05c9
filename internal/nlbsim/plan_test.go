package nlbsim

import (
	"strings"
	"testing"
	"time"
)

// The plan is the template's: a listener forwards to its target group's
// port, checked as the group says, with the NLB's defaults where it is
// silent.
func TestPlanFromATemplate(t *testing.T) {
	template := `{"Resources": {
	  "L1": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {"Port": 22, "Protocol": "TCP",
	    "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "SFTP"}}]}},
	  "SFTP": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 2222, "Protocol": "TCP",
	    "TargetType": "instance", "HealthCheckPort": "8081", "HealthCheckProtocol": "TCP"}},
	  "L2": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {"Port": 8022, "Protocol": "TCP",
	    "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Data"}}]}},
	  "Data": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 8022, "Protocol": "TCP",
	    "TargetType": "instance", "HealthCheckPort": "8080", "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/owner/8022",
	    "Matcher": {"HttpCode": "200"}, "HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2}}
	}}`
	p, err := ParsePlan([]byte(template))
	if err != nil {
		t.Fatal(err)
	}
	sftp, _ := p.Listener(22)
	if sftp.TargetPort != 2222 || sftp.Check != (HealthCheck{Protocol: "TCP", Port: 8081, Codes: "200-399", Interval: 30 * time.Second,
		Timeout: 10 * time.Second, Healthy: 5, Unhealthy: 2}) {
		t.Errorf("SFTP listener %+v", sftp)
	}
	data, _ := p.Listener(8022)
	if data.TargetPort != 8022 || data.Check != (HealthCheck{Protocol: "HTTP", Port: 8080, Path: "/owner/8022", Codes: "200",
		Interval: 10 * time.Second, Timeout: 6 * time.Second, Healthy: 2, Unhealthy: 2}) {
		t.Errorf("data listener %+v", data)
	}
	broken := strings.Replace(template, `"TargetType": "instance", "HealthCheckPort": "8080"`, `"TargetType": "ip", "HealthCheckPort": "8080"`, 1)
	if _, err := ParsePlan([]byte(broken)); err == nil || !strings.Contains(err.Error(), "Data") {
		t.Errorf("an ip target group: %v", err)
	}
	for codes, want := range map[string]map[int]bool{"200": {200: true, 404: false}, "200-399": {302: true, 400: false}, "200,202": {202: true, 201: false}} {
		for status, ok := range want {
			if codeMatches(codes, status) != ok {
				t.Errorf("codes %q, status %d: %v", codes, status, !ok)
			}
		}
	}
}
