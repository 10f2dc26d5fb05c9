package stack

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// SFTP: the load balancer listens on 22 and forwards to the hosts' 2222,
// which the task maps; the public and campus networks may reach it; the
// host key's seed is a generated secret kept when the stack goes; an
// output names the address.
func TestSFTPFrontDoor(t *testing.T) {
	campus.has(t, "AWS::ElasticLoadBalancingV2::Listener", map[string]any{"Port": 22, "Protocol": "TCP"})
	campus.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{
		"Port": 2222, "Protocol": "TCP", "TargetType": "instance", "HealthCheckPort": "9081",
	})
	campus.has(t, "AWS::ECS::TaskDefinition", map[string]any{"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
		"PortMappings": assertions.Match_ArrayWith(&[]any{map[string]any{"ContainerPort": 2222, "HostPort": 2222, "Protocol": "tcp"}}),
		"Environment":  assertions.Match_ArrayWith(&[]any{map[string]any{"Name": "SFTP_PORT", "Value": "2222"}}),
		"Secrets":      assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"Name": "SFTP_HOST_KEY_SEED"})}),
	})}})
	campus.has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "198.51.100.0/24", "FromPort": 22, "ToPort": 22}),
	})})
	campus.has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "172.16.0.0/12", "FromPort": 2222, "ToPort": 2222}),
	})})
	campus.has(t, "AWS::EC2::SecurityGroupIngress", map[string]any{"FromPort": 2222, "ToPort": 2222, "SourceSecurityGroupId": assertions.Match_AnyValue()})
	for id, r := range campus.resources("AWS::SecretsManager::Secret") {
		gen, _ := props(r)["GenerateSecretString"].(map[string]any)
		if gen["PasswordLength"] == float64(64) {
			if r["DeletionPolicy"] != "Retain" {
				t.Errorf("%s: the host key seed is not retained", id)
			}
			return
		}
	}
	t.Error("no host key seed secret")
}
