package settings

import (
	"strings"
	"testing"
)

func ctx(kv map[string]any) func(string) any { return func(k string) any { return kv[k] } }

func TestDefaultsAndLists(t *testing.T) {
	s, err := Parse(ctx(map[string]any{
		"publicCidrs": "198.51.100.0/24, 203.0.113.7/32", "campusCidrs": []any{"10.0.0.0/8"}, "vpcId": "vpc-0abc",
		"hostedZoneId": "Z123", "hostedZoneName": "example.org", "campusRecordName": "ftps.campus.example.org",
		"dataPortsCount": float64(30), "gatewayTasks": float64(1), "keyPrefix": "incoming",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.PublicCidrs) != 2 || s.CampusCidrs[0] != "10.0.0.0/8" || s.DataPortsCount != 30 || s.CommandPort != 8021 ||
		s.InstanceType != "t4g.small" || s.KeyPrefix != "incoming/" || s.StackName != "Ftps3" {
		t.Fatalf("%+v", s)
	}
}

func TestErrorsNameTheContextKey(t *testing.T) {
	base := map[string]any{"publicCidrs": "0.0.0.0/0"}
	for key, v := range map[string]any{
		"publicCidrs": "300.1.1.1/8", "campusCidrs": "10.0.0.1/8", "vpcId": "abc", "commandPort": float64(80),
		"dataPortsCount": float64(60), "healthcheckPort": float64(8025), "architecture": "sparc", "instanceType": "big",
		"bucketName": "Bad_Bucket", "keyPrefix": "../x", "kmsKeyArn": "key", "campusRecordName": "ftps.example.org",
		"versioned": "perhaps", "logRetentionDays": "forever", "gatewayTasks": float64(0), "healthHttpPort": float64(8021),
		"usersSecretKmsKeyArn": "arn:aws:kms:eu-west-2:111122223333:key/k",
	} {
		kv := map[string]any{}
		for k, vv := range base {
			kv[k] = vv
		}
		kv[key] = v
		_, err := Parse(ctx(kv))
		if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("%s=%v: err = %v", key, v, err)
		}
	}
	if _, err := Parse(ctx(map[string]any{})); err == nil || !strings.Contains(err.Error(), "nobody could connect") {
		t.Errorf("no CIDRs: %v", err)
	}
	if _, err := Parse(ctx(map[string]any{"campusCidrs": "10.0.0.0/8", "vpcId": "vpc-0abc"})); err == nil || !strings.Contains(err.Error(), "campusRecordName") {
		t.Errorf("campus without a name: %v", err)
	}
}

// Campus clients come over Direct Connect into the deployer's VPC: a new VPC
// has no route back to them.
func TestCampusNeedsAnExistingVPC(t *testing.T) {
	campus := map[string]any{"campusCidrs": "10.0.0.0/8",
		"hostedZoneId": "Z123", "hostedZoneName": "example.org", "campusRecordName": "ftps.campus.example.org"}
	_, err := Parse(ctx(campus))
	if err == nil || !strings.Contains(err.Error(), `"campusCidrs": needs vpcId`) {
		t.Fatalf("campus with a new VPC: %v", err)
	}
	campus["vpcId"] = "vpc-0abc"
	if _, err := Parse(ctx(campus)); err != nil {
		t.Fatalf("campus with vpcId: %v", err)
	}
}

// The load balancer has at most 50 listeners: the command port, SFTP and
// every task's block of data ports. The synth says which keys to lower and
// to what.
func TestListenerBudget(t *testing.T) {
	s, err := Parse(ctx(map[string]any{"publicCidrs": "0.0.0.0/0"}))
	if err != nil || s.GatewayTasks != 2 || s.DataPortsCount != 20 || s.HealthHTTPPort != 8080 {
		t.Fatalf("defaults: %d tasks × %d data ports, HTTP health %d, %v", s.GatewayTasks, s.DataPortsCount, s.HealthHTTPPort, err)
	}
	_, err = Parse(ctx(map[string]any{"publicCidrs": "0.0.0.0/0", "gatewayTasks": float64(3)}))
	if err == nil || !strings.Contains(err.Error(), `"gatewayTasks"`) || !strings.Contains(err.Error(), "62 listeners exceed the NLB's 50") ||
		!strings.Contains(err.Error(), "dataPortsCount to at most 16") {
		t.Errorf("3 tasks × 20 ports: %v", err)
	}
	if _, err := Parse(ctx(map[string]any{"publicCidrs": "0.0.0.0/0", "gatewayTasks": float64(3), "dataPortsCount": float64(16)})); err != nil {
		t.Errorf("3 tasks × 16 ports + 2 = 50 listeners: %v", err)
	}
	// The blocks follow each other: the health port may not sit in the second.
	_, err = Parse(ctx(map[string]any{"publicCidrs": "0.0.0.0/0", "healthcheckPort": float64(8050)}))
	if err == nil || !strings.Contains(err.Error(), `"healthcheckPort"`) {
		t.Errorf("health port inside task 1's block: %v", err)
	}
}
