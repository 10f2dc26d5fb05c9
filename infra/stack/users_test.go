package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// The stack's users secret is the JSON list the gateway reads, holding the
// first user (home: the key prefix) with a password generated in a secret of
// its own: the template holds a reference to it, never a value.
func TestTheFirstUserIsInTheUsersSecret(t *testing.T) {
	usersID := campus.described(t, "AWS::SecretsManager::Secret", "user list")
	users := props(campus.resources("AWS::SecretsManager::Secret")[usersID])
	join, _ := users["SecretString"].(map[string]any)["Fn::Join"].([]any)
	if len(join) != 2 {
		t.Fatalf("SecretString %v, want a Fn::Join around the generated password", users["SecretString"])
	}
	parts := join[1].([]any)
	passwordID := campus.described(t, "AWS::SecretsManager::Secret", "generated password of the first FTP user")
	var text strings.Builder
	for _, p := range parts {
		if str, ok := p.(string); ok {
			text.WriteString(str)
		} else if ref, _ := p.(map[string]any)["Ref"].(string); ref == passwordID {
			text.WriteString("PASSWORD-SECRET")
		} else {
			t.Fatalf("the list embeds %v", p)
		}
	}
	reference := "{{resolve:secretsmanager:PASSWORD-SECRET:SecretString:::}}"
	if !strings.Contains(text.String(), reference) {
		t.Fatalf("the list %s has no dynamic reference to the password secret", text.String())
	}
	text2 := strings.Replace(text.String(), reference, "generated", 1)
	var list []map[string]any
	if err := json.Unmarshal([]byte(text2), &list); err != nil {
		t.Fatalf("the users secret is not a JSON list: %v (%s)", err, text2)
	}
	if len(list) != 1 || list[0]["login"] != "partner" || list[0]["password"] != "generated" || list[0]["home"] != "incoming/" {
		t.Errorf("users %v, want partner with the generated password, home incoming/", list)
	}
	campus.has(t, "AWS::SecretsManager::Secret", map[string]any{
		"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"ExcludePunctuation": true}),
	})
	// No other user is created, and no user is injected into the container.
	for _, s := range []synthesized{public, campus} {
		for _, env := range slotEnvironments(t, s) {
			for name := range env {
				if strings.HasPrefix(name, "FTP_USERS__") || name == "FTP_USERS_JSON" {
					t.Errorf("%s is passed to the container; the gateway reads the users from the secret", name)
				}
			}
		}
	}
}

// The task role may read the users secret (GetSecretValue, nothing else on
// it); the operator's secret under a customer key adds kms:Decrypt through
// Secrets Manager only.
func TestTheTaskRoleReadsTheUsersSecret(t *testing.T) {
	usersID := campus.described(t, "AWS::SecretsManager::Secret", "user list")
	campus.has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
			"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": map[string]any{"Ref": usersID},
		}}), "Version": "2012-10-17",
	}})

	ctx := campusContext()
	arn := "arn:aws:secretsmanager:eu-west-2:111122223333:secret:ftps3/users-AbCdEf"
	key := "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ctx["usersSecretArn"], ctx["usersSecretKmsKeyArn"] = arn, key
	own, err := synth(ctx, campusEnv)
	if err != nil {
		t.Fatal(err)
	}
	own.has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{
			map[string]any{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": arn},
			map[string]any{"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key,
				"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager.eu-west-2.amazonaws.com"}}},
		}), "Version": "2012-10-17",
	}})
	n := 0
	for _, r := range own.resources("AWS::SecretsManager::Secret") {
		if d, _ := props(r)["Description"].(string); strings.Contains(d, "user") {
			n++
		}
	}
	if n != 0 {
		t.Errorf("with usersSecretArn the stack still creates %d user secrets", n)
	}
	env := taskEnvironment(t, own)
	if env["FTP_USERS_SECRET_ID"] != arn {
		t.Errorf("FTP_USERS_SECRET_ID=%q, want the operator's secret %s", env["FTP_USERS_SECRET_ID"], arn)
	}
}
